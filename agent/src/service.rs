//! The system service (`pult-agent service`, root under systemd): owns the
//! QUIC endpoint, the key, the room rule, the audit log and every decision;
//! follows the active graphical session and keeps one session helper
//! running in it.
//!
//! The helper is this program (`pult-agent helper`), started as root with
//! the session's display and environment, so the student can neither end
//! nor replace it. It connects back over a Unix socket in a directory only
//! root may enter; the service accepts only the process it started (peer
//! credentials: uid 0 and that process id). A helper that ends is started
//! again at once; a session that ends takes its helper with it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::net::{UnixListener, UnixStream};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::desktop::Desktop;
use crate::link::HelperLink;
use crate::sessions::GraphicalSession;

/// The socket's name in the runtime directory.
pub const SOCKET_NAME: &str = "helper.sock";
/// How long a started helper has to connect.
const CONNECT_TIME: Duration = Duration::from_secs(10);
/// Pause before a helper that ended is started again.
const RESTART_PAUSE: Duration = Duration::from_millis(200);

/// Opens the helpers' socket in `runtime_dir` (created 0700, root's).
pub fn listen(runtime_dir: &Path) -> Result<(UnixListener, PathBuf)> {
    std::fs::create_dir_all(runtime_dir)
        .with_context(|| format!("could not create {}", runtime_dir.display()))?;
    std::fs::set_permissions(runtime_dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("could not restrict {}", runtime_dir.display()))?;
    let socket = runtime_dir.join(SOCKET_NAME);
    match std::fs::remove_file(&socket) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error).context(format!("could not remove {}", socket.display())),
    }
    let listener = UnixListener::bind(&socket)
        .with_context(|| format!("could not listen on {}", socket.display()))?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))?;
    Ok((listener, socket))
}

/// How helpers are started.
#[derive(Clone, Debug)]
pub struct HelperCommand {
    /// The program (this one).
    pub program: PathBuf,
    /// Arguments after `helper --socket PATH`.
    pub args: Vec<String>,
}

/// Keeps one helper running in the active session, connected to `desktop`,
/// for as long as the service runs.
pub async fn supervise(
    mut sessions: watch::Receiver<Option<GraphicalSession>>,
    listener: UnixListener,
    socket: PathBuf,
    command: HelperCommand,
    desktop: Arc<Desktop>,
) {
    loop {
        let session = sessions.borrow_and_update().clone();
        let Some(session) = session else {
            desktop.disconnect();
            tracing::info!("no graphical session: no helper runs");
            next_change(&mut sessions).await;
            continue;
        };
        tokio::select! {
            () = run_helper(&session, &listener, &socket, &command, &desktop) => {
                tokio::time::sleep(RESTART_PAUSE).await;
            }
            () = next_change(&mut sessions) => {
                tracing::info!("the active session changed; its helper is ended");
            }
        }
        desktop.disconnect();
    }
}

/// Resolves when the active session changes; never, for a source that
/// has stopped following (a fixed session).
async fn next_change(sessions: &mut watch::Receiver<Option<GraphicalSession>>) {
    if sessions.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Starts one helper in `session` and serves it until it ends.
async fn run_helper(
    session: &GraphicalSession,
    listener: &UnixListener,
    socket: &Path,
    command: &HelperCommand,
    desktop: &Desktop,
) {
    let mut child = match start(session, socket, command) {
        Ok(child) => child,
        Err(error) => {
            tracing::error!("could not start the session helper: {error:#}");
            tokio::time::sleep(Duration::from_secs(2)).await;
            return;
        }
    };
    let pid = child.id();
    println!(
        "helper started: pid {} for {} on {}",
        pid.unwrap_or_default(),
        session.user,
        session.display
    );
    let link = tokio::select! {
        accepted = accept(listener, pid) => accepted,
        status = child.wait() => {
            tracing::warn!("the session helper ended before it connected: {status:?}");
            return;
        }
    };
    let link = match link {
        Ok(link) => link,
        Err(error) => {
            tracing::error!("the session helper did not connect: {error:#}");
            let _ = child.kill().await;
            return;
        }
    };
    tracing::info!(
        "session helper {pid:?} serves {} on {}",
        session.user,
        link.display()
    );
    desktop.connect(link.clone());
    tokio::select! {
        status = child.wait() => {
            tracing::warn!("the session helper ended: {status:?}; starting it again");
        }
        () = link.closed() => {
            tracing::warn!("the session helper closed its channel; starting it again");
        }
    }
    link.close();
    desktop.disconnect();
    let _ = child.kill().await;
}

fn start(session: &GraphicalSession, socket: &Path, command: &HelperCommand) -> Result<Child> {
    let environment = session.environment();
    let mut process = Command::new(&command.program);
    process
        .arg("helper")
        .arg("--socket")
        .arg(socket)
        .arg("--uid")
        .arg(session.identity.uid.to_string())
        .arg("--gid")
        .arg(session.identity.gid.to_string())
        .args(&command.args)
        .env_clear()
        .envs(environment.iter().map(|(k, v)| (k, v)))
        // The service's log collects what the helper says.
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_default())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    process
        .spawn()
        .with_context(|| format!("could not run {}", command.program.display()))
}

/// Accepts the helper with process id `pid`; any other peer is turned away.
async fn accept(listener: &UnixListener, pid: Option<u32>) -> Result<HelperLink> {
    let deadline = tokio::time::Instant::now() + CONNECT_TIME;
    loop {
        let (stream, _) = tokio::time::timeout_at(deadline, listener.accept())
            .await
            .context("no connection in time")??;
        match check_peer(&stream, pid) {
            Ok(()) => {
                return HelperLink::over_stream(stream)
                    .await
                    .map_err(anyhow::Error::msg);
            }
            Err(error) => tracing::warn!("refused a connection to the helper socket: {error}"),
        }
    }
}

fn check_peer(stream: &UnixStream, pid: Option<u32>) -> Result<()> {
    let credentials = stream.peer_cred()?;
    let own = own_uid()?;
    if credentials.uid() != own {
        bail!(
            "it runs as uid {}, not as the service (uid {own})",
            credentials.uid()
        );
    }
    let peer = credentials.pid().and_then(|p| u32::try_from(p).ok());
    if peer.is_none() || peer != pid {
        bail!("it is process {peer:?}, not the helper {pid:?} the service started");
    }
    Ok(())
}

/// The user this process runs as (root for an installed service).
pub fn own_uid() -> Result<u32> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata("/proc/self")
        .context("cannot read /proc/self")?
        .uid())
}
