//! Restarting, shutting down and logging off (the teacher's power actions;
//! the service decided when and told the student).

use std::ptr;

use windows_sys::Win32::Foundation::{CloseHandle, GetLastError, HANDLE, LUID};
use windows_sys::Win32::Security::{
    AdjustTokenPrivileges, LUID_AND_ATTRIBUTES, LookupPrivilegeValueW, SE_PRIVILEGE_ENABLED,
    SE_SHUTDOWN_NAME, TOKEN_ADJUST_PRIVILEGES, TOKEN_PRIVILEGES, TOKEN_QUERY,
};
use windows_sys::Win32::System::RemoteDesktop::{WTS_CURRENT_SERVER_HANDLE, WTSLogoffSession};
use windows_sys::Win32::System::Shutdown::{
    InitiateSystemShutdownExW, SHTDN_REASON_FLAG_PLANNED, SHTDN_REASON_MAJOR_OTHER,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

/// Restarts (`reboot`) or shuts the computer down now, closing programs
/// without asking: the student was warned before.
pub fn restart(reboot: bool) -> Result<(), String> {
    enable_shutdown_privilege()?;
    // SAFETY: null machine name and message (this computer, no text); plain values.
    let done = unsafe {
        InitiateSystemShutdownExW(
            ptr::null(),
            ptr::null(),
            0,
            1,
            i32::from(reboot),
            SHTDN_REASON_MAJOR_OTHER | SHTDN_REASON_FLAG_PLANNED,
        )
    };
    match done {
        0 => Err(format!(
            "Windows refused to {}: error {}",
            if reboot { "restart" } else { "shut down" },
            last_error()
        )),
        _ => Ok(()),
    }
}

/// Logs off whoever uses the physical console.
pub fn log_off_console() -> Result<(), String> {
    let session = crate::session::active_console_session().ok_or("nobody uses the console")?;
    // SAFETY: the local server's handle and a session id; does not wait.
    match unsafe { WTSLogoffSession(WTS_CURRENT_SERVER_HANDLE, session, 0) } {
        0 => Err(format!(
            "Windows refused to log off session {session}: error {}",
            last_error()
        )),
        _ => Ok(()),
    }
}

/// The shutdown privilege is the service's (SYSTEM has it) but off until
/// switched on.
fn enable_shutdown_privilege() -> Result<(), String> {
    let mut token: HANDLE = ptr::null_mut();
    // SAFETY: no arguments; a pseudo handle that needs no closing.
    let process = unsafe { GetCurrentProcess() };
    // SAFETY: `token` receives a handle closed below.
    if unsafe { OpenProcessToken(process, TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY, &mut token) } == 0
    {
        return Err(format!(
            "cannot open the process token: error {}",
            last_error()
        ));
    }
    let mut luid = LUID::default();
    // SAFETY: a constant privilege name and a LUID to fill.
    let found = unsafe { LookupPrivilegeValueW(ptr::null(), SE_SHUTDOWN_NAME, &mut luid) };
    let privileges = TOKEN_PRIVILEGES {
        PrivilegeCount: 1,
        Privileges: [LUID_AND_ATTRIBUTES {
            Luid: luid,
            Attributes: SE_PRIVILEGE_ENABLED,
        }],
    };
    // SAFETY: `token` is open; one privilege of the struct's own size; no previous state.
    let adjusted = found != 0
        && unsafe {
            AdjustTokenPrivileges(token, 0, &privileges, 0, ptr::null_mut(), ptr::null_mut())
        } != 0;
    let error = last_error();
    // SAFETY: the handle opened above, closed once.
    unsafe { CloseHandle(token) };
    // AdjustTokenPrivileges succeeds without the privilege (ERROR_NOT_ALL_ASSIGNED, 1300).
    match (adjusted, error) {
        (true, 0) => Ok(()),
        _ => Err(format!(
            "this process may not shut Windows down: error {error}"
        )),
    }
}

fn last_error() -> u32 {
    // SAFETY: reads the calling thread's last error.
    unsafe { GetLastError() }
}
