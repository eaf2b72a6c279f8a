//! Screen streams on the agent: capture only with credit, scale to the size the
//! console shows, send only changed tiles, and keep the "being watched" state
//! that the student's notice (R1) shows.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pult_protocol::frame::{FrameError, read_message, write_message};
use pult_protocol::message::{ErrorCode, ErrorReply, Reply};
use pult_protocol::watch::{ScreenTile, ScreenUpdate, TileEncoding, WatchControl, WatchSettings};
use pult_screen::ScreenArea;
use pult_screen::codec::{EncodedFrame, TileEncoder, TileFormat};
use pult_screen::scale::Scaler;
use quinn::{RecvStream, SendStream};
use tokio::sync::{mpsc, watch};

use crate::actions::SharedScreen;

/// Without a change, an empty update is sent this often, so the console knows
/// the agent is alive.
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// The most credit a console may grant; more would only build a queue.
const MAX_CREDIT: u32 = 16;

/// Whether anyone is watching this computer's screen, and how many streams are open.
#[derive(Debug)]
pub struct WatchState {
    streams: AtomicUsize,
    watched: watch::Sender<bool>,
}

impl Default for WatchState {
    fn default() -> Self {
        Self {
            streams: AtomicUsize::new(0),
            watched: watch::Sender::new(false),
        }
    }
}

impl WatchState {
    /// Whether at least one screen stream is open now.
    pub fn is_watched(&self) -> bool {
        *self.watched.borrow()
    }

    /// Follows the state: the notice the student sees subscribes here.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.watched.subscribe()
    }

    /// Marks one more open stream until the guard is dropped.
    pub fn begin(self: &Arc<Self>) -> WatchGuard {
        if self.streams.fetch_add(1, Ordering::SeqCst) == 0 {
            self.watched.send_replace(true);
        }
        WatchGuard(self.clone())
    }
}

/// One open screen stream; ends the "watched" state with the last one.
#[derive(Debug)]
pub struct WatchGuard(Arc<WatchState>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        if self.0.streams.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.watched.send_replace(false);
        }
    }
}

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
    screen: SharedScreen,
) -> (StreamSummary, Option<ErrorReply>) {
    let (controls, mut control) = mpsc::channel(16);
    let reader = tokio::spawn(read_controls(recv, controls));
    let mut stream = Stream::new(settings.clamped(), credit);
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
                let update = match stream.capture(&screen).await {
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
    settings: WatchSettings,
    credit: u32,
    /// The encoder and scaler move to a blocking thread for each capture.
    work: Option<(TileEncoder, Scaler)>,
    sequence: u64,
    last_sent: Option<Instant>,
    unchanged_since: Option<Instant>,
    /// The source's change counter at the last capture, if it keeps one.
    last_change: Option<u64>,
    /// The size of the last picture sent, for keep-alives.
    last_size: (u32, u32),
}

impl Stream {
    fn new(settings: WatchSettings, credit: u16) -> Self {
        Self {
            settings,
            credit: u32::from(credit).min(MAX_CREDIT),
            work: Some((TileEncoder::new(settings.quality), Scaler::new())),
            sequence: 0,
            last_sent: None,
            unchanged_since: None,
            last_change: None,
            last_size: (0, 0),
        }
    }

    fn adjust(&mut self, settings: WatchSettings) {
        // The next update is a whole new picture: a new size or monitor needs
        // one, and a viewer that lost its picture (a reloaded page) asks so.
        if let Some((encoder, _)) = &mut self.work {
            encoder.set_quality(settings.quality);
            encoder.reset();
        }
        self.settings = settings;
        self.unchanged_since = None;
        self.last_change = None;
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

    /// Captures, scales and encodes; the update to send, if there is one.
    /// A source that can tell the screen is unchanged is not captured at all.
    async fn capture(&mut self, screen: &SharedScreen) -> Result<Option<ScreenUpdate>, ErrorReply> {
        let started = Instant::now();
        let captured_at_micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        let (mut encoder, mut scaler) = self
            .work
            .take()
            .unwrap_or_else(|| (TileEncoder::new(self.settings.quality), Scaler::new()));
        let (screen, settings, last_change) = (screen.clone(), self.settings, self.last_change);
        let job = tokio::task::spawn_blocking(move || {
            let mut screen = screen
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let change = screen.change_counter();
            if change.is_some() && change == last_change {
                return (Ok(None), change, encoder, scaler);
            }
            let area = settings
                .monitor
                .map_or(ScreenArea::Desktop, ScreenArea::Monitor);
            let encoded = screen.capture(area).map(|frame| {
                Some(encoder.encode(scaler.fit(frame, settings.max_width, settings.max_height)))
            });
            (encoded, change, encoder, scaler)
        });
        let (encoded, change, encoder, scaler) = job
            .await
            .map_err(|e| ErrorReply::new(ErrorCode::Internal, e.to_string()))?;
        self.work = Some((encoder, scaler));
        self.last_change = change;
        let encoded = encoded
            .map_err(|e| ErrorReply::new(ErrorCode::CaptureFailed, e.to_string()))?
            .unwrap_or_else(|| EncodedFrame {
                width: self.last_size.0,
                height: self.last_size.1,
                tiles: Vec::new(),
            });

        let now = Instant::now();
        if encoded.tiles.is_empty() {
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
        self.last_size = (encoded.width, encoded.height);
        Ok(Some(to_update(
            encoded,
            self.sequence,
            captured_at_micros,
            started.elapsed(),
        )))
    }
}

fn to_update(
    encoded: EncodedFrame,
    sequence: u64,
    captured_at_micros: u64,
    spent: Duration,
) -> ScreenUpdate {
    ScreenUpdate {
        sequence,
        width: encoded.width,
        height: encoded.height,
        captured_at_micros,
        agent_micros: u32::try_from(spent.as_micros()).unwrap_or(u32::MAX),
        tiles: encoded
            .tiles
            .into_iter()
            .map(|tile| ScreenTile {
                x: tile.rect.x,
                y: tile.rect.y,
                width: tile.rect.width,
                height: tile.rect.height,
                encoding: match tile.format {
                    TileFormat::Png => TileEncoding::Png,
                    TileFormat::Jpeg => TileEncoding::Jpeg,
                },
                data: tile.data,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watched_state_follows_the_open_streams() {
        let state = Arc::new(WatchState::default());
        let mut seen = state.subscribe();
        assert!(!state.is_watched());
        let first = state.begin();
        let second = state.begin();
        assert!(state.is_watched());
        assert!(seen.has_changed().unwrap());
        drop(first);
        assert!(state.is_watched(), "one stream is still open");
        drop(second);
        assert!(!state.is_watched());
        assert!(!*seen.borrow_and_update());
    }
}
