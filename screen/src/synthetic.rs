//! A synthetic classroom desktop: deterministic, moving, cheap to draw.
//!
//! It shows what a student's screen typically holds, so that demos look like a
//! classroom and benchmarks see realistic change: a mostly static taskbar with
//! a clock, a document that scrolls now and then, a terminal being typed into,
//! and a photo-like region that changes every frame. The picture is a pure
//! function of size, seed and time.

use std::time::{Duration, Instant};

use crate::{CaptureError, CaptureSource, Frame, MonitorInfo, ScreenArea};

/// A moving desktop picture; see the module documentation.
#[derive(Clone, Debug)]
pub struct SyntheticDesktop {
    width: u32,
    height: u32,
    seed: u64,
    speed: f64,
    started: Instant,
    glyphs: Vec<[u8; 7]>,
}

const WHITE: [u8; 4] = [250, 250, 248, 255];
const INK: [u8; 4] = [48, 52, 60, 255];
const TASKBAR: [u8; 4] = [30, 34, 42, 255];
const TERMINAL: [u8; 4] = [16, 18, 20, 255];
const TERMINAL_INK: [u8; 4] = [120, 220, 120, 255];

impl SyntheticDesktop {
    /// A desktop of `width` × `height` (at least 64 × 64).
    pub fn new(width: u32, height: u32) -> Self {
        let mut desktop = Self {
            width: width.max(64),
            height: height.max(64),
            seed: 0,
            speed: 1.0,
            started: Instant::now(),
            glyphs: Vec::new(),
        };
        desktop.glyphs = desktop.make_glyphs();
        desktop
    }

