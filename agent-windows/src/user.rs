//! The student's own identity for work done on their files (R6): the helper
//! runs as SYSTEM, and a file written as SYSTEM would belong to SYSTEM and
//! could land where the student may not write. [`SessionUser`] holds the
//! token of the user logged on in a session; [`SessionUser::act`] runs work
//! on the calling thread impersonating them, so Windows checks the
//! student's rights and makes them the owner of what is created.

use std::io;
use std::os::windows::io::{AsRawHandle, OwnedHandle};
use std::path::PathBuf;

use windows_sys::Win32::Security::{ImpersonateLoggedOnUser, RevertToSelf};
use windows_sys::Win32::UI::Shell::{FOLDERID_Desktop, FOLDERID_Profile};

use crate::folders::known_folder;

/// The user logged on in a session, by their token.
#[derive(Debug)]
pub struct SessionUser {
    token: OwnedHandle,
}

impl SessionUser {
    /// The user logged on in `session` (the service runs as SYSTEM, which
    /// asking Windows for their token requires).
    pub fn of(session: u32) -> io::Result<Self> {
        Ok(Self {
            token: crate::process::user_token(session)?,
        })
    }

    /// Runs `work` on this thread as the user, and is this thread's own
    /// again afterwards. Should Windows refuse to give the thread back, the
    /// process ends rather than go on with the user's rights.
    pub fn act<T>(&self, work: impl FnOnce() -> T) -> io::Result<T> {
        // SAFETY: a valid primary token we own; impersonation applies to this thread.
        if unsafe { ImpersonateLoggedOnUser(self.token.as_raw_handle()) } == 0 {
            return Err(io::Error::last_os_error());
        }
        struct Revert;
        impl Drop for Revert {
            fn drop(&mut self) {
                // SAFETY: no arguments; ends this thread's impersonation.
                if unsafe { RevertToSelf() } == 0 {
                    std::process::abort();
                }
            }
        }
        let _revert = Revert;
        Ok(work())
    }

    /// The user's desktop folder (localised, redirected or not).
    pub fn desktop(&self) -> io::Result<PathBuf> {
        known_folder(
            &FOLDERID_Desktop,
            self.token.as_raw_handle(),
            "student's desktop",
        )
    }

    /// The user's profile folder (`C:\Users\NAME`).
    pub fn profile(&self) -> io::Result<PathBuf> {
        known_folder(
            &FOLDERID_Profile,
            self.token.as_raw_handle(),
            "student's profile",
        )
    }
}
