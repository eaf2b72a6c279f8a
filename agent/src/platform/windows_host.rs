//! Windows' helper host: the helper is this program (`pult-agent.exe
//! helper`), started with a SYSTEM token in the active console session on
//! `winsta0\default`, so it sees the student's desktop and the student can
//! neither end nor replace it. It connects back on a named pipe only SYSTEM
//! may open, under a name made afresh at every service start (so no student
//! can create it first and keep the service from starting); the service
//! accepts only the process it started (the pipe's client process id).
//!
//! The active session is followed from the service control manager's
//! session-change events and a look every few seconds.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use pult_agent_windows::process::{Process, RunAs, start_in_session};
use pult_agent_windows::{cmdline, pipe, session};
use tokio::net::windows::named_pipe::NamedPipeServer;
use tokio::sync::{Notify, watch};

use crate::link::HelperLink;
use crate::service::{HelperChild, SessionHost};

/// The start of the pipe's name; a random part follows.
const PIPE_PREFIX: &str = r"\\.\pipe\pult-agent-helper-";
/// How long a started helper has to connect.
const CONNECT_TIME: Duration = Duration::from_secs(10);
/// How often the sessions are looked at without an event.
const LOOK_EVERY: Duration = Duration::from_secs(3);

/// The session at the console and who is logged on there (R15).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowsSession {
    /// The session id.
    pub id: u32,
    /// The user logged on.
    pub user: String,
}

impl fmt::Display for WindowsSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in session {}", self.user, self.id)
    }
}

/// The console session with a user now, if any.
pub fn current_session() -> Option<WindowsSession> {
    let id = session::active_console_session()?;
    let user = session::user_name(id)?;
    Some(WindowsSession { id, user })
}

/// Follows the console session: looks again whenever `changed` is notified
/// (session-change events) and every few seconds.
pub fn follow(changed: Arc<Notify>) -> watch::Receiver<Option<WindowsSession>> {
    let (sender, receiver) = watch::channel(current_session());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = changed.notified() => {}
                () = tokio::time::sleep(LOOK_EVERY) => {}
                () = sender.closed() => return,
            }
            let now = current_session();
            sender.send_if_modified(|session| {
                let differs = *session != now;
                if differs {
                    tracing::info!("console session now: {now:?}");
                    *session = now;
                }
                differs
            });
        }
    });
    receiver
}

/// Starts helpers in the console session and accepts them on the pipe.
pub struct PipeHost {
    program: PathBuf,
    args: Vec<String>,
    /// The pipe's name, unguessable.
    name: String,
    /// The pipe instance the next helper connects to.
    waiting: Mutex<Option<NamedPipeServer>>,
}

impl PipeHost {
    /// Creates the pipe, under a random name nobody else has taken, for
    /// helpers started as `program helper ... args`.
    pub fn new(program: PathBuf, args: Vec<String>) -> Result<Self> {
        let mut tries = 0;
        let (name, first) = loop {
            let name = format!("{PIPE_PREFIX}{:016x}", random());
            // `first`: refused if some process created a pipe of that name.
            match pipe::server(&name, pipe::SYSTEM_ONLY, true) {
                Ok(first) => break (name, first),
                Err(error) if tries >= 5 => {
                    return Err(error)
                        .with_context(|| format!("could not create the helper pipe {name}"));
                }
                Err(_) => tries += 1,
            }
        };
        Ok(Self {
            program,
            args,
            name,
            waiting: Mutex::new(Some(first)),
        })
    }

    fn instance(&self) -> Result<NamedPipeServer> {
        pipe::server(&self.name, pipe::SYSTEM_ONLY, false)
            .with_context(|| format!("could not open the helper pipe {}", self.name))
    }

    fn take_instance(&self) -> Result<NamedPipeServer> {
        let waiting = self.waiting.lock().ok().and_then(|mut w| w.take());
        match waiting {
            Some(server) => Ok(server),
            None => self.instance(),
        }
    }
}

/// 64 random bits, from the operating system's randomness that std's hash
/// maps are seeded with (no extra dependency for one number per start).
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.as_nanos()),
    );
    hasher.finish()
}

impl SessionHost for PipeHost {
    type Session = WindowsSession;
    type Child = WindowsChild;

    fn start(&self, session: &WindowsSession) -> Result<WindowsChild> {
        let mut args = vec![
            "helper".to_owned(),
            "--pipe".to_owned(),
            self.name.clone(),
            "--session".to_owned(),
            session.id.to_string(),
        ];
        args.extend(self.args.iter().cloned());
        let line = cmdline::join(&self.program.to_string_lossy(), &args);
        let process = start_in_session(session.id, RunAs::System, &line, false)
            .with_context(|| format!("could not start {line}"))?;
        Ok(WindowsChild(Arc::new(process)))
    }

    async fn accept(&self, pid: Option<u32>) -> Result<HelperLink> {
        let deadline = tokio::time::Instant::now() + CONNECT_TIME;
        loop {
            let server = self.take_instance()?;
            tokio::time::timeout_at(deadline, server.connect())
                .await
                .context("no connection in time")??;
            let client = pipe::client_process_id(&server)?;
            if Some(client) != pid {
                tracing::warn!(
                    "refused a connection to the helper pipe: it is process {client}, not the helper {pid:?} the service started"
                );
                continue;
            }
            // The next helper (after a restart) gets a fresh instance.
            if let Ok(next) = self.instance()
                && let Ok(mut waiting) = self.waiting.lock()
            {
                *waiting = Some(next);
            }
            return HelperLink::over_stream(server)
                .await
                .map_err(anyhow::Error::msg);
        }
    }
}

/// A helper process on Windows; ended when dropped (a session change, the
/// service stopping), as Linux's helper is.
pub struct WindowsChild(Arc<Process>);

impl Drop for WindowsChild {
    fn drop(&mut self) {
        // Fails only for a process that has ended already.
        let _ = self.0.kill();
    }
}

impl HelperChild for WindowsChild {
    fn id(&self) -> Option<u32> {
        Some(self.0.id())
    }

    async fn wait(&mut self) -> String {
        let process = self.0.clone();
        match tokio::task::spawn_blocking(move || process.wait(None)).await {
            Ok(Ok(Some(code))) => format!("exit code {code}"),
            Ok(Ok(None)) => "still running".to_owned(),
            Ok(Err(error)) => error.to_string(),
            Err(error) => error.to_string(),
        }
    }

    async fn kill(&mut self) {
        if let Err(error) = self.0.kill() {
            tracing::debug!("could not end the helper: {error}");
        }
    }
}

/// The session id a helper was told to serve must be the one it runs in.
pub fn check_own_session(expected: u32) -> Result<()> {
    let own = pult_agent_windows::process::session_of(std::process::id())
        .context("cannot tell this process's session")?;
    if own != expected {
        bail!("the helper runs in session {own}, not in session {expected} it was started for");
    }
    Ok(())
}
