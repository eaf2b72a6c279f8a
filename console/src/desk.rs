//! The desk: everything the teacher app does, as one headless API over a room
//! session, the screenshot gallery and the teacher's favourites. The Tauri
//! shell maps each of its commands to one call here and decides nothing.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use pult_protocol::input::{Controller, InputEvent, KeyCode, KeyCombo, MouseButton, ScreenPoint};
use pult_protocol::message::{ErrorCode, ErrorReply, WebUrl};
use pult_protocol::power::PowerAction;
use pult_protocol::watch::{ScreenUpdate, WatchSettings};
use serde::{Deserialize, Serialize};
use time::UtcOffset;
use time::format_description::well_known::Rfc3339;
use tokio::sync::mpsc;

use crate::favourites::{Favourites, FavouritesStore};
use crate::gallery::{Gallery, SavedShot};
use crate::room_session::{Action, DeviceStatus, RoomEvent, RoomSession, SessionOptions};
use crate::{ConsoleError, ControlSession, RoomCertificate, ui_frame};

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
    /// The teacher's home folder, where files to send are picked (R6).
    pub home_dir: String,
    /// Where collected files are saved, as `ROOM/DEVICE-USER/…` below it.
    pub collect_dir: String,
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
    /// For "in-use": who controls the device, for the app to say in its own words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<Controller>,
}

/// Who an agent's refusal says controls the device.
fn holder(error: &ErrorReply) -> Option<Controller> {
    (error.code == ErrorCode::InUse)
        .then(|| Controller::from_message(&error.message))
        .flatten()
}

impl From<ErrorReply> for DeskError {
    fn from(error: ErrorReply) -> Self {
        Self {
            code: error.code.as_str().to_owned(),
            holder: holder(&error),
            message: error.message,
        }
    }
}

impl From<ConsoleError> for DeskError {
    fn from(error: ConsoleError) -> Self {
        Self {
            code: error.code().to_owned(),
            message: error.to_string(),
            holder: match &error {
                ConsoleError::Agent { error, .. } => holder(error),
                _ => None,
            },
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
    /// Instead of the user's home folder (files to send are picked there).
    pub home: Option<PathBuf>,
    /// Instead of `Pult` in the user's documents folder (collected files go there).
    pub collected: Option<PathBuf>,
    /// Instead of `pult/audit` in the user's local data folder (the
    /// console's audit log of files sent and collected).
    pub audit: Option<PathBuf>,
    /// The local time's offset from UTC, for screenshot names; read it with
    /// `UtcOffset::current_local_offset` before the program starts threads.
    pub utc_offset: UtcOffset,
}

impl Default for DeskFolders {
    fn default() -> Self {
        Self {
            pictures: None,
            config: None,
            home: None,
            collected: None,
            audit: None,
            utc_offset: UtcOffset::UTC,
        }
    }
}

/// What the app sends while the teacher controls the device in the big view
/// (R3). Points are fractions (0 to 1) of the big view's picture, which
/// shows the whole desktop; keys are the web's `KeyboardEvent.code` names.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ControlInput {
    /// The pointer to a point, in order with clicks and keys (before a click).
    Move {
        /// Across, 0 left to 1 right.
        x: f64,
        /// Down, 0 top to 1 bottom.
        y: f64,
    },
    /// The pointer to a point while it travels: by datagram, latest wins.
    Glide {
        /// Across, 0 left to 1 right.
        x: f64,
        /// Down, 0 top to 1 bottom.
        y: f64,
    },
    /// A mouse button pressed or released: 1 left, 2 middle, 3 right, 4 back, 5 forward.
    Button {
        /// Which button.
        button: u8,
        /// Pressed or released.
        down: bool,
    },
    /// The wheel turned by notches (`dy` > 0 down).
    Wheel {
        /// Notches right.
        dx: i16,
        /// Notches down.
        dy: i16,
    },
    /// A key pressed or released, by `KeyboardEvent.code` ("KeyA", "Enter").
    Key {
        /// The key's code.
        code: String,
        /// Pressed or released.
        down: bool,
    },
    /// Text typed as it is.
    Text {
        /// The text.
        text: String,
    },
    /// A combination pressed and released in one, such as "alt+Tab" or
    /// "ctrl+alt+Delete": the shortcuts the teacher's own system would keep.
    Shortcut {
        /// The combination ([`KeyCombo::parse`]).
        keys: String,
    },
    /// Every key and button let go (the window lost the keyboard).
    ReleaseAll,
    /// Text put on the student's clipboard.
    Clipboard {
        /// The text.
        text: String,
    },
}

/// The device the teacher controls and its control session.
struct Controlled {
    device: String,
    session: ControlSession,
}

/// Screen updates of one device in the web view's hands and not yet drawn:
/// enough to hide the round trip, few enough that nothing queues.
const VIEWER_CREDIT: usize = 3;

/// The teacher app's engine for one room.
pub struct Desk {
    pub(crate) session: RoomSession,
    info: RoomInfo,
    /// When the certificate in use ends, as renewals move it.
    valid_until: Mutex<String>,
    gallery: Gallery,
    favourites: FavouritesStore,
    thumbnail: Mutex<WatchSettings>,
    focused: Mutex<Option<String>>,
    control: tokio::sync::Mutex<Option<Controlled>>,
    pub(crate) broadcasting: tokio::sync::Mutex<Option<crate::desk_broadcast::Running>>,
    /// The teacher's home folder: files to send come from there (R6).
    pub(crate) home: PathBuf,
    /// Collected files go to `ROOM/DEVICE-USER/…` below this.
    pub(crate) collected: PathBuf,
    /// Where the console's audit log is, and the log once opened.
    pub(crate) audit_dir: PathBuf,
    pub(crate) audit: Mutex<Option<std::sync::Arc<crate::audit::ConsoleAudit>>>,
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
        let home = folders
            .home
            .or_else(dirs::home_dir)
            .unwrap_or_else(|| PathBuf::from("."));
        let collected = folders.collected.unwrap_or_else(|| {
            dirs::document_dir()
                .unwrap_or_else(|| home.join("Documents"))
                .join("Pult")
        });
        let audit_dir = folders
            .audit
            .or_else(crate::audit::ConsoleAudit::default_dir)
            .unwrap_or_else(|| home.join(".local/share/pult/audit"));
        let info = RoomInfo {
            gallery_dir: gallery.dir().display().to_string(),
            home_dir: home.display().to_string(),
            collect_dir: collected.display().to_string(),
            organisation: manifest.organisation.clone(),
            room: manifest.room.clone(),
            teacher: manifest.user.clone(),
            valid_until: manifest.not_after.format(&Rfc3339).unwrap_or_default(),
            locale: system_locale(),
            devices: session.statuses(),
        };
        let desk = Self {
            valid_until: Mutex::new(info.valid_until.clone()),
            gallery,
            favourites: FavouritesStore::for_teacher(&manifest.user, folders.config),
            session,
            info,
            thumbnail: Mutex::new(options.thumbnail),
            focused: Mutex::new(None),
            control: tokio::sync::Mutex::new(None),
            broadcasting: tokio::sync::Mutex::new(None),
            home,
            collected,
            audit_dir,
            audit: Mutex::new(None),
        };
        Ok((desk, events))
    }

