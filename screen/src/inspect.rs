//! Pictures from the other end, checked before anything decodes or shows them.
//!
//! A console trusts no agent: an agent with a valid device certificate may
//! still be broken or in a student's hands. Every screen update is checked
//! here before it reaches a decoder, `pultctl` or the web view, and every
//! screenshot is checked and decoded here before it is saved. The checks read
//! only headers (the PNG `IHDR` chunk, the JPEG frame header), so a file that
//! claims to be 20,000×20,000 pixels is refused before a single pixel is
//! allocated; only [`decode_screenshot`] decodes, and only after its header
//! passed.
//!
//! Everything here is a pure function over bytes.

use std::fmt;
use std::io::Cursor;

use image::ImageDecoder;
use image::codecs::png::PngDecoder;

use crate::Frame;
use crate::codec::{TILE_SIZE, TileFormat, TileRect};

/// The widest and tallest screenshot the console decodes (the largest size a
/// screen stream may ask for, too).
pub const MAX_SIDE: u32 = 16_384;

/// The most pixels a screenshot may have: six 4K monitors' worth, 200 MB
/// decoded. Larger screenshots are refused from the header.
pub const MAX_SCREENSHOT_PIXELS: u64 = 50_000_000;

/// The size of a picture in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PictureSize {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl PictureSize {
    /// A size of `width` × `height`.
    pub const fn new(width: u32, height: u32) -> Self {
        Self { width, height }
    }

    /// Whether a picture of this size fits in `bound` (both sides at most).
    pub fn fits_in(self, bound: PictureSize) -> bool {
        self.width <= bound.width && self.height <= bound.height
    }

    /// The smallest size that both `self` and `other` fit in.
    pub fn union(self, other: PictureSize) -> PictureSize {
        PictureSize::new(self.width.max(other.width), self.height.max(other.height))
    }

    /// How many pixels a picture of this size has.
    pub fn pixels(self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// How many tiles of the codec's grid a picture of this size has: the
    /// most an honest encoder sends in one update (it merges, never splits).
    pub fn grid_tiles(self) -> u64 {
        u64::from(self.width.div_ceil(TILE_SIZE)) * u64::from(self.height.div_ceil(TILE_SIZE))
    }
}

impl fmt::Display for PictureSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// One tile of an update as it arrived: where it claims to go, its format and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct TileView<'a> {
    /// Where the tile claims to go.
    pub rect: TileRect,
    /// The format it claims to be in.
    pub format: TileFormat,
    /// The image file.
    pub data: &'a [u8],
}

/// Why a picture from the other end is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PictureProblem {
    /// The picture is larger than the console asked for.
    #[error("the picture is {actual}, larger than the {allowed} asked for")]
    TooLarge {
        /// The picture's size.
        actual: PictureSize,
        /// The largest size allowed.
        allowed: PictureSize,
    },
    /// An update brought more tiles than its picture has.
    #[error("an update brought more than {max} tiles; a {size} picture has {max}")]
    TooManyTiles {
        /// The picture's size.
        size: PictureSize,
        /// The most tiles allowed.
        max: u64,
    },
    /// A tile lies (partly) outside the picture, or is empty.
    #[error("a tile at {rect} lies outside the {size} picture")]
    OutOfBounds {
        /// The tile's rectangle.
        rect: TileRect,
        /// The picture's size.
        size: PictureSize,
    },
    /// The tiles of one update cover more pixels than the picture has, so
    /// they overlap: decoding them would cost more than one picture.
    #[error("the tiles of one update cover more pixels than the {size} picture has")]
    Overlapping {
        /// The picture's size.
        size: PictureSize,
    },
    /// A tile is not an image file of the format it claims.
    #[error("a {format} tile at {rect} is not a {format} file: {reason}")]
    NotAnImage {
        /// The tile's rectangle.
        rect: TileRect,
        /// The format it claims.
        format: TileFormat,
        /// What is wrong with its header.
        reason: HeaderError,
    },
    /// A tile's image header names another size than the tile's rectangle.
    #[error("a {format} tile at {rect} holds a {image} image")]
    WrongTileSize {
        /// The tile's rectangle.
        rect: TileRect,
        /// Its format.
        format: TileFormat,
        /// The size its header names.
        image: PictureSize,
    },
    /// An H.264 tile where only images may come (a student's stream).
    #[error("an H.264 tile at {rect} where only PNG and JPEG tiles may come")]
    VideoNotAllowed {
        /// The tile's rectangle.
        rect: TileRect,
    },
    /// An update brought more frames of video than a stream has between
    /// two keyframes.
    #[error("an update brought more than {max} H.264 frames")]
    TooManyVideoFrames {
        /// The most allowed.
        max: u32,
    },
    /// The H.264 tiles of one update lie in two places, or in one of odd size.
    #[error(
        "an H.264 tile at {rect} does not continue the stream at {stream} (one even-sized rectangle per update)"
    )]
    VideoPlace {
        /// The tile's rectangle.
        rect: TileRect,
        /// The first H.264 tile's rectangle in the update.
        stream: TileRect,
    },
    /// A screenshot is not a PNG file.
    #[error("the screenshot is not a PNG file: {0}")]
    ScreenshotNotPng(HeaderError),
    /// A screenshot's header names a size beyond the console's limits.
    #[error(
        "the screenshot claims {0}, beyond the limit of {MAX_SIDE}x{MAX_SIDE} and {MAX_SCREENSHOT_PIXELS} pixels"
    )]
    ScreenshotTooLarge(PictureSize),
    /// A screenshot's header names another size than its message.
    #[error("the screenshot claims to be {claimed} but its PNG header says {header}")]
    ScreenshotSizeMismatch {
        /// The size in the screenshot message.
        claimed: PictureSize,
        /// The size in the PNG header.
        header: PictureSize,
    },
    /// A screenshot's header is fine but its pixels do not decode.
    #[error("the screenshot does not decode: {0}")]
    ScreenshotUndecodable(String),
}

