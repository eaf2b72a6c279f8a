//! Encoded tiles as they travel: the codec's [`EncodedTile`]s to and from
//! the wire's [`ScreenTile`]s (`pult-protocol`), for the agent and console
//! that send and receive them. Only the shapes change; not a byte is
//! encoded or decoded here.

use pult_protocol::watch::{ScreenTile, ScreenUpdate, TileEncoding};

use crate::codec::{EncodedFrame, EncodedTile, TileFormat, TileRect};
use crate::inspect::TileView;

/// The codec's tiles as an update carries them.
pub fn screen_tiles(tiles: Vec<EncodedTile>) -> Vec<ScreenTile> {
    tiles
        .into_iter()
        .map(|tile| ScreenTile {
            x: tile.rect.x,
            y: tile.rect.y,
            width: tile.rect.width,
            height: tile.rect.height,
            encoding: match tile.format {
                TileFormat::Png => TileEncoding::Png,
                TileFormat::Jpeg => TileEncoding::Jpeg,
                TileFormat::H264 => TileEncoding::H264,
            },
            data: tile.data,
        })
        .collect()
}

/// An update's tiles as the codec's frame, to decode.
pub fn encoded_frame(update: ScreenUpdate) -> EncodedFrame {
    EncodedFrame {
        width: update.width,
        height: update.height,
        tiles: update
            .tiles
            .into_iter()
            .map(|tile| EncodedTile {
                rect: tile_rect(&tile),
                format: tile_format(tile.encoding),
                data: tile.data,
            })
            .collect(),
    }
}

/// An update's tiles as [`crate::inspect`] checks them, without copying.
pub fn tile_views(tiles: &[ScreenTile]) -> impl Iterator<Item = TileView<'_>> {
    tiles.iter().map(|tile| TileView {
        rect: tile_rect(tile),
        format: tile_format(tile.encoding),
        data: &tile.data,
    })
}

/// How a tile of an update is encoded, in the codec's words.
pub fn tile_format(encoding: TileEncoding) -> TileFormat {
    match encoding {
        TileEncoding::Png => TileFormat::Png,
        TileEncoding::Jpeg => TileFormat::Jpeg,
        TileEncoding::H264 => TileFormat::H264,
    }
}

/// Where a tile of an update lies in the picture.
pub fn tile_rect(tile: &ScreenTile) -> TileRect {
    TileRect {
        x: tile.x,
        y: tile.y,
        width: tile.width,
        height: tile.height,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_keep_their_place_format_and_bytes_both_ways() {
        let tile = EncodedTile {
            rect: TileRect {
                x: 64,
                y: 128,
                width: 32,
                height: 64,
            },
            format: TileFormat::Jpeg,
            data: vec![1, 2, 3],
        };
        let wire = screen_tiles(vec![tile.clone()]);
        assert_eq!(wire[0].encoding, TileEncoding::Jpeg);
        let update = ScreenUpdate {
            sequence: 1,
            width: 200,
            height: 200,
            captured_at_micros: 0,
            agent_micros: 0,
            tiles: wire,
        };
        assert_eq!(encoded_frame(update).tiles, vec![tile]);
    }
}
