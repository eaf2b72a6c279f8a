//! Broadcast fan-out (R7) as a state machine without I/O: the latest picture
//! as the encoded tiles that make it up, and for each receiver what it has
//! been sent and how much credit it holds.
//!
//! A source publishes each picture's changed tiles once; they are packed
//! once ([`PackedTile`]) and kept while any part of them is still on the
//! picture. A receiver with credit is sent every kept tile newer than the
//! last it was sent — so a receiver that missed frames gets only what the
//! picture is now, never the frames in between, and one that joins late
//! gets the whole picture at once. Nobody waits for anybody: the receivers
//! share the tiles, not a pace.
//!
//! Where a film plays, the source sends H.264 frames instead of tiles
//! (R7, [`TileEncoding::H264`]). Those cannot be skipped: each needs the
//! frames before it back to a keyframe. So the fan-out keeps the chain since
//! the last keyframe, and a receiver is sent the frames after the last one
//! it got — or the whole chain when it joined late, fell behind past a
//! keyframe, or lost its picture. The source makes a keyframe every two
//! seconds, so a chain stays short.

use std::collections::{BTreeMap, HashMap};

use pult_protocol::broadcast::{
    MAX_COVER, MAX_VIDEO_FRAMES, PackedTile, assemble_update, is_keyframe,
};
use pult_protocol::watch::{ScreenTile, ScreenUpdate, TileEncoding};
use pult_screen::wire::tile_rect;

/// The side of the grid cells the picture keeps its tiles in (the codec's tile).
const CELL: u32 = pult_screen::codec::TILE_SIZE;
/// Tiles that only partly cover a cell stack up in it; past this many the
/// source is asked for a whole picture ([`Fanout::wants_whole_picture`]).
const MAX_LAYERS: usize = 8;
/// Past this many bytes kept, the source is asked for a whole picture too.
const MAX_KEPT_BYTES: usize = 64 * 1024 * 1024;
/// Past tiles covering the picture this many times over (in area or in
/// number), the source is asked for a whole picture; an update never
/// carries more than [`MAX_COVER`], which the agent checks.
const COMPACT_AT: u64 = 2;
/// A receiver never holds more credit than this, whatever it grants.
const MAX_CREDIT: u16 = 8;

/// One receiver of a [`Fanout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReceiverId(u64);

/// Why a picture from a source was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FanoutError {
    /// A tile lies outside the picture.
    #[error(
        "a tile at ({x}, {y}) of {width}x{height} lies outside the {picture_width}x{picture_height} picture"
    )]
    OutsidePicture {
        /// Left edge.
        x: u32,
        /// Top edge.
        y: u32,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// The picture's width.
        picture_width: u32,
        /// The picture's height.
        picture_height: u32,
    },
    /// A tile could not be packed.
    #[error("a tile could not be packed: {0}")]
    Pack(String),
}

/// An update ready to write to one receiver.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The frame's parts in order (see [`assemble_update`]).
    pub parts: Vec<bytes::Bytes>,
    /// The update's number on this receiver's stream.
    pub sequence: u64,
    /// Tiles in it.
    pub tiles: usize,
    /// Bytes of the whole frame.
    pub bytes: usize,
}

/// What a fan-out has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FanoutStats {
    /// Pictures published by the source.
    pub pictures: u64,
    /// Tiles packed (each exactly once, however many receivers).
    pub tiles_packed: u64,
    /// Updates handed out to receivers, all together.
    pub updates_sent: u64,
    /// Bytes of those updates.
    pub bytes_sent: u64,
    /// H.264 frames taken (each packed once, like tiles).
    pub video_frames: u64,
}

/// The latest picture and every receiver's place in it.
#[derive(Debug, Default)]
pub struct Fanout {
    picture: Option<Picture>,
    receivers: HashMap<ReceiverId, Receiver>,
    next_receiver: u64,
    /// Counts pictures of new sizes, so a receiver knows its tiles are stale.
    epoch: u64,
    next_video_frame: u64,
    /// A video frame came that nobody new could decode: the source should
    /// make a keyframe.
    wants_keyframe: bool,
    stats: FanoutStats,
}

