//! What the helper's own X windows share — the notice bar, the lock screen,
//! message windows: the system's TrueType fonts, text laid out and drawn
//! into 32-bit pixels, the monitors, and pictures put on a window.
//!
//! The helper draws its windows itself, with xcb and ab_glyph, so it needs
//! no toolkit in the student's session and nothing there can restyle or
//! hide them.

use ab_glyph::{Font, FontVec, PxScale, ScaleFont};
use xcb::{randr, x};

/// Fonts tried in turn; every Debian desktop has DejaVu.
const BOLD_FONTS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf",
    "/usr/share/fonts/opentype/noto/NotoSans-Bold.ttf",
];
const REGULAR_FONTS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/opentype/noto/NotoSans-Regular.ttf",
];

/// The fonts the helper writes with; either may be missing (then the other
/// stands in, and with neither nothing is written).
pub struct Fonts {
    bold: Option<FontVec>,
    regular: Option<FontVec>,
}

impl Fonts {
    /// Loads the first bold and regular fonts found.
    pub fn load() -> Self {
        let load = |paths: &[&str]| {
            paths
                .iter()
                .find_map(|path| std::fs::read(path).ok())
                .and_then(|bytes| FontVec::try_from_vec(bytes).ok())
        };
        let fonts = Self {
            bold: load(&BOLD_FONTS),
            regular: load(&REGULAR_FONTS),
        };
        if fonts.bold.is_none() && fonts.regular.is_none() {
            tracing::warn!(
                "no TrueType font found (tried {BOLD_FONTS:?} and {REGULAR_FONTS:?}); \
                 the helper's windows show no text"
            );
        }
        fonts
    }

    /// The bold font, or the regular one.
    pub fn bold(&self) -> Option<&FontVec> {
        self.bold.as_ref().or(self.regular.as_ref())
    }

    /// The regular font, or the bold one.
    pub fn regular(&self) -> Option<&FontVec> {
        self.regular.as_ref().or(self.bold.as_ref())
    }
}

/// A text style: font and size in pixels.
#[derive(Clone, Copy)]
pub struct Style<'a> {
    /// The font; `None` draws nothing and measures zero.
    pub font: Option<&'a FontVec>,
    /// The size in pixels.
    pub size: f32,
}

impl Style<'_> {
    /// The width of `text` on one line.
    pub fn width(&self, text: &str) -> f32 {
        let Some(font) = self.font else {
            return 0.0;
        };
        let scaled = font.as_scaled(PxScale::from(self.size));
        let mut width = 0.0;
        let mut previous = None;
        for character in text.chars() {
            let id = scaled.glyph_id(character);
            if let Some(previous) = previous {
                width += scaled.kern(previous, id);
            }
            width += scaled.h_advance(id);
            previous = Some(id);
        }
        width
    }

    /// The height of one line, ascent to descent plus line gap.
    pub fn line_height(&self) -> f32 {
        self.font.map_or(self.size, |font| {
            let scaled = font.as_scaled(PxScale::from(self.size));
            scaled.height() + scaled.line_gap()
        })
    }

    /// `text` broken into lines at most `max_width` wide: at its own line
    /// breaks, between words, and inside a word longer than a line.
    pub fn wrap(&self, text: &str, max_width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for paragraph in text.split('\n') {
            let mut line = String::new();
            for word in paragraph.split(' ') {
                let candidate = if line.is_empty() {
                    word.to_owned()
                } else {
                    format!("{line} {word}")
                };
                if self.width(&candidate) <= max_width {
                    line = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                // A word wider than the line is broken where it must be.
                for character in word.chars() {
                    line.push(character);
                    if self.width(&line) > max_width && line.chars().count() > 1 {
                        line.pop();
                        lines.push(std::mem::replace(&mut line, character.to_string()));
                    }
                }
            }
            lines.push(line);
        }
        lines
    }
}

/// A picture in the X server's 32-bit ZPixmap layout (B, G, R, unused).
pub struct Canvas {
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
    /// The pixels, row by row.
    pub pixels: Vec<u8>,
}

