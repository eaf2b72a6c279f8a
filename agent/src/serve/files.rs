//! Files to the student and back (R6), as the service serves them: batch
//! streams and file streams ([`pult_protocol::files`]). The service checks
//! every name again, whatever the console checked, and passes the bytes to
//! the helper, which writes and reads them as the student.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pult_protocol::files::{
    DistinctNames, FileEntry, FileList, FileOffer, FilePath, FileVerdict, FilesNews, MAX_FILES,
};
use pult_protocol::frame::{FrameError, read_message, write_message};
use pult_protocol::local::{FilesNotice, FromHelper, ToHelper};
use pult_protocol::message::{ErrorCode, ErrorReply, Feature, Reply};
use quinn::{RecvStream, SendStream};
use tokio::sync::watch;

use super::{Agent, Session, record, refuse_stream, reject};
use crate::audit::AuditAction;
use crate::desktop::unexpected;
use crate::limits;

/// Bytes passed to the helper at a time.
const CHUNK: usize = 1024 * 1024;

/// Batch numbers, unique in this agent, so two consoles' batches never meet
/// in the helper.
static NEXT_BATCH: AtomicU64 = AtomicU64::new(1);

/// The batches of one connection: a file stream finds its batch here, and
/// only a batch of its own connection.
#[derive(Default)]
pub(super) struct Batches {
    batches: Mutex<HashMap<u64, Arc<Batch>>>,
}

struct Batch {
    kind: BatchKind,
    /// Per file: where it stands.
    states: Mutex<Vec<FileState>>,
    /// How many file streams are under way; the batch ends after them.
    active: watch::Sender<usize>,
}

