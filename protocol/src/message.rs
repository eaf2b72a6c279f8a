//! The messages of a control stream: hello, requests and replies.
//!
//! Postcard is not self-describing, so enums here only ever grow at the end;
//! a peer checks the other's [`Hello::capabilities`] before it sends a newer
//! request, which keeps a console working with agents one minor version older.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::frame::{FrameKind, WireMessage};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: ProtocolVersion = ProtocolVersion { major: 1, minor: 5 };

/// A protocol version; peers of the same major version understand each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProtocolVersion {
    /// Bumped on incompatible changes.
    pub major: u16,
    /// Bumped when messages or capabilities are added.
    pub minor: u16,
}

impl ProtocolVersion {
    /// Whether a peer speaking `other` can be talked to.
    pub fn is_compatible_with(self, other: ProtocolVersion) -> bool {
        self.major == other.major
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The first message each way on a control stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The sender's protocol version.
    pub version: ProtocolVersion,
    /// The sending program and its version, for logs.
    pub software: String,
    /// The features the sender supports, by [`Feature::as_str`]; unknown names are ignored.
    pub capabilities: Vec<String>,
}

impl Hello {
    /// A hello for this build's protocol version, offering `features`.
    pub fn current(software: &str, features: &[Feature]) -> Self {
        Self {
            version: PROTOCOL_VERSION,
            software: software.to_owned(),
            capabilities: features.iter().map(|f| f.as_str().to_owned()).collect(),
        }
    }

    /// Whether the sender offered `feature`.
    pub fn supports(&self, feature: Feature) -> bool {
        self.capabilities.iter().any(|c| c == feature.as_str())
    }
}

impl WireMessage for Hello {
    const KIND: FrameKind = FrameKind::Hello;
}

/// Something a teacher can do on a student computer. Room certificates grant
/// features; agents offer them in their hello.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feature {
    /// Take a screenshot of the whole screen (R2).
    Screenshot,
    /// Open a web page (R5).
    OpenUrl,
    /// Start an installed program (R4).
    RunProgram,
    /// Watch the screen live (R1): thumbnails and the full view.
    Watch,
    /// Show the student a message window.
    Message,
    /// Lock the screen and block keyboard and mouse (R20).
    Lock,
    /// Take over mouse and keyboard (R3).
    Control,
    /// Wake devices, restart, shut down or log off.
    Power,
    /// Show the teacher's screen, or a student's, on the students' screens (R7).
    Broadcast,
    /// Send files to the students (R6) and collect their files.
    Files,
}

impl Feature {
    /// Every feature this build knows.
    pub const ALL: [Feature; 10] = [
        Feature::Screenshot,
        Feature::OpenUrl,
        Feature::RunProgram,
        Feature::Watch,
        Feature::Message,
        Feature::Lock,
        Feature::Control,
        Feature::Power,
        Feature::Broadcast,
        Feature::Files,
    ];

    /// The stable name used in certificates, hellos and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Screenshot => "screenshot",
            Self::OpenUrl => "open-url",
            Self::RunProgram => "run-program",
            Self::Watch => "watch",
            Self::Message => "message",
            Self::Lock => "lock",
            Self::Control => "control",
            Self::Power => "power",
            Self::Broadcast => "broadcast",
            Self::Files => "files",
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Feature {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == text)
            .ok_or_else(|| format!("unknown feature '{text}'"))
    }
}

