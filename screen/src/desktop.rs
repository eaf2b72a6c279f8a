//! The real desktop, captured through xcap (X11 on Linux, GDI/DXGI on Windows).
//!
//! A screenshot is of the *whole* screen: with several monitors, their pictures
//! are placed as the desktop arranges them in one frame.

use crate::{CaptureError, CaptureSource, Frame};

/// Captures every monitor of the desktop this process can see.
///
/// It holds no connection: each capture asks the display afresh, so an agent
/// started before anyone logs in serves the screen once there is one, and a
/// monitor plugged in later is in the next picture.
#[derive(Debug, Default)]
pub struct DesktopCapture;

impl DesktopCapture {
    /// A capture of the desktop; see [`Self::probe`] to check for a display now.
    pub fn new() -> Self {
        Self
    }

    /// Describes the monitors there are now, or says why there is no display.
    pub fn probe() -> Result<String, CaptureError> {
        let monitors = xcap::Monitor::all().map_err(|e| CaptureError::NoDisplay(e.to_string()))?;
        if monitors.is_empty() {
            return Err(CaptureError::NoDisplay("the display has no monitor".into()));
        }
        let sizes: Vec<String> = monitors
            .iter()
            .map(|m| format!("{}x{}", m.width().unwrap_or(0), m.height().unwrap_or(0)))
            .collect();
        Ok(format!(
            "desktop ({} monitor(s): {})",
            monitors.len(),
            sizes.join(", ")
        ))
    }
}

impl CaptureSource for DesktopCapture {
    fn capture(&mut self) -> Result<Frame, CaptureError> {
        let failed = |e: xcap::XCapError| CaptureError::Failed(e.to_string());
        let monitors = xcap::Monitor::all().map_err(|e| CaptureError::NoDisplay(e.to_string()))?;
        let mut pictures = Vec::with_capacity(monitors.len());
        for monitor in &monitors {
            let image = monitor.capture_image().map_err(failed)?;
            let (width, height) = image.dimensions();
            let frame = Frame::new(width, height, image.into_raw())
                .map_err(|e| CaptureError::Failed(e.to_string()))?;
            pictures.push((
                monitor.x().map_err(failed)?,
                monitor.y().map_err(failed)?,
                frame,
            ));
        }
        compose(pictures)
    }

    fn describe(&self) -> String {
        Self::probe().unwrap_or_else(|e| e.to_string())
    }
}

/// Places monitor pictures at their desktop positions in one frame.
fn compose(mut pictures: Vec<(i32, i32, Frame)>) -> Result<Frame, CaptureError> {
    if pictures.len() == 1 {
        return pictures
            .pop()
            .map(|(_, _, frame)| frame)
            .ok_or_else(|| CaptureError::NoDisplay("no monitor".into()));
    }
    let left = pictures.iter().map(|(x, _, _)| i64::from(*x)).min();
    let top = pictures.iter().map(|(_, y, _)| i64::from(*y)).min();
    let right = pictures
        .iter()
        .map(|(x, _, f)| i64::from(*x) + i64::from(f.width()))
        .max();
    let bottom = pictures
        .iter()
        .map(|(_, y, f)| i64::from(*y) + i64::from(f.height()))
        .max();
    let (Some(left), Some(top), Some(right), Some(bottom)) = (left, top, right, bottom) else {
        return Err(CaptureError::NoDisplay("no monitor".into()));
    };
    let too_large = |_| CaptureError::Failed("the desktop is too large".into());
    let width = u32::try_from(right - left).map_err(too_large)?;
    let height = u32::try_from(bottom - top).map_err(too_large)?;
    let mut desktop = Frame::filled(width, height, [0, 0, 0, 255]);
    for (x, y, frame) in &pictures {
        // Offsets from the top-left corner are non-negative and within the size.
        desktop.blit(
            frame,
            (i64::from(*x) - left) as u32,
            (i64::from(*y) - top) as u32,
        );
    }
    Ok(desktop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitors_are_placed_where_the_desktop_has_them() {
        let left = Frame::filled(4, 3, [1, 1, 1, 255]);
        let right = Frame::filled(2, 2, [2, 2, 2, 255]);
        let desktop = compose(vec![(4, 0, right), (0, 0, left)]).unwrap();
        assert_eq!((desktop.width(), desktop.height()), (6, 3));
        assert_eq!(desktop.pixel(0, 2), Some([1, 1, 1, 255]));
        assert_eq!(desktop.pixel(5, 1), Some([2, 2, 2, 255]));
        assert_eq!(desktop.pixel(5, 2), Some([0, 0, 0, 255]));
    }
}
