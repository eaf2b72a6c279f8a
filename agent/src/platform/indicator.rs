//! The on-screen indicator of the notice (R1) on X11: a bar the helper draws
//! itself at the top of every monitor, above every other window, so the
//! notice never depends on the desktop having a tray or a notification
//! service.
//!
//! The windows are override-redirect (no window manager moves or hides
//! them). A thread waits for the X server's events: a bar that someone
//! unmaps is mapped again, one that gets covered is raised, one exposed is
//! redrawn. The text is drawn with a TrueType font of the system.

use std::sync::{Arc, Mutex};

use xcb::{Xid, x};

use super::x11_ui::{
    Canvas, Fonts, Screen, Style, WindowSpec, connect, create_window, monitors, put_canvas,
};

/// The height of a bar of one line, in pixels; a text too wide for its
/// monitor takes more lines.
const HEIGHT: u16 = 30;
/// The text's size in pixels.
const TEXT_SIZE: f32 = 17.0;
/// Space left and right of the text.
const PADDING: u32 = 14;
/// Dark red, white text: a colour that stands out on every desktop.
const BACKGROUND: u32 = 0x00B0_0020;
const FOREGROUND: u32 = 0x00FF_FFFF;
/// The windows' name, for people and tests that look for them.
pub const WINDOW_NAME: &str = "pult-notice";

/// The indicator on one X display.
pub struct Indicator {
    display: Option<String>,
    fonts: Fonts,
    state: Mutex<Option<Shown>>,
}

/// A connection with the bars on it.
struct Shown {
    connection: Arc<xcb::Connection>,
    screen: Screen,
    bars: Arc<Mutex<Vec<Bar>>>,
    text: Option<String>,
}

/// One bar: its window and what it shows.
#[derive(Clone)]
struct Bar {
    window: x::Window,
    gc: x::Gcontext,
    canvas: Arc<Canvas>,
}

impl Indicator {
    /// An indicator for `display` (or `DISPLAY`); nothing is drawn yet.
    pub fn new(display: Option<String>) -> Self {
        Self {
            display,
            fonts: Fonts::load(),
            state: Mutex::default(),
        }
    }

    /// Shows `text` on every monitor, or hides the bars for `None`; returns
    /// once the X server has mapped them.
    pub fn show(&self, text: Option<&str>) -> Result<(), String> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(text) = text else {
            // The connection stays for the next notice: its event thread
            // lives as long as the connection does.
            if let Some(shown) = state.as_mut() {
                shown.hide();
            }
            return Ok(());
        };
        if state
            .as_ref()
            .is_some_and(|shown| shown.connection.has_error().is_err())
        {
            *state = None;
        }
        if state.is_none() {
            *state = Some(Shown::connect(self.display.as_deref())?);
        }
        let shown = state.as_mut().ok_or("no X connection")?;
        let result = shown.put(text, &self.fonts);
        if result.is_err() {
            // A broken connection is made anew on the next try.
            *state = None;
        }
        result
    }
}

impl Drop for Indicator {
    fn drop(&mut self) {
        if let Some(shown) = self
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            shown.hide();
        }
    }
}

impl Shown {
    fn connect(display: Option<&str>) -> Result<Self, String> {
        let (connection, screen) = connect(display)?;
        let connection = Arc::new(connection);
        let bars = Arc::new(Mutex::new(Vec::new()));
        let (events, watched) = (connection.clone(), bars.clone());
        std::thread::Builder::new()
            .name("notice-events".into())
            .spawn(move || keep_on_top(&events, &watched))
            .map_err(|e| format!("could not start the notice's event thread: {e}"))?;
        Ok(Self {
            connection,
            screen,
            bars,
            text: None,
        })
    }

    /// Puts `text` on a bar on every monitor and waits until they are viewable.
    fn put(&mut self, text: &str, fonts: &Fonts) -> Result<(), String> {
        let monitors = monitors(&self.connection, self.screen.root)?;
        let same = self.text.as_deref() == Some(text)
            && self.bars.lock().unwrap_or_else(|p| p.into_inner()).len() == monitors.len();
        if !same {
            self.destroy_bars();
            let mut bars = Vec::with_capacity(monitors.len());
            for &(mx, my, mwidth, _) in &monitors {
                bars.push(self.create_bar(text, fonts, mx, my, mwidth)?);
            }
            *self.bars.lock().unwrap_or_else(|p| p.into_inner()) = bars;
            self.text = Some(text.to_owned());
        }
        let bars = self.bars.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for bar in &bars {
            self.connection
                .send_request(&x::MapWindow { window: bar.window });
            self.connection.send_request(&x::ConfigureWindow {
                window: bar.window,
                value_list: &[x::ConfigWindow::StackMode(x::StackMode::Above)],
            });
            draw(&self.connection, bar, self.screen.depth);
        }
        // The answers come after every request before them was carried out:
        // a bar reported viewable is on the screen.
        for bar in &bars {
            let cookie = self
                .connection
                .send_request(&x::GetWindowAttributes { window: bar.window });
            let attributes = self
                .connection
                .wait_for_reply(cookie)
                .map_err(|e| format!("the X server did not show the notice: {e}"))?;
            if attributes.map_state() != x::MapState::Viewable {
                return Err("the notice bar is not viewable".into());
            }
        }
        Ok(())
    }