/// A request from the console; the agent answers each with one reply frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Capture the whole screen; answered by a [`Screenshot`] frame.
    Screenshot,
    /// Open a web page in the student's browser (http and https only).
    OpenUrl {
        /// The address, checked by [`WebUrl::parse`] at both ends.
        url: String,
    },
    /// Start a program, detached, never through a shell.
    RunProgram {
        /// The program: a name looked up in PATH, or a full path.
        program: String,
        /// Its arguments, passed as they are.
        args: Vec<String>,
    },
    /// Turn this stream into a screen stream (R1): the agent answers with
    /// [`crate::watch::ScreenUpdate`] frames while it holds credit, and reads
    /// [`crate::watch::WatchControl`] frames, until the console ends the stream.
    Watch {
        /// Size, frame rate, quality and monitor.
        settings: crate::watch::WatchSettings,
        /// How many updates the agent may send before it hears back.
        credit: u16,
    },
    /// Who is logged on, whether the screen is watched; answered by [`Reply::Status`].
    Status,
    /// Show the student a message window, which they close.
    Message {
        /// A title above the text, if any.
        title: Option<String>,
        /// The message, checked by [`MessageText::new`] at both ends.
        text: String,
    },
    /// Lock the screen (R20) until unlocked or the agent's lock timeout
    /// passes; locking a locked screen replaces its message and starts the
    /// timeout anew.
    Lock {
        /// Shown on the lock screen under the teacher's name.
        message: Option<String>,
    },
    /// End the lock, whoever set it (any console of the room may).
    Unlock,
    /// Turn this stream into a control stream (R3): the agent answers
    /// [`Reply::Done`] once the student is told they are controlled (or an
    /// error, [`ErrorCode::InUse`] naming who controls the device now), then
    /// applies the [`crate::input::InputEvent`] frames and pointer datagrams
    /// that follow, in order, and reports failures as
    /// [`crate::input::ControlNews`]. When the console finishes its side,
    /// the agent releases every key and button still held and finishes too.
    Control,
    /// Restart, shut down or log off after `delay_seconds` (at most
    /// [`crate::power::MAX_DELAY_SECONDS`]); the student is told at once.
    /// A newer power request replaces one still waiting.
    Power {
        /// What to do.
        action: crate::power::PowerAction,
        /// How long the student has before it happens; 0 is now.
        delay_seconds: u32,
    },
    /// Call off the power action still waiting, if any.
    PowerCancel,
    /// Send magic packets for `macs` on this device's networks (the relay
    /// for devices behind a router): only to MACs the room grant lists
    /// ([`ErrorCode::WakeRefused`] otherwise), at most
    /// [`crate::power::MAX_WAKE`].
    Wake {
        /// The cards to wake.
        macs: Vec<crate::power::Mac>,
    },
    /// Turn this stream into a broadcast stream (R7): the agent answers
    /// [`Reply::Done`] once the student is told and the picture can be shown
    /// (or an error, [`ErrorCode::InUse`] naming who broadcasts to the device
    /// now), then grants credit with [`crate::broadcast::BroadcastNews`] and
    /// shows the [`crate::watch::ScreenUpdate`]s that follow, until the
    /// console finishes its side or goes.
    Broadcast {
        /// Full screen with input blocked, or a window.
        mode: crate::broadcast::BroadcastMode,
    },
    /// Turn this stream into a batch stream of files to the student (R6):
    /// a [`crate::files::FileList`] follows, the agent answers
    /// [`crate::files::FilesNews::Ready`], and the files come on streams of
    /// their own ([`Request::FileData`]); see [`crate::files`].
    SendFiles {
        /// Replace files of the same name; without it they are left as
        /// they are and reported as existing.
        overwrite: bool,
        /// Open the files for the student once they arrived.
        open: bool,
    },
    /// The bytes of file `index` of batch `batch` follow, exactly as many
    /// as offered; the agent answers [`Reply::Done`] once the file is in
    /// place under its real name.
    FileData {
        /// The batch, as [`crate::files::FilesNews::Ready`] numbered it.
        batch: u64,
        /// The file's place in the batch's list.
        index: u32,
    },
    /// Turn this stream into a collect batch: the agent answers
    /// [`crate::files::FilesNews::Listing`] with the files of the student's
    /// hand-in folder (or `folder` beside it) that match `pattern`.
    CollectFiles {
        /// A folder beside the hand-in folder instead of it, checked by
        /// [`crate::files::FilePath::parse`].
        folder: Option<String>,
        /// Only names matching this glob ([`crate::files::glob_matches`]).
        pattern: Option<String>,
    },
    /// Send file `index` of collect batch `batch`: the agent answers
    /// [`Reply::Done`], the file's bytes (as many as listed) and their
    /// BLAKE3 hash, or an error.
    FetchFile {
        /// The batch, as [`crate::files::FilesNews::Listing`] numbered it.
        batch: u64,
        /// The file's place in the listing.
        index: u32,
    },
}

