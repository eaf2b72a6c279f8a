//! A teacher's message on X11: a window in the middle of the first monitor
//! with who sent it, the title and the text, and an OK button. The student
//! closes it with the button, Enter, Escape or the window manager's close.
//!
//! Each message is a window of its own with its own connection and thread,
//! which end when the student closes it; messages are few.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pult_protocol::local::TeacherMessage;
use xcb::x;

use super::x11_ui::{
    Canvas, Fonts, Style, WindowSpec, ask_before_closing, connect, create_window, intern, monitors,
    put_canvas,
};
use crate::notice_text::{Language, close_label, message_heading, worded};

/// The windows' class, for tests that look for them (`WM_CLASS`).
pub const WINDOW_CLASS: &str = "pult-message";
const BACKGROUND: u32 = 0x00FF_FFFF;
const HEADING: u32 = 0x0055_5555;
const TITLE: u32 = 0x0000_0000;
const TEXT: u32 = 0x0022_2222;
const BUTTON: u32 = 0x0020_5FBF;
const BUTTON_TEXT: u32 = 0x00FF_FFFF;
const MARGIN: f32 = 24.0;
const WIDTH: u16 = 520;
const BUTTON_SIZE: (u16, u16) = (110, 36);
/// X keycodes of Return, keypad Enter and Escape on every evdev keyboard.
const CLOSING_KEYS: [u8; 3] = [36, 104, 9];