/// The latest picture, as the tiles still visible on it.
#[derive(Debug)]
struct Picture {
    width: u32,
    height: u32,
    epoch: u64,
    header: ScreenUpdate,
    /// Tiles by the order they came in; a tile is dropped once newer ones cover it.
    pieces: BTreeMap<u64, Piece>,
    next_piece: u64,
    /// For each grid cell, row by row: the pieces showing in it, oldest first.
    cells: Vec<Vec<u64>>,
    columns: u32,
    kept_bytes: usize,
    /// Pixels of all kept tiles together.
    kept_area: u64,
    too_layered: bool,
    /// The film's H.264 stream since its last keyframe, if one plays.
    video: Option<Video>,
}

/// The frames of an H.264 stream since its keyframe.
#[derive(Debug)]
struct Video {
    /// Where it plays: (x, y, width, height).
    place: (u32, u32, u32, u32),
    /// Frames by number, the keyframe first.
    frames: Vec<(u64, PackedTile)>,
}

impl Video {
    /// The keyframe's number.
    fn first(&self) -> u64 {
        self.frames.first().map_or(0, |(id, _)| *id)
    }
}

#[derive(Debug)]
struct Piece {
    tile: PackedTile,
    /// Pixels it covers.
    area: u64,
    /// How many cells list this piece.
    cells: u32,
}

#[derive(Debug, Default)]
struct Receiver {
    /// The picture epoch it was last sent; tiles of another epoch are stale.
    epoch: u64,
    /// The newest piece it was sent.
    seen: u64,
    /// The newest video frame it was sent.
    video_seen: u64,
    credit: u16,
    sequence: u64,
}

