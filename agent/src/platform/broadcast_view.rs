//! The broadcast (R7) on X11: the teacher's picture over every monitor with
//! keyboard and pointer grabbed (the default), or in a window the student
//! can move and resize. Either way the picture is scaled to fit, up or
//! down, and letterboxed in black.
//!
//! Full-screen windows are override-redirect and kept whole by a thread as
//! the lock screen's are: mapped again when unmapped, raised when another
//! window comes above them (the notice bars excepted: the student still
//! sees who is broadcasting), the grabs taken again. A picture is on the
//! screen when [`BroadcastScreen::picture`] returns: the X server has
//! carried out every request, so credit goes back only as fast as the
//! student's screen really shows pictures.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pult_protocol::broadcast::BroadcastMode;
use pult_protocol::local::BroadcastView;
use pult_screen::Frame;
use pult_screen::codec::TileRect;
use pult_screen::scale::{Scaler, letterbox};
use xcb::x;

use super::indicator::WINDOW_NAME as NOTICE_NAME;
use super::lock_screen::WINDOW_NAME as LOCK_NAME;
use super::x11_ui::{
    Canvas, WindowSpec, ask_before_closing, connect, covered, create_window, grab_input, monitors,
    put_canvas, take_down,
};
use crate::notice_text::{Language, broadcast_title};

/// The windows' class (and the full-screen windows' name), for tests and people.
pub const WINDOW_NAME: &str = "pult-broadcast";
/// How long the windows may take to become viewable.
const MAP_PATIENCE: Duration = Duration::from_secs(2);
/// How often the keeper checks stacking and grabs.
const KEEP_EVERY: Duration = Duration::from_millis(300);

/// The broadcast on one X display.
pub struct BroadcastScreen {
    display: Option<String>,
    language: Language,
    state: Mutex<Option<Showing>>,
}

/// A broadcast on the screen: its connection, windows and keeper.
struct Showing {
    view: BroadcastView,
    connection: Arc<xcb::Connection>,
    depth: u8,
    windows: Arc<Vec<ViewWindow>>,
    /// The picture as it came, for windows that must be drawn anew.
    picture: Arc<Mutex<Option<Frame>>>,
    stop: Arc<AtomicBool>,
    keeper: Option<std::thread::JoinHandle<()>>,
}

/// One window and the picture scaled to its size.
struct ViewWindow {
    window: x::Window,
    gc: x::Gcontext,
    size: Mutex<(u16, u16)>,
    scaler: Mutex<Scaler>,
}

impl BroadcastScreen {
    /// The broadcast for `display` (or `DISPLAY`), titled in `language`.
    pub fn new(display: Option<String>, language: Language) -> Self {
        Self {
            display,
            language,
            state: Mutex::default(),
        }
    }

