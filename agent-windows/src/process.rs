//! Starting processes in a user's session: the session helper with a SYSTEM
//! token of that session, the student's programs with the student's token.

use std::io;
use std::mem;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::ptr;
use std::time::Duration;

use windows_sys::Win32::Foundation::{HANDLE, INVALID_HANDLE_VALUE, WAIT_FAILED, WAIT_OBJECT_0};
use windows_sys::Win32::Security::{
    DuplicateTokenEx, GetTokenInformation, IsWellKnownSid, SecurityImpersonation,
    SetTokenInformation, TOKEN_ALL_ACCESS, TOKEN_USER, TokenPrimary, TokenSessionId, TokenUser,
    WinLocalSystemSid,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, PROCESSENTRY32W, Process32FirstW, Process32NextW, TH32CS_SNAPPROCESS,
};
use windows_sys::Win32::System::Environment::{CreateEnvironmentBlock, DestroyEnvironmentBlock};
use windows_sys::Win32::System::RemoteDesktop::{ProcessIdToSessionId, WTSQueryUserToken};
use windows_sys::Win32::System::Threading::{
    CREATE_NEW_PROCESS_GROUP, CREATE_NO_WINDOW, CREATE_UNICODE_ENVIRONMENT, CreateProcessAsUserW,
    GetCurrentProcess, GetExitCodeProcess, OpenProcess, OpenProcessToken, PROCESS_INFORMATION,
    PROCESS_QUERY_INFORMATION, STARTUPINFOW, TerminateProcess, WaitForSingleObject,
};

use crate::wide::{from_wide, wide};

/// The desktop a student's windows are on.
const DEFAULT_DESKTOP: &str = "winsta0\\default";

/// A process this crate started.
#[derive(Debug)]
pub struct Process {
    handle: OwnedHandle,
    pid: u32,
}

impl Process {
    /// Its process id.
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// Waits up to `timeout` (forever with `None`) for it to end; its exit code if it did.
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<Option<u32>> {
        let millis = timeout.map_or(u32::MAX, |t| {
            u32::try_from(t.as_millis()).unwrap_or(u32::MAX - 1)
        });
        // SAFETY: the handle is a process handle owned by `self`.
        let waited = unsafe { WaitForSingleObject(self.raw(), millis) };
        if waited == WAIT_FAILED {
            return Err(io::Error::last_os_error());
        }
        if waited != WAIT_OBJECT_0 {
            return Ok(None);
        }
        let mut code = 0u32;
        // SAFETY: valid process handle and out pointer.
        if unsafe { GetExitCodeProcess(self.raw(), &mut code) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Some(code))
    }

