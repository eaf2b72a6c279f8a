//! Files to the class and back (R6), for pultctl and the app.
//!
//! **Send**: [`Outgoing::gather`] reads the teacher's files once — folders
//! as their tree — checks every name as the agents will, and hashes each
//! (BLAKE3). [`send`] then offers them to one device: a batch stream with
//! the list, and each file the agent takes on a stream of its own, a few at
//! a time, so every device has its own flow control and a slow one holds
//! back nobody else. Progress and results come as [`TransferEvent`]s.
//!
//! **Collect**: [`collect`] lists a device's hand-in folder and fetches its
//! files into `OUT/ROOM/DEVICE-USER/…`. Whatever the agent claims, every
//! name is checked before anything is written, and nothing lands outside
//! that folder; counts and bytes are bounded.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pult_protocol::files::{
    DEFAULT_COLLECT_BYTES, DistinctNames, FileEntry, FileList, FileOffer, FilePath, FileVerdict,
    FilesNews, Hash, MAX_FILE_BYTES, MAX_FILES,
};
use pult_protocol::frame::{read_message, write_message};
use pult_protocol::message::{ErrorCode, Feature, Reply, Request};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::UnboundedSender;

use crate::files::safe_name;
use crate::{ConsoleError, DeviceSession};

/// Files a device receives at once, each on its own stream (an agent takes
/// eight streams from one console; screens and clicks keep the rest).
const FILES_AT_ONCE: usize = 3;
/// Bytes read from disk and written to a stream at a time.
const BLOCK: usize = 256 * 1024;
/// How the names of collected files begin until they are whole.
const TEMPORARY: &str = ".pult-";
/// Progress is reported at most every this many bytes of a file.
const PROGRESS_STEP: u64 = 4 * 1024 * 1024;

/// One file to send: where it is here, and what the agents are offered.
#[derive(Clone, Debug)]
pub struct OutgoingFile {
    /// The file on the teacher's disk.
    pub source: PathBuf,
    /// Its path on the student's side, size and hash.
    pub offer: FileOffer,
}

/// The files of one send, checked and hashed.
#[derive(Clone, Debug, Default)]
pub struct Outgoing {
    /// In the order given, folders' files sorted by path.
    pub files: Vec<OutgoingFile>,
}

impl Outgoing {
    /// Gathers `paths`: a file goes by its name, a folder as its tree below
    /// its name, without hidden files and folders (`.git`, `.DS_Store`):
    /// what goes is what the app's picker shows. Refuses a name the agents would refuse, two names the same
    /// but for case or Unicode form, more than [`MAX_FILES`] files.
    pub fn gather(paths: &[PathBuf]) -> Result<Self, ConsoleError> {
        Self::gather_in(paths, None)
    }

    /// [`Self::gather`]; with `within`, every file's real path must be below it.
    fn gather_in(paths: &[PathBuf], within: Option<&Path>) -> Result<Self, ConsoleError> {
        let mut found = Vec::new();
        for path in paths {
            let meta = std::fs::metadata(path).map_err(|e| unreadable(path, &e))?;
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| storage(format!("{} names no file", path.display())))?;
            if meta.is_dir() {
                gather_folder(path, name, within, &mut found)?;
            } else {
                found.push((path.clone(), name.to_owned(), meta.len()));
            }
            if found.len() > MAX_FILES {
                return Err(storage(format!(
                    "more than {MAX_FILES} files; send them in several goes"
                )));
            }
        }
        if found.is_empty() {
            return Err(storage("no files to send".to_owned()));
        }
        let mut names = DistinctNames::default();
        let mut files = Vec::with_capacity(found.len());
        for (source, path, size) in found {
            let checked = FilePath::parse(&path).map_err(|e| storage(e.to_string()))?;
            names.add(&checked).map_err(|e| storage(e.to_string()))?;
            if size > MAX_FILE_BYTES {
                return Err(storage(format!(
                    "{} has {size} bytes; at most 16 GiB are sent",
                    source.display()
                )));
            }
            let hash = hash_file(&source)?;
            files.push(OutgoingFile {
                source,
                offer: FileOffer { path, size, hash },
            });
        }
        Ok(Self { files })
    }

    /// Like [`Self::gather`], but only from inside `home` (R6: the teacher's
    /// own home folder), whatever links the paths go through.
    pub fn gather_within(paths: &[PathBuf], home: &Path) -> Result<Self, ConsoleError> {
        let home = home.canonicalize().map_err(|e| unreadable(home, &e))?;
        for path in paths {
            check_within(path, &home)?;
        }
        Self::gather_in(paths, Some(&home))
    }

    /// All bytes of all files.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.offer.size).sum()
    }
}

