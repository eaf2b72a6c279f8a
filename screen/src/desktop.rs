//! The real desktop: on Linux X11 sessions through xcb ([`crate::x11`]), elsewhere
//! (Windows, macOS, Wayland) through xcap.
//!
//! A screenshot is of the *whole* desktop: with several monitors, their pictures
//! are placed as the desktop arranges them in one frame.

use crate::{CaptureError, CaptureSource, Frame, MonitorInfo, ScreenArea};

/// Captures the desktop this process can see.
///
/// It connects on first use and again after a failure, so an agent started
/// before anyone logs in serves the screen once there is one.
#[derive(Default)]
pub struct DesktopCapture {
    #[cfg(target_os = "linux")]
    x11: Option<crate::x11::X11Capture>,
    /// An X display to use instead of `DISPLAY` (only X11 has displays).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    display: Option<String>,
}

impl DesktopCapture {
    /// A capture of the desktop; see [`Self::probe`] to check for a display now.
    pub fn new() -> Self {
        Self::default()
    }

    /// A capture of the X display `display` (like ":0"), whatever `DISPLAY` says.
    pub fn x11(display: &str) -> Self {
        Self {
            display: Some(display.to_owned()),
            #[cfg(target_os = "linux")]
            x11: None,
        }
    }

    /// Describes the monitors there are now, or says why there is no display.
    pub fn probe() -> Result<String, CaptureError> {
        let monitors = Self::new().monitors()?;
        let sizes: Vec<String> = monitors
            .iter()
            .map(|m| format!("{}x{}", m.width, m.height))
            .collect();
        Ok(format!(
            "desktop ({} monitor(s): {})",
            monitors.len(),
            sizes.join(", ")
        ))
    }

    /// Runs `work` on the X11 connection, connecting first if needed and
    /// dropping the connection after a failure. `None` if this is no X11 session.
    #[cfg(target_os = "linux")]
    fn with_x11<T>(
        &mut self,
        work: impl FnOnce(&mut crate::x11::X11Capture) -> Result<T, CaptureError>,
    ) -> Option<Result<T, CaptureError>> {
        if self.display.is_none() && !is_x11_session() {
            return None;
        }
        let connection = match &mut self.x11 {
            Some(connection) => connection,
            empty => match crate::x11::X11Capture::connect(self.display.as_deref()) {
                Ok(connection) => empty.insert(connection),
                Err(error) => return Some(Err(error)),
            },
        };
        let result = work(connection);
        if matches!(
            result,
            Err(CaptureError::Failed(_) | CaptureError::NoDisplay(_))
        ) {
            self.x11 = None;
        }
        Some(result)
    }
}

/// An X11 session: a display to connect to, and not a Wayland session.
#[cfg(target_os = "linux")]
fn is_x11_session() -> bool {
    let wayland = std::env::var_os("WAYLAND_DISPLAY").is_some()
        || std::env::var("XDG_SESSION_TYPE").is_ok_and(|t| t == "wayland");
    std::env::var_os("DISPLAY").is_some() && !wayland
}

impl CaptureSource for DesktopCapture {
    fn capture(&mut self, area: ScreenArea) -> Result<Frame, CaptureError> {
        #[cfg(target_os = "linux")]
        if let Some(result) = self.with_x11(|x11| x11.capture(area)) {
            return result;
        }
        capture_with_xcap(area)
    }

    fn monitors(&mut self) -> Result<Vec<MonitorInfo>, CaptureError> {
        #[cfg(target_os = "linux")]
        if let Some(result) = self.with_x11(|x11| x11.monitors()) {
            return result;
        }
        xcap_monitors().map(|monitors| monitors.into_iter().map(|(info, _)| info).collect())
    }

    fn change_counter(&mut self) -> Option<u64> {
        #[cfg(target_os = "linux")]
        return self
            .with_x11(|x11| Ok(x11.change_counter()))
            .and_then(Result::ok)
            .flatten();
        #[cfg(not(target_os = "linux"))]
        None
    }

    fn describe(&self) -> String {
        Self::probe().unwrap_or_else(|e| e.to_string())
    }
}

