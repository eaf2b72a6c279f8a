//! Remote control (R3): what a console sends while it steers a student's
//! mouse and keyboard.
//!
//! A control stream begins with [`crate::message::Request::Control`]; then the
//! console sends [`InputEvent`] frames, applied in order: buttons, wheel,
//! keys, text, and pointer moves that must land before a click. Pointer moves
//! while the mouse merely travels go as QUIC datagrams ([`PointerMove`]):
//! a lost one is replaced by the next, and one that arrives late is dropped
//! (latest wins, by its sequence number).
//!
//! Keys travel by their physical position (Linux's evdev numbering, which the
//! X server's keycodes and Windows' scan codes both follow) and text as text,
//! so a German layout's umlauts and AltGr characters arrive as typed, whatever
//! the teacher's own layout.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::frame::{FrameKind, WireMessage};
use crate::message::ErrorReply;

/// A place on the student's screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScreenPoint {
    /// Pixels of the whole desktop as a screenshot shows it, from its top
    /// left corner (scripts, `pultctl input --click X,Y`).
    Pixel {
        /// From the left edge.
        x: u32,
        /// From the top edge.
        y: u32,
    },
    /// Where on the picture a screen stream shows, whatever its scale: a
    /// fraction of the area from 0 (left, top) to [`ScreenPoint::FULL`]
    /// (right, bottom).
    Fraction {
        /// The area: one monitor counted from 0 left to right, or `None` for
        /// the whole desktop (as [`crate::watch::WatchSettings::monitor`]).
        monitor: Option<u32>,
        /// Across.
        x: u16,
        /// Down.
        y: u16,
    },
}

impl ScreenPoint {
    /// The far edge of a [`ScreenPoint::Fraction`].
    pub const FULL: u16 = u16::MAX;

    /// The point at `x`, `y` (each 0.0 to 1.0, clamped) of `monitor`'s picture.
    pub fn fraction(monitor: Option<u32>, x: f64, y: f64) -> Self {
        let scale = |v: f64| {
            let clamped = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
            // In range after the clamp: the cast cannot truncate.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let scaled = (clamped * f64::from(Self::FULL)).round() as u16;
            scaled
        };
        Self::Fraction {
            monitor,
            x: scale(x),
            y: scale(y),
        }
    }
}

/// A pointer position, numbered so a late datagram never moves the pointer
/// back: the agent applies a move only if its sequence is newer than the last
/// one it applied (moves on the stream always apply).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointerMove {
    /// Counts up from 1 over the control stream, for stream and datagram moves alike.
    pub sequence: u32,
    /// Where the pointer goes.
    pub at: ScreenPoint,
}

/// The first byte of a datagram that carries a [`PointerMove`].
const POINTER_DATAGRAM: u8 = 1;
/// The largest datagram the agent reads as a pointer move.
pub const MAX_POINTER_DATAGRAM: usize = 64;

impl PointerMove {
    /// The move as a datagram.
    pub fn to_datagram(&self) -> Vec<u8> {
        let mut datagram = vec![POINTER_DATAGRAM];
        // A fixed, small struct: encoding cannot fail.
        datagram.extend(postcard::to_stdvec(self).unwrap_or_default());
        datagram
    }

    /// A move from a datagram; an error names what is wrong with it.
    pub fn from_datagram(datagram: &[u8]) -> Result<Self, InputError> {
        if datagram.len() > MAX_POINTER_DATAGRAM {
            return Err(InputError::Datagram(format!(
                "{} bytes; a pointer move has at most {MAX_POINTER_DATAGRAM}",
                datagram.len()
            )));
        }
        match datagram.split_first() {
            Some((&POINTER_DATAGRAM, body)) => {
                postcard::from_bytes(body).map_err(|e| InputError::Datagram(e.to_string()))
            }
            Some((kind, _)) => Err(InputError::Datagram(format!("unknown kind {kind}"))),
            None => Err(InputError::Datagram("empty".into())),
        }
    }
}

