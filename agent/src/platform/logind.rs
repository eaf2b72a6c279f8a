//! Which graphical session is active on this computer, followed as it
//! changes: log-on, log-off, user switching (logind), or one configured
//! session (a kiosk, a computer without logind, the tests).
//!
//! The session's environment — display authority, D-Bus session bus,
//! language — is read from the processes the student runs on that display,
//! as the session itself knows it.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use tokio::sync::watch;

use pult_protocol::power::PowerAction;

use crate::helper::student::Identity;

/// How often the session is looked at again, whatever the signals say.
const RECHECK: Duration = Duration::from_secs(5);

/// The active graphical session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphicalSession {
    /// logind's session id (or "fixed").
    pub id: String,
    /// The user's name (R15).
    pub user: String,
    /// The user's ids.
    pub identity: Identity,
    /// The user's home directory.
    pub home: String,
    /// The X display, `:0`.
    pub display: String,
}

impl std::fmt::Display for GraphicalSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {}", self.user, self.display)
    }
}

impl GraphicalSession {
    /// The environment for the session's helper and for what the student
    /// starts: fixed values, and what the student's own processes on this
    /// display carry (XAUTHORITY, DBUS_SESSION_BUS_ADDRESS, LANG, ...).
    pub fn environment(&self) -> Vec<(String, String)> {
        let mut environment = vec![
            ("DISPLAY".to_owned(), self.display.clone()),
            ("HOME".to_owned(), self.home.clone()),
            ("USER".to_owned(), self.user.clone()),
            ("LOGNAME".to_owned(), self.user.clone()),
            (
                "PATH".to_owned(),
                "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games".to_owned(),
            ),
        ];
        let runtime = format!("/run/user/{}", self.identity.uid);
        if Path::new(&runtime).is_dir() {
            environment.push(("XDG_RUNTIME_DIR".to_owned(), runtime.clone()));
            if Path::new(&runtime).join("bus").exists() {
                environment.push((
                    "DBUS_SESSION_BUS_ADDRESS".to_owned(),
                    format!("unix:path={runtime}/bus"),
                ));
            }
        }
        for (key, value) in self.processes_environment() {
            match environment.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = value,
                None => environment.push((key, value)),
            }
        }
        environment
    }

    /// What a process of the user on this display has in its environment,
    /// of the names that matter for the session. A process of logind's
    /// session itself (its cgroup scope) wins over others of the user on
    /// the display: an earlier session's leftovers on a display number used
    /// again must not lend this one their bus or language.
    fn processes_environment(&self) -> Vec<(String, String)> {
        const WANTED: [&str; 8] = [
            "XAUTHORITY",
            "DBUS_SESSION_BUS_ADDRESS",
            "XDG_RUNTIME_DIR",
            "LANG",
            "LANGUAGE",
            "LC_ALL",
            "LC_MESSAGES",
            "PATH",
        ];
        let Ok(processes) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut best: (bool, Vec<(String, String)>) = (false, Vec::new());
        for process in processes.flatten() {
            let path = process.path();
            let owned = std::fs::metadata(&path)
                .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == self.identity.uid)
                .unwrap_or(false);
            if !owned {
                continue;
            }
            let Ok(bytes) = std::fs::read(path.join("environ")) else {
                continue;
            };
            let variables: Vec<(String, String)> = bytes
                .split(|&b| b == 0)
                .filter_map(|entry| {
                    let entry = std::str::from_utf8(entry).ok()?;
                    let (key, value) = entry.split_once('=')?;
                    Some((key.to_owned(), value.to_owned()))
                })
                .collect();
            let on_display = variables
                .iter()
                .any(|(k, v)| k == "DISPLAY" && *v == self.display);
            if !on_display {
                continue;
            }
            let found: Vec<(String, String)> = variables
                .into_iter()
                .filter(|(k, _)| WANTED.contains(&k.as_str()))
                .collect();
            let in_session = std::fs::read_to_string(path.join("cgroup"))
                .is_ok_and(|cgroup| in_logind_session(&cgroup, &self.id));
            // A process of the session first; then the one that knows the
            // most of it.
            if (in_session, found.len()) > (best.0, best.1.len()) {
                best = (in_session, found);
            }
        }
        best.1
    }
}

/// Whether a process with `cgroup` (the text of /proc/PID/cgroup) belongs
/// to logind's session `id`: systemd puts a session's processes into
/// `session-ID.scope`.
fn in_logind_session(cgroup: &str, id: &str) -> bool {
    let scope = format!("/session-{id}.scope");
    cgroup
        .lines()
        .filter_map(|line| line.rsplit_once(':'))
        .any(|(_, path)| path.ends_with(&scope) || path.contains(&format!("{scope}/")))
}

/// Where the active session comes from.
#[derive(Clone, Debug)]
pub enum SessionSource {
    /// logind on the system bus.
    Logind,
    /// One user's session on one display, always active.
    Fixed {
        /// The user.
        user: String,
        /// The display.
        display: String,
    },
}

/// Follows the active session from `source`; `None` while nobody is logged on.
pub async fn follow(source: SessionSource) -> Result<watch::Receiver<Option<GraphicalSession>>> {
    match source {
        SessionSource::Fixed { user, display } => {
            let (identity, home) = lookup_user(&user)?;
            let session = GraphicalSession {
                id: "fixed".into(),
                user,
                identity,
                home,
                display,
            };
            Ok(watch::channel(Some(session)).1)
        }
        SessionSource::Logind => {
            let bus = zbus::Connection::system()
                .await
                .context("cannot reach the system bus to ask logind for sessions")?;
            let first = active_session(&bus).await?;
            let (sender, receiver) = watch::channel(first);
            tokio::spawn(follow_logind(bus, sender));
            Ok(receiver)
        }
    }
}

