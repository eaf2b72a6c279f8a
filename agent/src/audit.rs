//! The agent's audit log: every accepted and refused connection and every
//! request, as JSON lines, one file a day, deleted after the retention time
//! (R16, R17). The log stays on the student computer; nothing is sent anywhere (R19).
//!
//! - The lines form a hash chain across the day files ([`chain`]), checked by
//!   `pult-agent audit verify DIR`.
//! - On Unix the directory is created 0700 and the files 0600: only the
//!   agent's user (root, for the service) reads or writes them.
//! - Refusals are what anyone on the network can cause, so they are limited:
//!   a few lines per source address a minute, the rest summed ([`refusals`]),
//!   and none beyond the size cap ([`SizeCap`]), with one line saying how many
//!   were dropped. Accepted connections and requests are always written: they
//!   are what a teacher did (R16), and only a holder of a valid room
//!   certificate can cause them, at the rates the agent's limits allow; losing
//!   them to a flood of refusals would be the flood's purpose.

pub mod refusals;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pult_audit::DayLog;
pub use pult_audit::{RETENTION, chain, oldest_kept_day};
use serde::Serialize;
use time::{Date, OffsetDateTime};

use self::refusals::{RefusalLimiter, RefusalSummary, Verdict};

/// What an audit line is about; written as its kebab-case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditAction {
    /// A console connected, or was refused.
    Connect,
    /// A console's connection ended.
    Disconnect,
    /// A console asked who is logged on (every 15 s while a room is open).
    Status,
    /// A screenshot (R2).
    Screenshot,
    /// A screen stream began (R1).
    Watch,
    /// A screen stream ended.
    WatchEnd,
    /// A web page was to be opened (R5).
    OpenUrl,
    /// A program was to be started (R4).
    RunProgram,
    /// A message window was to be shown.
    Message,
    /// The screen was to be locked (R20).
    Lock,
    /// The lock was to be ended (R20).
    Unlock,
    /// Remote control began (R3).
    Control,
    /// Remote control ended; the detail counts what was sent, never the keys.
    ControlEnd,
    /// The student's clipboard was read while controlling (R3); the detail
    /// is its size, never its text.
    ClipboardRead,
    /// A restart, shutdown or log-off was to be scheduled.
    Power,
    /// A waiting power action was to be called off.
    PowerCancel,
    /// Magic packets were to be sent for the room's devices.
    Wake,
    /// A broadcast began to be shown on the screen (R7).
    Broadcast,
    /// A broadcast ended; the detail counts the pictures shown.
    BroadcastEnd,
    /// Files were offered to the student (R6); the detail counts them.
    FilesSend,
    /// A batch of files to the student ended; the detail names each file
    /// and its size (never its contents) and how it went.
    FilesSent,
    /// The hand-in folder was listed for collecting.
    FilesCollect,
    /// A collect batch ended; the detail names the files sent and sizes.
    FilesCollected,
    /// A frame could not be read.
    Malformed,
    /// The refusals from one source in a minute that had no line of their own.
    MoreRefusals,
    /// Refusal lines not written because the log reached its size cap.
    RefusalsDropped,
    /// Audit files past the retention time were deleted (R17).
    Expire,
}

/// How it ended; written as its lower-case name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditResult {
    /// The connection was admitted.
    Accepted,
    /// The connection or request was refused.
    Refused,
    /// The request was carried out.
    #[default]
    Ok,
    /// The request failed.
    Error,
    /// The connection or stream ended.
    Closed,
}

/// One line of the audit log.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEntry {
    /// The teacher, from a room certificate of this school.
    pub user: Option<String>,
    /// The room, from a room certificate of this school.
    pub room: Option<String>,
    /// The teacher a refused certificate names that was *not* issued by this
    /// school's CA: anyone can write any name into a certificate they made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_user: Option<String>,
    /// The room such a certificate names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_room: Option<String>,
    /// The console's address.
    pub peer: String,
    /// What happened.
    pub action: AuditAction,
    /// What the action was about (the URL, the program line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How it ended.
    pub result: AuditResult,
    /// Why, when it was not a plain success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How many events a summing line stands for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// How many of them had each reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub reasons: BTreeMap<String, u64>,
}

impl AuditEntry {
    /// An entry for `action` by `peer`, result `ok`, nothing else known yet.
    pub fn new(action: AuditAction, peer: impl Into<String>) -> Self {
        Self {
            user: None,
            room: None,
            claimed_user: None,
            claimed_room: None,
            peer: peer.into(),
            action,
            detail: None,
            result: AuditResult::Ok,
            reason: None,
            count: None,
            reasons: BTreeMap::new(),
        }
    }

