//! The service's end of the local channel to a session helper: requests with
//! ids, answers matched to them, several in flight at once.
//!
//! The same link serves a helper process over a Unix socket and a helper
//! joined in memory (the demo classroom, a single-process agent): only the
//! pump that carries the messages differs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pult_protocol::frame::{read_message, write_message};
use pult_protocol::local::{FromHelper, HelperMessage, LOCAL_VERSION, ServiceMessage, ToHelper};
use pult_protocol::message::{ErrorCode, ErrorReply};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch};

use crate::helper::HelperCore;

/// How many requests may wait to be written to the helper.
const OUTGOING: usize = 64;

/// A connected session helper.
#[derive(Clone)]
pub struct HelperLink {
    inner: Arc<Inner>,
}

struct Inner {
    outgoing: mpsc::Sender<ServiceMessage>,
    pending: Mutex<HashMap<u64, oneshot::Sender<FromHelper>>>,
    next_id: AtomicU64,
    closed: watch::Sender<bool>,
    display: String,
}

impl std::fmt::Debug for HelperLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HelperLink")
            .field("display", &self.inner.display)
            .finish_non_exhaustive()
    }
}

impl HelperLink {
    fn new(display: String) -> (Self, mpsc::Receiver<ServiceMessage>) {
        let (outgoing, requests) = mpsc::channel(OUTGOING);
        let link = Self {
            inner: Arc::new(Inner {
                outgoing,
                pending: Mutex::default(),
                next_id: AtomicU64::new(1),
                closed: watch::Sender::new(false),
                display,
            }),
        };
        (link, requests)
    }

    /// A helper joined in memory: requests go straight to `core`.
    pub fn joined(core: Arc<HelperCore>) -> Self {
        let (link, mut requests) = Self::new(core.display());
        let answers = link.clone();
        tokio::spawn(async move {
            while let Some(message) = requests.recv().await {
                // Started here, in the order sent: input stays in order.
                let answer = core.start(message.body);
                let answers = answers.clone();
                tokio::spawn(async move {
                    let body = answer.await;
                    answers.deliver(HelperMessage {
                        id: message.id,
                        body,
                    });
                });
            }
        });
        link
    }

    /// A helper process on a stream (its Unix socket): reads its hello,
    /// answers with ours, then carries messages until either side closes.
    pub async fn over_stream<S>(stream: S) -> Result<Self, String>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let hello = read_message::<HelperMessage>(&mut reader)
            .await
            .map_err(|e| format!("the helper's hello could not be read: {e}"))?;
        let display = match hello {
            Some(HelperMessage {
                id: 0,
                body: FromHelper::Hello { version, display },
            }) if version == LOCAL_VERSION => display,
            Some(HelperMessage {
                body: FromHelper::Hello { version, .. },
                ..
            }) => {
                return Err(format!(
                    "the helper speaks local version {version}, the service {LOCAL_VERSION}"
                ));
            }
            Some(_) => return Err("the helper did not start with a hello".into()),
            None => return Err("the helper closed the channel before its hello".into()),
        };
        let ours = ServiceMessage {
            id: 0,
            body: ToHelper::Hello {
                version: LOCAL_VERSION,
            },
        };
        write_message(&mut writer, &ours)
            .await
            .map_err(|e| format!("could not answer the helper's hello: {e}"))?;
        let (link, mut requests) = Self::new(display);
        let writing = link.clone();
        tokio::spawn(async move {
            while let Some(message) = requests.recv().await {
                if write_message(&mut writer, &message).await.is_err() {
                    break;
                }
            }
            writing.close();
        });
        let reading = link.clone();
        tokio::spawn(async move {
            loop {
                match read_message::<HelperMessage>(&mut reader).await {
                    Ok(Some(message)) => reading.deliver(message),
                    Ok(None) => break,
                    Err(error) => {
                        tracing::warn!("the session helper sent a bad frame: {error}");
                        break;
                    }
                }
            }
            reading.close();
        });
        Ok(link)
    }

    /// The display of the session the helper serves.
    pub fn display(&self) -> &str {
        &self.inner.display
    }

    /// Whether the helper is gone.
    pub fn is_closed(&self) -> bool {
        *self.inner.closed.borrow()
    }

    /// Resolves when the helper is gone.
    pub async fn closed(&self) {
        let mut closed = self.inner.closed.subscribe();
        let _ = closed.wait_for(|closed| *closed).await;
    }

    /// Asks the helper and waits for its answer, at most `timeout`. A helper
    /// that is gone or does not answer in time is a [`ErrorCode::CannotNotify`]
    /// error: without it, nothing of the session can be done or shown.
    pub async fn request(
        &self,
        body: ToHelper,
        timeout: Duration,
    ) -> Result<FromHelper, ErrorReply> {
        let gone = |why: &str| {
            ErrorReply::new(
                ErrorCode::CannotNotify,
                format!("the student cannot be notified: the session helper {why}"),
            )
        };
        if self.is_closed() {
            return Err(gone("is not running"));
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (answer, answered) = oneshot::channel();
        self.pending().insert(id, answer);
        if self
            .inner
            .outgoing
            .send(ServiceMessage { id, body })
            .await
            .is_err()
        {
            self.pending().remove(&id);
            return Err(gone("is not running"));
        }
        match tokio::time::timeout(timeout, answered).await {
            Ok(Ok(FromHelper::Error(error))) => Err(error),
            Ok(Ok(body)) => Ok(body),
            Ok(Err(_)) => Err(gone("ended")),
            Err(_) => {
                self.pending().remove(&id);
                Err(gone(&format!(
                    "did not answer within {:.1} s",
                    timeout.as_secs_f64()
                )))
            }
        }
    }

    /// Sends without waiting for the answer (ending a stream).
    pub fn tell(&self, body: ToHelper) {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let _ = self.inner.outgoing.try_send(ServiceMessage { id, body });
    }

    fn deliver(&self, message: HelperMessage) {
        if let Some(waiting) = self.pending().remove(&message.id) {
            let _ = waiting.send(message.body);
        }
    }

    /// Marks the helper gone: every waiting request fails at once.
    pub fn close(&self) {
        self.inner.closed.send_replace(true);
        self.pending().clear();
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<FromHelper>>> {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
