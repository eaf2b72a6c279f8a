//! The frame codec: a frame is cut into tiles, only the tiles that changed since
//! what the viewer has are sent, and each is encoded in a format a web view
//! decodes natively — PNG with a palette for text-like tiles (few colours,
//! exact), JPEG for photo-like ones (many colours, lossy). Neighbouring tiles of
//! one kind in a row travel as one image, which saves a header per tile.
//!
//! Encoder and decoder are pure functions over buffers plus the state of what
//! the viewer has; they know nothing of streams or sockets.

use std::io::Cursor;

use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

use crate::video::VideoDecoder;
use crate::{Frame, decode_png};

/// The side of a square tile, in pixels.
pub const TILE_SIZE: u32 = 64;
/// At most this many colours make a tile text-like (a PNG palette holds 256).
const PALETTE_LIMIT: usize = 256;
/// Up to this many colours a tile is text-like whatever their spread.
const FEW_COLOURS: usize = 32;
/// With more colours, a tile is text-like only if one colour (the background)
/// covers at least this share of it; gradients and photos have none.
const BACKGROUND_SHARE: f64 = 0.3;
/// At most this many tiles of one row are merged into one image.
const MAX_RUN: u32 = 16;

/// A rectangle of a frame, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TileRect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl TileRect {
    /// Whether this rectangle lies inside a frame of `width` × `height`.
    pub fn fits_in(&self, width: u32, height: u32) -> bool {
        self.width > 0
            && self.height > 0
            && self.x.checked_add(self.width).is_some_and(|r| r <= width)
            && self.y.checked_add(self.height).is_some_and(|b| b <= height)
    }

    /// Whether the two rectangles share a pixel.
    pub fn overlaps(&self, other: &TileRect) -> bool {
        self.x < other.x + other.width
            && other.x < self.x + self.width
            && self.y < other.y + other.height
            && other.y < self.y + self.height
    }
}

impl std::fmt::Display for TileRect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "({}, {}) of {}x{}",
            self.x, self.y, self.width, self.height
        )
    }
}

/// How a tile's pixels are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TileFormat {
    /// Lossless PNG (with a palette when the tile has few colours).
    Png,
    /// Lossy JPEG.
    Jpeg,
    /// A frame of an H.264 stream (broadcasts only; see [`crate::video`]).
    H264,
}

impl std::fmt::Display for TileFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Png => "PNG",
            Self::Jpeg => "JPEG",
            Self::H264 => "H.264",
        })
    }
}

/// One encoded rectangle of a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedTile {
    /// Where it goes.
    pub rect: TileRect,
    /// How `data` is encoded.
    pub format: TileFormat,
    /// The PNG or JPEG file.
    pub data: Vec<u8>,
}

/// The changes that bring a viewer's picture up to date with one frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedFrame {
    /// The frame's width.
    pub width: u32,
    /// The frame's height.
    pub height: u32,
    /// The changed rectangles; empty when nothing changed.
    pub tiles: Vec<EncodedTile>,
}

impl EncodedFrame {
    /// The bytes of all tile images together.
    pub fn data_len(&self) -> usize {
        self.tiles.iter().map(|t| t.data.len()).sum()
    }
}

/// Why encoded tiles could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// A tile's image does not decode.
    #[error("a {format:?} tile at {rect:?} does not decode: {reason}")]
    BadTile {
        /// Where it should go.
        rect: TileRect,
        /// Its format.
        format: TileFormat,
        /// What the decoder said.
        reason: String,
    },
    /// A tile's image is not the size of its rectangle.
    #[error("a tile at {rect:?} holds a {width}x{height} image")]
    WrongSize {
        /// Where it should go.
        rect: TileRect,
        /// The image's width.
        width: u32,
        /// The image's height.
        height: u32,
    },
    /// A tile lies outside the frame.
    #[error("a tile at {rect:?} lies outside the {width}x{height} frame")]
    OutOfBounds {
        /// The rectangle.
        rect: TileRect,
        /// The frame's width.
        width: u32,
        /// The frame's height.
        height: u32,
    },
}

