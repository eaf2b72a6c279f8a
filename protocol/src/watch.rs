//! Screen streams: the console asks for a screen at the size it shows it, and
//! the agent sends changed tiles while it holds credit.
//!
//! Flow control is by credit: the console grants a few updates in flight and
//! returns one credit for each update it has shown. The agent captures only
//! while it holds credit, so nothing queues on a slow link or behind a busy
//! viewer and the rate adapts by itself. Settings change on the live stream
//! (thumbnail to full view) without a new connection.

use serde::{Deserialize, Serialize};

use crate::frame::{FrameKind, WireMessage};

/// What the console wants to see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchSettings {
    /// The widest picture the console shows; the agent scales down to fit.
    pub max_width: u32,
    /// The tallest picture the console shows.
    pub max_height: u32,
    /// The most updates a second (1–60).
    pub max_fps: u8,
    /// JPEG quality of photo-like tiles (1–100); text-like tiles are lossless.
    pub quality: u8,
    /// One monitor, counted from 0 left to right; `None` for the whole desktop.
    pub monitor: Option<u32>,
}

impl WatchSettings {
    /// A thumbnail for a wall of screens: 320×180 at 5 updates a second.
    pub const THUMBNAIL: WatchSettings = WatchSettings {
        max_width: 320,
        max_height: 180,
        max_fps: 5,
        quality: 60,
        monitor: None,
    };

    /// The full view of one screen: up to 1920×1080 at 30 updates a second.
    pub const FULL_VIEW: WatchSettings = WatchSettings {
        max_width: 1920,
        max_height: 1080,
        max_fps: 30,
        quality: 80,
        monitor: None,
    };

    /// These settings with every value brought into its range.
    pub fn clamped(self) -> WatchSettings {
        WatchSettings {
            max_width: self.max_width.clamp(16, 16_384),
            max_height: self.max_height.clamp(16, 16_384),
            max_fps: self.max_fps.clamp(1, 60),
            quality: self.quality.clamp(1, 100),
            monitor: self.monitor,
        }
    }
}

/// Console to agent, on a screen stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WatchControl {
    /// The console has shown updates: the agent may send this many more.
    Credit(u16),
    /// New settings for the rest of the stream; the next update is a whole
    /// picture (so the same settings again ask for the picture anew).
    Adjust(WatchSettings),
}

impl WireMessage for WatchControl {
    const KIND: FrameKind = FrameKind::WatchControl;
}

/// Agent to console: what changed on the screen since the previous update.
///
/// An update without tiles is a keep-alive: nothing changed for a while.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenUpdate {
    /// Counts updates on this stream from 1.
    pub sequence: u64,
    /// The picture's width; a new size means a new picture (all tiles follow).
    pub width: u32,
    /// The picture's height.
    pub height: u32,
    /// When the screen was captured, in microseconds since the Unix epoch by
    /// the agent's clock (for latency figures; exact when both ends share a clock).
    pub captured_at_micros: u64,
    /// Microseconds the agent spent from capture to sending.
    pub agent_micros: u32,
    /// The changed rectangles.
    pub tiles: Vec<ScreenTile>,
}

impl WireMessage for ScreenUpdate {
    const KIND: FrameKind = FrameKind::ScreenUpdate;
}

/// One changed rectangle of a screen update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenTile {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// How `data` is encoded.
    pub encoding: TileEncoding,
    /// The image file.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// Image formats of tiles: both decode natively in a web view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TileEncoding {
    /// Lossless PNG.
    Png,
    /// Lossy JPEG.
    Jpeg,
    /// One frame of an H.264 stream (Annex B) covering the tile: broadcasts
    /// only (R7), for the part of the teacher's screen where a film plays.
    /// A stream starts with a keyframe and each frame needs every one
    /// before it since then; a tile of another rectangle starts a new stream.
    H264,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::encode;

    #[test]
    fn settings_are_clamped_into_range() {
        let wild = WatchSettings {
            max_width: 0,
            max_height: 1_000_000,
            max_fps: 0,
            quality: 200,
            monitor: Some(1),
        };
        let clamped = wild.clamped();
        assert_eq!((clamped.max_width, clamped.max_height), (16, 16_384));
        assert_eq!(
            (clamped.max_fps, clamped.quality, clamped.monitor),
            (1, 100, Some(1))
        );
        assert_eq!(WatchSettings::THUMBNAIL.clamped(), WatchSettings::THUMBNAIL);
    }

    #[test]
    fn an_empty_update_costs_a_few_bytes() {
        let keep_alive = ScreenUpdate {
            sequence: 1_000,
            width: 1920,
            height: 1080,
            captured_at_micros: 1_790_000_000_000_000,
            agent_micros: 1_500,
            tiles: vec![],
        };
        assert!(encode(&keep_alive).unwrap().len() < 32);
    }
}
