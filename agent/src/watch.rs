//! Screen streams on the agent: capture only with credit, at the size the
//! console shows, only changed tiles. The session helper captures and
//! encodes ([`crate::helper`]); this side keeps credit, pacing and keep-alives.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pult_protocol::frame::{FrameError, read_message, write_message};
use pult_protocol::local::CapturedFrame;
use pult_protocol::message::{ErrorReply, Reply};
use pult_protocol::watch::{ScreenUpdate, WatchControl, WatchSettings};
use quinn::{RecvStream, SendStream};
use tokio::sync::mpsc;

use crate::desktop::Desktop;

/// Without a change, an empty update is sent this often, so the console knows
/// the agent is alive.
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// The most credit a console may grant; more would only build a queue.
const MAX_CREDIT: u32 = 16;

/// Numbers the screen streams of this agent, for the helper's state per stream.
static NEXT_STREAM: AtomicU64 = AtomicU64::new(1);

/// What one stream sent, for the audit log.
#[derive(Debug, Default, Clone, Copy)]
pub struct StreamSummary {
    /// Updates sent.
    pub updates: u64,
    /// Bytes of tile images sent.
    pub bytes: u64,
}

/// Serves one screen stream until the console ends it or the stream fails.
pub async fn serve(
    mut send: SendStream,
    recv: RecvStream,
    settings: WatchSettings,
    credit: u16,
    desktop: &Desktop,
) -> (StreamSummary, Option<ErrorReply>) {
    let (controls, mut control) = mpsc::channel(16);
    let reader = tokio::spawn(read_controls(recv, controls));
    let mut stream = Stream::new(settings.clamped(), credit);
    let id = stream.id;
    let mut summary = StreamSummary::default();
    let mut next_capture = Instant::now();
    let failure = loop {
        let wait = tokio::time::sleep_until(next_capture.into());
        tokio::select! {
            message = control.recv() => match message {
                Some(Ok(WatchControl::Credit(more))) => stream.credit = (stream.credit + u32::from(more)).min(MAX_CREDIT),
                Some(Ok(WatchControl::Adjust(settings))) => stream.adjust(settings.clamped()),
                Some(Err(error)) => break Some(ErrorReply::new(error.code(), error.to_string())),
                None => break None, // the console ended the stream
            },
            () = wait, if stream.credit > 0 => {
                let started = Instant::now();
                let update = match stream.capture(desktop).await {
                    Ok(update) => update,
                    Err(error) => break Some(error),
                };
                if let Some(update) = update {
                    summary.updates += 1;
                    summary.bytes += update.tiles.iter().map(|t| t.data.len() as u64).sum::<u64>();
                    if write_message(&mut send, &update).await.is_err() {
                        break None;
                    }
                }
                next_capture = started + stream.interval();
            }
        }
    };
    reader.abort();
    desktop.end_stream(id);
    if let Some(error) = &failure {
        let _ = write_message(&mut send, &Reply::Error(error.clone())).await;
    }
    let _ = send.finish();
    (summary, failure)
}

async fn read_controls(
    mut recv: RecvStream,
    controls: mpsc::Sender<Result<WatchControl, FrameError>>,
) {
    loop {
        let message = match read_message::<WatchControl>(&mut recv).await {
            Ok(Some(message)) => Ok(message),
            Ok(None) => return,
            Err(error) => Err(error),
        };
        let failed = message.is_err();
        if controls.send(message).await.is_err() || failed {
            if failed {
                let _ = recv.stop(0u32.into());
            }
            return;
        }
    }
}

/// The state of one screen stream.
struct Stream {
    id: u64,
    settings: WatchSettings,
    credit: u32,
    /// The next capture sends the whole picture.
    whole_picture: bool,
    sequence: u64,
    last_sent: Option<Instant>,
    unchanged_since: Option<Instant>,
    /// The size of the last picture sent, for keep-alives.
    last_size: (u32, u32),
}

impl Stream {
    fn new(settings: WatchSettings, credit: u16) -> Self {
        Self {
            id: NEXT_STREAM.fetch_add(1, Ordering::Relaxed),
            settings,
            credit: u32::from(credit).min(MAX_CREDIT),
            whole_picture: true,
            sequence: 0,
            last_sent: None,
            unchanged_since: None,
            last_size: (0, 0),
        }
    }

    fn adjust(&mut self, settings: WatchSettings) {
        // The next update is a whole new picture: a new size or monitor needs
        // one, and a viewer that lost its picture (a reloaded page) asks so.
        self.whole_picture = true;
        self.settings = settings;
        self.unchanged_since = None;
    }

    /// How long to wait before the next capture: the frame rate's interval,
    /// longer once the screen has been still for a while (a still screen costs
    /// almost nothing).
    fn interval(&self) -> Duration {
        let interval = Duration::from_secs(1) / u32::from(self.settings.max_fps);
        match self.unchanged_since.map(|since| since.elapsed()) {
            Some(still) if still > Duration::from_secs(5) => interval.max(Duration::from_secs(1)),
            Some(still) if still > Duration::from_secs(1) => {
                interval.max(Duration::from_millis(250))
            }
            _ => interval,
        }
    }

    /// Has the helper capture, scale and encode; the update to send, if there
    /// is one. A screen the helper knows unchanged is not captured at all.
    async fn capture(&mut self, desktop: &Desktop) -> Result<Option<ScreenUpdate>, ErrorReply> {
        let started = Instant::now();
        let captured_at_micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        let captured = desktop
            .capture(self.id, self.settings, self.whole_picture)
            .await?;
        self.whole_picture = false;
        let captured = captured.unwrap_or_else(|| CapturedFrame {
            width: self.last_size.0,
            height: self.last_size.1,
            tiles: Vec::new(),
        });

        let now = Instant::now();
        if captured.tiles.is_empty() {
            self.unchanged_since.get_or_insert(now);
            let alive = self.last_sent.is_some_and(|sent| now - sent < KEEP_ALIVE);
            if alive {
                return Ok(None);
            }
        } else {
            self.unchanged_since = None;
        }
        self.sequence += 1;
        self.credit -= 1;
        self.last_sent = Some(now);
        self.last_size = (captured.width, captured.height);
        Ok(Some(to_update(
            captured,
            self.sequence,
            captured_at_micros,
            started.elapsed(),
        )))
    }
}

fn to_update(
    captured: CapturedFrame,
    sequence: u64,
    captured_at_micros: u64,
    spent: Duration,
) -> ScreenUpdate {
    ScreenUpdate {
        sequence,
        width: captured.width,
        height: captured.height,
        captured_at_micros,
        agent_micros: u32::try_from(spent.as_micros()).unwrap_or(u32::MAX),
        tiles: captured.tiles,
    }
}
