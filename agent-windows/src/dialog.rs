//! Plain Windows message boxes: for what must be said before there is any
//! other window to say it in (the teacher app without its web view
//! runtime), and for a teacher's message to the student.

use std::time::{Duration, Instant};

use windows_sys::Win32::UI::WindowsAndMessaging::{
    FindWindowW, IsWindowVisible, MB_ICONERROR, MB_ICONINFORMATION, MB_OK, MB_SETFOREGROUND,
    MB_SYSTEMMODAL, MB_TOPMOST, MessageBoxW,
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

/// Shows `text` under `title` in a message box above every window, on a
/// thread of its own; returns once the box is visible. The student closes it.
pub fn show_message(title: &str, text: &str) -> Result<(), String> {
    let (title, text) = (title.to_owned(), text.to_owned());
    let wide_title = crate::wide::wide(&title);
    std::thread::Builder::new()
        .name("message-box".into())
        .spawn(move || {
            let title = crate::wide::wide(&title);
            let text = crate::wide::wide(&text);
            // SAFETY: two NUL-terminated strings that outlive the call; no owner window.
            unsafe {
                MessageBoxW(
                    std::ptr::null_mut(),
                    text.as_ptr(),
                    title.as_ptr(),
                    MB_OK | MB_ICONINFORMATION | MB_SETFOREGROUND | MB_TOPMOST | MB_SYSTEMMODAL,
                )
            };
        })
        .map_err(|e| format!("could not start the message's thread: {e}"))?;
    // The dialog class, "#32770", with the title: the box just asked for.
    let class = crate::wide::wide("#32770");
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        // SAFETY: NUL-terminated names.
        let window = unsafe { FindWindowW(class.as_ptr(), wide_title.as_ptr()) };
        // SAFETY: IsWindowVisible accepts any handle, null included.
        if !window.is_null() && unsafe { IsWindowVisible(window) } != 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err("the message box did not appear".to_owned());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
