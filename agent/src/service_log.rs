//! The service's own log file, for systems where a service has no console
//! (Windows): appended to, and started afresh when it has grown past a size
//! or an age, with the file before kept once. So a line lives at most about
//! twice the age (R17: logs are deleted after six months at the latest) and
//! the two files together stay small, however long the service runs.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A log file that rotates itself while written.
pub struct ServiceLog {
    path: PathBuf,
    old: PathBuf,
    most: u64,
    age: Duration,
    file: File,
    written: u64,
    started: SystemTime,
}

impl ServiceLog {
    /// Opens (or creates) `path` for appending; the file before is kept as
    /// `old`. A new file is started past `most` bytes or `age`.
    pub fn open(path: &Path, old: &Path, most: u64, age: Duration) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let meta = file.metadata()?;
        let mut log = Self {
            path: path.to_owned(),
            old: old.to_owned(),
            most,
            age,
            written: meta.len(),
            // Where the system keeps no creation time, the log counts from now.
            started: meta.created().unwrap_or_else(|_| SystemTime::now()),
            file,
        };
        if log.due(0) {
            log.rotate()?;
        }
        Ok(log)
    }

    fn due(&self, more: usize) -> bool {
        let size = self.written.saturating_add(more as u64) > self.most && self.written > 0;
        // An empty log is never set aside: it would replace the one before.
        let old = self.written > 0 && self.started.elapsed().is_ok_and(|age| age >= self.age);
        size || old
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        // Renaming an open file works on Windows too: std opens files with
        // FILE_SHARE_DELETE. The old handle is replaced right after.
        std::fs::rename(&self.path, &self.old)?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.written = 0;
        self.started = SystemTime::now();
        Ok(())
    }
}

impl Write for ServiceLog {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        if self.due(line.len()) {
            self.rotate()?;
        }
        let written = self.file.write(line)?;
        self.written += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    #[test]
    fn past_its_size_the_log_starts_afresh_and_keeps_one_file_before() {
        let dir = tempfile::tempdir().unwrap();
        let (path, old) = (dir.path().join("service.log"), dir.path().join("old.log"));
        let mut log = ServiceLog::open(&path, &old, 20, Duration::from_secs(3600)).unwrap();
        log.write_all(b"first line\n").unwrap(); // 11 bytes
        log.write_all(b"second\n").unwrap(); // 18
        assert_eq!(read(&path), "first line\nsecond\n");
        log.write_all(b"third\n").unwrap(); // would be 24: a new file
        assert_eq!(read(&path), "third\n");
        assert_eq!(read(&old), "first line\nsecond\n");
        log.write_all(b"fourth line\n").unwrap(); // 18
        log.write_all(b"fifth\n").unwrap(); // would be 24: again
        assert_eq!(read(&path), "fifth\n");
        assert_eq!(
            read(&old),
            "third\nfourth line\n",
            "only one file before is kept"
        );
    }

    #[test]
    fn a_log_reopened_appends_and_one_too_old_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let (path, old) = (dir.path().join("service.log"), dir.path().join("old.log"));
        std::fs::write(&path, "from before\n").unwrap();
        let mut log = ServiceLog::open(&path, &old, 1 << 20, Duration::from_secs(3600)).unwrap();
        log.write_all(b"now\n").unwrap();
        assert_eq!(read(&path), "from before\nnow\n");
        drop(log);
        // With an age of zero every file is too old at once.
        let mut log = ServiceLog::open(&path, &old, 1 << 20, Duration::ZERO).unwrap();
        assert_eq!(read(&old), "from before\nnow\n");
        assert_eq!(read(&path), "");
        // The empty new file is not set aside over the one before.
        log.write_all(b"later\n").unwrap();
        assert_eq!(read(&old), "from before\nnow\n");
        assert_eq!(read(&path), "later\n");
    }

    #[test]
    fn a_single_line_longer_than_the_limit_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (path, old) = (dir.path().join("service.log"), dir.path().join("old.log"));
        let mut log = ServiceLog::open(&path, &old, 4, Duration::from_secs(3600)).unwrap();
        log.write_all(b"a long line\n").unwrap();
        assert_eq!(read(&path), "a long line\n");
        assert!(!old.exists(), "an empty log is not set aside");
    }
}