impl Fanout {
    /// A fan-out without a picture or receivers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next picture from the source: `update`'s tiles, changed
    /// since the one before (all of them when the size is new). Its header
    /// fields (size, capture time) go to every receiver's next update.
    pub fn publish(&mut self, update: &ScreenUpdate) -> Result<(), FanoutError> {
        let (width, height) = (update.width.max(1), update.height.max(1));
        for tile in &update.tiles {
            if !tile_rect(tile).fits_in(width, height) {
                return Err(FanoutError::OutsidePicture {
                    x: tile.x,
                    y: tile.y,
                    width: tile.width,
                    height: tile.height,
                    picture_width: width,
                    picture_height: height,
                });
            }
        }
        let packed = update
            .tiles
            .iter()
            .map(PackedTile::pack)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| FanoutError::Pack(e.to_string()))?;
        let same_size = self
            .picture
            .as_ref()
            .is_some_and(|p| (p.width, p.height) == (width, height));
        if !same_size {
            self.epoch += 1;
            self.picture = Some(Picture::new(width, height, self.epoch));
        }
        let Some(picture) = self.picture.as_mut() else {
            return Ok(()); // set just above
        };
        picture.header = ScreenUpdate {
            tiles: Vec::new(),
            width,
            height,
            ..update.clone()
        };
        let mut images = 0;
        for (tile, packed) in update.tiles.iter().zip(packed) {
            if tile.encoding != TileEncoding::H264 {
                picture.add(tile, packed);
                images += 1;
                continue;
            }
            let place = (tile.x, tile.y, tile.width, tile.height);
            self.next_video_frame += 1;
            let frame = (self.next_video_frame, packed);
            if is_keyframe(&tile.data) {
                picture.video = Some(Video {
                    place,
                    frames: vec![frame],
                });
                self.wants_keyframe = false;
            } else if let Some(video) = picture
                .video
                .as_mut()
                .filter(|v| v.place == place && v.frames.len() < MAX_VIDEO_FRAMES as usize)
            {
                video.frames.push(frame);
            } else {
                // Nobody could decode it: dropped until the next keyframe.
                self.wants_keyframe = true;
                continue;
            }
            self.stats.video_frames += 1;
        }
        picture.too_layered = picture.cells.iter().any(|c| c.len() > MAX_LAYERS);
        self.stats.pictures += 1;
        self.stats.tiles_packed += images;
        Ok(())
    }

    /// The film stopped: its frames are no longer sent to anyone (the
    /// source's tiles show that part of the picture again).
    pub fn end_video(&mut self) {
        if let Some(picture) = self.picture.as_mut() {
            picture.video = None;
        }
        self.wants_keyframe = false;
    }

    /// Whether the source should make its next video frame a keyframe: a
    /// frame came that continued no stream kept here.
    pub fn wants_keyframe(&self) -> bool {
        self.wants_keyframe
    }

    /// Whether the source should send a whole picture next: tiles that only
    /// partly cover cells have piled up (a relayed agent's odd tiles).
    pub fn wants_whole_picture(&self) -> bool {
        self.picture.as_ref().is_some_and(|p| {
            p.too_layered || p.kept_bytes > MAX_KEPT_BYTES || p.covers_more_than(COMPACT_AT)
        })
    }

    /// A new receiver, without credit until it grants some; it is sent the
    /// whole picture first.
    pub fn join(&mut self) -> ReceiverId {
        self.next_receiver += 1;
        let id = ReceiverId(self.next_receiver);
        self.receivers.insert(id, Receiver::default());
        id
    }

    /// The receiver is gone.
    pub fn leave(&mut self, receiver: ReceiverId) {
        self.receivers.remove(&receiver);
    }

    /// The receiver showed updates: it may be sent `credit` more.
    pub fn grant(&mut self, receiver: ReceiverId, credit: u16) {
        if let Some(state) = self.receivers.get_mut(&receiver) {
            state.credit = state.credit.saturating_add(credit).min(MAX_CREDIT);
        }
    }

    /// Wants the receiver to be sent the whole picture next (its screen
    /// lost what it had).
    pub fn restart(&mut self, receiver: ReceiverId) {
        if let Some(state) = self.receivers.get_mut(&receiver) {
            state.epoch = 0;
            state.seen = 0;
            state.video_seen = 0;
        }
    }

    /// The update that brings `receiver` to the latest picture, if it holds
    /// credit and has not been sent that picture yet; spends one credit.
    pub fn next_update(&mut self, receiver: ReceiverId) -> Option<Outgoing> {
        let picture = self.picture.as_ref()?;
        let state = self.receivers.get_mut(&receiver)?;
        if state.credit == 0 || picture.covers_more_than(u64::from(MAX_COVER)) {
            // Too much piled up to send: wait for the whole picture asked for.
            return None;
        }
        let since = if state.epoch == picture.epoch {
            state.seen
        } else {
            0
        };
        let newest = picture.pieces.last_key_value().map_or(0, |(&id, _)| id);
        // Video frames after the last it got, or the whole chain.
        let (video_since, newest_video) = match &picture.video {
            Some(video) => {
                let in_stream = state.epoch == picture.epoch && state.video_seen >= video.first();
                let since = if in_stream { state.video_seen } else { 0 };
                (since, video.frames.last().map_or(0, |(id, _)| *id))
            }
            None => (0, 0),
        };
        let new_tiles = state.epoch != picture.epoch || newest > since;
        if !new_tiles && newest_video <= video_since {
            return None;
        }
        let mut tiles: Vec<PackedTile> = picture
            .pieces
            .range(since + 1..)
            .map(|(_, piece)| piece.tile.clone())
            .collect();
        // Frames come after the tiles: they play over what the tiles show.
        if let Some(video) = &picture.video {
            tiles.extend(
                video
                    .frames
                    .iter()
                    .filter(|(id, _)| *id > video_since)
                    .map(|(_, frame)| frame.clone()),
            );
        }
        let header = ScreenUpdate {
            sequence: state.sequence + 1,
            ..picture.header.clone()
        };
        // Packed tiles always assemble; a failure would be a bug, and then
        // the receiver waits for the next picture instead of being sent junk.
        let parts = assemble_update(&header, &tiles).ok()?;
        state.sequence += 1;
        state.credit -= 1;
        state.epoch = picture.epoch;
        state.seen = newest;
        if picture.video.is_some() {
            state.video_seen = newest_video;
        }
        let bytes = parts.iter().map(bytes::Bytes::len).sum::<usize>();
        self.stats.updates_sent += 1;
        self.stats.bytes_sent += bytes as u64;
        Some(Outgoing {
            parts,
            sequence: header.sequence,
            tiles: tiles.len(),
            bytes,
        })
    }

    /// What the fan-out has done so far.
    pub fn stats(&self) -> FanoutStats {
        self.stats
    }

    /// How many receivers there are.
    pub fn receivers(&self) -> usize {
        self.receivers.len()
    }
}

impl Picture {
    fn new(width: u32, height: u32, epoch: u64) -> Self {
        let columns = width.div_ceil(CELL);
        let rows = height.div_ceil(CELL);
        Self {
            width,
            height,
            epoch,
            header: ScreenUpdate {
                sequence: 0,
                width,
                height,
                captured_at_micros: 0,
                agent_micros: 0,
                tiles: Vec::new(),
            },
            pieces: BTreeMap::new(),
            next_piece: 0,
            cells: vec![Vec::new(); (columns * rows) as usize],
            columns,
            kept_bytes: 0,
            kept_area: 0,
            too_layered: false,
            video: None,
        }
    }