/// xcap's monitors with their descriptions, left to right.
fn xcap_monitors() -> Result<Vec<(MonitorInfo, xcap::Monitor)>, CaptureError> {
    let failed = |e: xcap::XCapError| CaptureError::NoDisplay(e.to_string());
    let mut monitors = Vec::new();
    for monitor in xcap::Monitor::all().map_err(failed)? {
        let info = MonitorInfo {
            x: monitor.x().map_err(failed)?,
            y: monitor.y().map_err(failed)?,
            width: monitor.width().map_err(failed)?,
            height: monitor.height().map_err(failed)?,
            primary: monitor.is_primary().unwrap_or(false),
        };
        monitors.push((info, monitor));
    }
    if monitors.is_empty() {
        return Err(CaptureError::NoDisplay("the display has no monitor".into()));
    }
    monitors.sort_by_key(|(m, _)| (m.x, m.y));
    Ok(monitors)
}

fn capture_with_xcap(area: ScreenArea) -> Result<Frame, CaptureError> {
    let failed = |e: xcap::XCapError| CaptureError::Failed(e.to_string());
    let chosen = choose(xcap_monitors()?, area)?;
    let mut pictures = Vec::with_capacity(chosen.len());
    for (info, monitor) in chosen {
        let image = monitor.capture_image().map_err(failed)?;
        let (width, height) = image.dimensions();
        let frame = Frame::new(width, height, image.into_raw())
            .map_err(|e| CaptureError::Failed(e.to_string()))?;
        pictures.push((info.x, info.y, frame));
    }
    compose(pictures)
}

/// The picture of `area` from one picture per monitor (a capture that takes
/// every monitor at once, like DXGI duplication): monitors count from 0 left
/// to right, as with [`DesktopCapture`].
pub fn desktop_picture(
    mut monitors: Vec<(MonitorInfo, Frame)>,
    area: ScreenArea,
) -> Result<Frame, CaptureError> {
    monitors.sort_by_key(|(m, _)| (m.x, m.y));
    compose(
        choose(monitors, area)?
            .into_iter()
            .map(|(info, frame)| (info.x, info.y, frame))
            .collect(),
    )
}

/// The monitors `area` covers, of `monitors` in left-to-right order.
fn choose<T>(
    monitors: Vec<(MonitorInfo, T)>,
    area: ScreenArea,
) -> Result<Vec<(MonitorInfo, T)>, CaptureError> {
    let count = monitors.len();
    match area {
        ScreenArea::Desktop => Ok(monitors),
        ScreenArea::Monitor(index) => monitors
            .into_iter()
            .nth(index as usize)
            .map(|m| vec![m])
            .ok_or(CaptureError::NoSuchMonitor { index, count }),
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

    #[test]
    fn monitors_of_a_whole_capture_count_from_the_left() {
        let monitor = |x: i32, width: u32, shade: u8| {
            let info = MonitorInfo {
                x,
                y: 0,
                width,
                height: 2,
                primary: x == 0,
            };
            (info, Frame::filled(width, 2, [shade, shade, shade, 255]))
        };
        // The right monitor first, as a system may list them.
        let both = || vec![monitor(3, 2, 20), monitor(0, 3, 10)];
        let left = desktop_picture(both(), ScreenArea::Monitor(0)).unwrap();
        assert_eq!(
            (left.width(), left.pixel(0, 0)),
            (3, Some([10, 10, 10, 255]))
        );
        let right = desktop_picture(both(), ScreenArea::Monitor(1)).unwrap();
        assert_eq!(
            (right.width(), right.pixel(0, 0)),
            (2, Some([20, 20, 20, 255]))
        );
        let whole = desktop_picture(both(), ScreenArea::Desktop).unwrap();
        assert_eq!(
            (whole.width(), whole.pixel(4, 1)),
            (5, Some([20, 20, 20, 255]))
        );
        assert!(matches!(
            desktop_picture(both(), ScreenArea::Monitor(2)),
            Err(CaptureError::NoSuchMonitor { index: 2, count: 2 })
        ));
    }
}