    /// Whether this line is a refusal, which is dropped when the log is full.
    fn is_refusal(&self) -> bool {
        self.result == AuditResult::Refused || self.action == AuditAction::Malformed
    }
}

/// The most the log may hold before refusal lines are dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeCap {
    /// Bytes in one day's file.
    pub per_day: u64,
    /// Bytes in all files together.
    pub total: u64,
}

impl Default for SizeCap {
    /// 32 MiB a day (a busy day is about 1 MiB), 1 GiB in all.
    fn default() -> Self {
        Self {
            per_day: 32 << 20,
            total: 1 << 30,
        }
    }
}

/// The audit log in one directory.
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    retention: Duration,
    cap: SizeCap,
    writer: Mutex<Writer>,
}

/// Everything that changes as lines are written.
#[derive(Debug)]
struct Writer {
    log: DayLog,
    dropped: u64,
    limiter: RefusalLimiter,
}

impl AuditLog {
    /// Opens (creating) the log directory, continues its chain and deletes
    /// files past `retention`.
    pub fn open(dir: &Path, retention: Duration) -> std::io::Result<Self> {
        Self::open_with_cap(dir, retention, SizeCap::default())
    }

    /// [`Self::open`] with another size cap.
    pub fn open_with_cap(dir: &Path, retention: Duration, cap: SizeCap) -> std::io::Result<Self> {
        let log = Self {
            dir: dir.to_owned(),
            retention,
            cap,
            writer: Mutex::new(Writer {
                log: DayLog::open(dir)?,
                dropped: 0,
                limiter: RefusalLimiter::default(),
            }),
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
        let mut writer = self.lock();
        self.write(&mut writer, entry);
    }

    /// Appends a refusal from `source`, unless that source already had its
    /// lines this minute; `reason` is the stable code its summary counts.
    pub fn record_refusal(&self, source: IpAddr, reason: &str, entry: &AuditEntry) {
        self.record_refusal_at(source, reason, entry, Instant::now());
    }

    fn record_refusal_at(&self, source: IpAddr, reason: &str, entry: &AuditEntry, now: Instant) {
        let mut writer = self.lock();
        let (verdict, ended) = writer.limiter.refusal(source, reason, now);
        if let Some(summary) = ended {
            self.write(&mut writer, &summary_entry(&summary));
        }
        if verdict == Verdict::Write {
            self.write(&mut writer, entry);
        }
    }

    /// Writes what is due: the summaries of sources whose minute is over, and
    /// how many refusal lines the size cap dropped. Call it every few seconds.
    pub fn flush(&self) {
        self.flush_at(Instant::now());
    }

    fn flush_at(&self, now: Instant) {
        let mut writer = self.lock();
        let summaries = writer.limiter.ended(now);
        self.write_summaries(&mut writer, &summaries);
    }

    /// Writes every pending summary now (the agent stops).
    pub fn flush_all(&self) {
        let mut writer = self.lock();
        let summaries = writer.limiter.drain();
        self.write_summaries(&mut writer, &summaries);
    }

    fn write_summaries(&self, writer: &mut Writer, summaries: &[RefusalSummary]) {
        for summary in summaries {
            self.write(writer, &summary_entry(summary));
        }
        if writer.dropped > 0 {
            let dropped = std::mem::take(&mut writer.dropped);
            let cap = self.cap;
            let mut entry = AuditEntry::new(AuditAction::RefusalsDropped, "");
            entry.count = Some(dropped);
            entry.detail = Some(format!(
                "{dropped} refusal lines not written: the audit log reached its size cap \
                 ({} MiB a day, {} MiB in all)",
                cap.per_day >> 20,
                cap.total >> 20
            ));
            // Always written, like accepted actions: it is one line a flush.
            self.append(writer, &entry);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes `entry`, or counts it as dropped if it is a refusal and the log is full.
    fn write(&self, writer: &mut Writer, entry: &AuditEntry) {
        if entry.is_refusal() && self.is_full(writer) {
            writer.dropped += 1;
            return;
        }
        self.append(writer, entry);
    }

    fn is_full(&self, writer: &Writer) -> bool {
        let today = OffsetDateTime::now_utc().date();
        writer.log.day_size(today) >= self.cap.per_day || writer.log.total() >= self.cap.total
    }

    fn append(&self, writer: &mut Writer, entry: &AuditEntry) {
        self.append_at(writer, entry, OffsetDateTime::now_utc());
    }

    fn append_at(&self, writer: &mut Writer, entry: &AuditEntry, now: OffsetDateTime) {
        if let Err(error) = writer.log.append(entry, now) {
            tracing::error!(
                "could not write the audit log in {}: {error}",
                self.dir.display()
            );
        }
    }

    /// Deletes the files of days older than the retention time and writes a
    /// line naming them; returns how many.
    pub fn expire(&self) -> std::io::Result<usize> {
        let oldest_kept = self.oldest_kept_day();
        let mut writer = self.lock();
        let deleted = writer.log.expire(oldest_kept)?;
        if !deleted.is_empty() {
            let mut entry = AuditEntry::new(AuditAction::Expire, "");
            entry.count = Some(deleted.len() as u64);
            entry.detail = Some(format!(
                "deleted after {} days (R17): {}",
                self.retention.as_secs() / 86_400,
                deleted.join(", ")
            ));
            self.append(&mut writer, &entry);
        }
        Ok(deleted.len())
    }

    /// The first day whose file is kept.
    pub fn oldest_kept_day(&self) -> Date {
        oldest_kept_day(self.retention)
    }
}

fn summary_entry(summary: &RefusalSummary) -> AuditEntry {
    let peer = summary.source.map(|s| s.to_string()).unwrap_or_default();
    let mut entry = AuditEntry::new(AuditAction::MoreRefusals, peer);
    entry.result = AuditResult::Refused;
    entry.count = Some(summary.count);
    entry.reasons = summary.reasons.clone();
    entry.detail = Some(summary.describe());
    entry
}

#[cfg(test)]
mod tests {
    use pult_audit::file_name;

    use super::*;

    fn lines(dir: &Path) -> Vec<serde_json::Value> {
        let mut lines = Vec::new();
        for name in chain::audit_files(dir).unwrap() {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            lines.extend(text.lines().map(|l| serde_json::from_str(l).unwrap()));
        }
        lines
    }

    fn refusal(peer: &str) -> AuditEntry {
        AuditEntry {
            claimed_user: Some("mallory".into()),
            result: AuditResult::Refused,
            reason: Some("unknown-ca: not issued by this school's CA".into()),
            ..AuditEntry::new(AuditAction::Connect, peer)
        }
    }

    #[test]
    fn r16_entries_are_json_lines_in_todays_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path(), RETENTION).unwrap();
        log.record(&AuditEntry {
            user: Some("mueller".into()),
            room: Some("101".into()),
            detail: Some("https://example.org/".into()),
            ..AuditEntry::new(AuditAction::OpenUrl, "10.0.0.5:5000")
        });
        log.record(&AuditEntry {
            result: AuditResult::Refused,
            reason: Some("expired".into()),
            ..AuditEntry::new(AuditAction::Connect, "10.0.0.5:5001")
        });
        log.record(&AuditEntry::new(AuditAction::WatchEnd, "10.0.0.5:5000"));
        let text =
            std::fs::read_to_string(dir.path().join(file_name(OffsetDateTime::now_utc().date())))
                .unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["user"], "mueller");
        assert_eq!(lines[0]["action"], "open-url");
        assert_eq!(lines[0]["result"], "ok");
        assert_eq!(lines[0]["detail"], "https://example.org/");
        assert!(lines[0]["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[0]["seq"], 0);
        assert_eq!(lines[0]["prev"], chain::CHAIN_START);
        assert!(lines[0].get("claimed_user").is_none());
        assert_eq!(lines[1]["reason"], "expired");
        assert_eq!(lines[1]["result"], "refused");
        assert_eq!(lines[2]["action"], "watch-end");
        assert_eq!(
            lines[1]["prev"].as_str().unwrap(),
            chain::hash_line(text.lines().next().unwrap())
        );
    }

    #[test]
    fn r17_the_chain_goes_on_when_the_log_is_opened_again_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        for round in 0..3 {
            let log = AuditLog::open(dir.path(), RETENTION).unwrap();
            for _ in 0..=round {
                log.record(&AuditEntry::new(AuditAction::Status, "10.0.0.5:5000"));
            }
        }
        let lines = lines(dir.path());
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[5]["seq"], 5);
        let verified = chain::verify(dir.path(), oldest_kept_day(RETENTION)).unwrap();
        assert_eq!(verified.problems, vec![]);
        assert_eq!(verified.lines, 6);
    }