/// The tiles of a `width` × `height` frame, row by row; edge tiles are smaller.
pub fn tile_grid(width: u32, height: u32) -> impl Iterator<Item = TileRect> {
    (0..height.div_ceil(TILE_SIZE)).flat_map(move |row| {
        (0..width.div_ceil(TILE_SIZE)).map(move |column| {
            let (x, y) = (column * TILE_SIZE, row * TILE_SIZE);
            TileRect {
                x,
                y,
                width: TILE_SIZE.min(width - x),
                height: TILE_SIZE.min(height - y),
            }
        })
    })
}

/// The tiles of `current` that differ from `previous`; all tiles when there is
/// no previous frame or its size differs.
pub fn changed_tiles(previous: Option<&Frame>, current: &Frame) -> Vec<TileRect> {
    let (width, height) = (current.width(), current.height());
    let Some(previous) = previous.filter(|p| (p.width(), p.height()) == (width, height)) else {
        return tile_grid(width, height).collect();
    };
    let columns = width.div_ceil(TILE_SIZE) as usize;
    let stride = width as usize * 4;
    let mut changed = Vec::new();
    let mut dirty = vec![false; columns];
    for tile_row in 0..height.div_ceil(TILE_SIZE) {
        dirty.fill(false);
        let top = tile_row * TILE_SIZE;
        let bottom = (top + TILE_SIZE).min(height);
        for y in top..bottom {
            let start = y as usize * stride;
            let (old, new) = (
                &previous.pixels()[start..start + stride],
                &current.pixels()[start..start + stride],
            );
            if old == new {
                continue; // the common case: one comparison for the whole line
            }
            for (column, flag) in dirty.iter_mut().enumerate().filter(|(_, f)| !**f) {
                let from = column * TILE_SIZE as usize * 4;
                let to = (from + TILE_SIZE as usize * 4).min(stride);
                *flag = old[from..to] != new[from..to];
            }
        }
        for (column, _) in dirty.iter().enumerate().filter(|(_, f)| **f) {
            let x = column as u32 * TILE_SIZE;
            changed.push(TileRect {
                x,
                y: top,
                width: TILE_SIZE.min(width - x),
                height: bottom - top,
            });
        }
    }
    changed
}

/// Encodes frames for one viewer, remembering what that viewer has.
#[derive(Debug)]
pub struct TileEncoder {
    previous: Option<Frame>,
    quality: u8,
}

impl TileEncoder {
    /// An encoder whose JPEG tiles use `quality` (1–100).
    pub fn new(quality: u8) -> Self {
        Self {
            previous: None,
            quality: quality.clamp(1, 100),
        }
    }

    /// Changes the JPEG quality of tiles encoded from now on.
    pub fn set_quality(&mut self, quality: u8) {
        self.quality = quality.clamp(1, 100);
    }

    /// Forgets what the viewer has: the next frame is sent whole.
    pub fn reset(&mut self) {
        self.previous = None;
    }

    /// The changes from what the viewer has to `frame`; remembers `frame`.
    pub fn encode(&mut self, frame: Frame) -> EncodedFrame {
        let changed = changed_tiles(self.previous.as_ref(), &frame);
        let encoded = encode_tiles(&frame, &changed, self.quality);
        self.previous = Some(frame);
        encoded
    }
}

/// Encodes the given tiles of `frame` (tiles from [`tile_grid`] or [`changed_tiles`]).
pub fn encode_tiles(frame: &Frame, tiles: &[TileRect], quality: u8) -> EncodedFrame {
    let mut encoded = Vec::new();
    let mut run: Option<Run> = None;
    for &tile in tiles {
        let mut colours = ColourSet::new();
        let text_like = colours.add(frame, tile) && colours.is_text_like();
        if let Some(current) = run.as_mut() {
            if current.extends_with(tile, text_like, frame) {
                continue;
            }
            if let Some(done) = run.take() {
                encoded.push(done.encode(frame, quality));
            }
        }
        run = Some(Run {
            rect: tile,
            colours: text_like.then_some(colours),
        });
    }
    if let Some(done) = run {
        encoded.push(done.encode(frame, quality));
    }
    EncodedFrame {
        width: frame.width(),
        height: frame.height(),
        tiles: encoded,
    }
}

