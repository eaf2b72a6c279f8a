//! The screen on Windows: DXGI desktop duplication where the system has it,
//! GDI (through xcap) where it does not or while it is lost; the choice is
//! `pult_screen::Fallback`'s, tested on every system.

use std::time::Duration;

use pult_agent_windows::dxgi::Duplication;
use pult_screen::{
    CaptureError, CaptureSource, DesktopCapture, Fallback, Frame, MonitorInfo, ScreenArea,
    desktop_picture,
};

/// How long DXGI rests after a failure before it is tried again (a lost
/// duplication comes back after the secure desktop; a missing one never does,
/// and trying costs a device creation).
const DXGI_REST: Duration = Duration::from_secs(30);

/// The desktop capture of a Windows session.
pub fn desktop_capture() -> Fallback<DxgiCapture, DesktopCapture> {
    Fallback::new(DxgiCapture::default(), DesktopCapture::new(), DXGI_REST)
}

/// Capture by DXGI desktop duplication, opened on first use and again after
/// it was lost.
#[derive(Default)]
pub struct DxgiCapture {
    duplication: Option<Duplication>,
}

impl DxgiCapture {
    fn open(&mut self) -> Result<&mut Duplication, CaptureError> {
        match &mut self.duplication {
            Some(duplication) => Ok(duplication),
            empty => Duplication::open()
                .map(|duplication| empty.insert(duplication))
                .map_err(|error| CaptureError::NoDisplay(error.to_string())),
        }
    }
}

fn info((x, y, width, height): (i32, i32, u32, u32)) -> MonitorInfo {
    MonitorInfo {
        x,
        y,
        width,
        height,
        primary: x == 0 && y == 0,
    }
}

impl CaptureSource for DxgiCapture {
    fn capture(&mut self, area: ScreenArea) -> Result<Frame, CaptureError> {
        let pictures = match self.open()?.capture() {
            Ok(pictures) => pictures,
            Err(error) => {
                self.duplication = None;
                return Err(CaptureError::Failed(error.to_string()));
            }
        };
        let mut monitors = Vec::with_capacity(pictures.len());
        for picture in pictures {
            let frame = Frame::new(picture.width, picture.height, picture.rgba)
                .map_err(|error| CaptureError::Failed(error.to_string()))?;
            let place = (picture.x, picture.y, picture.width, picture.height);
            monitors.push((info(place), frame));
        }
        desktop_picture(monitors, area)
    }

    fn monitors(&mut self) -> Result<Vec<MonitorInfo>, CaptureError> {
        let mut monitors: Vec<_> = self.open()?.monitors().into_iter().map(info).collect();
        monitors.sort_by_key(|m| (m.x, m.y));
        Ok(monitors)
    }

    fn describe(&self) -> String {
        "desktop by DXGI duplication".into()
    }
}
