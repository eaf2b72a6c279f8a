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

use ab_glyph::{Font, FontVec, PxScale, ScaleFont};
use xcb::{Xid, randr, x};

/// The bar's height in pixels.
const HEIGHT: u16 = 30;
/// The text's size in pixels.
const TEXT_SIZE: f32 = 17.0;
/// Space left and right of the text.
const PADDING: u32 = 14;
/// Dark red, white text: a colour that stands out on every desktop.
const BACKGROUND: u32 = 0x00B0_0020;
const FOREGROUND: [f32; 3] = [255.0, 255.0, 255.0];
/// The windows' name, for people and tests that look for them.
pub const WINDOW_NAME: &str = "pult-notice";

/// Fonts tried in turn; every Debian desktop has DejaVu.
const FONTS: [&str; 5] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf",
    "/usr/share/fonts/opentype/noto/NotoSans-Bold.ttf",
];

/// The indicator on one X display.
pub struct Indicator {
    display: Option<String>,
    font: Option<FontVec>,
    state: Mutex<Option<Shown>>,
}

/// A connection with the bars on it.
struct Shown {
    connection: Arc<xcb::Connection>,
    root: x::Window,
    depth: u8,
    visual: x::Visualid,
    bars: Arc<Mutex<Vec<Bar>>>,
    text: Option<String>,
}

/// One bar: its window and what it shows.
#[derive(Clone)]
struct Bar {
    window: x::Window,
    gc: x::Gcontext,
    width: u16,
    pixels: Arc<Vec<u8>>,
}