    fn create_bar(
        &self,
        text: &str,
        fonts: &Fonts,
        monitor_x: i16,
        monitor_y: i16,
        monitor_width: u16,
    ) -> Result<Bar, String> {
        let canvas = render(text, fonts, monitor_width);
        let width = canvas.width;
        let x_offset = i16::try_from((monitor_width - width) / 2).unwrap_or(0);
        let (window, gc) = create_window(
            &self.connection,
            self.screen,
            &WindowSpec {
                name: WINDOW_NAME,
                class: WINDOW_NAME,
                area: (
                    monitor_x.saturating_add(x_offset),
                    monitor_y,
                    width,
                    canvas.height,
                ),
                background: BACKGROUND,
                override_redirect: true,
                border: 0,
                events: x::EventMask::EXPOSURE
                    | x::EventMask::STRUCTURE_NOTIFY
                    | x::EventMask::VISIBILITY_CHANGE,
            },
        );
        self.connection
            .flush()
            .map_err(|e| format!("the X connection failed: {e}"))?;
        Ok(Bar {
            window,
            gc,
            canvas: Arc::new(canvas),
        })
    }

    fn destroy_bars(&self) {
        let bars = std::mem::take(&mut *self.bars.lock().unwrap_or_else(|p| p.into_inner()));
        for bar in bars {
            self.connection.send_request(&x::FreeGc { gc: bar.gc });
            self.connection
                .send_request(&x::DestroyWindow { window: bar.window });
        }
    }

    fn hide(&mut self) {
        self.text = None;
        self.destroy_bars();
        // Wait until the server carried it out, so "gone" means gone.
        let cookie = self.connection.send_request(&x::GetInputFocus {});
        let _ = self.connection.wait_for_reply(cookie);
    }
}

/// Waits for the X server's events on the bars until the connection ends:
/// what is unmapped is mapped again, what is covered is raised, what is
/// exposed is drawn again.
fn keep_on_top(connection: &xcb::Connection, bars: &Mutex<Vec<Bar>>) {
    let depth = connection
        .get_setup()
        .roots()
        .next()
        .map_or(24, x::Screen::root_depth);
    while let Ok(event) = connection.wait_for_event() {
        let find = |window: x::Window| {
            bars.lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .find(|bar| bar.window == window)
                .cloned()
        };
        match event {
            xcb::Event::X(x::Event::Expose(event)) => {
                if let Some(bar) = find(event.window()) {
                    draw(connection, &bar, depth);
                }
            }
            xcb::Event::X(x::Event::UnmapNotify(event)) => {
                if let Some(bar) = find(event.window()) {
                    connection.send_request(&x::MapWindow { window: bar.window });
                }
            }
            xcb::Event::X(x::Event::VisibilityNotify(event))
                if event.state() != x::Visibility::Unobscured =>
            {
                if let Some(bar) = find(event.window()) {
                    connection.send_request(&x::ConfigureWindow {
                        window: bar.window,
                        value_list: &[x::ConfigWindow::StackMode(x::StackMode::Above)],
                    });
                }
            }
            _ => continue,
        }
        let _ = connection.flush();
    }
}

fn draw(connection: &xcb::Connection, bar: &Bar, depth: u8) {
    if bar.window.is_none() {
        return;
    }
    put_canvas(connection, bar.window, bar.gc, depth, (0, 0), &bar.canvas);
    let _ = connection.flush();
}

/// The bar: the text centred, at most `max_width` wide, on as many lines
/// as it needs.
fn render(text: &str, fonts: &Fonts, max_width: u16) -> Canvas {
    let style = Style {
        font: fonts.bold(),
        size: TEXT_SIZE,
    };
    if style.font.is_none() {
        return Canvas::new(48.min(max_width), HEIGHT, BACKGROUND);
    }
    let room = f32::from(max_width) - 2.0 * PADDING as f32;
    let lines = style.wrap(text, room.max(1.0));
    let widest = lines.iter().map(|l| style.width(l)).fold(0.0, f32::max);
    let width = (widest.ceil() as u32 + 2 * PADDING).min(u32::from(max_width));
    let line_height = style.line_height();
    let extra = (line_height * (lines.len() - 1) as f32).ceil() as u16;
    let mut canvas = Canvas::new(
        u16::try_from(width).unwrap_or(max_width),
        HEIGHT + extra,
        BACKGROUND,
    );
    let top = (f32::from(HEIGHT) - line_height) / 2.0;
    canvas.centred_lines(style, top, &lines, FOREGROUND);
    canvas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_is_as_wide_as_its_text_and_never_wider_than_the_monitor() {
        let fonts = Fonts::load();
        assert!(fonts.bold().is_some(), "no font: install fonts-dejavu-core");
        let short = render("Pult", &fonts, 1920);
        let long = render(
            "Ihr Bildschirm wird angesehen von mueller (Raum 101)",
            &fonts,
            1920,
        );
        assert!(short.width < long.width);
        assert_eq!(
            short.pixels.len(),
            usize::from(short.width) * usize::from(HEIGHT) * 4
        );
        let narrow = render(&"x ".repeat(250), &fonts, 640);
        assert!(narrow.width <= 640);
        assert!(
            narrow.height > 2 * HEIGHT,
            "a long text takes several lines"
        );
        // The text is drawn: some pixels are brighter than the background.
        assert!(short.pixels.chunks(4).any(|p| p[0] > 0xB0));
    }
}
