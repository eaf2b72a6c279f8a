//! The session helper's work, whichever process it runs in: capture, scale
//! and encode the screen per stream, show the notice (R1), start what the
//! student asked for with the student's identity.
//!
//! In an installed agent this runs in its own process in the student's
//! session ([`process`]), started and restarted by the service; in the demo
//! classroom and a single-process agent it is joined to the service in
//! memory. Either way it captures only while a notice is shown: the process
//! that takes the picture is the one that tells the student.

pub mod file_worker;
pub mod files;
pub mod input;
pub mod process;
pub mod student;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use pult_protocol::local::{
    BroadcastView, CapturedFrame, FilesNotice, FromHelper, LockScreen, Notice, TeacherMessage,
    ToHelper,
};
use pult_protocol::message::{ErrorCode, ErrorReply, Screenshot};
use pult_protocol::watch::{ScreenUpdate, WatchSettings};
use pult_screen::codec::{FrameDecoder, TileEncoder, TileRect};
use pult_screen::scale::Scaler;
use pult_screen::wire::{encoded_frame, screen_tiles};
use pult_screen::{CaptureSource, Frame, ScreenArea, encode_png};

pub use input::{InputDevice, InputQueue, LoggedInput, NoInput};
pub use student::Student;

/// What the helper shows the student: the notice (R1), message windows,
/// the lock screen (R20).
pub trait SessionDisplay: Send + Sync {
    /// Shows `notice` (an empty one hides it) and returns once the student
    /// can see it; an error when it cannot be shown.
    fn show(&self, notice: &Notice) -> Result<(), String>;

    /// Shows a message window, which the student closes; returns once it
    /// is on the screen.
    fn message(&self, message: &TeacherMessage) -> Result<(), String>;

    /// Covers every monitor with `lock` and blocks keyboard and mouse, or
    /// ends the lock (`None`); returns once that is so. Asked again with the
    /// same lock, it makes sure the lock is still whole.
    fn lock(&self, lock: Option<&LockScreen>) -> Result<(), String>;

    /// Shows a broadcast (R7) as `view` asks — over every monitor with
    /// keyboard and mouse blocked, or in a window — or ends it (`None`);
    /// returns once that is so.
    fn broadcast(&self, view: Option<&BroadcastView>) -> Result<(), String>;

    /// Puts the broadcast's picture on the screen, scaled to fit; `changed`
    /// is the part that differs from the picture before.
    fn broadcast_picture(&self, picture: &Frame, changed: TileRect) -> Result<(), String>;

    /// The language the student is spoken to in.
    fn language(&self) -> crate::notice_text::Language {
        crate::notice_text::Language::English
    }
}

/// The helper's state: the screen, what each stream was sent, the notice.
pub struct HelperCore {
    screen: Arc<Mutex<Box<dyn CaptureSource>>>,
    streams: Mutex<HashMap<u64, StreamWork>>,
    shows: Box<dyn SessionDisplay>,
    shown: Mutex<Notice>,
    student: Student,
    display: String,
    input: InputQueue,
    /// The broadcast shown (R7): its picture so far, while there is one.
    broadcast: Mutex<Option<FrameDecoder>>,
    /// The student's files (R6), written and read as the student.
    files: file_worker::FileWorker,
}

/// The most files opened for the student after one send (R6).
const OPEN_AT_MOST: usize = 10;

/// What one screen stream keeps between captures.
struct StreamWork {
    encoder: TileEncoder,
    scaler: Scaler,
    /// The source's change counter at the last capture, if it keeps one.
    last_change: Option<u64>,
}

impl HelperCore {
    /// A helper for `screen` and `input` in the session on `display`.
    pub fn new(
        screen: Box<dyn CaptureSource>,
        input: Box<dyn InputDevice>,
        notice: Box<dyn SessionDisplay>,
        student: Student,
        display: String,
    ) -> Arc<Self> {
        let files = student.file_worker(notice.language());
        Arc::new(Self {
            screen: Arc::new(Mutex::new(screen)),
            streams: Mutex::default(),
            shows: notice,
            shown: Mutex::default(),
            files,
            student,
            display,
            input: InputQueue::start(input),
            broadcast: Mutex::default(),
        })
    }

    /// The display of the session this helper serves.
    pub fn display(&self) -> String {
        self.display.clone()
    }

