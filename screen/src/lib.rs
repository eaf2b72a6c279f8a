//! pult-screen: what is on a student's screen, as pixels and as PNG.
//!
//! It owns the [`CaptureSource`] trait and its implementations: the real
//! desktop through xcap ([`DesktopCapture`]) and a deterministic, moving
//! [`SyntheticDesktop`] for demos, tests and benchmarks. It is used by both ends
//! and must never know about the network, certificates or who is watching.
#![warn(missing_docs)]

pub mod codec;
mod desktop;
mod fallback;
mod frame;
pub mod inspect;
mod png;
pub mod scale;
mod synthetic;
pub mod video;
#[cfg(feature = "wire")]
pub mod wire;
#[cfg(target_os = "linux")]
mod x11;

pub use desktop::{DesktopCapture, desktop_picture};
pub use fallback::Fallback;
pub use frame::{Frame, FrameError};
pub use png::{PngError, decode_png, encode_png};
pub use synthetic::SyntheticDesktop;

/// Something that can produce the current picture of a screen.
pub trait CaptureSource: Send {
    /// Captures `area` of the screen as it is now.
    fn capture(&mut self, area: ScreenArea) -> Result<Frame, CaptureError>;

    /// The monitors, in the order [`ScreenArea::Monitor`] counts them.
    fn monitors(&mut self) -> Result<Vec<MonitorInfo>, CaptureError>;

    /// A number that grows whenever the screen changes, where the source can
    /// tell without capturing (X11 DAMAGE); `None` means "capture to find out".
    /// Equal numbers mean nothing changed in between.
    fn change_counter(&mut self) -> Option<u64> {
        None
    }

    /// A short description for logs ("X11 desktop 1920x1080", "synthetic 1280x720").
    fn describe(&self) -> String;
}

/// What part of the screen to capture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ScreenArea {
    /// The whole desktop: every monitor, as the desktop arranges them.
    #[default]
    Desktop,
    /// One monitor, counted from 0 left to right.
    Monitor(u32),
}

/// One monitor of a desktop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonitorInfo {
    /// Left edge on the desktop.
    pub x: i32,
    /// Top edge on the desktop.
    pub y: i32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Whether the desktop calls it the primary monitor.
    pub primary: bool,
}

/// Why a screen could not be captured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// There is no display to capture (no X server, no monitor).
    #[error("no display to capture: {0}")]
    NoDisplay(String),
    /// The monitor asked for does not exist.
    #[error("there is no monitor {index}; the desktop has {count}")]
    NoSuchMonitor {
        /// The monitor asked for.
        index: u32,
        /// How many there are.
        count: usize,
    },
    /// The capture itself failed.
    #[error("screen capture failed: {0}")]
    Failed(String),
}