enum BatchKind {
    Send(Vec<FileOffer>),
    Collect(Vec<FileEntry>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum FileState {
    /// Not to be sent (exists, refused).
    Skipped,
    /// May come.
    Waiting,
    /// Its stream is under way.
    Moving,
    /// Arrived (or collected) whole.
    Done,
    /// Failed, and why.
    Failed(String),
}

impl Batches {
    fn get(&self, batch: u64) -> Option<Arc<Batch>> {
        self.lock().get(&batch).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Batch>>> {
        self.batches.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Batch {
    fn new(kind: BatchKind, states: Vec<FileState>) -> Arc<Self> {
        Arc::new(Self {
            kind,
            states: Mutex::new(states),
            active: watch::Sender::new(0),
        })
    }

    fn states(&self) -> std::sync::MutexGuard<'_, Vec<FileState>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes file `index` for its stream, if it may come now.
    fn take(&self, index: u32) -> Result<(), ErrorReply> {
        let mut states = self.states();
        match states.get_mut(index as usize) {
            Some(state @ FileState::Waiting) => {
                *state = FileState::Moving;
                self.active.send_modify(|n| *n += 1);
                Ok(())
            }
            Some(_) => Err(ErrorReply::new(
                ErrorCode::UnexpectedMessage,
                format!("file {index} of this batch is not waiting to be sent"),
            )),
            None => Err(ErrorReply::new(
                ErrorCode::UnexpectedMessage,
                format!("this batch has no file {index}"),
            )),
        }
    }

    fn settle(&self, index: u32, outcome: &Result<(), ErrorReply>) {
        if let Some(state) = self.states().get_mut(index as usize) {
            *state = match outcome {
                Ok(()) => FileState::Done,
                Err(error) => FileState::Failed(format!("{}: {}", error.code, error.message)),
            };
        }
        self.active.send_modify(|n| *n = n.saturating_sub(1));
    }

    /// Closes the batch to new file streams and waits for those under way.
    async fn close(&self) {
        for state in self.states().iter_mut() {
            if *state == FileState::Waiting {
                *state = FileState::Skipped;
            }
        }
        let mut active = self.active.subscribe();
        let _ = active.wait_for(|n| *n == 0).await;
    }

    /// The paths of the files done, and "name (size)" lines for the audit
    /// log: every file with how it went.
    fn summary(&self) -> (Vec<String>, String) {
        let files: Vec<(&str, u64)> = match &self.kind {
            BatchKind::Send(offers) => offers.iter().map(|o| (o.path.as_str(), o.size)).collect(),
            BatchKind::Collect(entries) => {
                entries.iter().map(|e| (e.path.as_str(), e.size)).collect()
            }
        };
        let states = self.states();
        let mut done = Vec::new();
        let mut lines = Vec::new();
        for ((path, size), state) in files.iter().zip(states.iter()) {
            let how = match state {
                FileState::Done => {
                    done.push((*path).to_owned());
                    "done".to_owned()
                }
                FileState::Skipped => "skipped".to_owned(),
                FileState::Waiting | FileState::Moving => "not sent".to_owned(),
                // Each file's name and size in full (R16), its reason cut
                // short: a thousand of them stay one readable line.
                FileState::Failed(why) => {
                    format!("failed: {}", why.chars().take(120).collect::<String>())
                }
            };
            lines.push(format!("{} ({size} B): {how}", shown_path(path)));
        }
        (done, lines.join("; "))
    }
}

/// Reasons given per file are cut to this many characters.
const REASON_CHARS: usize = 200;

/// `error` with its message cut to [`REASON_CHARS`].
fn short(mut error: ErrorReply) -> ErrorReply {
    if let Some((cut, _)) = error.message.char_indices().nth(REASON_CHARS) {
        error.message.truncate(cut);
        error.message.push('…');
    }
    error
}

/// A path as the audit log shows it: control characters escaped.
fn shown_path(path: &str) -> String {
    path.chars().flat_map(char::escape_debug).collect()
}

fn not_granted() -> ErrorReply {
    ErrorReply::new(
        ErrorCode::NotGranted,
        "the room certificate does not grant 'files'",
    )
}

/// Serves a batch stream of files to the student (R6) to its end.
pub(super) async fn serve_send(
    send: SendStream,
    mut recv: RecvStream,
    overwrite: bool,
    open: bool,
    session: &Session,
    agent: &Agent,
) {
    let mut entry = session.entry(AuditAction::FilesSend, None);
    if !session.grant.grants(Feature::Files) {
        return refuse_stream(send, entry, not_granted(), agent).await;
    }
    // Opening a file starts the program it names, or the file itself (a
    // script, a program): only for a teacher who may start programs (R4).
    if open && !session.grant.grants(Feature::RunProgram) {
        let error = ErrorReply::new(
            ErrorCode::NotGranted,
            "opening files starts programs: the room certificate grants 'files' but not 'run-program'",
        );
        return refuse_stream(send, entry, error, agent).await;
    }
    let list = match tokio::time::timeout(
        limits::HELLO_TIMEOUT,
        read_message::<FileList>(&mut recv),
    )
    .await
    {
        Ok(Ok(Some(list))) => list,
        Ok(Ok(None)) => return,
        Ok(Err(error)) => return reject(send, recv, error, session, agent).await,
        Err(_) => {
            let error = ErrorReply::new(
                ErrorCode::UnexpectedMessage,
                "no file list came after the request",
            );
            return refuse_stream(send, entry, error, agent).await;
        }
    };
    // Sizes are the console's word: summed without overflowing.
    let total = list
        .files
        .iter()
        .fold(0u64, |sum, f| sum.saturating_add(f.size));
    entry.detail = Some(format!(
        "{} files, {total} bytes offered{}",
        list.files.len(),
        if overwrite { ", overwrite" } else { "" }
    ));
    if list.files.len() > MAX_FILES {
        let error = ErrorReply::new(
            ErrorCode::TooLarge,
            format!(
                "a batch of {} files; at most {MAX_FILES} are taken",
                list.files.len()
            ),
        );
        return refuse_stream(send, entry, error, agent).await;
    }
    // The service's own check of every name, whatever the console did.
    let mut names = DistinctNames::default();
    let refusals: Vec<Option<ErrorReply>> = list
        .files
        .iter()
        .map(|offer| {
            FilePath::parse(&offer.path)
                .and_then(|path| names.add(&path))
                .err()
                .map(|e| ErrorReply::new(ErrorCode::NameRefused, e.to_string()))
        })
        .collect();
    let batch = NEXT_BATCH.fetch_add(1, Ordering::Relaxed);
    let begin = ToHelper::FilesBegin {
        batch,
        files: list.files.clone(),
        overwrite,
    };
    let (folder, verdicts) = match agent.desktop.files(begin).await {
        Ok(FromHelper::FilesReady { folder, verdicts }) if verdicts.len() == list.files.len() => {
            (folder, verdicts)
        }
        Ok(other) => return refuse_batch(send, entry, batch, unexpected(&other), agent).await,
        Err(error) => return refuse_batch(send, entry, batch, error, agent).await,
    };
    // Each reason cut short: a thousand of them stay within one frame.
    let verdicts: Vec<FileVerdict> = verdicts
        .into_iter()
        .zip(refusals)
        .map(
            |(verdict, refusal)| match refusal.map_or(verdict, FileVerdict::Refused) {
                FileVerdict::Refused(error) => FileVerdict::Refused(short(error)),
                verdict => verdict,
            },
        )
        .collect();
    let states = verdicts
        .iter()
        .map(|v| match v {
            FileVerdict::Ready => FileState::Waiting,
            _ => FileState::Skipped,
        })
        .collect();
    let state = Batch::new(BatchKind::Send(list.files), states);
    session.files.lock().insert(batch, state.clone());
    record(agent, entry.clone(), None);
    let started = Instant::now();
    let news = FilesNews::Ready {
        batch,
        folder: folder.clone(),
        verdicts: verdicts.clone(),
    };
    let tell = Tell {
        folder,
        sent: true,
        open,
    };
    let (stored, lines, failure) =
        run_batch(send, recv, batch, &state, &news, tell, session, agent).await;
    entry.action = AuditAction::FilesSent;
    entry.detail = Some(format!(
        "{stored} of {} files stored in {:.1} s: {lines}",
        verdicts.len(),
        started.elapsed().as_secs_f64()
    ));
    record(agent, entry, failure.map(Reply::Error).as_ref());
}

/// Refuses a batch whose beginning went wrong, and closes it in the
/// helper, which may have opened it: nothing of it stays there.
async fn refuse_batch(
    send: SendStream,
    entry: crate::audit::AuditEntry,
    batch: u64,
    error: ErrorReply,
    agent: &Agent,
) {
    let _ = agent
        .desktop
        .files(ToHelper::FilesEnd { batch, tell: None })
        .await;
    refuse_stream(send, entry, error, agent).await;
}

/// What the student is told when a batch ends.
struct Tell {
    folder: String,
    sent: bool,
    open: bool,
}

/// Runs a batch registered as `state` from its first news to its end: the
/// console's file streams come meanwhile; when the console finishes the
/// batch stream (or goes), the batch closes, the student is told what
/// arrived or was collected, and the console hears how many. Returns that
/// count, the audit lines and a failure, if any.
#[allow(clippy::too_many_arguments)]
async fn run_batch(
    mut send: SendStream,
    mut recv: RecvStream,
    batch: u64,
    state: &Batch,
    news: &FilesNews,
    tell: Tell,
    session: &Session,
    agent: &Agent,
) -> (u32, String, Option<ErrorReply>) {
    let mut failure = None;
    if let Err(error) = write_message(&mut send, news).await {
        failure = Some(ErrorReply::new(
            ErrorCode::FileFailed,
            format!("the batch's first news could not be sent: {error}"),
        ));
    } else {
        // The console finishes the batch stream once its files are done.
        match read_message::<FileList>(&mut recv).await {
            Ok(None) | Err(FrameError::Io(_)) => {}
            Ok(Some(_)) => {
                failure = Some(ErrorReply::new(
                    ErrorCode::UnexpectedMessage,
                    "a file list in the middle of a batch",
                ));
            }
            Err(error) => failure = Some(ErrorReply::new(error.code(), error.to_string())),
        }
    }
    state.close().await;
    session.files.lock().remove(&batch);
    let (done, lines) = state.summary();
    let count = u32::try_from(done.len()).unwrap_or(u32::MAX);
    // Files collected, or only their names and sizes seen: the student is
    // told either way (R6, R1); files sent are told once something arrived.
    let tell = (!done.is_empty() || !tell.sent).then(|| FilesNotice {
        teacher: session.grant.user.clone(),
        room: session.grant.room.clone(),
        folder: tell.folder,
        files: done,
        sent: tell.sent,
        open: tell.open,
    });
    // The student is told, even when the console went meanwhile.
    if let Err(error) = agent
        .desktop
        .files(ToHelper::FilesEnd { batch, tell })
        .await
    {
        tracing::warn!("{}: {}", session.peer, error.message);
        failure.get_or_insert(error);
    }
    let _ = write_message(&mut send, &FilesNews::Finished { stored: count }).await;
    let _ = send.finish();
    (count, lines, failure)
}

/// Serves one file's stream: its bytes to the helper, then the answer.
pub(super) async fn serve_data(
    mut send: SendStream,
    mut recv: RecvStream,
    batch: u64,
    index: u32,
    session: &Session,
    agent: &Agent,
) {
    let outcome = receive(&mut recv, batch, index, session, agent).await;
    let reply = match &outcome {
        Ok(()) => Reply::Done,
        Err(error) => {
            let _ = recv.stop(u32::from(u16::from(error.code)).into());
            Reply::Error(error.clone())
        }
    };
    let _ = write_message(&mut send, &reply).await;
    let _ = send.finish();
}

async fn receive(
    recv: &mut RecvStream,
    batch: u64,
    index: u32,
    session: &Session,
    agent: &Agent,
) -> Result<(), ErrorReply> {
    if !session.grant.grants(Feature::Files) {
        return Err(not_granted());
    }
    let state = session.files.get(batch).ok_or_else(|| {
        ErrorReply::new(
            ErrorCode::UnexpectedMessage,
            format!("no batch {batch} is open on this connection"),
        )
    })?;
    let size = match &state.kind {
        BatchKind::Send(offers) => offers.get(index as usize).map(|o| o.size),
        BatchKind::Collect(_) => None,
    }
    .ok_or_else(|| {
        ErrorReply::new(
            ErrorCode::UnexpectedMessage,
            format!("batch {batch} takes no file {index}"),
        )
    })?;
    state.take(index)?;
    let outcome = pass_on(recv, batch, index, size, agent).await;
    if outcome.is_err() {
        let _ = agent
            .desktop
            .files(ToHelper::FileAbort { batch, index })
            .await;
    }
    state.settle(index, &outcome);
    outcome
}

/// Passes the stream's bytes to the helper, checks there are exactly
/// `size`, and has the helper give the file its name.
async fn pass_on(
    recv: &mut RecvStream,
    batch: u64,
    index: u32,
    size: u64,
    agent: &Agent,
) -> Result<(), ErrorReply> {
    let mut received = 0u64;
    let mut buffer = Vec::with_capacity(CHUNK);
    loop {
        let chunk = recv
            .read_chunk(CHUNK - buffer.len(), true)
            .await
            .map_err(|e| {
                ErrorReply::new(
                    ErrorCode::FileFailed,
                    format!("the transfer broke off after {received} of {size} bytes: {e}"),
                )
            })?;
        let ended = chunk.is_none();
        if let Some(chunk) = chunk {
            received += chunk.bytes.len() as u64;
            if received > size {
                return Err(ErrorReply::new(
                    ErrorCode::FileFailed,
                    format!("more bytes came than the {size} offered"),
                ));
            }
            buffer.extend_from_slice(&chunk.bytes);
        }
        if buffer.len() >= CHUNK || (ended && !buffer.is_empty()) {
            let data = std::mem::replace(&mut buffer, Vec::with_capacity(CHUNK));
            agent
                .desktop
                .files(ToHelper::FileChunk { batch, index, data })
                .await?;
        }
        if ended {
            break;
        }
    }
    if received != size {
        return Err(ErrorReply::new(
            ErrorCode::FileFailed,
            format!("the console ended the file after {received} of {size} bytes"),
        ));
    }
    agent
        .desktop
        .files(ToHelper::FileEnd { batch, index })
        .await
        .map(drop)
}

/// Serves a collect batch (R6): lists the hand-in folder, then waits until
/// the console fetched what it wanted and finished the stream; the student
/// is told what was collected.
pub(super) async fn serve_collect(
    send: SendStream,
    recv: RecvStream,
    folder: Option<String>,
    pattern: Option<String>,
    session: &Session,
    agent: &Agent,
) {
    let mut entry = session.entry(
        AuditAction::FilesCollect,
        Some(format!(
            "{} {}",
            folder.as_deref().unwrap_or("(hand-in folder)"),
            pattern.as_deref().unwrap_or("*")
        )),
    );
    if !session.grant.grants(Feature::Files) {
        return refuse_stream(send, entry, not_granted(), agent).await;
    }
    let batch = NEXT_BATCH.fetch_add(1, Ordering::Relaxed);
    let begin = ToHelper::CollectBegin {
        batch,
        folder,
        pattern,
    };
    let (folder, mut files, mut skipped) = match agent.desktop.files(begin).await {
        Ok(FromHelper::Listing {
            folder,
            files,
            skipped,
        }) => (folder, files, skipped),
        Ok(other) => return refuse_batch(send, entry, batch, unexpected(&other), agent).await,
        Err(error) => return refuse_batch(send, entry, batch, error, agent).await,
    };
    // The helper's names are checked again: none leaves this agent
    // unchecked. The helper leaves out what cannot travel, so a name that
    // cannot is a helper not to be trusted with this listing at all
    // (leaving one out would shift the numbers the files are fetched by).
    if let Some(bad) = files.iter().find(|f| FilePath::parse(&f.path).is_err()) {
        let error = ErrorReply::new(
            ErrorCode::Internal,
            format!(
                "the student's side listed a name that cannot travel: {}",
                shown_path(&bad.path)
                    .chars()
                    .take(REASON_CHARS)
                    .collect::<String>()
            ),
        );
        return refuse_batch(send, entry, batch, error, agent).await;
    }
    if files.len() > MAX_FILES {
        // The first ones keep their numbers.
        let more = files.len() - MAX_FILES;
        files.truncate(MAX_FILES);
        skipped = skipped.saturating_add(u32::try_from(more).unwrap_or(u32::MAX));
    }
    let state = Batch::new(
        BatchKind::Collect(files.clone()),
        vec![FileState::Waiting; files.len()],
    );
    session.files.lock().insert(batch, state.clone());
    let total = files.iter().fold(0u64, |sum, f| sum.saturating_add(f.size));
    entry.detail = Some(format!(
        "{} files, {total} bytes listed in {folder} ({skipped} skipped)",
        files.len()
    ));
    record(agent, entry.clone(), None);
    let started = Instant::now();
    let news = FilesNews::Listing {
        batch,
        folder: folder.clone(),
        files,
        skipped,
    };
    let tell = Tell {
        folder,
        sent: false,
        open: false,
    };
    let (collected, lines, failure) =
        run_batch(send, recv, batch, &state, &news, tell, session, agent).await;
    entry.action = AuditAction::FilesCollected;
    entry.detail = Some(format!(
        "{collected} files collected in {:.1} s: {lines}",
        started.elapsed().as_secs_f64()
    ));
    record(agent, entry, failure.map(Reply::Error).as_ref());
}

/// Serves one collected file: [`Reply::Done`], its bytes, their hash.
pub(super) async fn serve_fetch(
    mut send: SendStream,
    batch: u64,
    index: u32,
    session: &Session,
    agent: &Agent,
) {
    let found = if session.grant.grants(Feature::Files) {
        session
            .files
            .get(batch)
            .and_then(|state| match &state.kind {
                BatchKind::Collect(entries) => {
                    entries.get(index as usize).map(|e| (e.size, state.clone()))
                }
                BatchKind::Send(_) => None,
            })
            .ok_or_else(|| {
                ErrorReply::new(
                    ErrorCode::UnexpectedMessage,
                    format!("no collect batch {batch} with a file {index} on this connection"),
                )
            })
    } else {
        Err(not_granted())
    };
    let (size, state) =
        match found.and_then(|(size, state)| state.take(index).map(|()| (size, state))) {
            Ok(found) => found,
            Err(error) => {
                let _ = write_message(&mut send, &Reply::Error(error)).await;
                let _ = send.finish();
                return;
            }
        };
    let outcome = fetch(&mut send, batch, index, size, agent).await;
    match &outcome {
        Ok(()) => {
            let _ = send.finish();
        }
        Err((error, false)) => {
            let _ = write_message(&mut send, &Reply::Error(error.clone())).await;
            let _ = send.finish();
        }
        // The bytes began already: the console learns of the failure by the reset.
        Err((error, true)) => {
            let _ = send.reset(u32::from(u16::from(error.code)).into());
        }
    }
    state.settle(index, &outcome.map_err(|(error, _)| error));
}

/// Sends the file's bytes and hash; on failure, whether bytes went already.
async fn fetch(
    send: &mut SendStream,
    batch: u64,
    index: u32,
    size: u64,
    agent: &Agent,
) -> Result<(), (ErrorReply, bool)> {
    let lost = |e: std::io::Error| {
        (
            ErrorReply::new(ErrorCode::FileFailed, format!("the console went: {e}")),
            true,
        )
    };
    let mut hasher = blake3::Hasher::new();
    let mut offset = 0u64;
    while offset < size || offset == 0 {
        let len = u32::try_from((size - offset).min(CHUNK as u64)).unwrap_or(u32::MAX);
        let read = ToHelper::FileRead {
            batch,
            index,
            offset,
            len,
        };
        let started = offset > 0;
        let data = match agent.desktop.files(read).await {
            Ok(FromHelper::FileBytes(data)) => data,
            Ok(other) => return Err((unexpected(&other), started)),
            Err(error) => return Err((error, started)),
        };
        if data.len() > len as usize {
            let error = ErrorReply::new(
                ErrorCode::Internal,
                format!(
                    "the student's side read {} bytes where {len} were asked for",
                    data.len()
                ),
            );
            return Err((error, started));
        }
        if data.is_empty() && size > 0 {
            let error = ErrorReply::new(
                ErrorCode::FileFailed,
                format!(
                    "the file became shorter while it was collected ({offset} of {size} bytes)"
                ),
            );
            return Err((error, started));
        }
        // The first bytes were read: now the answer is yes.
        if !started {
            write_message(send, &Reply::Done)
                .await
                .map_err(|e| (ErrorReply::new(ErrorCode::FileFailed, e.to_string()), true))?;
        }
        hasher.update(&data);
        offset += data.len() as u64;
        tokio::io::AsyncWriteExt::write_all(send, &data)
            .await
            .map_err(lost)?;
        if size == 0 {
            break;
        }
    }
    tokio::io::AsyncWriteExt::write_all(send, hasher.finalize().as_bytes())
        .await
        .map_err(lost)
}
