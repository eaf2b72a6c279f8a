//! The binary message that carries one screen update to the app's web view.
//!
//! Never base64 JSON: tiles stay the PNG and JPEG files the agent made, and
//! the web view decodes them itself. Layout, all little-endian:
//! `u8 version (1), u8 reserved, u16 device index, u32 width, u32 height,
//! u16 tile count`, then per tile `u32 x, u32 y, u32 width, u32 height,
//! u8 format (1 PNG, 2 JPEG), u32 length, the image bytes`.
//! `ui/src/frames.ts` reads it.

use pult_protocol::watch::{ScreenUpdate, TileEncoding};

/// The layout version written in the first byte.
pub const VERSION: u8 = 1;

/// Encodes `update` of the device at `index` (its place in the room's list).
pub fn encode(index: u16, update: &ScreenUpdate) -> Vec<u8> {
    let data: usize = update.tiles.iter().map(|t| 21 + t.data.len()).sum();
    let mut message = Vec::with_capacity(14 + data);
    message.extend([VERSION, 0]);
    message.extend(index.to_le_bytes());
    message.extend(update.width.to_le_bytes());
    message.extend(update.height.to_le_bytes());
    // The web view decodes images only; H.264 is for broadcasts to agents
    // and never in a student's stream (the console's check refuses it).
    let tiles: Vec<_> = update
        .tiles
        .iter()
        .filter(|t| t.encoding != TileEncoding::H264)
        .take(usize::from(u16::MAX))
        .collect();
    // An update has far fewer than 65,536 tiles (a 16K desktop has 16,000).
    message.extend(u16::try_from(tiles.len()).unwrap_or(u16::MAX).to_le_bytes());
    for tile in tiles {
        for value in [tile.x, tile.y, tile.width, tile.height] {
            message.extend(value.to_le_bytes());
        }
        message.push(match tile.encoding {
            TileEncoding::Png => 1,
            // H.264 was left out above.
            TileEncoding::Jpeg | TileEncoding::H264 => 2,
        });
        message.extend(
            u32::try_from(tile.data.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        message.extend(&tile.data);
    }
    message
}

#[cfg(test)]
mod tests {
    use pult_protocol::watch::ScreenTile;

    use super::*;

    #[test]
    fn the_layout_is_what_the_web_view_reads() {
        let update = ScreenUpdate {
            sequence: 1,
            width: 320,
            height: 180,
            captured_at_micros: 0,
            agent_micros: 0,
            tiles: vec![ScreenTile {
                x: 64,
                y: 128,
                width: 64,
                height: 52,
                encoding: TileEncoding::Jpeg,
                data: vec![0xff, 0xd8],
            }],
        };
        let message = encode(7, &update);
        assert_eq!(message.len(), 14 + 21 + 2);
        assert_eq!(&message[..4], &[1, 0, 7, 0]);
        assert_eq!(u32::from_le_bytes(message[4..8].try_into().unwrap()), 320);
        assert_eq!(u16::from_le_bytes([message[12], message[13]]), 1);
        assert_eq!(u32::from_le_bytes(message[14..18].try_into().unwrap()), 64);
        assert_eq!(message[14 + 16], 2);
        assert_eq!(u32::from_le_bytes(message[31..35].try_into().unwrap()), 2);
        assert_eq!(&message[35..], &[0xff, 0xd8]);
    }
}