/// Neighbouring tiles of one row and one kind, encoded as one image.
struct Run {
    rect: TileRect,
    /// The colours, for a text-like run.
    colours: Option<ColourSet>,
}

impl Run {
    /// Adds `tile` if it continues this run and is of the same kind.
    fn extends_with(&mut self, tile: TileRect, text_like: bool, frame: &Frame) -> bool {
        let adjacent = tile.y == self.rect.y
            && tile.height == self.rect.height
            && tile.x == self.rect.x + self.rect.width
            && self.rect.width + tile.width <= MAX_RUN * TILE_SIZE;
        if !adjacent || text_like != self.colours.is_some() {
            return false;
        }
        if let Some(colours) = &mut self.colours {
            // The merged run must still fit one palette.
            let mut merged = colours.clone();
            if !merged.add(frame, tile) {
                return false;
            }
            *colours = merged;
        }
        self.rect.width += tile.width;
        true
    }

    fn encode(self, frame: &Frame, quality: u8) -> EncodedTile {
        match self.colours {
            Some(colours) => EncodedTile {
                rect: self.rect,
                format: TileFormat::Png,
                data: encode_palette_png(frame, self.rect, &colours),
            },
            None => EncodedTile {
                rect: self.rect,
                format: TileFormat::Jpeg,
                data: encode_jpeg(frame, self.rect, quality),
            },
        }
    }
}

/// A small set of RGB colours with their palette indices (open addressing).
#[derive(Clone)]
struct ColourSet {
    slots: Box<[u32; 1024]>,
    palette: Vec<u32>,
    /// How many pixels have each palette colour.
    counts: Vec<u32>,
}

const EMPTY: u32 = u32::MAX;

impl ColourSet {
    fn new() -> Self {
        Self {
            slots: Box::new([EMPTY; 1024]),
            palette: Vec::new(),
            counts: Vec::new(),
        }
    }

    /// Few colours, or many with one dominant (text on a background).
    fn is_text_like(&self) -> bool {
        let total: u32 = self.counts.iter().sum();
        let dominant = self.counts.iter().copied().max().unwrap_or(0);
        self.palette.len() <= FEW_COLOURS
            || f64::from(dominant) >= BACKGROUND_SHARE * f64::from(total)
    }

    /// Adds the colours of `rect`; false as soon as there are more than a palette holds.
    fn add(&mut self, frame: &Frame, rect: TileRect) -> bool {
        let stride = frame.width() as usize * 4;
        let (mut last, mut last_index) = (EMPTY, 0usize);
        for y in rect.y..rect.y + rect.height {
            let start = y as usize * stride + rect.x as usize * 4;
            for pixel in frame.pixels()[start..start + rect.width as usize * 4].chunks_exact(4) {
                let rgb = u32::from_le_bytes([pixel[0], pixel[1], pixel[2], 0]);
                if rgb != last {
                    let Some(index) = self.index(rgb) else {
                        return false;
                    };
                    (last, last_index) = (rgb, usize::from(index));
                }
                self.counts[last_index] += 1;
            }
        }
        true
    }

    /// The palette index of `rgb`, inserting it; `None` when the palette is full.
    fn index(&mut self, rgb: u32) -> Option<u8> {
        let mut slot = (rgb.wrapping_mul(0x9e37_79b1) >> 22) as usize;
        loop {
            match self.slots[slot] {
                EMPTY => {
                    if self.palette.len() == PALETTE_LIMIT {
                        return None;
                    }
                    self.slots[slot] = (self.palette.len() as u32) << 24 | rgb;
                    self.palette.push(rgb);
                    self.counts.push(0);
                    return Some((self.palette.len() - 1) as u8);
                }
                entry if entry & 0x00ff_ffff == rgb => return Some((entry >> 24) as u8),
                _ => slot = (slot + 1) % self.slots.len(),
            }
        }
    }
}