    /// Begins one request of the service and returns its answer to come.
    /// Requests run side by side, except input (R3): it is queued here, at
    /// once, behind the input sent before it, so it is applied in order.
    pub fn start(
        self: &Arc<Self>,
        request: ToHelper,
    ) -> Pin<Box<dyn Future<Output = FromHelper> + Send>> {
        match request {
            ToHelper::Input(event) => {
                let applied = self.input.push(event);
                Box::pin(
                    async move { input_answer(applied.await).unwrap_or_else(FromHelper::Error) },
                )
            }
            other => {
                let core = self.clone();
                Box::pin(async move { core.handle(other).await })
            }
        }
    }

    /// Answers one request of the service.
    pub async fn handle(self: &Arc<Self>, request: ToHelper) -> FromHelper {
        let answer = match request {
            ToHelper::Hello { .. } => Ok(FromHelper::Done),
            ToHelper::Notice(notice) => {
                let core = self.clone();
                blocking(move || core.show(notice)).await
            }
            ToHelper::Capture {
                stream,
                settings,
                whole_picture,
            } => {
                let core = self.clone();
                blocking(move || core.capture(stream, settings, whole_picture)).await
            }
            ToHelper::EndStream { stream } => {
                self.streams().remove(&stream);
                Ok(FromHelper::Done)
            }
            ToHelper::Screenshot => {
                let core = self.clone();
                blocking(move || core.screenshot()).await
            }
            ToHelper::Monitors => {
                let core = self.clone();
                blocking(move || Ok(FromHelper::Monitors(core.monitors()))).await
            }
            ToHelper::OpenUrl { url } => self.student.open_url(&url).map(|()| FromHelper::Done),
            ToHelper::RunProgram { program, args } => self
                .student
                .run_program(&program, &args)
                .map(|()| FromHelper::Done),
            ToHelper::Message(message) => {
                let core = self.clone();
                blocking(move || {
                    core.shows
                        .message(&message)
                        .map(|()| FromHelper::Done)
                        .map_err(|error| {
                            ErrorReply::new(
                                ErrorCode::CannotNotify,
                                format!("the message could not be shown: {error}"),
                            )
                        })
                })
                .await
            }
            ToHelper::Lock(lock) => {
                let core = self.clone();
                blocking(move || {
                    core.shows
                        .lock(lock.as_ref())
                        .map(|()| FromHelper::Done)
                        .map_err(|error| {
                            ErrorReply::new(
                                ErrorCode::CannotNotify,
                                format!("the screen could not be locked: {error}"),
                            )
                        })
                })
                .await
            }
            ToHelper::Input(event) => input_answer(self.input.push(event).await),
            ToHelper::Broadcast(view) => {
                let core = self.clone();
                blocking(move || core.broadcast(view)).await
            }
            ToHelper::BroadcastPicture(update) => {
                let core = self.clone();
                blocking(move || core.broadcast_picture(update)).await
            }
            ToHelper::FilesEnd { batch, tell } => {
                let ended = self
                    .files
                    .call(ToHelper::FilesEnd { batch, tell: None })
                    .await;
                match tell {
                    Some(tell) => {
                        let core = self.clone();
                        blocking(move || core.tell_files(&tell)).await
                    }
                    None => Ok(ended),
                }
            }
            request @ (ToHelper::FilesBegin { .. }
            | ToHelper::FileChunk { .. }
            | ToHelper::FileEnd { .. }
            | ToHelper::FileAbort { .. }
            | ToHelper::CollectBegin { .. }
            | ToHelper::FileRead { .. }) => Ok(self.files.call(request).await),
        };
        answer.unwrap_or_else(FromHelper::Error)
    }

    fn show(&self, notice: Notice) -> Result<FromHelper, ErrorReply> {
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        match self.shows.show(&notice) {
            Ok(()) => {
                *shown = notice;
                Ok(FromHelper::NoticeShown)
            }
            Err(error) => {
                // Whatever is on the screen now, it is not a notice to rely on.
                *shown = Notice::default();
                Err(ErrorReply::new(
                    ErrorCode::CannotNotify,
                    format!("the student cannot be notified: {error}"),
                ))
            }
        }
    }

    /// No notice, no view (R1): the helper itself refuses to capture while
    /// it shows no notice, whatever the service asks.
    fn require_notice(&self) -> Result<(), ErrorReply> {
        if self
            .shown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_active()
        {
            Ok(())
        } else {
            Err(ErrorReply::new(
                ErrorCode::CannotNotify,
                "the student cannot be notified: no notice is shown, so the screen is not captured",
            ))
        }
    }

