//! Length-prefixed framing: `[kind: u8][length: u32 big-endian][postcard payload]`.
//!
//! Every kind has a hard size limit, checked on the header before a single
//! payload byte is read, so a hostile or broken peer cannot make the other end
//! buffer more than the limit of the kind it claims to send.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::message::ErrorCode;

/// Bytes in a frame header: one kind byte and a four-byte length.
pub const HEADER_LEN: usize = 5;

/// What a frame carries; decides its size limit and how its payload decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameKind {
    /// [`crate::message::Hello`], the first message each way on a control stream.
    Hello = 1,
    /// [`crate::message::Request`], console to agent.
    Request = 2,
    /// [`crate::message::Reply`], agent to console: done, or an error with its code.
    Reply = 3,
    /// [`crate::message::Screenshot`], agent to console: a whole screen as PNG.
    Screenshot = 4,
    /// [`crate::watch::WatchControl`], console to agent on a screen stream: credit, new settings.
    WatchControl = 5,
    /// [`crate::watch::ScreenUpdate`], agent to console on a screen stream: changed tiles.
    ScreenUpdate = 6,
    /// [`crate::input::InputEvent`], console to agent on a control stream (R3).
    Input = 7,
    /// [`crate::input::ControlNews`], agent to console on a control stream.
    ControlNews = 8,
    /// [`crate::broadcast::BroadcastNews`], agent to console on a broadcast stream: credit.
    BroadcastNews = 9,
    /// [`crate::files::FileList`], console to agent on a batch stream: the files to send.
    FileList = 10,
    /// [`crate::files::FilesNews`], agent to console on a batch stream.
    FilesNews = 11,
    /// [`crate::local::ServiceMessage`], the agent's service to its session
    /// helper on the local channel; never accepted from the network.
    ToHelper = 16,
    /// [`crate::local::HelperMessage`], the session helper to the service on
    /// the local channel: captured tiles, screenshots, answers.
    FromHelper = 17,
}

impl FrameKind {
    /// The largest payload a frame of this kind may have.
    pub const fn max_len(self) -> usize {
        match self {
            Self::Hello => 4 * 1024,
            // A URL or a program line; generous, but nothing a click needs more of.
            Self::Request => 64 * 1024,
            Self::Reply => 16 * 1024,
            // A lossless PNG of an 8K desktop with photo content stays below this.
            Self::Screenshot => 192 * 1024 * 1024,
            Self::WatchControl => 1024,
            // A whole 8K desktop of photo-like tiles stays below this.
            Self::ScreenUpdate => 96 * 1024 * 1024,
            // Clipboard text of at most 32 KiB (typed text is at most 1000
            // characters, four bytes each).
            Self::Input => 40 * 1024,
            Self::ControlNews => 40 * 1024,
            Self::BroadcastNews => 16 * 1024,
            // A thousand files, each with a path of up to 1024 bytes.
            Self::FileList | Self::FilesNews => 1100 * 1024,
            // A broadcast update for the student's screen (R7) and its envelope.
            Self::ToHelper => 97 * 1024 * 1024,
            // A screenshot and its envelope.
            Self::FromHelper => 193 * 1024 * 1024,
        }
    }

    /// The kind a header byte names, if any.
    pub const fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Hello),
            2 => Some(Self::Request),
            3 => Some(Self::Reply),
            4 => Some(Self::Screenshot),
            5 => Some(Self::WatchControl),
            6 => Some(Self::ScreenUpdate),
            7 => Some(Self::Input),
            8 => Some(Self::ControlNews),
            9 => Some(Self::BroadcastNews),
            10 => Some(Self::FileList),
            11 => Some(Self::FilesNews),
            16 => Some(Self::ToHelper),
            17 => Some(Self::FromHelper),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Hello => "hello",
            Self::Request => "request",
            Self::Reply => "reply",
            Self::Screenshot => "screenshot",
            Self::WatchControl => "watch control",
            Self::ScreenUpdate => "screen update",
            Self::Input => "input",
            Self::ControlNews => "control news",
            Self::BroadcastNews => "broadcast news",
            Self::FileList => "file list",
            Self::FilesNews => "files news",
            Self::ToHelper => "service-to-helper",
            Self::FromHelper => "helper-to-service",
        }
    }
}

