//! The teacher's input on an X11 session (R3), through the XTEST extension,
//! as if it came from the student's own keyboard and mouse.
//!
//! Keys go by position: the X server's keycode is the evdev number plus 8.
//! Text goes by keysym: a character the session's layout has on a key's
//! first or shifted level is typed with that key; any other (an AltGr
//! character, `€` on a US layout, a letter of another script) is put on a
//! free keycode for the moment and typed there. Those keycodes are given
//! back when control ends, and reused only round-robin, so an application
//! that reads the key map late still finds the character it was sent.

use std::collections::HashMap;

use pult_protocol::input::{KeyCode, MouseButton};
use pult_screen::MonitorInfo;
use xcb::{Xid, x, xtest};

use crate::helper::InputDevice;

/// The X protocol's event numbers, as XTEST's FakeInput takes them.
const KEY_PRESS: u8 = 2;
const KEY_RELEASE: u8 = 3;
const BUTTON_PRESS: u8 = 4;
const BUTTON_RELEASE: u8 = 5;
const MOTION_NOTIFY: u8 = 6;

/// The keysyms typed for a line break and a tab, and Shift.
const RETURN: u32 = 0xff0d;
const TAB: u32 = 0xff09;
const SHIFT_L: u32 = 0xffe1;
/// The Shift key's keycode on an evdev keyboard, should the map lack Shift_L.
const SHIFT_KEYCODE: u8 = 50;

/// XTEST on one X display.
pub struct X11Input {
    connection: xcb::Connection,
    root: x::Window,
    /// Free keycodes lent to keysyms the layout lacks, and to which.
    lent: Vec<(u8, u32)>,
    next_lent: usize,
    clipboard: super::x11_clipboard::X11Clipboard,
}

impl X11Input {
    /// Connects to `DISPLAY`; fails if the server lacks XTEST.
    pub fn connect() -> Result<Self, String> {
        let (connection, screen) = super::x11_ui::connect_requiring(None, &[xcb::Extension::Test])
            .map_err(|e| format!("{e} (remote control needs XTEST)"))?;
        Ok(Self {
            connection,
            root: screen.root,
            lent: Vec::new(),
            clipboard: Default::default(),
            next_lent: 0,
        })
    }

    fn fake(&self, kind: u8, detail: u8, x: i16, y: i16) -> Result<(), String> {
        self.connection.send_request(&xtest::FakeInput {
            r#type: kind,
            detail,
            time: x::CURRENT_TIME,
            root: if kind == MOTION_NOTIFY {
                self.root
            } else {
                x::Window::none()
            },
            root_x: x,
            root_y: y,
            deviceid: 0,
        });
        self.connection
            .flush()
            .map_err(|e| format!("the X display went away: {e}"))
    }

    fn tap(&self, keycode: u8) -> Result<(), String> {
        self.fake(KEY_PRESS, keycode, 0, 0)?;
        self.fake(KEY_RELEASE, keycode, 0, 0)
    }

    /// The key map: the first keycode, keysyms per keycode, and the keysyms.
    fn key_map(&self) -> Result<(u8, usize, Vec<u32>), String> {
        let setup = self.connection.get_setup();
        let (first, last) = (setup.min_keycode(), setup.max_keycode());
        let reply = self
            .connection
            .wait_for_reply(self.connection.send_request(&x::GetKeyboardMapping {
                first_keycode: first,
                count: last - first + 1,
            }))
            .map_err(|e| format!("cannot read the key map: {e}"))?;
        Ok((
            first,
            usize::from(reply.keysyms_per_keycode()).max(1),
            reply.keysyms().to_vec(),
        ))
    }

    /// The keycode for `keysym`, lending it a free keycode if need be.
    fn lend(&mut self, keysym: u32, map: &(u8, usize, Vec<u32>)) -> Result<u8, String> {
        if let Some(&(keycode, _)) = self.lent.iter().find(|(_, lent)| *lent == keysym) {
            return Ok(keycode);
        }
        let (first, per, syms) = map;
        const MOST_LENT: usize = 16;
        let keycode = if self.lent.len() < MOST_LENT {
            let taken: Vec<u8> = self.lent.iter().map(|(k, _)| *k).collect();
            let free = syms
                .chunks(*per)
                .enumerate()
                .rev()
                .filter(|(_, keysyms)| keysyms.iter().all(|&s| s == 0))
                .filter_map(|(index, _)| u8::try_from(usize::from(*first) + index).ok())
                .find(|keycode| !taken.contains(keycode))
                .ok_or("the key map has no free keycode to type with")?;
            self.lent.push((free, keysym));
            free
        } else {
            let slot = self.next_lent % MOST_LENT;
            self.next_lent += 1;
            self.lent[slot].1 = keysym;
            self.lent[slot].0
        };
        self.remap(keycode, keysym)?;
        Ok(keycode)
    }

    fn remap(&self, keycode: u8, keysym: u32) -> Result<(), String> {
        let cookie = self
            .connection
            .send_request_checked(&x::ChangeKeyboardMapping {
                keycode_count: 1,
                first_keycode: keycode,
                keysyms_per_keycode: 2,
                keysyms: &[keysym, keysym],
            });
        self.connection
            .check_request(cookie)
            .map_err(|e| format!("cannot change the key map: {e}"))
    }
}

