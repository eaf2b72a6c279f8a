//! Scaling before encoding: a thumbnail costs in proportion to the thumbnail,
//! not to the student's 4K screen. SIMD-accelerated by fast_image_resize.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::Frame;

/// The largest size within `max_width` × `max_height` with the aspect ratio of
/// `width` × `height`; never larger than the original, never zero.
pub fn fit_size(width: u32, height: u32, max_width: u32, max_height: u32) -> (u32, u32) {
    let (max_width, max_height) = (max_width.max(1), max_height.max(1));
    if width <= max_width && height <= max_height {
        return (width.max(1), height.max(1));
    }
    let scale = f64::min(
        f64::from(max_width) / f64::from(width),
        f64::from(max_height) / f64::from(height),
    );
    let fit = |side: u32, max: u32| ((f64::from(side) * scale).round() as u32).clamp(1, max);
    (fit(width, max_width), fit(height, max_height))
}

/// Where a `width` × `height` picture goes in an area of `area_width` ×
/// `area_height` (a broadcast's window, R7): scaled to fit, up or down, and
/// centred; (x, y, width, height) within the area.
pub fn letterbox(
    width: u32,
    height: u32,
    area_width: u32,
    area_height: u32,
) -> (u32, u32, u32, u32) {
    let scale = f64::min(
        f64::from(area_width) / f64::from(width.max(1)),
        f64::from(area_height) / f64::from(height.max(1)),
    );
    let fitted_width = ((f64::from(width) * scale).round() as u32).clamp(1, area_width.max(1));
    let fitted_height = ((f64::from(height) * scale).round() as u32).clamp(1, area_height.max(1));
    (
        (area_width - fitted_width.min(area_width)) / 2,
        (area_height - fitted_height.min(area_height)) / 2,
        fitted_width,
        fitted_height,
    )
}

/// Scales frames, keeping its buffers between calls.
#[derive(Default)]
pub struct Scaler {
    resizer: Resizer,
}

impl Scaler {
    /// A scaler.
    pub fn new() -> Self {
        Self::default()
    }

    /// `frame` scaled to fit in `max_width` × `max_height` (see [`fit_size`]).
    /// A frame that already fits is returned as it is.
    pub fn fit(&mut self, frame: Frame, max_width: u32, max_height: u32) -> Frame {
        let (width, height) = fit_size(frame.width(), frame.height(), max_width, max_height);
        if (width, height) == (frame.width(), frame.height()) {
            return frame;
        }
        self.resize(&frame, width, height)
    }

    /// `frame` resized to exactly `width` × `height` (both at least 1).
    pub fn resize(&mut self, frame: &Frame, width: u32, height: u32) -> Frame {
        let (width, height) = (width.max(1), height.max(1));
        let mut target = Image::new(width, height, PixelType::U8x4);
        let options = ResizeOptions::new()
            .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
            .use_alpha(false);
        // Both images are RGBA8 of the sizes they claim (`Frame` guarantees its
        // buffer length), so the resizer cannot fail; fall back to a blank frame.
        let scaled = ImageRef::new(
            frame.width(),
            frame.height(),
            frame.pixels(),
            PixelType::U8x4,
        )
        .ok()
        .and_then(|source| self.resizer.resize(&source, &mut target, &options).ok())
        .and_then(|()| Frame::new(width, height, target.into_vec()).ok());
        scaled.unwrap_or_else(|| Frame::filled(width, height, [0, 0, 0, 255]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_letterboxed_picture_is_scaled_to_fit_up_or_down_and_centred() {
        assert_eq!(letterbox(1920, 1080, 1920, 1080), (0, 0, 1920, 1080));
        assert_eq!(letterbox(960, 540, 1920, 1080), (0, 0, 1920, 1080), "up");
        assert_eq!(
            letterbox(1920, 1080, 1280, 1024),
            (0, 152, 1280, 720),
            "down, bars above and below"
        );
        assert_eq!(
            letterbox(800, 800, 1920, 1080),
            (420, 0, 1080, 1080),
            "bars left and right"
        );
    }

    #[test]
    fn fit_keeps_the_aspect_ratio_and_never_enlarges() {
        assert_eq!(fit_size(1920, 1080, 320, 180), (320, 180));
        assert_eq!(fit_size(1280, 1024, 320, 180), (225, 180));
        assert_eq!(fit_size(1366, 768, 333, 333), (333, 187));
        assert_eq!(fit_size(800, 600, 1920, 1080), (800, 600));
        assert_eq!(fit_size(10_000, 10, 100, 100), (100, 1));
        assert_eq!(fit_size(5, 5, 0, 0), (1, 1));
    }

    #[test]
    fn scaling_to_odd_sizes_keeps_colours_where_the_picture_is_flat() {
        let mut frame = Frame::filled(1366, 768, [200, 30, 30, 255]);
        frame.fill_rect(683, 0, 683, 768, [20, 40, 220, 255]);
        let scaled = Scaler::new().fit(frame, 333, 333);
        assert_eq!((scaled.width(), scaled.height()), (333, 187));
        assert_eq!(scaled.pixel(10, 100), Some([200, 30, 30, 255]));
        assert_eq!(scaled.pixel(320, 100), Some([20, 40, 220, 255]));
        let scaled = Scaler::new().resize(&Frame::filled(7, 3, [1, 2, 3, 255]), 3, 1);
        assert_eq!((scaled.width(), scaled.height()), (3, 1));
        assert_eq!(scaled.pixel(1, 0), Some([1, 2, 3, 255]));
    }
}