impl Request {
    /// The feature a room certificate must grant for this request.
    pub fn feature(&self) -> Feature {
        match self {
            Self::Screenshot => Feature::Screenshot,
            Self::OpenUrl { .. } => Feature::OpenUrl,
            Self::RunProgram { .. } => Feature::RunProgram,
            Self::Watch { .. } => Feature::Watch,
            // Knowing who uses a device is part of seeing the room (R15).
            Self::Status => Feature::Watch,
            Self::Message { .. } => Feature::Message,
            Self::Lock { .. } | Self::Unlock => Feature::Lock,
            Self::Control => Feature::Control,
            Self::Power { .. } | Self::PowerCancel | Self::Wake { .. } => Feature::Power,
            Self::Broadcast { .. } => Feature::Broadcast,
            Self::SendFiles { .. }
            | Self::FileData { .. }
            | Self::CollectFiles { .. }
            | Self::FetchFile { .. } => Feature::Files,
        }
    }
}

impl WireMessage for Request {
    const KIND: FrameKind = FrameKind::Request;
}

/// The agent's answer to a request that has no data of its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The request was carried out.
    Done,
    /// The request failed, or the frame could not be read; see the code.
    Error(ErrorReply),
    /// The answer to [`Request::Status`].
    Status(AgentStatus),
}

/// What a device reports about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// The user logged on at the device, if anyone (R15).
    pub user: Option<String>,
    /// Whether any screen stream is open.
    pub watched: bool,
    /// The monitors, as width × height, left to right.
    pub monitors: Vec<(u32, u32)>,
    /// Whether the screen is locked (R20), and by whom.
    pub locked: Option<String>,
}

impl WireMessage for Reply {
    const KIND: FrameKind = FrameKind::Reply;
}

/// A failure the other end reports, with a stable code and a message for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// What kind of failure; UIs decide on this, never on the message.
    pub code: ErrorCode,
    /// What happened, in words.
    pub message: String,
}

impl ErrorReply {
    /// An error reply with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for ErrorReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// The whole screen of a student computer, lossless.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Screenshot {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The PNG file.
    #[serde(with = "serde_bytes")]
    pub png: Vec<u8>,
}

impl WireMessage for Screenshot {
    const KIND: FrameKind = FrameKind::Screenshot;
}

/// Stable error codes; they travel as numbers and never change meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "u16", into = "u16")]
pub enum ErrorCode {
    /// A frame could not be decoded.
    Malformed,
    /// A frame exceeded its kind's size limit.
    TooLarge,
    /// A message of the wrong kind came (e.g. a request before the hello).
    UnexpectedMessage,
    /// The agent does not know this request.
    Unsupported,
    /// The room certificate does not grant the feature the request needs.
    NotGranted,
    /// The URL was refused (not http or https, or not a URL).
    UrlRefused,
    /// The program to run was not found.
    ProgramNotFound,
    /// The program was found but could not be started.
    ProgramFailed,
    /// The screen could not be captured.
    CaptureFailed,
    /// The peers speak incompatible protocol versions.
    VersionMismatch,
    /// Something failed inside the agent.
    Internal,
    /// The student cannot be told that their screen is viewed (no session
    /// helper, or it could not show the notice), so the screen is not served
    /// (R1: no notice, no view).
    CannotNotify,
    /// This connection already has as many screen streams open as an agent serves
    /// to one console (two); close one first.
    TooManyStreams,
    /// This connection asked for screenshots faster than the agent takes them.
    RateLimited,
    /// A text in the request was refused: empty, too long, or with control characters.
    TextRefused,
    /// Another console controls this device now; the message says who
    /// ([`crate::input::Controller::message`]).
    InUse,
    /// Input a console may not send (a key that is no key, a wild wheel,
    /// too much text), or a point off the screen.
    InputRefused,
    /// A wake request named a MAC address that is not one of the room's
    /// steerable devices, or too many.
    WakeRefused,
    /// The power action could not be carried out or is not possible here.
    PowerFailed,
    /// The screen is locked (R20): it takes no remote control until unlocked.
    Locked,
    /// A file of that name is there, and the teacher did not choose to
    /// replace it (R6).
    FileExists,
    /// A file or folder name was refused ([`crate::files::NameError`]).
    NameRefused,
    /// The student's disk is full; nothing of the file was left behind.
    DiskFull,
    /// A file could not be written or read, or arrived other than offered
    /// (size, hash); nothing of it was left behind.
    FileFailed,
    /// The peer sent nothing at all for
    /// [`crate::endpoint::SILENCE`]: switched off, cut off or crashed.
    Silent,
    /// A code from a newer peer that this build does not know.
    Unknown(u16),
}

