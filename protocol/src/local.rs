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
use crate::files::{FileEntry, FileOffer, FileVerdict};
use crate::frame::{FrameKind, WireMessage};
use crate::input::InputEvent;
use crate::message::{ErrorReply, Screenshot};
use crate::watch::{ScreenTile, ScreenUpdate, WatchSettings};

/// The version of the local channel; service and helper come from one package,
/// so they must match exactly (an update restarts the helpers).
pub const LOCAL_VERSION: u16 = 6;

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
    /// Begin batch `batch` of files to the student (R6): check each offer
    /// against the receive folder, as the student; answered by
    /// [`FromHelper::FilesReady`]. The names are checked already
    /// ([`crate::files::FilePath`]); the helper checks them again.
    FilesBegin {
        /// The service's number for the batch.
        batch: u64,
        /// The files, in the console's order.
        files: Vec<FileOffer>,
        /// Replace files of the same name.
        overwrite: bool,
    },
    /// The next bytes of file `index` of batch `batch`, in order; written
    /// under a temporary name.
    FileChunk {
        /// The batch.
        batch: u64,
        /// The file.
        index: u32,
        /// The bytes.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// File `index` is complete: its size and hash are checked, then it
    /// gets its real name; answered [`FromHelper::Done`] once it has.
    FileEnd {
        /// The batch.
        batch: u64,
        /// The file.
        index: u32,
    },
    /// File `index` will not complete: what was written of it goes.
    FileAbort {
        /// The batch.
        batch: u64,
        /// The file.
        index: u32,
    },
    /// Batch `batch` is over (sent or collected): whatever is unfinished
    /// goes, and the student is told what arrived or was collected.
    FilesEnd {
        /// The batch.
        batch: u64,
        /// What to tell the student; `None` when nothing arrived.
        tell: Option<FilesNotice>,
    },
    /// Begin collect batch `batch`: list the hand-in folder (or `folder`
    /// beside it) as the student; answered by [`FromHelper::Listing`].
    CollectBegin {
        /// The service's number for the batch.
        batch: u64,
        /// A folder beside the hand-in folder instead of it (checked).
        folder: Option<String>,
        /// Only names matching this glob.
        pattern: Option<String>,
    },
    /// Read up to `len` bytes of listed file `index` from `offset`;
    /// answered by [`FromHelper::FileBytes`] (fewer at its end).
    FileRead {
        /// The batch.
        batch: u64,
        /// The file, by its place in the listing.
        index: u32,
        /// Where to read from.
        offset: u64,
        /// How much at most.
        len: u32,
    },
}

/// What the student is told about files (R6): who sent or collected which.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesNotice {
    /// The teacher, from the room certificate.
    pub teacher: String,
    /// The room, from the room certificate.
    pub room: String,
    /// The folder, as the student sees it.
    pub folder: String,
    /// The files, as paths below the folder.
    pub files: Vec<String>,
    /// Sent to the student (`false`: collected from them).
    pub sent: bool,
    /// Open the files that arrived for the student.
    pub open: bool,
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
    /// The answer to [`ToHelper::FilesBegin`]: where the files go, and
    /// whether each may be sent.
    FilesReady {
        /// The receive folder, as the student sees it.
        folder: String,
        /// One per offered file.
        verdicts: Vec<FileVerdict>,
    },
    /// The answer to [`ToHelper::CollectBegin`].
    Listing {
        /// The hand-in folder, as the student sees it.
        folder: String,
        /// Its files (names checked), at most [`crate::files::MAX_FILES`].
        files: Vec<FileEntry>,
        /// Files left out: too many, or names refused.
        skipped: u32,
    },
    /// Bytes of a listed file.
    FileBytes(#[serde(with = "serde_bytes")] Vec<u8>),
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
