//! The teacher's input applied in the student's session (R3): one thread
//! applies events in the order the service sent them, keeps account of every
//! key and button it holds down, and lets go of all of them when control
//! ends, when asked, and when the helper itself goes.

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pult_protocol::input::{InputEvent, KeyCode, MouseButton, ScreenPoint};
use pult_protocol::message::{ErrorCode, ErrorReply};
use pult_screen::MonitorInfo;
use tokio::sync::oneshot;

/// A session's mouse and keyboard, as a platform injects into them.
/// Coordinates are the desktop's own (X11 root, Windows virtual screen).
pub trait InputDevice: Send {
    /// The monitors with their places on the desktop.
    fn monitors(&mut self) -> Result<Vec<MonitorInfo>, String>;
    /// Moves the pointer to `x`, `y`.
    fn move_to(&mut self, x: i32, y: i32) -> Result<(), String>;
    /// Presses or releases `button`.
    fn button(&mut self, button: MouseButton, down: bool) -> Result<(), String>;
    /// Turns the wheel `dx` notches right and `dy` notches down.
    fn wheel(&mut self, dx: i32, dy: i32) -> Result<(), String>;
    /// Presses or releases a key by its position.
    fn key(&mut self, code: KeyCode, down: bool) -> Result<(), String>;
    /// Types `text` as it is, whatever the session's keyboard layout.
    fn text(&mut self, text: &str) -> Result<(), String>;
    /// Puts `text` on the session's clipboard, where the student pastes it.
    fn set_clipboard(&mut self, text: &str) -> Result<(), String>;
    /// The text on the session's clipboard (empty if it holds none).
    fn clipboard(&mut self) -> Result<String, String>;
}

/// What applying an event gives back: nothing, or the clipboard's text.
pub type Applied = Result<Option<String>, ErrorReply>;

/// How long the monitors are taken as known before they are asked again
/// (a projector plugged in during control).
const MONITORS_FRESH: Duration = Duration::from_secs(1);

/// The input of one session, applied in order on a thread of its own.
pub struct InputQueue {
    events: mpsc::Sender<(InputEvent, oneshot::Sender<Applied>)>,
}

impl InputQueue {
    /// Starts the thread that applies events to `device`.
    pub fn start(device: Box<dyn InputDevice>) -> Self {
        let (events, queue) = mpsc::channel::<(InputEvent, oneshot::Sender<Applied>)>();
        let spawned = std::thread::Builder::new()
            .name("pult-input".into())
            .spawn(move || {
                let mut controller = Controller::new(device);
                for (event, answer) in queue {
                    let _ = answer.send(controller.apply(&event));
                }
                // Dropping the controller lets go of whatever it holds.
            });
        if let Err(error) = spawned {
            tracing::error!("could not start the input thread: {error}");
        }
        Self { events }
    }

    /// Queues `event` behind every event queued before; the answer comes
    /// once it is applied.
    pub fn push(&self, event: InputEvent) -> oneshot::Receiver<Applied> {
        let (answer, answered) = oneshot::channel();
        if let Err(mpsc::SendError((_, answer))) = self.events.send((event, answer)) {
            let _ = answer.send(Err(ErrorReply::new(
                ErrorCode::Internal,
                "the input thread is not running",
            )));
        }
        answered
    }
}

/// The device and what is held down on it.
struct Controller {
    device: Box<dyn InputDevice>,
    keys: BTreeSet<KeyCode>,
    buttons: BTreeSet<MouseButton>,
    monitors: Option<(Instant, Vec<MonitorInfo>)>,
}

impl Controller {
    fn new(device: Box<dyn InputDevice>) -> Self {
        Self {
            device,
            keys: BTreeSet::new(),
            buttons: BTreeSet::new(),
            monitors: None,
        }
    }