/// The user's ids and home from the system's user database (NSS, so
/// directory users count too).
pub fn lookup_user(user: &str) -> Result<(Identity, String)> {
    let output = Command::new("getent")
        .args(["passwd", user])
        .output()
        .context("could not run getent")?;
    if !output.status.success() {
        bail!("there is no user '{user}' on this computer");
    }
    let line = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<&str> = line.trim_end().split(':').collect();
    let (Some(uid), Some(gid), Some(home)) = (
        fields.get(2).and_then(|v| v.parse().ok()),
        fields.get(3).and_then(|v| v.parse().ok()),
        fields.get(5),
    ) else {
        bail!("getent gave no usable entry for '{user}': {line}");
    };
    Ok((Identity { uid, gid }, (*home).to_owned()))
}

const LOGIN1: &str = "org.freedesktop.login1";

/// Watches logind's signals (sessions new and removed, the seat's active
/// session, a session's Active property) and looks again at each, and every
/// few seconds.
async fn follow_logind(bus: zbus::Connection, sender: watch::Sender<Option<GraphicalSession>>) {
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender(LOGIN1)
        .map(zbus::match_rule::Builder::build);
    let mut signals = match rule {
        Ok(rule) => zbus::MessageStream::for_match_rule(rule, &bus, Some(64))
            .await
            .ok(),
        Err(_) => None,
    };
    loop {
        let signal = async {
            match signals.as_mut() {
                Some(stream) => {
                    stream.next().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = signal => {}
            () = tokio::time::sleep(RECHECK) => {}
        }
        match active_session(&bus).await {
            Ok(session) => {
                sender.send_if_modified(|current| {
                    let changed = *current != session;
                    *current = session.clone();
                    changed
                });
            }
            Err(error) => tracing::warn!("could not ask logind for the active session: {error:#}"),
        }
        if sender.is_closed() {
            return;
        }
    }
}

/// The active, local X11 session of a user, if any.
pub async fn active_session(bus: &zbus::Connection) -> Result<Option<GraphicalSession>> {
    let manager = zbus::Proxy::new(
        bus,
        LOGIN1,
        "/org/freedesktop/login1",
        "org.freedesktop.login1.Manager",
    )
    .await?;
    type Listed = (String, u32, String, String, zbus::zvariant::OwnedObjectPath);
    let sessions: Vec<Listed> = manager.call("ListSessions", &()).await?;
    for (id, uid, user, _seat, path) in sessions {
        let session = zbus::Proxy::new(bus, LOGIN1, path, "org.freedesktop.login1.Session").await?;
        let active: bool = session.get_property("Active").await.unwrap_or(false);
        let remote: bool = session.get_property("Remote").await.unwrap_or(true);
        let class: String = session.get_property("Class").await.unwrap_or_default();
        let kind: String = session.get_property("Type").await.unwrap_or_default();
        let display: String = session.get_property("Display").await.unwrap_or_default();
        if !active || remote || class != "user" {
            continue;
        }
        if kind != "x11" || display.is_empty() {
            tracing::info!("session {id} of {user} is {kind}, not X11: it cannot be served yet");
            continue;
        }
        let (identity, home) = lookup_user(&user)?;
        if identity.uid != uid {
            bail!(
                "logind says {user} is uid {uid}, the user database {}",
                identity.uid
            );
        }
        return Ok(Some(GraphicalSession {
            id,
            user,
            identity,
            home,
            display,
        }));
    }
    Ok(None)
}

/// Restarts, shuts down or logs off through logind: as root, without
/// asking anyone (the teacher decided, the student was told).
pub async fn power(action: PowerAction) -> Result<(), String> {
    let bus = zbus::Connection::system()
        .await
        .map_err(|e| format!("cannot reach logind on the system bus: {e}"))?;
    let manager = zbus::Proxy::new(
        &bus,
        "org.freedesktop.login1",
        "/org/freedesktop/login1",
        "org.freedesktop.login1.Manager",
    )
    .await
    .map_err(|e| e.to_string())?;
    let called = match action {
        PowerAction::Reboot => manager.call_method("Reboot", &(false,)).await,
        PowerAction::Shutdown => manager.call_method("PowerOff", &(false,)).await,
        PowerAction::Logoff => {
            let session = active_session(&bus)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("nobody is logged on")?;
            manager
                .call_method("TerminateSession", &(session.id.as_str(),))
                .await
        }
    };
    called
        .map(|_| ())
        .map_err(|e| format!("logind refused to {action}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::in_logind_session;

    #[test]
    fn a_process_belongs_to_the_session_whose_scope_holds_it() {
        let v2 = "0::/user.slice/user-1000.slice/session-3.scope\n";
        assert!(in_logind_session(v2, "3"));
        assert!(!in_logind_session(v2, "31"));
        assert!(!in_logind_session(v2, "c3"));
        // cgroup v1 lists one line per hierarchy.
        let v1 = "12:pids:/user.slice/user-1000.slice/session-c2.scope\n\
                  1:name=systemd:/user.slice/user-1000.slice/session-c2.scope/sub\n";
        assert!(in_logind_session(v1, "c2"));
        // A user service outside the session, and a session named "fixed"
        // (no logind) that no scope holds.
        let service = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/dunst.service\n";
        assert!(!in_logind_session(service, "3"));
        assert!(!in_logind_session(v2, "fixed"));
    }
}