    /// Varies colours and text between devices, so a classroom of them is told apart.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self.glyphs = self.make_glyphs();
        self
    }

    /// Scales how fast the content moves (1.0 = a student's pace).
    pub fn with_speed(mut self, speed: f64) -> Self {
        self.speed = speed.max(0.0);
        self
    }

    /// The picture at `elapsed` since the desktop started.
    pub fn render(&self, elapsed: Duration) -> Frame {
        let t = elapsed.as_secs_f64() * self.speed;
        let (w, h) = (i64::from(self.width), i64::from(self.height));
        let mut frame = Frame::filled(self.width, self.height, [0, 0, 0, 255]);
        self.draw_wallpaper(&mut frame);
        let bar = (h / 27).max(20);
        self.draw_taskbar(&mut frame, h - bar, bar, t);
        let scale = (h / 720).max(1);
        let title = 22 * scale;
        let accent = self.accent();

        // The document: left, tall, scrolls three lines every two seconds.
        let (dx, dy, dw, dh) = (w * 4 / 100, h * 5 / 100, w * 50 / 100, h * 70 / 100);
        window(&mut frame, dx, dy, dw, dh, title, accent);
        let first_line = (t / 2.0).floor() as u64 * 3;
        self.draw_text(
            &mut frame,
            dx + 12 * scale,
            dy + title + 10 * scale,
            dw - 24 * scale,
            dh - title - 20 * scale,
            scale,
            first_line,
            None,
            INK,
        );

        // The terminal: top right, typed into at twelve characters a second.
        let (tx, ty, tw, th) = (w * 57 / 100, h * 5 / 100, w * 39 / 100, h * 40 / 100);
        window(&mut frame, tx, ty, tw, th, title, [70, 74, 82, 255]);
        frame.fill_rect(tx, ty + title, tw, th - title, TERMINAL);
        let typed = (t * 12.0) as u64;
        self.draw_text(
            &mut frame,
            tx + 8 * scale,
            ty + title + 8 * scale,
            tw - 16 * scale,
            th - title - 16 * scale,
            scale,
            1000,
            Some(typed),
            TERMINAL_INK,
        );

        // The photo: bottom right, changes every frame like a video.
        let (px, py, pw, ph) = (w * 57 / 100, h * 50 / 100, w * 39 / 100, h * 35 / 100);
        window(&mut frame, px, py, pw, ph, title, [90, 90, 96, 255]);
        draw_photo(&mut frame, px, py + title, pw, ph - title, t);
        frame
    }

    fn accent(&self) -> [u8; 4] {
        let hue = (self.seed % 360) as f64;
        let [r, g, b] = hsv(hue, 0.55, 0.75);
        [r, g, b, 255]
    }

    fn draw_wallpaper(&self, frame: &mut Frame) {
        let hue = (self.seed.wrapping_mul(47) % 360) as f64;
        let (w, h) = (frame.width() as usize, frame.height() as usize);
        let pixels = frame.pixels_mut();
        for y in 0..h {
            let shade = 0.35 + 0.35 * (y as f64 / h as f64);
            let [r, g, b] = hsv(hue, 0.45, shade);
            let row = &mut pixels[y * w * 4..(y + 1) * w * 4];
            for pixel in row.chunks_exact_mut(4) {
                pixel.copy_from_slice(&[r, g, b, 255]);
            }
        }
    }

    fn draw_taskbar(&self, frame: &mut Frame, y: i64, height: i64, t: f64) {
        let w = i64::from(frame.width());
        frame.fill_rect(0, y, w, height, TASKBAR);
        let icon = height - 8;
        frame.fill_rect(6, y + 4, icon, icon, self.accent());
        for i in 0..5 {
            let colour = hsv((self.seed.wrapping_add(i * 67) % 360) as f64, 0.6, 0.8);
            frame.fill_rect(
                16 + icon * (i as i64 + 1) + 6 * i as i64,
                y + 4,
                icon,
                icon,
                [colour[0], colour[1], colour[2], 255],
            );
        }
        // A clock of minutes and seconds since start, in a 3x5 digit font.
        let seconds = t as u64;
        let text = format!("{:02}:{:02}", (seconds / 60) % 100, seconds % 60);
        let dot = (height / 8).max(1);
        let x = w - (text.len() as i64) * 4 * dot - 12;
        for (i, c) in text.chars().enumerate() {
            draw_digit(
                frame,
                x + i as i64 * 4 * dot,
                y + (height - 5 * dot) / 2,
                dot,
                c,
                WHITE,
            );
        }
    }

    /// Draws lines of pseudo-text starting at line `first_line`; with `typed`,
    /// only that many characters, scrolled so the last typed line is visible.
    #[allow(clippy::too_many_arguments)]
    fn draw_text(
        &self,
        frame: &mut Frame,
        x: i64,
        y: i64,
        width: i64,
        height: i64,
        scale: i64,
        first_line: u64,
        typed: Option<u64>,
        ink: [u8; 4],
    ) {
        let (cell_w, cell_h) = (6 * scale, 11 * scale);
        let columns = (width / cell_w).max(1) as u64;
        let rows = (height / cell_h).max(1) as u64;
        let (first, limit) = match typed {
            Some(count) => {
                let last_line = count / columns;
                (
                    first_line + last_line.saturating_sub(rows - 1),
                    Some(first_line * columns + count),
                )
            }
            None => (first_line, None),
        };
        for row in 0..rows {
            let line = first + row;
            let line_len = columns - self.hash(line, 0) % (columns / 3 + 1);
            for column in 0..line_len {
                if limit.is_some_and(|l| line * columns + column >= l) {
                    return;
                }
                let h = self.hash(line, column + 1);
                if h.is_multiple_of(7) {
                    continue; // a space between words
                }
                let glyph = &self.glyphs[(h >> 8) as usize % self.glyphs.len()];
                let gx = x + column as i64 * cell_w;
                let gy = y + row as i64 * cell_h;
                for (r, bits) in glyph.iter().enumerate() {
                    for c in 0..5 {
                        if bits & (1 << c) != 0 {
                            frame.fill_rect(
                                gx + c * scale,
                                gy + r as i64 * scale,
                                scale,
                                scale,
                                ink,
                            );
                        }
                    }
                }
            }
        }
    }

    fn make_glyphs(&self) -> Vec<[u8; 7]> {
        (0..64)
            .map(|i| {
                let mut rows = [0u8; 7];
                for (r, row) in rows.iter_mut().enumerate() {
                    *row = (splitmix(self.seed ^ (i * 7 + r as u64)) & 0x1f) as u8;
                }
                rows
            })
            .collect()
    }

    fn hash(&self, a: u64, b: u64) -> u64 {
        splitmix(self.seed.wrapping_mul(0x9e37_79b9) ^ a.wrapping_mul(0x1000_0001) ^ b)
    }
}

impl CaptureSource for SyntheticDesktop {
    fn capture(&mut self, area: ScreenArea) -> Result<Frame, CaptureError> {
        match area {
            ScreenArea::Desktop | ScreenArea::Monitor(0) => Ok(self.render(self.started.elapsed())),
            ScreenArea::Monitor(index) => Err(CaptureError::NoSuchMonitor { index, count: 1 }),
        }
    }

    fn monitors(&mut self) -> Result<Vec<MonitorInfo>, CaptureError> {
        Ok(vec![MonitorInfo {
            x: 0,
            y: 0,
            width: self.width,
            height: self.height,
            primary: true,
        }])
    }

    fn change_counter(&mut self) -> Option<u64> {
        // A desktop at speed 0 never changes; a moving one changes all the time.
        (self.speed == 0.0).then_some(0)
    }

    fn describe(&self) -> String {
        format!("synthetic desktop {}x{}", self.width, self.height)
    }
}