impl Canvas {
    /// A canvas filled with `background` (0xRRGGBB).
    pub fn new(width: u16, height: u16, background: u32) -> Self {
        let [b, g, r, _] = background.to_le_bytes();
        Self {
            width,
            height,
            pixels: std::iter::repeat_n([b, g, r, 0], usize::from(width) * usize::from(height))
                .flatten()
                .collect(),
        }
    }

    /// Fills a rectangle with `colour` (0xRRGGBB), clipped to the canvas.
    pub fn fill(&mut self, x: u16, y: u16, width: u16, height: u16, colour: u32) {
        let [b, g, r, _] = colour.to_le_bytes();
        for row in y..y.saturating_add(height).min(self.height) {
            for column in x..x.saturating_add(width).min(self.width) {
                let index = (usize::from(row) * usize::from(self.width) + usize::from(column)) * 4;
                self.pixels[index..index + 3].copy_from_slice(&[b, g, r]);
            }
        }
    }

    /// Writes `text` on one line with its left end at `x` and its top at
    /// `top`, in `colour` (0xRRGGBB) blended over what is there.
    pub fn text(&mut self, style: Style<'_>, x: f32, top: f32, text: &str, colour: u32) {
        let Some(font) = style.font else {
            return;
        };
        let [blue, green, red, _] = colour.to_le_bytes();
        let foreground = [f32::from(blue), f32::from(green), f32::from(red)];
        let scaled = font.as_scaled(PxScale::from(style.size));
        let baseline = top + scaled.ascent();
        let mut caret = x;
        let mut previous = None;
        for character in text.chars() {
            let id = scaled.glyph_id(character);
            if let Some(previous) = previous {
                caret += scaled.kern(previous, id);
            }
            let glyph = id.with_scale_and_position(style.size, ab_glyph::point(caret, baseline));
            caret += scaled.h_advance(id);
            previous = Some(id);
            let Some(outline) = font.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outline.px_bounds();
            let (width, height) = (f32::from(self.width), f32::from(self.height));
            outline.draw(|gx, gy, coverage| {
                let px = bounds.min.x + gx as f32;
                let py = bounds.min.y + gy as f32;
                if px < 0.0 || py < 0.0 || px >= width || py >= height {
                    return;
                }
                let index = ((py as usize) * usize::from(self.width) + px as usize) * 4;
                let Some(pixel) = self.pixels.get_mut(index..index + 3) else {
                    return;
                };
                for (channel, &over) in pixel.iter_mut().zip(&foreground) {
                    let under = f32::from(*channel);
                    *channel = (under + (over - under) * coverage.min(1.0)) as u8;
                }
            });
        }
    }

    /// Writes `lines` centred between 0 and the canvas width, the first
    /// line's top at `top`; returns the top of the line after the last.
    pub fn centred_lines(
        &mut self,
        style: Style<'_>,
        top: f32,
        lines: &[String],
        colour: u32,
    ) -> f32 {
        let mut top = top;
        for line in lines {
            let x = (f32::from(self.width) - style.width(line)) / 2.0;
            self.text(style, x.max(0.0), top, line, colour);
            top += style.line_height();
        }
        top
    }
}

/// A display's default screen: its root window, and what windows on it are made of.
#[derive(Clone, Copy, Debug)]
pub struct Screen {
    /// The root window.
    pub root: x::Window,
    /// The root's visual.
    pub visual: x::Visualid,
    /// The root's depth (24 on every desktop).
    pub depth: u8,
}

/// Connects to `display` (or `DISPLAY`) with RandR, for the monitors.
pub fn connect(display: Option<&str>) -> Result<(xcb::Connection, Screen), String> {
    connect_requiring(display, &[])
}

/// Connects as [`connect`] does, failing if the server lacks one of `required`.
pub fn connect_requiring(
    display: Option<&str>,
    required: &[xcb::Extension],
) -> Result<(xcb::Connection, Screen), String> {
    let (connection, number) =
        xcb::Connection::connect_with_extensions(display, required, &[xcb::Extension::RandR])
            .map_err(|e| format!("cannot connect to the X display: {e}"))?;
    let screen = connection
        .get_setup()
        .roots()
        .nth(usize::try_from(number).unwrap_or(0))
        .map(|screen| Screen {
            root: screen.root(),
            visual: screen.root_visual(),
            depth: screen.root_depth(),
        })
        .ok_or("the X display has no screen")?;
    Ok((connection, screen))
}

