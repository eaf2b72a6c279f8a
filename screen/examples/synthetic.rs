//! Writes the synthetic desktop at a given size and time to a PNG, to look at it.
//!
//! `cargo run -p pult-screen --example synthetic -- OUT.png [WIDTHxHEIGHT] [SECONDS] [SEED]`

use std::time::Duration;

use pult_screen::{SyntheticDesktop, encode_png};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args
        .first()
        .ok_or("usage: synthetic OUT.png [WxH] [SECONDS] [SEED]")?;
    let (width, height) = match args.get(1) {
        Some(size) => {
            let (w, h) = size.split_once('x').ok_or("size is WIDTHxHEIGHT")?;
            (w.parse()?, h.parse()?)
        }
        None => (1280, 720),
    };
    let seconds: f64 = args.get(2).map_or(Ok(3.0), |s| s.parse())?;
    let seed: u64 = args.get(3).map_or(Ok(1), |s| s.parse())?;
    let frame = SyntheticDesktop::new(width, height)
        .with_seed(seed)
        .render(Duration::from_secs_f64(seconds));
    std::fs::write(out, encode_png(&frame)?)?;
    Ok(())
}