    /// Puts a tile (already checked to lie inside) on the picture: cells it
    /// covers whole forget what they showed; cells it covers in part keep it
    /// as a layer on top.
    fn add(&mut self, tile: &ScreenTile, packed: PackedTile) {
        self.next_piece += 1;
        let id = self.next_piece;
        let (right, bottom) = (tile.x + tile.width, tile.y + tile.height);
        let mut listed = 0;
        for row in tile.y / CELL..bottom.div_ceil(CELL) {
            for column in tile.x / CELL..right.div_ceil(CELL) {
                let (left, top) = (column * CELL, row * CELL);
                let (cell_right, cell_bottom) =
                    ((left + CELL).min(self.width), (top + CELL).min(self.height));
                let whole =
                    tile.x <= left && tile.y <= top && right >= cell_right && bottom >= cell_bottom;
                let index = (row * self.columns + column) as usize;
                let cell = std::mem::take(&mut self.cells[index]);
                let mut kept = Vec::new();
                if !whole {
                    kept = cell;
                } else {
                    for old in cell {
                        self.forget(old);
                    }
                }
                kept.push(id);
                self.cells[index] = kept;
                listed += 1;
            }
        }
        self.kept_bytes += packed.len();
        let area = u64::from(tile.width) * u64::from(tile.height);
        self.kept_area += area;
        self.pieces.insert(
            id,
            Piece {
                tile: packed,
                area,
                cells: listed,
            },
        );
    }

    /// Whether the kept tiles cover the picture more than `times` over, in
    /// area or in number.
    fn covers_more_than(&self, times: u64) -> bool {
        let cells = self.cells.len() as u64;
        let pixels = u64::from(self.width) * u64::from(self.height);
        self.kept_area > pixels * times || self.pieces.len() as u64 > cells * times
    }