    /// Shows a broadcast as `view` asks, or ends it (`None`); returns once
    /// the windows are viewable (or gone).
    pub fn set(&self, view: Option<&BroadcastView>) -> Result<(), String> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(showing) = state.take() {
            showing.end();
        }
        let Some(view) = view else {
            return Ok(());
        };
        let showing = self.put(view)?;
        if let Err(error) = showing.wait_viewable() {
            showing.end(); // the windows and their keeper go with the failure
            return Err(error);
        }
        *state = Some(showing);
        Ok(())
    }

    /// Puts `picture` on every window, drawing anew what `changed` covers.
    pub fn picture(&self, picture: &Frame, changed: TileRect) -> Result<(), String> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let showing = state.as_ref().ok_or("no broadcast is shown")?;
        if let Some(error) = showing.connection.has_error().err() {
            return Err(format!("the X connection failed: {error}"));
        }
        {
            let mut kept = showing.picture.lock().unwrap_or_else(|p| p.into_inner());
            match kept.as_mut() {
                Some(frame)
                    if (frame.width(), frame.height()) == (picture.width(), picture.height()) =>
                {
                    if let Some(part) =
                        picture.crop(changed.x, changed.y, changed.width, changed.height)
                    {
                        frame.blit(&part, changed.x, changed.y);
                    }
                }
                _ => *kept = Some(picture.clone()),
            }
        }
        for window in showing.windows.iter() {
            paint(&showing.connection, showing.depth, window, picture, changed);
        }
        // A round trip: the server has drawn it all when the answer comes.
        let cookie = showing.connection.send_request(&x::GetInputFocus {});
        showing
            .connection
            .wait_for_reply(cookie)
            .map(|_| ())
            .map_err(|e| format!("the X connection failed: {e}"))
    }

    fn put(&self, view: &BroadcastView) -> Result<Showing, String> {
        let (connection, screen) = connect(self.display.as_deref())?;
        let (root, depth) = (screen.root, screen.depth);
        let title = broadcast_title(view, self.language);
        let areas = match view.mode {
            BroadcastMode::FullScreen => monitors(&connection, root)?,
            BroadcastMode::Window => {
                let (x, y, width, height) = monitors(&connection, root)?
                    .first()
                    .copied()
                    .unwrap_or((0, 0, 1280, 720));
                let (w, h) = (width / 3 * 2, height / 3 * 2);
                vec![(
                    x.saturating_add(i16::try_from((width - w) / 2).unwrap_or(0)),
                    y.saturating_add(i16::try_from((height - h) / 2).unwrap_or(0)),
                    w.max(16),
                    h.max(16),
                )]
            }
        };
        let full_screen = view.mode == BroadcastMode::FullScreen;
        let mut windows = Vec::new();
        for (x, y, width, height) in areas {
            let (window, gc) = create_window(
                &connection,
                screen,
                &WindowSpec {
                    name: if full_screen { WINDOW_NAME } else { &title },
                    class: WINDOW_NAME,
                    area: (x, y, width, height),
                    background: 0,
                    override_redirect: full_screen,
                    border: 0,
                    events: x::EventMask::EXPOSURE
                        | x::EventMask::STRUCTURE_NOTIFY
                        | x::EventMask::VISIBILITY_CHANGE,
                },
            );
            if !full_screen {
                // Closing asks us (and is declined) instead of the window
                // manager ending the helper's whole X connection.
                ask_before_closing(&connection, window);
            }
            connection.send_request(&x::MapWindow { window });
            windows.push(ViewWindow {
                window,
                gc,
                size: Mutex::new((width, height)),
                scaler: Mutex::new(Scaler::new()),
            });
        }
        connection
            .flush()
            .map_err(|e| format!("the X connection failed: {e}"))?;
        let connection = Arc::new(connection);
        let windows = Arc::new(windows);
        let picture = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let keeper = {
            let keeper = Keeper {
                connection: connection.clone(),
                root,
                depth,
                windows: windows.clone(),
                picture: picture.clone(),
                full_screen,
            };
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("broadcast-view".into())
                .spawn(move || keeper.run(&stop))
                .map_err(|e| format!("could not start the broadcast's thread: {e}"))?
        };
        Ok(Showing {
            view: view.clone(),
            connection,
            depth,
            windows,
            picture,
            stop,
            keeper: Some(keeper),
        })
    }
}

impl Drop for BroadcastScreen {
    fn drop(&mut self) {
        if let Some(showing) = self.state.lock().unwrap_or_else(|p| p.into_inner()).take() {
            showing.end();
        }
    }
}

