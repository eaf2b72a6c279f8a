//! Remote control of one device (R3): a control stream for keys, buttons,
//! wheel, text and the moves a click needs, in order; datagrams for the
//! pointer while it travels (latest wins). Only one console controls a
//! device at a time; a second is told who has it ([`ErrorCode::InUse`]).
//!
//! [`ErrorCode::InUse`]: pult_protocol::message::ErrorCode::InUse

use std::sync::{Arc, Mutex};

use pult_protocol::frame::{read_message, write_message};
use pult_protocol::input::{ControlNews, InputEvent, PointerMove, ScreenPoint};
use pult_protocol::message::{ErrorReply, Reply, Request};
use quinn::SendStream;
use tokio::task::JoinHandle;

use crate::ConsoleError;
use crate::session::Link;

/// Control of one device, from [`crate::DeviceSession::control`]. Dropping it
/// ends control as [`ControlSession::end`] does, without waiting: the agent
/// lets go of every key and button either way, and also when the connection
/// drops.
pub struct ControlSession {
    link: Link,
    send: SendStream,
    sequence: u32,
    failures: Arc<Mutex<Vec<ErrorReply>>>,
    clipboard: tokio::sync::mpsc::Receiver<String>,
    /// Whether the agent carries the clipboard (protocol 1.3 and later).
    has_clipboard: bool,
    news: Option<JoinHandle<()>>,
}

/// How long the agent has to read the student's clipboard.
const CLIPBOARD_ANSWER: std::time::Duration = std::time::Duration::from_secs(5);

impl ControlSession {
    pub(crate) async fn open(link: Link, has_clipboard: bool) -> Result<Self, ConsoleError> {
        let (mut send, mut recv, _) = link.open_stream().await?;
        link.check(write_message(&mut send, &Request::Control).await)?;
        match link.check(read_message::<Reply>(&mut recv).await)? {
            Some(Reply::Done) => {}
            Some(reply) => return Err(link.unexpected(reply)),
            None => return Err(link.protocol("the agent closed the control stream")),
        }
        let failures = Arc::new(Mutex::new(Vec::new()));
        let noted = failures.clone();
        let (copied, clipboard) = tokio::sync::mpsc::channel(4);
        let news = tokio::spawn(async move {
            while let Ok(Some(news)) = read_message::<ControlNews>(&mut recv).await {
                match news {
                    ControlNews::Failed(error) => {
                        tracing::debug!("control: {error}");
                        noted.lock().unwrap_or_else(|p| p.into_inner()).push(error);
                    }
                    ControlNews::Clipboard(text) => {
                        let _ = copied.try_send(text);
                    }
                }
            }
        });
        Ok(Self {
            link,
            send,
            sequence: 0,
            failures,
            clipboard,
            has_clipboard,
            news: Some(news),
        })
    }

    /// Sends `event`, in order after those sent before; checked here first,
    /// as the agent will.
    pub async fn send(&mut self, event: &InputEvent) -> Result<(), ConsoleError> {
        event
            .check()
            .map_err(|e| ConsoleError::BadInput(format!("{}: {e}", self.link.device.name)))?;
        self.link.check(write_message(&mut self.send, event).await)
    }

    /// Sends `events` in order.
    pub async fn send_all(&mut self, events: &[InputEvent]) -> Result<(), ConsoleError> {
        for event in events {
            self.send(event).await?;
        }
        Ok(())
    }

    /// Moves the pointer on the stream, in order with keys and clicks: for a
    /// click that must land at `at`.
    pub async fn move_to(&mut self, at: ScreenPoint) -> Result<(), ConsoleError> {
        let moved = self.next_move(at);
        self.send(&InputEvent::Move(moved)).await
    }

    /// Moves the pointer by datagram: fast, and a lost or late one is simply
    /// replaced by the next. Falls back to the stream where datagrams cannot go.
    pub async fn glide_to(&mut self, at: ScreenPoint) -> Result<(), ConsoleError> {
        let moved = self.next_move(at);
        match self
            .link
            .connection
            .send_datagram(moved.to_datagram().into())
        {
            Ok(()) => Ok(()),
            Err(_) => self.send(&InputEvent::Move(moved)).await,
        }
    }

    fn next_move(&mut self, at: ScreenPoint) -> PointerMove {
        self.sequence = self.sequence.wrapping_add(1).max(1);
        PointerMove {
            sequence: self.sequence,
            at,
        }
    }

    /// Puts `text` on the student's clipboard, in order with the input before it.
    pub async fn set_clipboard(&mut self, text: &str) -> Result<(), ConsoleError> {
        self.require_clipboard()?;
        self.send(&InputEvent::Clipboard(text.to_owned())).await
    }

    /// The text on the student's clipboard (empty when it holds none), read
    /// in order after the input sent before.
    pub async fn read_clipboard(&mut self) -> Result<String, ConsoleError> {
        self.require_clipboard()?;
        while self.clipboard.try_recv().is_ok() {} // answers nobody waited for
        let before = self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        self.send(&InputEvent::ReadClipboard).await?;
        let deadline = tokio::time::Instant::now() + CLIPBOARD_ANSWER;
        loop {
            let wait = tokio::time::Instant::now() + std::time::Duration::from_millis(50);
            match tokio::time::timeout_at(wait.min(deadline), self.clipboard.recv()).await {
                Ok(Some(text)) => return Ok(text),
                Ok(None) => return Err(self.link.protocol("the agent ended control")),
                Err(_) => {}
            }
            // The agent says why it could not read, as a failure.
            let failed = self
                .failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(before..)
                .and_then(|f| f.last().cloned());
            if let Some(error) = failed {
                return Err(ConsoleError::Agent {
                    device: self.link.device.name.clone(),
                    error,
                });
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(self
                    .link
                    .protocol("the agent did not read the clipboard within 5 s"));
            }
        }
    }

    fn require_clipboard(&self) -> Result<(), ConsoleError> {
        match self.has_clipboard {
            true => Ok(()),
            false => Err(self
                .link
                .protocol("the agent is too old to carry the clipboard (protocol 1.3)")),
        }
    }

    /// What the agent could not apply so far (a refused key, a point off
    /// the screen), taken from the list.
    pub fn take_failures(&self) -> Vec<ErrorReply> {
        std::mem::take(&mut *self.failures.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Ends control: the agent applies what was sent, lets go of every key
    /// and button, and finishes; returns what it could not apply.
    pub async fn end(mut self) -> Result<Vec<ErrorReply>, ConsoleError> {
        let _ = self.send.finish();
        if let Some(news) = self.news.take() {
            let _ = news.await;
        }
        Ok(self.take_failures())
    }
}

impl Drop for ControlSession {
    fn drop(&mut self) {
        let _ = self.send.finish();
        if let Some(news) = &self.news {
            news.abort();
        }
    }
}