/// What is wrong with an image file's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The file does not start as the format does.
    #[error("its signature is missing")]
    Signature,
    /// The file ends inside its header.
    #[error("it ends inside its header")]
    Truncated,
    /// The header is not where or what the format demands.
    #[error("its header is malformed")]
    Malformed,
    /// The header names a width or height of zero.
    #[error("its header names an empty picture")]
    Empty,
}

/// Checks one screen update of `size` with `tiles` against the largest
/// picture the console allows at this point of the stream (`allowed`):
/// the picture fits, there are no more tiles than its grid has, every tile
/// lies inside it, together they cover at most the picture, and each tile's
/// PNG or JPEG header names exactly the tile's rectangle.
/// H.264 tiles are refused: a student's stream carries images.
pub fn check_update<'a>(
    size: PictureSize,
    tiles: impl IntoIterator<Item = TileView<'a>>,
    allowed: PictureSize,
) -> Result<(), PictureProblem> {
    check_layered_update(size, tiles, allowed, 1, 0)
}

/// Checks an update as [`check_update`] does, but lets its tiles cover the
/// picture up to `layers` times over, in area and in number: a broadcast's
/// catch-up update carries older tiles that newer ones partly cover. Up to
/// `video_frames` H.264 tiles may come too, all of one rectangle of even
/// sides (one stream, [`crate::codec::TileFormat::H264`]); they are frames
/// of one place, not layers, and are not counted as such.
pub fn check_layered_update<'a>(
    size: PictureSize,
    tiles: impl IntoIterator<Item = TileView<'a>>,
    allowed: PictureSize,
    layers: u32,
    video_frames: u32,
) -> Result<(), PictureProblem> {
    if !size.fits_in(allowed) {
        return Err(PictureProblem::TooLarge {
            actual: size,
            allowed,
        });
    }
    let layers = u64::from(layers.max(1));
    let max = size.grid_tiles() * layers;
    let (mut count, mut covered) = (0u64, 0u64);
    let (mut frames, mut stream) = (0u32, None::<TileRect>);
    for tile in tiles {
        if tile.format == TileFormat::H264 {
            check_video_tile(size, &tile, video_frames, &mut frames, &mut stream)?;
            continue;
        }
        count += 1;
        if count > max {
            return Err(PictureProblem::TooManyTiles { size, max });
        }
        if !tile.rect.fits_in(size.width, size.height) {
            return Err(PictureProblem::OutOfBounds {
                rect: tile.rect,
                size,
            });
        }
        covered += u64::from(tile.rect.width) * u64::from(tile.rect.height);
        if covered > size.pixels() * layers {
            return Err(PictureProblem::Overlapping { size });
        }
        let image =
            image_size(tile.format, tile.data).map_err(|reason| PictureProblem::NotAnImage {
                rect: tile.rect,
                format: tile.format,
                reason,
            })?;
        if image != PictureSize::new(tile.rect.width, tile.rect.height) {
            return Err(PictureProblem::WrongTileSize {
                rect: tile.rect,
                format: tile.format,
                image,
            });
        }
    }
    Ok(())
}

