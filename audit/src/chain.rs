//! The hash chain through the audit log (R16, R17): every line carries its
//! running number (`seq`) and the SHA-256 of the line before it (`prev`), across
//! day files; the first line of a day file also names the file the line before
//! it is in (`prev_file`). [`verify`] walks the chain and says, by file and line,
//! where a line was changed, inserted or deleted, or a whole file is missing.
//!
//! What it can and cannot show: the hash has no secret, so someone who may
//! write the directory (root, after the service owns it) can rewrite every
//! line after an edit and the chain holds again; and lines cut off the end of
//! the newest file leave no trace in what remains. Both are caught by keeping
//! the hash of the last line that `pult-agent audit verify` prints, and
//! checking later that the chain still passes through it. Files deleted by the
//! retention time (R17) are no gap: the oldest kept file's first line names
//! the file before it, and that file's day is past the retention time.

use std::fmt;
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;
use time::Date;

use super::{date_of, is_audit_file};

/// `prev` of the very first line of a log.
pub const CHAIN_START: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How far back and ahead `verify` looks for the line a broken link continues
/// from, to tell inserted lines from changed ones.
const SEARCH_WINDOW: usize = 16;

/// The SHA-256 of one line as written (without its newline), in hex.
pub fn hash_line(line: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, line.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest.as_ref() {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Where the chain ends: what the next line written must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHead {
    /// The next line's running number.
    pub seq: u64,
    /// The hash of the last line.
    pub prev: String,
    /// The file of the last line; `None` before the first line.
    pub file: Option<String>,
    /// The last file does not end with a newline (a write cut short); the next
    /// line must start on a line of its own.
    pub needs_newline: bool,
}

impl ChainHead {
    /// The head of a new log.
    pub fn start() -> Self {
        Self {
            seq: 0,
            prev: CHAIN_START.to_owned(),
            file: None,
            needs_newline: false,
        }
    }

    /// The head after the last line in `dir`, so a restarted agent continues
    /// the chain; a new one if there are no lines.
    pub fn resume(dir: &Path) -> std::io::Result<Self> {
        let mut files = audit_files(dir)?;
        while let Some(name) = files.pop() {
            let text = std::fs::read_to_string(dir.join(&name))?;
            let lines: Vec<&str> = text.lines().collect();
            let Some(last) = lines.last() else {
                continue;
            };
            // The last line carries its number; if it is broken, count on from
            // the last one that is not.
            let seq = lines
                .iter()
                .rev()
                .enumerate()
                .find_map(|(back, line)| Some(links(line)?.seq + back as u64))
                .map_or(lines.len() as u64 - 1, |seq| seq);
            return Ok(Self {
                seq: seq + 1,
                prev: hash_line(last),
                file: Some(name),
                needs_newline: !text.ends_with('\n'),
            });
        }
        Ok(Self::start())
    }
}

/// The chain fields of one line; the rest of the line is the entry.
#[derive(Deserialize)]
struct Links {
    seq: u64,
    prev: String,
    #[serde(default)]
    prev_file: Option<String>,
}

fn links(line: &str) -> Option<Links> {
    serde_json::from_str(line).ok()
}

/// What `verify` found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verification {
    /// Audit files read.
    pub files: usize,
    /// Lines read.
    pub lines: usize,
    /// Every break in the chain, in order.
    pub problems: Vec<Problem>,
    /// The hash of the last line: keep it to check later that nothing was cut off the end.
    pub last_hash: Option<String>,
}

/// One break in the chain, at a line of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file, e.g. `audit-2026-11-24.jsonl`.
    pub file: String,
    /// The line, counted from 1.
    pub line: usize,
    /// What is wrong there.
    pub kind: ProblemKind,
}

/// What is wrong at a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// The line is not an audit line at all (edited by hand, or cut short).
    NotAnAuditLine,
    /// The line was changed: the next line does not carry its hash.
    Changed,
    /// This many lines were inserted here, this line first.
    Inserted(usize),
    /// This many lines before this one were deleted.
    Deleted(u64),
    /// The file that comes before this one is missing, with this many lines.
    FileMissing {
        /// The missing file.
        name: String,
        /// How many lines it held (all lines between, if several files are
        /// gone); unknown before the first file.
        lines: Option<u64>,
    },
    /// The file has no lines left.
    Empty,
    /// The last line has no newline: cut short.
    CutShort,
    /// The line's running number does not follow the line before it, though its hash does.
    Renumbered,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}: ", self.file, self.line)?;
        match &self.kind {
            ProblemKind::NotAnAuditLine => f.write_str("not an audit line (changed by hand?)"),
            ProblemKind::Changed => {
                f.write_str("changed: the line after it does not carry its hash")
            }
            ProblemKind::Inserted(1) => f.write_str("inserted: the chain skips this line"),
            ProblemKind::Inserted(count) => write!(
                f,
                "{count} lines inserted from here on: the chain skips them"
            ),
            ProblemKind::Deleted(1) => f.write_str("the line before this one was deleted"),
            ProblemKind::Deleted(count) => {
                write!(f, "{count} lines before this one were deleted")
            }
            ProblemKind::FileMissing { name, lines } => {
                write!(f, "follows {name}, which is missing")?;
                if let Some(lines) = lines {
                    write!(f, " with {lines} lines")?;
                }
                f.write_str(" (deleted before the retention time ended)")
            }
            ProblemKind::Empty => f.write_str("the file is empty: its lines were deleted"),
            ProblemKind::CutShort => f.write_str("the last line is cut short"),
            ProblemKind::Renumbered => f.write_str("its running number was changed"),
        }
    }
}

