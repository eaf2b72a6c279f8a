//! Where the helper's file work runs (R6): in a process of the student's
//! own when the helper is root, so every file is written and read with the
//! student's rights and owned by them; in the helper itself when the helper
//! is the student already.
//!
//! The process (`pult-agent file-worker`) reads the helper's file requests
//! on standard input and answers each on standard output, in local-channel
//! frames, one at a time. It is started on first use and again after it
//! died; when the helper goes, its input ends, and it ends too, removing
//! whatever it had not finished.

use std::sync::{Arc, Mutex};

use pult_protocol::frame::{read_message, write_message};
use pult_protocol::local::{FromHelper, HelperMessage, ServiceMessage, ToHelper};
use pult_protocol::message::{ErrorCode, ErrorReply};
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::files::{FileWork, Folders};

/// The helper's way to the student's files.
pub enum FileWorker {
    /// In the helper's own process.
    Here(Arc<Mutex<FileWork>>),
    /// In a process of the student's, started by `command`.
    Process {
        /// Makes the command that starts the worker.
        command: Box<dyn Fn() -> tokio::process::Command + Send + Sync>,
        /// The worker running now, if any.
        running: tokio::sync::Mutex<Option<Box<Worker>>>,
    },
    /// On Windows: in the helper's threads, each request impersonating the
    /// student logged on in the session (the helper is SYSTEM).
    #[cfg(windows)]
    AsUser {
        /// The session.
        session: u32,
        /// The student's token and their file work, once asked for.
        work: Arc<Mutex<Option<StudentWork>>>,
        /// The folders the admin configured.
        folders: Folders,
        /// The session's language.
        language: crate::notice_text::Language,
    },
}

/// The student's token and the file work done as them.
#[cfg(windows)]
pub struct StudentWork {
    user: pult_agent_windows::user::SessionUser,
    work: FileWork,
}

/// A running worker process and its pipes.
pub struct Worker {
    child: Child,
    input: ChildStdin,
    output: ChildStdout,
    /// The number of the next request; answers carry it back.
    next_id: u64,
}

impl FileWorker {
    /// Work done in this process, which is the student's.
    pub fn here(folders: Folders) -> Self {
        Self::Here(Arc::new(Mutex::new(FileWork::new(folders))))
    }

    /// Answers one file request.
    pub async fn call(&self, request: ToHelper) -> FromHelper {
        match self {
            Self::Here(work) => {
                let work = work.clone();
                tokio::task::spawn_blocking(move || {
                    work.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .handle(request)
                })
                .await
                .unwrap_or_else(|e| FromHelper::Error(internal(&e.to_string())))
            }
            Self::Process { command, running } => {
                let mut running = running.lock().await;
                if running.is_none() {
                    match start(command()) {
                        Ok(worker) => *running = Some(Box::new(worker)),
                        Err(error) => {
                            return FromHelper::Error(internal(&format!(
                                "the student's file worker could not be started: {error}"
                            )));
                        }
                    }
                }
                let Some(worker) = running.as_mut() else {
                    return FromHelper::Error(internal("no file worker"));
                };
                match ask(worker, request).await {
                    Ok(answer) => answer,
                    Err(error) => {
                        // Whatever it held is gone with it; the next batch starts one anew.
                        if let Some(mut worker) = running.take() {
                            let _ = worker.child.start_kill();
                        }
                        FromHelper::Error(internal(&format!(
                            "the student's file worker failed: {error}"
                        )))
                    }
                }
            }
            #[cfg(windows)]
            Self::AsUser {
                session,
                work,
                folders,
                language,
            } => {
                let (session, work, folders, language) =
                    (*session, work.clone(), folders.clone(), *language);
                tokio::task::spawn_blocking(move || {
                    let mut work = work.lock().unwrap_or_else(|p| p.into_inner());
                    if work.is_none() {
                        let user = match pult_agent_windows::user::SessionUser::of(session) {
                            Ok(user) => user,
                            Err(error) => {
                                return FromHelper::Error(internal(&format!(
                                    "the student's files cannot be reached: who is logged on in session {session} is unknown ({error})"
                                )));
                            }
                        };
                        let (home, desktop) = (user.profile().ok(), user.desktop().ok());
                        *work = Some(StudentWork {
                            user,
                            work: FileWork::in_places(folders, language, home, desktop),
                        });
                    }
                    let Some(StudentWork { user, work }) = work.as_mut() else {
                        return FromHelper::Error(internal("no file work"));
                    };
                    user.act(|| work.handle(request)).unwrap_or_else(|error| {
                        FromHelper::Error(internal(&format!(
                            "the student's identity could not be taken on: {error}"
                        )))
                    })
                })
                .await
                .unwrap_or_else(|e| FromHelper::Error(internal(&e.to_string())))
            }
        }
    }

    /// On Windows: file work as the student of `session`.
    #[cfg(windows)]
    pub fn as_session_user(
        session: u32,
        folders: Folders,
        language: crate::notice_text::Language,
    ) -> Self {
        Self::AsUser {
            session,
            work: Arc::default(),
            folders,
            language,
        }
    }
}

fn internal(message: &str) -> ErrorReply {
    ErrorReply::new(ErrorCode::Internal, message.to_owned())
}

fn start(mut command: tokio::process::Command) -> std::io::Result<Worker> {
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(std::io::Error::other("the worker has no pipes"));
    };
    Ok(Worker {
        child,
        input,
        output,
        next_id: 1,
    })
}

/// Sends one request and reads its answer, which must carry the request's
/// number: an answer to another means the worker is confused, and it is
/// given up (the caller kills it; the next request starts a new one).
async fn ask(worker: &mut Worker, body: ToHelper) -> anyhow::Result<FromHelper> {
    let id = worker.next_id;
    worker.next_id += 1;
    write_message(&mut worker.input, &ServiceMessage { id, body }).await?;
    match read_message::<HelperMessage>(&mut worker.output).await? {
        Some(answer) if answer.id == id => Ok(answer.body),
        Some(answer) => anyhow::bail!("it answered request {} when {id} was asked", answer.id),
        None => anyhow::bail!("it ended"),
    }
}

/// The worker process: answers file requests on standard input until it
/// ends; unfinished files are removed on the way out.
pub fn run(folders: Folders) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut input = tokio::io::stdin();
        let mut output = tokio::io::stdout();
        let mut work = FileWork::new(folders);
        while let Some(request) = read_message::<ServiceMessage>(&mut input).await? {
            let body = work.handle(request.body);
            write_message(
                &mut output,
                &HelperMessage {
                    id: request.id,
                    body,
                },
            )
            .await?;
            tokio::io::AsyncWriteExt::flush(&mut output).await?;
        }
        Ok(())
    })
}
