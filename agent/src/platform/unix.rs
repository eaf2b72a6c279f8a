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