/// A mouse button.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MouseButton {
    /// The primary button.
    Left,
    /// The wheel pressed.
    Middle,
    /// The secondary button.
    Right,
    /// The thumb button that goes back.
    Back,
    /// The thumb button that goes forward.
    Forward,
}

impl MouseButton {
    /// The button of a number as people count them: 1 left, 2 middle, 3 right,
    /// 4 back, 5 forward.
    pub fn from_number(number: u8) -> Option<Self> {
        match number {
            1 => Some(Self::Left),
            2 => Some(Self::Middle),
            3 => Some(Self::Right),
            4 => Some(Self::Back),
            5 => Some(Self::Forward),
            _ => None,
        }
    }
}

/// A key by its physical position: Linux's evdev key number (`KEY_A` is 30),
/// which is the X server's keycode less 8 and, for the main block, the PC
/// scan code. Only keys of [`KeyCode::ALL`] are pressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyCode(pub u16);

/// The keys of a PC keyboard: the web's `KeyboardEvent.code` name and the
/// evdev number. Keys that act on the machine rather than a window (power,
/// sleep, eject, media) are not here, so no console can press them.
const KEYS: &[(&str, u16)] = &[
    ("Escape", 1),
    ("Digit1", 2),
    ("Digit2", 3),
    ("Digit3", 4),
    ("Digit4", 5),
    ("Digit5", 6),
    ("Digit6", 7),
    ("Digit7", 8),
    ("Digit8", 9),
    ("Digit9", 10),
    ("Digit0", 11),
    ("Minus", 12),
    ("Equal", 13),
    ("Backspace", 14),
    ("Tab", 15),
    ("KeyQ", 16),
    ("KeyW", 17),
    ("KeyE", 18),
    ("KeyR", 19),
    ("KeyT", 20),
    ("KeyY", 21),
    ("KeyU", 22),
    ("KeyI", 23),
    ("KeyO", 24),
    ("KeyP", 25),
    ("BracketLeft", 26),
    ("BracketRight", 27),
    ("Enter", 28),
    ("ControlLeft", 29),
    ("KeyA", 30),
    ("KeyS", 31),
    ("KeyD", 32),
    ("KeyF", 33),
    ("KeyG", 34),
    ("KeyH", 35),
    ("KeyJ", 36),
    ("KeyK", 37),
    ("KeyL", 38),
    ("Semicolon", 39),
    ("Quote", 40),
    ("Backquote", 41),
    ("ShiftLeft", 42),
    ("Backslash", 43),
    ("KeyZ", 44),
    ("KeyX", 45),
    ("KeyC", 46),
    ("KeyV", 47),
    ("KeyB", 48),
    ("KeyN", 49),
    ("KeyM", 50),
    ("Comma", 51),
    ("Period", 52),
    ("Slash", 53),
    ("ShiftRight", 54),
    ("NumpadMultiply", 55),
    ("AltLeft", 56),
    ("Space", 57),
    ("CapsLock", 58),
    ("F1", 59),
    ("F2", 60),
    ("F3", 61),
    ("F4", 62),
    ("F5", 63),
    ("F6", 64),
    ("F7", 65),
    ("F8", 66),
    ("F9", 67),
    ("F10", 68),
    ("NumLock", 69),
    ("ScrollLock", 70),
    ("Numpad7", 71),
    ("Numpad8", 72),
    ("Numpad9", 73),
    ("NumpadSubtract", 74),
    ("Numpad4", 75),
    ("Numpad5", 76),
    ("Numpad6", 77),
    ("NumpadAdd", 78),
    ("Numpad1", 79),
    ("Numpad2", 80),
    ("Numpad3", 81),
    ("Numpad0", 82),
    ("NumpadDecimal", 83),
    ("IntlBackslash", 86),
    ("F11", 87),
    ("F12", 88),
    ("IntlRo", 89),
    ("NumpadEnter", 96),
    ("ControlRight", 97),
    ("NumpadDivide", 98),
    ("PrintScreen", 99),
    ("AltRight", 100),
    ("Home", 102),
    ("ArrowUp", 103),
    ("PageUp", 104),
    ("ArrowLeft", 105),
    ("ArrowRight", 106),
    ("End", 107),
    ("ArrowDown", 108),
    ("PageDown", 109),
    ("Insert", 110),
    ("Delete", 111),
    ("NumpadEqual", 117),
    ("Pause", 119),
    ("IntlYen", 124),
    ("MetaLeft", 125),
    ("MetaRight", 126),
    ("ContextMenu", 127),
    ("F13", 183),
    ("F14", 184),
    ("F15", 185),
    ("F16", 186),
    ("F17", 187),
    ("F18", 188),
    ("F19", 189),
    ("F20", 190),
    ("F21", 191),
    ("F22", 192),
    ("F23", 193),
    ("F24", 194),
];

