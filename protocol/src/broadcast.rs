//! Broadcast (R7): the teacher's screen, or part of it, shown on the
//! students' screens.
//!
//! A [`crate::message::Request::Broadcast`] turns a fresh stream into a
//! broadcast stream. The agent answers [`crate::message::Reply::Done`] once
//! the student is told (the notice) and the picture can be shown, then grants
//! credit with [`BroadcastNews::Credit`]. The console sends
//! [`crate::watch::ScreenUpdate`]s — the same frames an agent sends on a
//! screen stream, so a student's stream can be relayed to the class as it
//! came — one for each credit, and the agent returns a credit each time the
//! student's screen shows an update. A slow student therefore holds back only
//! their own stream. When the console finishes its side, or the connection
//! goes, the picture ends and the student's desktop comes back.
//!
//! The console encodes each picture once: updates are put together from tile
//! bytes it keeps, without encoding anything again ([`assemble_update`]).

use serde::{Deserialize, Serialize};

use crate::frame::{FrameKind, HEADER_LEN, WireMessage};
use crate::watch::{ScreenTile, ScreenUpdate};

/// Credit an agent grants a broadcast at first: updates in flight.
pub const INITIAL_CREDIT: u16 = 2;

/// A broadcast update covers its picture at most this many times over (in
/// area and in tiles): a late or slow receiver is sent the tiles still
/// partly visible from earlier pictures too, and the console keeps those to
/// twice the picture before it encodes it whole again.
pub const MAX_COVER: u32 = 3;

/// A broadcast update carries at most this many H.264 frames
/// ([`crate::watch::TileEncoding::H264`]): the frames since the stream's
/// last keyframe, for a receiver that joins or fell behind. The console
/// starts a new keyframe before a stream grows longer.
pub const MAX_VIDEO_FRAMES: u32 = 64;

/// The largest broadcast picture a student is shown, width and height: 8K,
/// whatever a console claims; larger is refused as malformed.
pub const MAX_PICTURE: (u32, u32) = (7680, 4320);

/// Whether an H.264 frame (Annex B) holds a keyframe (an IDR slice, NAL
/// unit type 5): decodable without any frame before it.
pub fn is_keyframe(frame: &[u8]) -> bool {
    // Each NAL unit follows a start code 00 00 01 (or 00 00 00 01).
    frame
        .windows(4)
        .any(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 5)
}

/// How the student sees the broadcast.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BroadcastMode {
    /// Over every monitor, keyboard and mouse blocked (the default).
    #[default]
    FullScreen,
    /// In a window the student can move, resize and put aside.
    Window,
}

impl BroadcastMode {
    /// The stable name used in logs and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FullScreen => "full-screen",
            Self::Window => "window",
        }
    }
}

impl std::fmt::Display for BroadcastMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Agent to console, on a broadcast stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BroadcastNews {
    /// The student's screen shows updates: the console may send this many more.
    Credit(u16),
    /// The broadcast ended on the student's side, and why (an update that
    /// could not be shown, the student's session ended); the stream ends.
    Ended(crate::message::ErrorReply),
}

impl WireMessage for BroadcastNews {
    const KIND: FrameKind = FrameKind::BroadcastNews;
}

/// One tile ready to travel: its [`ScreenTile`] in postcard form, made once
/// and shared by every update that carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedTile {
    bytes: bytes::Bytes,
}

impl PackedTile {
    /// Packs `tile` for any number of updates.
    pub fn pack(tile: &ScreenTile) -> Result<Self, postcard::Error> {
        Ok(Self {
            bytes: postcard::to_stdvec(tile)?.into(),
        })
    }

    /// The packed bytes.
    pub fn bytes(&self) -> &bytes::Bytes {
        &self.bytes
    }