/// Shows `message` on `display` in `language`; returns once the window is
/// viewable, and the window lives on until the student closes it.
pub fn show(
    display: Option<&str>,
    language: Language,
    fonts: &Arc<Fonts>,
    message: &TeacherMessage,
) -> Result<(), String> {
    let message = &worded(message, language);
    let (connection, screen) = connect(display)?;
    let depth = screen.depth;
    let &(mx, my, mwidth, mheight) = monitors(&connection, screen.root)?
        .first()
        .ok_or("the X display has no monitor")?;
    let (canvas, button) = render(message, language, fonts);
    let (width, height) = (canvas.width, canvas.height.min(mheight));
    // Messages that come one after another are not stacked exactly.
    let offset = i16::try_from(message_count() % 8 * 24).unwrap_or(0);
    let x = mx + i16::try_from(mwidth.saturating_sub(width) / 2).unwrap_or(0) + offset;
    let y = my + i16::try_from(mheight.saturating_sub(height) / 3).unwrap_or(0) + offset;
    let name = message
        .title
        .clone()
        .unwrap_or_else(|| message_heading(message, language));
    let (window, gc) = create_window(
        &connection,
        screen,
        &WindowSpec {
            name: &name,
            class: WINDOW_CLASS,
            area: (x, y, width, height),
            background: BACKGROUND,
            override_redirect: false,
            border: 1,
            events: x::EventMask::EXPOSURE
                | x::EventMask::KEY_PRESS
                | x::EventMask::BUTTON_PRESS
                | x::EventMask::STRUCTURE_NOTIFY,
        },
    );
    let delete = ask_before_closing(&connection, window);
    keep_above(&connection, window);
    // WM_NORMAL_HINTS: the position is the program's; the size is fixed.
    let (w, h) = (i32::from(width), i32::from(height));
    let hints: [u32; 18] = [
        1 | 4 | 16 | 32, // USPosition, PPosition, PMinSize, PMaxSize
        0,
        0,
        0,
        0,
        w as u32,
        h as u32,
        w as u32,
        h as u32,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    connection.send_request(&x::ChangeProperty {
        mode: x::PropMode::Replace,
        window,
        property: x::ATOM_WM_NORMAL_HINTS,
        r#type: x::ATOM_WM_SIZE_HINTS,
        data: &hints,
    });
    connection.send_request(&x::MapWindow { window });
    connection
        .flush()
        .map_err(|e| format!("the X connection failed: {e}"))?;
    // Shown is viewable: with a window manager that takes a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let cookie = connection.send_request(&x::GetWindowAttributes { window });
        let attributes = connection
            .wait_for_reply(cookie)
            .map_err(|e| format!("the X server did not show the message: {e}"))?;
        if attributes.map_state() == x::MapState::Viewable {
            break;
        }
        if Instant::now() >= deadline {
            return Err("the message window did not become viewable".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    put_canvas(&connection, window, gc, depth, (0, 0), &canvas);
    let _ = connection.flush();
    std::thread::Builder::new()
        .name("message-window".into())
        .spawn(move || {
            wait_for_close(&connection, window, gc, depth, &canvas, button, delete);
            connection.send_request(&x::DestroyWindow { window });
            let _ = connection.flush();
        })
        .map_err(|e| format!("could not start the message's thread: {e}"))?;
    Ok(())
}

/// A number that grows with every message this helper shows.
fn message_count() -> u32 {
    static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Asks an EWMH window manager to keep the window above others.
fn keep_above(connection: &xcb::Connection, window: x::Window) {
    let state = intern(connection, "_NET_WM_STATE");
    let above = intern(connection, "_NET_WM_STATE_ABOVE");
    let kind = intern(connection, "_NET_WM_WINDOW_TYPE");
    let dialog = intern(connection, "_NET_WM_WINDOW_TYPE_DIALOG");
    for (property, value) in [(state, above), (kind, dialog)] {
        connection.send_request(&x::ChangeProperty {
            mode: x::PropMode::Replace,
            window,
            property,
            r#type: x::ATOM_ATOM,
            data: &[value],
        });
    }
}

/// Serves the window until the student closes it (or the display goes).
fn wait_for_close(
    connection: &xcb::Connection,
    window: x::Window,
    gc: x::Gcontext,
    depth: u8,
    canvas: &Canvas,
    button: (u16, u16, u16, u16),
    delete: x::Atom,
) {
    while let Ok(event) = connection.wait_for_event() {
        match event {
            xcb::Event::X(x::Event::Expose(_)) => {
                put_canvas(connection, window, gc, depth, (0, 0), canvas);
                let _ = connection.flush();
            }
            xcb::Event::X(x::Event::KeyPress(event)) if CLOSING_KEYS.contains(&event.detail()) => {
                return;
            }
            xcb::Event::X(x::Event::ButtonPress(event)) if event.detail() == 1 => {
                let (bx, by, bw, bh) = button;
                let (px, py) = (event.event_x(), event.event_y());
                let inside = |p: i16, start: u16, length: u16| {
                    i32::from(p) >= i32::from(start) && i32::from(p) < i32::from(start + length)
                };
                if inside(px, bx, bw) && inside(py, by, bh) {
                    return;
                }
            }
            xcb::Event::X(x::Event::ClientMessage(event)) => {
                if let x::ClientMessageData::Data32(data) = event.data()
                    && data[0] == xcb::Xid::resource_id(&delete)
                {
                    return;
                }
            }
            xcb::Event::X(x::Event::DestroyNotify(_)) => return,
            _ => {}
        }
    }
}

/// The window's picture, and where its OK button is (x, y, width, height).
fn render(
    message: &TeacherMessage,
    language: Language,
    fonts: &Fonts,
) -> (Canvas, (u16, u16, u16, u16)) {
    let heading = Style {
        font: fonts.regular(),
        size: 14.0,
    };
    let title = Style {
        font: fonts.bold(),
        size: 20.0,
    };
    let text = Style {
        font: fonts.regular(),
        size: 16.0,
    };
    let inner = f32::from(WIDTH) - 2.0 * MARGIN;
    let heading_lines = heading.wrap(&message_heading(message, language), inner);
    let title_lines = message
        .title
        .as_deref()
        .map(|t| title.wrap(t, inner))
        .unwrap_or_default();
    // A long message is cut where the monitor would end; 30 lines fit.
    let mut text_lines = text.wrap(&message.text, inner);
    text_lines.truncate(30);
    let height = MARGIN
        + heading.line_height() * heading_lines.len() as f32
        + 10.0
        + title.line_height() * title_lines.len() as f32
        + 6.0
        + text.line_height() * text_lines.len() as f32
        + 20.0
        + f32::from(BUTTON_SIZE.1)
        + MARGIN;
    let mut canvas = Canvas::new(WIDTH, height.ceil() as u16, BACKGROUND);
    let mut top = MARGIN;
    for (style, lines, colour, gap) in [
        (heading, &heading_lines, HEADING, 10.0),
        (title, &title_lines, TITLE, 6.0),
        (text, &text_lines, TEXT, 20.0),
    ] {
        for line in lines {
            canvas.text(style, MARGIN, top, line, colour);
            top += style.line_height();
        }
        top += gap;
    }
    let (bw, bh) = BUTTON_SIZE;
    let bx = WIDTH - MARGIN as u16 - bw;
    let by = top as u16;
    canvas.fill(bx, by, bw, bh, BUTTON);
    let label = close_label(language);
    let label_x = f32::from(bx) + (f32::from(bw) - title.width(label)) / 2.0;
    let label_y = f32::from(by) + (f32::from(bh) - title.line_height()) / 2.0;
    canvas.text(title, label_x, label_y, label, BUTTON_TEXT);
    (canvas, (bx, by, bw, bh))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_picture_grows_with_its_text_and_has_its_button_inside() {
        let fonts = Fonts::load();
        let message = |text: &str| TeacherMessage {
            teacher: "mueller".into(),
            room: "101".into(),
            title: Some("Hausaufgabe".into()),
            text: text.into(),
            power: None,
        };
        let (short, button) = render(&message("Seite 12"), Language::German, &fonts);
        let (long, _) = render(
            &message(&"Bitte lest den Text auf Seite 12. ".repeat(10)),
            Language::German,
            &fonts,
        );
        assert!(long.height > short.height);
        let (bx, by, bw, bh) = button;
        assert!(bx + bw <= short.width && by + bh <= short.height);
        // The button is drawn in its colour.
        let index = (usize::from(by + 2) * usize::from(short.width) + usize::from(bx + 2)) * 4;
        assert_eq!(&short.pixels[index..index + 3], &BUTTON.to_le_bytes()[..3]);
    }
}
