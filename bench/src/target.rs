//! The input benchmark's target: an X window over the whole screen that
//! turns input into pixels a screen stream carries. Each key press turns the
//! square at the top left from black to white or back; the pointer is drawn
//! as a white square where it is (X11 capture leaves the real cursor out).

use anyhow::{Context, Result};
use xcb::x;

/// The square a key press turns over: x, y, width, height.
pub(crate) const KEY_SQUARE: (i16, i16, u16, u16) = (0, 0, 160, 160);
/// Half the side of the pointer's square.
pub(crate) const POINTER_HALF: i16 = 12;

/// Opens the window on `display` and answers input on a thread of its own
/// until the X server goes away.
pub(crate) fn start(display: &str) -> Result<()> {
    let (connection, screen) =
        xcb::Connection::connect(Some(display)).context("connecting to X")?;
    let setup = connection.get_setup();
    let screen = setup
        .roots()
        .nth(usize::try_from(screen).unwrap_or(0))
        .context("no X screen")?;
    let (root, width, height) = (
        screen.root(),
        screen.width_in_pixels(),
        screen.height_in_pixels(),
    );
    let (black, white) = (screen.black_pixel(), screen.white_pixel());
    let window: x::Window = connection.generate_id();
    connection.send_and_check_request(&x::CreateWindow {
        depth: x::COPY_FROM_PARENT as u8,
        wid: window,
        parent: root,
        x: 0,
        y: 0,
        width,
        height,
        border_width: 0,
        class: x::WindowClass::InputOutput,
        visual: screen.root_visual(),
        value_list: &[
            x::Cw::BackPixel(black),
            x::Cw::OverrideRedirect(true),
            x::Cw::EventMask(
                x::EventMask::KEY_PRESS | x::EventMask::POINTER_MOTION | x::EventMask::EXPOSURE,
            ),
        ],
    })?;
    let gc: x::Gcontext = connection.generate_id();
    connection.send_and_check_request(&x::CreateGc {
        cid: gc,
        drawable: x::Drawable::Window(window),
        value_list: &[x::Gc::Foreground(white)],
    })?;
    connection.send_and_check_request(&x::MapWindow { window })?;
    // Keys go to this window wherever the pointer is.
    connection.send_and_check_request(&x::SetInputFocus {
        revert_to: x::InputFocus::PointerRoot,
        focus: window,
        time: x::CURRENT_TIME,
    })?;
    std::thread::Builder::new()
        .name("input-target".into())
        .spawn(move || {
            let fill = |colour: u32, (x, y, width, height): (i16, i16, u16, u16)| {
                connection.send_request(&x::ChangeGc {
                    gc,
                    value_list: &[x::Gc::Foreground(colour)],
                });
                connection.send_request(&x::PolyFillRectangle {
                    drawable: x::Drawable::Window(window),
                    gc,
                    rectangles: &[x::Rectangle {
                        x,
                        y,
                        width,
                        height,
                    }],
                });
                let _ = connection.flush();
            };
            let side = (POINTER_HALF * 2) as u16;
            let (mut lit, mut pointer) = (false, None::<(i16, i16)>);
            while let Ok(event) = connection.wait_for_event() {
                match event {
                    xcb::Event::X(x::Event::KeyPress(_)) => {
                        lit = !lit;
                        fill(if lit { white } else { black }, KEY_SQUARE);
                    }
                    xcb::Event::X(x::Event::MotionNotify(motion)) => {
                        if let Some((x, y)) = pointer {
                            fill(black, (x - POINTER_HALF, y - POINTER_HALF, side, side));
                        }
                        let at = (motion.event_x(), motion.event_y());
                        fill(
                            white,
                            (at.0 - POINTER_HALF, at.1 - POINTER_HALF, side, side),
                        );
                        pointer = Some(at);
                    }
                    _ => {}
                }
            }
        })?;
    Ok(())
}