    fn apply(&mut self, event: &InputEvent) -> Applied {
        event
            .check()
            .map_err(|e| ErrorReply::new(ErrorCode::InputRefused, e.to_string()))?;
        let failed = |error: String| ErrorReply::new(ErrorCode::Internal, error);
        match event {
            InputEvent::Clipboard(text) => self.device.set_clipboard(text).map_err(failed)?,
            InputEvent::ReadClipboard => {
                let mut text = self.device.clipboard().map_err(failed)?;
                // More than a console reads is cut at a character's end.
                if text.len() > InputEvent::MAX_CLIPBOARD_BYTES {
                    let mut end = InputEvent::MAX_CLIPBOARD_BYTES;
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    text.truncate(end);
                }
                return Ok(Some(text));
            }
            _ => self.apply_input(event)?,
        }
        Ok(None)
    }

    fn apply_input(&mut self, event: &InputEvent) -> Result<(), ErrorReply> {
        let failed = |error: String| ErrorReply::new(ErrorCode::Internal, error);
        match event {
            InputEvent::Move(moved) => {
                let (x, y) = self.locate(moved.at)?;
                self.device.move_to(x, y).map_err(failed)
            }
            InputEvent::Button { button, down } => {
                self.device.button(*button, *down).map_err(failed)?;
                if *down {
                    self.buttons.insert(*button);
                } else {
                    self.buttons.remove(button);
                }
                Ok(())
            }
            InputEvent::Wheel { dx, dy } => self
                .device
                .wheel(i32::from(*dx), i32::from(*dy))
                .map_err(failed),
            InputEvent::Key { code, down } => {
                self.device.key(*code, *down).map_err(failed)?;
                if *down {
                    self.keys.insert(*code);
                } else {
                    self.keys.remove(code);
                }
                Ok(())
            }
            InputEvent::Text(text) => self.device.text(text).map_err(failed),
            InputEvent::ReleaseAll => {
                self.release_all();
                Ok(())
            }
            InputEvent::Clipboard(_) | InputEvent::ReadClipboard => Ok(()),
        }
    }

    /// Lets go of every key and button held, modifiers last.
    fn release_all(&mut self) {
        let (modifiers, keys): (Vec<KeyCode>, Vec<KeyCode>) = std::mem::take(&mut self.keys)
            .into_iter()
            .partition(|key| key.is_modifier());
        for key in keys.into_iter().chain(modifiers) {
            if let Err(error) = self.device.key(key, false) {
                tracing::warn!("could not release {key}: {error}");
            }
        }
        for button in std::mem::take(&mut self.buttons) {
            if let Err(error) = self.device.button(button, false) {
                tracing::warn!("could not release mouse button {button:?}: {error}");
            }
        }
    }

    /// Where `point` is on the desktop.
    fn locate(&mut self, point: ScreenPoint) -> Result<(i32, i32), ErrorReply> {
        let stale = self
            .monitors
            .as_ref()
            .is_none_or(|(asked, _)| asked.elapsed() > MONITORS_FRESH);
        if stale {
            let monitors = self
                .device
                .monitors()
                .map_err(|e| ErrorReply::new(ErrorCode::Internal, e))?;
            self.monitors = Some((Instant::now(), monitors));
        }
        let monitors = self.monitors.as_ref().map_or(&[][..], |(_, m)| m);
        locate(point, monitors).map_err(|why| ErrorReply::new(ErrorCode::InputRefused, why))
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.release_all();
    }
}