/// Verifies the audit files in `dir`; files of days before `oldest_kept` may
/// have been deleted by the retention time.
pub fn verify(dir: &Path, oldest_kept: Date) -> std::io::Result<Verification> {
    let mut files = Vec::new();
    for name in audit_files(dir)? {
        let text = std::fs::read_to_string(dir.join(&name))?;
        files.push((name, text));
    }
    Ok(verify_files(&files, oldest_kept))
}

/// The audit files in `dir`, oldest first (their names sort by day).
pub fn audit_files(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        if let Some(name) = entry?.file_name().to_str()
            && is_audit_file(name)
        {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// One line, as the walk sees it.
struct Seen<'a> {
    file: &'a str,
    line: usize,
    hash: String,
    links: Option<Links>,
}

/// Verifies `files` (name and content, oldest first).
pub fn verify_files(files: &[(String, String)], oldest_kept: Date) -> Verification {
    let mut result = Verification {
        files: files.len(),
        ..Verification::default()
    };
    let mut seen: Vec<Seen<'_>> = Vec::new();
    for (name, text) in files {
        if text.is_empty() {
            result.problems.push(problem(name, 1, ProblemKind::Empty));
            continue;
        }
        let lines: Vec<&str> = text
            .strip_suffix('\n')
            .unwrap_or(text)
            .split('\n')
            .collect();
        for (index, line) in lines.iter().enumerate() {
            let links = links(line);
            if links.is_none() {
                result
                    .problems
                    .push(problem(name, index + 1, ProblemKind::NotAnAuditLine));
            }
            seen.push(Seen {
                file: name,
                line: index + 1,
                hash: hash_line(line),
                links,
            });
        }
        if !text.ends_with('\n') {
            result
                .problems
                .push(problem(name, lines.len(), ProblemKind::CutShort));
        }
    }
    result.lines = seen.len();
    result.last_hash = seen.last().map(|s| s.hash.clone());
    let present: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();

    // Lines a later line was found to continue after: their own link is not a break.
    let mut skip_to = 0;
    for index in 0..seen.len() {
        let line = &seen[index];
        let Some(links) = &line.links else { continue };
        if index < skip_to {
            continue;
        }
        if index == 0 {
            if let Some(kind) = first_line_problem(links, oldest_kept) {
                result.problems.push(problem(line.file, line.line, kind));
            }
            continue;
        }
        let before = &seen[index - 1];
        let before_seq = before.links.as_ref().map(|l| l.seq);
        if links.prev == before.hash {
            if before_seq.is_some_and(|seq| links.seq != seq + 1) {
                result
                    .problems
                    .push(problem(line.file, line.line, ProblemKind::Renumbered));
            }
            continue;
        }
        // A new file must follow the file before it.
        if line.line == 1
            && let Some(named) = &links.prev_file
            && named != before.file
            && !present.contains(&named.as_str())
        {
            let lines = before_seq.map(|seq| links.seq.saturating_sub(seq + 1));
            result.problems.push(problem(
                line.file,
                1,
                ProblemKind::FileMissing {
                    name: named.clone(),
                    lines,
                },
            ));
            continue;
        }
        // Lines inserted after `before`: a later line continues from it.
        if let Some(ahead) = (index + 1..seen.len().min(index + 1 + SEARCH_WINDOW)).find(|&later| {
            seen[later]
                .links
                .as_ref()
                .is_some_and(|l| l.prev == before.hash)
        }) {
            result.problems.push(problem(
                line.file,
                line.line,
                ProblemKind::Inserted(ahead - index),
            ));
            skip_to = ahead + 1;
            continue;
        }
        // Lines inserted before this one: it continues from an earlier line.
        if let Some(back) = (index.saturating_sub(SEARCH_WINDOW + 1)..index - 1)
            .rev()
            .find(|&earlier| seen[earlier].hash == links.prev)
        {
            let first = &seen[back + 1];
            result.problems.push(problem(
                first.file,
                first.line,
                ProblemKind::Inserted(index - 1 - back),
            ));
            continue;
        }
        let kind = match before_seq {
            Some(seq) if links.seq > seq + 1 => ProblemKind::Deleted(links.seq - seq - 1),
            _ => ProblemKind::Changed,
        };
        let at = match kind {
            ProblemKind::Changed => before,
            _ => line,
        };
        let already = result
            .problems
            .iter()
            .any(|p| p.file == at.file && p.line == at.line);
        if !already {
            result.problems.push(problem(at.file, at.line, kind));
        }
    }
    result
}

/// Whether the first line left is a proper start: the start of a log, or the
/// first line after files that expired.
fn first_line_problem(links: &Links, oldest_kept: Date) -> Option<ProblemKind> {
    match &links.prev_file {
        Some(named) if date_of(named).is_some_and(|day| day < oldest_kept) => None,
        Some(named) => Some(ProblemKind::FileMissing {
            name: named.clone(),
            lines: None,
        }),
        None if links.seq == 0 && links.prev == CHAIN_START => None,
        None => Some(ProblemKind::Deleted(links.seq)),
    }
}

fn problem(file: &str, line: usize, kind: ProblemKind) -> Problem {
    Problem {
        file: file.to_owned(),
        line,
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chained log of `days` files with `per_day` lines each, as the writer makes it.
    fn log(days: &[&str], per_day: usize) -> Vec<(String, String)> {
        let mut head = ChainHead::start();
        let mut files = Vec::new();
        for day in days {
            let name = format!("audit-{day}.jsonl");
            let mut text = String::new();
            for n in 0..per_day {
                let prev_file = match &head.file {
                    Some(file) if *file != name => format!(",\"prev_file\":\"{file}\""),
                    _ => String::new(),
                };
                let line = format!(
                    "{{\"seq\":{},\"action\":\"status\",\"n\":{n},\"prev\":\"{}\"{prev_file}}}",
                    head.seq, head.prev
                );
                head = ChainHead {
                    seq: head.seq + 1,
                    prev: hash_line(&line),
                    file: Some(name.clone()),
                    needs_newline: false,
                };
                text.push_str(&line);
                text.push('\n');
            }
            files.push((name, text));
        }
        files
    }

    fn day(text: &str) -> Date {
        date_of(&format!("audit-{text}.jsonl")).unwrap()
    }

    fn edit(files: &mut [(String, String)], file: usize, f: impl FnOnce(&mut Vec<String>)) {
        let mut lines: Vec<String> = files[file].1.lines().map(str::to_owned).collect();
        f(&mut lines);
        files[file].1 = lines.iter().map(|l| format!("{l}\n")).collect();
    }

    const DAYS: [&str; 3] = ["2026-11-20", "2026-11-21", "2026-11-22"];

    #[test]
    fn r17_a_good_log_verifies_across_day_files() {
        let files = log(&DAYS, 5);
        let result = verify_files(&files, day("2026-06-01"));
        assert_eq!(result.problems, vec![]);
        assert_eq!((result.files, result.lines), (3, 15));
        assert_eq!(result.last_hash.unwrap().len(), 64);
    }

    #[test]
    fn r17_a_line_edited_by_hand_is_found() {
        let mut files = log(&DAYS, 5);
        edit(&mut files, 1, |lines| {
            lines[2] = lines[2].replace("status", "screenshot");
        });
        let result = verify_files(&files, day("2026-06-01"));
        assert_eq!(
            result.problems,
            vec![problem("audit-2026-11-21.jsonl", 3, ProblemKind::Changed)]
        );
        // The last line of a file, checked by the next file's first line.
        let mut files = log(&DAYS, 5);
        edit(&mut files, 0, |lines| lines[4].push(' '));
        let result = verify_files(&files, day("2026-06-01"));
        assert_eq!(
            result.problems,
            vec![problem("audit-2026-11-20.jsonl", 5, ProblemKind::Changed)]
        );
        // Broken JSON is named once.
        let mut files = log(&DAYS, 5);
        edit(&mut files, 2, |lines| lines[1].truncate(10));
        let result = verify_files(&files, day("2026-06-01"));
        assert_eq!(
            result.problems,
            vec![problem(
                "audit-2026-11-22.jsonl",
                2,
                ProblemKind::NotAnAuditLine
            )]
        );
    }

    #[test]
    fn r17_deleted_lines_are_found_with_their_count() {
        let mut files = log(&DAYS, 5);
        edit(&mut files, 1, |lines| {
            lines.drain(1..3);
        });
        let result = verify_files(&files, day("2026-06-01"));
        assert_eq!(
            result.problems,
            vec![problem(
                "audit-2026-11-21.jsonl",
                2,
                ProblemKind::Deleted(2)
            )]
        );
        // The last lines of a file that is not the newest.
        let mut files = log(&DAYS, 5);
        edit(&mut files, 0, |lines| {
            lines.truncate(3);
        });
        let result = verify_files(&files, day("2026-06-01"));
        assert_eq!(
            result.problems,
            vec![problem(
                "audit-2026-11-21.jsonl",
                1,
                ProblemKind::Deleted(2)
            )]
        );
        // The first lines of the oldest file.
        let mut files = log(&DAYS, 5);
        edit(&mut files, 0, |lines| {
            lines.remove(0);
        });
        let result = verify_files(&files, day("2026-06-01"));
        assert_eq!(
            result.problems,
            vec![problem(
                "audit-2026-11-20.jsonl",
                1,
                ProblemKind::Deleted(1)
            )]
        );
    }

    #[test]
    fn r17_an_inserted_line_is_named_not_its_neighbours() {
        let mut files = log(&DAYS, 5);
        // A forger who even computes the hash of the line before.
        edit(&mut files, 1, |lines| {
            let forged = format!(
                "{{\"seq\":7,\"action\":\"status\",\"prev\":\"{}\"}}",
                hash_line(&lines[1])
            );
            lines.insert(2, forged);
        });
        let result = verify_files(&files, day("2026-06-01"));
        assert_eq!(
            result.problems,
            vec![problem(
                "audit-2026-11-21.jsonl",
                3,
                ProblemKind::Inserted(1)
            )]
        );
        // A line with a made-up hash.
        let mut files = log(&DAYS, 5);
        edit(&mut files, 1, |lines| {
            lines.insert(2, format!("{{\"seq\":7,\"prev\":\"{}\"}}", "ab".repeat(32)));
        });
        let result = verify_files(&files, day("2026-06-01"));
        assert_eq!(
            result.problems,
            vec![problem(
                "audit-2026-11-21.jsonl",
                3,
                ProblemKind::Inserted(1)
            )]
        );
    }

    #[test]
    fn r17_a_missing_middle_file_is_named() {
        let mut files = log(&DAYS, 5);
        files.remove(1);
        let result = verify_files(&files, day("2026-06-01"));
        assert_eq!(
            result.problems,
            vec![problem(
                "audit-2026-11-22.jsonl",
                1,
                ProblemKind::FileMissing {
                    name: "audit-2026-11-21.jsonl".into(),
                    lines: Some(5)
                }
            )]
        );
    }

    #[test]
    fn r17_files_deleted_by_the_retention_time_are_no_gap_but_younger_ones_are() {
        let mut files = log(&DAYS, 5);
        files.remove(0);
        // The first file's day is past the retention time: it expired.
        let result = verify_files(&files, day("2026-11-21"));
        assert_eq!(result.problems, vec![]);
        // It was still to be kept: deleted before its time.
        let result = verify_files(&files, day("2026-11-20"));
        assert_eq!(
            result.problems,
            vec![problem(
                "audit-2026-11-21.jsonl",
                1,
                ProblemKind::FileMissing {
                    name: "audit-2026-11-20.jsonl".into(),
                    lines: None
                }
            )]
        );
    }

    #[test]
    fn an_emptied_file_and_a_cut_last_line_are_named() {
        let mut files = log(&DAYS, 5);
        files[1].1.clear();
        let result = verify_files(&files, day("2026-06-01"));
        assert!(
            result
                .problems
                .contains(&problem("audit-2026-11-21.jsonl", 1, ProblemKind::Empty)),
            "{:?}",
            result.problems
        );
        let mut files = log(&DAYS, 5);
        let cut = files[2].1.len() - 1;
        files[2].1.truncate(cut);
        let result = verify_files(&files, day("2026-06-01"));
        assert_eq!(
            result.problems,
            vec![problem("audit-2026-11-22.jsonl", 5, ProblemKind::CutShort)]
        );
    }

    #[test]
    fn the_head_resumes_after_the_last_line() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ChainHead::resume(dir.path()).unwrap(), ChainHead::start());
        let files = log(&DAYS[..2], 3);
        for (name, text) in &files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let head = ChainHead::resume(dir.path()).unwrap();
        let last = files[1].1.lines().last().unwrap();
        assert_eq!(head.seq, 6);
        assert_eq!(head.prev, hash_line(last));
        assert_eq!(head.file.as_deref(), Some("audit-2026-11-21.jsonl"));
        assert!(!head.needs_newline);
    }
}
