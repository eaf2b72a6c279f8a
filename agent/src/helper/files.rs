//! Files on the student's disk (R6), written and read *as the student*:
//! this runs in a process of the student's own (`pult-agent file-worker`,
//! started by the helper) or, where the helper is the student already
//! (the demo classroom, a single-process agent), inside the helper.
//!
//! A file sent to the class is written under a hidden temporary name in
//! its folder, its size and BLAKE3 hash checked, and only then given its
//! real name: a reader never sees half a file, a full disk or an
//! interrupted transfer leaves nothing behind. Without "overwrite" the
//! real name is taken with a hard link, which fails if a file of that
//! name appeared meanwhile, so an existing file is never replaced.

use std::collections::HashMap;
use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use pult_protocol::files::{
    DistinctNames, FileEntry, FileOffer, FilePath, FileVerdict, MAX_FILE_BYTES, MAX_FILES,
    glob_matches,
};
use pult_protocol::local::{FromHelper, ToHelper};
use pult_protocol::message::{ErrorCode, ErrorReply};

use crate::notice_text::Language;

/// Where files go and come from, as an admin set it; relative paths are
/// below the student's home folder. Unset: the receive folder is
/// "Von der Lehrkraft" (German desktops) or "From the teacher" on the
/// student's desktop, in the desktop's own (localised) folder, and the
/// hand-in folder is "Abgabe" or "Hand-in" beside it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Folders {
    /// The receive folder.
    pub receive: Option<PathBuf>,
    /// The hand-in folder.
    pub hand_in: Option<PathBuf>,
}

impl Folders {
    /// The arguments that pass these folders on to another process.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (flag, folder) in [
            ("--receive-folder", &self.receive),
            ("--hand-in-folder", &self.hand_in),
        ] {
            if let Some(folder) = folder {
                args.push(flag.to_owned());
                args.push(folder.display().to_string());
            }
        }
        args
    }
}

/// How old a temporary file left by a worker that died may be before the
/// next batch in the receive folder removes it.
const STALE_PART: Duration = Duration::from_secs(3600);

/// How many directory entries a listing or a sweep looks at before it
/// stops: a folder with a program's hundred thousand files in it is gone
/// through in moments, not minutes.
const MAX_VISITED: usize = 20 * MAX_FILES;

/// The batches of one student session.
pub struct FileWork {
    folders: Folders,
    language: Language,
    home: Option<PathBuf>,
    desktop: Option<PathBuf>,
    batches: HashMap<u64, Batch>,
}

enum Batch {
    Send(Vec<Incoming>),
    Collect(Vec<PathBuf>),
}

/// One file offered: where it goes, if it may, and what arrived of it.
struct Incoming {
    offer: FileOffer,
    target: Option<PathBuf>,
    overwrite: bool,
    part: Option<Part>,
}

/// A file being written under its temporary name; removed when dropped
/// unless it got its real name.
struct Part {
    path: PathBuf,
    file: Option<File>,
    hasher: blake3::Hasher,
    written: u64,
    placed: bool,
}

