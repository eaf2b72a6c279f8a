//! Lossless PNG encoding of frames (screenshots) and decoding (for checks and viewers).

use image::ImageEncoder;
use image::codecs::png::{CompressionType, FilterType, PngDecoder, PngEncoder};

use crate::Frame;

/// Why a PNG could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum PngError {
    /// The encoder or decoder failed.
    #[error("PNG error: {0}")]
    Image(#[from] image::ImageError),
    /// The PNG decoded to a picture that is not a valid frame.
    #[error("PNG is not a usable picture: {0}")]
    Frame(#[from] crate::FrameError),
}

/// Encodes `frame` as an RGBA PNG, favouring speed over the last few percent of size.
pub fn encode_png(frame: &Frame) -> Result<Vec<u8>, PngError> {
    let mut png = Vec::with_capacity(frame.pixels().len() / 8);
    PngEncoder::new_with_quality(&mut png, CompressionType::Fast, FilterType::Adaptive)
        .write_image(
            frame.pixels(),
            frame.width(),
            frame.height(),
            image::ExtendedColorType::Rgba8,
        )?;
    Ok(png)
}

/// Decodes a PNG into an RGBA frame.
pub fn decode_png(png: &[u8]) -> Result<Frame, PngError> {
    let decoder = PngDecoder::new(std::io::Cursor::new(png))?;
    let image = image::DynamicImage::from_decoder(decoder)?.into_rgba8();
    let (width, height) = image.dimensions();
    Ok(Frame::new(width, height, image.into_raw())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trip_is_exact() {
        let mut frame = Frame::filled(33, 17, [10, 20, 30, 255]);
        frame.fill_rect(5, 5, 7, 3, [200, 100, 0, 255]);
        let decoded = decode_png(&encode_png(&frame).unwrap()).unwrap();
        assert_eq!(decoded, frame);
    }

    #[test]
    fn garbage_is_not_a_png() {
        assert!(decode_png(b"not a png").is_err());
    }
}
