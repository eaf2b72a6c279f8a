//! Figures for the frame codec on the synthetic desktop: encode and decode time
//! and bytes per frame, for a full view and for a thumbnail.
//!
//! `cargo run --release -p pult-screen --example codec`

use std::time::{Duration, Instant};

use pult_screen::SyntheticDesktop;
use pult_screen::codec::{FrameDecoder, TileEncoder};
use pult_screen::scale::Scaler;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for (label, width, height, view, fps) in [
        ("full view 1920x1080", 1920, 1080, (1920, 1080), 30.0),
        (
            "thumbnail 320x180 of 1920x1080",
            1920,
            1080,
            (320, 180),
            5.0,
        ),
        ("full view 1280x720", 1280, 720, (1280, 720), 30.0),
    ] {
        let desktop = SyntheticDesktop::new(width, height).with_seed(5);
        let mut scaler = Scaler::new();
        let mut encoder = TileEncoder::new(70);
        let mut decoder = FrameDecoder::new();
        let (mut render, mut scale, mut encode, mut decode) = (
            Duration::ZERO,
            Duration::ZERO,
            Duration::ZERO,
            Duration::ZERO,
        );
        let (mut bytes, mut tiles, frames) = (0usize, 0usize, 60u32);
        for i in 0..=frames {
            let t = Duration::from_secs_f64(10.0 + f64::from(i) / fps);
            let started = Instant::now();
            let frame = desktop.render(t);
            render += started.elapsed();
            let started = Instant::now();
            let frame = scaler.fit(frame, view.0, view.1);
            scale += started.elapsed();
            let started = Instant::now();
            let update = encoder.encode(frame);
            encode += started.elapsed();
            let started = Instant::now();
            decoder.apply(&update)?;
            decode += started.elapsed();
            if i > 0 {
                bytes += update.data_len();
                tiles += update.tiles.len();
            }
        }
        let per = |d: Duration| d.as_secs_f64() * 1000.0 / f64::from(frames + 1);
        println!(
            "{label} at {fps} fps: {:.1} KB/frame ({:.1} KB/s), {:.1} images/frame; render {:.2} ms, scale {:.2} ms, encode {:.2} ms, decode {:.2} ms",
            bytes as f64 / 1000.0 / f64::from(frames),
            bytes as f64 / 1000.0 / f64::from(frames) * fps,
            tiles as f64 / f64::from(frames),
            per(render),
            per(scale),
            per(encode),
            per(decode)
        );
    }
    Ok(())
}
