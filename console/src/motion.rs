//! Where a film plays on the teacher's screen (R7): the part of a broadcast
//! sent as H.264 rather than as tiles. Each 64-pixel cell remembers in
//! which of the last pictures it changed; cells that change in most of them
//! are moving. When enough moving cells make a solid block for a while,
//! their bounding box is the video area; when they stop, it ends. A pointer
//! or a typing teacher changes a cell now and then, never most of the time.
//!
//! Pure state over the changed cells of each picture; no pixels.

use pult_screen::codec::{TILE_SIZE, TileRect};

/// The pictures a cell's history looks back over (a second at 25 a second).
const WINDOW: u32 = 25;
/// A cell changed in at least this many of them is moving.
const MOVING_AT: u32 = 15;
/// Fewer moving cells than this (256x192 pixels) are no film.
const MIN_CELLS: usize = 12;
/// The moving cells fill at least this share of their bounding box.
const MIN_FILL: f64 = 0.5;
/// A new area (or none) is taken after it held this many pictures in a row.
const SETTLE: u32 = 8;
/// A smaller area inside the current one with at least this share of its
/// cells is the same film (dark parts of a picture change less).
const SAME_SHARE: f64 = 0.6;

/// Finds the moving part of a picture, picture by picture.
#[derive(Debug, Default)]
pub(crate) struct Motion {
    width: u32,
    height: u32,
    columns: u32,
    /// Per cell, row by row: bit 0 is the latest picture, 1 when it changed.
    history: Vec<u32>,
    area: Option<TileRect>,
    /// Pictures in a row that wanted another area than `area`.
    unsettled: u32,
}

impl Motion {
    /// Takes the next picture's changed cells (rectangles on the
    /// [`TILE_SIZE`] grid, as [`pult_screen::codec::changed_tiles`] gives
    /// them) and returns where the film is now, if anywhere.
    pub(crate) fn observe(
        &mut self,
        width: u32,
        height: u32,
        changed: &[TileRect],
    ) -> Option<TileRect> {
        if (width, height) != (self.width, self.height) {
            *self = Self {
                width,
                height,
                columns: width.div_ceil(TILE_SIZE),
                history: vec![0; (width.div_ceil(TILE_SIZE) * height.div_ceil(TILE_SIZE)) as usize],
                ..Self::default()
            };
        }
        for cell in &mut self.history {
            *cell <<= 1;
        }
        for rect in changed {
            let index = (rect.y / TILE_SIZE * self.columns + rect.x / TILE_SIZE) as usize;
            if let Some(cell) = self.history.get_mut(index) {
                *cell |= 1;
            }
        }
        let wanted = self.moving_area();
        let same = match (wanted, self.area) {
            (None, None) => true,
            (Some(wanted), Some(area)) => wanted == area || inside_most_of(wanted, area),
            _ => false,
        };
        if same {
            self.unsettled = 0;
        } else {
            self.unsettled += 1;
            if self.unsettled >= SETTLE {
                self.area = wanted;
                self.unsettled = 0;
            }
        }
        self.area
    }

    /// The bounding box of the moving cells, if they make a film: enough
    /// of them, filling most of it; trimmed to even sides (4:2:0 video).
    fn moving_area(&self) -> Option<TileRect> {
        let window = (1u32 << WINDOW) - 1;
        let (mut left, mut top, mut right, mut bottom) = (u32::MAX, u32::MAX, 0, 0);
        let mut count = 0usize;
        for (index, cell) in self.history.iter().enumerate() {
            if (cell & window).count_ones() < MOVING_AT {
                continue;
            }
            let (column, row) = (index as u32 % self.columns, index as u32 / self.columns);
            (left, top) = (left.min(column), top.min(row));
            (right, bottom) = (right.max(column + 1), bottom.max(row + 1));
            count += 1;
        }
        if count < MIN_CELLS {
            return None;
        }
        let cells = f64::from((right - left) * (bottom - top));
        if (count as f64) < cells * MIN_FILL {
            return None;
        }
        let x = left * TILE_SIZE;
        let y = top * TILE_SIZE;
        let mut width = (right * TILE_SIZE).min(self.width) - x;
        let mut height = (bottom * TILE_SIZE).min(self.height) - y;
        // A partial cell of odd size at the picture's edge stays with the tiles.
        if !width.is_multiple_of(2) {
            width -= width % TILE_SIZE;
        }
        if !height.is_multiple_of(2) {
            height -= height % TILE_SIZE;
        }
        (width >= 2 * TILE_SIZE && height >= 2 * TILE_SIZE).then_some(TileRect {
            x,
            y,
            width,
            height,
        })
    }
}

