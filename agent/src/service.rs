//! The system service's part that is the same on every system: it follows
//! the active graphical session and keeps one session helper running in it,
//! connected to the service's [`Desktop`].
//!
//! How a helper is started in a session and how it connects back is the
//! system's ([`SessionHost`]): on Linux a root process with the session's
//! display on a Unix socket checked by peer credentials
//! (`platform::unix_host`), on Windows a process with a SYSTEM token in the
//! user's session on a named pipe only SYSTEM may open
//! (`platform::windows_host`). A helper that ends is started again after a
//! short pause; a session that ends takes its helper with it.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::sync::watch;

use crate::desktop::Desktop;
use crate::link::HelperLink;

/// Pause before a helper that ended is started again.
const RESTART_PAUSE: Duration = Duration::from_millis(200);
/// Pause after a helper could not be started at all.
const FAILED_START_PAUSE: Duration = Duration::from_secs(2);

/// How helpers are started in a session and accepted, on one system.
pub trait SessionHost: Send + Sync + 'static {
    /// A graphical session a helper can run in; shown as "user on display".
    type Session: Clone + Display + Send + Sync + 'static;
    /// A started helper process.
    type Child: HelperChild;

    /// Starts a helper in `session`.
    fn start(&self, session: &Self::Session) -> Result<Self::Child>;

    /// Waits for the helper with process id `pid` to connect; anyone else
    /// who connects is turned away (and logged).
    fn accept(&self, pid: Option<u32>) -> impl Future<Output = Result<HelperLink>> + Send;
}

/// A helper process the service started.
pub trait HelperChild: Send {
    /// Its process id.
    fn id(&self) -> Option<u32>;
    /// Resolves when it has ended, saying how.
    fn wait(&mut self) -> impl Future<Output = String> + Send;
    /// Ends it.
    fn kill(&mut self) -> impl Future<Output = ()> + Send;
}

/// Keeps one helper running in the active session, connected to `desktop`,
/// for as long as the service runs.
pub async fn supervise<H: SessionHost>(
    mut sessions: watch::Receiver<Option<H::Session>>,
    host: H,
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
            () = run_helper(&host, &session, &desktop) => {
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
async fn next_change<S>(sessions: &mut watch::Receiver<Option<S>>) {
    if sessions.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Starts one helper in `session` and serves it until it ends.
async fn run_helper<H: SessionHost>(host: &H, session: &H::Session, desktop: &Desktop) {
    let mut child = match host.start(session) {
        Ok(child) => child,
        Err(error) => {
            tracing::error!("could not start the session helper: {error:#}");
            tokio::time::sleep(FAILED_START_PAUSE).await;
            return;
        }
    };
    let pid = child.id();
    // A stable line on stdout, for tests and the benchmark.
    println!(
        "helper started: pid {} for {session}",
        pid.unwrap_or_default()
    );
    let link = tokio::select! {
        accepted = host.accept(pid) => accepted,
        ended = child.wait() => {
            tracing::warn!("the session helper ended before it connected: {ended}");
            return;
        }
    };
    let link = match link {
        Ok(link) => link,
        Err(error) => {
            tracing::error!("the session helper did not connect: {error:#}");
            child.kill().await;
            return;
        }
    };
    tracing::info!("session helper {pid:?} serves {session}");
    desktop.connect(link.clone());
    tokio::select! {
        ended = child.wait() => {
            tracing::warn!("the session helper ended: {ended}; starting it again");
        }
        () = link.closed() => {
            tracing::warn!("the session helper closed its channel; starting it again");
        }
    }
    link.close();
    desktop.disconnect();
    child.kill().await;
}
