//! The desk: everything the teacher app does, as one headless API over a room
//! session, the screenshot gallery and the teacher's favourites. The Tauri
//! shell maps each of its commands to one call here and decides nothing.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use pult_protocol::message::WebUrl;
use pult_protocol::watch::{ScreenUpdate, WatchSettings};
use serde::Serialize;
use time::UtcOffset;
use time::format_description::well_known::Rfc3339;
use tokio::sync::mpsc;

use crate::favourites::{Favourites, FavouritesStore};
use crate::gallery::{Gallery, SavedShot};
use crate::room_session::{Action, DeviceStatus, RoomEvent, RoomSession, SessionOptions};
use crate::{ConsoleError, RoomCertificate, ui_frame};

/// The room as the app shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomInfo {
    /// The school.
    pub organisation: String,
    /// The room.
    pub room: String,
    /// The teacher the certificate belongs to.
    pub teacher: String,
    /// When the certificate ends (RFC 3339).
    pub valid_until: String,
    /// The system's locale, e.g. "de-DE".
    pub locale: String,
    /// Where screenshots are saved.
    pub gallery_dir: String,
    /// Every device, in the room's order.
    pub devices: Vec<DeviceStatus>,
}

/// The outcome of an action on one device, for the app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActionResult {
    /// The device.
    pub device: String,
    /// Whether it was done.
    pub ok: bool,
    /// The stable error code when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What went wrong, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// An error as the app receives it: a stable code and a message.
#[derive(Clone, Debug, Serialize)]
pub struct DeskError {
    /// What kind of failure ([`ConsoleError::code`]).
    pub code: String,
    /// What happened, in words.
    pub message: String,
}

impl From<ConsoleError> for DeskError {
    fn from(error: ConsoleError) -> Self {
        Self {
            code: error.code().to_owned(),
            message: error.to_string(),
        }
    }
}

/// Where the desk keeps the teacher's files (the user's folders unless given).
#[derive(Clone, Debug)]
pub struct DeskFolders {
    /// Instead of the user's pictures folder.
    pub pictures: Option<PathBuf>,
    /// Instead of the user's configuration folder.
    pub config: Option<PathBuf>,
    /// The local time's offset from UTC, for screenshot names; read it with
    /// `UtcOffset::current_local_offset` before the program starts threads.
    pub utc_offset: UtcOffset,
}

impl Default for DeskFolders {
    fn default() -> Self {
        Self {
            pictures: None,
            config: None,
            utc_offset: UtcOffset::UTC,
        }
    }
}

/// Screen updates of one device in the web view's hands and not yet drawn:
/// enough to hide the round trip, few enough that nothing queues.
const VIEWER_CREDIT: usize = 3;

/// The teacher app's engine for one room.
pub struct Desk {
    session: RoomSession,
    info: RoomInfo,
    gallery: Gallery,
    favourites: FavouritesStore,
    thumbnail: Mutex<WatchSettings>,
    focused: Mutex<Option<String>>,
}

impl Desk {
    /// Opens the room of the certificate directory `cert`; events follow on
    /// the receiver. The viewer reports each screen update it has drawn with
    /// [`Desk::frame_shown`] (unless `options` sets another viewer credit).
    pub fn open(
        cert: &Path,
        mut options: SessionOptions,
        folders: DeskFolders,
    ) -> Result<(Self, mpsc::Receiver<RoomEvent>), ConsoleError> {
        options.viewer_credit.get_or_insert(VIEWER_CREDIT);
        let certificate = RoomCertificate::load(cert)?;
        let manifest = certificate.manifest.clone();
        let (session, events) = RoomSession::start(certificate, options)?;
        let gallery = Gallery::for_room(&manifest.room, folders.pictures, folders.utc_offset);
        let info = RoomInfo {
            gallery_dir: gallery.dir().display().to_string(),
            organisation: manifest.organisation.clone(),
            room: manifest.room.clone(),
            teacher: manifest.user.clone(),
            valid_until: manifest.not_after.format(&Rfc3339).unwrap_or_default(),
            locale: system_locale(),
            devices: session.statuses(),
        };
        let desk = Self {
            gallery,
            favourites: FavouritesStore::for_teacher(&manifest.user, folders.config),
            session,
            info,
            thumbnail: Mutex::new(options.thumbnail),
            focused: Mutex::new(None),
        };
        Ok((desk, events))
    }

    /// The room with every device's current status.
    pub fn room(&self) -> RoomInfo {
        RoomInfo {
            devices: self.session.statuses(),
            ..self.info.clone()
        }
    }

    /// The session, for callers that need more than the app does.
    pub fn session(&self) -> &RoomSession {
        &self.session
    }

    /// The viewer has drawn a screen update of `device` (or dropped it): the
    /// device's stream may hand out the next. Without this, a web view slower
    /// than the agents would collect a queue of pictures it cannot draw.
    pub fn frame_shown(&self, device: &str) {
        self.session.shown(device);
    }

    /// A new page replaced the old one: updates the old one never drew are
    /// forgotten, the big view is closed, and every device sends its whole
    /// picture again (the new page has none; what came before it was dropped).
    pub async fn viewer_replaced(&self) {
        self.session.viewer_replaced();
        *self.focused.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let thumbnail = *self.thumbnail.lock().unwrap_or_else(|p| p.into_inner());
        self.session.watch_all(thumbnail).await;
    }