impl Indicator {
    /// An indicator for `display` (or `DISPLAY`); nothing is drawn yet.
    pub fn new(display: Option<String>) -> Self {
        let font = FONTS
            .iter()
            .find_map(|path| std::fs::read(path).ok())
            .and_then(|bytes| FontVec::try_from_vec(bytes).ok());
        if font.is_none() {
            tracing::warn!(
                "no TrueType font found (tried {FONTS:?}); the notice bar shows no text"
            );
        }
        Self {
            display,
            font,
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
        let result = shown.put(text, self.font.as_ref());
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
        let (connection, screen) =
            xcb::Connection::connect_with_extensions(display, &[], &[xcb::Extension::RandR])
                .map_err(|e| format!("cannot connect to the X display: {e}"))?;
        let setup = connection.get_setup();
        let screen = setup
            .roots()
            .nth(usize::try_from(screen).unwrap_or(0))
            .ok_or("the X display has no screen")?;
        let (root, depth, visual) = (screen.root(), screen.root_depth(), screen.root_visual());
        let connection = Arc::new(connection);
        let bars = Arc::new(Mutex::new(Vec::new()));
        let (events, watched) = (connection.clone(), bars.clone());
        std::thread::Builder::new()
            .name("notice-events".into())
            .spawn(move || keep_on_top(&events, &watched))
            .map_err(|e| format!("could not start the notice's event thread: {e}"))?;
        Ok(Self {
            connection,
            root,
            depth,
            visual,
            bars,
            text: None,
        })
    }

    /// Puts `text` on a bar on every monitor and waits until they are viewable.
    fn put(&mut self, text: &str, font: Option<&FontVec>) -> Result<(), String> {
        let monitors = self.monitors()?;
        let same = self.text.as_deref() == Some(text)
            && self.bars.lock().unwrap_or_else(|p| p.into_inner()).len() == monitors.len();
        if !same {
            self.destroy_bars();
            let mut bars = Vec::with_capacity(monitors.len());
            for &(mx, my, mwidth) in &monitors {
                bars.push(self.create_bar(text, font, mx, my, mwidth)?);
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
            draw(&self.connection, bar, self.depth);
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

    /// Monitors as (x, y, width); the whole screen where RandR knows none.
    fn monitors(&self) -> Result<Vec<(i16, i16, u16)>, String> {
        let cookie = self.connection.send_request(&randr::GetMonitors {
            window: self.root,
            get_active: true,
        });
        let mut monitors: Vec<(i16, i16, u16)> = match self.connection.wait_for_reply(cookie) {
            Ok(reply) => reply
                .monitors()
                .filter(|m| m.width() > 0 && m.height() > 0)
                .map(|m| (m.x(), m.y(), m.width()))
                .collect(),
            Err(_) => Vec::new(),
        };
        if monitors.is_empty() {
            let cookie = self.connection.send_request(&x::GetGeometry {
                drawable: x::Drawable::Window(self.root),
            });
            let root = self
                .connection
                .wait_for_reply(cookie)
                .map_err(|e| format!("cannot ask the X display for its size: {e}"))?;
            monitors.push((0, 0, root.width()));
        }
        monitors.sort_unstable();
        Ok(monitors)
    }

    fn create_bar(
        &self,
        text: &str,
        font: Option<&FontVec>,
        monitor_x: i16,
        monitor_y: i16,
        monitor_width: u16,
    ) -> Result<Bar, String> {
        let (pixels, width) = render(text, font, u32::from(monitor_width));
        let width = u16::try_from(width).unwrap_or(monitor_width);
        let window: x::Window = self.connection.generate_id();
        let x_offset = i16::try_from((monitor_width - width) / 2).unwrap_or(0);
        self.connection.send_request(&x::CreateWindow {
            depth: x::COPY_FROM_PARENT as u8,
            wid: window,
            parent: self.root,
            x: monitor_x.saturating_add(x_offset),
            y: monitor_y,
            width,
            height: HEIGHT,
            border_width: 0,
            class: x::WindowClass::InputOutput,
            visual: self.visual,
            value_list: &[
                x::Cw::BackPixel(BACKGROUND),
                x::Cw::OverrideRedirect(true),
                x::Cw::EventMask(
                    x::EventMask::EXPOSURE
                        | x::EventMask::STRUCTURE_NOTIFY
                        | x::EventMask::VISIBILITY_CHANGE,
                ),
            ],
        });
        for (property, value) in [
            (x::ATOM_WM_NAME, WINDOW_NAME.as_bytes()),
            (x::ATOM_WM_CLASS, b"pult-notice\0Pult\0".as_slice()),
        ] {
            self.connection.send_request(&x::ChangeProperty {
                mode: x::PropMode::Replace,
                window,
                property,
                r#type: x::ATOM_STRING,
                data: value,
            });
        }
        let gc: x::Gcontext = self.connection.generate_id();
        self.connection.send_request(&x::CreateGc {
            cid: gc,
            drawable: x::Drawable::Window(window),
            value_list: &[],
        });
        self.connection
            .flush()
            .map_err(|e| format!("the X connection failed: {e}"))?;
        Ok(Bar {
            window,
            gc,
            width,
            pixels: Arc::new(pixels),
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
    connection.send_request(&x::PutImage {
        format: x::ImageFormat::ZPixmap,
        drawable: x::Drawable::Window(bar.window),
        gc: bar.gc,
        width: bar.width,
        height: HEIGHT,
        dst_x: 0,
        dst_y: 0,
        left_pad: 0,
        depth,
        data: &bar.pixels,
    });
    let _ = connection.flush();
}

/// The bar as 32-bit BGRX pixels, and its width: the text centred, at most
/// `max_width` wide.
fn render(text: &str, font: Option<&FontVec>, max_width: u32) -> (Vec<u8>, u32) {
    let height = u32::from(HEIGHT);
    let Some(font) = font else {
        let width = 48.min(max_width);
        return (background(width, height), width);
    };
    let scaled = font.as_scaled(PxScale::from(TEXT_SIZE));
    let mut glyphs = Vec::new();
    let mut caret = 0.0f32;
    let mut previous = None;
    for character in text.chars() {
        let id = scaled.glyph_id(character);
        if let Some(previous) = previous {
            caret += scaled.kern(previous, id);
        }
        let baseline = (height as f32 + scaled.ascent() + scaled.descent()) / 2.0;
        glyphs.push(id.with_scale_and_position(TEXT_SIZE, ab_glyph::point(caret, baseline)));
        caret += scaled.h_advance(id);
        previous = Some(id);
    }
    let width = (caret.ceil() as u32 + 2 * PADDING).min(max_width);
    let mut pixels = background(width, height);
    let offset = PADDING as f32;
    for glyph in glyphs {
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let px = bounds.min.x + offset + gx as f32;
            let py = bounds.min.y + gy as f32;
            if px < 0.0 || py < 0.0 || px >= width as f32 || py >= height as f32 {
                return;
            }
            let index = ((py as u32 * width + px as u32) * 4) as usize;
            let Some(pixel) = pixels.get_mut(index..index + 3) else {
                return;
            };
            // BGR order; blend the white text over the background.
            for (channel, &foreground) in pixel.iter_mut().zip(FOREGROUND.iter().rev()) {
                let under = f32::from(*channel);
                *channel = (under + (foreground - under) * coverage.min(1.0)) as u8;
            }
        });
    }
    (pixels, width)
}

fn background(width: u32, height: u32) -> Vec<u8> {
    let [b, g, r, _] = BACKGROUND.to_le_bytes();
    std::iter::repeat_n([b, g, r, 0], (width * height) as usize)
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_is_as_wide_as_its_text_and_never_wider_than_the_monitor() {
        let indicator = Indicator::new(None);
        let Some(font) = indicator.font.as_ref() else {
            panic!("no font: install fonts-dejavu-core");
        };
        let (short_pixels, short) = render("Pult", Some(font), 1920);
        let (_, long) = render(
            "Ihr Bildschirm wird angesehen von mueller (Raum 101)",
            Some(font),
            1920,
        );
        assert!(short < long);
        assert_eq!(short_pixels.len(), (short * u32::from(HEIGHT) * 4) as usize);
        let (_, narrow) = render(&"x".repeat(500), Some(font), 640);
        assert_eq!(narrow, 640);
        // The text is drawn: some pixels are brighter than the background.
        assert!(short_pixels.chunks(4).any(|p| p[0] > 0xB0));
    }
}
