//! The desk's broadcast (R7): what the app asks for — the teacher's screen,
//! a monitor, a region drawn over a preview, or one student's screen — to
//! the devices chosen, and what each of them shows while it runs.

use pult_protocol::broadcast::BroadcastMode;
use pult_screen::scale::Scaler;
use pult_screen::{CaptureSource, DesktopCapture, ScreenArea, encode_png};
use serde::{Deserialize, Serialize};

use crate::ConsoleError;
use crate::broadcast::{Broadcast, BroadcastArea, Region, ScreenSource};
use crate::desk::{Desk, DeskError};
use crate::room_session::DeviceState;

/// The widest preview of the teacher's screen for drawing a region on.
const PREVIEW_WIDTH: u32 = 960;

/// What the teacher asks to broadcast, as the app sends it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BroadcastRequest {
    /// What to show.
    pub source: BroadcastFrom,
    /// In a window the students can move, instead of over their whole screen.
    pub window: bool,
    /// The devices to show it on.
    pub devices: Vec<String>,
}

/// What a broadcast shows.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum BroadcastFrom {
    /// The teacher's whole desktop.
    Desktop,
    /// One of the teacher's monitors.
    Monitor {
        /// Counted from 0 left to right.
        index: u32,
    },
    /// A rectangle of the teacher's desktop, in its pixels.
    Region {
        /// Left edge.
        x: u32,
        /// Top edge.
        y: u32,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
    /// One student's screen, relayed as it comes.
    Device {
        /// The device.
        device: String,
    },
}

/// A broadcast as the app shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BroadcastState {
    /// The device whose screen is shown; none for the teacher's own.
    pub from: Option<String>,
    /// Why it ended by itself (the student shown went away), if it did.
    pub ended: Option<String>,
    /// Each device it goes to.
    pub devices: Vec<BroadcastDevice>,
}

/// How one device is doing with the broadcast.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BroadcastDevice {
    /// The device.
    pub device: String,
    /// Whether its screen shows the broadcast now.
    pub showing: bool,
    /// Why not, or what ended it there.
    pub problem: Option<DeskError>,
}

/// The teacher's screen, for choosing what to broadcast.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeacherScreen {
    /// The whole desktop's width.
    pub width: u32,
    /// Its height.
    pub height: u32,
    /// The monitors, left to right, as (x, y, width, height).
    pub monitors: Vec<(i32, i32, u32, u32)>,
}

/// The broadcast under way.
pub(crate) struct Running {
    broadcast: Broadcast,
    from: Option<String>,
}

impl Desk {
    /// Starts broadcasting as `request` asks (a broadcast under way ends
    /// first); devices marked not steerable are reported, not tried. An
    /// unknown device or a bad region is refused before anything changes.
    pub async fn broadcast(
        &self,
        request: BroadcastRequest,
    ) -> Result<BroadcastState, ConsoleError> {
        let mode = if request.window {
            BroadcastMode::Window
        } else {
            BroadcastMode::FullScreen
        };
        let area = match request.source {
            BroadcastFrom::Desktop | BroadcastFrom::Device { .. } => BroadcastArea::Desktop,
            BroadcastFrom::Monitor { index } => BroadcastArea::Monitor(index),
            BroadcastFrom::Region {
                x,
                y,
                width,
                height,
            } => BroadcastArea::Region(Region::new(x, y, width, height)?),
        };
        let source = ScreenSource {
            area,
            ..ScreenSource::default()
        };
        let from = match &request.source {
            BroadcastFrom::Device { device } => Some(device.clone()),
            _ => None,
        };
        // Every device once, the source not among them, each known.
        let mut names: Vec<&String> = Vec::new();
        for device in &request.devices {
            if Some(device) != from.as_ref() && !names.contains(&device) {
                names.push(device);
            }
        }
        let statuses = self.session.statuses();
        let targets = names
            .into_iter()
            .map(|device| {
                let not_steerable = statuses
                    .iter()
                    .any(|s| &s.name == device && s.state == DeviceState::NotSteerable);
                Ok((device, self.session.connector(device)?, not_steerable))
            })
            .collect::<Result<Vec<_>, ConsoleError>>()?;
        // One broadcast at a time, this call's from here on.
        let mut broadcasting = self.broadcasting.lock().await;
        if let Some(running) = broadcasting.take() {
            running.broadcast.stop().await;
        }
        let broadcast = match &from {
            Some(device) => {
                let session = self.session.connector(device)?.session().await?;
                Broadcast::relay_from(&session, &source).await?
            }
            None => {
                let capture = Box::new(DesktopCapture::new());
                tokio::task::spawn_blocking(move || Broadcast::from_screen(capture, source))
                    .await
                    .map_err(|e| ConsoleError::Capture(e.to_string()))??
            }
        };
        for (device, connector, not_steerable) in targets {
            if not_steerable {
                broadcast.refused(
                    device,
                    ConsoleError::NotSteerable {
                        device: device.clone(),
                    },
                );
                continue;
            }
            broadcast
                .send_to(device, mode, move || {
                    let connector = connector.clone();
                    async move { connector.session().await }
                })
                .await;
        }
        let running = Running { broadcast, from };
        let state = state_of(&running);
        *broadcasting = Some(running);
        Ok(state)
    }

    /// Ends the broadcast, if one runs: every student's desktop comes back.
    pub async fn stop_broadcast(&self) -> Option<BroadcastState> {
        let running = self.broadcasting.lock().await.take()?;
        running.broadcast.stop().await;
        Some(state_of(&running))
    }

    /// The broadcast under way, device by device.
    pub async fn broadcast_state(&self) -> Option<BroadcastState> {
        self.broadcasting.lock().await.as_ref().map(state_of)
    }

    /// The teacher's desktop and monitors, for choosing what to broadcast.
    pub async fn teacher_screen(&self) -> Result<TeacherScreen, ConsoleError> {
        blocking(|| {
            let mut capture = DesktopCapture::new();
            let monitors = capture
                .monitors()
                .map_err(|e| ConsoleError::Capture(e.to_string()))?;
            let desktop = capture
                .capture(ScreenArea::Desktop)
                .map_err(|e| ConsoleError::Capture(e.to_string()))?;
            Ok(TeacherScreen {
                width: desktop.width(),
                height: desktop.height(),
                monitors: monitors
                    .iter()
                    .map(|m| (m.x, m.y, m.width, m.height))
                    .collect(),
            })
        })
        .await
    }

    /// The teacher's desktop now, scaled down as a PNG: the live preview a
    /// region is drawn on.
    pub async fn teacher_screen_preview(&self) -> Result<Vec<u8>, ConsoleError> {
        blocking(|| {
            let desktop = DesktopCapture::new()
                .capture(ScreenArea::Desktop)
                .map_err(|e| ConsoleError::Capture(e.to_string()))?;
            let preview = Scaler::new().fit(desktop, PREVIEW_WIDTH, PREVIEW_WIDTH);
            encode_png(&preview).map_err(|e| ConsoleError::Capture(e.to_string()))
        })
        .await
    }
}

fn state_of(running: &Running) -> BroadcastState {
    let report = running.broadcast.report();
    BroadcastState {
        from: running.from.clone(),
        ended: report.source_ended,
        devices: report
            .receivers
            .into_iter()
            .map(|r| BroadcastDevice {
                device: r.device,
                showing: r.showing,
                problem: r.problem.map(DeskError::from),
            })
            .collect(),
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ConsoleError> + Send + 'static,
) -> Result<T, ConsoleError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ConsoleError::Capture(e.to_string()))?
}