/// One of the helper's windows, as [`create_window`] makes it.
pub struct WindowSpec<'a> {
    /// `WM_NAME`: what people (and tests) see it called.
    pub name: &'a str,
    /// `WM_CLASS`'s instance name.
    pub class: &'a str,
    /// Where: x, y, width, height.
    pub area: (i16, i16, u16, u16),
    /// The colour under what is drawn (0xRRGGBB).
    pub background: u32,
    /// Whether window managers leave it alone (bars, lock screens).
    pub override_redirect: bool,
    /// Its border's width.
    pub border: u16,
    /// The events the helper wants of it.
    pub events: x::EventMask,
}

/// Creates a window, unmapped, named as `spec` says, with a graphics
/// context to draw on it with.
pub fn create_window(
    connection: &xcb::Connection,
    screen: Screen,
    spec: &WindowSpec<'_>,
) -> (x::Window, x::Gcontext) {
    let window: x::Window = connection.generate_id();
    let (x, y, width, height) = spec.area;
    // The value list goes in the protocol's order.
    let mut values = vec![x::Cw::BackPixel(spec.background)];
    if spec.override_redirect {
        values.push(x::Cw::OverrideRedirect(true));
    }
    values.push(x::Cw::EventMask(spec.events));
    connection.send_request(&x::CreateWindow {
        depth: x::COPY_FROM_PARENT as u8,
        wid: window,
        parent: screen.root,
        x,
        y,
        width,
        height,
        border_width: spec.border,
        class: x::WindowClass::InputOutput,
        visual: screen.visual,
        value_list: &values,
    });
    name_window(connection, window, spec.name, spec.class);
    let gc: x::Gcontext = connection.generate_id();
    connection.send_request(&x::CreateGc {
        cid: gc,
        drawable: x::Drawable::Window(window),
        value_list: &[],
    });
    (window, gc)
}

/// The monitors as (x, y, width, height), left to right; the whole screen
/// where RandR knows none.
pub fn monitors(
    connection: &xcb::Connection,
    root: x::Window,
) -> Result<Vec<(i16, i16, u16, u16)>, String> {
    let cookie = connection.send_request(&randr::GetMonitors {
        window: root,
        get_active: true,
    });
    let mut monitors: Vec<(i16, i16, u16, u16)> = match connection.wait_for_reply(cookie) {
        Ok(reply) => reply
            .monitors()
            .filter(|m| m.width() > 0 && m.height() > 0)
            .map(|m| (m.x(), m.y(), m.width(), m.height()))
            .collect(),
        Err(_) => Vec::new(),
    };
    if monitors.is_empty() {
        let cookie = connection.send_request(&x::GetGeometry {
            drawable: x::Drawable::Window(root),
        });
        let geometry = connection
            .wait_for_reply(cookie)
            .map_err(|e| format!("cannot ask the X display for its size: {e}"))?;
        monitors.push((0, 0, geometry.width(), geometry.height()));
    }
    monitors.sort_unstable();
    Ok(monitors)
}

/// Puts `canvas` on `window` at (x, y), in strips that stay below the
/// smallest request size every X server accepts.
pub fn put_canvas(
    connection: &xcb::Connection,
    window: x::Window,
    gc: x::Gcontext,
    depth: u8,
    (x, y): (i16, i16),
    canvas: &Canvas,
) {
    /// 256 KiB is the core protocol's request limit without BIG-REQUESTS.
    const MAX_BYTES: usize = 200 * 1024;
    let row_bytes = usize::from(canvas.width) * 4;
    if row_bytes == 0 {
        return;
    }
    let rows_per_strip = (MAX_BYTES / row_bytes).max(1);
    for (index, strip) in canvas.pixels.chunks(rows_per_strip * row_bytes).enumerate() {
        let top = index * rows_per_strip;
        connection.send_request(&x::PutImage {
            format: x::ImageFormat::ZPixmap,
            drawable: x::Drawable::Window(window),
            gc,
            width: canvas.width,
            height: u16::try_from(strip.len() / row_bytes).unwrap_or(u16::MAX),
            dst_x: x,
            dst_y: y.saturating_add(i16::try_from(top).unwrap_or(i16::MAX)),
            left_pad: 0,
            depth,
            data: strip,
        });
    }
}