fn window(frame: &mut Frame, x: i64, y: i64, w: i64, h: i64, title: i64, accent: [u8; 4]) {
    frame.fill_rect(x + 4, y + 4, w, h, [0, 0, 0, 255]); // shadow
    frame.fill_rect(x, y, w, h, WHITE);
    frame.fill_rect(x, y, w, title, accent);
    let button = title * 6 / 10;
    for i in 0..3 {
        frame.fill_rect(
            x + w - (i + 1) * (button + 6),
            y + (title - button) / 2,
            button,
            button,
            [235, 235, 235, 255],
        );
    }
}

/// A smooth, moving, photo-like picture: three waves (across, down and
/// diagonal) summed and mapped through a colour table, so each pixel costs a
/// few additions and one lookup.
fn draw_photo(frame: &mut Frame, x: i64, y: i64, w: i64, h: i64, t: f64) {
    const LEVELS: usize = 1024;
    let (fw, fh) = (i64::from(frame.width()), i64::from(frame.height()));
    let (w, h) = (w.max(1), h.max(1));
    let across: Vec<f64> = (0..w)
        .map(|c| (c as f64 / w as f64 * 7.0 + t * 0.9).sin())
        .collect();
    let down: Vec<f64> = (0..h)
        .map(|r| (r as f64 / h as f64 * 5.0 - t * 0.7).sin())
        .collect();
    let diagonal: Vec<f64> = (0..w + h)
        .map(|d| (d as f64 / (w + h) as f64 * 8.0 + t * 0.5).sin())
        .collect();
    let colours: Vec<[u8; 4]> = (0..LEVELS)
        .map(|i| {
            let a = i as f64 / (LEVELS - 1) as f64 * 6.0 - 3.0;
            let [r, g, b] = hsv(
                (200.0 + a * 40.0).rem_euclid(360.0),
                0.5 + 0.1 * a.sin(),
                0.45 + 0.12 * (a + 3.0) / 2.0,
            );
            [r, g, b, 255]
        })
        .collect();
    let stride = fw as usize * 4;
    let pixels = frame.pixels_mut();
    for row in y.max(0)..(y + h).min(fh) {
        let r = (row - y) as usize;
        for column in x.max(0)..(x + w).min(fw) {
            let c = (column - x) as usize;
            let a = across[c] + down[r] + diagonal[c + r];
            let level = ((a + 3.0) / 6.0 * (LEVELS - 1) as f64)
                .round()
                .clamp(0.0, (LEVELS - 1) as f64) as usize;
            let at = row as usize * stride + column as usize * 4;
            pixels[at..at + 4].copy_from_slice(&colours[level]);
        }
    }
}

/// Digits 0-9 and ':' in a 3x5 font, one row of three bits per five rows.
const DIGITS: [[u8; 5]; 11] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b001, 0b001, 0b001],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
    [0b000, 0b010, 0b000, 0b010, 0b000],
];

fn draw_digit(frame: &mut Frame, x: i64, y: i64, dot: i64, c: char, ink: [u8; 4]) {
    let index = match c {
        '0'..='9' => c as usize - '0' as usize,
        _ => 10,
    };
    for (r, bits) in DIGITS[index].iter().enumerate() {
        for column in 0..3 {
            if bits & (0b100 >> column) != 0 {
                frame.fill_rect(x + column * dot, y + r as i64 * dot, dot, dot, ink);
            }
        }
    }
}

fn hsv(hue: f64, saturation: f64, value: f64) -> [u8; 3] {
    let c = value * saturation;
    let h = hue / 60.0;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = value - c;
    let byte = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    [byte(r), byte(g), byte(b)]
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_is_a_function_of_time_and_it_moves() {
        let desktop = SyntheticDesktop::new(320, 200).with_seed(u64::MAX - 3);
        let at = |s| desktop.render(Duration::from_millis(s));
        assert_eq!(at(1500), at(1500));
        assert_ne!(at(1500), at(1600), "the photo region moves every frame");
        assert_eq!(at(0).width(), 320);
        assert_eq!(at(0).height(), 200);
    }

    #[test]
    fn devices_differ_by_seed_and_the_taskbar_stays_put() {
        let a = SyntheticDesktop::new(320, 200)
            .with_seed(1)
            .render(Duration::ZERO);
        let b = SyntheticDesktop::new(320, 200)
            .with_seed(2)
            .render(Duration::ZERO);
        assert_ne!(a, b);
        // The start button in the taskbar is the same a second later.
        let desktop = SyntheticDesktop::new(320, 200).with_seed(1);
        let (early, late) = (
            desktop.render(Duration::ZERO),
            desktop.render(Duration::from_secs(1)),
        );
        assert_eq!(early.pixel(10, 195), late.pixel(10, 195));
    }
}