/// Short names people write in key combinations, and the key each means.
const ALIASES: &[(&str, &str)] = &[
    ("ctrl", "ControlLeft"),
    ("control", "ControlLeft"),
    ("strg", "ControlLeft"),
    ("shift", "ShiftLeft"),
    ("alt", "AltLeft"),
    ("altgr", "AltRight"),
    ("super", "MetaLeft"),
    ("win", "MetaLeft"),
    ("meta", "MetaLeft"),
    ("return", "Enter"),
    ("esc", "Escape"),
    ("del", "Delete"),
    ("ins", "Insert"),
    ("pgup", "PageUp"),
    ("pgdn", "PageDown"),
    ("up", "ArrowUp"),
    ("down", "ArrowDown"),
    ("left", "ArrowLeft"),
    ("right", "ArrowRight"),
    ("menu", "ContextMenu"),
    ("print", "PrintScreen"),
];

impl KeyCode {
    /// Every key a console may press.
    pub fn all() -> impl Iterator<Item = KeyCode> {
        KEYS.iter().map(|&(_, code)| KeyCode(code))
    }

    /// The key of a web `KeyboardEvent.code` (`KeyA`, `AltRight`, `F4`).
    pub fn from_dom(code: &str) -> Option<Self> {
        KEYS.iter()
            .find(|(name, _)| *name == code)
            .map(|&(_, code)| KeyCode(code))
    }

    /// The key a person names: a `KeyboardEvent.code`, a letter or digit,
    /// or a short name (`ctrl`, `alt`, `super`, `return`, `esc`, `del`,
    /// `up`, ...), in any case.
    pub fn from_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        let mut chars = lower.chars();
        let dom = match (chars.next(), chars.next()) {
            (Some(c @ 'a'..='z'), None) => format!("Key{}", c.to_ascii_uppercase()),
            (Some(c @ '0'..='9'), None) => format!("Digit{c}"),
            _ => ALIASES
                .iter()
                .find(|(alias, _)| *alias == lower)
                .map_or_else(|| name.to_owned(), |(_, dom)| (*dom).to_owned()),
        };
        KEYS.iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(&dom))
            .map(|&(_, code)| KeyCode(code))
    }

    /// The key's `KeyboardEvent.code` name, if it is a key a console may press.
    pub fn name(self) -> Option<&'static str> {
        KEYS.iter()
            .find(|&&(_, code)| code == self.0)
            .map(|&(name, _)| name)
    }

    /// Whether the key is Ctrl, Shift, Alt, AltGr or Super.
    pub fn is_modifier(self) -> bool {
        matches!(self.0, 29 | 42 | 54 | 56 | 97 | 100 | 125 | 126)
    }
}

impl fmt::Display for KeyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "key {}", self.0),
        }
    }
}

/// Keys pressed together, as `ctrl+alt+Delete` names them: the modifiers go
/// down in order, then the last key; all come up in reverse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyCombo(Vec<KeyCode>);

