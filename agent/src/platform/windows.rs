//! Windows specifics. The agent service runs in session 0; starting programs
//! in the user's session through a session helper comes with the Windows service.

use std::os::windows::process::CommandExt;
use std::process::Command;

const DETACHED_PROCESS: u32 = 0x0000_0008;
const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;

pub(super) fn default_url_opener() -> Vec<String> {
    // Opens the URL with the user's default browser without going through a shell.
    vec!["rundll32.exe".into(), "url.dll,FileProtocolHandler".into()]
}

pub(super) fn detach(command: &mut Command) {
    command.creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP);
}

pub(super) fn logged_on_user() -> Option<String> {
    // Until the service asks WTS for the active session's user.
    std::env::var("USERNAME")
        .ok()
        .filter(|user| !user.is_empty())
}
