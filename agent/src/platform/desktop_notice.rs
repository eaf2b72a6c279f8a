//! The notice (R1) on a Linux desktop: the bar the helper draws itself on
//! every monitor ([`Indicator`]), and the notification and tray icon of the
//! student's D-Bus session ([`super::bridge`], run as the student).
//!
//! Only the bar decides whether the notice is shown: it needs nothing of the
//! desktop, and the student cannot end it. The bridge is best effort.

use std::io::Write;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pult_protocol::local::{BroadcastView, LockScreen as Lock, Notice, TeacherMessage};
use pult_screen::Frame;
use pult_screen::codec::TileRect;

use super::broadcast_view::BroadcastScreen;
use super::indicator::Indicator;
use super::lock_screen::LockScreen;
use super::x11_ui::Fonts;
use crate::helper::SessionDisplay;
use crate::helper::student::Identity;
use crate::notice_text::{Language, describe, title};

/// The notice on the session's X display and D-Bus session bus.
pub struct DesktopNotice {
    indicator: Indicator,
    lock: LockScreen,
    broadcast: BroadcastScreen,
    display: Option<String>,
    fonts: Arc<Fonts>,
    language: Language,
    bridge: Option<Bridge>,
}

impl DesktopNotice {
    /// The notice for the session whose environment is `environment`
    /// (DISPLAY, LANG, DBUS_SESSION_BUS_ADDRESS); the bridge runs as
    /// `identity` when the helper is another user.
    pub fn new(environment: &[(String, String)], identity: Option<Identity>) -> Self {
        let lookup = |name: &str| {
            environment
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        let language = Language::from_environment(lookup);
        let bridge = lookup("DBUS_SESSION_BUS_ADDRESS")
            .map(|_| Bridge::start(environment.to_vec(), identity, title(language).to_owned()));
        if bridge.is_none() {
            tracing::info!("the session has no D-Bus session bus: the notice is the bar alone");
        }
        let fonts = Arc::new(Fonts::load());
        Self {
            indicator: Indicator::new(lookup("DISPLAY")),
            lock: LockScreen::new(lookup("DISPLAY"), language, fonts.clone()),
            broadcast: BroadcastScreen::new(lookup("DISPLAY"), language),
            display: lookup("DISPLAY"),
            fonts,
            language,
            bridge,
        }
    }
}

impl SessionDisplay for DesktopNotice {
    fn language(&self) -> Language {
        self.language
    }

    fn show(&self, notice: &Notice) -> Result<(), String> {
        let text = describe(notice, self.language);
        self.indicator.show(text.as_deref())?;
        if let Some(bridge) = &self.bridge {
            bridge.show(text);
        }
        Ok(())
    }

    fn message(&self, message: &TeacherMessage) -> Result<(), String> {
        super::message_window::show(self.display.as_deref(), self.language, &self.fonts, message)
    }

    fn lock(&self, lock: Option<&Lock>) -> Result<(), String> {
        self.lock.set(lock)
    }

    fn broadcast(&self, view: Option<&BroadcastView>) -> Result<(), String> {
        self.broadcast.set(view)
    }

    fn broadcast_picture(&self, picture: &Frame, changed: TileRect) -> Result<(), String> {
        self.broadcast.picture(picture, changed)
    }
}

/// The bridge process, started again whenever it ends.
struct Bridge {
    state: Arc<Mutex<BridgeState>>,
}

#[derive(Default)]
struct BridgeState {
    text: Option<String>,
    input: Option<ChildStdin>,
}

impl Bridge {
    fn start(
        environment: Vec<(String, String)>,
        identity: Option<Identity>,
        title: String,
    ) -> Self {
        let state = Arc::new(Mutex::new(BridgeState::default()));
        let supervised = state.clone();
        let spawned = std::thread::Builder::new()
            .name("notice-bridge".into())
            .spawn(move || supervise(&supervised, &environment, identity, &title));
        if let Err(error) = spawned {
            tracing::warn!("could not start the notice bridge: {error}");
        }
        Self { state }
    }

    fn show(&self, text: Option<String>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.text = text;
        send(&mut state);
    }
}

fn send(state: &mut BridgeState) {
    let line = state.text.clone().unwrap_or_default().replace('\n', " ");
    if let Some(input) = state.input.as_mut()
        && writeln!(input, "{line}")
            .and_then(|()| input.flush())
            .is_err()
    {
        state.input = None;
    }
}

fn supervise(
    state: &Mutex<BridgeState>,
    environment: &[(String, String)],
    identity: Option<Identity>,
    title: &str,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        match spawn(environment, identity, title) {
            Ok(mut child) => {
                {
                    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
                    state.input = child.stdin.take();
                    send(&mut state);
                }
                let started = std::time::Instant::now();
                let _ = child.wait();
                state.lock().unwrap_or_else(|p| p.into_inner()).input = None;
                if started.elapsed() > Duration::from_secs(30) {
                    backoff = Duration::from_secs(1);
                }
            }
            Err(error) => tracing::warn!("could not start the notice bridge: {error}"),
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

fn spawn(
    environment: &[(String, String)],
    identity: Option<Identity>,
    title: &str,
) -> std::io::Result<std::process::Child> {
    let program = std::env::current_exe()?;
    let mut command = match identity {
        Some(Identity { uid, gid }) => {
            let mut command = Command::new("setpriv");
            command
                .arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--init-groups")
                .arg("--")
                .arg(program);
            command
        }
        None => Command::new(program),
    };
    command
        .args(["notice-bridge", "--title", title])
        .env_clear()
        .envs(environment.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
}
