//! The lock screen (R20) on X11: a window over every monitor with who
//! locked it and their words, and the keyboard and pointer grabbed, so
//! nothing the student types or clicks reaches another window.
//!
//! The windows are override-redirect (no window manager moves or hides
//! them). A thread keeps the lock whole until it is lifted: it maps a window
//! someone unmapped, raises the windows when another window comes above them
//! (the notice bars excepted: they stay on top, so the student still sees
//! who is watching), takes the grabs again if another program held them at
//! first, and redraws what is exposed.
//!
//! What X11 cannot stop, this does not either: switching to a text console
//! (Ctrl+Alt+F1..F12) or killing the X server (Ctrl+Alt+Backspace, if the
//! system enables it) leave the lock behind; admins turn those off
//! (`DontVTSwitch`, `DontZap` in xorg.conf) on classroom computers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pult_protocol::local::LockScreen as Lock;
use xcb::x;

use super::indicator::WINDOW_NAME as NOTICE_NAME;
use super::x11_ui::{
    Canvas, Fonts, Style, WindowSpec, connect, covered, create_window, grab_input, monitors,
    put_canvas, take_down,
};
use crate::notice_text::{Language, lock_heading};

/// The windows' name, for people and tests that look for them.
pub const WINDOW_NAME: &str = "pult-lock";
/// Dark slate blue, light text.
const BACKGROUND: u32 = 0x0019_2233;
const HEADING: u32 = 0x00FF_FFFF;
const TEXT: u32 = 0x00D8_DEE9;
/// How long the grabs may be held by another program before locking fails.
const GRAB_PATIENCE: Duration = Duration::from_secs(2);
/// How often the keeper checks stacking and grabs.
const KEEP_EVERY: Duration = Duration::from_millis(300);

/// The lock screen on one X display.
pub struct LockScreen {
    display: Option<String>,
    language: Language,
    fonts: Arc<Fonts>,
    state: Mutex<Option<Locked>>,
}

/// A lock on the screen: its connection, windows and keeper thread.
struct Locked {
    lock: Lock,
    connection: Arc<xcb::Connection>,
    windows: Arc<Vec<LockWindow>>,
    stop: Arc<AtomicBool>,
    keeper: Option<std::thread::JoinHandle<()>>,
}

/// One monitor's lock window and its picture.
struct LockWindow {
    window: x::Window,
    gc: x::Gcontext,
    canvas: Canvas,
    /// Where the picture sits in the window (centred).
    at: (i16, i16),
}

impl LockScreen {
    /// A lock screen for `display` (or `DISPLAY`) in `language`, written
    /// with `fonts`; nothing is shown yet.
    pub fn new(display: Option<String>, language: Language, fonts: Arc<Fonts>) -> Self {
        Self {
            display,
            language,
            fonts,
            state: Mutex::default(),
        }
    }

    /// Locks with `lock`, or lifts the lock for `None`; returns once the
    /// windows are viewable and the keyboard and pointer are grabbed (or gone).
    pub fn set(&self, lock: Option<&Lock>) -> Result<(), String> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(lock) = lock else {
            if let Some(locked) = state.take() {
                locked.lift();
            }
            return Ok(());
        };
        let current = state
            .as_ref()
            .is_some_and(|l| &l.lock == lock && l.connection.has_error().is_ok());
        if !current {
            if let Some(locked) = state.take() {
                locked.lift();
            }
            *state = Some(self.put(lock)?);
        }
        let locked = state.as_ref().ok_or("the lock is gone")?;
        let result = locked.wait_whole();
        if result.is_err() && locked.connection.has_error().is_err() {
            // A broken connection is made anew on the next try.
            if let Some(locked) = state.take() {
                locked.lift();
            }
        }
        result
    }

    fn put(&self, lock: &Lock) -> Result<Locked, String> {
        let (connection, screen) = connect(self.display.as_deref())?;
        let (root, depth) = (screen.root, screen.depth);
        let mut windows = Vec::new();
        for (x, y, width, height) in monitors(&connection, root)? {
            let canvas = render(lock, self.language, &self.fonts, width, height);
            let (window, gc) = create_window(
                &connection,
                screen,
                &WindowSpec {
                    name: WINDOW_NAME,
                    class: WINDOW_NAME,
                    area: (x, y, width, height),
                    background: BACKGROUND,
                    override_redirect: true,
                    border: 0,
                    events: x::EventMask::EXPOSURE
                        | x::EventMask::STRUCTURE_NOTIFY
                        | x::EventMask::VISIBILITY_CHANGE,
                },
            );
            let at = (
                i16::try_from((width - canvas.width) / 2).unwrap_or(0),
                i16::try_from((height - canvas.height) / 2).unwrap_or(0),
            );
            connection.send_request(&x::MapWindow { window });
            windows.push(LockWindow {
                window,
                gc,
                canvas,
                at,
            });
        }
        connection
            .flush()
            .map_err(|e| format!("the X connection failed: {e}"))?;
        let connection = Arc::new(connection);
        let windows = Arc::new(windows);
        let stop = Arc::new(AtomicBool::new(false));
        let keeper = {
            let (connection, windows, stop) = (connection.clone(), windows.clone(), stop.clone());
            std::thread::Builder::new()
                .name("lock-screen".into())
                .spawn(move || keep(&connection, root, depth, &windows, &stop))
                .map_err(|e| format!("could not start the lock screen's thread: {e}"))?
        };
        Ok(Locked {
            lock: lock.clone(),
            connection,
            windows,
            stop,
            keeper: Some(keeper),
        })
    }
}

