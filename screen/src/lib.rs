//! pult-screen: what is on a student's screen, as pixels and as PNG.
//!
//! It owns the [`CaptureSource`] trait and its implementations: the real
//! desktop through xcap ([`DesktopCapture`]) and a deterministic, moving
//! [`SyntheticDesktop`] for demos, tests and benchmarks. It is used by both ends
//! and must never know about the network, certificates or who is watching.
#![warn(missing_docs)]

mod desktop;
mod frame;
mod png;
mod synthetic;

pub use desktop::DesktopCapture;
pub use frame::{Frame, FrameError};
pub use png::{PngError, decode_png, encode_png};
pub use synthetic::SyntheticDesktop;

/// Something that can produce the current picture of a screen.
pub trait CaptureSource: Send {
    /// Captures the screen as it is now.
    fn capture(&mut self) -> Result<Frame, CaptureError>;

    /// A short description for logs ("X11 desktop 1920x1080", "synthetic 1280x720").
    fn describe(&self) -> String;
}

/// Why a screen could not be captured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// There is no display to capture (no X server, no monitor).
    #[error("no display to capture: {0}")]
    NoDisplay(String),
    /// The capture itself failed.
    #[error("screen capture failed: {0}")]
    Failed(String),
}
