//! H.264 for the moving part of a broadcast (R7): where a film plays on the
//! teacher's screen, a video codec sends a tenth of what JPEG tiles would
//! (docs/architecture.md, "Broadcast", has the figures). OpenH264 (Cisco's
//! encoder and decoder, built from source) does the work; this module
//! only turns RGBA frames into Annex-B frames and back.
//!
//! A stream is a keyframe (IDR) and the frames after it: each frame can be
//! decoded only after every frame since the last keyframe. The broadcast's
//! fan-out keeps that chain, so whoever joins or falls behind is sent the
//! chain from its keyframe and is never given a frame it cannot decode.
//!
//! Without the crate's `h264` feature (the Windows builds, for now) there
//! is no codec: encoder and decoder say so when made, and broadcasts send
//! every part of the screen as tiles.

#[cfg(feature = "h264")]
use openh264::decoder::{Decoder, DecoderConfig};
#[cfg(feature = "h264")]
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, QpRange, RateControlMode,
    UsageType,
};
#[cfg(feature = "h264")]
use openh264::formats::{RgbaSliceU8, YUVBuffer, YUVSource};
#[cfg(feature = "h264")]
use openh264::{OpenH264API, Timestamp};

use crate::Frame;

/// A program built without H.264 (the `h264` feature) has these instead:
/// they cannot be made.
#[cfg(not(feature = "h264"))]
mod absent {
    use super::{Frame, VideoError, VideoFrame};

    /// No H.264 encoder in this program.
    #[derive(Debug)]
    pub struct VideoEncoder(std::convert::Infallible);

    impl VideoEncoder {
        /// Always [`VideoError::Unavailable`].
        pub fn new(_width: u32, _height: u32, _fps: u8, _bitrate: u32) -> Result<Self, VideoError> {
            Err(VideoError::Unavailable)
        }

        /// Never called: there is no encoder.
        pub fn force_keyframe(&mut self) {
            match self.0 {}
        }

        /// Never called: there is no encoder.
        pub fn encode(&mut self, _frame: &Frame) -> Result<Option<VideoFrame>, VideoError> {
            match self.0 {}
        }
    }

    /// No H.264 decoder in this program.
    #[derive(Debug)]
    pub struct VideoDecoder(std::convert::Infallible);

    impl VideoDecoder {
        /// Always [`VideoError::Unavailable`].
        pub fn new() -> Result<Self, VideoError> {
            Err(VideoError::Unavailable)
        }

        /// Never called: there is no decoder.
        pub fn decode(
            &mut self,
            _data: &[u8],
            _picture: bool,
        ) -> Result<Option<Frame>, VideoError> {
            match self.0 {}
        }
    }
}
#[cfg(not(feature = "h264"))]
pub use absent::{VideoDecoder, VideoEncoder};

/// Why a frame could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VideoError {
    /// Video needs an even width and height (4:2:0 colour).
    #[error("a {width}x{height} picture cannot be sent as video: both sides must be even")]
    OddSize {
        /// The width asked for.
        width: u32,
        /// The height asked for.
        height: u32,
    },
    /// The frame is not the size the stream was made for.
    #[error("a {actual_width}x{actual_height} frame given to a {width}x{height} video stream")]
    WrongFrame {
        /// The stream's width.
        width: u32,
        /// The stream's height.
        height: u32,
        /// The frame's width.
        actual_width: u32,
        /// The frame's height.
        actual_height: u32,
    },
    /// OpenH264 refused.
    #[error("H.264: {0}")]
    Codec(String),
    /// This program was built without H.264.
    #[error("this program has no H.264 codec")]
    Unavailable,
}

#[cfg(feature = "h264")]
fn codec(error: openh264::Error) -> VideoError {
    VideoError::Codec(error.to_string())
}

/// One encoded frame of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFrame {
    /// The frame's NAL units, Annex B (with the stream's SPS and PPS before a keyframe).
    pub data: Vec<u8>,
    /// Whether it is a keyframe (IDR), decodable without any frame before it.
    pub keyframe: bool,
}

