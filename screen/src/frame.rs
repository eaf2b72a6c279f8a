//! A captured picture: RGBA pixels, row by row, no padding.

/// One picture of a screen.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

/// Pixels that do not make a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Width or height is zero.
    #[error("a frame cannot be {width}x{height}")]
    Empty {
        /// The width given.
        width: u32,
        /// The height given.
        height: u32,
    },
    /// The buffer is not width × height × 4 bytes long.
    #[error("{width}x{height} RGBA needs {expected} bytes, got {actual}")]
    Length {
        /// The width given.
        width: u32,
        /// The height given.
        height: u32,
        /// width × height × 4.
        expected: usize,
        /// The buffer's length.
        actual: usize,
    },
}

impl Frame {
    /// A frame from RGBA pixels; the buffer must be exactly `width * height * 4` bytes.
    pub fn new(width: u32, height: u32, pixels: Vec<u8>) -> Result<Self, FrameError> {
        if width == 0 || height == 0 {
            return Err(FrameError::Empty { width, height });
        }
        let expected = width as usize * height as usize * 4;
        if pixels.len() != expected {
            return Err(FrameError::Length {
                width,
                height,
                expected,
                actual: pixels.len(),
            });
        }
        Ok(Self {
            width,
            height,
            pixels,
        })
    }

    /// A frame of one colour. Zero sizes are raised to one pixel.
    pub fn filled(width: u32, height: u32, rgba: [u8; 4]) -> Self {
        let (width, height) = (width.max(1), height.max(1));
        let pixels = rgba.repeat(width as usize * height as usize);
        Self {
            width,
            height,
            pixels,
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The RGBA bytes.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The RGBA value at (`x`, `y`); `None` outside the frame.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let at = (y as usize * self.width as usize + x as usize) * 4;
        let p = &self.pixels[at..at + 4];
        Some([p[0], p[1], p[2], p[3]])
    }

    /// Fills a rectangle, clipped to the frame.
    pub fn fill_rect(&mut self, x: i64, y: i64, width: i64, height: i64, rgba: [u8; 4]) {
        let x0 = x.clamp(0, i64::from(self.width)) as usize;
        let x1 = (x + width).clamp(0, i64::from(self.width)) as usize;
        let y0 = y.clamp(0, i64::from(self.height)) as usize;
        let y1 = (y + height).clamp(0, i64::from(self.height)) as usize;
        if x0 >= x1 {
            return;
        }
        let stride = self.width as usize * 4;
        for row in y0..y1 {
            let line = &mut self.pixels[row * stride + x0 * 4..row * stride + x1 * 4];
            for pixel in line.chunks_exact_mut(4) {
                pixel.copy_from_slice(&rgba);
            }
        }
    }

    /// Copies `other` into this frame with its top-left corner at (`x`, `y`), clipped.
    pub fn blit(&mut self, other: &Frame, x: u32, y: u32) {
        if x >= self.width || y >= self.height {
            return;
        }
        let columns = (other.width.min(self.width - x)) as usize;
        let rows = other.height.min(self.height - y) as usize;
        let (stride, other_stride) = (self.width as usize * 4, other.width as usize * 4);
        for row in 0..rows {
            let to = (y as usize + row) * stride + x as usize * 4;
            let from = row * other_stride;
            self.pixels[to..to + columns * 4]
                .copy_from_slice(&other.pixels[from..from + columns * 4]);
        }
    }

    /// The part of this frame at (`x`, `y`) of `width` × `height`, clipped
    /// to the frame; `None` when nothing of it lies inside.
    pub fn crop(&self, x: u32, y: u32, width: u32, height: u32) -> Option<Frame> {
        let right = x.saturating_add(width).min(self.width);
        let bottom = y.saturating_add(height).min(self.height);
        if x >= right || y >= bottom {
            return None;
        }
        let (columns, stride) = ((right - x) as usize * 4, self.width as usize * 4);
        let mut pixels = Vec::with_capacity(columns * (bottom - y) as usize);
        for row in y..bottom {
            let from = row as usize * stride + x as usize * 4;
            pixels.extend_from_slice(&self.pixels[from..from + columns]);
        }
        Some(Frame {
            width: right - x,
            height: bottom - y,
            pixels,
        })
    }

    /// Mutable RGBA bytes, for sources that draw directly.
    pub(crate) fn pixels_mut(&mut self) -> &mut [u8] {
        &mut self.pixels
    }
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frame({}x{})", self.width, self.height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_the_buffer_length() {
        assert!(Frame::new(2, 2, vec![0; 16]).is_ok());
        assert!(matches!(
            Frame::new(2, 2, vec![0; 15]),
            Err(FrameError::Length { .. })
        ));
        assert!(matches!(
            Frame::new(0, 2, vec![]),
            Err(FrameError::Empty { .. })
        ));
    }

    #[test]
    fn fill_and_blit_clip_to_the_frame() {
        let mut frame = Frame::filled(4, 3, [0, 0, 0, 255]);
        frame.fill_rect(-2, 2, 3, 5, [9, 9, 9, 255]);
        assert_eq!(frame.pixel(0, 2), Some([9, 9, 9, 255]));
        assert_eq!(frame.pixel(1, 2), Some([0, 0, 0, 255]));
        frame.blit(&Frame::filled(5, 5, [1, 2, 3, 4]), 3, 1);
        assert_eq!(frame.pixel(3, 2), Some([1, 2, 3, 4]));
        assert_eq!(frame.pixel(2, 2), Some([0, 0, 0, 255]));
        assert_eq!(frame.pixel(3, 0), Some([0, 0, 0, 255]));
        assert_eq!(frame.pixel(4, 0), None);
    }

    #[test]
    fn crop_takes_the_part_inside_the_frame() {
        let mut frame = Frame::filled(6, 4, [0, 0, 0, 255]);
        frame.fill_rect(2, 1, 1, 1, [7, 7, 7, 255]);
        let part = frame.crop(2, 1, 10, 2).unwrap();
        assert_eq!((part.width(), part.height()), (4, 2));
        assert_eq!(part.pixel(0, 0), Some([7, 7, 7, 255]));
        assert_eq!(part.pixel(1, 0), Some([0, 0, 0, 255]));
        assert!(frame.crop(6, 0, 2, 2).is_none());
        assert!(frame.crop(0, 0, 0, 2).is_none());
    }
}
