//! A plain Windows message box, for what must be said before there is any
//! other window to say it in (the teacher app without its web view runtime).

use windows_sys::Win32::UI::WindowsAndMessaging::{
    MB_ICONERROR, MB_OK, MB_SETFOREGROUND, MessageBoxW,
};

/// Shows `text` under `title` with an OK button; returns when it is closed.
pub fn message_box(title: &str, text: &str) {
    let title = crate::wide::wide(title);
    let text = crate::wide::wide(text);
    // SAFETY: two NUL-terminated strings that outlive the call; no owner window.
    unsafe {
        MessageBoxW(
            std::ptr::null_mut(),
            text.as_ptr(),
            title.as_ptr(),
            MB_OK | MB_ICONERROR | MB_SETFOREGROUND,
        )
    };
}