    /// How many bytes it adds to an update.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether it is empty (never: a packed tile has its rectangle at least).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// The parts of a [`ScreenUpdate`] frame made of `header` (its `tiles`
/// ignored) and `tiles`, in order, ready to write: the frame header with the
/// update's fields, then each tile's shared bytes. Reads as the
/// `ScreenUpdate` with those tiles, byte for byte what [`crate::frame::encode`]
/// would make, without copying a tile.
pub fn assemble_update(
    header: &ScreenUpdate,
    tiles: &[PackedTile],
) -> Result<Vec<bytes::Bytes>, postcard::Error> {
    let fields = ScreenUpdate {
        tiles: Vec::new(),
        ..header.clone()
    };
    // An empty `tiles` is the varint 0 as the last byte: drop it and put the
    // real count in its place.
    let mut head = postcard::to_stdvec(&fields)?;
    head.pop();
    let mut count = [0u8; 10];
    head.extend_from_slice(postcard::to_slice(&tiles.len(), &mut count)?);
    let payload = head.len() + tiles.iter().map(PackedTile::len).sum::<usize>();
    let length = u32::try_from(payload).map_err(|_| postcard::Error::SerializeBufferFull)?;
    let mut frame = Vec::with_capacity(HEADER_LEN + head.len());
    frame.push(FrameKind::ScreenUpdate as u8);
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(&head);
    let mut parts = Vec::with_capacity(tiles.len() + 1);
    parts.push(bytes::Bytes::from(frame));
    parts.extend(tiles.iter().map(|t| t.bytes.clone()));
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{encode, read_message};
    use crate::watch::TileEncoding;

    fn tile(x: u32, data: Vec<u8>) -> ScreenTile {
        ScreenTile {
            x,
            y: 64,
            width: 64,
            height: 64,
            encoding: TileEncoding::Jpeg,
            data,
        }
    }

    #[test]
    fn a_keyframe_is_known_by_its_idr_slice() {
        // SPS (7), PPS (8), IDR slice (5), as an encoder writes a keyframe.
        let keyframe = [
            0, 0, 0, 1, 0x67, 9, 9, 0, 0, 0, 1, 0x68, 9, 0, 0, 1, 0x65, 9,
        ];
        assert!(is_keyframe(&keyframe));
        // A P slice (1) alone, and bytes 0x65 without a start code, are not.
        assert!(!is_keyframe(&[0, 0, 0, 1, 0x41, 0x65, 0x65, 0x65]));
        assert!(!is_keyframe(&[0x65, 0, 1, 0x65]));
        assert!(!is_keyframe(&[]));
    }

    #[tokio::test]
    async fn an_assembled_update_is_the_update_encoded_byte_for_byte() {
        // 200 tiles: the count takes two varint bytes.
        let tiles: Vec<ScreenTile> = (0..200).map(|i| tile(i * 64, vec![i as u8; 300])).collect();
        let update = ScreenUpdate {
            sequence: 300,
            width: 1920,
            height: 1080,
            captured_at_micros: 1_790_000_000_000_000,
            agent_micros: 1234,
            tiles: tiles.clone(),
        };
        let packed: Vec<PackedTile> = tiles.iter().map(|t| PackedTile::pack(t).unwrap()).collect();
        let parts = assemble_update(&update, &packed).unwrap();
        let joined: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        assert_eq!(joined, encode(&update).unwrap());
        let read: ScreenUpdate = read_message(&mut joined.as_slice()).await.unwrap().unwrap();
        assert_eq!(read, update);
        // The tiles' bytes are shared, not copied.
        assert_eq!(parts[1].as_ptr(), packed[0].bytes().as_ptr());
    }

    #[tokio::test]
    async fn an_update_without_tiles_assembles_too() {
        let update = ScreenUpdate {
            sequence: 1,
            width: 16,
            height: 16,
            captured_at_micros: 0,
            agent_micros: 0,
            tiles: Vec::new(),
        };
        let parts = assemble_update(&update, &[]).unwrap();
        assert_eq!(parts.concat(), encode(&update).unwrap());
    }

    #[test]
    fn credit_is_a_small_frame_of_its_own() {
        let bytes = encode(&BroadcastNews::Credit(2)).unwrap();
        assert_eq!(bytes[0], FrameKind::BroadcastNews as u8);
        assert!(bytes.len() < 16);
    }
}
