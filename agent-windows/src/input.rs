//! The teacher's mouse and keyboard in the student's session by `SendInput`
//! (R3): keys by scan code, so they are the keys at those positions whatever
//! the layout; text as Unicode characters, so it arrives as typed; the
//! pointer in absolute coordinates of the whole virtual screen.

use std::mem::size_of;

use windows_sys::Win32::UI::Input::KeyboardAndMouse::{
    INPUT, INPUT_0, INPUT_KEYBOARD, INPUT_MOUSE, KEYBDINPUT, KEYEVENTF_EXTENDEDKEY,
    KEYEVENTF_KEYUP, KEYEVENTF_SCANCODE, KEYEVENTF_UNICODE, MAPVK_VSC_TO_VK_EX,
    MOUSEEVENTF_ABSOLUTE, MOUSEEVENTF_HWHEEL, MOUSEEVENTF_LEFTDOWN, MOUSEEVENTF_LEFTUP,
    MOUSEEVENTF_MIDDLEDOWN, MOUSEEVENTF_MIDDLEUP, MOUSEEVENTF_MOVE, MOUSEEVENTF_RIGHTDOWN,
    MOUSEEVENTF_RIGHTUP, MOUSEEVENTF_VIRTUALDESK, MOUSEEVENTF_WHEEL, MOUSEEVENTF_XDOWN,
    MOUSEEVENTF_XUP, MOUSEINPUT, MapVirtualKeyW, SendInput, VIRTUAL_KEY, VK_PAUSE, VK_RETURN,
    VK_TAB,
};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    GetSystemMetrics, SM_CXVIRTUALSCREEN, SM_CYVIRTUALSCREEN, SM_XVIRTUALSCREEN, SM_YVIRTUALSCREEN,
    WHEEL_DELTA, XBUTTON1, XBUTTON2,
};

/// A mouse button as `SendInput` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Button {
    /// Primary.
    Left,
    /// Wheel.
    Middle,
    /// Secondary.
    Right,
    /// Thumb, back (XBUTTON1).
    Back,
    /// Thumb, forward (XBUTTON2).
    Forward,
}

/// The PC scan code of an evdev key number, and whether it is an extended
/// (E0) key; `None` for keys with no scan code of their own (Pause goes by
/// its virtual key).
pub fn scan_code(evdev: u16) -> Option<(u16, bool)> {
    Some(match evdev {
        // The main block, function keys to F12, the keypad: the same numbers.
        1..=83 | 86..=88 => (evdev, false),
        89 => (0x73, false),                      // IntlRo
        96 => (0x1c, true),                       // NumpadEnter
        97 => (0x1d, true),                       // ControlRight
        98 => (0x35, true),                       // NumpadDivide
        99 => (0x37, true),                       // PrintScreen
        100 => (0x38, true),                      // AltRight
        102 => (0x47, true),                      // Home
        103 => (0x48, true),                      // ArrowUp
        104 => (0x49, true),                      // PageUp
        105 => (0x4b, true),                      // ArrowLeft
        106 => (0x4d, true),                      // ArrowRight
        107 => (0x4f, true),                      // End
        108 => (0x50, true),                      // ArrowDown
        109 => (0x51, true),                      // PageDown
        110 => (0x52, true),                      // Insert
        111 => (0x53, true),                      // Delete
        117 => (0x59, false),                     // NumpadEqual
        124 => (0x7d, false),                     // IntlYen
        125 => (0x5b, true),                      // MetaLeft
        126 => (0x5c, true),                      // MetaRight
        127 => (0x5d, true),                      // ContextMenu
        183..=193 => (evdev - 183 + 0x64, false), // F13–F23
        194 => (0x76, false),                     // F24
        _ => return None,
    })
}

/// Presses or releases the key with evdev number `evdev`.
pub fn key(evdev: u16, down: bool) -> Result<(), String> {
    let up = if down { 0 } else { KEYEVENTF_KEYUP };
    let input = match scan_code(evdev) {
        Some((scan, extended)) => {
            // Windows goes by the scan code and ignores the virtual key; Wine
            // goes by the virtual key, so it is named too, after the layout.
            let prefixed = u32::from(scan) | if extended { 0xe000 } else { 0 };
            // SAFETY: a plain conversion by the active layout; no pointers.
            let virtual_key = unsafe { MapVirtualKeyW(prefixed, MAPVK_VSC_TO_VK_EX) };
            keyboard(
                u16::try_from(virtual_key).unwrap_or(0),
                scan,
                KEYEVENTF_SCANCODE | up | if extended { KEYEVENTF_EXTENDEDKEY } else { 0 },
            )
        }
        None if evdev == 119 => keyboard(VK_PAUSE, 0, up),
        None => return Err(format!("key {evdev} has no Windows scan code")),
    };
    send(&[input])
}

