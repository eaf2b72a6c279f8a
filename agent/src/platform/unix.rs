//! Linux (and other Unix) specifics.

use std::os::unix::process::CommandExt;
use std::process::Command;

pub(super) fn default_url_opener() -> Vec<String> {
    vec!["xdg-open".into()]
}

pub(super) fn detach(command: &mut Command) {
    // A process group of its own: signals to the agent do not reach it.
    command.process_group(0);
}

pub(super) fn logged_on_user() -> Option<String> {
    // The agent runs in the user's graphical session on Linux; a system
    // service asking logind comes with the packaging issue.
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .filter(|user| !user.is_empty())
}