/// Encodes `rect` as an indexed PNG with the smallest bit depth that holds its colours.
fn encode_palette_png(frame: &Frame, rect: TileRect, colours: &ColourSet) -> Vec<u8> {
    let mut colours = colours.clone();
    let depth = match colours.palette.len() {
        0..=2 => png::BitDepth::One,
        3..=4 => png::BitDepth::Two,
        5..=16 => png::BitDepth::Four,
        _ => png::BitDepth::Eight,
    };
    let bits = depth as usize;
    let row_bytes = (rect.width as usize * bits).div_ceil(8);
    let mut indices = vec![0u8; row_bytes * rect.height as usize];
    let stride = frame.width() as usize * 4;
    for row in 0..rect.height as usize {
        let start = (rect.y as usize + row) * stride + rect.x as usize * 4;
        let line = &frame.pixels()[start..start + rect.width as usize * 4];
        let out = &mut indices[row * row_bytes..(row + 1) * row_bytes];
        for (column, pixel) in line.chunks_exact(4).enumerate() {
            // Every colour of the rect is in the set already.
            let index = colours
                .index(u32::from_le_bytes([pixel[0], pixel[1], pixel[2], 0]))
                .unwrap_or(0);
            let bit = column * bits;
            out[bit / 8] |= index << (8 - bits - bit % 8);
        }
    }
    let palette: Vec<u8> = colours
        .palette
        .iter()
        .flat_map(|c| {
            let [r, g, b, _] = c.to_le_bytes();
            [r, g, b]
        })
        .collect();
    let mut data = Vec::with_capacity(indices.len() / 2 + palette.len() + 64);
    let mut encoder = png::Encoder::new(&mut data, rect.width, rect.height);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(depth);
    encoder.set_palette(palette);
    encoder.set_compression(png::Compression::Fast);
    // Writing to a Vec with a consistent header and buffer cannot fail.
    if let Ok(mut writer) = encoder.write_header() {
        let _ = writer.write_image_data(&indices);
    }
    data
}

/// Encodes `rect` as a JPEG of `quality`.
fn encode_jpeg(frame: &Frame, rect: TileRect, quality: u8) -> Vec<u8> {
    let stride = frame.width() as usize * 4;
    let mut pixels = Vec::with_capacity(rect.width as usize * rect.height as usize * 4);
    for y in rect.y..rect.y + rect.height {
        let start = y as usize * stride + rect.x as usize * 4;
        pixels.extend_from_slice(&frame.pixels()[start..start + rect.width as usize * 4]);
    }
    let mut data = Vec::with_capacity(pixels.len() / 10);
    let encoder = jpeg_encoder::Encoder::new(&mut data, quality);
    // Tiles are at most MAX_RUN * TILE_SIZE wide and TILE_SIZE high: they fit u16,
    // and the buffer has exactly their pixels, so encoding cannot fail.
    let _ = encoder.encode(
        &pixels,
        rect.width as u16,
        rect.height as u16,
        jpeg_encoder::ColorType::Rgba,
    );
    data
}

/// Decodes one tile's image into a frame of the tile's size.
pub fn decode_tile(tile: &EncodedTile) -> Result<Frame, CodecError> {
    let bad = |reason: String| CodecError::BadTile {
        rect: tile.rect,
        format: tile.format,
        reason,
    };
    let frame = match tile.format {
        TileFormat::H264 => {
            return Err(bad("an H.264 frame decodes only in its stream".into()));
        }
        TileFormat::Png => decode_png(&tile.data).map_err(|e| bad(e.to_string()))?,
        TileFormat::Jpeg => {
            let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGBA);
            let mut decoder = JpegDecoder::new_with_options(Cursor::new(&tile.data), options);
            let pixels = decoder.decode().map_err(|e| bad(e.to_string()))?;
            let info = decoder
                .info()
                .ok_or_else(|| bad("no image information".into()))?;
            Frame::new(u32::from(info.width), u32::from(info.height), pixels)
                .map_err(|e| bad(e.to_string()))?
        }
    };
    if (frame.width(), frame.height()) != (tile.rect.width, tile.rect.height) {
        return Err(CodecError::WrongSize {
            rect: tile.rect,
            width: frame.width(),
            height: frame.height(),
        });
    }
    Ok(frame)
}

