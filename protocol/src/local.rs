//! The local channel between an agent's system service and its session helper.
//!
//! The service (root or LocalSystem) owns the network, the key and every
//! decision; the helper runs in the student's graphical session and does what
//! needs the desktop: capture, the "you are watched" notice (R1), starting
//! programs as the student. They talk over a Unix socket (a named pipe on
//! Windows) that only they can open, in the same frames as the wire: kind,
//! length, postcard, with a hard size limit per direction.
//!
//! Every message carries an id; the helper answers each request with the same
//! id, so captures for several streams and a screenshot run side by side.
//! Id 0 is the hellos: the helper's first message, then the service's.

use serde::{Deserialize, Serialize};

use crate::broadcast::BroadcastMode;
use crate::frame::{FrameKind, WireMessage};
use crate::input::InputEvent;
use crate::message::{ErrorReply, Screenshot};
use crate::watch::{ScreenTile, ScreenUpdate, WatchSettings};

/// The version of the local channel; service and helper come from one package,
/// so they must match exactly (an update restarts the helpers).
pub const LOCAL_VERSION: u16 = 5;

/// The service to the helper.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceMessage {
    /// Matches the answer to the request.
    pub id: u64,
    /// What the service asks.
    pub body: ToHelper,
}

impl WireMessage for ServiceMessage {
    const KIND: FrameKind = FrameKind::ToHelper;
}

/// What the service asks of the helper.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToHelper {
    /// The answer to the helper's hello: the channel's version.
    Hello {
        /// [`LOCAL_VERSION`] of the service.
        version: u16,
    },
    /// Show this notice now (an empty one hides it); answered by
    /// [`FromHelper::NoticeShown`] once the student can see it.
    Notice(Notice),
    /// Capture, scale and encode the screen for stream `stream`; answered by
    /// [`FromHelper::Captured`]. Refused while no notice is shown.
    Capture {
        /// The service's number for the screen stream; the helper keeps what
        /// that stream was last sent, to send only changed tiles.
        stream: u64,
        /// Size, quality and monitor.
        settings: WatchSettings,
        /// Send the whole picture, not only what changed.
        whole_picture: bool,
    },
    /// The screen stream ended: forget what it was sent.
    EndStream {
        /// The stream.
        stream: u64,
    },
    /// The whole screen as PNG; answered by [`FromHelper::Screenshot`].
    /// Refused while no notice is shown.
    Screenshot,
    /// The monitors; answered by [`FromHelper::Monitors`].
    Monitors,
    /// Open a web page as the student (already checked: http or https).
    OpenUrl {
        /// The address.
        url: String,
    },
    /// Start a program as the student, detached, without a shell.
    RunProgram {
        /// The program.
        program: String,
        /// Its arguments.
        args: Vec<String>,
    },
    /// Show a message window, which the student closes; answered once it
    /// is on the screen.
    Message(TeacherMessage),
    /// Lock the screen with these words (R20), or end the lock (`None`);
    /// answered once the lock covers every monitor (or is gone).
    Lock(Option<LockScreen>),
    /// Apply the teacher's input (R3), in the order sent, after everything
    /// sent before it; answered once applied. Checked by the service
    /// ([`InputEvent::check`]); the helper checks points against the screen.
    Input(InputEvent),
    /// Show a broadcast (R7) in the way asked, or end it (`None`); answered
    /// once its window covers the monitors (or is gone). Until the first
    /// picture it shows who broadcasts.
    Broadcast(Option<BroadcastView>),
    /// The next picture of the broadcast, checked by the service against
    /// its size ([`crate::watch::ScreenUpdate`] as the console sent it);
    /// answered once it is on the screen.
    BroadcastPicture(ScreenUpdate),
}

/// A broadcast as the student sees it (R7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BroadcastView {
    /// The teacher, from the room certificate.
    pub teacher: String,
    /// The room, from the room certificate.
    pub room: String,
    /// Full screen with input blocked, or a window.
    pub mode: BroadcastMode,
}

/// A message from a teacher, its texts already checked
/// ([`crate::message::ScreenText`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeacherMessage {
    /// The teacher, from the room certificate.
    pub teacher: String,
    /// The room, from the room certificate.
    pub room: String,
    /// The title, if any.
    pub title: Option<String>,
    /// The text.
    pub text: String,
    /// A power action announced: the helper words title and text in the
    /// student's language instead.
    pub power: Option<PowerNotice>,
}