impl Showing {
    /// Waits until every window is viewable; full-screen, also tries for the
    /// grabs (a program that holds them now is retried by the keeper).
    fn wait_viewable(&self) -> Result<(), String> {
        let deadline = Instant::now() + MAP_PATIENCE;
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
            if viewable {
                if self.view.mode == BroadcastMode::FullScreen {
                    let ids: Vec<x::Window> = self.windows.iter().map(|w| w.window).collect();
                    if let Err(holder) = grab_input(&self.connection, &ids) {
                        tracing::warn!(
                            "the {holder} is held by another program; the broadcast keeps trying to block it"
                        );
                    }
                }
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err("the broadcast's windows are not viewable".to_owned());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ends the broadcast: the keeper stops, the grabs and windows go, and
    /// the server has carried it out when this returns.
    fn end(mut self) {
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

/// Keeps the windows drawn, and in full-screen mode on top with the grabs.
struct Keeper {
    connection: Arc<xcb::Connection>,
    root: x::Window,
    depth: u8,
    windows: Arc<Vec<ViewWindow>>,
    picture: Arc<Mutex<Option<Frame>>>,
    full_screen: bool,
}

impl Keeper {
    fn run(&self, stop: &AtomicBool) {
        let ids: Vec<x::Window> = self.windows.iter().map(|w| w.window).collect();
        let ours = |window: x::Window| self.windows.iter().find(|w| w.window == window);
        let mut next_check = Instant::now();
        while !stop.load(Ordering::SeqCst) && self.connection.has_error().is_ok() {
            while let Ok(Some(event)) = self.connection.poll_for_event() {
                match event {
                    xcb::Event::X(x::Event::Expose(event)) if event.count() == 0 => {
                        if let Some(window) = ours(event.window()) {
                            self.redraw(window);
                        }
                    }
                    xcb::Event::X(x::Event::ConfigureNotify(event)) => {
                        if let Some(window) = ours(event.window()) {
                            let size = (event.width(), event.height());
                            let resized = {
                                let mut now = window.size.lock().unwrap_or_else(|p| p.into_inner());
                                std::mem::replace(&mut *now, size) != size
                            };
                            if resized {
                                self.redraw(window);
                            }
                        }
                    }
                    xcb::Event::X(x::Event::UnmapNotify(event))
                        if self.full_screen && ours(event.window()).is_some() =>
                    {
                        self.connection.send_request(&x::MapWindow {
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
            if self.full_screen && Instant::now() >= next_check {
                if covered(&self.connection, self.root, &ids, &[NOTICE_NAME, LOCK_NAME]) {
                    for window in &ids {
                        self.connection.send_request(&x::ConfigureWindow {
                            window: *window,
                            value_list: &[x::ConfigWindow::StackMode(x::StackMode::Above)],
                        });
                    }
                }
                let _ = grab_input(&self.connection, &ids);
                next_check = Instant::now() + KEEP_EVERY;
            }
            let _ = self.connection.flush();
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Draws the whole picture on `window` again (exposed, resized).
    fn redraw(&self, window: &ViewWindow) {
        let picture = self.picture.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(picture) = picture.as_ref() {
            let whole = TileRect {
                x: 0,
                y: 0,
                width: picture.width(),
                height: picture.height(),
            };
            paint(&self.connection, self.depth, window, picture, whole);
        }
    }
}

/// Draws the part `changed` of `picture` on `window`, scaled as the window
/// needs it.
fn paint(
    connection: &xcb::Connection,
    depth: u8,
    window: &ViewWindow,
    picture: &Frame,
    changed: TileRect,
) {
    let size = *window.size.lock().unwrap_or_else(|p| p.into_inner());
    let (left, top, width, height) = letterbox(
        picture.width(),
        picture.height(),
        u32::from(size.0),
        u32::from(size.1),
    );
    let (part, at) = if (width, height) == (picture.width(), picture.height()) {
        (
            picture.crop(changed.x, changed.y, changed.width, changed.height),
            (changed.x, changed.y),
        )
    } else {
        // Scaled: the changed part's place in the scaled picture, a pixel
        // wider each way for the filter's reach.
        let scale_x = f64::from(width) / f64::from(picture.width());
        let scale_y = f64::from(height) / f64::from(picture.height());
        let x0 = ((f64::from(changed.x) * scale_x).floor() as u32).saturating_sub(1);
        let y0 = ((f64::from(changed.y) * scale_y).floor() as u32).saturating_sub(1);
        let x1 = ((f64::from(changed.x + changed.width) * scale_x).ceil() as u32 + 1).min(width);
        let y1 = ((f64::from(changed.y + changed.height) * scale_y).ceil() as u32 + 1).min(height);
        let scaled = window
            .scaler
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .resize(picture, width, height);
        (scaled.crop(x0, y0, x1 - x0, y1 - y0), (x0, y0))
    };
    let Some(part) = part else {
        return;
    };
    let canvas = Canvas {
        width: u16::try_from(part.width()).unwrap_or(u16::MAX),
        height: u16::try_from(part.height()).unwrap_or(u16::MAX),
        pixels: part
            .pixels()
            .chunks_exact(4)
            .flat_map(|p| [p[2], p[1], p[0], 0])
            .collect(),
    };
    let to = (
        i16::try_from(left + at.0).unwrap_or(i16::MAX),
        i16::try_from(top + at.1).unwrap_or(i16::MAX),
    );
    put_canvas(connection, window.window, window.gc, depth, to, &canvas);
}