/// Where `point` is on a desktop of `monitors`: the whole desktop is the box
/// around them all (as a screenshot shows it), and monitors count from 0 left
/// to right, as the capture counts them.
pub fn locate(point: ScreenPoint, monitors: &[MonitorInfo]) -> Result<(i32, i32), String> {
    let mut sorted = monitors.to_vec();
    sorted.sort_by_key(|m| (m.x, m.y));
    let whole = bounding_box(&sorted).ok_or("the desktop has no monitor")?;
    match point {
        ScreenPoint::Pixel { x, y } => {
            let (left, top, width, height) = whole;
            if x >= width || y >= height {
                return Err(format!(
                    "point {x},{y} is off the desktop of {width}x{height} pixels"
                ));
            }
            Ok((offset(left, x), offset(top, y)))
        }
        ScreenPoint::Fraction { monitor, x, y } => {
            let (left, top, width, height) = match monitor {
                None => whole,
                Some(index) => {
                    let m = sorted.get(index as usize).ok_or_else(|| {
                        format!(
                            "there is no monitor {index}; the desktop has {}",
                            sorted.len()
                        )
                    })?;
                    (m.x, m.y, m.width, m.height)
                }
            };
            Ok((offset(left, scale(x, width)), offset(top, scale(y, height))))
        }
    }
}

/// A fraction of `length` pixels: 0 is the first pixel, FULL the last.
fn scale(fraction: u16, length: u32) -> u32 {
    let last = u64::from(length.saturating_sub(1));
    let full = u64::from(ScreenPoint::FULL);
    // At most `last`, so it fits.
    u32::try_from((u64::from(fraction) * last + full / 2) / full).unwrap_or(u32::MAX)
}

fn offset(origin: i32, by: u32) -> i32 {
    i32::try_from(i64::from(origin) + i64::from(by)).unwrap_or(i32::MAX)
}

/// Left, top, width and height of the box around `monitors`.
fn bounding_box(monitors: &[MonitorInfo]) -> Option<(i32, i32, u32, u32)> {
    let left = monitors.iter().map(|m| m.x).min()?;
    let top = monitors.iter().map(|m| m.y).min()?;
    let right = monitors
        .iter()
        .map(|m| i64::from(m.x) + i64::from(m.width))
        .max()?;
    let bottom = monitors
        .iter()
        .map(|m| i64::from(m.y) + i64::from(m.height))
        .max()?;
    Some((
        left,
        top,
        u32::try_from(right - i64::from(left)).ok()?,
        u32::try_from(bottom - i64::from(top)).ok()?,
    ))
}

/// The input of a desktop no one sits at (the demo classroom's synthetic
/// screens): written to the log and, where given, what a person would see
/// happen (clicks, keys, text) to a file as the demo's other actions are.
pub struct LoggedInput {
    monitors: Vec<MonitorInfo>,
    record: Option<(std::path::PathBuf, String)>,
    at: (i32, i32),
    clipboard: String,
}

impl LoggedInput {
    /// Input for a desktop of `monitors`.
    pub fn new(monitors: Vec<MonitorInfo>) -> Self {
        Self {
            monitors,
            record: None,
            at: (0, 0),
            clipboard: String::new(),
        }
    }

    /// Also appends lines such as `input DEVICE click Left at X,Y` and
    /// `input DEVICE text "Hallo"` to `file`.
    pub fn recording(mut self, file: std::path::PathBuf, device: String) -> Self {
        self.record = Some((file, device));
        self
    }

    fn note(&self, what: std::fmt::Arguments) -> Result<(), String> {
        tracing::info!("input: {what}");
        match &self.record {
            Some((file, device)) => crate::actions::record(file, &format!("input {device} {what}"))
                .map_err(|e| e.message),
            None => Ok(()),
        }
    }
}

/// A session whose input cannot be reached: every event fails with why.
pub struct NoInput(pub String);

impl InputDevice for NoInput {
    fn monitors(&mut self) -> Result<Vec<MonitorInfo>, String> {
        Err(self.0.clone())
    }
    fn move_to(&mut self, _: i32, _: i32) -> Result<(), String> {
        Err(self.0.clone())
    }
    fn button(&mut self, _: MouseButton, _: bool) -> Result<(), String> {
        Err(self.0.clone())
    }
    fn wheel(&mut self, _: i32, _: i32) -> Result<(), String> {
        Err(self.0.clone())
    }
    fn key(&mut self, _: KeyCode, _: bool) -> Result<(), String> {
        Err(self.0.clone())
    }
    fn text(&mut self, _: &str) -> Result<(), String> {
        Err(self.0.clone())
    }
    fn set_clipboard(&mut self, _: &str) -> Result<(), String> {
        Err(self.0.clone())
    }
    fn clipboard(&mut self) -> Result<String, String> {
        Err(self.0.clone())
    }
}