    /// The binary message of a screen update for the web view ([`ui_frame`]).
    pub fn frame_message(&self, device: &str, update: &ScreenUpdate) -> Option<Vec<u8>> {
        let index = self.info.devices.iter().position(|d| d.name == device)?;
        Some(ui_frame::encode(u16::try_from(index).ok()?, update))
    }

    /// Thumbnails are shown at `width` × `height` device pixels: every stream
    /// but the one in the big view follows.
    pub async fn set_thumbnail_size(&self, width: u32, height: u32) {
        let settings = {
            let mut thumbnail = self.thumbnail.lock().unwrap_or_else(|p| p.into_inner());
            thumbnail.max_width = width;
            thumbnail.max_height = height;
            *thumbnail
        };
        let focused = self
            .focused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for device in &self.info.devices {
            if focused.as_deref() != Some(device.name.as_str()) {
                let _ = self.session.watch(&device.name, settings).await;
            }
        }
    }

    /// Shows `device` in the big view at up to `width` × `height` (full rate,
    /// full quality), or none; the previous one goes back to a thumbnail.
    pub async fn focus(
        &self,
        device: Option<String>,
        width: u32,
        height: u32,
    ) -> Result<(), ConsoleError> {
        let thumbnail = *self.thumbnail.lock().unwrap_or_else(|p| p.into_inner());
        let previous = std::mem::replace(
            &mut *self.focused.lock().unwrap_or_else(|p| p.into_inner()),
            device.clone(),
        );
        if let Some(previous) = previous.filter(|p| Some(p) != device.as_ref()) {
            self.session.watch(&previous, thumbnail).await?;
        }
        if let Some(device) = device {
            let full = WatchSettings {
                max_width: width.clamp(320, 3840),
                max_height: height.clamp(180, 2160),
                ..WatchSettings::FULL_VIEW
            };
            self.session.watch(&device, full).await?;
        }
        Ok(())
    }

    /// Takes a screenshot of `device` and saves it in the gallery (R2).
    pub async fn screenshot(&self, device: &str) -> Result<SavedShot, ConsoleError> {
        let screenshot = self.session.screenshot(device).await?;
        self.gallery.save(device, &screenshot.png)
    }

    /// Opens `url` on `devices` (R5); refuses anything but http and https first.
    pub async fn open_url(
        &self,
        devices: &[String],
        url: &str,
    ) -> Result<Vec<ActionResult>, ConsoleError> {
        let url = WebUrl::parse(url).map_err(|e| ConsoleError::Protocol {
            device: String::new(),
            detail: e.to_string(),
        })?;
        Ok(results(
            self.session.act(devices, &Action::OpenUrl(url)).await,
        ))
    }

    /// Starts `program` with `args` on `devices` (R4).
    pub async fn run_program(
        &self,
        devices: &[String],
        program: &str,
        args: &[String],
    ) -> Vec<ActionResult> {
        let action = Action::RunProgram {
            program: program.to_owned(),
            args: args.to_vec(),
        };
        results(self.session.act(devices, &action).await)
    }

    /// Shows a message window with an optional title on `devices`.
    pub async fn message(
        &self,
        devices: &[String],
        title: Option<String>,
        text: String,
    ) -> Vec<ActionResult> {
        let action = Action::Message { title, text };
        results(self.session.act(devices, &action).await)
    }

    /// Locks the screens of `devices` (R20), with `message` on them.
    pub async fn lock(&self, devices: &[String], message: Option<String>) -> Vec<ActionResult> {
        results(self.session.act(devices, &Action::Lock(message)).await)
    }

    /// Ends the lock of `devices` (R20).
    pub async fn unlock(&self, devices: &[String]) -> Vec<ActionResult> {
        results(self.session.act(devices, &Action::Unlock).await)
    }

    /// The screenshots of this room, newest first.
    pub fn gallery(&self) -> Vec<SavedShot> {
        self.gallery.list()
    }

    /// One screenshot's bytes; only files of this room's gallery are read.
    pub fn gallery_image(&self, path: &str) -> Result<Vec<u8>, ConsoleError> {
        self.gallery.read(path)
    }

    /// The teacher's favourites.
    pub fn favourites(&self) -> Result<Favourites, ConsoleError> {
        self.favourites.load()
    }

    /// Replaces the teacher's favourites.
    pub fn save_favourites(&self, favourites: &Favourites) -> Result<(), ConsoleError> {
        self.favourites.save(favourites)
    }
}

fn results(outcomes: Vec<(String, Result<(), ConsoleError>)>) -> Vec<ActionResult> {
    outcomes
        .into_iter()
        .map(|(device, outcome)| match outcome {
            Ok(()) => ActionResult {
                device,
                ok: true,
                code: None,
                message: None,
            },
            Err(error) => ActionResult {
                device,
                ok: false,
                code: Some(error.code().to_owned()),
                message: Some(error.to_string()),
            },
        })
        .collect()
}

/// The system's locale from the environment ("de-DE"), English if unset.
pub fn system_locale() -> String {
    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .find_map(|name| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty() && v != "C" && v != "POSIX")
        })
        .map(|value| {
            value
                .split(['.', '@'])
                .next()
                .unwrap_or_default()
                .replace('_', "-")
        })
        .unwrap_or_else(|| "en-US".into())
}