/// Rebuilds a viewer's picture from encoded frames.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    canvas: Option<Frame>,
    /// The H.264 stream of a broadcast's moving part, and where it goes.
    video: Option<(TileRect, VideoDecoder)>,
}

impl FrameDecoder {
    /// A decoder with no picture yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The picture so far.
    pub fn frame(&self) -> Option<&Frame> {
        self.canvas.as_ref()
    }

    /// Applies `encoded`; a new size starts a new (black) picture. On error
    /// the picture is left as it was before this frame — but for H.264
    /// frames, which come after the images: one that does not decode ends
    /// its stream (the images are shown, the next keyframe starts anew).
    pub fn apply(&mut self, encoded: &EncodedFrame) -> Result<&Frame, CodecError> {
        let (width, height) = (encoded.width.max(1), encoded.height.max(1));
        let mut decoded = Vec::with_capacity(encoded.tiles.len());
        let mut video = Vec::new();
        for tile in &encoded.tiles {
            if !tile.rect.fits_in(width, height) {
                return Err(CodecError::OutOfBounds {
                    rect: tile.rect,
                    width,
                    height,
                });
            }
            if tile.format == TileFormat::H264 {
                video.push(tile);
            } else {
                decoded.push((tile.rect, decode_tile(tile)?));
            }
        }
        if self
            .canvas
            .as_ref()
            .is_none_or(|c| (c.width(), c.height()) != (width, height))
        {
            self.canvas = Some(Frame::filled(width, height, [0, 0, 0, 255]));
        }
        let canvas = self
            .canvas
            .get_or_insert_with(|| Frame::filled(width, height, [0, 0, 0, 255]));
        for (rect, picture) in &decoded {
            canvas.blit(picture, rect.x, rect.y);
        }
        if let Some(last) = video.last() {
            match self.decode_video(&video) {
                Ok(picture) => {
                    if let (Some(picture), Some(canvas)) = (picture, self.canvas.as_mut()) {
                        canvas.blit(&picture, last.rect.x, last.rect.y);
                    }
                }
                Err(error) => {
                    self.end_video();
                    return Err(error);
                }
            }
        }
        Ok(self
            .canvas
            .get_or_insert_with(|| Frame::filled(width, height, [0, 0, 0, 255])))
    }

    /// Decodes an update's H.264 frames in order (a new rectangle starts a
    /// new stream); the last one's picture, if it gave one.
    fn decode_video(&mut self, tiles: &[&EncodedTile]) -> Result<Option<Frame>, CodecError> {
        let mut picture = None;
        for (index, tile) in tiles.iter().enumerate() {
            let bad = |reason: String| CodecError::BadTile {
                rect: tile.rect,
                format: tile.format,
                reason,
            };
            let decoder = match &mut self.video {
                Some((rect, decoder)) if *rect == tile.rect => decoder,
                video => {
                    let decoder = VideoDecoder::new().map_err(|e| bad(e.to_string()))?;
                    &mut video.insert((tile.rect, decoder)).1
                }
            };
            let last = index + 1 == tiles.len();
            picture = decoder
                .decode(&tile.data, last)
                .map_err(|e| bad(e.to_string()))?;
        }
        if let (Some(frame), Some(tile)) = (&picture, tiles.last())
            && (frame.width(), frame.height()) != (tile.rect.width, tile.rect.height)
        {
            return Err(CodecError::WrongSize {
                rect: tile.rect,
                width: frame.width(),
                height: frame.height(),
            });
        }
        Ok(picture)
    }

