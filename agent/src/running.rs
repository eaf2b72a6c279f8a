//! Starting an agent: from its command line, or embedded in another program
//! (the demo classroom runs its agents in the app's own process).

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::announce::{Announcement, announce};
use crate::audit::{AuditLog, RETENTION};
use crate::bundle::Bundle;
use crate::desktop::Desktop;
use crate::serve::{Agent, serve};

/// Where the agent listens.
pub enum Listen {
    /// Bind this address.
    Address(SocketAddr),
    /// Use this socket, already bound (so its port is known before the agent starts).
    Socket(UdpSocket),
}

/// Everything an agent needs to start.
pub struct AgentSetup {
    /// The loaded agent bundle.
    pub bundle: Bundle,
    /// Where to listen.
    pub listen: Listen,
    /// The student's desktop: a helper joined in memory, or the session
    /// helpers the service starts.
    pub desktop: Arc<Desktop>,
    /// Where the audit log goes.
    pub audit_dir: PathBuf,
    /// Who is logged on (R15), as it changes.
    pub session_user: watch::Receiver<Option<String>>,
    /// Announce the agent by mDNS (never for a loopback address).
    pub mdns: bool,
    /// Who restarts, shuts down and logs off, and where magic packets go.
    pub power: Arc<crate::power::PowerPlan>,
}

/// A running agent; it stops when dropped.
pub struct RunningAgent {
    endpoint: quinn::Endpoint,
    agent: Arc<Agent>,
    local: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
    _announcement: Option<Announcement>,
}

impl RunningAgent {
    /// Starts serving on the current tokio runtime.
    pub fn start(setup: AgentSetup) -> Result<Self> {
        let audit = AuditLog::open(&setup.audit_dir, RETENTION).with_context(|| {
            format!(
                "could not open the audit log in {}",
                setup.audit_dir.display()
            )
        })?;
        let endpoint = match setup.listen {
            Listen::Address(address) => setup.bundle.tls.endpoint(address)?,
            Listen::Socket(socket) => setup.bundle.tls.endpoint_on(socket)?,
        };
        let local = endpoint.local_addr()?;
        let agent = Arc::new(Agent {
            tls: setup.bundle.tls,
            desktop: setup.desktop,
            audit,
            session_user: setup.session_user,
            power: setup.power,
        });
        let announcement = if setup.mdns {
            announce(&setup.bundle.manifest, local).unwrap_or_else(|error| {
                tracing::warn!("could not announce the agent by mDNS: {error}");
                None
            })
        } else {
            None
        };
        let tasks = vec![
            tokio::spawn(serve(endpoint.clone(), agent.clone())),
            tokio::spawn(expire_hourly(agent.clone())),
            tokio::spawn(flush_audit(agent.clone())),
        ];
        Ok(Self {
            endpoint,
            agent,
            local,
            tasks,
            _announcement: announcement,
        })
    }

    /// The address the agent listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The student's desktop this agent serves.
    pub fn desktop(&self) -> Arc<Desktop> {
        self.agent.desktop.clone()
    }

    /// Stops serving: every console is told, then the endpoint closes.
    pub async fn stop(self) {
        self.endpoint.close(0u32.into(), b"agent stopping");
        self.endpoint.wait_idle().await;
        self.agent.audit.flush_all();
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        self.endpoint.close(0u32.into(), b"agent stopping");
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn expire_hourly(agent: Arc<Agent>) {
    let mut interval = tokio::time::interval(Duration::from_secs(3600));
    loop {
        interval.tick().await;
        if let Err(error) = agent.audit.expire() {
            tracing::error!(
                "could not expire old audit files in {}: {error}",
                agent.audit.dir().display()
            );
        }
    }
}

/// Writes the audit log's summing lines (refusals per source, refusals over
/// the size cap) soon after their minute ends.
async fn flush_audit(agent: Arc<Agent>) {
    let mut interval = tokio::time::interval(Duration::from_secs(10));
    loop {
        interval.tick().await;
        agent.audit.flush();
    }
}