impl Drop for Part {
    fn drop(&mut self) {
        drop(self.file.take());
        if !self.placed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl FileWork {
    /// The file work of the session this process runs in (its HOME, its
    /// desktop folder, its language).
    pub fn new(folders: Folders) -> Self {
        let language = Language::from_environment(|name| std::env::var(name).ok());
        Self::in_places(folders, language, dirs::home_dir(), dirs::desktop_dir())
    }

    /// The file work of a session whose language, home and desktop folder
    /// are asked of the system by the caller.
    pub fn in_places(
        folders: Folders,
        language: Language,
        home: Option<PathBuf>,
        desktop: Option<PathBuf>,
    ) -> Self {
        Self {
            folders,
            language,
            home,
            desktop,
            batches: HashMap::new(),
        }
    }

    /// Answers one file request of the helper.
    pub fn handle(&mut self, request: ToHelper) -> FromHelper {
        let answer = match request {
            ToHelper::FilesBegin {
                batch,
                files,
                overwrite,
            } => self.begin(batch, files, overwrite),
            ToHelper::FileChunk { batch, index, data } => self
                .incoming(batch, index)
                .and_then(|file| file.write(&data))
                .map(|()| FromHelper::Done),
            ToHelper::FileEnd { batch, index } => self
                .incoming(batch, index)
                .and_then(Incoming::place)
                .map(|()| FromHelper::Done),
            ToHelper::FileAbort { batch, index } => {
                if let Ok(file) = self.incoming(batch, index) {
                    file.part = None;
                }
                Ok(FromHelper::Done)
            }
            ToHelper::FilesEnd { batch, .. } => {
                self.batches.remove(&batch);
                Ok(FromHelper::Done)
            }
            ToHelper::CollectBegin {
                batch,
                folder,
                pattern,
            } => self.list(batch, folder.as_deref(), pattern.as_deref()),
            ToHelper::FileRead {
                batch,
                index,
                offset,
                len,
            } => self.read(batch, index, offset, len),
            other => Err(ErrorReply::new(
                ErrorCode::Internal,
                format!("not a file request: {other:?}"),
            )),
        };
        answer.unwrap_or_else(FromHelper::Error)
    }

    /// The receive folder: the admin's, or "Von der Lehrkraft" on the desktop.
    pub fn receive_folder(&self) -> Result<PathBuf, ErrorReply> {
        let name = match self.language {
            Language::German => "Von der Lehrkraft",
            Language::English => "From the teacher",
        };
        self.folder(self.folders.receive.as_deref(), name)
    }

    /// The hand-in folder: the admin's, or "Abgabe" beside the receive folder.
    pub fn hand_in_folder(&self) -> Result<PathBuf, ErrorReply> {
        let name = match self.language {
            Language::German => "Abgabe",
            Language::English => "Hand-in",
        };
        self.folder(self.folders.hand_in.as_deref(), name)
    }

    fn folder(&self, configured: Option<&Path>, default: &str) -> Result<PathBuf, ErrorReply> {
        let no_home = || {
            ErrorReply::new(
                ErrorCode::FileFailed,
                "the student's session has no home folder",
            )
        };
        match configured {
            Some(folder) if folder.is_absolute() => Ok(folder.to_owned()),
            Some(folder) => Ok(self.home.as_ref().ok_or_else(no_home)?.join(folder)),
            None => match (&self.desktop, &self.home) {
                (Some(desktop), _) => Ok(desktop.join(default)),
                (None, Some(home)) => Ok(home.join("Desktop").join(default)),
                (None, None) => Err(no_home()),
            },
        }
    }

    fn begin(
        &mut self,
        batch: u64,
        files: Vec<FileOffer>,
        overwrite: bool,
    ) -> Result<FromHelper, ErrorReply> {
        let folder = self.receive_folder()?;
        sweep_stale_parts(&folder);
        let mut names = DistinctNames::default();
        let mut verdicts = Vec::with_capacity(files.len());
        let mut incoming = Vec::with_capacity(files.len());
        for offer in files {
            let (verdict, target) = match check_offer(&folder, &offer, overwrite, &mut names) {
                Ok(target) => (FileVerdict::Ready, Some(target)),
                Err(error) if error.code == ErrorCode::FileExists => (FileVerdict::Exists, None),
                Err(error) => (FileVerdict::Refused(error), None),
            };
            verdicts.push(verdict);
            incoming.push(Incoming {
                offer,
                target,
                overwrite,
                part: None,
            });
        }
        self.batches.insert(batch, Batch::Send(incoming));
        Ok(FromHelper::FilesReady {
            folder: folder.display().to_string(),
            verdicts,
        })
    }

    fn incoming(&mut self, batch: u64, index: u32) -> Result<&mut Incoming, ErrorReply> {
        let file = match self.batches.get_mut(&batch) {
            Some(Batch::Send(files)) => files.get_mut(index as usize),
            _ => None,
        };
        match file {
            Some(file) if file.target.is_some() => Ok(file),
            _ => Err(ErrorReply::new(
                ErrorCode::UnexpectedMessage,
                format!("batch {batch} has no file {index} to receive"),
            )),
        }
    }

    fn list(
        &mut self,
        batch: u64,
        folder: Option<&str>,
        pattern: Option<&str>,
    ) -> Result<FromHelper, ErrorReply> {
        let hand_in = self.hand_in_folder()?;
        let root = match folder {
            None => hand_in,
            Some(folder) => {
                // One visible folder beside the hand-in folder: never a
                // way into the rest of the home folder (.ssh, a browser's
                // profile) when the hand-in folder's parent is home itself.
                let folder = FilePath::parse(folder)
                    .map_err(|e| ErrorReply::new(ErrorCode::NameRefused, e.to_string()))?;
                let name = folder.file_name();
                if folder.names().count() != 1 || name.starts_with('.') {
                    return Err(ErrorReply::new(
                        ErrorCode::NameRefused,
                        format!(
                            "'{name}' is refused: only a folder right beside the hand-in folder, not hidden, is collected"
                        ),
                    ));
                }
                hand_in.parent().unwrap_or(&hand_in).join(name)
            }
        };
        let mut found = Found {
            root: &root,
            pattern,
            files: Vec::new(),
            skipped: 0,
            budget: MAX_VISITED,
        };
        if root.is_dir() {
            found.walk(&root, 1);
        }
        let Found {
            files: mut found,
            mut skipped,
            ..
        } = found;
        // The first by name, whatever order the file system gave.
        found.sort_by(|a, b| a.0.cmp(&b.0));
        if found.len() > MAX_FILES {
            let more = found.len() - MAX_FILES;
            found.truncate(MAX_FILES);
            skipped = skipped.saturating_add(u32::try_from(more).unwrap_or(u32::MAX));
        }
        let (files, paths): (Vec<FileEntry>, Vec<PathBuf>) = found
            .into_iter()
            .map(|(path, size, full)| {
                (
                    FileEntry {
                        path: path.as_str().to_owned(),
                        size,
                    },
                    full,
                )
            })
            .unzip();
        self.batches.insert(batch, Batch::Collect(paths));
        Ok(FromHelper::Listing {
            folder: root.display().to_string(),
            files,
            skipped,
        })
    }

    fn read(
        &mut self,
        batch: u64,
        index: u32,
        offset: u64,
        len: u32,
    ) -> Result<FromHelper, ErrorReply> {
        let Some(Batch::Collect(paths)) = self.batches.get(&batch) else {
            return Err(ErrorReply::new(
                ErrorCode::UnexpectedMessage,
                format!("no collect batch {batch}"),
            ));
        };
        let path = paths.get(index as usize).ok_or_else(|| {
            ErrorReply::new(
                ErrorCode::UnexpectedMessage,
                format!("batch {batch} lists no file {index}"),
            )
        })?;
        let failed = |error: std::io::Error| {
            ErrorReply::new(
                ErrorCode::FileFailed,
                format!("{} could not be read: {error}", path.display()),
            )
        };
        // As the student: a link the student put there leads only to what
        // they may read themselves.
        let mut file = File::open(path).map_err(failed)?;
        file.seek(SeekFrom::Start(offset)).map_err(failed)?;
        let mut data = Vec::with_capacity(len as usize);
        file.take(u64::from(len))
            .read_to_end(&mut data)
            .map_err(failed)?;
        Ok(FromHelper::FileBytes(data))
    }
}

/// Where `offer` goes below `folder`, if it may be written there.
fn check_offer(
    folder: &Path,
    offer: &FileOffer,
    overwrite: bool,
    names: &mut DistinctNames,
) -> Result<PathBuf, ErrorReply> {
    let refused = |message: String| ErrorReply::new(ErrorCode::NameRefused, message);
    let path = FilePath::parse(&offer.path).map_err(|e| refused(e.to_string()))?;
    names.add(&path).map_err(|e| refused(e.to_string()))?;
    if offer.size > MAX_FILE_BYTES {
        return Err(ErrorReply::new(
            ErrorCode::TooLarge,
            format!(
                "{} has {} bytes; at most 16 GiB are received",
                path, offer.size
            ),
        ));
    }
    let target = path.names().fold(folder.to_owned(), |p, name| p.join(name));
    // A file where a folder of the path should be is no place to write.
    let mut up = folder.to_owned();
    for name in path.names().take(path.names().count() - 1) {
        up.push(name);
        match std::fs::symlink_metadata(&up) {
            Ok(meta) if !meta.is_dir() && !meta.file_type().is_symlink() => {
                return Err(ErrorReply::new(
                    ErrorCode::FileFailed,
                    format!("{} is a file, not a folder", up.display()),
                ));
            }
            _ => {}
        }
    }
    match std::fs::symlink_metadata(&target) {
        Ok(meta) if meta.is_dir() => Err(ErrorReply::new(
            ErrorCode::FileFailed,
            format!("{} is a folder", target.display()),
        )),
        Ok(_) if !overwrite => Err(ErrorReply::new(
            ErrorCode::FileExists,
            format!("{} exists", target.display()),
        )),
        _ => Ok(target),
    }
}

impl Incoming {
    fn target(&self) -> &Path {
        self.target.as_deref().unwrap_or(Path::new(""))
    }

    /// Appends `data`, opening the temporary file first if need be.
    fn write(&mut self, data: &[u8]) -> Result<(), ErrorReply> {
        let size = self.offer.size;
        let target = self.target().display().to_string();
        let part = self.open()?;
        let written = if part.written + data.len() as u64 > size {
            Err(ErrorReply::new(
                ErrorCode::FileFailed,
                format!("more bytes came than the {size} offered"),
            ))
        } else {
            part.file
                .as_mut()
                .map_or(Ok(()), |file| file.write_all(data))
                .map_err(|error| write_failed(&target, &error))
        };
        match written {
            Ok(()) => {
                part.hasher.update(data);
                part.written += data.len() as u64;
                Ok(())
            }
            Err(error) => {
                // A full disk keeps nothing of the file.
                self.part = None;
                Err(error)
            }
        }
    }

    /// The temporary file, made on first use in the target's folder.
    fn open(&mut self) -> Result<&mut Part, ErrorReply> {
        if self.part.is_none() {
            let target = self.target().to_owned();
            let folder = target.parent().unwrap_or(Path::new("."));
            let failed =
                |error: std::io::Error| write_failed(&target.display().to_string(), &error);
            std::fs::create_dir_all(folder).map_err(failed)?;
            let path = folder.join(part_name());
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(failed)?;
            self.part = Some(Part {
                path,
                file: Some(file),
                hasher: blake3::Hasher::new(),
                written: 0,
                placed: false,
            });
        }
        self.part
            .as_mut()
            .ok_or_else(|| ErrorReply::new(ErrorCode::Internal, "the temporary file went missing"))
    }

    /// Checks size and hash, then gives the file its real name.
    fn place(&mut self) -> Result<(), ErrorReply> {
        let (size, hash) = (self.offer.size, self.offer.hash);
        let target = self.target().to_owned();
        let overwrite = self.overwrite;
        let part = self.open()?;
        if part.written != size {
            let written = part.written;
            self.part = None;
            return Err(ErrorReply::new(
                ErrorCode::FileFailed,
                format!("{written} bytes arrived of the {size} offered"),
            ));
        }
        if *part.hasher.finalize().as_bytes() != hash {
            self.part = None;
            return Err(ErrorReply::new(
                ErrorCode::FileFailed,
                "the file arrived other than it was sent (its BLAKE3 hash differs)",
            ));
        }
        // Closed before it is renamed (Windows renames no open file).
        if let Some(file) = part.file.take() {
            let flushed = file.sync_data();
            drop(file);
            if let Err(error) = flushed {
                self.part = None;
                return Err(write_failed(&target.display().to_string(), &error));
            }
        }
        let placed = if overwrite {
            std::fs::rename(&part.path, &target)
        } else {
            take_name(&part.path, &target)
        };
        match placed {
            Ok(()) => {
                if !overwrite {
                    // The real name has the file now; the link's other name goes.
                    let _ = std::fs::remove_file(&part.path);
                }
                part.placed = true;
                Ok(())
            }
            Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                self.part = None;
                Err(ErrorReply::new(
                    ErrorCode::FileExists,
                    format!("{} exists", target.display()),
                ))
            }
            Err(error) => {
                self.part = None;
                Err(write_failed(&target.display().to_string(), &error))
            }
        }
    }
}

/// Gives `part` the name `target` only if no file has it: a hard link,
/// which fails when the name is taken; where the file system has no hard
/// links, a rename after a look.
fn take_name(part: &Path, target: &Path) -> std::io::Result<()> {
    match std::fs::hard_link(part, target) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == ErrorKind::AlreadyExists => Err(error),
        Err(_) if std::fs::symlink_metadata(target).is_ok() => {
            Err(std::io::Error::from(ErrorKind::AlreadyExists))
        }
        Err(_) => std::fs::rename(part, target),
    }
}