    /// Forgets the H.264 stream; only a keyframe continues it.
    fn end_video(&mut self) {
        self.video = None;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::SyntheticDesktop;

    fn round_trip(frame: &Frame, quality: u8) -> (EncodedFrame, Frame) {
        let encoded = TileEncoder::new(quality).encode(frame.clone());
        let decoded = FrameDecoder::new().apply(&encoded).unwrap().clone();
        (encoded, decoded)
    }

    /// Mean and largest absolute difference per channel (RGB).
    fn error(a: &Frame, b: &Frame, rect: TileRect) -> (f64, u8) {
        let (mut sum, mut max, mut count) = (0u64, 0u8, 0u64);
        for y in rect.y..rect.y + rect.height {
            for x in rect.x..rect.x + rect.width {
                let (p, q) = (a.pixel(x, y).unwrap(), b.pixel(x, y).unwrap());
                for c in 0..3 {
                    let d = p[c].abs_diff(q[c]);
                    sum += u64::from(d);
                    max = max.max(d);
                    count += 1;
                }
            }
        }
        (sum as f64 / count as f64, max)
    }

    #[test]
    fn text_like_tiles_are_lossless_png_and_exact() {
        let mut frame = Frame::filled(200, 130, [250, 250, 248, 255]);
        for i in 0..40 {
            frame.fill_rect(i * 5, i * 3, 3, 7, [48, 52, 60, 255]);
            frame.fill_rect(190 - i * 4, 10 + i, 2, 2, [(i * 6) as u8, 100, 200, 255]);
        }
        let (encoded, decoded) = round_trip(&frame, 60);
        assert!(encoded.tiles.iter().all(|t| t.format == TileFormat::Png));
        assert_eq!(decoded, frame);
    }

    #[test]
    fn photo_like_tiles_are_jpeg_within_a_bound() {
        let desktop = SyntheticDesktop::new(1280, 720).with_seed(3);
        let frame = desktop.render(Duration::from_millis(2500));
        // The photo window of the synthetic desktop.
        let photo = TileRect {
            x: 768,
            y: 384,
            width: 448,
            height: 192,
        };
        let (encoded, decoded) = round_trip(&frame, 80);
        assert!(
            encoded
                .tiles
                .iter()
                .any(|t| t.format == TileFormat::Jpeg && t.rect.overlaps(&photo))
        );
        let (mean, max) = error(&frame, &decoded, photo);
        assert!(mean < 3.0, "mean error {mean}");
        assert!(max < 48, "largest error {max}");
        // The text-like rest of the screen is exact.
        let document = TileRect {
            x: 64,
            y: 64,
            width: 512,
            height: 384,
        };
        let exact = encoded
            .tiles
            .iter()
            .filter(|t| t.rect.overlaps(&document))
            .all(|t| t.format == TileFormat::Png);
        assert!(exact, "the document window is text-like");
        assert_eq!(error(&frame, &decoded, document), (0.0, 0));
    }

    #[test]
    fn only_changed_tiles_are_found_and_sent() {
        let mut frame = Frame::filled(300, 200, [10, 20, 30, 255]);
        assert_eq!(changed_tiles(None, &frame).len(), 5 * 4);
        let before = frame.clone();
        assert!(changed_tiles(Some(&before), &frame).is_empty());
        frame.fill_rect(130, 70, 1, 1, [255, 0, 0, 255]);
        frame.fill_rect(299, 199, 1, 1, [0, 255, 0, 255]);
        let changed = changed_tiles(Some(&before), &frame);
        assert_eq!(
            changed,
            [
                TileRect {
                    x: 128,
                    y: 64,
                    width: 64,
                    height: 64
                },
                TileRect {
                    x: 256,
                    y: 192,
                    width: 44,
                    height: 8
                },
            ]
        );
        let mut encoder = TileEncoder::new(70);
        encoder.encode(before);
        let update = encoder.encode(frame.clone());
        assert_eq!(update.tiles.len(), 2);
        assert!(
            encoder.encode(frame).tiles.is_empty(),
            "an unchanged frame costs nothing"
        );
    }

    #[test]
    fn updates_rebuild_the_frame_and_a_new_size_starts_over() {
        let desktop = SyntheticDesktop::new(640, 360).with_seed(9);
        let mut encoder = TileEncoder::new(90);
        let mut decoder = FrameDecoder::new();
        let mut last = None;
        for ms in [0, 700, 1400, 2100, 4300] {
            let frame = desktop.render(Duration::from_millis(ms));
            decoder.apply(&encoder.encode(frame.clone())).unwrap();
            last = Some(frame);
        }
        let (last, picture) = (last.unwrap(), decoder.frame().unwrap());
        let all = TileRect {
            x: 0,
            y: 0,
            width: 640,
            height: 360,
        };
        let (mean, _) = error(&last, picture, all);
        assert!(mean < 1.5, "mean error {mean} after five updates");

        let smaller = SyntheticDesktop::new(320, 180).render(Duration::ZERO);
        let update = encoder.encode(smaller.clone());
        assert_eq!(
            update
                .tiles
                .iter()
                .map(|t| u64::from(t.rect.width) * u64::from(t.rect.height))
                .sum::<u64>(),
            320 * 180
        );
        assert_eq!(decoder.apply(&update).unwrap().width(), 320);
    }

    #[test]
    fn a_4k_screen_round_trips() {
        let frame = SyntheticDesktop::new(3840, 2160)
            .with_seed(4)
            .render(Duration::from_secs(3));
        let (encoded, decoded) = round_trip(&frame, 75);
        assert_eq!((decoded.width(), decoded.height()), (3840, 2160));
        let all = TileRect {
            x: 0,
            y: 0,
            width: 3840,
            height: 2160,
        };
        let (mean, _) = error(&frame, &decoded, all);
        assert!(mean < 1.5, "mean error {mean}");
        assert!(
            encoded.data_len() < frame.pixels().len() / 10,
            "{} bytes",
            encoded.data_len()
        );
    }

    #[test]
    fn bad_tiles_are_errors_and_leave_the_picture_alone() {
        let frame = Frame::filled(128, 64, [1, 2, 3, 255]);
        let mut decoder = FrameDecoder::new();
        let good = TileEncoder::new(80).encode(frame.clone());
        decoder.apply(&good).unwrap();
        let mut outside = good.clone();
        outside.tiles[0].rect.x = 100;
        assert!(matches!(
            decoder.apply(&outside),
            Err(CodecError::OutOfBounds { .. })
        ));
        let mut garbage = good.clone();
        garbage.tiles[0].data = vec![0x89, b'P', b'N', b'G', 1, 2, 3];
        assert!(matches!(
            decoder.apply(&garbage),
            Err(CodecError::BadTile { .. })
        ));
        let mut wrong_size = good;
        wrong_size.tiles[0].rect.width = 64;
        assert!(matches!(
            decoder.apply(&wrong_size),
            Err(CodecError::WrongSize { .. })
        ));
        assert_eq!(decoder.frame(), Some(&frame));
    }

    #[test]
    fn many_colours_without_a_background_are_photo_like() {
        let mut frame = Frame::filled(64, 64, [0, 0, 0, 255]);
        for at in 0..64 * 64u32 {
            let i = at % 200;
            frame.fill_rect(
                i64::from(at % 64),
                i64::from(at / 64),
                1,
                1,
                [i as u8, 255 - i as u8, 128, 255],
            );
        }
        assert_eq!(round_trip(&frame, 80).0.tiles[0].format, TileFormat::Jpeg);
    }

    #[test]
    fn every_palette_size_round_trips_exactly() {
        for colours in [1u32, 2, 3, 4, 5, 16, 17, 255, 256] {
            let mut frame = Frame::filled(37, 23, [0, 0, 0, 255]);
            // Half the pixels are background, the rest cycle through the other colours.
            for at in 0..37 * 23u32 {
                let i = if at % 2 == 0 || colours == 1 {
                    0
                } else {
                    1 + (at / 2) % (colours - 1)
                };
                frame.fill_rect(
                    i64::from(at % 37),
                    i64::from(at / 37),
                    1,
                    1,
                    [i as u8, (i * 7) as u8, 255 - i as u8, 255],
                );
            }
            let (encoded, decoded) = round_trip(&frame, 50);
            assert_eq!(
                encoded.tiles[0].format,
                TileFormat::Png,
                "{colours} colours"
            );
            assert_eq!(decoded, frame, "{colours} colours");
        }
    }
}