/// One H.264 tile of an update: allowed at all, not one too many, inside
/// the picture, of even sides, where the update's first one was.
fn check_video_tile(
    size: PictureSize,
    tile: &TileView<'_>,
    allowed: u32,
    frames: &mut u32,
    stream: &mut Option<TileRect>,
) -> Result<(), PictureProblem> {
    let rect = tile.rect;
    if allowed == 0 {
        return Err(PictureProblem::VideoNotAllowed { rect });
    }
    *frames += 1;
    if *frames > allowed {
        return Err(PictureProblem::TooManyVideoFrames { max: allowed });
    }
    if !rect.fits_in(size.width, size.height) {
        return Err(PictureProblem::OutOfBounds { rect, size });
    }
    let first = *stream.get_or_insert(rect);
    if first != rect || !rect.width.is_multiple_of(2) || !rect.height.is_multiple_of(2) {
        return Err(PictureProblem::VideoPlace {
            rect,
            stream: first,
        });
    }
    if tile.data.is_empty() {
        return Err(PictureProblem::NotAnImage {
            rect,
            format: TileFormat::H264,
            reason: HeaderError::Empty,
        });
    }
    Ok(())
}

/// Decodes a screenshot the agent says is `claimed` large: its PNG header
/// must name that size within [`MAX_SIDE`] and [`MAX_SCREENSHOT_PIXELS`]
/// (checked before anything is allocated), and its pixels must decode.
pub fn decode_screenshot(png: &[u8], claimed: PictureSize) -> Result<Frame, PictureProblem> {
    let header = image_size(TileFormat::Png, png).map_err(PictureProblem::ScreenshotNotPng)?;
    if !header.fits_in(PictureSize::new(MAX_SIDE, MAX_SIDE))
        || header.pixels() > MAX_SCREENSHOT_PIXELS
    {
        return Err(PictureProblem::ScreenshotTooLarge(header));
    }
    if header != claimed {
        return Err(PictureProblem::ScreenshotSizeMismatch { claimed, header });
    }
    let undecodable = |e: image::ImageError| PictureProblem::ScreenshotUndecodable(e.to_string());
    // The decoder's own limits again, should it read the header differently.
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_SCREENSHOT_PIXELS * 8);
    let decoder = PngDecoder::with_limits(Cursor::new(png), limits).map_err(undecodable)?;
    if decoder.dimensions() != (claimed.width, claimed.height) {
        return Err(PictureProblem::ScreenshotSizeMismatch {
            claimed,
            header: PictureSize::new(decoder.dimensions().0, decoder.dimensions().1),
        });
    }
    let image = image::DynamicImage::from_decoder(decoder)
        .map_err(undecodable)?
        .into_rgba8();
    let (width, height) = image.dimensions();
    Frame::new(width, height, image.into_raw())
        .map_err(|e| PictureProblem::ScreenshotUndecodable(e.to_string()))
}

/// The size an image file's header names, read from the header alone.
pub fn image_size(format: TileFormat, data: &[u8]) -> Result<PictureSize, HeaderError> {
    let size = match format {
        TileFormat::Png => png_size(data)?,
        TileFormat::Jpeg => jpeg_size(data)?,
        // A stream's frame names no size of its own; see `check_video_tile`.
        TileFormat::H264 => return Err(HeaderError::Malformed),
    };
    if size.width == 0 || size.height == 0 {
        return Err(HeaderError::Empty);
    }
    Ok(size)
}

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// A PNG starts with its signature and then the `IHDR` chunk: length 13,
/// type, width and height as big-endian u32.
fn png_size(data: &[u8]) -> Result<PictureSize, HeaderError> {
    if !data.starts_with(&PNG_SIGNATURE) {
        return Err(HeaderError::Signature);
    }
    let chunk = data.get(8..24).ok_or(HeaderError::Truncated)?;
    if chunk[..8] != [0, 0, 0, 13, b'I', b'H', b'D', b'R'] {
        return Err(HeaderError::Malformed);
    }
    let number =
        |at: usize| u32::from_be_bytes([chunk[at], chunk[at + 1], chunk[at + 2], chunk[at + 3]]);
    Ok(PictureSize::new(number(8), number(12)))
}