fn storage(message: String) -> ConsoleError {
    ConsoleError::Storage(message)
}

pub(crate) fn unreadable(path: &Path, error: &std::io::Error) -> ConsoleError {
    storage(format!("{} cannot be read: {error}", path.display()))
}

/// Refuses `path` unless its real path (links followed) is below `home`.
fn check_within(path: &Path, home: &Path) -> Result<(), ConsoleError> {
    let real = path.canonicalize().map_err(|e| unreadable(path, &e))?;
    if real.starts_with(home) {
        Ok(())
    } else {
        Err(storage(format!(
            "{} is not in your home folder {}",
            path.display(),
            home.display()
        )))
    }
}

/// Adds the files below `folder` as `name/…`; links are followed to files,
/// never into folders (no loops); with `within`, only to files below it.
fn gather_folder(
    folder: &Path,
    name: &str,
    within: Option<&Path>,
    found: &mut Vec<(PathBuf, String, u64)>,
) -> Result<(), ConsoleError> {
    let mut entries: Vec<_> = std::fs::read_dir(folder)
        .map_err(|e| unreadable(folder, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| unreadable(folder, &e))?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let Some(child) = entry.file_name().to_str().map(str::to_owned) else {
            return Err(storage(format!(
                "{} is not a name the students' computers can hold (not UTF-8)",
                path.display()
            )));
        };
        // Hidden: not shown by the picker, so not sent either.
        if child.starts_with('.') {
            continue;
        }
        let kind = entry.file_type().map_err(|e| unreadable(&path, &e))?;
        let relative = format!("{name}/{child}");
        if kind.is_dir() {
            gather_folder(&path, &relative, within, found)?;
        } else if let Ok(meta) = std::fs::metadata(&path)
            && meta.is_file()
        {
            if let Some(home) = within {
                check_within(&path, home)?;
            }
            found.push((path, relative, meta.len()));
        }
        if found.len() > MAX_FILES {
            return Ok(());
        }
    }
    Ok(())
}

fn hash_file(path: &Path) -> Result<Hash, ConsoleError> {
    let mut hasher = blake3::Hasher::new();
    let file = std::fs::File::open(path).map_err(|e| unreadable(path, &e))?;
    hasher
        .update_reader(file)
        .map_err(|e| unreadable(path, &e))?;
    Ok(*hasher.finalize().as_bytes())
}

/// How one file went on one device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "reason", rename_all = "lowercase")]
pub enum FileOutcome {
    /// In place under its name.
    Done,
    /// A file of that name was there and was left alone (no overwrite).
    Exists,
    /// The agent refused it (its name, the certificate), and why.
    Refused(String),
    /// It failed, and why (disk full, the connection broke).
    Failed(String),
}

/// News of a transfer, for the teacher's view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum TransferEvent {
    /// The device answered: where its files go (or come from), and which.
    Started {
        /// The device.
        device: String,
        /// The folder on the student's side.
        folder: String,
        /// The files' paths, in batch order.
        files: Vec<String>,
        /// Their sizes in bytes (as the agent claims, when collecting).
        sizes: Vec<u64>,
    },
    /// Bytes of one file are on their way.
    Progress {
        /// The device.
        device: String,
        /// The file's place in the batch.
        index: usize,
        /// Bytes so far.
        bytes: u64,
        /// Of this many.
        size: u64,
    },
    /// One file is over, one way or the other.
    File {
        /// The device.
        device: String,
        /// The file's place in the batch.
        index: usize,
        /// How it went.
        outcome: FileOutcome,
    },
    /// The device is done.
    Finished {
        /// The device.
        device: String,
        /// The summary.
        result: DeviceResult,
    },
}

/// How a transfer went on one device.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeviceResult {
    /// Files in place (sent) or saved here (collected).
    pub done: Vec<String>,
    /// Files left alone because they exist.
    pub exists: Vec<String>,
    /// Files refused, with why.
    pub refused: Vec<(String, String)>,
    /// Files failed, with why.
    pub failed: Vec<(String, String)>,
    /// Bytes moved.
    pub bytes: u64,
    /// Files the student's side left out of a collection: more than
    /// [`MAX_FILES`], names unfit to travel, or too deep.
    pub skipped: u32,
    /// The device failed as a whole (unreachable, not granted), and why.
    pub error: Option<String>,
    /// Each file's size as offered (sent) or claimed by the agent
    /// (collected), for the console's audit log.
    #[serde(skip)]
    pub sizes: std::collections::BTreeMap<String, u64>,
}