/// Types `text` as Unicode characters (line breaks and tabs as their keys).
pub fn text(text: &str) -> Result<(), String> {
    let mut inputs = Vec::new();
    for character in text.chars() {
        let virtual_key = match character {
            '\n' => Some(VK_RETURN),
            '\t' => Some(VK_TAB),
            _ => None,
        };
        if let Some(virtual_key) = virtual_key {
            inputs.push(keyboard(virtual_key, 0, 0));
            inputs.push(keyboard(virtual_key, 0, KEYEVENTF_KEYUP));
            continue;
        }
        let mut units = [0u16; 2];
        for &unit in character.encode_utf16(&mut units).iter() {
            inputs.push(keyboard(0, unit, KEYEVENTF_UNICODE));
            inputs.push(keyboard(0, unit, KEYEVENTF_UNICODE | KEYEVENTF_KEYUP));
        }
    }
    send(&inputs)
}

/// Moves the pointer to `x`, `y` of the virtual screen.
pub fn move_to(x: i32, y: i32) -> Result<(), String> {
    let metric = |index| {
        // SAFETY: reads a system metric; no pointers.
        unsafe { GetSystemMetrics(index) }
    };
    let (left, top) = (metric(SM_XVIRTUALSCREEN), metric(SM_YVIRTUALSCREEN));
    let (width, height) = (metric(SM_CXVIRTUALSCREEN), metric(SM_CYVIRTUALSCREEN));
    // Absolute coordinates run from 0 to 65535 across the virtual screen.
    let normal = |at: i32, origin: i32, length: i32| {
        let span = i64::from(length.max(2) - 1);
        let offset = (i64::from(at) - i64::from(origin)).clamp(0, span);
        i32::try_from((offset * 65_535 + span / 2) / span).unwrap_or(65_535)
    };
    send(&[mouse(
        normal(x, left, width),
        normal(y, top, height),
        0,
        MOUSEEVENTF_MOVE | MOUSEEVENTF_ABSOLUTE | MOUSEEVENTF_VIRTUALDESK,
    )])
}

/// Presses or releases `button` where the pointer is.
pub fn button(button: Button, down: bool) -> Result<(), String> {
    let (flags, data) = match (button, down) {
        (Button::Left, true) => (MOUSEEVENTF_LEFTDOWN, 0),
        (Button::Left, false) => (MOUSEEVENTF_LEFTUP, 0),
        (Button::Right, true) => (MOUSEEVENTF_RIGHTDOWN, 0),
        (Button::Right, false) => (MOUSEEVENTF_RIGHTUP, 0),
        (Button::Middle, true) => (MOUSEEVENTF_MIDDLEDOWN, 0),
        (Button::Middle, false) => (MOUSEEVENTF_MIDDLEUP, 0),
        (Button::Back, true) => (MOUSEEVENTF_XDOWN, XBUTTON1),
        (Button::Back, false) => (MOUSEEVENTF_XUP, XBUTTON1),
        (Button::Forward, true) => (MOUSEEVENTF_XDOWN, XBUTTON2),
        (Button::Forward, false) => (MOUSEEVENTF_XUP, XBUTTON2),
    };
    send(&[mouse(0, 0, u32::from(data), flags)])
}

/// Turns the wheel `dx` notches right and `dy` notches down.
pub fn wheel(dx: i32, dy: i32) -> Result<(), String> {
    let delta = |notches: i32| notches.saturating_mul(i32::try_from(WHEEL_DELTA).unwrap_or(120));
    let mut inputs = Vec::new();
    if dy != 0 {
        // A positive wheel delta turns the wheel away from the user: up.
        inputs.push(mouse(0, 0, as_data(delta(-dy)), MOUSEEVENTF_WHEEL));
    }
    if dx != 0 {
        inputs.push(mouse(0, 0, as_data(delta(dx)), MOUSEEVENTF_HWHEEL));
    }
    send(&inputs)
}

/// A signed wheel delta in the unsigned field that carries it.
fn as_data(delta: i32) -> u32 {
    u32::from_ne_bytes(delta.to_ne_bytes())
}

fn keyboard(virtual_key: VIRTUAL_KEY, scan: u16, flags: u32) -> INPUT {
    INPUT {
        r#type: INPUT_KEYBOARD,
        Anonymous: INPUT_0 {
            ki: KEYBDINPUT {
                wVk: virtual_key,
                wScan: scan,
                dwFlags: flags,
                time: 0,
                dwExtraInfo: 0,
            },
        },
    }
}

