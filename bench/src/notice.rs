//! How soon the student sees the notice (R1): the X server tells when the
//! agent's notice bar is mapped and destroyed; the benchmark asks for a
//! stream and times the way from the request to the bar on screen.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use pult_agent::platform::indicator::WINDOW_NAME;
use xcb::x;

/// A notice bar appearing or going, as the X server saw it.
enum Seen {
    Mapped(Instant),
    Gone(Instant),
}

/// Watches the display's top-level windows for the agent's notice bars.
pub(crate) struct NoticeWatcher {
    events: mpsc::Receiver<Seen>,
}

impl NoticeWatcher {
    /// Starts watching `display` (a thread reads the X server's events).
    pub(crate) fn new(display: &str) -> Result<Self> {
        let (connection, screen) = xcb::Connection::connect(Some(display))
            .with_context(|| format!("cannot connect to the X display {display}"))?;
        let root = connection
            .get_setup()
            .roots()
            .nth(usize::try_from(screen).unwrap_or(0))
            .context("the X display has no screen")?
            .root();
        connection.send_and_check_request(&x::ChangeWindowAttributes {
            window: root,
            value_list: &[x::Cw::EventMask(x::EventMask::SUBSTRUCTURE_NOTIFY)],
        })?;
        let (sender, events) = mpsc::channel();
        std::thread::Builder::new()
            .name("notice-watcher".into())
            .spawn(move || watch(&connection, &sender))?;
        Ok(Self { events })
    }

    /// Forgets what was seen so far.
    pub(crate) fn drain(&self) {
        while self.events.try_recv().is_ok() {}
    }

    /// Waits for a notice bar to be mapped; when it was.
    pub(crate) fn mapped(&self, within: Duration) -> Result<Instant> {
        self.next(true, within)
            .with_context(|| format!("no notice bar appeared within {within:?}"))
    }

    /// Waits for a notice bar to go; when it went.
    pub(crate) fn gone(&self, within: Duration) -> Result<Instant> {
        self.next(false, within)
            .with_context(|| format!("the notice bar did not go within {within:?}"))
    }

    /// The time of the next bar mapped (or gone), skipping the others.
    fn next(&self, mapped: bool, within: Duration) -> Option<Instant> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left).ok()? {
                Seen::Mapped(at) if mapped => return Some(at),
                Seen::Gone(at) if !mapped => return Some(at),
                _ => {}
            }
        }
    }
}

fn watch(connection: &xcb::Connection, sender: &mpsc::Sender<Seen>) {
    let mut bars: Vec<x::Window> = Vec::new();
    while let Ok(event) = connection.wait_for_event() {
        let at = Instant::now();
        let seen = match event {
            xcb::Event::X(x::Event::MapNotify(event)) if is_notice(connection, event.window()) => {
                bars.push(event.window());
                Seen::Mapped(at)
            }
            xcb::Event::X(x::Event::DestroyNotify(event)) if bars.contains(&event.window()) => {
                bars.retain(|&bar| bar != event.window());
                Seen::Gone(at)
            }
            _ => continue,
        };
        if sender.send(seen).is_err() {
            return;
        }
    }
}

fn is_notice(connection: &xcb::Connection, window: x::Window) -> bool {
    let cookie = connection.send_request(&x::GetProperty {
        delete: false,
        window,
        property: x::ATOM_WM_NAME,
        r#type: x::ATOM_ANY,
        long_offset: 0,
        long_length: 64,
    });
    connection
        .wait_for_reply(cookie)
        .is_ok_and(|reply| reply.value::<u8>() == WINDOW_NAME.as_bytes())
}