impl DeviceResult {
    /// Whether everything went through.
    pub fn is_complete(&self) -> bool {
        self.error.is_none()
            && self.exists.is_empty()
            && self.refused.is_empty()
            && self.failed.is_empty()
            && self.skipped == 0
    }

    /// One word for the device: done, exists, refused or failed, with why.
    pub fn summary(&self) -> String {
        if let Some(error) = &self.error {
            return format!("failed: {error}");
        }
        let mut parts = vec![format!("{} done", self.done.len())];
        if !self.exists.is_empty() {
            parts.push(format!("exists: {}", self.exists.join(", ")));
        }
        for (path, why) in &self.refused {
            parts.push(format!("refused: {path}: {why}"));
        }
        for (path, why) in &self.failed {
            parts.push(format!("failed: {path}: {why}"));
        }
        if self.skipped > 0 {
            parts.push(format!(
                "{} left out on the student's side (more than {MAX_FILES} files, names unfit to travel, or too deep)",
                self.skipped
            ));
        }
        parts.join("; ")
    }

    /// Notes how file `index` went and tells the teacher's view.
    fn settle(
        &mut self,
        device: &str,
        index: usize,
        path: &str,
        size: u64,
        outcome: FileOutcome,
        events: &UnboundedSender<TransferEvent>,
    ) {
        if outcome == FileOutcome::Done {
            self.bytes += size;
        }
        self.note(path, size, &outcome);
        let _ = events.send(TransferEvent::File {
            device: device.to_owned(),
            index,
            outcome,
        });
    }

    fn note(&mut self, path: &str, size: u64, outcome: &FileOutcome) {
        let path = path.to_owned();
        self.sizes.insert(path.clone(), size);
        match outcome {
            FileOutcome::Done => self.done.push(path),
            FileOutcome::Exists => self.exists.push(path),
            FileOutcome::Refused(why) => self.refused.push((path, why.clone())),
            FileOutcome::Failed(why) => self.failed.push((path, why.clone())),
        }
    }
}

/// What a send does on the student's side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Replace files of the same name (R6: only if the teacher chose it).
    pub overwrite: bool,
    /// Open the files for the student after they arrived.
    pub open: bool,
}

/// Sends `outgoing` to the device of `session`, reporting on `events`;
/// the result is also the last event.
pub async fn send(
    session: &DeviceSession,
    outgoing: Arc<Outgoing>,
    options: SendOptions,
    events: &UnboundedSender<TransferEvent>,
) -> DeviceResult {
    let mut result = DeviceResult::default();
    let outcome = send_batch(session, &outgoing, options, events, &mut result).await;
    conclude(session, outcome, result, events)
}

/// The device's result, with the error that ended it early, if any; also
/// the last event.
fn conclude(
    session: &DeviceSession,
    outcome: Result<(), ConsoleError>,
    mut result: DeviceResult,
    events: &UnboundedSender<TransferEvent>,
) -> DeviceResult {
    if let Err(error) = outcome {
        result.error = Some(match error {
            ConsoleError::Agent { error, .. } => error.message,
            other => other.to_string(),
        });
    }
    let _ = events.send(TransferEvent::Finished {
        device: session.device().name.clone(),
        result: result.clone(),
    });
    result
}

