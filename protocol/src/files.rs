//! Files to the class and back (R6): the names both ends accept, and the
//! messages of a file batch.
//!
//! **Send.** A [`crate::message::Request::SendFiles`] turns a fresh stream
//! into a batch stream. The console sends one [`FileList`]: every file's
//! path, size and BLAKE3 hash. The agent checks every name again, asks the
//! student's side whether each may be written, and answers
//! [`FilesNews::Ready`] with a verdict per file. The console then sends each
//! file it may on a stream of its own — a
//! [`crate::message::Request::FileData`] and exactly the file's bytes — so
//! each file has its own flow control and a large one never delays a click;
//! the agent answers each with [`crate::message::Reply::Done`] once the file
//! is in place under its real name, its hash checked. When the console
//! finishes the batch stream, the student is told what arrived and the agent
//! answers [`FilesNews::Finished`].
//!
//! **Collect.** A [`crate::message::Request::CollectFiles`] turns a fresh
//! stream into a collect batch: the agent answers [`FilesNews::Listing`],
//! the files of the student's hand-in folder; the console fetches each on a
//! stream of its own with [`crate::message::Request::FetchFile`]: the agent
//! answers [`crate::message::Reply::Done`], the file's bytes and their
//! BLAKE3 hash (32 bytes), or an error reply.
//!
//! Every name is hostile until [`FilePath::parse`] accepted it, at both
//! ends: whatever a peer claims, a checked path stays inside the folder it
//! is joined to, and names Windows cannot hold, or holds as something else
//! (a device, an alternate data stream), are refused everywhere.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::frame::{FrameKind, WireMessage};
use crate::message::ErrorReply;

/// The most bytes of one name in a path (what NTFS and ext4 hold).
pub const MAX_NAME_BYTES: usize = 255;
/// The most bytes of a whole relative path.
pub const MAX_PATH_BYTES: usize = 1024;
/// The most folders a path goes down.
pub const MAX_DEPTH: usize = 32;
/// The most files in one batch, either way.
pub const MAX_FILES: usize = 1000;
/// The most bytes one file sent to the class may have.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024 * 1024;
/// The most bytes collected from one device unless the teacher allows more.
pub const DEFAULT_COLLECT_BYTES: u64 = 1024 * 1024 * 1024;

/// A BLAKE3 hash.
pub type Hash = [u8; 32];

/// A relative path a peer named, checked: `/`-separated names, each one a
/// name every file system of the class can hold as itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FilePath(String);

/// A name refused, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the name '{}' is refused: {problem}", shown(.name))]
pub struct NameError {
    /// The name or path as given.
    pub name: String,
    /// What is wrong with it.
    pub problem: NameProblem,
}

/// What makes a name hostile or impossible.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    /// No name at all, or an empty part between two slashes.
    #[error("it is empty")]
    Empty,
    /// `.` or `..`: a path that points back up, out of the folder.
    #[error("'{0}' would leave the folder")]
    Dots(String),
    /// Starts at the root of a drive or a server.
    #[error("it is an absolute path")]
    Absolute,
    /// A drive letter (`C:`).
    #[error("it names a drive")]
    Drive,
    /// A backslash: on Windows a folder separator.
    #[error("it contains a backslash")]
    Backslash,
    /// A colon after the first letter: an alternate data stream on NTFS.
    #[error("it contains a colon (an alternate data stream on Windows)")]
    Colon,
    /// A name Windows keeps for a device (`CON`, `nul.txt`, `COM1`).
    #[error("'{0}' is a device name on Windows")]
    Reserved(String),
    /// A name ending in a dot or a space, which Windows drops.
    #[error("a name ends in a dot or a space")]
    TrailingDotOrSpace,
    /// A control character (a line break, an escape).
    #[error("it contains the control character U+{0:04X}")]
    Control(u32),
    /// A character no Windows file name may contain.
    #[error("it contains '{0}', which Windows file names cannot hold")]
    Forbidden(char),
    /// One name is longer than file systems hold.
    #[error("a name has {0} bytes; at most 255 are allowed")]
    NameTooLong(usize),
    /// The whole path is too long.
    #[error("the path has {0} bytes; at most 1024 are allowed")]
    PathTooLong(usize),
    /// Too many folders deep.
    #[error("the path goes {0} folders deep; at most 32 are allowed")]
    TooDeep(usize),
    /// Another file of the batch has the same name but for case or Unicode
    /// normalisation, which Windows and macOS file systems take as one.
    #[error("it is the same name as '{}' on Windows and macOS (case or Unicode form)", shown(.0))]
    SameAs(String),
    /// Another file of the batch is a folder of this name, or this path
    /// goes through a file of the batch.
    #[error("it is both a file and a folder in this batch ('{}')", shown(.0))]
    FileAndFolder(String),
}