    #[test]
    fn r17_expired_files_leave_a_line_and_the_chain_still_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let today = OffsetDateTime::now_utc().date();
        let old = today - time::Duration::days(184);
        let recent = today - time::Duration::days(10);
        // Two days written by an agent, the first now past the retention time.
        {
            let log = AuditLog::open(dir.path(), Duration::from_secs(1000 * 86_400)).unwrap();
            let mut writer = log.lock();
            for (day, count) in [(old, 2), (recent, 3)] {
                let at = day.with_hms(12, 0, 0).unwrap().assume_utc();
                for _ in 0..count {
                    let entry = AuditEntry::new(AuditAction::Status, "10.0.0.5:5000");
                    log.append_at(&mut writer, &entry, at);
                }
            }
        }
        std::fs::write(dir.path().join("notes.txt"), "not ours").unwrap();
        let log = AuditLog::open(dir.path(), RETENTION).unwrap();
        assert!(!dir.path().join(file_name(old)).exists());
        assert!(dir.path().join(file_name(recent)).exists());
        assert!(dir.path().join("notes.txt").exists());
        assert_eq!(log.expire().unwrap(), 0);
        let lines = lines(dir.path());
        let expired = lines.iter().find(|l| l["action"] == "expire").unwrap();
        assert!(
            expired["detail"]
                .as_str()
                .unwrap()
                .contains(&file_name(old))
        );
        let verified = chain::verify(dir.path(), log.oldest_kept_day()).unwrap();
        assert_eq!(verified.problems, vec![]);
        assert_eq!(verified.lines, 4);
    }

    #[cfg(unix)]
    #[test]
    fn the_directory_is_0700_and_the_files_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit");
        std::fs::create_dir(&audit).unwrap();
        std::fs::set_permissions(&audit, std::fs::Permissions::from_mode(0o755)).unwrap();
        let log = AuditLog::open(&audit, RETENTION).unwrap();
        log.record(&AuditEntry::new(AuditAction::Status, "10.0.0.5:5000"));
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&audit), 0o700);
        let file = audit.join(file_name(OffsetDateTime::now_utc().date()));
        assert_eq!(mode(&file), 0o600);
        let fresh = dir.path().join("new/audit");
        AuditLog::open(&fresh, RETENTION).unwrap();
        assert_eq!(mode(&fresh), 0o700);
    }

    #[test]
    fn refusals_are_limited_per_source_and_summed_when_the_minute_ends() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path(), RETENTION).unwrap();
        let start = Instant::now();
        let flood: IpAddr = [10, 0, 0, 66].into();
        for i in 0..25 {
            let at = start + Duration::from_millis(i * 100);
            log.record_refusal_at(flood, "unknown-ca", &refusal("10.0.0.66:4000"), at);
        }
        log.record_refusal_at(
            [10, 0, 0, 7].into(),
            "expired",
            &refusal("10.0.0.7:4000"),
            start,
        );
        log.record(&AuditEntry::new(AuditAction::Status, "10.0.0.5:5000"));
        log.flush_at(start + Duration::from_secs(30));
        assert_eq!(lines(dir.path()).len(), 10 + 1 + 1);
        log.flush_at(start + Duration::from_secs(61));
        let lines = lines(dir.path());
        assert_eq!(lines.len(), 13);
        let summary = &lines[12];
        assert_eq!(summary["action"], "more-refusals");
        assert_eq!(summary["peer"], "10.0.0.66");
        assert_eq!(summary["count"], 15);
        assert_eq!(summary["reasons"]["unknown-ca"], 15);
        assert_eq!(lines[0]["claimed_user"], "mallory");
        assert!(lines[0].get("user").unwrap().is_null());
    }

    #[test]
    fn beyond_the_size_cap_refusals_are_dropped_with_one_line_and_actions_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cap = SizeCap {
            per_day: 2000,
            total: 1 << 20,
        };
        let log = AuditLog::open_with_cap(dir.path(), RETENTION, cap).unwrap();
        let start = Instant::now();
        // Many sources, each within its limit: only the cap stops them.
        for i in 0..100u8 {
            log.record_refusal_at([10, 0, 1, i].into(), "unknown-ca", &refusal("x"), start);
        }
        let written = lines(dir.path()).len();
        assert!(
            written < 20,
            "{written} refusal lines under a 2000-byte cap"
        );
        // An accepted action is written all the same.
        log.record(&AuditEntry::new(AuditAction::Screenshot, "10.0.0.5:5000"));
        log.flush_at(start);
        let lines = lines(dir.path());
        assert_eq!(lines[written]["action"], "screenshot");
        let dropped = &lines[written + 1];
        assert_eq!(dropped["action"], "refusals-dropped");
        assert_eq!(dropped["count"], 100 - written as u64);
        // Said once: the next flush has nothing to add.
        log.flush_at(start);
        assert_eq!(self::lines(dir.path()).len(), written + 2);
        let verified = chain::verify(dir.path(), log.oldest_kept_day()).unwrap();
        assert_eq!(verified.problems, vec![]);
    }
}
