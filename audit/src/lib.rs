//! Pult's audit logs (R16, R17): the agent's on the student computer and
//! the console's on the teacher's. Both are JSON lines, one file a day
//! (`audit-YYYY-MM-DD.jsonl`), hash-chained across the day files
//! ([`chain`]), private to their owner (the directory 0700 and the files
//! 0600 on Unix), and deleted after [`RETENTION`]. What a line says is the
//! writer's own: [`DayLog::append`] takes any serialisable entry and puts
//! the chain's fields around it.

pub mod chain;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use self::chain::ChainHead;

/// How long audit files are kept: six months (R17).
pub const RETENTION: Duration = Duration::from_secs(183 * 24 * 3600);

/// The first day whose file is kept when files are kept for `retention`.
pub fn oldest_kept_day(retention: Duration) -> Date {
    (OffsetDateTime::now_utc() - retention).date()
}

/// `PROGRAM audit verify DIR`: verifies the log in `dir` and says so; on
/// success also the last line's hash, to keep. Exit code 0 when the chain
/// is whole, 1 when it was altered (each problem a line), 2 when the log
/// cannot be read.
pub fn verify_command(program: &str, dir: &Path) -> ExitCode {
    match chain::verify(dir, oldest_kept_day(RETENTION)) {
        Err(error) => {
            eprintln!(
                "{program}: could not read the audit log in {}: {error}",
                dir.display()
            );
            ExitCode::from(2)
        }
        Ok(verified) if verified.problems.is_empty() => {
            println!(
                "{}: {} lines in {} files verified, the chain is whole",
                dir.display(),
                verified.lines,
                verified.files
            );
            if let Some(hash) = verified.last_hash {
                // Lines cut off the end leave no trace in what remains; this
                // hash, kept elsewhere, shows them.
                println!(
                    "last line's hash: {hash} (keep it to check later that no lines were cut off the end)"
                );
            }
            ExitCode::SUCCESS
        }
        Ok(verified) => {
            for problem in &verified.problems {
                println!("{problem}");
            }
            eprintln!(
                "{program}: the audit log in {} was altered: {} problems in {} lines of {} files",
                dir.display(),
                verified.problems.len(),
                verified.lines,
                verified.files
            );
            ExitCode::FAILURE
        }
    }
}

/// One line as written: the chain fields around the entry.
#[derive(Serialize)]
struct Line<'a, E: Serialize> {
    seq: u64,
    time: String,
    #[serde(flatten)]
    entry: &'a E,
    prev: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev_file: Option<&'a str>,
}

/// The day files of one audit log and the end of their chain. Not shared:
/// its owner keeps it behind a lock.
#[derive(Debug)]
pub struct DayLog {
    dir: PathBuf,
    head: ChainHead,
    today: Option<(Date, File, u64)>,
    total: u64,
}