impl KeyCombo {
    /// Parses `ctrl+shift+t`, `alt+F4`, `super`, `Return`.
    pub fn parse(text: &str) -> Result<Self, InputError> {
        let keys = text
            .split('+')
            .map(|name| {
                KeyCode::from_name(name.trim())
                    .ok_or_else(|| InputError::UnknownKey(name.trim().to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() || text.trim().is_empty() {
            return Err(InputError::UnknownKey(text.to_owned()));
        }
        Ok(Self(keys))
    }

    /// The keys, as pressed.
    pub fn keys(&self) -> &[KeyCode] {
        &self.0
    }

    /// The presses and releases that type the combination.
    pub fn events(&self) -> Vec<InputEvent> {
        let downs = self
            .0
            .iter()
            .map(|&code| InputEvent::Key { code, down: true });
        let ups = self
            .0
            .iter()
            .rev()
            .map(|&code| InputEvent::Key { code, down: false });
        downs.chain(ups).collect()
    }
}

/// One thing the teacher does with the student's mouse or keyboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputEvent {
    /// Moves the pointer (on the stream: before a click that must land there).
    Move(PointerMove),
    /// Presses or releases a mouse button where the pointer is.
    Button {
        /// Which button.
        button: MouseButton,
        /// Pressed (`true`) or released.
        down: bool,
    },
    /// Turns the wheel, in notches: `dy` > 0 scrolls down, `dx` > 0 right.
    Wheel {
        /// Notches to the right (negative: left).
        dx: i16,
        /// Notches down (negative: up).
        dy: i16,
    },
    /// Presses or releases a key by its position.
    Key {
        /// Which key.
        code: KeyCode,
        /// Pressed (`true`) or released.
        down: bool,
    },
    /// Types text as it is, whatever the keyboard layout of either side.
    Text(String),
    /// Releases every key and button this control holds down.
    ReleaseAll,
    /// Puts text on the student's clipboard (at most
    /// [`InputEvent::MAX_CLIPBOARD_BYTES`]).
    Clipboard(String),
    /// Asks for the text on the student's clipboard; answered by
    /// [`ControlNews::Clipboard`].
    ReadClipboard,
}

impl InputEvent {
    /// The most characters one [`InputEvent::Text`] types.
    pub const MAX_TEXT_CHARS: usize = 1000;
    /// The most notches one [`InputEvent::Wheel`] turns each way.
    pub const MAX_WHEEL: i16 = 20;
    /// The longest clipboard text either way, in bytes of UTF-8.
    pub const MAX_CLIPBOARD_BYTES: usize = 32 * 1024;

    /// Checks what a console may not send: an unknown key, too much text or
    /// control characters in it, a wild wheel.
    pub fn check(&self) -> Result<(), InputError> {
        match self {
            Self::Key { code, .. } if code.name().is_none() => Err(InputError::RefusedKey(*code)),
            Self::Text(text) => {
                let chars = text.chars().count();
                if chars > Self::MAX_TEXT_CHARS {
                    return Err(InputError::TextTooLong(chars));
                }
                match text
                    .chars()
                    .find(|&c| c.is_control() && !matches!(c, '\n' | '\t'))
                {
                    Some(bad) => Err(InputError::ControlCharacter(u32::from(bad))),
                    None => Ok(()),
                }
            }
            Self::Clipboard(text) if text.len() > Self::MAX_CLIPBOARD_BYTES => {
                Err(InputError::ClipboardTooLong(text.len()))
            }
            Self::Clipboard(text) => match text
                .chars()
                .find(|&c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
            {
                Some(bad) => Err(InputError::ControlCharacter(u32::from(bad))),
                None => Ok(()),
            },
            Self::Wheel { dx, dy }
                if dx.unsigned_abs() > Self::MAX_WHEEL.unsigned_abs()
                    || dy.unsigned_abs() > Self::MAX_WHEEL.unsigned_abs() =>
            {
                Err(InputError::Wheel(*dx, *dy))
            }
            _ => Ok(()),
        }
    }
}

impl WireMessage for InputEvent {
    const KIND: FrameKind = FrameKind::Input;
}

/// Who controls a device: the teacher and room an [`ErrorCode::InUse`]
/// refusal names, in a message of a fixed form a console can read back.
///
/// [`ErrorCode::InUse`]: crate::message::ErrorCode::InUse
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Controller {
    /// The teacher, from their room certificate.
    pub user: String,
    /// Their room.
    pub room: String,
}

impl Controller {
    const SAYS: &str = " controls this computer now";

    /// "mueller (room 101) controls this computer now".
    pub fn message(&self) -> String {
        format!("{} (room {}){}", self.user, self.room, Self::SAYS)
    }

    /// Who a [`Controller::message`] names, if `message` is one.
    pub fn from_message(message: &str) -> Option<Self> {
        let (user, room) = message
            .strip_suffix(Self::SAYS)?
            .strip_suffix(')')?
            .rsplit_once(" (room ")?;
        (!user.is_empty() && !room.is_empty()).then(|| Self {
            user: user.to_owned(),
            room: room.to_owned(),
        })
    }
}

/// What the agent tells the console on a control stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlNews {
    /// An event was not applied (refused, or the desktop failed); control goes on.
    Failed(ErrorReply),
    /// The text on the student's clipboard, as [`InputEvent::ReadClipboard`] asked.
    Clipboard(String),
}

impl WireMessage for ControlNews {
    const KIND: FrameKind = FrameKind::ControlNews;
}

/// Why input is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// A name in a key combination that is no key.
    #[error(
        "'{0}' is not a key (try a letter, F1–F24, ctrl, shift, alt, altgr, super, return, esc, tab, del, up, …)"
    )]
    UnknownKey(String),
    /// A key code a console may not press.
    #[error("key code {} is not a key of the keyboard a console may press", .0.0)]
    RefusedKey(KeyCode),
    /// More text than one event types.
    #[error("the text has {0} characters; at most {max} are typed at once", max = InputEvent::MAX_TEXT_CHARS)]
    TextTooLong(usize),
    /// A control character in text to type.
    #[error("the text contains the control character U+{0:04X}")]
    ControlCharacter(u32),
    /// More clipboard text than is carried.
    #[error("the clipboard text has {0} bytes; at most {max} are carried", max = InputEvent::MAX_CLIPBOARD_BYTES)]
    ClipboardTooLong(usize),
    /// A wheel turned too far in one event.
    #[error("the wheel turns {0},{1} notches; at most {max} each way", max = InputEvent::MAX_WHEEL)]
    Wheel(i16, i16),
    /// A datagram that is not a pointer move.
    #[error("a datagram is not a pointer move: {0}")]
    Datagram(String),
    /// A point outside the student's screen.
    #[error("{0} is not on the student's screen")]
    OffScreen(String),
}