/// Whether `inner` lies in `outer` and covers most of it.
fn inside_most_of(inner: TileRect, outer: TileRect) -> bool {
    let inside = inner.x >= outer.x
        && inner.y >= outer.y
        && inner.x + inner.width <= outer.x + outer.width
        && inner.y + inner.height <= outer.y + outer.height;
    let area = |r: TileRect| f64::from(r.width) * f64::from(r.height);
    inside && area(inner) >= area(outer) * SAME_SHARE
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grid cells of `rect` (cell-aligned) as changed tiles.
    fn cells(rect: TileRect) -> Vec<TileRect> {
        let mut out = Vec::new();
        for y in (rect.y..rect.y + rect.height).step_by(TILE_SIZE as usize) {
            for x in (rect.x..rect.x + rect.width).step_by(TILE_SIZE as usize) {
                out.push(TileRect {
                    x,
                    y,
                    width: TILE_SIZE,
                    height: TILE_SIZE,
                });
            }
        }
        out
    }

    const FILM: TileRect = TileRect {
        x: 320,
        y: 192,
        width: 640,
        height: 384,
    };

    #[test]
    fn a_film_becomes_the_video_area_within_a_second_and_ends_when_it_stops() {
        let mut motion = Motion::default();
        let mut found_after = None;
        for picture in 0..40 {
            if motion.observe(1920, 1080, &cells(FILM)).is_some() && found_after.is_none() {
                found_after = Some(picture);
            }
        }
        let found_after = found_after.expect("the film was found");
        assert!(found_after <= 25, "found after {found_after} pictures");
        assert_eq!(motion.observe(1920, 1080, &cells(FILM)), Some(FILM));
        // Paused: after the history forgets it and the change settles, gone.
        let mut gone_after = None;
        for picture in 0..40 {
            if motion.observe(1920, 1080, &[]).is_none() && gone_after.is_none() {
                gone_after = Some(picture);
            }
        }
        assert!(gone_after.is_some_and(|p| p <= 25), "{gone_after:?}");
    }

    #[test]
    fn a_moving_pointer_or_a_slide_change_is_no_film() {
        let mut motion = Motion::default();
        for picture in 0..100u32 {
            // The pointer crosses the screen, a cell or two a picture.
            let x = (picture * 40) % 1900;
            let pointer = cells(TileRect {
                x: x / TILE_SIZE * TILE_SIZE,
                y: 512,
                width: TILE_SIZE,
                height: TILE_SIZE,
            });
            // Every 50th picture the whole slide changes.
            let changed = if picture % 50 == 0 {
                cells(TileRect {
                    x: 0,
                    y: 0,
                    width: 1920,
                    height: 1024,
                })
            } else {
                pointer
            };
            assert_eq!(
                motion.observe(1920, 1080, &changed),
                None,
                "picture {picture}"
            );
        }
    }

    #[test]
    fn two_small_films_far_apart_are_not_one_big_area() {
        let mut motion = Motion::default();
        let one = TileRect {
            x: 0,
            y: 0,
            width: 256,
            height: 192,
        };
        let other = TileRect {
            x: 1600,
            y: 832,
            width: 256,
            height: 192,
        };
        let both: Vec<_> = cells(one).into_iter().chain(cells(other)).collect();
        for _ in 0..60 {
            assert_eq!(motion.observe(1920, 1080, &both), None);
        }
    }

    #[test]
    fn the_area_keeps_even_sides_at_an_odd_edge_and_restarts_on_a_new_size() {
        let mut motion = Motion::default();
        // A region broadcast of 1001x601: the film fills it.
        let whole = cells(TileRect {
            x: 0,
            y: 0,
            width: 1024,
            height: 640,
        })
        .into_iter()
        .filter(|c| c.x < 1001 && c.y < 601)
        .collect::<Vec<_>>();
        let mut area = None;
        for _ in 0..40 {
            area = motion.observe(1001, 601, &whole);
        }
        let area = area.unwrap();
        assert_eq!((area.width % 2, area.height % 2), (0, 0));
        assert_eq!((area.width, area.height), (960, 576));
        // Another picture size forgets everything.
        assert_eq!(motion.observe(800, 600, &[]), None);
    }
}