impl Drop for X11Input {
    fn drop(&mut self) {
        for (keycode, _) in std::mem::take(&mut self.lent) {
            let _ = self.remap(keycode, 0);
        }
    }
}

impl InputDevice for X11Input {
    fn set_clipboard(&mut self, text: &str) -> Result<(), String> {
        self.clipboard.set(text)
    }

    fn clipboard(&mut self) -> Result<String, String> {
        self.clipboard.get()
    }

    fn monitors(&mut self) -> Result<Vec<MonitorInfo>, String> {
        Ok(super::x11_ui::monitors(&self.connection, self.root)?
            .into_iter()
            .map(|(x, y, width, height)| MonitorInfo {
                x: i32::from(x),
                y: i32::from(y),
                width: u32::from(width),
                height: u32::from(height),
                primary: false,
            })
            .collect())
    }

    fn move_to(&mut self, x: i32, y: i32) -> Result<(), String> {
        let clamp = |v: i32| i16::try_from(v).unwrap_or(if v < 0 { i16::MIN } else { i16::MAX });
        self.fake(MOTION_NOTIFY, 0, clamp(x), clamp(y))
    }

    fn button(&mut self, button: MouseButton, down: bool) -> Result<(), String> {
        let number = match button {
            MouseButton::Left => 1,
            MouseButton::Middle => 2,
            MouseButton::Right => 3,
            MouseButton::Back => 8,
            MouseButton::Forward => 9,
        };
        let kind = if down { BUTTON_PRESS } else { BUTTON_RELEASE };
        self.fake(kind, number, 0, 0)
    }

    fn wheel(&mut self, dx: i32, dy: i32) -> Result<(), String> {
        // X11 turns the wheel with buttons 4 (up), 5 (down), 6 (left), 7 (right).
        for (notches, less, more) in [(dy, 4, 5), (dx, 6, 7)] {
            let button = if notches < 0 { less } else { more };
            for _ in 0..notches.unsigned_abs() {
                self.fake(BUTTON_PRESS, button, 0, 0)?;
                self.fake(BUTTON_RELEASE, button, 0, 0)?;
            }
        }
        Ok(())
    }

    fn key(&mut self, code: KeyCode, down: bool) -> Result<(), String> {
        let keycode = u8::try_from(code.0 + 8).map_err(|_| format!("{code} has no X keycode"))?;
        self.fake(if down { KEY_PRESS } else { KEY_RELEASE }, keycode, 0, 0)
    }

    fn text(&mut self, text: &str) -> Result<(), String> {
        let map = self.key_map()?;
        let (first, per, syms) = &map;
        // Where each keysym is on the layout's first two levels.
        let mut on_keys: HashMap<u32, (u8, bool)> = HashMap::new();
        for (index, keysyms) in syms.chunks(*per).enumerate() {
            let Ok(keycode) = u8::try_from(usize::from(*first) + index) else {
                continue;
            };
            for (level, &keysym) in keysyms.iter().take(2).enumerate() {
                if keysym != 0 && !self.lent.iter().any(|(k, _)| *k == keycode) {
                    on_keys.entry(keysym).or_insert((keycode, level == 1));
                }
            }
        }
        let shift = on_keys.get(&SHIFT_L).map_or(SHIFT_KEYCODE, |(k, _)| *k);
        for character in text.chars() {
            let keysym = keysym(character);
            match on_keys.get(&keysym) {
                Some(&(keycode, false)) => self.tap(keycode)?,
                Some(&(keycode, true)) => {
                    self.fake(KEY_PRESS, shift, 0, 0)?;
                    self.tap(keycode)?;
                    self.fake(KEY_RELEASE, shift, 0, 0)?;
                }
                None => {
                    let keycode = self.lend(keysym, &map)?;
                    self.tap(keycode)?;
                }
            }
        }
        // Applied before the next event is: a round trip.
        self.connection
            .wait_for_reply(self.connection.send_request(&x::GetInputFocus {}))
            .map(|_| ())
            .map_err(|e| format!("the X display went away: {e}"))
    }
}

/// The X keysym of a character: Latin-1 is its own code, the euro sign has
/// its own keysym, everything else is Unicode's code plus 0x0100_0000.
fn keysym(character: char) -> u32 {
    match character {
        '\n' => RETURN,
        '\t' => TAB,
        '€' => 0x20ac,
        ' '..='~' | '\u{a0}'..='\u{ff}' => u32::from(character),
        other => 0x0100_0000 + u32::from(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_become_keysyms() {
        assert_eq!(keysym('a'), 0x61);
        assert_eq!(keysym('@'), 0x40);
        assert_eq!(keysym('ä'), 0xe4);
        assert_eq!(keysym('ß'), 0xdf);
        assert_eq!(keysym('€'), 0x20ac);
        assert_eq!(keysym('\n'), RETURN);
        assert_eq!(keysym('ł'), 0x0100_0142);
    }
}