/// A name as it may be shown: control characters escaped, long ones cut.
fn shown(name: &str) -> String {
    let mut text: String = name.chars().take(80).flat_map(char::escape_debug).collect();
    if name.chars().count() > 80 {
        text.push('…');
    }
    text
}

/// The names Windows keeps for devices, with or without an extension.
const RESERVED: [&str; 6] = ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"];

impl FilePath {
    /// Checks `text`, a relative path with `/` between names.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let refuse = |problem| NameError {
            name: text.to_owned(),
            problem,
        };
        if text.is_empty() {
            return Err(refuse(NameProblem::Empty));
        }
        if text.starts_with('/') || text.starts_with("\\\\") {
            return Err(refuse(NameProblem::Absolute));
        }
        if text.len() > MAX_PATH_BYTES {
            return Err(refuse(NameProblem::PathTooLong(text.len())));
        }
        let depth = text.split('/').count();
        if depth > MAX_DEPTH {
            return Err(refuse(NameProblem::TooDeep(depth)));
        }
        for name in text.split('/') {
            check_name(name).map_err(refuse)?;
        }
        Ok(Self(text.to_owned()))
    }

    /// Builds a path from names found on disk, each checked.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, NameError> {
        Self::parse(&names.into_iter().collect::<Vec<_>>().join("/"))
    }

    /// The path, names separated by `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The names from the top folder down to the file.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The file's own name, the last one.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The key under which Windows and macOS file systems take two names as
    /// one: Unicode NFC, then lower case.
    pub fn fold_key(&self) -> String {
        fold(&self.0)
    }
}

impl fmt::Display for FilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn fold(text: &str) -> String {
    icu_normalizer::ComposingNormalizerBorrowed::new_nfc()
        .normalize(text)
        .to_lowercase()
}

/// Checks one name of a path (no slashes in it).
fn check_name(name: &str) -> Result<(), NameProblem> {
    if name.is_empty() {
        return Err(NameProblem::Empty);
    }
    if name == "." || name == ".." {
        return Err(NameProblem::Dots(name.to_owned()));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(NameProblem::Control(u32::from(c)));
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(NameProblem::Drive);
    }
    if name.contains('\\') {
        return Err(NameProblem::Backslash);
    }
    if name.contains(':') {
        return Err(NameProblem::Colon);
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '<' | '>' | '"' | '|' | '?' | '*'))
    {
        return Err(NameProblem::Forbidden(c));
    }
    if name.ends_with('.') || name.ends_with(' ') {
        return Err(NameProblem::TrailingDotOrSpace);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameProblem::NameTooLong(name.len()));
    }
    // Windows takes "nul.txt" and "nul .txt" for the device too.
    let stem = name
        .split('.')
        .next()
        .unwrap_or(name)
        .trim_end_matches(' ')
        .to_ascii_uppercase();
    let numbered = |prefix: &str| {
        stem.strip_prefix(prefix).is_some_and(|n| {
            matches!(
                n,
                "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "¹" | "²" | "³"
            )
        })
    };
    if RESERVED.contains(&stem.as_str()) || numbered("COM") || numbered("LPT") {
        return Err(NameProblem::Reserved(name.to_owned()));
    }
    Ok(())
}

/// Checks that the paths of one batch name distinct files on every file
/// system: none the same as another but for case or Unicode form, none a
/// file and a folder at once. The first path that clashes is refused.
pub fn check_distinct<'a>(paths: impl IntoIterator<Item = &'a FilePath>) -> Result<(), NameError> {
    let mut names = DistinctNames::default();
    paths.into_iter().try_for_each(|path| names.add(path))
}

/// The paths of a batch so far, to refuse one that clashes with them
/// ([`check_distinct`], one path at a time).
#[derive(Default)]
pub struct DistinctNames {
    files: HashMap<String, String>,
    folders: HashMap<String, String>,
}