#[cfg(test)]
mod controller_tests {
    use super::Controller;

    #[test]
    fn who_controls_is_read_back_from_the_refusal() {
        let who = Controller {
            user: "mueller".into(),
            room: "1.01 (Physik)".into(),
        };
        assert_eq!(
            who.message(),
            "mueller (room 1.01 (Physik)) controls this computer now"
        );
        assert_eq!(Controller::from_message(&who.message()), Some(who));
        for other in [
            "",
            "controls this computer now",
            "mueller controls this computer now",
            " (room ) controls this computer now",
        ] {
            assert_eq!(Controller::from_message(other), None, "{other}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{encode, read_message};

    #[test]
    fn keys_are_found_by_web_code_letter_and_short_name() {
        assert_eq!(KeyCode::from_dom("KeyA"), Some(KeyCode(30)));
        assert_eq!(KeyCode::from_name("a"), Some(KeyCode(30)));
        assert_eq!(KeyCode::from_name("A"), Some(KeyCode(30)));
        assert_eq!(KeyCode::from_name("7"), Some(KeyCode(8)));
        assert_eq!(KeyCode::from_name("f4"), Some(KeyCode(62)));
        assert_eq!(KeyCode::from_name("Return"), Some(KeyCode(28)));
        assert_eq!(KeyCode::from_name("altgr"), Some(KeyCode(100)));
        assert_eq!(KeyCode::from_name("Super"), Some(KeyCode(125)));
        assert_eq!(KeyCode::from_name("power"), None);
        assert_eq!(KeyCode(30).to_string(), "KeyA");
        // Every key has one name, every name one key.
        let codes: std::collections::HashSet<_> = KeyCode::all().collect();
        assert_eq!(codes.len(), KEYS.len());
    }

    #[test]
    fn combos_press_in_order_and_release_in_reverse() {
        let combo = KeyCombo::parse("ctrl+alt+Delete").unwrap();
        let events = combo.events();
        let code = |n: &str| KeyCode::from_name(n).unwrap();
        assert_eq!(
            events,
            vec![
                InputEvent::Key {
                    code: code("ctrl"),
                    down: true
                },
                InputEvent::Key {
                    code: code("alt"),
                    down: true
                },
                InputEvent::Key {
                    code: code("del"),
                    down: true
                },
                InputEvent::Key {
                    code: code("del"),
                    down: false
                },
                InputEvent::Key {
                    code: code("alt"),
                    down: false
                },
                InputEvent::Key {
                    code: code("ctrl"),
                    down: false
                },
            ]
        );
        assert_eq!(
            KeyCombo::parse("ctrl+hyper"),
            Err(InputError::UnknownKey("hyper".into()))
        );
        assert!(KeyCombo::parse("").is_err());
        assert!(KeyCombo::parse("ctrl+").is_err());
    }

    #[test]
    fn hostile_events_are_refused_by_check() {
        // KEY_POWER (116) switches the machine off on some desktops.
        assert_eq!(
            InputEvent::Key {
                code: KeyCode(116),
                down: true
            }
            .check(),
            Err(InputError::RefusedKey(KeyCode(116)))
        );
        assert!(InputEvent::Text("äöüß @ € \n\t".into()).check().is_ok());
        assert_eq!(
            InputEvent::Text("a\u{1b}[2J".into()).check(),
            Err(InputError::ControlCharacter(0x1b))
        );
        assert_eq!(
            InputEvent::Text("x".repeat(1001)).check(),
            Err(InputError::TextTooLong(1001))
        );
        assert!(InputEvent::Wheel { dx: 0, dy: -20 }.check().is_ok());
        assert!(
            InputEvent::Wheel {
                dx: 0,
                dy: i16::MIN
            }
            .check()
            .is_err()
        );
    }

    #[test]
    fn pointer_moves_survive_a_datagram_and_junk_is_named() {
        let moved = PointerMove {
            sequence: 4711,
            at: ScreenPoint::fraction(Some(1), 0.5, 1.0),
        };
        let datagram = moved.to_datagram();
        assert!(datagram.len() <= MAX_POINTER_DATAGRAM);
        assert_eq!(PointerMove::from_datagram(&datagram), Ok(moved));
        assert!(matches!(
            PointerMove::from_datagram(&[]),
            Err(InputError::Datagram(_))
        ));
        assert!(matches!(
            PointerMove::from_datagram(&[9, 1, 2]),
            Err(InputError::Datagram(_))
        ));
        assert!(PointerMove::from_datagram(&[POINTER_DATAGRAM, 0xff]).is_err());
        assert!(PointerMove::from_datagram(&[POINTER_DATAGRAM; 100]).is_err());
    }

    #[test]
    fn fractions_are_clamped_and_rounded() {
        assert_eq!(
            ScreenPoint::fraction(None, -1.0, 2.0),
            ScreenPoint::Fraction {
                monitor: None,
                x: 0,
                y: ScreenPoint::FULL
            }
        );
        assert_eq!(
            ScreenPoint::fraction(None, f64::NAN, 0.5),
            ScreenPoint::Fraction {
                monitor: None,
                x: 0,
                y: 32768
            }
        );
    }

    #[tokio::test]
    async fn input_events_travel_in_their_own_frames() {
        let event = InputEvent::Text("Grüße @ €".into());
        let bytes = encode(&event).unwrap();
        assert_eq!(bytes[0], FrameKind::Input as u8);
        let read: InputEvent = read_message(&mut bytes.as_slice()).await.unwrap().unwrap();
        assert_eq!(read, event);
    }
}