    fn capture(
        &self,
        stream: u64,
        settings: WatchSettings,
        whole_picture: bool,
    ) -> Result<FromHelper, ErrorReply> {
        self.require_notice()?;
        let mut work = self
            .streams()
            .remove(&stream)
            .unwrap_or_else(|| StreamWork {
                encoder: TileEncoder::new(settings.quality),
                scaler: Scaler::new(),
                last_change: None,
            });
        if whole_picture {
            work.encoder.reset();
            work.last_change = None;
        }
        work.encoder.set_quality(settings.quality);
        let result = self.capture_with(&mut work, settings);
        self.streams().insert(stream, work);
        result.map(FromHelper::Captured)
    }

    fn capture_with(
        &self,
        work: &mut StreamWork,
        settings: WatchSettings,
    ) -> Result<Option<CapturedFrame>, ErrorReply> {
        let mut screen = self.screen.lock().unwrap_or_else(|p| p.into_inner());
        let change = screen.change_counter();
        if change.is_some() && change == work.last_change {
            return Ok(None);
        }
        let area = settings
            .monitor
            .map_or(ScreenArea::Desktop, ScreenArea::Monitor);
        let frame = screen
            .capture(area)
            .map_err(|e| ErrorReply::new(ErrorCode::CaptureFailed, e.to_string()))?;
        drop(screen);
        work.last_change = change;
        let encoded = work.encoder.encode(work.scaler.fit(
            frame,
            settings.max_width,
            settings.max_height,
        ));
        Ok(Some(CapturedFrame {
            width: encoded.width,
            height: encoded.height,
            tiles: screen_tiles(encoded.tiles),
        }))
    }

    /// Shows or ends a broadcast; a new one starts from a black picture.
    fn broadcast(&self, view: Option<BroadcastView>) -> Result<FromHelper, ErrorReply> {
        if view.is_some() {
            self.require_notice()?; // R1: never a broadcast the notice does not name
        }
        let mut decoder = self.broadcast.lock().unwrap_or_else(|p| p.into_inner());
        *decoder = None;
        self.shows.broadcast(view.as_ref()).map_err(|error| {
            ErrorReply::new(
                ErrorCode::CannotNotify,
                format!("the broadcast could not be shown: {error}"),
            )
        })?;
        *decoder = view.map(|_| FrameDecoder::new());
        Ok(FromHelper::Done)
    }

    /// Decodes the broadcast's next picture and shows it; a picture that does
    /// not decode ends the broadcast (its images were all or nothing, its
    /// H.264 stream is broken until a keyframe, which the console would
    /// only send on its own schedule).
    fn broadcast_picture(&self, update: ScreenUpdate) -> Result<FromHelper, ErrorReply> {
        let mut guard = self.broadcast.lock().unwrap_or_else(|p| p.into_inner());
        let decoder = guard.as_mut().ok_or_else(|| {
            ErrorReply::new(ErrorCode::UnexpectedMessage, "no broadcast is shown")
        })?;
        let encoded = encoded_frame(update);
        let changed = changed_area(&encoded.tiles);
        let picture = decoder.apply(&encoded).map_err(|error| {
            ErrorReply::new(
                ErrorCode::Malformed,
                format!("the broadcast's picture does not decode: {error}"),
            )
        })?;
        let Some(changed) = changed else {
            return Ok(FromHelper::Done);
        };
        self.shows
            .broadcast_picture(picture, changed)
            .map(|()| FromHelper::Done)
            .map_err(|error| {
                ErrorReply::new(
                    ErrorCode::CannotNotify,
                    format!("the broadcast's picture could not be shown: {error}"),
                )
            })
    }

    /// Tells the student which files arrived or were collected (R6), and
    /// opens those that arrived if the teacher asked for it.
    fn tell_files(&self, tell: &FilesNotice) -> Result<FromHelper, ErrorReply> {
        let message = crate::notice_text::files_message(tell, self.shows.language());
        let told = self.shows.message(&message);
        // The student is told first; a worksheet or two open, not a thousand.
        if tell.open {
            for path in tell.files.iter().take(OPEN_AT_MOST) {
                let full = path
                    .split('/')
                    .fold(std::path::PathBuf::from(&tell.folder), |p, name| {
                        p.join(name)
                    });
                if let Err(error) = self.student.open_file(&full) {
                    tracing::warn!("could not open {}: {}", full.display(), error.message);
                }
            }
        }
        told.map(|()| FromHelper::Done).map_err(|error| {
            ErrorReply::new(
                ErrorCode::CannotNotify,
                format!("the student could not be told about the files: {error}"),
            )
        })
    }