fn write_failed(target: &str, error: &std::io::Error) -> ErrorReply {
    match error.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => ErrorReply::new(
            ErrorCode::DiskFull,
            format!("the disk is full: {target} could not be written"),
        ),
        _ => ErrorReply::new(
            ErrorCode::FileFailed,
            format!("{target} could not be written: {error}"),
        ),
    }
}

/// A hidden temporary name no other transfer uses.
fn part_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        ".pult-{}-{}-{nanos}.part",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes temporary files a worker that died left in `folder` and the
/// folders below it (a file of a sent folder is written beside its name).
fn sweep_stale_parts(folder: &Path) {
    let mut budget = MAX_VISITED;
    sweep(folder, 1, &mut budget);
}

fn sweep(folder: &Path, depth: usize, budget: &mut usize) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        // Not following links: only what is really below the folder.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if depth < pult_protocol::files::MAX_DEPTH {
                sweep(&entry.path(), depth + 1, budget);
            }
            continue;
        }
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(kind.is_file() && name.starts_with(".pult-") && name.ends_with(".part")) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_PART);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// What a listing found: the files (cut to [`MAX_FILES`] by name
/// afterwards), and how many it left out (names unfit to travel, too deep,
/// or beyond [`MAX_VISITED`] entries, where it stops counting).
struct Found<'a> {
    root: &'a Path,
    pattern: Option<&'a str>,
    files: Vec<(FilePath, u64, PathBuf)>,
    skipped: u32,
    budget: usize,
}