impl fmt::Display for FrameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A message type that travels in frames of one kind.
pub trait WireMessage: Serialize + DeserializeOwned {
    /// The frame kind this message travels in.
    const KIND: FrameKind;
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The header names a kind this build does not know.
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// The frame is larger than its kind allows.
    #[error("a {kind} frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The kind the header names.
        kind: FrameKind,
        /// The length the header announces (or the encoded length, when sending).
        len: u64,
        /// The limit of that kind.
        max: usize,
    },
    /// The stream ended inside a frame.
    #[error("the stream ended inside a frame")]
    Truncated,
    /// A frame of another kind came where this one was expected.
    #[error("expected a {expected} frame, got a {found} frame")]
    Unexpected {
        /// The kind the reader was waiting for.
        expected: FrameKind,
        /// The kind that arrived.
        found: FrameKind,
    },
    /// The payload does not decode as a message of its kind.
    #[error("malformed {kind} message: {detail}")]
    Malformed {
        /// The kind the header names.
        kind: FrameKind,
        /// What the decoder found wrong.
        detail: String,
    },
    /// The stream itself failed (reset, connection lost).
    #[error("stream failed: {0}")]
    Io(#[from] std::io::Error),
}

impl FrameError {
    /// The stable code a peer receives when this error ends its stream.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TooLarge { .. } => ErrorCode::TooLarge,
            Self::Unexpected { .. } => ErrorCode::UnexpectedMessage,
            Self::UnknownKind(_) | Self::Truncated | Self::Malformed { .. } | Self::Io(_) => {
                ErrorCode::Malformed
            }
        }
    }
}

/// One frame read off a stream: its kind and its still-encoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the payload holds.
    pub kind: FrameKind,
    /// The postcard-encoded message.
    pub payload: Vec<u8>,
}

impl Frame {
    /// Decodes the payload as `M`, refusing frames of another kind and trailing bytes.
    pub fn decode<M: WireMessage>(&self) -> Result<M, FrameError> {
        if self.kind != M::KIND {
            return Err(FrameError::Unexpected {
                expected: M::KIND,
                found: self.kind,
            });
        }
        let malformed = |detail: String| FrameError::Malformed {
            kind: self.kind,
            detail,
        };
        let (message, rest) =
            postcard::take_from_bytes(&self.payload).map_err(|e| malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(malformed(format!("{} bytes after the message", rest.len())));
        }
        Ok(message)
    }
}

/// Encodes `message` as one complete frame, refusing to exceed its kind's limit.
pub fn encode<M: WireMessage>(message: &M) -> Result<Vec<u8>, FrameError> {
    let mut bytes = vec![M::KIND as u8, 0, 0, 0, 0];
    bytes = postcard::to_extend(message, bytes).map_err(|e| FrameError::Malformed {
        kind: M::KIND,
        detail: e.to_string(),
    })?;
    let len = bytes.len() - HEADER_LEN;
    let max = M::KIND.max_len();
    if len > max {
        return Err(FrameError::TooLarge {
            kind: M::KIND,
            len: len as u64,
            max,
        });
    }
    // `len <= max`, and every limit fits in a u32.
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    bytes[1..HEADER_LEN].copy_from_slice(&len.to_be_bytes());
    Ok(bytes)
}

/// Parses a frame header into its kind and payload length, enforcing the limit.
pub fn parse_header(header: [u8; HEADER_LEN]) -> Result<(FrameKind, usize), FrameError> {
    let kind = FrameKind::from_byte(header[0]).ok_or(FrameError::UnknownKind(header[0]))?;
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    let max = kind.max_len();
    match usize::try_from(len) {
        Ok(len) if len <= max => Ok((kind, len)),
        _ => Err(FrameError::TooLarge {
            kind,
            len: u64::from(len),
            max,
        }),
    }
}

/// Reads the next frame; `Ok(None)` when the stream ended cleanly between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Option<Frame>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        let n = reader.read(&mut header[filled..]).await?;
        if n == 0 {
            return if filled == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
        filled += n;
    }
    let (kind, len) = parse_header(header)?;
    // Grow with what arrives instead of trusting the announced length up front.
    let mut payload = Vec::with_capacity(len.min(64 * 1024));
    let read = (&mut *reader)
        .take(len as u64)
        .read_to_end(&mut payload)
        .await?;
    if read < len {
        return Err(FrameError::Truncated);
    }
    Ok(Some(Frame { kind, payload }))
}