impl ErrorCode {
    /// The stable name of the code, for logs and UIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::TooLarge => "too-large",
            Self::UnexpectedMessage => "unexpected-message",
            Self::Unsupported => "unsupported",
            Self::NotGranted => "not-granted",
            Self::UrlRefused => "url-refused",
            Self::ProgramNotFound => "program-not-found",
            Self::ProgramFailed => "program-failed",
            Self::CaptureFailed => "capture-failed",
            Self::VersionMismatch => "version-mismatch",
            Self::Internal => "internal",
            Self::CannotNotify => "cannot-notify",
            Self::TooManyStreams => "too-many-streams",
            Self::RateLimited => "rate-limited",
            Self::TextRefused => "text-refused",
            Self::InUse => "in-use",
            Self::InputRefused => "input-refused",
            Self::WakeRefused => "wake-refused",
            Self::PowerFailed => "power-failed",
            Self::Locked => "locked",
            Self::FileExists => "file-exists",
            Self::NameRefused => "name-refused",
            Self::DiskFull => "disk-full",
            Self::FileFailed => "file-failed",
            Self::Silent => "silent",
            Self::Unknown(_) => "unknown",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ErrorCode> for u16 {
    fn from(code: ErrorCode) -> u16 {
        match code {
            ErrorCode::Malformed => 1,
            ErrorCode::TooLarge => 2,
            ErrorCode::UnexpectedMessage => 3,
            ErrorCode::Unsupported => 4,
            ErrorCode::NotGranted => 5,
            ErrorCode::UrlRefused => 6,
            ErrorCode::ProgramNotFound => 7,
            ErrorCode::ProgramFailed => 8,
            ErrorCode::CaptureFailed => 9,
            ErrorCode::VersionMismatch => 10,
            ErrorCode::Internal => 11,
            ErrorCode::CannotNotify => 12,
            ErrorCode::TooManyStreams => 13,
            ErrorCode::RateLimited => 14,
            ErrorCode::TextRefused => 15,
            ErrorCode::InUse => 16,
            ErrorCode::InputRefused => 17,
            ErrorCode::WakeRefused => 18,
            ErrorCode::PowerFailed => 19,
            ErrorCode::Locked => 20,
            ErrorCode::FileExists => 21,
            ErrorCode::NameRefused => 22,
            ErrorCode::DiskFull => 23,
            ErrorCode::FileFailed => 24,
            ErrorCode::Silent => 25,
            ErrorCode::Unknown(code) => code,
        }
    }
}

impl From<u16> for ErrorCode {
    fn from(code: u16) -> ErrorCode {
        match code {
            1 => ErrorCode::Malformed,
            2 => ErrorCode::TooLarge,
            3 => ErrorCode::UnexpectedMessage,
            4 => ErrorCode::Unsupported,
            5 => ErrorCode::NotGranted,
            6 => ErrorCode::UrlRefused,
            7 => ErrorCode::ProgramNotFound,
            8 => ErrorCode::ProgramFailed,
            9 => ErrorCode::CaptureFailed,
            10 => ErrorCode::VersionMismatch,
            11 => ErrorCode::Internal,
            12 => ErrorCode::CannotNotify,
            13 => ErrorCode::TooManyStreams,
            14 => ErrorCode::RateLimited,
            15 => ErrorCode::TextRefused,
            16 => ErrorCode::InUse,
            17 => ErrorCode::InputRefused,
            18 => ErrorCode::WakeRefused,
            19 => ErrorCode::PowerFailed,
            20 => ErrorCode::Locked,
            21 => ErrorCode::FileExists,
            22 => ErrorCode::NameRefused,
            23 => ErrorCode::DiskFull,
            24 => ErrorCode::FileFailed,
            25 => ErrorCode::Silent,
            other => ErrorCode::Unknown(other),
        }
    }
}

/// A web address that may be opened on a student computer: http or https, with a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebUrl(url::Url);

/// Why a text is not a web address Pult opens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The text does not parse as a URL.
    #[error("'{text}' is not a web address: {reason}")]
    Invalid {
        /// The text as given.
        text: String,
        /// What the parser found wrong.
        reason: String,
    },
    /// The URL has a scheme other than http or https (`file:`, `javascript:`, ...).
    #[error("only http and https web pages can be opened, not '{scheme}:' addresses")]
    Scheme {
        /// The refused scheme.
        scheme: String,
    },
    /// An http(s) URL without a host.
    #[error("'{0}' names no host")]
    NoHost(String),
    /// The URL is longer than anyone types or needs.
    #[error("the web address is {0} characters long; at most 8192 are accepted")]
    TooLong(usize),
}