impl Drop for LockScreen {
    fn drop(&mut self) {
        if let Some(locked) = self.state.lock().unwrap_or_else(|p| p.into_inner()).take() {
            locked.lift();
        }
    }
}

impl Locked {
    fn window_ids(&self) -> Vec<x::Window> {
        self.windows.iter().map(|w| w.window).collect()
    }

    /// Waits until every window is viewable and both grabs are held.
    fn wait_whole(&self) -> Result<(), String> {
        let deadline = Instant::now() + GRAB_PATIENCE;
        loop {
            let viewable = self.windows.iter().all(|w| {
                let cookie = self
                    .connection
                    .send_request(&x::GetWindowAttributes { window: w.window });
                self.connection
                    .wait_for_reply(cookie)
                    .is_ok_and(|a| a.map_state() == x::MapState::Viewable)
            });
            if let Some(error) = self.connection.has_error().err() {
                return Err(format!("the X connection failed: {error}"));
            }
            let grabbed = viewable && grab_input(&self.connection, &self.window_ids()).is_ok();
            if grabbed {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(match grab_input(&self.connection, &self.window_ids()) {
                    Err(holder) if viewable => format!(
                        "the {holder} is held by another program, so input is not blocked yet; \
                         the lock keeps trying"
                    ),
                    _ => "the lock windows are not viewable".to_owned(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Ends the lock: the keeper stops, the grabs and windows go with the
    /// connection, and the server has carried it out when this returns.
    fn lift(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
        take_down(
            &self.connection,
            self.windows.iter().map(|w| (w.window, w.gc)),
        );
    }
}

/// Keeps the lock whole until `stop`: redraws, maps, raises, grabs.
fn keep(
    connection: &xcb::Connection,
    root: x::Window,
    depth: u8,
    windows: &[LockWindow],
    stop: &AtomicBool,
) {
    let ours = |window: x::Window| windows.iter().find(|w| w.window == window);
    let ids: Vec<x::Window> = windows.iter().map(|w| w.window).collect();
    let mut next_check = Instant::now();
    while !stop.load(Ordering::SeqCst) && connection.has_error().is_ok() {
        while let Ok(Some(event)) = connection.poll_for_event() {
            match event {
                xcb::Event::X(x::Event::Expose(event)) => {
                    if let Some(window) = ours(event.window()) {
                        put_canvas(
                            connection,
                            window.window,
                            window.gc,
                            depth,
                            window.at,
                            &window.canvas,
                        );
                    }
                }
                xcb::Event::X(x::Event::UnmapNotify(event)) if ours(event.window()).is_some() => {
                    connection.send_request(&x::MapWindow {
                        window: event.window(),
                    });
                }
                xcb::Event::X(x::Event::VisibilityNotify(event))
                    if event.state() == x::Visibility::FullyObscured =>
                {
                    next_check = Instant::now();
                }
                _ => {}
            }
        }
        if Instant::now() >= next_check {
            if covered(connection, root, &ids, &[NOTICE_NAME]) {
                for window in windows {
                    connection.send_request(&x::ConfigureWindow {
                        window: window.window,
                        value_list: &[x::ConfigWindow::StackMode(x::StackMode::Above)],
                    });
                }
            }
            let _ = grab_input(connection, &ids);
            next_check = Instant::now() + KEEP_EVERY;
        }
        let _ = connection.flush();
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The picture in the middle of one monitor: a padlock-like heading with
/// the teacher's name, and their words below.
fn render(lock: &Lock, language: Language, fonts: &Fonts, width: u16, height: u16) -> Canvas {
    let heading = Style {
        font: fonts.bold(),
        size: 40.0,
    };
    let text = Style {
        font: fonts.regular(),
        size: 26.0,
    };
    let max_width = f32::from(width.min(1200)) * 0.8;
    let heading_lines = heading.wrap(&lock_heading(lock, language), max_width);
    let text_lines = lock
        .message
        .as_deref()
        .map(|message| text.wrap(message, max_width))
        .unwrap_or_default();
    let content_height = heading.line_height() * heading_lines.len() as f32
        + if text_lines.is_empty() {
            0.0
        } else {
            24.0 + text.line_height() * text_lines.len() as f32
        };
    let canvas_height = (content_height.ceil() as u16 + 8).min(height);
    let mut canvas = Canvas::new(max_width.ceil() as u16, canvas_height, BACKGROUND);
    let below = canvas.centred_lines(heading, 4.0, &heading_lines, HEADING);
    canvas.centred_lines(text, below + 24.0, &text_lines, TEXT);
    canvas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_picture_fits_its_monitor_and_shows_text() {
        let lock = Lock {
            teacher: "mueller".into(),
            room: "101".into(),
            message: Some("Augen nach vorn! ".repeat(15)),
        };
        let canvas = render(&lock, Language::German, &Fonts::load(), 800, 600);
        assert!(canvas.width <= 800 && canvas.height <= 600);
        assert!(canvas.height > 100, "heading and three lines of words");
        assert!(canvas.pixels.chunks(4).any(|p| p[0] > 0xC0 && p[1] > 0xC0));
    }
}
