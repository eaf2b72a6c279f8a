//! Windows specifics for the single-process agent; the service and its
//! session helper are in windows_host, windows_data and windows_notice.

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
    // The user of the console session, as WTS says (a single-process agent;
    // the service follows sessions in windows_host).
    use pult_agent_windows::session;
    session::active_console_session().and_then(session::user_name)
}
