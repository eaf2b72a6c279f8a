//! The console's audit log (R6, R16, R17): what this teacher sent to each
//! device and collected from it — the files' names, sizes and how each went,
//! never their contents. The agents keep their own log of the same
//! transfers; this one stays on the teacher's computer (R19), in
//! `~/.local/share/pult/audit` (the platform's local data folder), in the
//! same form as the agent's: JSON lines in day files, hash-chained, the
//! owner's alone, deleted after six months. `pultctl audit verify` checks it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use pult_audit::{DayLog, RETENTION, oldest_kept_day};
use pult_protocol::credentials::RoomManifest;
use serde::Serialize;
use time::OffsetDateTime;

use crate::ConsoleError;
use crate::transfer::DeviceResult;

/// The way files went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransferKind {
    /// From the teacher to the device.
    FilesSend,
    /// From the device to the teacher.
    FilesCollect,
}

/// One line: one device's part of a transfer.
#[derive(Serialize)]
struct TransferLine<'a> {
    action: TransferKind,
    /// The teacher and the room, from the room certificate.
    user: &'a str,
    room: &'a str,
    device: &'a str,
    /// Files moved in all, and their bytes.
    done: usize,
    bytes: u64,
    /// `ok` when every file went through, else `incomplete` or `failed`.
    result: &'static str,
    /// Why the device failed as a whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    files: Vec<FileLine<'a>>,
    /// Files the student's side left out of a collection.
    #[serde(skip_serializing_if = "is_zero")]
    skipped: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One file of a line.
#[derive(Serialize)]
struct FileLine<'a> {
    path: &'a str,
    /// As offered (sent) or as the agent claimed (collected).
    size: u64,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    why: Option<&'a str>,
}

/// An expiry line.
#[derive(Serialize)]
struct ExpireLine {
    action: &'static str,
    detail: String,
}

/// The console's audit log in one directory, shared by every transfer of
/// this process; other processes (pultctl beside the app) write the same
/// chain, each line under the directory's lock.
#[derive(Debug)]
pub struct ConsoleAudit {
    log: Mutex<DayLog>,
}

impl ConsoleAudit {
    /// Where the log is unless told otherwise: `pult/audit` in the user's
    /// local data folder.
    pub fn default_dir() -> Option<PathBuf> {
        dirs::data_local_dir().map(|dir| dir.join("pult").join("audit"))
    }

    /// Opens (creating) the log in `dir`, deletes days past six months
    /// (R17) and writes a line naming them.
    pub fn open(dir: &Path) -> Result<Self, ConsoleError> {
        let failed = |error: std::io::Error| {
            ConsoleError::Storage(format!(
                "the console's audit log in {} cannot be written: {error}",
                dir.display()
            ))
        };
        let mut log = DayLog::open(dir).map_err(failed)?;
        let deleted = log.expire(oldest_kept_day(RETENTION)).map_err(failed)?;
        if !deleted.is_empty() {
            let line = ExpireLine {
                action: "expire",
                detail: format!(
                    "deleted after {} days (R17): {}",
                    RETENTION.as_secs() / 86_400,
                    deleted.join(", ")
                ),
            };
            log.append_shared(&line, OffsetDateTime::now_utc())
                .map_err(failed)?;
        }
        Ok(Self {
            log: Mutex::new(log),
        })
    }

    /// The directory of the log.
    pub fn dir(&self) -> PathBuf {
        self.lock().dir().to_owned()
    }