impl WebUrl {
    /// The longest URL accepted.
    pub const MAX_LEN: usize = 8192;

    /// Parses `text`, accepting only http and https URLs with a host.
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        if text.len() > Self::MAX_LEN {
            return Err(UrlError::TooLong(text.len()));
        }
        let url = url::Url::parse(text.trim()).map_err(|e| UrlError::Invalid {
            text: text.to_owned(),
            reason: e.to_string(),
        })?;
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(UrlError::Scheme {
                    scheme: other.to_owned(),
                });
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(UrlError::NoHost(text.to_owned()));
        }
        Ok(Self(url))
    }

    /// The normalised URL text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for WebUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text a teacher puts on a student's screen: a message, its title, the
/// words on a lock screen. Checked at both ends, so a console says at once
/// what is wrong and an agent shows nothing it cannot lay out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScreenText(String);

/// Which text it is, and how much of it fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextKind {
    /// The message of a message window: lines of text.
    Message,
    /// A message window's title: one line.
    Title,
    /// The words on a lock screen: a few lines.
    LockMessage,
}

impl TextKind {
    /// The most characters the text may have.
    pub const fn max_chars(self) -> usize {
        match self {
            Self::Message => 2000,
            Self::Title => 100,
            Self::LockMessage => 300,
        }
    }

    const fn name(self) -> &'static str {
        match self {
            Self::Message => "the message",
            Self::Title => "the title",
            Self::LockMessage => "the lock screen's message",
        }
    }
}