/// A restart, shutdown or log-off the student is warned of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerNotice {
    /// What will happen.
    pub action: crate::power::PowerAction,
    /// In how many seconds (0: now).
    pub seconds: u32,
    /// The teacher called it off after all.
    pub cancelled: bool,
}

/// What a lock screen shows (R20).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockScreen {
    /// The teacher who locked, from the room certificate.
    pub teacher: String,
    /// The room, from the room certificate.
    pub room: String,
    /// The teacher's words, if any.
    pub message: Option<String>,
}

/// The helper to the service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelperMessage {
    /// The id of the request this answers (0 for the hello).
    pub id: u64,
    /// The answer.
    pub body: FromHelper,
}

impl WireMessage for HelperMessage {
    const KIND: FrameKind = FrameKind::FromHelper;
}

/// What the helper answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromHelper {
    /// The helper's first message.
    Hello {
        /// [`LOCAL_VERSION`] of the helper.
        version: u16,
        /// The session's display (`:0`), as the helper found it.
        display: String,
    },
    /// The notice is on the screen (or, for an empty notice, gone).
    NoticeShown,
    /// A captured picture; `None` when the screen has not changed since the
    /// stream's last capture (the helper could tell without capturing).
    Captured(Option<CapturedFrame>),
    /// A screenshot.
    Screenshot(Screenshot),
    /// The monitors, as width × height, left to right.
    Monitors(Vec<(u32, u32)>),
    /// The request was carried out.
    Done,
    /// The request failed.
    Error(ErrorReply),
    /// The text on the session's clipboard, as
    /// [`crate::input::InputEvent::ReadClipboard`] asked.
    Clipboard(String),
}

/// The tiles of one capture of a screen stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedFrame {
    /// The picture's width after scaling.
    pub width: u32,
    /// Its height.
    pub height: u32,
    /// The changed tiles (none: nothing changed).
    pub tiles: Vec<ScreenTile>,
}

/// What the student is told (R1). No entries: nothing is happening.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Who is doing what, one entry per teacher and activity.
    pub entries: Vec<NoticeEntry>,
}

impl Notice {
    /// Whether anything is shown.
    pub fn is_active(&self) -> bool {
        !self.entries.is_empty()
    }
}

/// One teacher doing one thing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NoticeEntry {
    /// The teacher, from the room certificate.
    pub teacher: String,
    /// The room, from the room certificate.
    pub room: String,
    /// What the teacher does.
    pub activity: Activity,
}

/// What a teacher does that the student must be told of. Grows at the end
/// (control, broadcast) as features arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Activity {
    /// Views the screen: a live stream, or a screenshot a moment ago.
    Viewing,
    /// Has locked the screen (R20).
    Locked,
    /// Controls mouse and keyboard (R3).
    Controlled,
    /// Shows their screen, or a student's, on this one (R7).
    Broadcasting,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{FrameError, encode, read_message};

    #[tokio::test]
    async fn local_messages_travel_in_their_own_frame_kinds() {
        let message = ServiceMessage {
            id: 7,
            body: ToHelper::Notice(Notice {
                entries: vec![NoticeEntry {
                    teacher: "mueller".into(),
                    room: "101".into(),
                    activity: Activity::Viewing,
                }],
            }),
        };
        let bytes = encode(&message).unwrap();
        assert_eq!(bytes[0], FrameKind::ToHelper as u8);
        let read: ServiceMessage = read_message(&mut bytes.as_slice()).await.unwrap().unwrap();
        assert_eq!(read, message);
        // A helper's frame is never taken for the service's, nor for a console request.
        let error = read_message::<HelperMessage>(&mut bytes.as_slice())
            .await
            .unwrap_err();
        assert!(matches!(error, FrameError::Unexpected { .. }));
        let error = read_message::<crate::message::Request>(&mut bytes.as_slice())
            .await
            .unwrap_err();
        assert!(matches!(error, FrameError::Unexpected { .. }));
    }

    #[tokio::test]
    async fn an_oversized_request_to_the_helper_is_refused_from_its_header() {
        let mut bytes = vec![FrameKind::ToHelper as u8];
        bytes.extend(
            u32::try_from(FrameKind::ToHelper.max_len() + 1)
                .unwrap()
                .to_be_bytes(),
        );
        let error = read_message::<ServiceMessage>(&mut bytes.as_slice())
            .await
            .unwrap_err();
        assert!(matches!(error, FrameError::TooLarge { .. }));
    }
}