async fn send_batch(
    session: &DeviceSession,
    outgoing: &Arc<Outgoing>,
    options: SendOptions,
    events: &UnboundedSender<TransferEvent>,
    result: &mut DeviceResult,
) -> Result<(), ConsoleError> {
    let link = session.link();
    let device = link.device.name.clone();
    session.require(Feature::Files)?;
    let (mut send, mut recv, _) = link.open_stream().await?;
    let request = Request::SendFiles {
        overwrite: options.overwrite,
        open: options.open,
    };
    link.check(write_message(&mut send, &request).await)?;
    let list = FileList {
        files: outgoing.files.iter().map(|f| f.offer.clone()).collect(),
    };
    link.check(write_message(&mut send, &list).await)?;
    let (batch, folder, verdicts) = match read_news(session, &mut recv).await? {
        FilesNews::Ready {
            batch,
            folder,
            verdicts,
        } if verdicts.len() == list.files.len() => (batch, folder, verdicts),
        _ => return Err(link.protocol("the agent's answer does not fit the file list")),
    };
    let _ = events.send(TransferEvent::Started {
        device: device.clone(),
        folder,
        files: list.files.iter().map(|f| f.path.clone()).collect(),
        sizes: list.files.iter().map(|f| f.size).collect(),
    });
    let mut ready = Vec::new();
    for (index, verdict) in verdicts.into_iter().enumerate() {
        let outcome = match verdict {
            FileVerdict::Ready => {
                ready.push(index);
                continue;
            }
            FileVerdict::Exists => FileOutcome::Exists,
            FileVerdict::Refused(error) => FileOutcome::Refused(error.message),
        };
        result.note(&list.files[index].path, list.files[index].size, &outcome);
        let _ = events.send(TransferEvent::File {
            device: device.clone(),
            index,
            outcome,
        });
    }
    let mut moving = tokio::task::JoinSet::new();
    let mut waiting = ready.into_iter();
    loop {
        while moving.len() < FILES_AT_ONCE {
            let Some(index) = waiting.next() else { break };
            let file = outgoing.files[index].clone();
            let link = link.clone();
            let events = events.clone();
            moving.spawn(async move {
                let outcome = send_file(&link, batch, index, &file, &events).await;
                (index, outcome)
            });
        }
        let Some(joined) = moving.join_next().await else {
            break;
        };
        let (index, outcome) =
            joined.map_err(|e| link.protocol(&format!("a file's task failed: {e}")))?;
        let offer = &outgoing.files[index].offer;
        result.settle(&device, index, &offer.path, offer.size, outcome, events);
    }
    // The batch is over: the agent tells the student and says how many arrived.
    end_batch(session, send, recv).await
}

/// Finishes a batch stream and waits for the agent's word that the
/// student was told.
async fn end_batch(
    session: &DeviceSession,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) -> Result<(), ConsoleError> {
    let _ = send.finish();
    match read_news(session, &mut recv).await? {
        FilesNews::Finished { .. } => Ok(()),
        _ => Err(session.link().protocol("the agent did not end the batch")),
    }
}

/// Reads the next news of a batch stream; an error reply becomes an error.
async fn read_news(
    session: &DeviceSession,
    recv: &mut quinn::RecvStream,
) -> Result<FilesNews, ConsoleError> {
    let link = session.link();
    let frame = link
        .check(pult_protocol::frame::read_frame(recv).await)?
        .ok_or_else(|| link.protocol("the agent closed the batch stream"))?;
    if let Ok(Reply::Error(error)) = frame.decode::<Reply>() {
        return Err(ConsoleError::Agent {
            device: link.device.name.clone(),
            error,
        });
    }
    link.check(frame.decode::<FilesNews>())
}

async fn send_file(
    link: &crate::session::Link,
    batch: u64,
    index: usize,
    file: &OutgoingFile,
    events: &UnboundedSender<TransferEvent>,
) -> FileOutcome {
    let device = link.device.name.clone();
    let size = file.offer.size;
    let attempt = async {
        let request = Request::FileData {
            batch,
            index: u32::try_from(index).unwrap_or(u32::MAX),
        };
        let (mut send, mut recv) = file_stream(link, &request).await?;
        let mut source = tokio::fs::File::open(&file.source)
            .await
            .map_err(|e| format!("{} cannot be read: {e}", file.source.display()))?;
        let mut block = vec![0u8; BLOCK];
        let (mut sent, mut told) = (0u64, 0u64);
        // The agent may answer early (a full disk): then the reply tells why.
        let wrote: Result<(), String> = async {
            loop {
                let read = source
                    .read(&mut block)
                    .await
                    .map_err(|e| format!("{} cannot be read: {e}", file.source.display()))?;
                if read == 0 {
                    break;
                }
                send.write_all(&block[..read])
                    .await
                    .map_err(|e| e.to_string())?;
                sent += read as u64;
                if sent - told >= PROGRESS_STEP || sent == size {
                    told = sent;
                    let _ = events.send(TransferEvent::Progress {
                        device: device.clone(),
                        index,
                        bytes: sent,
                        size,
                    });
                }
            }
            send.finish().map_err(|e| e.to_string())
        }
        .await;
        match read_message::<Reply>(&mut recv).await {
            Ok(Some(Reply::Done)) if wrote.is_ok() => Ok(FileOutcome::Done),
            Ok(Some(Reply::Error(error))) => Ok(outcome_of(error.code, error.message)),
            _ => Err(wrote
                .err()
                .unwrap_or_else(|| "the agent did not confirm the file".to_owned())),
        }
    };
    attempt.await.unwrap_or_else(FileOutcome::Failed)
}