#[cfg(feature = "h264")]
/// Encodes frames of one size into one H.264 stream, at a set bitrate.
pub struct VideoEncoder {
    encoder: Encoder,
    yuv: YUVBuffer,
    width: u32,
    height: u32,
    frames: u64,
    frame_millis: f64,
}

#[cfg(feature = "h264")]
impl std::fmt::Debug for VideoEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VideoEncoder({}x{})", self.width, self.height)
    }
}

#[cfg(feature = "h264")]
impl VideoEncoder {
    /// An encoder for `width` × `height` frames (both even), aiming at
    /// `bitrate` bits a second at `fps` frames a second.
    pub fn new(width: u32, height: u32, fps: u8, bitrate: u32) -> Result<Self, VideoError> {
        if width == 0 || height == 0 || !width.is_multiple_of(2) || !height.is_multiple_of(2) {
            return Err(VideoError::OddSize { width, height });
        }
        // Camera content (real-time), quality bounded both ways: the range must
        // be given, else OpenH264 chooses one of its own.
        let config = EncoderConfig::new()
            .usage_type(UsageType::CameraVideoRealTime)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(bitrate))
            .max_frame_rate(FrameRate::from_hz(f32::from(fps.max(1))))
            .complexity(Complexity::Medium)
            .qp(QpRange::new(12, 42))
            .skip_frames(false)
            .num_threads(1);
        let encoder =
            Encoder::with_api_config(OpenH264API::from_source(), config).map_err(codec)?;
        Ok(Self {
            encoder,
            yuv: YUVBuffer::new(width as usize, height as usize),
            width,
            height,
            frames: 0,
            frame_millis: 1000.0 / f64::from(fps.max(1)),
        })
    }

    /// The stream's width.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// The stream's height.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The next frame is a keyframe.
    pub fn force_keyframe(&mut self) {
        self.encoder.force_intra_frame();
    }

    /// Encodes `frame`; `None` when the encoder skipped it to keep the
    /// bitrate (the picture stays as it was).
    pub fn encode(&mut self, frame: &Frame) -> Result<Option<VideoFrame>, VideoError> {
        if (frame.width(), frame.height()) != (self.width, self.height) {
            return Err(VideoError::WrongFrame {
                width: self.width,
                height: self.height,
                actual_width: frame.width(),
                actual_height: frame.height(),
            });
        }
        self.yuv.read_rgba8(RgbaSliceU8::new(
            frame.pixels(),
            (self.width as usize, self.height as usize),
        ));
        let at = Timestamp::from_millis((self.frames as f64 * self.frame_millis) as u64);
        self.frames += 1;
        let stream = self.encoder.encode_at(&self.yuv, at).map_err(codec)?;
        let keyframe = match stream.frame_type() {
            FrameType::Skip | FrameType::Invalid => return Ok(None),
            FrameType::IDR => true,
            FrameType::I | FrameType::P | FrameType::IPMixed => false,
        };
        let data = stream.to_vec();
        Ok((!data.is_empty()).then_some(VideoFrame { data, keyframe }))
    }
}

#[cfg(feature = "h264")]
/// Decodes one H.264 stream into RGBA frames.
pub struct VideoDecoder {
    decoder: Decoder,
}

#[cfg(feature = "h264")]
impl std::fmt::Debug for VideoDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VideoDecoder")
    }
}

#[cfg(feature = "h264")]
impl VideoDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Result<Self, VideoError> {
        let decoder = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())
            .map_err(codec)?;
        Ok(Self { decoder })
    }

    /// Decodes the next frame of the stream; with `picture`, the decoded
    /// picture is returned too (the RGBA conversion is spared for frames
    /// that are only passed through). `None` when the frame gave no picture.
    pub fn decode(&mut self, data: &[u8], picture: bool) -> Result<Option<Frame>, VideoError> {
        let Some(decoded) = self.decoder.decode(data).map_err(codec)? else {
            return Ok(None);
        };
        if !picture {
            return Ok(None);
        }
        let (width, height) = decoded.dimensions();
        let mut rgba = vec![0; width * height * 4];
        decoded.write_rgba8(&mut rgba);
        Frame::new(width as u32, height as u32, rgba)
            .map(Some)
            .map_err(|e| VideoError::Codec(e.to_string()))
    }
}

