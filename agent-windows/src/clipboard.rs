//! The clipboard of the session the helper runs in (R3: clipboard text both
//! ways while a teacher controls the computer), as Unicode text.

use std::ptr;
use std::time::Duration;

use windows_sys::Win32::Foundation::{GetLastError, GlobalFree};
use windows_sys::Win32::System::DataExchange::{
    CloseClipboard, EmptyClipboard, GetClipboardData, IsClipboardFormatAvailable, OpenClipboard,
    SetClipboardData,
};
use windows_sys::Win32::System::Memory::{
    GMEM_MOVEABLE, GlobalAlloc, GlobalLock, GlobalSize, GlobalUnlock,
};

/// CF_UNICODETEXT: NUL-terminated UTF-16.
const UNICODE_TEXT: u32 = 13;

/// The clipboard, open until dropped. Another program may hold it a moment;
/// opening is tried a few times.
struct Open;

impl Open {
    fn new() -> Result<Self, String> {
        for _ in 0..10 {
            // SAFETY: no owner window; closed by Drop.
            if unsafe { OpenClipboard(ptr::null_mut()) } != 0 {
                return Ok(Self);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("the clipboard is busy: error {}", last_error()))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        // SAFETY: opened in `new`.
        unsafe { CloseClipboard() };
    }
}

/// Puts `text` on the clipboard.
pub fn set(text: &str) -> Result<(), String> {
    let units: Vec<u16> = text.encode_utf16().chain(std::iter::once(0)).collect();
    let _open = Open::new()?;
    // SAFETY: the clipboard is open; it becomes ours and empty.
    if unsafe { EmptyClipboard() } == 0 {
        return Err(format!(
            "cannot empty the clipboard: error {}",
            last_error()
        ));
    }
    let bytes = units.len() * 2;
    // SAFETY: plain values; a movable block of `bytes`.
    let memory = unsafe { GlobalAlloc(GMEM_MOVEABLE, bytes) };
    if memory.is_null() {
        return Err("out of memory for the clipboard".into());
    }
    // SAFETY: the block just allocated.
    let target = unsafe { GlobalLock(memory) }.cast::<u16>();
    if target.is_null() {
        // SAFETY: the block just allocated, not handed on.
        unsafe { GlobalFree(memory) };
        return Err("cannot lock the clipboard's memory".into());
    }
    // SAFETY: the locked block holds `bytes`, room for every unit.
    unsafe { ptr::copy_nonoverlapping(units.as_ptr(), target, units.len()) };
    // SAFETY: locked above, unlocked once.
    unsafe { GlobalUnlock(memory) };
    // SAFETY: the clipboard is open and the block unlocked; the clipboard owns it once set.
    if unsafe { SetClipboardData(UNICODE_TEXT, memory) }.is_null() {
        let error = last_error();
        // SAFETY: the clipboard did not take the block.
        unsafe { GlobalFree(memory) };
        return Err(format!("cannot set the clipboard: error {error}"));
    }
    Ok(())
}

/// The text on the clipboard, at most `max_units` UTF-16 units of it (a
/// student's program may put far more there); empty when it holds none.
pub fn get(max_units: usize) -> Result<String, String> {
    let _open = Open::new()?;
    // SAFETY: the clipboard is open.
    if unsafe { IsClipboardFormatAvailable(UNICODE_TEXT) } == 0 {
        return Ok(String::new());
    }
    // SAFETY: the clipboard is open; the handle stays the clipboard's.
    let memory = unsafe { GetClipboardData(UNICODE_TEXT) };
    if memory.is_null() {
        return Ok(String::new());
    }
    // SAFETY: the clipboard's block, only read while locked.
    let source = unsafe { GlobalLock(memory) }.cast::<u16>();
    if source.is_null() {
        return Err("cannot lock the clipboard's memory".into());
    }
    // SAFETY: the clipboard's block; its size in bytes.
    let units = (unsafe { GlobalSize(memory) } / 2).min(max_units);
    let mut length = 0;
    // CF_UNICODETEXT should end with a NUL, but another program may have put
    // an unterminated one there: never read past the block.
    while length < units {
        // SAFETY: `length` < `units`, within the locked block.
        let unit = unsafe { source.add(length) };
        // SAFETY: as above; read, never written.
        if unsafe { unit.read() } == 0 {
            break;
        }
        length += 1;
    }
    // SAFETY: `length` units before the NUL, in the locked block.
    let text = String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(source, length) });
    // SAFETY: locked above, unlocked once.
    unsafe { GlobalUnlock(memory) };
    Ok(text)
}

fn last_error() -> u32 {
    // SAFETY: reads the calling thread's last error.
    unsafe { GetLastError() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_goes_onto_the_clipboard_and_comes_back() {
        let text = "Grüße @ € {[]} \\ 😀\r\nzweite Zeile";
        super::set(text).unwrap();
        assert_eq!(super::get(1000).unwrap(), text);
        assert_eq!(super::get(5).unwrap(), "Grüße");
        super::set("").unwrap();
        assert_eq!(super::get(1000).unwrap(), "");
    }
}