/// A stream of its own for one file of a batch, `request` sent on it.
async fn file_stream(
    link: &crate::session::Link,
    request: &Request,
) -> Result<(quinn::SendStream, quinn::RecvStream), String> {
    let (mut send, recv, _) = link.open_stream().await.map_err(|e| e.to_string())?;
    write_message(&mut send, request)
        .await
        .map_err(|e| e.to_string())?;
    Ok((send, recv))
}

fn outcome_of(code: ErrorCode, message: String) -> FileOutcome {
    match code {
        ErrorCode::FileExists => FileOutcome::Exists,
        ErrorCode::NameRefused | ErrorCode::NotGranted | ErrorCode::Unsupported => {
            FileOutcome::Refused(message)
        }
        _ => FileOutcome::Failed(message),
    }
}

/// What to collect, and where it goes.
#[derive(Clone, Debug)]
pub struct CollectOptions {
    /// The folder here: files go to `OUT/ROOM/DEVICE-USER/…`.
    pub out: PathBuf,
    /// The room, for the folder's name.
    pub room: String,
    /// A folder beside the hand-in folder instead of it.
    pub folder: Option<String>,
    /// Only names matching this glob.
    pub pattern: Option<String>,
    /// The most bytes taken from one device ([`DEFAULT_COLLECT_BYTES`]).
    pub max_bytes: u64,
}

impl CollectOptions {
    /// Collect the hand-in folder into `out`.
    pub fn new(out: PathBuf, room: &str) -> Self {
        Self {
            out,
            room: room.to_owned(),
            folder: None,
            pattern: None,
            max_bytes: DEFAULT_COLLECT_BYTES,
        }
    }
}

/// Collects the hand-in files of `session`'s device, whose user is
/// `user`, into `OUT/ROOM/DEVICE-USER/…`; reports on `events`.
pub async fn collect(
    session: &DeviceSession,
    user: Option<&str>,
    options: &CollectOptions,
    events: &UnboundedSender<TransferEvent>,
) -> DeviceResult {
    let mut result = DeviceResult::default();
    let outcome = collect_batch(session, user, options, events, &mut result).await;
    conclude(session, outcome, result, events)
}

async fn collect_batch(
    session: &DeviceSession,
    user: Option<&str>,
    options: &CollectOptions,
    events: &UnboundedSender<TransferEvent>,
    result: &mut DeviceResult,
) -> Result<(), ConsoleError> {
    let link = session.link();
    let device = link.device.name.clone();
    session.require(Feature::Files)?;
    let folder_name = match user {
        Some(user) => format!("{device}-{user}"),
        None => device.clone(),
    };
    let target = options
        .out
        .join(safe_name(&options.room))
        .join(safe_name(&folder_name));
    let (mut send, mut recv, _) = link.open_stream().await?;
    let request = Request::CollectFiles {
        folder: options.folder.clone(),
        pattern: options.pattern.clone(),
    };
    link.check(write_message(&mut send, &request).await)?;
    let (batch, folder, files) = match read_news(session, &mut recv).await? {
        FilesNews::Listing {
            batch,
            folder,
            files,
            skipped,
        } => {
            result.skipped = skipped;
            (batch, folder, files)
        }
        _ => return Err(link.protocol("the agent's answer is no listing")),
    };
    if files.len() > MAX_FILES {
        return Err(link.protocol(&format!(
            "the agent listed {} files; at most {MAX_FILES} are collected",
            files.len()
        )));
    }
    let _ = events.send(TransferEvent::Started {
        device: device.clone(),
        folder,
        files: files.iter().map(|f| f.path.clone()).collect(),
        sizes: files.iter().map(|f| f.size).collect(),
    });
    // Checked here, whatever the agent claims: names, count, bytes.
    let mut names = DistinctNames::default();
    let mut budget = options.max_bytes;
    for (index, entry) in files.iter().enumerate() {
        let outcome = match check_entry(entry, &mut names, &mut budget) {
            Ok(path) => fetch_file(link, batch, index, entry, &target, &path, events).await,
            Err(outcome) => outcome,
        };
        result.settle(&device, index, &entry.path, entry.size, outcome, events);
    }
    end_batch(session, send, recv).await
}

