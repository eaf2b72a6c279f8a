//! UTF-16 strings for the W functions.

use std::ffi::OsStr;
use std::os::windows::ffi::OsStrExt;

/// `text` as a NUL-terminated UTF-16 string.
pub(crate) fn wide(text: impl AsRef<OsStr>) -> Vec<u16> {
    text.as_ref().encode_wide().chain(Some(0)).collect()
}

/// Reads a NUL-terminated UTF-16 string from a buffer the system filled.
pub(crate) fn from_wide(buffer: &[u16]) -> String {
    let end = buffer.iter().position(|&c| c == 0).unwrap_or(buffer.len());
    String::from_utf16_lossy(&buffer[..end])
}

/// Copies `text` into a fixed-size UTF-16 field, cut to fit and NUL-terminated.
pub(crate) fn fill(field: &mut [u16], text: &str) {
    let Some(room) = field.len().checked_sub(1) else {
        return;
    };
    let mut written = 0;
    for (slot, unit) in field.iter_mut().zip(text.encode_utf16().take(room)) {
        *slot = unit;
        written += 1;
    }
    field[written] = 0;
}

/// Reads a NUL-terminated UTF-16 string the system returned by pointer;
/// empty for null.
///
/// # Safety
/// `at` is null or points to a NUL-terminated UTF-16 string that stays valid
/// during the call.
pub(crate) unsafe fn from_ptr(mut at: *const u16) -> String {
    let mut units = Vec::new();
    // SAFETY: by the caller's promise, every unit up to the NUL is readable.
    while !at.is_null() && unsafe { *at } != 0 {
        // SAFETY: as above.
        units.push(unsafe { *at });
        // SAFETY: the next unit is still within the string (this one was not the NUL).
        at = unsafe { at.add(1) };
    }
    String::from_utf16_lossy(&units)
}
