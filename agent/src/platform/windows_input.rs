//! The teacher's input on Windows (R3): `SendInput` in the helper's session,
//! through pult-agent-windows.

use pult_agent_windows::input::{self, Button};
use pult_protocol::input::{KeyCode, MouseButton};
use pult_screen::MonitorInfo;

use crate::helper::InputDevice;

/// SendInput in this session.
#[derive(Default)]
pub struct WindowsInput;

impl WindowsInput {
    /// Input for the session this process runs in.
    pub fn new() -> Self {
        Self
    }
}

impl InputDevice for WindowsInput {
    fn set_clipboard(&mut self, text: &str) -> Result<(), String> {
        pult_agent_windows::clipboard::set(text)
    }

    fn clipboard(&mut self) -> Result<String, String> {
        // UTF-16 units: one per UTF-8 byte at most, so this covers what is carried.
        pult_agent_windows::clipboard::get(pult_protocol::input::InputEvent::MAX_CLIPBOARD_BYTES)
    }

    fn monitors(&mut self) -> Result<Vec<MonitorInfo>, String> {
        let monitors: Vec<MonitorInfo> = pult_agent_windows::notice::monitor_areas()
            .into_iter()
            .map(|(left, top, right, bottom)| MonitorInfo {
                x: left,
                y: top,
                width: u32::try_from(right - left).unwrap_or(0),
                height: u32::try_from(bottom - top).unwrap_or(0),
                primary: left == 0 && top == 0,
            })
            .collect();
        if monitors.is_empty() {
            return Err("Windows names no monitor".into());
        }
        Ok(monitors)
    }

    fn move_to(&mut self, x: i32, y: i32) -> Result<(), String> {
        input::move_to(x, y)
    }

    fn button(&mut self, button: MouseButton, down: bool) -> Result<(), String> {
        let button = match button {
            MouseButton::Left => Button::Left,
            MouseButton::Middle => Button::Middle,
            MouseButton::Right => Button::Right,
            MouseButton::Back => Button::Back,
            MouseButton::Forward => Button::Forward,
        };
        input::button(button, down)
    }

    fn wheel(&mut self, dx: i32, dy: i32) -> Result<(), String> {
        input::wheel(dx, dy)
    }

    fn key(&mut self, code: KeyCode, down: bool) -> Result<(), String> {
        input::key(code.0, down)
    }

    fn text(&mut self, text: &str) -> Result<(), String> {
        input::text(text)
    }
}
