//! The teacher's screenshots: saved under the user's pictures folder as
//! `Pult/ROOM/DEVICE-YYYY-MM-DD-HHMMSS.png`, listed newest first.

use std::path::{Path, PathBuf};

use serde::Serialize;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use crate::ConsoleError;
use crate::files::safe_name;

/// One saved screenshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedShot {
    /// The device it shows.
    pub device: String,
    /// When it was taken (RFC 3339, local time of the file name).
    pub time: String,
    /// Where the file is.
    pub path: String,
    /// The file's name.
    pub file_name: String,
}

/// The folder of one room's screenshots.
#[derive(Clone, Debug)]
pub struct Gallery {
    dir: PathBuf,
    offset: UtcOffset,
}

impl Gallery {
    /// The gallery of `room` in the user's pictures folder (`~/Bilder` on a
    /// German desktop), or in `pictures` when given; file names carry the
    /// time at `offset` (the local one, read while the program was starting).
    pub fn for_room(room: &str, pictures: Option<PathBuf>, offset: UtcOffset) -> Self {
        let pictures = pictures
            .or_else(dirs::picture_dir)
            .or_else(|| dirs::home_dir().map(|home| home.join("Pictures")))
            .unwrap_or_else(|| PathBuf::from("."));
        Self {
            dir: pictures.join("Pult").join(safe_name(room)),
            offset,
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Saves `png` of `device` taken now; returns what was saved.
    pub fn save(&self, device: &str, png: &[u8]) -> Result<SavedShot, ConsoleError> {
        let now = OffsetDateTime::now_utc().to_offset(self.offset);
        let stamp = now
            .format(format_description!(
                "[year]-[month]-[day]-[hour][minute][second]"
            ))
            .unwrap_or_default();
        let file_name = format!("{}-{stamp}.png", safe_name(device));
        let path = self.dir.join(&file_name);
        crate::files::write_atomically(&path, png).map_err(|e| {
            ConsoleError::Storage(format!("could not save {}: {e}", path.display()))
        })?;
        Ok(self.describe(&path).unwrap_or(SavedShot {
            device: device.to_owned(),
            time: String::new(),
            path: path.display().to_string(),
            file_name,
        }))
    }

    /// Every screenshot in the folder, newest first.
    pub fn list(&self) -> Vec<SavedShot> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut shots: Vec<SavedShot> = entries
            .filter_map(|e| self.describe(&e.ok()?.path()))
            .collect();
        shots.sort_by(|a, b| b.time.cmp(&a.time).then(a.device.cmp(&b.device)));
        shots
    }

    /// The bytes of a screenshot of this gallery; nothing outside it is read.
    pub fn read(&self, path: &str) -> Result<Vec<u8>, ConsoleError> {
        let path = Path::new(path);
        let inside = path.parent() == Some(self.dir.as_path()) && self.describe(path).is_some();
        if !inside {
            return Err(ConsoleError::Storage(format!(
                "{} is not a screenshot of this gallery",
                path.display()
            )));
        }
        std::fs::read(path)
            .map_err(|e| ConsoleError::Storage(format!("could not read {}: {e}", path.display())))
    }

    fn describe(&self, path: &Path) -> Option<SavedShot> {
        let file_name = path.file_name()?.to_str()?.to_owned();
        let stem = file_name.strip_suffix(".png")?;
        // DEVICE-YYYY-MM-DD-HHMMSS: the stamp is the last 17 characters.
        let split = stem.len().checked_sub(18)?;
        let (device, stamp) = (stem.get(..split)?, stem.get(split + 1..)?);
        let (date, clock) = stamp.rsplit_once('-')?;
        if device.is_empty() || clock.len() != 6 || !clock.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let time = format!("{date}T{}:{}:{}", &clock[..2], &clock[2..4], &clock[4..]);
        Some(SavedShot {
            device: device.to_owned(),
            time,
            path: path.display().to_string(),
            file_name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screenshots_are_saved_and_listed_newest_first() {
        let pictures = tempfile::tempdir().unwrap();
        let gallery =
            Gallery::for_room("Raum 101", Some(pictures.path().to_owned()), UtcOffset::UTC);
        let saved = gallery.save("PC-01", b"\x89PNG").unwrap();
        assert!(
            saved.path.starts_with(
                &pictures
                    .path()
                    .join("Pult")
                    .join("Raum 101")
                    .display()
                    .to_string()
            )
        );
        assert!(saved.file_name.starts_with("PC-01-20"));
        std::fs::write(gallery.dir().join("PC-02-2000-01-01-080000.png"), b"old").unwrap();
        std::fs::write(gallery.dir().join("notes.txt"), b"not a shot").unwrap();
        let list = gallery.list();
        assert_eq!(
            list.iter().map(|s| s.device.as_str()).collect::<Vec<_>>(),
            ["PC-01", "PC-02"]
        );
        assert_eq!(list[1].time, "2000-01-01T08:00:00");
        assert_eq!(gallery.read(&saved.path).unwrap(), b"\x89PNG");
    }

    #[test]
    fn nothing_outside_the_gallery_is_read_and_names_cannot_climb_out() {
        let pictures = tempfile::tempdir().unwrap();
        let gallery = Gallery::for_room(
            "../../etc",
            Some(pictures.path().to_owned()),
            UtcOffset::UTC,
        );
        assert_eq!(
            gallery.dir().parent(),
            Some(pictures.path().join("Pult").as_path())
        );
        assert!(
            gallery
                .dir()
                .components()
                .all(|c| c != std::path::Component::ParentDir)
        );
        assert!(gallery.read("/etc/passwd").is_err());
        let outside = pictures.path().join("PC-01-2000-01-01-080000.png");
        std::fs::write(&outside, b"x").unwrap();
        assert!(gallery.read(&outside.display().to_string()).is_err());
    }
}