#[cfg(test)]
#[cfg(feature = "h264")]
mod tests {
    use super::*;

    /// A moving picture: a gradient shifted by `step`, a white square moving across.
    fn scene(width: u32, height: u32, step: u32) -> Frame {
        let mut pixels = Vec::with_capacity((width * height * 4) as usize);
        for y in 0..height {
            for x in 0..width {
                let v = ((x + step * 3) % 256) as u8;
                pixels.extend_from_slice(&[v, ((y + step) % 256) as u8, 255 - v, 255]);
            }
        }
        let mut frame = Frame::new(width, height, pixels).unwrap();
        frame.fill_rect(i64::from(step * 4), 40, 32, 32, [255, 255, 255, 255]);
        frame
    }

    fn psnr(a: &Frame, b: &Frame) -> f64 {
        let sum: f64 = a
            .pixels()
            .chunks(4)
            .zip(b.pixels().chunks(4))
            .map(|(p, q)| {
                (0..3)
                    .map(|c| (f64::from(p[c]) - f64::from(q[c])).powi(2))
                    .sum::<f64>()
            })
            .sum();
        let mse = sum / (a.pixels().len() / 4 * 3) as f64;
        10.0 * (255.0f64.powi(2) / mse.max(1e-9)).log10()
    }

    #[test]
    fn a_stream_decodes_close_to_what_was_encoded() {
        let mut encoder = VideoEncoder::new(320, 192, 25, 2_000_000).unwrap();
        let mut decoder = VideoDecoder::new().unwrap();
        let mut keyframes = 0;
        for step in 0..20 {
            let frame = scene(320, 192, step);
            let Some(encoded) = encoder.encode(&frame).unwrap() else {
                continue;
            };
            keyframes += usize::from(encoded.keyframe);
            assert_eq!(encoded.keyframe, step == 0, "only the first is a keyframe");
            let decoded = decoder.decode(&encoded.data, true).unwrap().unwrap();
            assert_eq!((decoded.width(), decoded.height()), (320, 192));
            let quality = psnr(&frame, &decoded);
            assert!(quality > 25.0, "frame {step}: {quality:.1} dB");
        }
        assert_eq!(keyframes, 1);
    }

    #[test]
    fn a_keyframe_starts_the_stream_anew_for_a_late_decoder() {
        let mut encoder = VideoEncoder::new(160, 96, 25, 1_000_000).unwrap();
        for step in 0..5 {
            encoder.encode(&scene(160, 96, step)).unwrap();
        }
        encoder.force_keyframe();
        let frame = scene(160, 96, 5);
        let keyframe = encoder.encode(&frame).unwrap().unwrap();
        assert!(keyframe.keyframe);
        // A decoder that saw nothing before decodes it.
        let decoded = VideoDecoder::new()
            .unwrap()
            .decode(&keyframe.data, true)
            .unwrap()
            .unwrap();
        assert!(psnr(&frame, &decoded) > 30.0);
    }

    #[test]
    fn odd_sizes_and_foreign_frames_are_refused() {
        assert_eq!(
            VideoEncoder::new(161, 96, 25, 1_000_000).unwrap_err(),
            VideoError::OddSize {
                width: 161,
                height: 96
            }
        );
        let mut encoder = VideoEncoder::new(160, 96, 25, 1_000_000).unwrap();
        assert!(matches!(
            encoder.encode(&Frame::filled(64, 64, [0, 0, 0, 255])),
            Err(VideoError::WrongFrame { .. })
        ));
    }

    #[test]
    fn junk_is_an_error_or_no_picture_never_a_crash() {
        let mut decoder = VideoDecoder::new().unwrap();
        let junk: Vec<u8> = (0..4000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let mut with_start_code = vec![0, 0, 0, 1, 0x65];
        with_start_code.extend_from_slice(&junk);
        for data in [&junk[..], &with_start_code[..], &[][..]] {
            if let Ok(Some(frame)) = decoder.decode(data, true) {
                panic!(
                    "junk decoded to a {}x{} picture",
                    frame.width(),
                    frame.height()
                );
            }
        }
    }
}
