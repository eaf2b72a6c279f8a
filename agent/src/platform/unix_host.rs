//! Linux's helper host: the helper is this program (`pult-agent helper`),
//! started as root with the session's display and environment, so the
//! student can neither end nor replace it. It connects back over a Unix
//! socket in a directory only root may enter; the service accepts only the
//! process it started (peer credentials: the service's uid and that pid).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::net::{UnixListener, UnixStream};
use tokio::process::{Child, Command};

use crate::link::HelperLink;
use crate::platform::logind::GraphicalSession;
use crate::service::{HelperChild, SessionHost};

/// The socket's name in the runtime directory.
pub const SOCKET_NAME: &str = "helper.sock";
/// How long a started helper has to connect.
const CONNECT_TIME: Duration = Duration::from_secs(10);

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

/// Starts helpers as root in logind's (or a fixed) session.
pub struct UnixHost {
    listener: UnixListener,
    socket: PathBuf,
    command: HelperCommand,
}

impl UnixHost {
    /// Listens in `runtime_dir` (see [`listen`]) for helpers started with `command`.
    pub fn new(runtime_dir: &Path, command: HelperCommand) -> Result<Self> {
        let (listener, socket) = listen(runtime_dir)?;
        Ok(Self {
            listener,
            socket,
            command,
        })
    }
}

impl SessionHost for UnixHost {
    type Session = GraphicalSession;
    type Child = Child;

    fn start(&self, session: &GraphicalSession) -> Result<Child> {
        start(session, &self.socket, &self.command)
    }

    async fn accept(&self, pid: Option<u32>) -> Result<HelperLink> {
        accept(&self.listener, pid).await
    }
}

impl HelperChild for Child {
    fn id(&self) -> Option<u32> {
        Child::id(self)
    }

    async fn wait(&mut self) -> String {
        match Child::wait(self).await {
            Ok(status) => status.to_string(),
            Err(error) => error.to_string(),
        }
    }

    async fn kill(&mut self) {
        let _ = Child::kill(self).await;
    }
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