    fn screenshot(&self) -> Result<FromHelper, ErrorReply> {
        self.require_notice()?;
        let frame = self
            .screen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .capture(ScreenArea::Desktop)
            .map_err(|e| ErrorReply::new(ErrorCode::CaptureFailed, e.to_string()))?;
        let png =
            encode_png(&frame).map_err(|e| ErrorReply::new(ErrorCode::Internal, e.to_string()))?;
        Ok(FromHelper::Screenshot(Screenshot {
            width: frame.width(),
            height: frame.height(),
            png,
        }))
    }

    fn monitors(&self) -> Vec<(u32, u32)> {
        self.screen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .monitors()
            .map(|m| m.iter().map(|m| (m.width, m.height)).collect())
            .unwrap_or_default()
    }

    fn streams(&self) -> std::sync::MutexGuard<'_, HashMap<u64, StreamWork>> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The smallest rectangle holding every tile; `None` without tiles.
fn changed_area(tiles: &[pult_screen::codec::EncodedTile]) -> Option<TileRect> {
    let first = tiles.first()?.rect;
    let (mut left, mut top) = (first.x, first.y);
    let (mut right, mut bottom) = (first.x + first.width, first.y + first.height);
    for tile in &tiles[1..] {
        left = left.min(tile.rect.x);
        top = top.min(tile.rect.y);
        right = right.max(tile.rect.x + tile.rect.width);
        bottom = bottom.max(tile.rect.y + tile.rect.height);
    }
    Some(TileRect {
        x: left,
        y: top,
        width: right - left,
        height: bottom - top,
    })
}

/// The answer to an input request, from what the input thread said.
fn input_answer(
    applied: Result<input::Applied, tokio::sync::oneshot::error::RecvError>,
) -> Result<FromHelper, ErrorReply> {
    match applied {
        Ok(Ok(None)) => Ok(FromHelper::Done),
        Ok(Ok(Some(text))) => Ok(FromHelper::Clipboard(text)),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(ErrorReply::new(
            ErrorCode::Internal,
            "the input thread ended",
        )),
    }
}

async fn blocking(
    work: impl FnOnce() -> Result<FromHelper, ErrorReply> + Send + 'static,
) -> Result<FromHelper, ErrorReply> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ErrorReply::new(ErrorCode::Internal, e.to_string()))?
}

/// The notice of an agent without a student's desktop (the demo classroom's
/// synthetic screens): written to the log and to standard output, where
/// scripts and tests read it.
pub struct LoggedNotice;

impl SessionDisplay for LoggedNotice {
    fn show(&self, notice: &Notice) -> Result<(), String> {
        let text = crate::notice_text::describe(notice, crate::notice_text::Language::English);
        tracing::info!("notice: {}", text.as_deref().unwrap_or("(none)"));
        Ok(())
    }

    fn message(&self, message: &TeacherMessage) -> Result<(), String> {
        tracing::info!(
            "message from {} (room {}): {}{}",
            message.teacher,
            message.room,
            message
                .title
                .as_deref()
                .map(|t| format!("{t}: "))
                .unwrap_or_default(),
            message.text
        );
        Ok(())
    }

    fn lock(&self, lock: Option<&LockScreen>) -> Result<(), String> {
        match lock {
            Some(lock) => tracing::info!(
                "locked by {} (room {}): {}",
                lock.teacher,
                lock.room,
                lock.message.as_deref().unwrap_or("")
            ),
            None => tracing::info!("unlocked"),
        }
        Ok(())
    }

    fn broadcast(&self, view: Option<&BroadcastView>) -> Result<(), String> {
        match view {
            Some(view) => tracing::info!(
                "broadcast by {} (room {}) shown, {}",
                view.teacher,
                view.room,
                view.mode
            ),
            None => tracing::info!("broadcast ended"),
        }
        Ok(())
    }

    fn broadcast_picture(&self, picture: &Frame, changed: TileRect) -> Result<(), String> {
        tracing::debug!(
            "broadcast picture {}x{}, changed {changed}",
            picture.width(),
            picture.height()
        );
        Ok(())
    }
}