/// Reads the next frame and decodes it as `M`; `Ok(None)` on a clean end of stream.
pub async fn read_message<M: WireMessage>(
    reader: &mut (impl AsyncRead + Unpin),
) -> Result<Option<M>, FrameError> {
    match read_frame(reader).await? {
        Some(frame) => frame.decode().map(Some),
        None => Ok(None),
    }
}

/// Encodes and writes one message as a frame.
pub async fn write_message<M: WireMessage>(
    writer: &mut (impl AsyncWrite + Unpin),
    message: &M,
) -> Result<(), FrameError> {
    let bytes = encode(message)?;
    writer.write_all(&bytes).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Hello, Reply, Request};

    #[tokio::test]
    async fn messages_round_trip_through_frames() {
        let request = Request::RunProgram {
            program: "notepad.exe".into(),
            args: vec!["a b".into(), "--x".into()],
        };
        let mut bytes = encode(&request).unwrap();
        bytes.extend(encode(&Hello::current("test", &[])).unwrap());
        let mut reader = bytes.as_slice();
        let first: Request = read_message(&mut reader).await.unwrap().unwrap();
        assert_eq!(first, request);
        let second: Hello = read_message(&mut reader).await.unwrap().unwrap();
        assert_eq!(second.software, "test");
        assert!(read_frame(&mut reader).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn oversized_header_is_refused_before_reading_the_payload() {
        let mut bytes = vec![FrameKind::Request as u8];
        bytes.extend(u32::MAX.to_be_bytes());
        let error = read_frame(&mut bytes.as_slice()).await.unwrap_err();
        assert!(matches!(
            error,
            FrameError::TooLarge {
                kind: FrameKind::Request,
                ..
            }
        ));
        assert_eq!(error.code(), ErrorCode::TooLarge);
    }

    #[tokio::test]
    async fn unknown_kind_and_truncation_are_errors() {
        let error = read_frame(&mut [99u8, 0, 0, 0, 0].as_slice())
            .await
            .unwrap_err();
        assert!(matches!(error, FrameError::UnknownKind(99)));
        let error = read_frame(&mut [2u8, 0].as_slice()).await.unwrap_err();
        assert!(matches!(error, FrameError::Truncated));
        let error = read_frame(&mut [2u8, 0, 0, 0, 9, 1, 2].as_slice())
            .await
            .unwrap_err();
        assert!(matches!(error, FrameError::Truncated));
    }

    #[tokio::test]
    async fn garbage_payload_and_wrong_kind_are_refused() {
        let mut bytes = vec![FrameKind::Request as u8, 0, 0, 0, 3, 0xff, 0xff, 0xff];
        let frame = read_frame(&mut bytes.as_slice()).await.unwrap().unwrap();
        assert!(matches!(
            frame.decode::<Request>().unwrap_err(),
            FrameError::Malformed { .. }
        ));
        bytes = encode(&Reply::Done).unwrap();
        let frame = read_frame(&mut bytes.as_slice()).await.unwrap().unwrap();
        assert!(matches!(
            frame.decode::<Request>().unwrap_err(),
            FrameError::Unexpected {
                expected: FrameKind::Request,
                found: FrameKind::Reply
            }
        ));
    }

    #[tokio::test]
    async fn trailing_bytes_make_a_frame_malformed() {
        let mut bytes = encode(&Reply::Done).unwrap();
        bytes.push(0);
        bytes[4] += 1;
        let frame = read_frame(&mut bytes.as_slice()).await.unwrap().unwrap();
        assert!(matches!(
            frame.decode::<Reply>().unwrap_err(),
            FrameError::Malformed { .. }
        ));
    }

    #[test]
    fn sender_refuses_to_encode_beyond_the_limit() {
        let request = Request::OpenUrl {
            url: "x".repeat(FrameKind::Request.max_len() + 1),
        };
        assert!(matches!(encode(&request), Err(FrameError::TooLarge { .. })));
    }
}