fn mouse(dx: i32, dy: i32, data: u32, flags: u32) -> INPUT {
    INPUT {
        r#type: INPUT_MOUSE,
        Anonymous: INPUT_0 {
            mi: MOUSEINPUT {
                dx,
                dy,
                mouseData: data,
                dwFlags: flags,
                time: 0,
                dwExtraInfo: 0,
            },
        },
    }
}

fn send(inputs: &[INPUT]) -> Result<(), String> {
    if inputs.is_empty() {
        return Ok(());
    }
    let count = u32::try_from(inputs.len()).map_err(|_| "too much input at once".to_owned())?;
    let size = i32::try_from(size_of::<INPUT>()).unwrap_or(i32::MAX);
    // SAFETY: `inputs` is a live slice of `count` INPUT structures of `size` bytes.
    let sent = unsafe { SendInput(count, inputs.as_ptr(), size) };
    if sent == count {
        Ok(())
    } else {
        Err(format!(
            "Windows took {sent} of {count} input events: {} (another desktop, such as the \
             log-on screen, may have the input)",
            std::io::Error::last_os_error()
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::ptr;
    use std::time::{Duration, Instant};

    use windows_sys::Win32::Foundation::POINT;
    use windows_sys::Win32::System::LibraryLoader::GetModuleHandleW;
    use windows_sys::Win32::UI::Input::KeyboardAndMouse::SetFocus;
    use windows_sys::Win32::UI::WindowsAndMessaging::{
        CreateWindowExW, DestroyWindow, DispatchMessageW, GetCursorPos, GetWindowTextW, MSG,
        PM_REMOVE, PeekMessageW, SetForegroundWindow, TranslateMessage, WS_OVERLAPPEDWINDOW,
        WS_VISIBLE,
    };

    use super::*;
    use crate::wide::wide;

    /// Handles this thread's window messages until `done` or five seconds.
    fn pump_until(mut done: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            // SAFETY: MSG is plain data, zeroes are a valid value.
            let mut message: MSG = unsafe { std::mem::zeroed() };
            // SAFETY: `message` is a live MSG; null window: this thread's messages.
            while unsafe { PeekMessageW(&raw mut message, ptr::null_mut(), 0, 0, PM_REMOVE) } != 0 {
                // SAFETY: a message just taken from the queue.
                unsafe { TranslateMessage(&raw const message) };
                // SAFETY: as above.
                unsafe { DispatchMessageW(&raw const message) };
            }
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn text_of(window: windows_sys::Win32::Foundation::HWND) -> String {
        let mut buffer = [0u16; 256];
        // SAFETY: the buffer's length is passed with it.
        let length = unsafe { GetWindowTextW(window, buffer.as_mut_ptr(), 256) };
        String::from_utf16_lossy(&buffer[..usize::try_from(length).unwrap_or(0)])
    }

    #[test]
    fn r3_text_keys_and_the_pointer_arrive_as_sent() {
        let class = wide("EDIT");
        let title = wide("");
        // SAFETY: null asks for this program's module.
        let instance = unsafe { GetModuleHandleW(ptr::null()) };
        // SAFETY: a system class name and an empty title, both NUL-terminated.
        let edit = unsafe {
            CreateWindowExW(
                0,
                class.as_ptr(),
                title.as_ptr(),
                WS_OVERLAPPEDWINDOW | WS_VISIBLE,
                100,
                100,
                400,
                200,
                ptr::null_mut(),
                ptr::null_mut(),
                instance,
                ptr::null(),
            )
        };
        assert!(!edit.is_null(), "{}", std::io::Error::last_os_error());
        // SAFETY: a window of this thread.
        unsafe { SetForegroundWindow(edit) };
        // SAFETY: as above.
        unsafe { SetFocus(edit) };
        pump_until(|| true);

        text("Grüße @ € ").unwrap();
        // Shift and the key at A's place (scan codes, whatever the layout).
        for (key_code, down) in [(42, true), (30, true), (30, false), (42, false)] {
            key(key_code, down).unwrap();
        }
        let typed = pump_until(|| text_of(edit) == "Grüße @ € A");
        let seen = text_of(edit);
        // SAFETY: the window made above.
        unsafe { DestroyWindow(edit) };
        assert!(typed, "the edit window holds {seen:?}");

        move_to(150, 120).unwrap();
        let mut at = POINT { x: 0, y: 0 };
        let moved = pump_until(|| {
            // SAFETY: `at` is a live POINT.
            unsafe { GetCursorPos(&raw mut at) };
            (at.x, at.y) == (150, 120)
        });
        assert!(moved, "the pointer is at {},{}", at.x, at.y);
    }
}
