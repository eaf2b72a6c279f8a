//! The active console session and who is logged on there (WTS).

use std::ptr;

use windows_sys::Win32::Globalization::GetSystemDefaultLocaleName;
use windows_sys::Win32::System::RemoteDesktop::{
    WTS_CURRENT_SERVER_HANDLE, WTS_INFO_CLASS, WTSFreeMemory, WTSGetActiveConsoleSessionId,
    WTSQuerySessionInformationW, WTSUserName,
};

/// The session attached to the physical console, if any (none while the
/// console switches between sessions).
pub fn active_console_session() -> Option<u32> {
    // SAFETY: no arguments; returns 0xFFFFFFFF when there is no such session.
    let id = unsafe { WTSGetActiveConsoleSessionId() };
    (id != u32::MAX).then_some(id)
}

/// The user logged on in `session`; `None` for nobody (the log-on screen).
pub fn user_name(session: u32) -> Option<String> {
    let bytes = query(session, WTSUserName)?;
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    let name = crate::wide::from_wide(&units);
    (!name.is_empty()).then_some(name)
}

/// The system's default locale ("de-DE"): the language of the notice, which
/// the helper (SYSTEM) shows to whoever is logged on.
pub fn system_locale() -> Option<String> {
    let mut name = [0u16; 85];
    // SAFETY: a buffer of the given length (LOCALE_NAME_MAX_LENGTH).
    let length = unsafe { GetSystemDefaultLocaleName(name.as_mut_ptr(), name.len() as i32) };
    (length > 0).then(|| crate::wide::from_wide(&name))
}

/// One piece of information about `session`, as the bytes WTS returns.
fn query(session: u32, class: WTS_INFO_CLASS) -> Option<Vec<u8>> {
    let mut buffer = ptr::null_mut();
    let mut length = 0u32;
    // SAFETY: the out pointers are valid; on success WTS allocates `buffer`
    // with `length` bytes, freed below with WTSFreeMemory.
    let ok = unsafe {
        WTSQuerySessionInformationW(
            WTS_CURRENT_SERVER_HANDLE,
            session,
            class,
            &mut buffer,
            &mut length,
        )
    };
    if ok == 0 || buffer.is_null() {
        return None;
    }
    // SAFETY: WTS returned `length` readable bytes at `buffer`.
    let bytes =
        unsafe { std::slice::from_raw_parts(buffer.cast::<u8>(), length as usize) }.to_vec();
    // SAFETY: `buffer` came from WTSQuerySessionInformationW and is freed once.
    unsafe { WTSFreeMemory(buffer.cast()) };
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under Wine (and on a desktop) the test runs in a session with a user.
    #[test]
    fn the_console_session_has_the_user_running_the_test() {
        let session = active_console_session().expect("a console session");
        let expected = std::env::var("USERNAME").expect("USERNAME");
        assert_eq!(user_name(session).as_deref(), Some(expected.as_str()));
        assert!(system_locale().is_some_and(|l| l.contains('-')));
    }
}