/// Grabs keyboard and pointer for the first of `windows` (the lock screen,
/// a full-screen broadcast); which of the two another program holds, if one does.
pub fn grab_input(connection: &xcb::Connection, windows: &[x::Window]) -> Result<(), &'static str> {
    let Some(&first) = windows.first() else {
        return Ok(());
    };
    let keyboard = connection.send_request(&x::GrabKeyboard {
        owner_events: false,
        grab_window: first,
        time: x::CURRENT_TIME,
        pointer_mode: x::GrabMode::Async,
        keyboard_mode: x::GrabMode::Async,
    });
    let pointer = connection.send_request(&x::GrabPointer {
        owner_events: false,
        grab_window: first,
        event_mask: x::EventMask::BUTTON_PRESS | x::EventMask::BUTTON_RELEASE,
        pointer_mode: x::GrabMode::Async,
        keyboard_mode: x::GrabMode::Async,
        confine_to: xcb::Xid::none(),
        cursor: xcb::Xid::none(),
        time: x::CURRENT_TIME,
    });
    let keyboard = connection
        .wait_for_reply(keyboard)
        .is_ok_and(|r| r.status() == x::GrabStatus::Success);
    let pointer = connection
        .wait_for_reply(pointer)
        .is_ok_and(|r| r.status() == x::GrabStatus::Success);
    match (keyboard, pointer) {
        (true, true) => Ok(()),
        (false, _) => Err("keyboard"),
        (true, false) => Err("pointer"),
    }
}

/// Whether a viewable window that is none of `windows` and not named one of
/// `above_us` (the notice bars stay on top) is stacked above the lowest of
/// `windows`.
pub fn covered(
    connection: &xcb::Connection,
    root: x::Window,
    windows: &[x::Window],
    above_us: &[&str],
) -> bool {
    let cookie = connection.send_request(&x::QueryTree { window: root });
    let Ok(tree) = connection.wait_for_reply(cookie) else {
        return false;
    };
    // Children come bottom to top.
    let children = tree.children();
    let Some(lowest) = children.iter().position(|child| windows.contains(child)) else {
        return false;
    };
    children[lowest + 1..]
        .iter()
        .filter(|child| !windows.contains(child))
        .any(|&child| {
            let attributes = connection.send_request(&x::GetWindowAttributes { window: child });
            let name = connection.send_request(&x::GetProperty {
                delete: false,
                window: child,
                property: x::ATOM_WM_NAME,
                r#type: x::ATOM_STRING,
                long_offset: 0,
                long_length: 16,
            });
            let viewable = connection
                .wait_for_reply(attributes)
                .is_ok_and(|a| a.map_state() == x::MapState::Viewable);
            let allowed = connection
                .wait_for_reply(name)
                .is_ok_and(|n| above_us.iter().any(|a| n.value::<u8>() == a.as_bytes()));
            viewable && !allowed
        })
}

/// Asks window managers to send `window` a WM_DELETE_WINDOW message when
/// the student closes it, instead of ending the helper's X connection;
/// returns that message's atom.
pub fn ask_before_closing(connection: &xcb::Connection, window: x::Window) -> x::Atom {
    let delete = intern(connection, "WM_DELETE_WINDOW");
    let protocols = intern(connection, "WM_PROTOCOLS");
    connection.send_request(&x::ChangeProperty {
        mode: x::PropMode::Replace,
        window,
        property: protocols,
        r#type: x::ATOM_ATOM,
        data: &[delete],
    });
    delete
}