    /// Ends it (exit code 1).
    pub fn kill(&self) -> io::Result<()> {
        // SAFETY: valid process handle owned by `self`.
        if unsafe { TerminateProcess(self.raw(), 1) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn raw(&self) -> HANDLE {
        self.handle.as_raw_handle()
    }
}

/// Who a process in a session runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunAs {
    /// SYSTEM, with the session set to the user's: the session helper. The
    /// student can neither end nor debug it.
    System,
    /// The user logged on in the session, with their own environment: what
    /// the teacher starts for the student.
    User,
}

/// Starts `command_line` (see [`crate::cmdline::join`]) in `session` on the
/// interactive desktop, as `run_as`. `window`: whether it may show a console
/// window (programs for the student) or not (the helper).
pub fn start_in_session(
    session: u32,
    run_as: RunAs,
    command_line: &str,
    window: bool,
) -> io::Result<Process> {
    let token = match run_as {
        RunAs::System => system_token_for(session)?,
        RunAs::User => user_token(session)?,
    };
    let environment = Environment::of(&token);
    let mut command_line = wide(command_line);
    let mut desktop = wide(DEFAULT_DESKTOP);
    // SAFETY: STARTUPINFOW is plain data; all-zero is its documented empty value.
    let mut startup: STARTUPINFOW = unsafe { mem::zeroed() };
    startup.cb = mem::size_of::<STARTUPINFOW>() as u32;
    startup.lpDesktop = desktop.as_mut_ptr();
    // SAFETY: plain data, filled by CreateProcessAsUserW.
    let mut info: PROCESS_INFORMATION = unsafe { mem::zeroed() };
    let mut flags = CREATE_UNICODE_ENVIRONMENT | CREATE_NEW_PROCESS_GROUP;
    if !window {
        flags |= CREATE_NO_WINDOW;
    }
    // SAFETY: the token is a primary token we own; the command line and
    // desktop are NUL-terminated and writable as required; the environment is
    // a block from CreateEnvironmentBlock or null; no handles are inherited.
    let ok = unsafe {
        CreateProcessAsUserW(
            token.as_raw_handle(),
            ptr::null(),
            command_line.as_mut_ptr(),
            ptr::null(),
            ptr::null(),
            0,
            flags,
            environment.block(),
            ptr::null(),
            &startup,
            &mut info,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: CreateProcessAsUserW returned two new handles that we own; the
    // thread handle is not needed.
    drop(unsafe { OwnedHandle::from_raw_handle(info.hThread) });
    Ok(Process {
        // SAFETY: as above, the process handle is ours to own.
        handle: unsafe { OwnedHandle::from_raw_handle(info.hProcess) },
        pid: info.dwProcessId,
    })
}

/// A SYSTEM primary token for `session`: that session's winlogon.exe's token
/// where there is one (as Veyon and RustDesk do), else this service's own
/// token with the session id set (the service is SYSTEM and may do that).
fn system_token_for(session: u32) -> io::Result<OwnedHandle> {
    // Anyone can name a program winlogon.exe: only a SYSTEM token is taken.
    if let Some(pid) = process_in_session("winlogon.exe", session)
        && let Ok(token) = token_of_process(pid)
        && is_local_system(&token)
    {
        return primary(&token);
    }
    let own = token_of_current()?;
    let token = primary(&own)?;
    // SAFETY: valid primary token; the buffer is a u32 of the size given.
    let ok = unsafe {
        SetTokenInformation(
            token.as_raw_handle(),
            TokenSessionId,
            (&raw const session).cast(),
            mem::size_of::<u32>() as u32,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(token)
}

/// The token of the user logged on in `session`.
pub(crate) fn user_token(session: u32) -> io::Result<OwnedHandle> {
    let mut token: HANDLE = ptr::null_mut();
    // SAFETY: valid out pointer; the service runs as SYSTEM, which WTS requires.
    if unsafe { WTSQueryUserToken(session, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: WTSQueryUserToken returned a new token handle that we own.
    let token = unsafe { OwnedHandle::from_raw_handle(token) };
    primary(&token)
}

fn token_of_current() -> io::Result<OwnedHandle> {
    let mut token: HANDLE = ptr::null_mut();
    // SAFETY: no arguments; the pseudo handle of this process needs no closing.
    let own = unsafe { GetCurrentProcess() };
    // SAFETY: a process handle and a valid out pointer.
    if unsafe { OpenProcessToken(own, TOKEN_ALL_ACCESS, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new handle that we own.
    Ok(unsafe { OwnedHandle::from_raw_handle(token) })
}

fn token_of_process(pid: u32) -> io::Result<OwnedHandle> {
    // SAFETY: opens a process by id; the handle is checked below.
    let process = unsafe { OpenProcess(PROCESS_QUERY_INFORMATION, 0, pid) };
    if process.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new process handle that we own.
    let process = unsafe { OwnedHandle::from_raw_handle(process) };
    let mut token: HANDLE = ptr::null_mut();
    // SAFETY: valid process handle and out pointer.
    if unsafe { OpenProcessToken(process.as_raw_handle(), TOKEN_ALL_ACCESS, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new token handle that we own.
    Ok(unsafe { OwnedHandle::from_raw_handle(token) })
}

/// Whether `token` is LocalSystem's.
fn is_local_system(token: &OwnedHandle) -> bool {
    // TOKEN_USER and the SID after it; u64 units keep it aligned.
    let mut buffer = [0u64; 16];
    let mut needed = 0u32;
    // SAFETY: a valid token handle and a buffer of the size given.
    let ok = unsafe {
        GetTokenInformation(
            token.as_raw_handle(),
            TokenUser,
            buffer.as_mut_ptr().cast(),
            mem::size_of_val(&buffer) as u32,
            &mut needed,
        )
    };
    if ok == 0 {
        return false;
    }
    // SAFETY: filled with a TOKEN_USER by GetTokenInformation above.
    let sid = unsafe { (*buffer.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    // SAFETY: a SID inside `buffer`, which lives until after the call.
    unsafe { IsWellKnownSid(sid, WinLocalSystemSid) != 0 }
}

/// A primary token duplicated from `token`.
fn primary(token: &OwnedHandle) -> io::Result<OwnedHandle> {
    let mut duplicate: HANDLE = ptr::null_mut();
    // SAFETY: valid token handle and out pointer.
    let ok = unsafe {
        DuplicateTokenEx(
            token.as_raw_handle(),
            TOKEN_ALL_ACCESS,
            ptr::null(),
            SecurityImpersonation,
            TokenPrimary,
            &mut duplicate,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new token handle that we own.
    Ok(unsafe { OwnedHandle::from_raw_handle(duplicate) })
}

/// The id of a process named `name` (case-insensitive) in `session`.
pub fn process_in_session(name: &str, session: u32) -> Option<u32> {
    processes()
        .into_iter()
        .find(|(pid, exe)| exe.eq_ignore_ascii_case(name) && session_of(*pid) == Some(session))
        .map(|(pid, _)| pid)
}

/// The session a process runs in.
pub fn session_of(pid: u32) -> Option<u32> {
    let mut session = 0u32;
    // SAFETY: valid out pointer.
    (unsafe { ProcessIdToSessionId(pid, &mut session) } != 0).then_some(session)
}

/// Every process: id and executable name.
pub fn processes() -> Vec<(u32, String)> {
    // SAFETY: a snapshot of all processes; the handle is checked below.
    let snapshot = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0) };
    if snapshot == INVALID_HANDLE_VALUE || snapshot.is_null() {
        return Vec::new();
    }
    // SAFETY: a new handle that we own.
    let snapshot = unsafe { OwnedHandle::from_raw_handle(snapshot) };
    // SAFETY: plain data; dwSize is set before use as required.
    let mut entry: PROCESSENTRY32W = unsafe { mem::zeroed() };
    entry.dwSize = mem::size_of::<PROCESSENTRY32W>() as u32;
    let mut found = Vec::new();
    // SAFETY: valid snapshot handle and entry with its size set.
    let mut more = unsafe { Process32FirstW(snapshot.as_raw_handle(), &mut entry) } != 0;
    while more {
        found.push((entry.th32ProcessID, from_wide(&entry.szExeFile)));
        // SAFETY: as above.
        more = unsafe { Process32NextW(snapshot.as_raw_handle(), &mut entry) } != 0;
    }
    found
}

/// A user's environment block (their profile's variables), or none.
struct Environment(*mut std::ffi::c_void);

impl Environment {
    fn of(token: &OwnedHandle) -> Self {
        let mut block = ptr::null_mut();
        // SAFETY: valid token and out pointer; on failure the block stays null
        // and the process inherits the service's environment.
        if unsafe { CreateEnvironmentBlock(&mut block, token.as_raw_handle(), 0) } == 0 {
            block = ptr::null_mut();
        }
        Self(block)
    }

    fn block(&self) -> *const std::ffi::c_void {
        self.0
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the block came from CreateEnvironmentBlock and is destroyed once.
            unsafe { DestroyEnvironmentBlock(self.0) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_is_among_the_processes_in_its_session() {
        let own = std::process::id();
        let session = session_of(own).expect("own session");
        let name = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .expect("own name");
        assert!(processes().iter().any(|(pid, _)| *pid == own));
        assert!(process_in_session(&name, session).is_some());
        assert_eq!(process_in_session(&name, session.wrapping_add(7)), None);
    }

    /// The tests run as a user, not as SYSTEM: a winlogon.exe of a user
    /// would not be taken for the helper's token.
    #[test]
    fn a_users_token_is_not_taken_for_local_system() {
        let own = token_of_current().unwrap();
        assert!(!is_local_system(&own));
    }
}