impl DistinctNames {
    /// Adds `path`, or says which earlier path it clashes with (and leaves
    /// it out).
    pub fn add(&mut self, path: &FilePath) -> Result<(), NameError> {
        let key = path.fold_key();
        let clash = |problem| NameError {
            name: path.as_str().to_owned(),
            problem,
        };
        if let Some(other) = self.files.get(&key) {
            return Err(clash(NameProblem::SameAs(other.clone())));
        }
        if let Some(other) = self.folders.get(&key) {
            return Err(clash(NameProblem::FileAndFolder(other.clone())));
        }
        let folders: Vec<&str> = key.split('/').collect();
        let folders = folders.split_last().map_or(&[][..], |(_, up)| up);
        let mut prefix = String::new();
        let mut keys = Vec::new();
        for name in folders {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(name);
            if let Some(other) = self.files.get(&prefix) {
                return Err(clash(NameProblem::FileAndFolder(other.clone())));
            }
            keys.push(prefix.clone());
        }
        for folder in keys {
            self.folders
                .entry(folder)
                .or_insert_with(|| path.as_str().to_owned());
        }
        self.files.insert(key, path.as_str().to_owned());
        Ok(())
    }
}

/// One file the console offers to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOffer {
    /// Where it goes, below the receive folder (checked by [`FilePath::parse`]).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its BLAKE3 hash, checked before it gets its real name.
    pub hash: Hash,
}

/// One file of a student's hand-in folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Where it is, below the hand-in folder.
    pub path: String,
    /// Its size in bytes when listed.
    pub size: u64,
}

/// Console to agent, first on a batch stream: the files of the batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileList {
    /// At most [`MAX_FILES`].
    pub files: Vec<FileOffer>,
}

impl WireMessage for FileList {
    const KIND: FrameKind = FrameKind::FileList;
}

/// Whether one offered file may be sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileVerdict {
    /// Send it.
    Ready,
    /// A file of that name is there and the batch does not overwrite.
    Exists,
    /// Not this file: its name, or a folder in its way.
    Refused(ErrorReply),
}

/// Agent to console on a batch stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilesNews {
    /// The answer to a [`FileList`]: the batch's number for
    /// [`crate::message::Request::FileData`], the folder the files go to as
    /// the student sees it, and a verdict per file in the list's order.
    Ready {
        /// The batch, for this connection only.
        batch: u64,
        /// The receive folder, for people.
        folder: String,
        /// One per offered file.
        verdicts: Vec<FileVerdict>,
    },
    /// The batch is over and the student was told: how many files arrived.
    Finished {
        /// Files in place under their real names.
        stored: u32,
    },
    /// The answer to a collect request: the hand-in folder and its files,
    /// at most [`MAX_FILES`]; the batch's number for
    /// [`crate::message::Request::FetchFile`].
    Listing {
        /// The batch, for this connection only.
        batch: u64,
        /// The hand-in folder, for people.
        folder: String,
        /// Its files.
        files: Vec<FileEntry>,
        /// Files left out: more than [`MAX_FILES`], or names refused.
        skipped: u32,
    },
}

impl WireMessage for FilesNews {
    const KIND: FrameKind = FrameKind::FilesNews;
}