/// Why a text is not shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Nothing but white space.
    #[error("{0} is empty")]
    Empty(&'static str),
    /// Longer than its kind allows.
    #[error("{what} has {chars} characters; at most {max} are shown")]
    TooLong {
        /// Which text.
        what: &'static str,
        /// Its length in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// A control character (a line break in a title, an escape anywhere).
    #[error("{what} contains the control character U+{code:04X}")]
    ControlCharacter {
        /// Which text.
        what: &'static str,
        /// The character's code point.
        code: u32,
    },
}

impl ScreenText {
    /// Checks `text` as a text of `kind`: trimmed, not empty, not too long,
    /// no control characters but line breaks and tabs where lines are allowed.
    pub fn new(text: &str, kind: TextKind) -> Result<Self, TextError> {
        let what = kind.name();
        let text = text.trim();
        if text.is_empty() {
            return Err(TextError::Empty(what));
        }
        let chars = text.chars().count();
        if chars > kind.max_chars() {
            return Err(TextError::TooLong {
                what,
                chars,
                max: kind.max_chars(),
            });
        }
        let lines_allowed = kind != TextKind::Title;
        if let Some(bad) = text
            .chars()
            .find(|&c| c.is_control() && !(lines_allowed && matches!(c, '\n' | '\t')))
        {
            return Err(TextError::ControlCharacter {
                what,
                code: u32::from(bad),
            });
        }
        Ok(Self(text.to_owned()))
    }

    /// Checks an optional text: `None` and white space alone are no text.
    pub fn optional(text: Option<&str>, kind: TextKind) -> Result<Option<Self>, TextError> {
        match text.map(str::trim).filter(|t| !t.is_empty()) {
            Some(text) => Self::new(text, kind).map(Some),
            None => Ok(None),
        }
    }

    /// The checked text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The checked text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_stable_numbers_and_unknown_ones_survive() {
        for code in 1..=24u16 {
            assert_eq!(u16::from(ErrorCode::from(code)), code);
            assert_ne!(ErrorCode::from(code).as_str(), "unknown", "{code}");
        }
        assert_eq!(ErrorCode::from(13), ErrorCode::TooManyStreams);
        assert_eq!(ErrorCode::from(14), ErrorCode::RateLimited);
        let future = ErrorCode::from(4711);
        assert_eq!(future, ErrorCode::Unknown(4711));
        let bytes = postcard::to_stdvec(&future).unwrap();
        assert_eq!(postcard::from_bytes::<ErrorCode>(&bytes).unwrap(), future);
    }

    #[test]
    fn only_http_and_https_urls_with_a_host_are_web_urls() {
        assert!(WebUrl::parse("https://example.org/a?b=c").is_ok());
        assert!(WebUrl::parse("http://10.0.0.1:8080/").is_ok());
        for (text, scheme) in [
            ("file:///etc/passwd", "file"),
            ("javascript:alert(1)", "javascript"),
            ("JavaScript:alert(1)", "javascript"),
            ("data:text/html,hi", "data"),
            ("ftp://example.org", "ftp"),
        ] {
            assert_eq!(
                WebUrl::parse(text).unwrap_err(),
                UrlError::Scheme {
                    scheme: scheme.into()
                },
                "{text}"
            );
        }
        assert!(matches!(
            WebUrl::parse("example.org"),
            Err(UrlError::Invalid { .. })
        ));
        assert!(WebUrl::parse(&"x".repeat(9000)).is_err());
    }

    #[test]
    fn screen_texts_are_checked_for_emptiness_length_and_control_characters() {
        let message = ScreenText::new(
            "  Bitte ins Heft: äöüß @ €\n2. Zeile\t!  ",
            TextKind::Message,
        );
        assert_eq!(
            message.unwrap().as_str(),
            "Bitte ins Heft: äöüß @ €\n2. Zeile\t!"
        );
        assert_eq!(
            ScreenText::new(" \n ", TextKind::Message),
            Err(TextError::Empty("the message"))
        );
        assert_eq!(
            ScreenText::new("Zeile\nZwei", TextKind::Title),
            Err(TextError::ControlCharacter {
                what: "the title",
                code: 0x0a
            })
        );
        assert!(matches!(
            ScreenText::new("a\u{1b}[2J", TextKind::Message),
            Err(TextError::ControlCharacter { code: 0x1b, .. })
        ));
        // Characters, not bytes: 300 umlauts are a full lock message.
        assert!(ScreenText::new(&"ä".repeat(300), TextKind::LockMessage).is_ok());
        assert_eq!(
            ScreenText::new(&"ä".repeat(301), TextKind::LockMessage),
            Err(TextError::TooLong {
                what: "the lock screen's message",
                chars: 301,
                max: 300
            })
        );
        assert_eq!(ScreenText::optional(Some("  "), TextKind::Title), Ok(None));
        assert_eq!(ScreenText::optional(None, TextKind::Title), Ok(None));
    }

    #[test]
    fn hello_reports_features_and_ignores_unknown_ones() {
        let mut hello = Hello::current("agent", &[Feature::Screenshot]);
        hello.capabilities.push("teleport".into());
        assert!(hello.supports(Feature::Screenshot));
        assert!(!hello.supports(Feature::OpenUrl));
        assert_eq!("open-url".parse::<Feature>(), Ok(Feature::OpenUrl));
    }
}
