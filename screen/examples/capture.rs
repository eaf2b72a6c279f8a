//! Captures the desktop (xcap) to a PNG, to check capture on a display.
//!
//! `DISPLAY=:0 cargo run -p pult-screen --example capture -- OUT.png`

use pult_screen::{CaptureSource, DesktopCapture, ScreenArea, encode_png};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).ok_or("usage: capture OUT.png")?;
    eprintln!("{}", DesktopCapture::probe()?);
    let mut desktop = DesktopCapture::new();
    let frame = desktop.capture(ScreenArea::Desktop)?;
    std::fs::write(out, encode_png(&frame)?)?;
    Ok(())
}