impl DayLog {
    /// Opens (creating, 0700) the log directory, makes its files the
    /// owner's alone and continues their chain.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        create_private_dir(dir)?;
        let mut total = 0;
        for name in chain::audit_files(dir)? {
            let path = dir.join(name);
            restrict_to_owner(&path)?;
            total += std::fs::metadata(&path)?.len();
        }
        Ok(Self {
            dir: dir.to_owned(),
            head: ChainHead::resume(dir)?,
            today: None,
            total,
        })
    }

    /// The directory the log is in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes in the file of `day`, as far as this log wrote or found it.
    pub fn day_size(&self, day: Date) -> u64 {
        match &self.today {
            Some((date, _, size)) if *date == day => *size,
            _ => 0,
        }
    }

    /// Bytes in all files.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Appends `entry` as one line of the file of `now`'s day, in one
    /// write, so a line is never interleaved or half there but for a crash
    /// in the middle of it.
    pub fn append<E: Serialize>(&mut self, entry: &E, now: OffsetDateTime) -> std::io::Result<()> {
        let date = now.date();
        let name = file_name(date);
        let prev_file = self.head.file.as_deref().filter(|file| *file != name);
        let line = Line {
            seq: self.head.seq,
            time: now.format(&Rfc3339).unwrap_or_default(),
            entry,
            prev: &self.head.prev,
            prev_file,
        };
        let text = serde_json::to_string(&line).map_err(std::io::Error::other)?;
        if self.today.as_ref().is_none_or(|(open, ..)| *open != date) {
            let file = open_private(&self.dir.join(&name))?;
            let size = file.metadata()?.len();
            self.today = Some((date, file, size));
        }
        let mut bytes = Vec::with_capacity(text.len() + 2);
        if self.head.needs_newline && self.head.file.as_deref() == Some(name.as_str()) {
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(b'\n');
        if let Some((_, file, size)) = self.today.as_mut() {
            file.write_all(&bytes)?;
            *size += bytes.len() as u64;
        }
        self.total += bytes.len() as u64;
        self.head = ChainHead {
            seq: self.head.seq + 1,
            prev: chain::hash_line(&text),
            file: Some(name),
            needs_newline: false,
        };
        Ok(())
    }

    /// Like [`Self::append`], for a log that more than one process writes
    /// (the teacher's pultctl and app): under an exclusive lock on the
    /// directory's `.lock` file the end of the chain is read anew first, so
    /// all writers' lines form one chain. The lock goes with the file.
    pub fn append_shared<E: Serialize>(
        &mut self,
        entry: &E,
        now: OffsetDateTime,
    ) -> std::io::Result<()> {
        // Opened for writing, not appending: Windows locks only files
        // opened with read or write access.
        let mut options = OpenOptions::new();
        options.create(true).write(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let lock = options.open(self.dir.join(LOCK_FILE))?;
        lock.lock()?;
        // Nobody else wrote since this log's last line when today's file
        // is still as long as it left it; otherwise the chain's end is read
        // from the files, and the day's size taken anew.
        let today = file_name(now.date());
        let ours = self.head.file.as_deref() == Some(today.as_str())
            && self.today.as_ref().is_some_and(|(date, file, size)| {
                *date == now.date() && file.metadata().is_ok_and(|m| m.len() == *size)
            });
        if !ours {
            self.head = ChainHead::resume(&self.dir)?;
            self.today = None;
        }
        self.append(entry, now)
    }

    /// Deletes the files of days before `oldest_kept`; returns their names.
    /// The caller writes a line naming them.
    pub fn expire(&mut self, oldest_kept: Date) -> std::io::Result<Vec<String>> {
        let mut deleted = Vec::new();
        for name in chain::audit_files(&self.dir)? {
            if date_of(&name).is_some_and(|day| day < oldest_kept) {
                let path = self.dir.join(&name);
                let size = std::fs::metadata(&path).map_or(0, |m| m.len());
                match std::fs::remove_file(&path) {
                    // Another writer of the same log expired it first.
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                    other => other?,
                }
                self.total = self.total.saturating_sub(size);
                deleted.push(name);
            }
        }
        Ok(deleted)
    }
}

/// Creates `dir` (and its parents) and makes it the owner's alone (0700 on Unix).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        // An existing directory (of an older version) is closed too.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    // On Windows the service's directory gets its ACL from the installer,
    // and a user's profile is theirs.
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// The file whose lock [`DayLog::append_shared`] takes.
const LOCK_FILE: &str = ".lock";

/// Opens `path` for appending, created 0600 on Unix.
fn open_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Makes an existing audit file the owner's alone (0600 on Unix).
fn restrict_to_owner(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// The name of the audit file of `date`.
pub fn file_name(date: Date) -> String {
    let format = format_description!("[year]-[month]-[day]");
    format!("audit-{}.jsonl", date.format(format).unwrap_or_default())
}

/// Whether `name` is the name of a day's audit file.
pub fn is_audit_file(name: &str) -> bool {
    date_of(name).is_some()
}

/// The day of an audit file's name.
pub fn date_of(file_name: &str) -> Option<Date> {
    let day = file_name.strip_prefix("audit-")?.strip_suffix(".jsonl")?;
    Date::parse(day, format_description!("[year]-[month]-[day]")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Note {
        action: &'static str,
        n: u32,
    }

    #[test]
    fn r17_lines_chain_across_days_and_a_reopened_log_continues_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let (monday, tuesday) = (
            OffsetDateTime::now_utc() - Duration::from_secs(86_400),
            OffsetDateTime::now_utc(),
        );
        let mut log = DayLog::open(dir.path()).unwrap();
        log.append(&Note { action: "a", n: 1 }, monday).unwrap();
        log.append(&Note { action: "b", n: 2 }, tuesday).unwrap();
        drop(log);
        let mut log = DayLog::open(dir.path()).unwrap();
        log.append(&Note { action: "c", n: 3 }, tuesday).unwrap();
        let size = |day: Date| {
            std::fs::metadata(dir.path().join(file_name(day)))
                .unwrap()
                .len()
        };
        assert_eq!(log.day_size(tuesday.date()), size(tuesday.date()));
        assert_eq!(log.total(), size(monday.date()) + size(tuesday.date()));
        let verified = chain::verify(dir.path(), oldest_kept_day(RETENTION)).unwrap();
        assert_eq!(verified.problems, vec![]);
        assert_eq!((verified.files, verified.lines), (2, 3));
        let text = std::fs::read_to_string(dir.path().join(file_name(tuesday.date()))).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["action"], "b");
        assert_eq!(first["seq"], 1);
        assert_eq!(first["prev_file"], file_name(monday.date()));
    }

    #[test]
    fn r17_two_writers_of_one_log_keep_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        // Two processes' logs, as pultctl's and the app's.
        let mut first = DayLog::open(dir.path()).unwrap();
        let mut second = DayLog::open(dir.path()).unwrap();
        for n in 0..3 {
            first.append_shared(&Note { action: "a", n }, now).unwrap();
            second.append_shared(&Note { action: "b", n }, now).unwrap();
        }
        // Twice in a row: the chain's end as this log left it.
        for n in 3..5 {
            first.append_shared(&Note { action: "a", n }, now).unwrap();
        }
        second
            .append_shared(&Note { action: "b", n: 3 }, now)
            .unwrap();
        let verified = chain::verify(dir.path(), oldest_kept_day(RETENTION)).unwrap();
        assert_eq!(verified.problems, vec![]);
        assert_eq!((verified.files, verified.lines), (1, 9));
        let names = chain::audit_files(dir.path()).unwrap();
        assert_eq!(
            names,
            [file_name(now.date())],
            "the lock file is no audit file"
        );
    }

    #[cfg(unix)]
    #[test]
    fn r17_the_log_is_its_owners_alone_and_old_days_expire() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit");
        let old = OffsetDateTime::now_utc() - RETENTION - Duration::from_secs(2 * 86_400);
        let mut log = DayLog::open(&audit).unwrap();
        log.append(
            &Note {
                action: "old",
                n: 0,
            },
            old,
        )
        .unwrap();
        log.append(
            &Note {
                action: "new",
                n: 1,
            },
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&audit), 0o700);
        for name in chain::audit_files(&audit).unwrap() {
            assert_eq!(mode(&audit.join(name)), 0o600);
        }
        let deleted = log.expire(oldest_kept_day(RETENTION)).unwrap();
        assert_eq!(deleted, vec![file_name(old.date())]);
        assert_eq!(chain::audit_files(&audit).unwrap().len(), 1);
        // What is left still verifies: the gap is past the retention time.
        let verified = chain::verify(&audit, oldest_kept_day(RETENTION)).unwrap();
        assert_eq!(verified.problems, vec![]);
    }
}