impl Found<'_> {
    /// Collects the regular files below `folder` whose names match the
    /// pattern, without following links.
    fn walk(&mut self, folder: &Path, depth: usize) {
        if depth > pult_protocol::files::MAX_DEPTH {
            self.skipped += 1;
            return;
        }
        let Ok(entries) = std::fs::read_dir(folder) else {
            return;
        };
        for entry in entries.flatten() {
            if self.budget == 0 {
                self.skipped = self.skipped.saturating_add(1);
                return;
            }
            self.budget -= 1;
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let full = entry.path();
            if kind.is_dir() {
                self.walk(&full, depth + 1);
                continue;
            }
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !kind.is_file() || name.starts_with(".pult-") {
                continue;
            }
            if self.pattern.is_some_and(|p| !glob_matches(p, &name)) {
                continue;
            }
            let relative = full.strip_prefix(self.root).ok().and_then(|r| {
                let names: Option<Vec<&str>> = r.iter().map(|n| n.to_str()).collect();
                FilePath::from_names(names?).ok()
            });
            match (relative, entry.metadata()) {
                (Some(path), Ok(meta)) => {
                    self.files.push((path, meta.len(), full));
                }
                _ => self.skipped = self.skipped.saturating_add(1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(dir: &Path) -> FileWork {
        FileWork::new(Folders {
            receive: Some(dir.join("in")),
            hand_in: Some(dir.join("out")),
        })
    }

    fn offer(path: &str, bytes: &[u8]) -> FileOffer {
        FileOffer {
            path: path.into(),
            size: bytes.len() as u64,
            hash: *blake3::hash(bytes).as_bytes(),
        }
    }

    fn begin(
        work: &mut FileWork,
        batch: u64,
        files: Vec<FileOffer>,
        overwrite: bool,
    ) -> Vec<FileVerdict> {
        match work.handle(ToHelper::FilesBegin {
            batch,
            files,
            overwrite,
        }) {
            FromHelper::FilesReady { verdicts, .. } => verdicts,
            other => panic!("{other:?}"),
        }
    }

    fn send(work: &mut FileWork, batch: u64, index: u32, bytes: &[u8]) -> FromHelper {
        for chunk in bytes.chunks(3) {
            let data = chunk.to_vec();
            if let FromHelper::Error(error) =
                work.handle(ToHelper::FileChunk { batch, index, data })
            {
                return FromHelper::Error(error);
            }
        }
        work.handle(ToHelper::FileEnd { batch, index })
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn r6_a_file_arrives_whole_under_its_name_and_an_existing_one_stays_without_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let mut work = work(dir.path());
        let files = vec![
            offer("Blatt.txt", b"erste Fassung"),
            offer("Mappe/a.txt", b""),
        ];
        assert_eq!(
            begin(&mut work, 1, files, false),
            [FileVerdict::Ready, FileVerdict::Ready]
        );
        assert_eq!(send(&mut work, 1, 0, b"erste Fassung"), FromHelper::Done);
        assert_eq!(send(&mut work, 1, 1, b""), FromHelper::Done);
        let folder = dir.path().join("in");
        assert_eq!(
            std::fs::read(folder.join("Blatt.txt")).unwrap(),
            b"erste Fassung"
        );
        assert_eq!(std::fs::read(folder.join("Mappe/a.txt")).unwrap(), b"");
        assert_eq!(names(&folder), ["Blatt.txt", "Mappe"]);

        // Without overwrite: "exists", and the file is left as it is.
        let verdicts = begin(&mut work, 2, vec![offer("Blatt.txt", b"zweite")], false);
        assert_eq!(verdicts, [FileVerdict::Exists]);
        assert!(matches!(
            send(&mut work, 2, 0, b"zweite"),
            FromHelper::Error(ErrorReply {
                code: ErrorCode::UnexpectedMessage,
                ..
            })
        ));
        // A file of that name that appears while it travels is not replaced either.
        std::fs::remove_file(folder.join("Blatt.txt")).unwrap();
        let verdicts = begin(&mut work, 3, vec![offer("Blatt.txt", b"dritte")], false);
        assert_eq!(verdicts, [FileVerdict::Ready]);
        std::fs::write(folder.join("Blatt.txt"), b"der Schuelerin").unwrap();
        assert!(matches!(
            send(&mut work, 3, 0, b"dritte"),
            FromHelper::Error(ErrorReply {
                code: ErrorCode::FileExists,
                ..
            })
        ));
        assert_eq!(
            std::fs::read(folder.join("Blatt.txt")).unwrap(),
            b"der Schuelerin"
        );
        // With overwrite it is replaced.
        let verdicts = begin(&mut work, 4, vec![offer("Blatt.txt", b"vierte")], true);
        assert_eq!(verdicts, [FileVerdict::Ready]);
        assert_eq!(send(&mut work, 4, 0, b"vierte"), FromHelper::Done);
        assert_eq!(std::fs::read(folder.join("Blatt.txt")).unwrap(), b"vierte");
        assert_eq!(names(&folder), ["Blatt.txt", "Mappe"]);
    }

    #[test]
    fn r6_a_file_that_arrives_other_than_offered_or_broken_off_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut work = work(dir.path());
        let files = vec![
            offer("a.txt", b"Inhalt"),
            offer("b.txt", b"Inhalt"),
            offer("c.txt", b"abc"),
        ];
        begin(&mut work, 1, files, false);
        // Other bytes of the same length: the hash differs.
        assert!(matches!(
            send(&mut work, 1, 0, b"INHALT"),
            FromHelper::Error(ErrorReply {
                code: ErrorCode::FileFailed,
                ..
            })
        ));
        // Too many bytes.
        assert!(matches!(
            send(&mut work, 1, 1, b"Inhalt und mehr"),
            FromHelper::Error(ErrorReply {
                code: ErrorCode::FileFailed,
                ..
            })
        ));
        // Broken off half way, then aborted.
        work.handle(ToHelper::FileChunk {
            batch: 1,
            index: 2,
            data: b"a".to_vec(),
        });
        assert_eq!(names(&dir.path().join("in")).len(), 1, "the temporary file");
        work.handle(ToHelper::FileAbort { batch: 1, index: 2 });
        assert!(names(&dir.path().join("in")).is_empty());
        // A batch that ends with a file half written removes it too.
        begin(&mut work, 2, vec![offer("d.txt", b"abcdef")], false);
        work.handle(ToHelper::FileChunk {
            batch: 2,
            index: 0,
            data: b"abc".to_vec(),
        });
        work.handle(ToHelper::FilesEnd {
            batch: 2,
            tell: None,
        });
        assert!(names(&dir.path().join("in")).is_empty());
    }

    #[test]
    fn r6_hostile_names_are_refused_by_the_student_side_too() {
        let dir = tempfile::tempdir().unwrap();
        let mut work = work(dir.path());
        let files = vec![
            offer("../escape.txt", b"x"),
            offer("/etc/passwd", b"x"),
            offer("nul.txt", b"x"),
            offer("a.txt:stream", b"x"),
            offer("ok.txt", b"x"),
            offer("OK.TXT", b"x"),
        ];
        let verdicts = begin(&mut work, 1, files, true);
        for verdict in &verdicts[..4] {
            assert!(
                matches!(
                    verdict,
                    FileVerdict::Refused(ErrorReply {
                        code: ErrorCode::NameRefused,
                        ..
                    })
                ),
                "{verdict:?}"
            );
        }
        assert_eq!(verdicts[4], FileVerdict::Ready);
        assert!(
            matches!(&verdicts[5], FileVerdict::Refused(e) if e.message.contains("same name as 'ok.txt'"))
        );
        for index in [0, 1, 2, 3, 5] {
            assert!(matches!(
                send(&mut work, 1, index, b"x"),
                FromHelper::Error(_)
            ));
        }
        assert!(!dir.path().join("escape.txt").exists());
    }

    #[test]
    fn r6_collecting_lists_the_hand_in_folder_and_reads_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut work = work(dir.path());
        let out = dir.path().join("out");
        std::fs::create_dir_all(out.join("Projekt")).unwrap();
        std::fs::write(out.join("Aufsatz.odt"), b"Es war einmal").unwrap();
        std::fs::write(out.join("Projekt/Bild.PNG"), b"png").unwrap();
        std::fs::write(out.join("Projekt/nul.txt"), b"x").unwrap_or(());
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc/passwd", out.join("link.odt")).unwrap();
        let listing = work.handle(ToHelper::CollectBegin {
            batch: 7,
            folder: None,
            pattern: None,
        });
        let FromHelper::Listing { files, skipped, .. } = listing else {
            panic!("{listing:?}")
        };
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["Aufsatz.odt", "Projekt/Bild.PNG"]);
        assert_eq!(files[0].size, 13);
        // Windows writes "nul.txt" to its device: there is no such file there.
        #[cfg(unix)]
        assert_eq!(skipped, 1, "nul.txt cannot travel");
        #[cfg(not(unix))]
        let _ = skipped;
        let read = work.handle(ToHelper::FileRead {
            batch: 7,
            index: 0,
            offset: 3,
            len: 100,
        });
        assert_eq!(read, FromHelper::FileBytes(b"war einmal".to_vec()));
        let listing = work.handle(ToHelper::CollectBegin {
            batch: 8,
            folder: None,
            pattern: Some("*.png".into()),
        });
        let FromHelper::Listing { files, .. } = listing else {
            panic!()
        };
        assert_eq!(files.len(), 1);
        // Another folder: one visible folder beside the hand-in folder, no
        // deeper and nothing hidden (the parent may be the home folder).
        std::fs::create_dir_all(dir.path().join(".ssh")).unwrap();
        std::fs::write(dir.path().join(".ssh/id_ed25519"), b"secret").unwrap();
        std::fs::create_dir_all(dir.path().join("in/Mappe")).unwrap();
        std::fs::write(dir.path().join("in/Mappe/a.txt"), b"a").unwrap();
        for (batch, folder) in [(9, "../.."), (10, ".ssh"), (11, "in/Mappe")] {
            let refused = work.handle(ToHelper::CollectBegin {
                batch,
                folder: Some(folder.into()),
                pattern: None,
            });
            assert!(
                matches!(
                    refused,
                    FromHelper::Error(ErrorReply {
                        code: ErrorCode::NameRefused,
                        ..
                    })
                ),
                "{folder}: {refused:?}"
            );
        }
        let beside = work.handle(ToHelper::CollectBegin {
            batch: 12,
            folder: Some("in".into()),
            pattern: None,
        });
        let FromHelper::Listing { files, .. } = beside else {
            panic!("{beside:?}")
        };
        assert_eq!(files.len(), 1);
    }

    #[test]
    fn r6_an_old_temporary_file_is_swept_from_subfolders_too_and_a_young_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let mut work = work(dir.path());
        let deep = dir.path().join("in/Mappe/Teil");
        std::fs::create_dir_all(&deep).unwrap();
        let hour_ago = SystemTime::now() - STALE_PART - Duration::from_secs(60);
        let old = deep.join(".pult-1-2-3.part");
        File::create(&old).unwrap().set_modified(hour_ago).unwrap();
        let young = deep.join(".pult-1-2-4.part");
        File::create(&young).unwrap();
        // Not Pult's: an old file of the student's own stays, whatever its age.
        let own = deep.join("Entwurf.part");
        File::create(&own).unwrap().set_modified(hour_ago).unwrap();
        begin(&mut work, 1, vec![offer("a.txt", b"a")], false);
        assert!(!old.exists(), "the old temporary file is swept");
        assert!(young.exists(), "a transfer under way may still use it");
        assert!(own.exists());
    }

    #[test]
    fn r6_a_listing_takes_at_most_max_files_and_counts_what_it_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut work = work(dir.path());
        let out = dir.path().join("out/Viele");
        std::fs::create_dir_all(&out).unwrap();
        for n in 0..MAX_FILES + 5 {
            std::fs::write(out.join(format!("{n:04}.txt")), b"x").unwrap();
        }
        let listing = work.handle(ToHelper::CollectBegin {
            batch: 1,
            folder: None,
            pattern: None,
        });
        let FromHelper::Listing { files, skipped, .. } = listing else {
            panic!("{listing:?}")
        };
        assert_eq!(files.len(), MAX_FILES);
        assert_eq!(skipped, 5);
        // The first by name, not by the file system's order.
        assert_eq!(files[0].path, "Viele/0000.txt");
        assert_eq!(files[MAX_FILES - 1].path, "Viele/0999.txt");
    }
}