/// A JPEG starts with SOI and holds a frame header (SOF0–SOF15 but for
/// DHT, JPG and DAC) before its first scan: precision, height, width as
/// big-endian u16. Segments before it are skipped by their lengths.
fn jpeg_size(data: &[u8]) -> Result<PictureSize, HeaderError> {
    if !data.starts_with(&[0xff, 0xd8]) {
        return Err(HeaderError::Signature);
    }
    let byte = |at: usize| data.get(at).copied().ok_or(HeaderError::Truncated);
    let mut at = 2;
    loop {
        if byte(at)? != 0xff {
            return Err(HeaderError::Malformed);
        }
        // Any number of 0xff fill bytes may precede a marker.
        while byte(at)? == 0xff {
            at += 1;
        }
        let marker = byte(at)?;
        at += 1;
        match marker {
            // Markers without a segment.
            0x01 | 0xd0..=0xd7 => continue,
            // A second SOI, the end of the image or a scan before any frame header.
            0xd8..=0xda => return Err(HeaderError::Malformed),
            _ => {}
        }
        let length = usize::from(u16::from_be_bytes([byte(at)?, byte(at + 1)?]));
        if length < 2 {
            return Err(HeaderError::Malformed);
        }
        let frame_header = matches!(marker, 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc);
        if frame_header {
            if length < 8 {
                return Err(HeaderError::Malformed);
            }
            let height = u16::from_be_bytes([byte(at + 3)?, byte(at + 4)?]);
            let width = u16::from_be_bytes([byte(at + 5)?, byte(at + 6)?]);
            return Ok(PictureSize::new(u32::from(width), u32::from(height)));
        }
        at += length;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::TileEncoder;
    use crate::{SyntheticDesktop, encode_png};

    /// A PNG that is only a signature and a header naming `width` × `height`.
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut data = PNG_SIGNATURE.to_vec();
        data.extend([0, 0, 0, 13]);
        data.extend(b"IHDR");
        data.extend(width.to_be_bytes());
        data.extend(height.to_be_bytes());
        data.extend([8, 6, 0, 0, 0]);
        data.extend([0; 4]); // CRC, which the header check does not read
        data
    }

    /// A real update of a photo-and-text desktop: PNG and JPEG tiles.
    fn real_update(width: u32, height: u32) -> crate::codec::EncodedFrame {
        let frame = SyntheticDesktop::new(width, height)
            .with_seed(5)
            .render(std::time::Duration::from_secs(2));
        TileEncoder::new(70).encode(frame)
    }

    fn views(frame: &crate::codec::EncodedFrame) -> Vec<TileView<'_>> {
        frame
            .tiles
            .iter()
            .map(|t| TileView {
                rect: t.rect,
                format: t.format,
                data: &t.data,
            })
            .collect()
    }

    fn rect(x: u32, y: u32, width: u32, height: u32) -> TileRect {
        TileRect {
            x,
            y,
            width,
            height,
        }
    }

    #[test]
    fn honest_updates_pass_with_both_formats() {
        let update = real_update(1280, 720);
        let formats: std::collections::HashSet<_> = update.tiles.iter().map(|t| t.format).collect();
        assert_eq!(
            formats.len(),
            2,
            "the synthetic desktop has text and a photo"
        );
        let size = PictureSize::new(1280, 720);
        assert_eq!(check_update(size, views(&update), size), Ok(()));
        for tile in &update.tiles {
            assert_eq!(
                image_size(tile.format, &tile.data),
                Ok(PictureSize::new(tile.rect.width, tile.rect.height))
            );
        }
    }

    #[test]
    fn a_picture_larger_than_asked_is_refused() {
        let update = real_update(640, 360);
        let problem = check_update(
            PictureSize::new(640, 360),
            views(&update),
            PictureSize::new(320, 360),
        );
        assert!(matches!(problem, Err(PictureProblem::TooLarge { .. })));
        // A keep-alive claiming a huge size is refused as well: a decoder
        // would make a canvas of that size.
        let problem = check_update(
            PictureSize::new(20_000, 20_000),
            [],
            PictureSize::new(320, 180),
        );
        assert!(matches!(problem, Err(PictureProblem::TooLarge { .. })));
    }

    #[test]
    fn tiles_outside_the_picture_are_refused() {
        let size = PictureSize::new(128, 64);
        let data = png_header(64, 64);
        for outside in [
            rect(100, 0, 64, 64),
            rect(0, 1, 64, 64),
            rect(u32::MAX, 0, 64, 64),
            rect(0, 0, 0, 64),
        ] {
            let tile = TileView {
                rect: outside,
                format: TileFormat::Png,
                data: &data,
            };
            assert!(
                matches!(
                    check_update(size, [tile], size),
                    Err(PictureProblem::OutOfBounds { .. })
                ),
                "{outside:?}"
            );
        }
    }

    #[test]
    fn video_tiles_come_only_where_allowed_in_one_even_place_and_not_too_many() {
        let size = PictureSize::new(256, 128);
        let frame = [0, 0, 0, 1, 0x65, 1, 2, 3];
        let video = |rect| TileView {
            rect,
            format: TileFormat::H264,
            data: &frame,
        };
        let place = rect(64, 0, 128, 64);
        // Whole-screen frames many times over are a stream, not layers.
        assert_eq!(
            check_layered_update(size, [video(place); 4], size, 1, 4),
            Ok(())
        );
        assert_eq!(
            check_update(size, [video(place)], size),
            Err(PictureProblem::VideoNotAllowed { rect: place })
        );
        assert_eq!(
            check_layered_update(size, [video(place); 5], size, 1, 4),
            Err(PictureProblem::TooManyVideoFrames { max: 4 })
        );
        let elsewhere = rect(0, 0, 128, 64);
        assert_eq!(
            check_layered_update(size, [video(place), video(elsewhere)], size, 1, 4),
            Err(PictureProblem::VideoPlace {
                rect: elsewhere,
                stream: place
            })
        );
        let odd = rect(0, 0, 127, 64);
        assert!(matches!(
            check_layered_update(size, [video(odd)], size, 1, 4),
            Err(PictureProblem::VideoPlace { .. })
        ));
        assert!(matches!(
            check_layered_update(size, [video(rect(200, 0, 64, 64))], size, 1, 4),
            Err(PictureProblem::OutOfBounds { .. })
        ));
        let empty = TileView {
            rect: place,
            format: TileFormat::H264,
            data: &[],
        };
        assert!(matches!(
            check_layered_update(size, [empty], size, 1, 4),
            Err(PictureProblem::NotAnImage { .. })
        ));
    }

    #[test]
    fn more_tiles_than_the_grid_or_tiles_covering_more_than_the_picture_are_refused() {
        let size = PictureSize::new(128, 64);
        let small = png_header(64, 64);
        let tile = TileView {
            rect: rect(0, 0, 64, 64),
            format: TileFormat::Png,
            data: &small,
        };
        assert_eq!(check_update(size, [tile; 2], size), Ok(()));
        assert!(matches!(
            check_update(size, std::iter::repeat_n(tile, 1_000_000), size),
            Err(PictureProblem::TooManyTiles { max: 2, .. })
        ));
        // Two tiles of the whole picture: twice the decoding of one picture.
        let whole = png_header(128, 64);
        let tile = TileView {
            rect: rect(0, 0, 128, 64),
            format: TileFormat::Png,
            data: &whole,
        };
        assert_eq!(check_update(size, [tile; 1], size), Ok(()));
        assert!(matches!(
            check_update(size, [tile; 2], size),
            Err(PictureProblem::Overlapping { .. })
        ));
        // A broadcast's catch-up may cover it three times over, not four.
        assert_eq!(check_layered_update(size, [tile; 3], size, 3, 0), Ok(()));
        assert!(matches!(
            check_layered_update(size, [tile; 4], size, 3, 0),
            Err(PictureProblem::Overlapping { .. })
        ));
    }

    #[test]
    fn a_png_tile_claiming_20000_by_20000_is_refused_from_its_header() {
        let size = PictureSize::new(320, 180);
        let data = png_header(20_000, 20_000);
        let tile = TileView {
            rect: rect(0, 0, 64, 64),
            format: TileFormat::Png,
            data: &data,
        };
        assert_eq!(
            check_update(size, [tile], size),
            Err(PictureProblem::WrongTileSize {
                rect: tile.rect,
                format: TileFormat::Png,
                image: PictureSize::new(20_000, 20_000),
            })
        );
    }

    #[test]
    fn tiles_that_are_not_what_they_claim_are_refused() {
        let size = PictureSize::new(320, 180);
        let update = real_update(320, 180);
        let jpeg = update
            .tiles
            .iter()
            .find(|t| t.format == TileFormat::Jpeg)
            .or_else(|| update.tiles.first())
            .unwrap();
        let cases: Vec<(TileFormat, Vec<u8>, HeaderError)> = vec![
            (
                TileFormat::Png,
                b"GIF89a....".to_vec(),
                HeaderError::Signature,
            ),
            (
                TileFormat::Png,
                PNG_SIGNATURE.to_vec(),
                HeaderError::Truncated,
            ),
            (TileFormat::Png, png_header(0, 64), HeaderError::Empty),
            (TileFormat::Jpeg, png_header(64, 64), HeaderError::Signature),
            (
                TileFormat::Jpeg,
                vec![0xff, 0xd8, 0xff, 0xda, 0, 2],
                HeaderError::Malformed,
            ),
            (
                TileFormat::Jpeg,
                vec![0xff, 0xd8, 0xff, 0xe0, 0xff, 0xff],
                HeaderError::Truncated,
            ),
            (
                TileFormat::Jpeg,
                jpeg.data[..jpeg.data.len().min(20)].to_vec(),
                HeaderError::Truncated,
            ),
        ];
        for (format, data, reason) in cases {
            let tile = TileView {
                rect: rect(0, 0, 64, 64),
                format,
                data: &data,
            };
            assert_eq!(
                check_update(size, [tile], size),
                Err(PictureProblem::NotAnImage {
                    rect: tile.rect,
                    format,
                    reason
                }),
                "{format} {data:02x?}"
            );
        }
    }

    #[test]
    fn a_jpeg_tile_of_another_size_is_refused() {
        let update = real_update(1280, 720);
        let jpeg = update
            .tiles
            .iter()
            .find(|t| t.format == TileFormat::Jpeg)
            .unwrap();
        let mut claimed = jpeg.rect;
        claimed.width -= 1;
        let size = PictureSize::new(1280, 720);
        let tile = TileView {
            rect: claimed,
            format: TileFormat::Jpeg,
            data: &jpeg.data,
        };
        assert!(matches!(
            check_update(size, [tile], size),
            Err(PictureProblem::WrongTileSize { .. })
        ));
    }

    #[test]
    fn screenshots_are_decoded_only_within_the_limits() {
        let frame = SyntheticDesktop::new(200, 100).render(std::time::Duration::ZERO);
        let png = encode_png(&frame).unwrap();
        assert_eq!(
            decode_screenshot(&png, PictureSize::new(200, 100)),
            Ok(frame)
        );
        assert!(matches!(
            decode_screenshot(&png, PictureSize::new(100, 200)),
            Err(PictureProblem::ScreenshotSizeMismatch { .. })
        ));
        // Refused from the header alone: nothing of this size is allocated.
        let huge = png_header(20_000, 20_000);
        assert_eq!(
            decode_screenshot(&huge, PictureSize::new(20_000, 20_000)),
            Err(PictureProblem::ScreenshotTooLarge(PictureSize::new(
                20_000, 20_000
            )))
        );
        let too_many_pixels = png_header(10_000, 10_000);
        assert!(matches!(
            decode_screenshot(&too_many_pixels, PictureSize::new(10_000, 10_000)),
            Err(PictureProblem::ScreenshotTooLarge(_))
        ));
        assert!(matches!(
            decode_screenshot(b"garbage", PictureSize::new(1, 1)),
            Err(PictureProblem::ScreenshotNotPng(HeaderError::Signature))
        ));
        let mut broken = png.clone();
        let middle = broken.len() / 2;
        broken[middle..].fill(0x55);
        assert!(matches!(
            decode_screenshot(&broken, PictureSize::new(200, 100)),
            Err(PictureProblem::ScreenshotUndecodable(_))
        ));
    }
}