    /// Writes one device's part of a transfer.
    pub fn transfer(
        &self,
        kind: TransferKind,
        manifest: &RoomManifest,
        device: &str,
        result: &DeviceResult,
    ) -> Result<(), ConsoleError> {
        let size = |path: &str| result.sizes.get(path).copied().unwrap_or(0);
        let mut files = Vec::new();
        for path in &result.done {
            files.push(file_line(path, size(path), "done", None));
        }
        for path in &result.exists {
            files.push(file_line(path, size(path), "exists", None));
        }
        for (path, why) in &result.refused {
            files.push(file_line(path, size(path), "refused", Some(why)));
        }
        for (path, why) in &result.failed {
            files.push(file_line(path, size(path), "failed", Some(why)));
        }
        let line = TransferLine {
            action: kind,
            user: &manifest.user,
            room: &manifest.room,
            device,
            done: result.done.len(),
            bytes: result.bytes,
            result: if result.error.is_some() {
                "failed"
            } else if result.is_complete() {
                "ok"
            } else {
                "incomplete"
            },
            reason: result.error.as_deref().map(cut),
            files,
            skipped: result.skipped,
        };
        let mut log = self.lock();
        log.append_shared(&line, OffsetDateTime::now_utc())
            .map_err(|e| {
                ConsoleError::Storage(format!(
                    "the console's audit log in {} cannot be written: {e}",
                    log.dir().display()
                ))
            })
    }

    /// Writes each device's part of a transfer; the first failure ends it.
    pub fn transfers<'a>(
        &self,
        kind: TransferKind,
        manifest: &RoomManifest,
        results: impl IntoIterator<Item = (&'a str, &'a DeviceResult)>,
    ) -> Result<(), ConsoleError> {
        for (device, result) in results {
            self.transfer(kind, manifest, device, result)?;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DayLog> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn file_line<'a>(
    path: &'a str,
    size: u64,
    outcome: &'static str,
    why: Option<&'a str>,
) -> FileLine<'a> {
    FileLine {
        path,
        size,
        outcome,
        why: why.map(cut),
    }
}

/// A reason as logged: at most 120 characters (an agent's words are its own).
fn cut(reason: &str) -> &str {
    match reason.char_indices().nth(120) {
        Some((at, _)) => &reason[..at],
        None => reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> RoomManifest {
        RoomManifest {
            organisation: "Gymnasium Am Park".into(),
            room: "101".into(),
            user: "mueller".into(),
            not_after: OffsetDateTime::now_utc(),
            devices: Vec::new(),
        }
    }

    #[test]
    fn r16_each_devices_files_are_logged_with_names_and_sizes_and_the_chain_holds() {
        let dir = tempfile::tempdir().unwrap();
        let audit = ConsoleAudit::open(&dir.path().join("audit")).unwrap();
        let mut result = DeviceResult::default();
        result.done.push("Arbeitsblatt.pdf".into());
        result.sizes.insert("Arbeitsblatt.pdf".into(), 3_000_000);
        result.exists.push("Aufgaben/1.txt".into());
        result.sizes.insert("Aufgaben/1.txt".into(), 12);
        result.bytes = 3_000_000;
        audit
            .transfer(TransferKind::FilesSend, &manifest(), "R101-PC01", &result)
            .unwrap();
        let broken = DeviceResult {
            error: Some(format!("cannot reach the agent{}", " at all".repeat(40))),
            ..DeviceResult::default()
        };
        audit
            .transfer(
                TransferKind::FilesCollect,
                &manifest(),
                "R101-PC02",
                &broken,
            )
            .unwrap();
        let dir = audit.dir();
        let verified = pult_audit::chain::verify(&dir, oldest_kept_day(RETENTION)).unwrap();
        assert_eq!(verified.problems, vec![]);
        assert_eq!(verified.lines, 2);
        let name = pult_audit::file_name(OffsetDateTime::now_utc().date());
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["action"], "files-send");
        assert_eq!(
            (lines[0]["user"].as_str(), lines[0]["room"].as_str()),
            (Some("mueller"), Some("101"))
        );
        assert_eq!(lines[0]["result"], "incomplete");
        assert_eq!(lines[0]["files"][0]["path"], "Arbeitsblatt.pdf");
        assert_eq!(lines[0]["files"][0]["size"], 3_000_000);
        assert_eq!(lines[0]["files"][1]["outcome"], "exists");
        assert_eq!(lines[1]["action"], "files-collect");
        assert_eq!(lines[1]["result"], "failed");
        assert_eq!(lines[1]["reason"].as_str().unwrap().chars().count(), 120);
    }
}