    /// One cell no longer shows piece `id`; the piece goes when none does.
    fn forget(&mut self, id: u64) {
        if let Some(piece) = self.pieces.get_mut(&id) {
            piece.cells -= 1;
            if piece.cells == 0 {
                self.kept_bytes -= piece.tile.len();
                self.kept_area -= piece.area;
                self.pieces.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use pult_protocol::frame::read_message;
    use pult_protocol::watch::TileEncoding;

    use super::*;

    fn tile(x: u32, y: u32, width: u32, height: u32, mark: u8) -> ScreenTile {
        ScreenTile {
            x,
            y,
            width,
            height,
            encoding: TileEncoding::Png,
            data: vec![mark; 10],
        }
    }

    fn picture(width: u32, height: u32, captured: u64, tiles: Vec<ScreenTile>) -> ScreenUpdate {
        ScreenUpdate {
            sequence: 0,
            width,
            height,
            captured_at_micros: captured,
            agent_micros: 0,
            tiles,
        }
    }

    /// The whole 128×128 picture in four tiles marked `mark`.
    fn whole(mark: u8, captured: u64) -> ScreenUpdate {
        let tiles = [(0, 0), (64, 0), (0, 64), (64, 64)]
            .into_iter()
            .map(|(x, y)| tile(x, y, 64, 64, mark))
            .collect();
        picture(128, 128, captured, tiles)
    }

    async fn read(outgoing: &Outgoing) -> ScreenUpdate {
        let bytes = outgoing.parts.concat();
        read_message(&mut bytes.as_slice()).await.unwrap().unwrap()
    }

    /// Each tile as (x, y, mark).
    fn marks(update: &ScreenUpdate) -> Vec<(u32, u32, u8)> {
        update.tiles.iter().map(|t| (t.x, t.y, t.data[0])).collect()
    }

    #[tokio::test]
    async fn a_receiver_without_credit_is_sent_nothing_and_with_credit_the_whole_picture() {
        let mut fanout = Fanout::new();
        let receiver = fanout.join();
        fanout.publish(&whole(1, 100)).unwrap();
        assert!(fanout.next_update(receiver).is_none(), "no credit yet");
        fanout.grant(receiver, 2);
        let update = read(&fanout.next_update(receiver).unwrap()).await;
        assert_eq!(
            (update.sequence, update.width, update.height),
            (1, 128, 128)
        );
        assert_eq!(update.captured_at_micros, 100);
        assert_eq!(marks(&update).len(), 4);
        assert!(
            fanout.next_update(receiver).is_none(),
            "nothing new: credit is kept, nothing is sent"
        );
        fanout
            .publish(&picture(128, 128, 200, vec![tile(64, 0, 64, 64, 2)]))
            .unwrap();
        let update = read(&fanout.next_update(receiver).unwrap()).await;
        assert_eq!(update.sequence, 2);
        assert_eq!(marks(&update), vec![(64, 0, 2)], "only what changed");
        fanout
            .publish(&picture(128, 128, 300, vec![tile(0, 0, 64, 64, 3)]))
            .unwrap();
        assert!(fanout.next_update(receiver).is_none(), "credit spent");
    }

    #[tokio::test]
    async fn a_slow_receiver_skips_frames_and_gets_only_the_picture_as_it_is_now() {
        let mut fanout = Fanout::new();
        let (fast, slow) = (fanout.join(), fanout.join());
        fanout.grant(fast, 8);
        fanout.grant(slow, 1);
        fanout.publish(&whole(1, 1)).unwrap();
        assert!(fanout.next_update(fast).is_some());
        assert!(fanout.next_update(slow).is_some());
        // Ten pictures change the same tile; the fast one is sent each.
        for frame in 2..12u8 {
            fanout
                .publish(&picture(
                    128,
                    128,
                    u64::from(frame),
                    vec![tile(0, 0, 64, 64, frame)],
                ))
                .unwrap();
            let update = read(&fanout.next_update(fast).unwrap()).await;
            assert_eq!(marks(&update), vec![(0, 0, frame)]);
            fanout.grant(fast, 1);
        }
        assert!(
            fanout.next_update(slow).is_none(),
            "the slow one holds no credit"
        );
        fanout.grant(slow, 1);
        let update = read(&fanout.next_update(slow).unwrap()).await;
        assert_eq!(
            marks(&update),
            vec![(0, 0, 11)],
            "one tile, the latest: the frames in between are skipped"
        );
        assert_eq!(update.captured_at_micros, 11);
        assert_eq!(fanout.stats().tiles_packed, 14, "each tile packed once");
    }

    #[tokio::test]
    async fn a_late_joiner_gets_the_current_picture_at_once() {
        let mut fanout = Fanout::new();
        fanout.publish(&whole(1, 1)).unwrap();
        fanout
            .publish(&picture(128, 128, 2, vec![tile(64, 64, 64, 64, 2)]))
            .unwrap();
        fanout
            .publish(&picture(128, 128, 3, vec![tile(0, 0, 64, 64, 3)]))
            .unwrap();
        let late = fanout.join();
        fanout.grant(late, 1);
        let update = read(&fanout.next_update(late).unwrap()).await;
        let mut got = marks(&update);
        got.sort_unstable();
        assert_eq!(got, vec![(0, 0, 3), (0, 64, 1), (64, 0, 1), (64, 64, 2)]);
        assert_eq!(
            fanout.picture.as_ref().unwrap().pieces.len(),
            4,
            "covered tiles are dropped"
        );
    }

    #[tokio::test]
    async fn tiles_covering_cells_in_part_are_sent_in_order_over_what_they_cover() {
        let mut fanout = Fanout::new();
        fanout.publish(&whole(1, 1)).unwrap();
        // A 32×32 tile in the middle covers four cells in part.
        fanout
            .publish(&picture(128, 128, 2, vec![tile(48, 48, 32, 32, 2)]))
            .unwrap();
        let receiver = fanout.join();
        fanout.grant(receiver, 1);
        let update = read(&fanout.next_update(receiver).unwrap()).await;
        assert_eq!(marks(&update).len(), 5);
        assert_eq!(
            marks(&update)[4],
            (48, 48, 2),
            "the newer tile comes last, on top"
        );
        assert!(!fanout.wants_whole_picture());
        for layer in 0..MAX_LAYERS as u8 {
            fanout
                .publish(&picture(128, 128, 3, vec![tile(8, 8, 8, 8, layer)]))
                .unwrap();
        }
        assert!(fanout.wants_whole_picture(), "layers pile up in one cell");
        fanout.publish(&whole(9, 4)).unwrap();
        assert!(!fanout.wants_whole_picture());
        assert_eq!(fanout.picture.as_ref().unwrap().pieces.len(), 4);
    }

    #[tokio::test]
    async fn runs_covered_in_part_pile_up_only_to_a_bound_then_a_whole_picture_is_asked_for() {
        // One row of 16 cells; each picture sends a run one cell shorter, so
        // every older run stays visible in one cell.
        let mut fanout = Fanout::new();
        let receiver = fanout.join();
        fanout.grant(receiver, 1);
        for start in 0..3u32 {
            let run = tile(start * 64, 0, (16 - start) * 64, 64, start as u8);
            fanout.publish(&picture(1024, 64, 1, vec![run])).unwrap();
        }
        // 16 + 15 + 14 cells kept: more than twice the picture.
        assert!(fanout.wants_whole_picture());
        let update = read(&fanout.next_update(receiver).unwrap()).await;
        let area: u32 = update.tiles.iter().map(|t| t.width * t.height).sum();
        assert!(
            area <= MAX_COVER * 1024 * 64,
            "within what the agent accepts"
        );
        for start in 3..8u32 {
            let run = tile(start * 64, 0, (16 - start) * 64, 64, start as u8);
            fanout.publish(&picture(1024, 64, 1, vec![run])).unwrap();
        }
        fanout.restart(receiver);
        fanout.grant(receiver, 1);
        assert!(
            fanout.next_update(receiver).is_none(),
            "more than the agent accepts piled up: nothing until the whole picture"
        );
        fanout
            .publish(&picture(1024, 64, 2, vec![tile(0, 0, 1024, 64, 9)]))
            .unwrap();
        assert!(!fanout.wants_whole_picture());
        let update = read(&fanout.next_update(receiver).unwrap()).await;
        assert_eq!(marks(&update), vec![(0, 0, 9)]);
    }

    #[tokio::test]
    async fn a_new_size_starts_every_receiver_on_a_whole_picture() {
        let mut fanout = Fanout::new();
        let receiver = fanout.join();
        fanout.grant(receiver, 4);
        fanout.publish(&whole(1, 1)).unwrap();
        fanout.next_update(receiver).unwrap();
        let bigger = picture(
            192,
            64,
            2,
            vec![tile(0, 0, 64, 64, 5), tile(64, 0, 128, 64, 5)],
        );
        fanout.publish(&bigger).unwrap();
        let update = read(&fanout.next_update(receiver).unwrap()).await;
        assert_eq!((update.width, update.height), (192, 64));
        assert_eq!(marks(&update).len(), 2);
        fanout.restart(receiver);
        let update = read(&fanout.next_update(receiver).unwrap()).await;
        assert_eq!(
            marks(&update).len(),
            2,
            "asked again: the whole picture again"
        );
    }

    /// A video frame at (0, 0, 128, 64) numbered `mark`: a keyframe or not.
    fn video(mark: u8, keyframe: bool) -> ScreenTile {
        let nal = if keyframe { 0x65 } else { 0x41 };
        ScreenTile {
            x: 0,
            y: 0,
            width: 128,
            height: 64,
            encoding: TileEncoding::H264,
            data: vec![0, 0, 0, 1, nal, mark],
        }
    }

    /// The marks of an update's video frames, in order.
    fn frames(update: &ScreenUpdate) -> Vec<u8> {
        update
            .tiles
            .iter()
            .filter(|t| t.encoding == TileEncoding::H264)
            .map(|t| t.data[5])
            .collect()
    }

    #[tokio::test]
    async fn video_frames_go_in_order_and_whoever_comes_late_gets_them_from_the_keyframe() {
        let mut fanout = Fanout::new();
        let steady = fanout.join();
        fanout.grant(steady, 8);
        let mut first = whole(1, 100);
        first.tiles.push(video(1, true));
        fanout.publish(&first).unwrap();
        let update = read(&fanout.next_update(steady).unwrap()).await;
        assert_eq!(marks(&update).len(), 5, "four tiles, then the frame");
        assert_eq!(update.tiles[4].encoding, TileEncoding::H264, "frames last");
        for mark in 2..=4 {
            fanout
                .publish(&picture(128, 128, 100, vec![video(mark, false)]))
                .unwrap();
            let update = read(&fanout.next_update(steady).unwrap()).await;
            assert_eq!(frames(&update), vec![mark], "one frame at a time, no tiles");
            assert!(marks(&update).len() == 1);
        }
        // A late joiner: the tiles and every frame since the keyframe.
        let late = fanout.join();
        fanout.grant(late, 1);
        let update = read(&fanout.next_update(late).unwrap()).await;
        assert_eq!(frames(&update), vec![1, 2, 3, 4]);
        assert_eq!(marks(&update).len(), 8);
        // Behind by two frames: both, in order, not skipped.
        for mark in 5..=6 {
            fanout
                .publish(&picture(128, 128, 100, vec![video(mark, false)]))
                .unwrap();
        }
        fanout.grant(late, 1);
        assert_eq!(
            frames(&read(&fanout.next_update(late).unwrap()).await),
            vec![5, 6]
        );
        // A new keyframe: one that was behind it starts from there.
        fanout
            .publish(&picture(128, 128, 100, vec![video(7, true)]))
            .unwrap();
        fanout
            .publish(&picture(128, 128, 100, vec![video(8, false)]))
            .unwrap();
        fanout.grant(late, 1);
        assert_eq!(
            frames(&read(&fanout.next_update(late).unwrap()).await),
            vec![7, 8]
        );
        // The steady one was at 4: frames 5 and 6 are of the old stream, so
        // it is sent the new stream from its keyframe.
        assert_eq!(
            frames(&read(&fanout.next_update(steady).unwrap()).await),
            vec![7, 8]
        );
        // The film ends: nobody is sent its frames any more.
        fanout.end_video();
        let again = fanout.join();
        fanout.grant(again, 1);
        assert!(frames(&read(&fanout.next_update(again).unwrap()).await).is_empty());
        assert_eq!(fanout.stats().video_frames, 8);
    }

    #[tokio::test]
    async fn a_frame_that_continues_no_stream_is_dropped_and_a_keyframe_asked_for() {
        let mut fanout = Fanout::new();
        let receiver = fanout.join();
        fanout.grant(receiver, 8);
        fanout
            .publish(&picture(128, 128, 100, vec![video(1, false)]))
            .unwrap();
        assert!(fanout.wants_keyframe());
        assert!(frames(&read(&fanout.next_update(receiver).unwrap()).await).is_empty());
        fanout
            .publish(&picture(128, 128, 100, vec![video(2, true)]))
            .unwrap();
        assert!(!fanout.wants_keyframe());
        assert_eq!(
            frames(&read(&fanout.next_update(receiver).unwrap()).await),
            vec![2]
        );
        // A stream never grows past what an update may carry.
        for _ in 1..MAX_VIDEO_FRAMES {
            fanout
                .publish(&picture(128, 128, 100, vec![video(3, false)]))
                .unwrap();
        }
        assert!(!fanout.wants_keyframe());
        fanout
            .publish(&picture(128, 128, 100, vec![video(4, false)]))
            .unwrap();
        assert!(fanout.wants_keyframe(), "one too many");
        let late = fanout.join();
        fanout.grant(late, 1);
        let update = read(&fanout.next_update(late).unwrap()).await;
        assert_eq!(frames(&update).len(), MAX_VIDEO_FRAMES as usize);
    }

    #[test]
    fn a_tile_outside_the_picture_is_refused_and_nothing_is_taken() {
        let mut fanout = Fanout::new();
        fanout.publish(&whole(1, 1)).unwrap();
        let error = fanout
            .publish(&picture(
                128,
                128,
                2,
                vec![tile(0, 0, 64, 64, 2), tile(100, 100, 64, 64, 2)],
            ))
            .unwrap_err();
        assert!(
            matches!(error, FanoutError::OutsidePicture { x: 100, .. }),
            "{error}"
        );
        assert_eq!(fanout.stats().pictures, 1);
        assert_eq!(fanout.picture.as_ref().unwrap().pieces.len(), 4);
    }

    #[test]
    fn credit_is_bounded_and_unknown_receivers_are_ignored() {
        let mut fanout = Fanout::new();
        let receiver = fanout.join();
        fanout.grant(receiver, u16::MAX);
        fanout.grant(receiver, u16::MAX);
        assert_eq!(fanout.receivers[&receiver].credit, MAX_CREDIT);
        fanout.leave(receiver);
        fanout.grant(receiver, 1);
        assert!(fanout.next_update(receiver).is_none());
        assert_eq!(fanout.receivers(), 0);
    }
}