impl InputDevice for LoggedInput {
    fn monitors(&mut self) -> Result<Vec<MonitorInfo>, String> {
        Ok(self.monitors.clone())
    }

    fn move_to(&mut self, x: i32, y: i32) -> Result<(), String> {
        tracing::debug!("input: pointer to {x},{y}");
        self.at = (x, y);
        Ok(())
    }

    fn button(&mut self, button: MouseButton, down: bool) -> Result<(), String> {
        let (x, y) = self.at;
        match down {
            true => self.note(format_args!("click {button:?} at {x},{y}")),
            false => Ok(()),
        }
    }

    fn wheel(&mut self, dx: i32, dy: i32) -> Result<(), String> {
        self.note(format_args!("wheel {dx},{dy}"))
    }

    fn key(&mut self, code: KeyCode, down: bool) -> Result<(), String> {
        match down {
            true => self.note(format_args!("key {}", code.name().unwrap_or("?"))),
            false => Ok(()),
        }
    }

    fn text(&mut self, text: &str) -> Result<(), String> {
        self.note(format_args!("text {text:?}"))
    }

    fn set_clipboard(&mut self, text: &str) -> Result<(), String> {
        self.clipboard = text.to_owned();
        self.note(format_args!("clipboard {text:?}"))
    }

    fn clipboard(&mut self) -> Result<String, String> {
        Ok(self.clipboard.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use pult_protocol::input::PointerMove;

    use super::*;

    fn monitor(x: i32, width: u32, height: u32) -> MonitorInfo {
        MonitorInfo {
            x,
            y: 0,
            width,
            height,
            primary: x == 0,
        }
    }

    #[test]
    fn r3_points_land_on_the_monitor_the_teacher_sees_at_any_scale() {
        // Two monitors side by side, named right one first.
        let monitors = [monitor(1920, 1280, 1024), monitor(0, 1920, 1080)];
        let at = |monitor, x, y| locate(ScreenPoint::fraction(monitor, x, y), &monitors);
        assert_eq!(at(None, 0.0, 0.0), Ok((0, 0)));
        assert_eq!(at(None, 1.0, 1.0), Ok((3199, 1079)));
        assert_eq!(at(Some(1), 0.0, 0.0), Ok((1920, 0)));
        assert_eq!(at(Some(1), 1.0, 1.0), Ok((3199, 1023)));
        assert_eq!(at(Some(0), 0.5, 0.5), Ok((960, 540)));
        assert!(at(Some(2), 0.5, 0.5).unwrap_err().contains("no monitor 2"));
        let pixel = |x, y| locate(ScreenPoint::Pixel { x, y }, &monitors);
        assert_eq!(pixel(2000, 10), Ok((2000, 10)));
        assert!(pixel(3200, 10).unwrap_err().contains("off the desktop"));
        assert!(locate(ScreenPoint::Pixel { x: 0, y: 0 }, &[]).is_err());
        // A desktop that does not start at 0,0 (a monitor left of the primary).
        let shifted = [monitor(-1280, 1280, 1024), monitor(0, 1920, 1080)];
        assert_eq!(
            locate(ScreenPoint::Pixel { x: 0, y: 0 }, &shifted),
            Ok((-1280, 0))
        );
    }

    /// Writes down what it is asked to do.
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl InputDevice for Recorder {
        fn monitors(&mut self) -> Result<Vec<MonitorInfo>, String> {
            Ok(vec![monitor(0, 100, 100)])
        }
        fn move_to(&mut self, x: i32, y: i32) -> Result<(), String> {
            self.0.lock().unwrap().push(format!("move {x},{y}"));
            Ok(())
        }
        fn button(&mut self, button: MouseButton, down: bool) -> Result<(), String> {
            self.0.lock().unwrap().push(format!("{button:?} {down}"));
            Ok(())
        }
        fn wheel(&mut self, dx: i32, dy: i32) -> Result<(), String> {
            self.0.lock().unwrap().push(format!("wheel {dx},{dy}"));
            Ok(())
        }
        fn key(&mut self, code: KeyCode, down: bool) -> Result<(), String> {
            self.0.lock().unwrap().push(format!("{code} {down}"));
            Ok(())
        }
        fn text(&mut self, text: &str) -> Result<(), String> {
            self.0.lock().unwrap().push(format!("text {text}"));
            Ok(())
        }
        fn set_clipboard(&mut self, text: &str) -> Result<(), String> {
            self.0.lock().unwrap().push(format!("clipboard {text}"));
            Ok(())
        }
        fn clipboard(&mut self) -> Result<String, String> {
            Ok("ä".repeat(InputEvent::MAX_CLIPBOARD_BYTES))
        }
    }

    #[tokio::test]
    async fn r3_clipboard_text_is_set_in_order_and_read_back_cut_to_what_is_carried() {
        let done = Arc::new(Mutex::new(Vec::new()));
        let queue = InputQueue::start(Box::new(Recorder(done.clone())));
        let set = queue.push(InputEvent::Clipboard("Seite 12".into()));
        assert_eq!(set.await.unwrap(), Ok(None));
        let read = queue
            .push(InputEvent::ReadClipboard)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        // Two bytes a character: cut at a character's end, within the limit.
        assert_eq!(read.len(), InputEvent::MAX_CLIPBOARD_BYTES);
        let odd = InputEvent::Clipboard("x\u{7}".into());
        assert_eq!(
            queue.push(odd).await.unwrap().unwrap_err().code,
            ErrorCode::InputRefused
        );
        assert_eq!(*done.lock().unwrap(), ["clipboard Seite 12"]);
    }

    #[tokio::test]
    async fn r3_held_keys_and_buttons_are_released_modifiers_last_and_when_the_queue_ends() {
        let done = Arc::new(Mutex::new(Vec::new()));
        let queue = InputQueue::start(Box::new(Recorder(done.clone())));
        let key = |name, down| InputEvent::Key {
            code: KeyCode::from_name(name).unwrap(),
            down,
        };
        for event in [
            key("ctrl", true),
            key("c", true),
            InputEvent::Button {
                button: MouseButton::Left,
                down: true,
            },
            InputEvent::Move(PointerMove {
                sequence: 1,
                at: ScreenPoint::Pixel { x: 99, y: 0 },
            }),
            InputEvent::ReleaseAll,
            key("shift", true),
        ] {
            queue.push(event).await.unwrap().unwrap();
        }
        // A refused event is answered as such and changes nothing.
        let refused = queue
            .push(InputEvent::Key {
                code: KeyCode(116),
                down: true,
            })
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::InputRefused);
        let off = queue
            .push(InputEvent::Move(PointerMove {
                sequence: 2,
                at: ScreenPoint::Pixel { x: 100, y: 0 },
            }))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(off.code, ErrorCode::InputRefused);
        drop(queue);
        let expected = [
            "ControlLeft true",
            "KeyC true",
            "Left true",
            "move 99,0",
            "KeyC false",
            "ControlLeft false",
            "Left false",
            "ShiftLeft true",
            "ShiftLeft false",
        ];
        wait_for(|| done.lock().unwrap().len() == expected.len());
        assert_eq!(*done.lock().unwrap(), expected);
    }

    fn wait_for(done: impl Fn() -> bool) {
        let start = Instant::now();
        while !done() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