/// Whether `name` matches the glob `pattern`: `*` any run of characters,
/// `?` one character, everything else itself, case-insensitively (as
/// teachers type "*.PDF" for "arbeit.pdf").
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = fold(pattern).chars().collect();
    let name: Vec<char> = fold(name).chars().collect();
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == '?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> NameProblem {
        FilePath::parse(text).unwrap_err().problem
    }

    #[test]
    fn ordinary_names_and_folders_pass() {
        for text in [
            "Arbeitsblatt 3.pdf",
            "Übung/Teil 1/Lösung.odt",
            ".hidden",
            "a..b",
            "com10.txt",
            "console.log",
            "nullable.txt",
            "ä".repeat(127).as_str(),
        ] {
            let path = FilePath::parse(text).unwrap();
            assert_eq!(path.as_str(), text);
        }
        let path = FilePath::parse("Übung/Teil 1/Lösung.odt").unwrap();
        assert_eq!(path.file_name(), "Lösung.odt");
        assert_eq!(path.names().count(), 3);
    }

    #[test]
    fn every_hostile_name_is_refused_with_its_reason() {
        assert_eq!(problem(""), NameProblem::Empty);
        assert_eq!(problem("a//b"), NameProblem::Empty);
        assert_eq!(problem("a/"), NameProblem::Empty);
        assert_eq!(problem("../x"), NameProblem::Dots("..".into()));
        assert_eq!(problem("a/../../x"), NameProblem::Dots("..".into()));
        assert_eq!(problem("./x"), NameProblem::Dots(".".into()));
        assert_eq!(problem("/etc/passwd"), NameProblem::Absolute);
        assert_eq!(problem("\\\\server\\share"), NameProblem::Absolute);
        assert_eq!(problem("C:\\Windows"), NameProblem::Drive);
        assert_eq!(problem("c:x"), NameProblem::Drive);
        assert_eq!(problem("..\\x"), NameProblem::Backslash);
        assert_eq!(problem("a.txt:b"), NameProblem::Colon);
        assert_eq!(problem("a.txt::$DATA"), NameProblem::Colon);
        for reserved in [
            "CON",
            "nul.txt",
            "Com1",
            "lpt9.tar.gz",
            "aux ",
            "NUL .txt",
            "COM¹",
        ] {
            assert!(
                matches!(
                    problem(reserved),
                    NameProblem::Reserved(_) | NameProblem::TrailingDotOrSpace
                ),
                "{reserved}"
            );
        }
        assert_eq!(problem("nul.txt"), NameProblem::Reserved("nul.txt".into()));
        assert_eq!(problem("a/conin$"), NameProblem::Reserved("conin$".into()));
        assert_eq!(problem("bericht."), NameProblem::TrailingDotOrSpace);
        assert_eq!(problem("bericht "), NameProblem::TrailingDotOrSpace);
        assert_eq!(problem("a\nb"), NameProblem::Control(0x0a));
        assert_eq!(problem("a\u{7f}"), NameProblem::Control(0x7f));
        assert_eq!(problem("a\u{1b}[2J"), NameProblem::Control(0x1b));
        assert_eq!(problem("wer?.txt"), NameProblem::Forbidden('?'));
        assert_eq!(problem("a|b"), NameProblem::Forbidden('|'));
        assert_eq!(problem(&"x".repeat(256)), NameProblem::NameTooLong(256));
        assert_eq!(problem(&"ä".repeat(128)), NameProblem::NameTooLong(256));
        assert!(FilePath::parse(&"x".repeat(255)).is_ok());
        let long = vec!["x".repeat(200); 6].join("/");
        assert_eq!(problem(&long), NameProblem::PathTooLong(long.len()));
        let deep = vec!["d"; 33].join("/");
        assert_eq!(problem(&deep), NameProblem::TooDeep(33));
    }

    #[test]
    fn the_reason_names_the_name_with_its_control_characters_shown() {
        let error = FilePath::parse("evil\u{1b}]0;x\u{7}.txt").unwrap_err();
        let text = error.to_string();
        assert!(text.contains("evil\\u{1b}]0;x\\u{7}.txt"), "{text}");
        assert!(!text.chars().any(char::is_control), "{text}");
        assert!(text.contains("control character U+001B"), "{text}");
    }

    #[test]
    fn names_the_same_but_for_case_or_unicode_form_are_one() {
        let paths = |texts: &[&str]| -> Vec<FilePath> {
            texts.iter().map(|t| FilePath::parse(t).unwrap()).collect()
        };
        assert!(check_distinct(&paths(&["a.txt", "b.txt", "d/a.txt", "d/e/a.txt"])).is_ok());
        let error = check_distinct(&paths(&["Bericht.PDF", "x", "bericht.pdf"])).unwrap_err();
        assert_eq!(error.name, "bericht.pdf");
        assert_eq!(error.problem, NameProblem::SameAs("Bericht.PDF".into()));
        // "Lösung" composed (U+00F6) and decomposed (o + U+0308).
        let error = check_distinct(&paths(&["L\u{f6}sung.txt", "Lo\u{308}sung.txt"])).unwrap_err();
        assert!(matches!(error.problem, NameProblem::SameAs(_)));
        let error = check_distinct(&paths(&["Mappe", "mappe/a.txt"])).unwrap_err();
        assert_eq!(error.problem, NameProblem::FileAndFolder("Mappe".into()));
        let error = check_distinct(&paths(&["mappe/a.txt", "MAPPE"])).unwrap_err();
        assert_eq!(
            error.problem,
            NameProblem::FileAndFolder("mappe/a.txt".into())
        );
    }

    #[test]
    fn globs_match_names_case_insensitively() {
        assert!(glob_matches("*.pdf", "Arbeit.PDF"));
        assert!(glob_matches("*", "x"));
        assert!(glob_matches("a?c*", "abcdef"));
        assert!(glob_matches("*blatt*3*", "Arbeitsblatt 3 neu.odt"));
        assert!(!glob_matches("*.pdf", "arbeit.pdf.exe"));
        assert!(!glob_matches("a?c", "ac"));
        assert!(glob_matches("", ""));
        assert!(!glob_matches("", "a"));
    }
}
