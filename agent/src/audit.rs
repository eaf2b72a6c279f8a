//! The agent's audit log: every accepted and refused connection and every
//! request, as JSON lines, one file a day, deleted after the retention time
//! (R16, R17). The log stays on the student computer; nothing is sent anywhere (R19).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

/// How long audit files are kept: six months (R17).
pub const RETENTION: Duration = Duration::from_secs(183 * 24 * 3600);

/// One line of the audit log.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AuditEntry {
    /// The teacher, from the room certificate (if it could be read).
    pub user: Option<String>,
    /// The room, from the room certificate.
    pub room: Option<String>,
    /// The console's address.
    pub peer: String,
    /// What happened: `connect`, `disconnect`, `screenshot`, `open-url`, `run-program`, `malformed`.
    pub action: String,
    /// What the action was about (the URL, the program line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `accepted`, `refused`, `ok`, `error`, `closed`.
    pub result: String,
    /// Why, when it was not a plain success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    #[serde(flatten)]
    entry: &'a AuditEntry,
}

/// The audit log in one directory.
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    retention: Duration,
    today: Mutex<Option<(Date, File)>>,
}

impl AuditLog {
    /// Opens (creating) the log directory and deletes files past `retention`.
    pub fn open(dir: &Path, retention: Duration) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let log = Self {
            dir: dir.to_owned(),
            retention,
            today: Mutex::new(None),
        };
        log.expire()?;
        Ok(log)
    }

    /// The directory the log is in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one entry. A failure to write is reported on stderr, never to the console.
    pub fn record(&self, entry: &AuditEntry) {
        let now = OffsetDateTime::now_utc();
        let line = Line {
            time: now.format(&Rfc3339).unwrap_or_default(),
            entry,
        };
        let Ok(mut text) = serde_json::to_string(&line) else {
            return;
        };
        text.push('\n');
        if let Err(error) = self.append(now.date(), text.as_bytes()) {
            tracing::error!(
                "could not write the audit log in {}: {error}",
                self.dir.display()
            );
        }
    }

    fn append(&self, date: Date, bytes: &[u8]) -> std::io::Result<()> {
        let mut today = self
            .today
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if today.as_ref().is_none_or(|(open, _)| *open != date) {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(file_name(date)))?;
            *today = Some((date, file));
        }
        match today.as_mut() {
            Some((_, file)) => file.write_all(bytes),
            None => Ok(()),
        }
    }

    /// Deletes the files of days older than the retention time; returns how many.
    pub fn expire(&self) -> std::io::Result<usize> {
        let oldest_kept = (OffsetDateTime::now_utc() - self.retention).date();
        let mut deleted = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let date = path.file_name().and_then(|n| n.to_str()).and_then(date_of);
            if date.is_some_and(|d| d < oldest_kept) {
                std::fs::remove_file(&path)?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

fn file_name(date: Date) -> String {
    let format = format_description!("[year]-[month]-[day]");
    format!("audit-{}.jsonl", date.format(format).unwrap_or_default())
}

fn date_of(file_name: &str) -> Option<Date> {
    let day = file_name.strip_prefix("audit-")?.strip_suffix(".jsonl")?;
    Date::parse(day, format_description!("[year]-[month]-[day]")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_json_lines_in_todays_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path(), RETENTION).unwrap();
        log.record(&AuditEntry {
            user: Some("mueller".into()),
            room: Some("101".into()),
            peer: "10.0.0.5:5000".into(),
            action: "open-url".into(),
            detail: Some("https://example.org/".into()),
            result: "ok".into(),
            reason: None,
        });
        log.record(&AuditEntry {
            action: "connect".into(),
            result: "refused".into(),
            reason: Some("expired".into()),
            ..AuditEntry::default()
        });
        let text =
            std::fs::read_to_string(dir.path().join(file_name(OffsetDateTime::now_utc().date())))
                .unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["user"], "mueller");
        assert_eq!(lines[0]["detail"], "https://example.org/");
        assert!(lines[0]["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[1]["reason"], "expired");
    }

    #[test]
    fn r17_files_older_than_the_retention_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let today = OffsetDateTime::now_utc().date();
        let old = today - time::Duration::days(184);
        let recent = today - time::Duration::days(10);
        for date in [old, recent] {
            std::fs::write(dir.path().join(file_name(date)), "{}\n").unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), "not ours").unwrap();
        let log = AuditLog::open(dir.path(), RETENTION).unwrap();
        assert!(!dir.path().join(file_name(old)).exists());
        assert!(dir.path().join(file_name(recent)).exists());
        assert!(dir.path().join("notes.txt").exists());
        assert_eq!(log.expire().unwrap(), 0);
    }
}