fn check_entry(
    entry: &FileEntry,
    names: &mut DistinctNames,
    budget: &mut u64,
) -> Result<FilePath, FileOutcome> {
    let path = FilePath::parse(&entry.path).map_err(|e| FileOutcome::Refused(e.to_string()))?;
    // ".pult-…" names are this side's temporary files.
    if path.names().any(|name| name.starts_with(TEMPORARY)) {
        return Err(FileOutcome::Refused(format!(
            "{} is refused: names beginning with {TEMPORARY} are Pult's temporary files",
            entry.path
        )));
    }
    names
        .add(&path)
        .map_err(|e| FileOutcome::Refused(e.to_string()))?;
    if entry.size > *budget {
        return Err(FileOutcome::Refused(format!(
            "{} bytes would pass the limit of bytes collected from one device",
            entry.size
        )));
    }
    *budget -= entry.size;
    Ok(path)
}

/// Fetches one listed file into `target/path`: under a temporary name
/// until its size and hash are right.
async fn fetch_file(
    link: &crate::session::Link,
    batch: u64,
    index: usize,
    entry: &FileEntry,
    target: &Path,
    path: &FilePath,
    events: &UnboundedSender<TransferEvent>,
) -> FileOutcome {
    let destination = path.names().fold(target.to_owned(), |p, name| p.join(name));
    let Some(folder) = destination.parent().map(Path::to_owned) else {
        return FileOutcome::Failed("no folder to save into".into());
    };
    // Short, and the same for no two files of the listing.
    let partial = folder.join(format!("{TEMPORARY}{index}.partial"));
    let attempt = async {
        let request = Request::FetchFile {
            batch,
            index: u32::try_from(index).unwrap_or(u32::MAX),
        };
        let (mut send, mut recv) = file_stream(link, &request).await?;
        let _ = send.finish();
        match read_message::<Reply>(&mut recv).await {
            Ok(Some(Reply::Done)) => {}
            Ok(Some(Reply::Error(error))) => return Ok(outcome_of(error.code, error.message)),
            Ok(_) => return Err("the agent sent no file".to_owned()),
            Err(error) => return Err(error.to_string()),
        }
        tokio::fs::create_dir_all(&folder)
            .await
            .map_err(|e| format!("{} cannot be made: {e}", folder.display()))?;
        let mut file = tokio::fs::File::create(&partial)
            .await
            .map_err(|e| format!("{} cannot be written: {e}", partial.display()))?;
        let mut hasher = blake3::Hasher::new();
        let (mut got, mut told) = (0u64, 0u64);
        let mut block = vec![0u8; BLOCK];
        while got < entry.size {
            let want = usize::try_from((entry.size - got).min(BLOCK as u64)).unwrap_or(BLOCK);
            let read = recv
                .read(&mut block[..want])
                .await
                .map_err(|e| format!("the transfer broke off: {e}"))?
                .ok_or_else(|| format!("the file ended after {got} of {} bytes", entry.size))?;
            hasher.update(&block[..read]);
            file.write_all(&block[..read])
                .await
                .map_err(|e| format!("{} cannot be written: {e}", partial.display()))?;
            got += read as u64;
            if got - told >= PROGRESS_STEP || got == entry.size {
                told = got;
                let _ = events.send(TransferEvent::Progress {
                    device: link.device.name.clone(),
                    index,
                    bytes: got,
                    size: entry.size,
                });
            }
        }
        let mut hash = [0u8; 32];
        recv.read_exact(&mut hash)
            .await
            .map_err(|e| format!("no hash came after the file: {e}"))?;
        if hash != *hasher.finalize().as_bytes() {
            return Err("the file arrived other than it was sent (its BLAKE3 hash differs)".into());
        }
        file.sync_data()
            .await
            .map_err(|e| format!("{} cannot be written: {e}", partial.display()))?;
        drop(file);
        tokio::fs::rename(&partial, &destination)
            .await
            .map_err(|e| format!("{} cannot be written: {e}", destination.display()))?;
        Ok(FileOutcome::Done)
    };
    match attempt.await {
        Ok(outcome) => outcome,
        Err(why) => {
            let _ = tokio::fs::remove_file(&partial).await;
            FileOutcome::Failed(why)
        }
    }
}