    /// The room with every device's current status.
    pub fn room(&self) -> RoomInfo {
        RoomInfo {
            devices: self.session.statuses(),
            valid_until: self
                .valid_until
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            ..self.info.clone()
        }
    }

    /// Pult agents on the network that are not this room's (R14): shown, never stored.
    pub fn unknown_devices(&self) -> Vec<crate::UnknownDevice> {
        self.session.unknown_devices()
    }

    /// Connects with the renewed certificate `room` from now on (the
    /// devices and their order stay those the room was opened with).
    pub fn renewed(&self, room: &RoomCertificate) -> Result<(), DeskError> {
        self.session.renew(room)?;
        *self.valid_until.lock().unwrap_or_else(|p| p.into_inner()) =
            room.manifest.not_after.format(&Rfc3339).unwrap_or_default();
        Ok(())
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
        *self.control.lock().await = None;
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

    /// Takes over mouse and keyboard of `device` (R3), or gives control back
    /// (`None`); control of another device ends first. Fails, naming who, while
    /// another console controls the device.
    pub async fn control(&self, device: Option<String>) -> Result<(), ConsoleError> {
        let mut control = self.control.lock().await;
        // Dropping ends control without waiting; the agent lets go of every key.
        *control = None;
        if let Some(device) = device {
            let session = self.session.control(&device).await?;
            *control = Some(Controlled { device, session });
        }
        Ok(())
    }

    /// Sends `inputs` in order to `device`, which the teacher controls; returns
    /// what could not be sent and what the agent reported it could not apply
    /// since the last call. When the device cannot be reached any more,
    /// control ends and the error says why.
    pub async fn control_input(
        &self,
        device: &str,
        inputs: &[ControlInput],
    ) -> Result<Vec<DeskError>, ConsoleError> {
        let mut control = self.control.lock().await;
        let Some(controlled) = control.as_mut().filter(|c| c.device == device) else {
            return Err(ConsoleError::BadInput(format!(
                "{device} is not under control from this window"
            )));
        };
        // An input that cannot be sent (a key the protocol lacks) is skipped
        // and reported; the ones after it still go, so no key stays down.
        let mut refused = Vec::new();
        for input in inputs {
            match send_input(&mut controlled.session, device, input).await {
                Ok(()) => {}
                Err(ConsoleError::BadInput(message)) => refused.push(DeskError {
                    code: "input-refused".into(),
                    message,
                    holder: None,
                }),
                Err(error) => {
                    *control = None;
                    return Err(error);
                }
            }
        }
        refused.extend(
            controlled
                .session
                .take_failures()
                .into_iter()
                .map(DeskError::from),
        );
        Ok(refused)
    }

    /// The text on the clipboard of `device`, which the teacher controls.
    pub async fn read_clipboard(&self, device: &str) -> Result<String, ConsoleError> {
        let mut control = self.control.lock().await;
        let Some(controlled) = control.as_mut().filter(|c| c.device == device) else {
            return Err(ConsoleError::BadInput(format!(
                "{device} is not under control from this window"
            )));
        };
        controlled.session.read_clipboard().await
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

    /// Power for `devices`: "on" wakes them (wake-on-LAN, relayed by awake
    /// devices of the room); "reboot", "shutdown" and "logoff" happen after
    /// `delay_seconds`, of which the students are told; "cancel" calls a
    /// waiting one off.
    pub async fn power(
        &self,
        devices: &[String],
        action: &str,
        delay_seconds: u32,
    ) -> Result<Vec<ActionResult>, ConsoleError> {
        let outcomes = match action {
            "on" => self.session.wake(devices, &[]).await,
            "cancel" => self.session.act(devices, &Action::PowerCancel).await,
            other => {
                let action = other
                    .parse::<PowerAction>()
                    .map_err(ConsoleError::BadInput)?;
                let action = Action::Power(action, delay_seconds);
                self.session.act(devices, &action).await
            }
        };
        Ok(results(outcomes))
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

async fn send_input(
    session: &mut ControlSession,
    device: &str,
    input: &ControlInput,
) -> Result<(), ConsoleError> {
    let bad = |what: String| ConsoleError::BadInput(format!("{device}: {what}"));
    match input {
        ControlInput::Move { x, y } => session.move_to(ScreenPoint::fraction(None, *x, *y)).await,
        ControlInput::Glide { x, y } => session.glide_to(ScreenPoint::fraction(None, *x, *y)).await,
        ControlInput::Button { button, down } => {
            let button = MouseButton::from_number(*button)
                .ok_or_else(|| bad(format!("there is no mouse button {button}")))?;
            let down = *down;
            session.send(&InputEvent::Button { button, down }).await
        }
        ControlInput::Wheel { dx, dy } => {
            session.send(&InputEvent::Wheel { dx: *dx, dy: *dy }).await
        }
        ControlInput::Key { code, down } => {
            let code = KeyCode::from_dom(code)
                .ok_or_else(|| bad(format!("the key {code:?} cannot be pressed remotely")))?;
            let down = *down;
            session.send(&InputEvent::Key { code, down }).await
        }
        ControlInput::Text { text } => session.send(&InputEvent::Text(text.clone())).await,
        ControlInput::Shortcut { keys } => {
            let combo = KeyCombo::parse(keys).map_err(|e| bad(e.to_string()))?;
            session.send_all(&combo.events()).await
        }
        ControlInput::ReleaseAll => session.send(&InputEvent::ReleaseAll).await,
        ControlInput::Clipboard { text } => session.set_clipboard(text).await,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_input_reads_what_the_app_sends() {
        let inputs: Vec<ControlInput> = serde_json::from_str(
            r#"[{"kind":"glide","x":0.5,"y":0.25},{"kind":"button","button":1,"down":true},
                {"kind":"key","code":"KeyA","down":false},{"kind":"text","text":"äöü@€"},
                {"kind":"shortcut","keys":"alt+Tab"},{"kind":"wheel","dx":0,"dy":-3},{"kind":"releaseAll"},
                {"kind":"clipboard","text":"Seite 12"}]"#,
        )
        .unwrap();
        assert_eq!(
            inputs,
            [
                ControlInput::Glide { x: 0.5, y: 0.25 },
                ControlInput::Button {
                    button: 1,
                    down: true
                },
                ControlInput::Key {
                    code: "KeyA".into(),
                    down: false
                },
                ControlInput::Text {
                    text: "äöü@€".into()
                },
                ControlInput::Shortcut {
                    keys: "alt+Tab".into()
                },
                ControlInput::Wheel { dx: 0, dy: -3 },
                ControlInput::ReleaseAll,
                ControlInput::Clipboard {
                    text: "Seite 12".into()
                },
            ]
        );
        // The app's shortcut menu (ui/src/control.ts) sends these.
        for keys in [
            "alt+Tab",
            "alt+F4",
            "super",
            "ctrl+Escape",
            "ctrl+alt+Delete",
        ] {
            let combo = KeyCombo::parse(keys).unwrap();
            assert_eq!(combo.events().len(), 2 * combo.keys().len(), "{keys}");
        }
        let unknown = serde_json::from_str::<ControlInput>(r#"{"kind":"teleport"}"#);
        // The app is told who controls a device in fields, not a sentence.
        let refused = ConsoleError::Agent {
            device: "R101-PC03".into(),
            error: ErrorReply::new(
                ErrorCode::InUse,
                "schmidt (room 101) controls this computer now",
            ),
        };
        assert_eq!(
            serde_json::to_value(DeskError::from(refused)).unwrap()["holder"],
            serde_json::json!({"user": "schmidt", "room": "101"})
        );
        assert!(unknown.unwrap_err().to_string().contains("teleport"));
    }
}
