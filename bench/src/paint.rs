//! The painter of the Xvfb scene: draws the synthetic classroom desktop into
//! the root window of an X display, tile by changed tile, at a steady rate —
//! the same moving desktop for Pult's X11 capture and for x11vnc.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use pult_screen::codec::{TileRect, changed_tiles};
use pult_screen::{Frame, SyntheticDesktop};
use xcb::x;

/// `pult-bench paint DISPLAY WIDTHxHEIGHT FPS SPEED`: paints until killed.
pub(crate) fn main(args: &[OsString]) -> Result<()> {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let [display, size, fps, speed] = args.as_slice() else {
        bail!("usage: pult-bench paint DISPLAY WIDTHxHEIGHT FPS SPEED");
    };
    let (width, height) = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .context("size is WIDTHxHEIGHT")?;
    let fps: u32 = fps.parse().context("fps")?;
    let speed: f64 = speed.parse().context("speed")?;

    let (connection, root, gc) = connect(display)?;

    let desktop = SyntheticDesktop::new(width, height)
        .with_seed(7)
        .with_speed(speed);
    let started = Instant::now();
    let interval = Duration::from_secs(1) / fps.max(1);
    let mut previous: Option<Frame> = None;
    let mut next = started;
    loop {
        let frame = desktop.render(started.elapsed());
        for tile in changed_tiles(previous.as_ref(), &frame) {
            put(&connection, root, gc, &frame, tile)?;
        }
        connection.flush()?;
        previous = Some(frame);
        if speed == 0.0 {
            // A still scene: painted once.
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        next += interval;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// Draws one rectangle of `frame` (RGBA) into the window (BGRX, depth 24).
/// A connection to `display`, its root window and a graphics context to
/// draw on it with.
pub(crate) fn connect(display: &str) -> Result<(xcb::Connection, x::Window, x::Gcontext)> {
    let (connection, screen) =
        xcb::Connection::connect(Some(display)).context("connecting to X")?;
    let root = connection
        .get_setup()
        .roots()
        .nth(usize::try_from(screen).unwrap_or(0))
        .map(|s| s.root())
        .context("no X screen")?;
    let gc: x::Gcontext = connection.generate_id();
    connection.send_and_check_request(&x::CreateGc {
        cid: gc,
        drawable: x::Drawable::Window(root),
        value_list: &[],
    })?;
    Ok((connection, root, gc))
}

pub(crate) fn put(
    connection: &xcb::Connection,
    window: x::Window,
    gc: x::Gcontext,
    frame: &Frame,
    rect: TileRect,
) -> Result<()> {
    let stride = frame.width() as usize * 4;
    let mut data = Vec::with_capacity(rect.width as usize * rect.height as usize * 4);
    for y in rect.y..rect.y + rect.height {
        let start = y as usize * stride + rect.x as usize * 4;
        for pixel in frame.pixels()[start..start + rect.width as usize * 4].chunks_exact(4) {
            data.extend_from_slice(&[pixel[2], pixel[1], pixel[0], 0]);
        }
    }
    connection.send_request(&x::PutImage {
        format: x::ImageFormat::ZPixmap,
        drawable: x::Drawable::Window(window),
        gc,
        width: u16::try_from(rect.width)?,
        height: u16::try_from(rect.height)?,
        dst_x: i16::try_from(rect.x)?,
        dst_y: i16::try_from(rect.y)?,
        left_pad: 0,
        depth: 24,
        data: &data,
    });
    Ok(())
}