/// Takes down a cover of windows (the lock screen, a full-screen
/// broadcast): lets go of keyboard and pointer, destroys the windows, and
/// returns once the server has carried it out.
pub fn take_down(
    connection: &xcb::Connection,
    windows: impl Iterator<Item = (x::Window, x::Gcontext)>,
) {
    connection.send_request(&x::UngrabKeyboard {
        time: x::CURRENT_TIME,
    });
    connection.send_request(&x::UngrabPointer {
        time: x::CURRENT_TIME,
    });
    for (window, gc) in windows {
        connection.send_request(&x::FreeGc { gc });
        connection.send_request(&x::DestroyWindow { window });
    }
    let cookie = connection.send_request(&x::GetInputFocus {});
    let _ = connection.wait_for_reply(cookie);
}

/// Names a window for people, window managers and tests: `WM_NAME` and
/// `_NET_WM_NAME` (UTF-8) as `name`, `WM_CLASS` as `class` of "Pult".
fn name_window(connection: &xcb::Connection, window: x::Window, name: &str, class: &str) {
    let utf8 = intern(connection, "UTF8_STRING");
    let net_name = intern(connection, "_NET_WM_NAME");
    let class = format!("{class}\0Pult\0");
    for (property, kind, value) in [
        (x::ATOM_WM_NAME, x::ATOM_STRING, latin1(name)),
        (net_name, utf8, name.as_bytes().to_vec()),
        (x::ATOM_WM_CLASS, x::ATOM_STRING, class.into_bytes()),
    ] {
        if property == x::ATOM_NONE {
            continue;
        }
        connection.send_request(&x::ChangeProperty {
            mode: x::PropMode::Replace,
            window,
            property,
            r#type: kind,
            data: &value,
        });
    }
}

/// The atom called `name` (created if need be); `ATOM_NONE` if the server
/// does not answer.
pub fn intern(connection: &xcb::Connection, name: &str) -> x::Atom {
    let cookie = connection.send_request(&x::InternAtom {
        only_if_exists: false,
        name: name.as_bytes(),
    });
    connection
        .wait_for_reply(cookie)
        .map_or(x::ATOM_NONE, |reply| reply.atom())
}

/// `text` in ISO 8859-1, as `WM_NAME` is; other characters become '?'.
fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fonts() -> Fonts {
        let fonts = Fonts::load();
        assert!(
            fonts.regular().is_some(),
            "no font: install fonts-dejavu-core"
        );
        fonts
    }

    #[test]
    fn text_wraps_between_words_at_line_breaks_and_inside_overlong_words() {
        let fonts = fonts();
        let style = Style {
            font: fonts.regular(),
            size: 16.0,
        };
        let lines = style.wrap("Bitte öffnet das Heft auf Seite 12\nDanke", 150.0);
        assert!(lines.len() >= 3, "{lines:?}");
        assert_eq!(lines.last().map(String::as_str), Some("Danke"));
        assert!(
            lines.iter().all(|line| style.width(line) <= 150.0),
            "{lines:?}"
        );
        assert_eq!(
            lines[..lines.len() - 1].join(" "),
            "Bitte öffnet das Heft auf Seite 12"
        );
        let long = style.wrap(&"W".repeat(40), 100.0);
        assert!(long.len() > 1);
        assert_eq!(long.concat(), "W".repeat(40), "no character is lost");
    }

    #[test]
    fn text_is_drawn_in_its_colour_and_stays_inside_the_canvas() {
        let fonts = fonts();
        let style = Style {
            font: fonts.bold(),
            size: 20.0,
        };
        let mut canvas = Canvas::new(80, 30, 0x00_0000);
        canvas.text(style, 2.0, 2.0, "Pult äöü €", 0xFF_0000);
        // Red on black: some pixels are red, none green or blue.
        assert!(canvas.pixels.chunks(4).any(|p| p[2] > 0xC0));
        assert!(canvas.pixels.chunks(4).all(|p| p[0] == 0 && p[1] == 0));
        assert_eq!(canvas.pixels.len(), 80 * 30 * 4);
        canvas.fill(70, 20, 50, 50, 0x00_00FF);
        assert_eq!(&canvas.pixels[(29 * 80 + 79) * 4..][..3], &[0xFF, 0, 0]);
    }
}
