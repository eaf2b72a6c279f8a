//! The teacher's screen for the broadcast benchmark (R7), painted into an
//! Xvfb at a steady rate: `slides` — text that changes every two seconds
//! and a pointer moving all the time — or `video` — every pixel moving, as
//! a film played full screen.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use pult_screen::Frame;
use pult_screen::codec::changed_tiles;

use crate::paint::{connect, put};

/// The teacher's screen.
const WIDTH: u32 = 1920;
const HEIGHT: u32 = 1080;
/// How long a slide stays.
const SLIDE: Duration = Duration::from_secs(2);

/// `pult-bench scene DISPLAY slides|video FPS`: paints until killed.
pub(crate) fn main(args: &[OsString]) -> Result<()> {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let [display, kind, fps] = args.as_slice() else {
        bail!("usage: pult-bench scene DISPLAY slides|video FPS");
    };
    let fps: u32 = fps.parse().context("fps")?;
    let (connection, root, gc) = connect(display)?;
    let texture = (kind == "video").then(|| texture(WIDTH + 640, HEIGHT + 360));
    let started = Instant::now();
    let interval = Duration::from_secs(1) / fps.max(1);
    let mut previous: Option<Frame> = None;
    let mut slide: Option<(u64, Frame)> = None;
    let mut next = started;
    loop {
        let elapsed = started.elapsed();
        let frame = match (&texture, kind.as_str()) {
            (Some(texture), _) => {
                // Panning over the picture: every pixel changes every frame.
                let t = elapsed.as_secs_f64();
                let x = (t * 160.0) as u32 % 640;
                let y = (t * 90.0) as u32 % 360;
                texture
                    .crop(x, y, WIDTH, HEIGHT)
                    .context("the texture is larger than the screen")?
            }
            (None, "slides") => {
                let index = elapsed.as_millis() as u64 / SLIDE.as_millis() as u64;
                if slide.as_ref().is_none_or(|(shown, _)| *shown != index) {
                    slide = Some((index, slide_picture(index)));
                }
                let mut frame = slide.as_ref().map(|(_, f)| f.clone()).context("a slide")?;
                pointer(&mut frame, elapsed);
                frame
            }
            (None, other) => bail!("no scene '{other}': slides or video"),
        };
        for tile in changed_tiles(previous.as_ref(), &frame) {
            put(&connection, root, gc, &frame, tile)?;
        }
        connection.flush()?;
        previous = Some(frame);
        next += interval;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// A slide: a title bar and sixteen lines of word-like strokes, different
/// for each `index`.
fn slide_picture(index: u64) -> Frame {
    let mut frame = Frame::filled(WIDTH, HEIGHT, [255, 255, 255, 255]);
    let mut random = Random(index.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    frame.fill_rect(0, 0, i64::from(WIDTH), 140, [24, 51, 71, 255]);
    words(
        &mut frame,
        &mut random,
        80,
        50,
        1100,
        40,
        [255, 255, 255, 255],
    );
    for line in 0..16 {
        let width = 1300 + random.below(400);
        let colour = if line % 5 == 0 {
            [47, 127, 216, 255]
        } else {
            [28, 39, 51, 255]
        };
        words(
            &mut frame,
            &mut random,
            120,
            200 + line * 52,
            width,
            24,
            colour,
        );
    }
    frame
}

/// A line of words: strokes as thin as a font's, with gaps between words.
fn words(
    frame: &mut Frame,
    random: &mut Random,
    left: i64,
    top: i64,
    width: i64,
    height: i64,
    colour: [u8; 4],
) {
    let mut x = left;
    while x < left + width {
        let word = 30 + random.below(130);
        let mut stroke = x;
        while stroke < x + word {
            let rise = random.below(height / 3);
            frame.fill_rect(stroke, top + rise, 3, height - rise, colour);
            stroke += 6 + random.below(3);
        }
        x += word + 16;
    }
}

/// The pointer: an arrow going round the slide, one step a frame.
fn pointer(frame: &mut Frame, elapsed: Duration) {
    let t = elapsed.as_secs_f64();
    let x = 960.0 + 700.0 * (t * 0.9).sin();
    let y = 540.0 + 380.0 * (t * 1.3).cos();
    for row in 0..19i64 {
        let reach = (row * 12 / 19).max(1);
        frame.fill_rect(x as i64, y as i64 + row, reach + 2, 1, [255, 255, 255, 255]);
        frame.fill_rect(x as i64 + 1, y as i64 + row, reach, 1, [0, 0, 0, 255]);
    }
}

/// A photo-like picture: smooth colour waves and a little grain.
fn texture(width: u32, height: u32) -> Frame {
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 4);
    let mut random = Random(7);
    for y in 0..height {
        for x in 0..width {
            let (fx, fy) = (f64::from(x), f64::from(y));
            let wave = |a: f64| (127.0 + 110.0 * a.sin()) as i64;
            let grain = random.below(17) - 8;
            let channel = |v: i64| (v + grain).clamp(0, 255) as u8;
            pixels.extend_from_slice(&[
                channel(wave(fx / 97.0 + fy / 211.0)),
                channel(wave(fy / 53.0 - fx / 301.0)),
                channel(wave((fx + fy) / 149.0)),
                255,
            ]);
        }
    }
    Frame::new(width, height, pixels)
        .unwrap_or_else(|_| Frame::filled(width, height, [0, 0, 0, 255]))
}

/// xorshift: the same slides every run.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: i64) -> i64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound.max(1) as u64) as i64
    }
}
