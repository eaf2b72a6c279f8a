//! Where Windows keeps things, asked of Windows itself rather than read
//! from the environment: a service may start with a bare or different
//! environment (Wine's services see `ALLUSERSPROFILE=C:\users\Public` and no
//! `ProgramData`, while an installer's custom action sees `ProgramData`).

use std::io;
use std::path::PathBuf;

use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::System::Com::CoTaskMemFree;
use windows_sys::Win32::UI::Shell::{FOLDERID_ProgramData, SHGetKnownFolderPath};
use windows_sys::core::{GUID, PWSTR};

/// The machine-wide data folder (`C:\ProgramData` on a default install).
pub fn program_data() -> io::Result<PathBuf> {
    // No token: the default user's view, the same for every account for
    // this machine-wide folder.
    known_folder(&FOLDERID_ProgramData, std::ptr::null_mut(), "ProgramData")
}

/// Known folder `id` as the user of `token` sees it (null: the default
/// user); `what` names it in the error.
pub(crate) fn known_folder(id: &GUID, token: HANDLE, what: &str) -> io::Result<PathBuf> {
    let mut path: PWSTR = std::ptr::null_mut();
    // SAFETY: a known folder id, no flags, a token handle or null; `path`
    // receives a string we free below.
    let result = unsafe { SHGetKnownFolderPath(id, 0, token, &mut path) };
    let text = if result >= 0 && !path.is_null() {
        // SAFETY: a NUL-terminated string from SHGetKnownFolderPath, freed below.
        Ok(PathBuf::from(unsafe { crate::wide::from_ptr(path) }))
    } else {
        Err(io::Error::other(format!(
            "Windows does not name the {what} folder (HRESULT {result:#010x})"
        )))
    };
    // SAFETY: allocated by SHGetKnownFolderPath (also on failure); null is allowed.
    unsafe { CoTaskMemFree(path.cast()) };
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_data_is_an_absolute_folder_that_exists() {
        let folder = program_data().unwrap();
        assert!(folder.is_absolute(), "{folder:?}");
        assert!(folder.is_dir(), "{folder:?}");
        assert!(folder.ends_with("ProgramData"), "{folder:?}");
    }
}
