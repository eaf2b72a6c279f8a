//! Broadcast (R7) from the console: the teacher's screen (the desktop, one
//! monitor or a region), or one student's screen relayed, shown on the
//! students' screens.
//!
//! One source feeds one [`Fanout`]: the teacher's screen is captured and
//! encoded **once** per picture, however many students receive it; a
//! relayed student's updates are passed on as the agent encoded them. Each
//! receiving device has a task of its own that writes what the fan-out hands
//! it whenever its agent grants credit, so a slow or stalled student holds up
//! nobody else. A device that cannot show the broadcast yet (nobody logged
//! on) or loses its connection is tried again until the broadcast ends, and
//! gets the current picture at once when it comes.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pult_protocol::broadcast::{BroadcastMode, BroadcastNews};
use pult_protocol::frame::read_message;
use pult_protocol::message::ErrorCode;
use pult_protocol::watch::{ScreenTile, ScreenUpdate, TileEncoding, WatchSettings};
use pult_screen::codec::{TileEncoder, TileRect, changed_tiles};
use pult_screen::scale::Scaler;
use pult_screen::video::VideoEncoder;
use pult_screen::wire::screen_tiles;
use pult_screen::{CaptureSource, Frame, ScreenArea};
use quinn::{RecvStream, SendStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::fanout::{Fanout, FanoutStats};
use crate::motion::Motion;
use crate::session::Link;
use crate::{ConsoleError, DeviceSession, ScreenStream};

/// How long a stopping broadcast waits for its receivers to finish.
const STOP_PATIENCE: Duration = Duration::from_secs(3);
/// Updates a relayed student's agent may have in flight.
const RELAY_CREDIT: u16 = 2;
/// The longest pause between two tries to reach a device.
const MAX_RETRY: Duration = Duration::from_secs(3);
/// The first pause; tries start from it again only after a device showed
/// the broadcast this long (one that fails at once backs off).
const FIRST_RETRY: Duration = Duration::from_millis(250);
const STEADY: Duration = Duration::from_secs(5);

/// H.264 bits a second for a 1920x1080 film: 40 students take 80 Mbit/s of
/// a classroom's 100 (docs/architecture.md, "Broadcast", has the figures).
pub const DEFAULT_VIDEO_BITRATE: u32 = 2_000_000;
/// A smaller film gets its share of the bitrate, but not less than this.
const MIN_VIDEO_BITRATE: u32 = 300_000;
/// A keyframe at least this often (in pictures): a receiver that joins or
/// falls behind is sent at most this many frames to catch up.
const KEYFRAME_EVERY: u32 = 50;

/// What part of the teacher's screen to show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BroadcastArea {
    /// Every monitor, as the desktop arranges them.
    #[default]
    Desktop,
    /// One monitor, counted from 0 left to right.
    Monitor(u32),
    /// A rectangle of the desktop, in pixels.
    Region(Region),
}

/// A rectangle of the desktop the teacher chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width (at least 16).
    pub width: u32,
    /// Height (at least 16).
    pub height: u32,
}

impl Region {
    /// A region of at least 16x16 pixels.
    pub fn new(x: u32, y: u32, width: u32, height: u32) -> Result<Self, ConsoleError> {
        if width < 16 || height < 16 {
            return Err(ConsoleError::BadInput(format!(
                "a region of {width}x{height} is too small to show; at least 16x16"
            )));
        }
        Ok(Self {
            x,
            y,
            width,
            height,
        })
    }
}

impl std::str::FromStr for Region {
    type Err = String;

    /// Reads `X,Y,W,H`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let numbers: Vec<u32> = text
            .split(',')
            .map(|part| part.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("'{text}' is not a region: give X,Y,WIDTH,HEIGHT in pixels"))?;
        let [x, y, width, height] = numbers[..] else {
            return Err(format!(
                "'{text}' is not a region: give X,Y,WIDTH,HEIGHT in pixels"
            ));
        };
        Self::new(x, y, width, height).map_err(|e| e.to_string())
    }
}

/// How the teacher's screen is captured for a broadcast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScreenSource {
    /// What part of the screen.
    pub area: BroadcastArea,
    /// The widest picture sent; larger screens are scaled down to fit.
    pub max_width: u32,
    /// The tallest picture sent.
    pub max_height: u32,
    /// The most pictures a second.
    pub max_fps: u8,
    /// JPEG quality of photo-like tiles (1–100).
    pub quality: u8,
    /// Bits a second for a film playing full screen (less for a smaller
    /// one) sent as H.264; 0 sends every part of the screen as tiles.
    pub video_bitrate: u32,
}

impl Default for ScreenSource {
    fn default() -> Self {
        Self {
            area: BroadcastArea::Desktop,
            max_width: 1920,
            max_height: 1080,
            max_fps: 25,
            quality: 75,
            video_bitrate: DEFAULT_VIDEO_BITRATE,
        }
    }
}

/// A broadcast under way; [`Broadcast::stop`] ends it on every device.
pub struct Broadcast {
    hub: Arc<Hub>,
    source: Mutex<Option<SourceTask>>,
    receivers: Mutex<Vec<Arc<Mutex<ReceiverReport>>>>,
    tasks: tokio::sync::Mutex<JoinSet<()>>,
}

/// Where the pictures come from.
enum SourceTask {
    /// The teacher's screen, captured on a thread of its own.
    Screen(std::thread::JoinHandle<()>),
    /// A student's screen stream, relayed.
    Relay(tokio::task::JoinHandle<()>),
}

/// What the source and the receivers share.
struct Hub {
    fanout: Mutex<Fanout>,
    /// Counts pictures published; receivers wait on it.
    pictures: watch::Sender<u64>,
    stop: watch::Sender<bool>,
    /// Pictures the console encoded itself (none when relaying).
    encoded: AtomicU64,
    /// Why the source ended before the broadcast was stopped.
    source_ended: Mutex<Option<String>>,
}

/// How one device is doing.
#[derive(Clone, Debug)]
pub struct ReceiverReport {
    /// The device.
    pub device: String,
    /// Whether its screen shows the broadcast now.
    pub showing: bool,
    /// Whether it ever showed it.
    pub reached: bool,
    /// What went wrong last, if anything.
    pub problem: Option<ConsoleError>,
    /// Whether it is no longer tried (a refusal that will not change).
    pub given_up: bool,
    /// Updates written to it.
    pub updates: u64,
    /// Bytes of those updates.
    pub bytes: u64,
}

/// What a broadcast has done.
#[derive(Clone, Debug)]
pub struct BroadcastReport {
    /// Pictures the console encoded (each once, whatever the receivers).
    pub pictures_encoded: u64,
    /// The fan-out's figures: pictures taken, tiles packed, updates and bytes sent.
    pub fanout: FanoutStats,
    /// Why the source ended early, if it did.
    pub source_ended: Option<String>,
    /// Each device.
    pub receivers: Vec<ReceiverReport>,
}

impl Broadcast {
    /// Broadcasts the teacher's screen from `capture`; fails at once when
    /// it cannot be captured or the region lies outside the screen.
    pub fn from_screen(
        mut capture: Box<dyn CaptureSource>,
        source: ScreenSource,
    ) -> Result<Self, ConsoleError> {
        let mut camera = Camera::new(source);
        let (first, _) = camera.take(capture.as_mut(), false)?;
        let hub = Hub::new();
        hub.publish(&first);
        let thread_hub = hub.clone();
        let thread = std::thread::Builder::new()
            .name("broadcast-capture".into())
            .spawn(move || camera.run(capture, &thread_hub))
            .map_err(|e| ConsoleError::Capture(format!("cannot start capturing: {e}")))?;
        Ok(Self::with_source(hub, SourceTask::Screen(thread)))
    }

    /// Relays `session`'s screen (a student's) as the broadcast, at the
    /// size, rate and quality `source` gives (its area is the student's
    /// whole desktop): see [`Broadcast::relay`].
    pub async fn relay_from(
        session: &DeviceSession,
        source: &ScreenSource,
    ) -> Result<Self, ConsoleError> {
        let settings = WatchSettings {
            max_width: source.max_width,
            max_height: source.max_height,
            max_fps: source.max_fps,
            quality: source.quality,
            monitor: None,
        };
        let stream = session.watch(settings, RELAY_CREDIT).await?;
        Ok(Self::relay(stream, settings))
    }

    /// Relays `stream` (a student's screen) as the broadcast: the agent's
    /// tiles go on as they came, nothing is encoded again. The broadcast's
    /// source ends with the stream.
    pub fn relay(stream: ScreenStream, settings: WatchSettings) -> Self {
        let hub = Hub::new();
        let task = tokio::spawn(relay(stream, settings, hub.clone()));
        Self::with_source(hub, SourceTask::Relay(task))
    }

    fn with_source(hub: Arc<Hub>, source: SourceTask) -> Self {
        Self {
            hub,
            source: Mutex::new(Some(source)),
            receivers: Mutex::default(),
            tasks: tokio::sync::Mutex::new(JoinSet::new()),
        }
    }

    /// Shows the broadcast on `device` in `mode` until the broadcast stops:
    /// `connect` is called for a session whenever the device is to be tried
    /// (at once, after a lost connection, while nobody is logged on).
    pub async fn send_to<F, Fut>(&self, device: &str, mode: BroadcastMode, connect: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Arc<DeviceSession>, ConsoleError>> + Send + 'static,
    {
        let report = Arc::new(Mutex::new(ReceiverReport {
            device: device.to_owned(),
            showing: false,
            reached: false,
            problem: None,
            given_up: false,
            updates: 0,
            bytes: 0,
        }));
        self.receivers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(report.clone());
        let hub = self.hub.clone();
        self.tasks
            .lock()
            .await
            .spawn(supervise(hub, mode, connect, report));
    }

    /// Records `device` as not shown the broadcast for a reason known
    /// beforehand (marked not steerable): it is not tried.
    pub fn refused(&self, device: &str, problem: ConsoleError) {
        self.receivers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(Mutex::new(ReceiverReport {
                device: device.to_owned(),
                showing: false,
                reached: false,
                problem: Some(problem),
                given_up: true,
                updates: 0,
                bytes: 0,
            })));
    }

    /// Whether the source has ended (a relayed student went away).
    pub fn source_ended(&self) -> Option<String> {
        self.hub.source_ended()
    }

    /// Waits until the source ends by itself.
    pub async fn wait_source_ended(&self) {
        let mut stop = self.hub.stop.subscribe();
        let _ = stop.wait_for(|stopped| *stopped).await;
    }

    /// What the broadcast has done so far.
    pub fn report(&self) -> BroadcastReport {
        BroadcastReport {
            pictures_encoded: self.hub.encoded.load(Ordering::Relaxed),
            fanout: self.hub.fanout().stats(),
            source_ended: self.hub.source_ended(),
            receivers: self
                .receivers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|r| r.lock().unwrap_or_else(|p| p.into_inner()).clone())
                .collect(),
        }
    }

    /// Ends the broadcast: every device is told (its desktop comes back),
    /// capture stops. Returns what it did.
    pub async fn stop(&self) -> BroadcastReport {
        self.hub.stop.send_replace(true);
        let mut tasks = std::mem::take(&mut *self.tasks.lock().await);
        let finished = tokio::time::timeout(STOP_PATIENCE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            tasks.abort_all();
        }
        let source = self.source.lock().unwrap_or_else(|p| p.into_inner()).take();
        match source {
            Some(SourceTask::Screen(thread)) => {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
            Some(SourceTask::Relay(task)) => {
                let _ = task.await;
            }
            None => {}
        }
        self.report()
    }
}

impl Drop for Broadcast {
    fn drop(&mut self) {
        // Receivers finish their streams and the capture thread ends by itself.
        self.hub.stop.send_replace(true);
    }
}

impl Hub {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            fanout: Mutex::new(Fanout::new()),
            pictures: watch::Sender::new(0),
            stop: watch::Sender::new(false),
            encoded: AtomicU64::new(0),
            source_ended: Mutex::default(),
        })
    }

    fn fanout(&self) -> std::sync::MutexGuard<'_, Fanout> {
        self.fanout.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Takes a picture from the source and wakes the receivers; a picture
    /// the fan-out refuses is logged and skipped.
    fn publish(&self, update: &ScreenUpdate) -> bool {
        if let Err(error) = self.fanout().publish(update) {
            tracing::warn!("broadcast: a picture was skipped: {error}");
            return false;
        }
        self.pictures.send_modify(|count| *count += 1);
        true
    }

    /// The source is gone: the broadcast ends everywhere.
    fn end_source(&self, why: String) {
        tracing::info!("broadcast: the source ended: {why}");
        *self.source_ended.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
        self.stop.send_replace(true);
    }

    fn source_ended(&self) -> Option<String> {
        self.source_ended
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Captures, crops, scales and encodes the teacher's screen: one encoder for
/// every receiver. Where a film plays ([`Motion`]), that part goes as
/// H.264 and the tiles there stay black underneath.
struct Camera {
    source: ScreenSource,
    encoder: TileEncoder,
    scaler: Scaler,
    sequence: u64,
    last_change: Option<u64>,
    motion: Motion,
    /// The picture before, as captured (for the motion, which the tile
    /// encoder's copy with the film blacked out cannot tell).
    previous: Option<Frame>,
    film: Option<Film>,
}

/// The film's part of the picture and its encoder.
struct Film {
    place: TileRect,
    encoder: VideoEncoder,
    since_keyframe: u32,
}

/// What a picture brought besides its update.
#[derive(Default)]
struct Taken {
    /// A film that played ended (or moved) with this picture.
    film_ended: bool,
}

impl Camera {
    fn new(source: ScreenSource) -> Self {
        Self {
            source,
            encoder: TileEncoder::new(source.quality),
            scaler: Scaler::new(),
            sequence: 0,
            last_change: None,
            motion: Motion::default(),
            previous: None,
            film: None,
        }
    }

    /// Follows the film: starts, moves or ends its encoder where
    /// [`Motion`] finds it in `frame`; `true` when one ended.
    fn follow_film(&mut self, frame: &Frame) -> bool {
        if self.source.video_bitrate == 0 {
            return false;
        }
        let changed = changed_tiles(self.previous.as_ref(), frame);
        let place = self.motion.observe(frame.width(), frame.height(), &changed);
        self.previous = Some(frame.clone());
        if self.film.as_ref().map(|f| f.place) == place {
            return false;
        }
        let ended = self.film.take().is_some();
        if let Some(place) = place {
            let full = 1920.0 * 1080.0;
            let share = f64::from(place.width) * f64::from(place.height) / full;
            let bitrate = ((f64::from(self.source.video_bitrate) * share.min(1.0)) as u32)
                .max(MIN_VIDEO_BITRATE.min(self.source.video_bitrate));
            match VideoEncoder::new(place.width, place.height, self.source.max_fps, bitrate) {
                Ok(encoder) => {
                    tracing::info!("broadcast: a film plays at {place}, sent as H.264");
                    self.film = Some(Film {
                        place,
                        encoder,
                        since_keyframe: 0,
                    });
                }
                Err(error) => {
                    tracing::warn!("broadcast: no H.264 ({error}); the film goes as tiles");
                    self.source.video_bitrate = 0;
                }
            }
        }
        ended
    }

    /// The film's next frame from `frame`, which is then blacked out
    /// there for the tiles; `None` when the encoder skipped it.
    fn film_frame(&mut self, frame: &mut Frame, keyframe: bool) -> Option<ScreenTile> {
        let film = self.film.as_mut()?;
        let place = film.place;
        let part = frame.crop(place.x, place.y, place.width, place.height)?;
        frame.fill_rect(
            i64::from(place.x),
            i64::from(place.y),
            i64::from(place.width),
            i64::from(place.height),
            [0, 0, 0, 255],
        );
        if keyframe || film.since_keyframe + 1 >= KEYFRAME_EVERY {
            film.encoder.force_keyframe();
        }
        match film.encoder.encode(&part) {
            Ok(Some(encoded)) => {
                film.since_keyframe = if encoded.keyframe {
                    0
                } else {
                    film.since_keyframe + 1
                };
                Some(ScreenTile {
                    x: place.x,
                    y: place.y,
                    width: place.width,
                    height: place.height,
                    encoding: TileEncoding::H264,
                    data: encoded.data,
                })
            }
            Ok(None) => None,
            Err(error) => {
                tracing::warn!("broadcast: {error}; the film goes as tiles");
                self.film = None;
                self.source.video_bitrate = 0;
                None
            }
        }
    }

    /// Captures and encodes the screen as it is now: what changed since the
    /// last picture (everything the first time), the film's part as H.264
    /// (a keyframe if `keyframe`).
    fn take(
        &mut self,
        capture: &mut dyn CaptureSource,
        keyframe: bool,
    ) -> Result<(ScreenUpdate, Taken), ConsoleError> {
        let started = Instant::now();
        let captured_at_micros = unix_micros();
        let change = capture.change_counter();
        let area = match self.source.area {
            BroadcastArea::Monitor(index) => ScreenArea::Monitor(index),
            BroadcastArea::Desktop | BroadcastArea::Region(_) => ScreenArea::Desktop,
        };
        let mut frame = capture
            .capture(area)
            .map_err(|e| ConsoleError::Capture(e.to_string()))?;
        if let BroadcastArea::Region(region) = self.source.area {
            frame = crop(&frame, region)?;
        }
        let mut frame = self
            .scaler
            .fit(frame, self.source.max_width, self.source.max_height);
        let mut film_ended = self.follow_film(&frame);
        let had_film = self.film.is_some();
        let film = self.film_frame(&mut frame, keyframe);
        // An encoder that failed ended its film too.
        film_ended |= had_film && self.film.is_none();
        let encoded = self.encoder.encode(frame);
        self.last_change = change;
        self.sequence += 1;
        let mut tiles = screen_tiles(encoded.tiles);
        tiles.extend(film);
        let update = ScreenUpdate {
            sequence: self.sequence,
            width: encoded.width,
            height: encoded.height,
            captured_at_micros,
            agent_micros: u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX),
            tiles,
        };
        Ok((update, Taken { film_ended }))
    }

    /// Takes pictures at the set rate until the broadcast stops; a still
    /// screen (where the source can tell) is not captured at all.
    fn run(mut self, mut capture: Box<dyn CaptureSource>, hub: &Hub) {
        hub.encoded.fetch_add(1, Ordering::Relaxed); // the first picture, taken before
        let period = Duration::from_secs_f64(1.0 / f64::from(self.source.max_fps.clamp(1, 60)));
        let mut next = Instant::now() + period;
        while !hub.stopped() {
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
            next = (next + period).max(Instant::now());
            if hub.fanout().wants_whole_picture() {
                self.encoder.reset();
                self.last_change = None;
            }
            let keyframe = hub.fanout().wants_keyframe();
            // A still screen is not captured — but while a film plays it
            // is, so that a paused film is found to have stopped.
            let change = capture.change_counter();
            if change.is_some() && change == self.last_change && self.film.is_none() {
                continue;
            }
            match self.take(capture.as_mut(), keyframe) {
                Ok((update, taken)) => {
                    hub.encoded.fetch_add(1, Ordering::Relaxed);
                    if taken.film_ended {
                        hub.fanout().end_video();
                    }
                    if !update.tiles.is_empty() {
                        hub.publish(&update);
                    }
                }
                Err(error) => {
                    // A screen that comes back (a resolution change, a lost
                    // duplication) is taken up again; say so once a second at most.
                    tracing::warn!("broadcast: {error}");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }
}

/// The region of `frame`; an error when it lies outside.
fn crop(frame: &Frame, region: Region) -> Result<Frame, ConsoleError> {
    frame
        .crop(region.x, region.y, region.width, region.height)
        .ok_or_else(|| {
            ConsoleError::BadInput(format!(
                "the region at {},{} lies outside the {}x{} screen",
                region.x,
                region.y,
                frame.width(),
                frame.height()
            ))
        })
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Passes a student's updates on until the stream or the broadcast ends.
async fn relay(mut stream: ScreenStream, settings: WatchSettings, hub: Arc<Hub>) {
    let mut stop = hub.stop.subscribe();
    let why = loop {
        let update = tokio::select! {
            update = stream.next_update() => update,
            _ = stop.wait_for(|stopped| *stopped) => break None,
        };
        match update {
            Ok(Some(update)) => {
                if update.tiles.is_empty() {
                    continue; // a keep-alive
                }
                let taken = hub.publish(&update);
                if !taken || hub.fanout().wants_whole_picture() {
                    // The same settings again ask the agent for its whole picture.
                    if let Err(error) = stream.adjust(settings).await {
                        break Some(error.to_string());
                    }
                }
            }
            Ok(None) => break Some("the student's screen stream ended".to_owned()),
            Err(error) => break Some(error.to_string()),
        }
    };
    stream.stop().await;
    if let Some(why) = why {
        hub.end_source(why);
    }
}

/// Keeps `report`'s device showing the broadcast until it stops: connects,
/// opens the broadcast stream, serves it, and tries again after anything
/// but a refusal that will not change.
async fn supervise<F, Fut>(
    hub: Arc<Hub>,
    mode: BroadcastMode,
    connect: F,
    report: Arc<Mutex<ReceiverReport>>,
) where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Arc<DeviceSession>, ConsoleError>> + Send + 'static,
{
    let note = |change: &dyn Fn(&mut ReceiverReport)| {
        change(&mut report.lock().unwrap_or_else(|p| p.into_inner()));
    };
    let mut stop = hub.stop.subscribe();
    let mut pause = FIRST_RETRY;
    while !hub.stopped() {
        let attempt = async {
            // An agent without broadcasts says so: `Unsupported`, given up.
            connect().await?.open_broadcast(mode).await
        };
        let opened = tokio::select! {
            opened = attempt => opened,
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        let outcome = match opened {
            Ok((link, send, recv)) => {
                note(&|r| {
                    r.showing = true;
                    r.reached = true;
                    r.problem = None;
                });
                let opened_at = Instant::now();
                let served = serve_receiver(&hub, &link, send, recv, &report).await;
                note(&|r| r.showing = false);
                if opened_at.elapsed() >= STEADY {
                    pause = FIRST_RETRY;
                }
                served
            }
            Err(error) => Err(error),
        };
        let Err(error) = outcome else {
            break; // stopped
        };
        let lasting = lasting(&error);
        tracing::debug!("broadcast: {error}");
        note(&|r| {
            r.problem = Some(error.clone());
            r.given_up = lasting;
        });
        if lasting {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
        pause = (pause * 2).min(MAX_RETRY);
    }
}

/// Whether trying again cannot help: the device refuses this console, or
/// this broadcast, for a reason only a person can change.
fn lasting(error: &ConsoleError) -> bool {
    match error {
        ConsoleError::Refused { .. }
        | ConsoleError::NotSteerable { .. }
        | ConsoleError::NotInRoom { .. }
        | ConsoleError::NoAddress { .. }
        | ConsoleError::AgentNotVerified { .. }
        | ConsoleError::Certificate { .. } => true,
        ConsoleError::Agent { error, .. } => matches!(
            error.code,
            ErrorCode::NotGranted | ErrorCode::Unsupported | ErrorCode::InUse | ErrorCode::Locked
        ),
        _ => false,
    }
}

/// Writes the fan-out's updates to one device whenever it holds credit,
/// until the broadcast stops (`Ok`) or the device ends the stream (`Err`).
async fn serve_receiver(
    hub: &Arc<Hub>,
    link: &Link,
    mut send: SendStream,
    mut recv: RecvStream,
    report: &Arc<Mutex<ReceiverReport>>,
) -> Result<(), ConsoleError> {
    let receiver = hub.fanout().join();
    let (credit_in, mut credit) = tokio::sync::mpsc::channel(16);
    let reader_link = link.clone();
    let reader = tokio::spawn(async move {
        loop {
            match read_message::<BroadcastNews>(&mut recv).await {
                Ok(Some(BroadcastNews::Credit(granted))) => {
                    if credit_in.send(Ok(granted)).await.is_err() {
                        return;
                    }
                }
                Ok(Some(BroadcastNews::Ended(error))) => {
                    let _ = credit_in
                        .send(Err(ConsoleError::Agent {
                            device: reader_link.device.name.clone(),
                            error,
                        }))
                        .await;
                    return;
                }
                Ok(None) => {
                    let ended = reader_link.protocol("the agent ended the broadcast");
                    let _ = credit_in.send(Err(ended)).await;
                    return;
                }
                Err(error) => {
                    let _ = credit_in.send(reader_link.check(Err(error))).await;
                    return;
                }
            }
        }
    });
    let mut pictures = hub.pictures.subscribe();
    let mut stop = hub.stop.subscribe();
    let work = async {
        loop {
            loop {
                let next = hub.fanout().next_update(receiver);
                let Some(mut outgoing) = next else { break };
                link.check(
                    send.write_all_chunks(&mut outgoing.parts)
                        .await
                        .map_err(|e| pult_protocol::frame::FrameError::Io(e.into())),
                )?;
                let mut report = report.lock().unwrap_or_else(|p| p.into_inner());
                report.updates += 1;
                report.bytes += outgoing.bytes as u64;
            }
            tokio::select! {
                granted = credit.recv() => match granted {
                    Some(Ok(granted)) => hub.fanout().grant(receiver, granted),
                    Some(Err(error)) => return Err(error),
                    None => return Err(link.protocol("the broadcast stream broke off")),
                },
                changed = pictures.changed() => if changed.is_err() {
                    return Ok(());
                },
            }
        }
    };
    let outcome = tokio::select! {
        outcome = work => outcome,
        _ = stop.wait_for(|stopped| *stopped) => Ok(()),
    };
    hub.fanout().leave(receiver);
    reader.abort();
    match outcome {
        // Finishing tells the agent to end the picture: the desktop comes back.
        Ok(()) => {
            let _ = send.finish();
            // Give the finish a moment to leave before the connection may go.
            let _ = tokio::time::timeout(Duration::from_secs(1), send.stopped()).await;
        }
        Err(_) => {
            let _ = send.reset(0u32.into());
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use pult_screen::SyntheticDesktop;

    use super::*;

    #[test]
    fn a_region_is_read_as_x_y_width_height() {
        assert_eq!(
            "10, 20,640,480".parse::<Region>(),
            Ok(Region {
                x: 10,
                y: 20,
                width: 640,
                height: 480
            })
        );
        for bad in ["10,20,640", "a,b,c,d", "0,0,8,8", "1,2,3,4,5", ""] {
            assert!(bad.parse::<Region>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_camera_sends_the_region_whole_and_scaled_to_fit() {
        let mut screen: Box<dyn CaptureSource> = Box::new(SyntheticDesktop::new(1280, 720));
        let mut camera = Camera::new(ScreenSource {
            area: BroadcastArea::Region(Region {
                x: 100,
                y: 100,
                width: 800,
                height: 400,
            }),
            max_width: 400,
            max_height: 400,
            ..ScreenSource::default()
        });
        let (first, _) = camera.take(screen.as_mut(), false).unwrap();
        assert_eq!(
            (first.width, first.height),
            (400, 200),
            "800x400 scaled to fit 400 wide"
        );
        let tiles = first
            .tiles
            .iter()
            .map(|t| u64::from(t.width * t.height))
            .sum::<u64>();
        assert_eq!(tiles, 400 * 200, "the first picture is whole");
        let outside = Camera::new(ScreenSource {
            area: BroadcastArea::Region(Region {
                x: 5000,
                y: 0,
                width: 100,
                height: 100,
            }),
            ..ScreenSource::default()
        })
        .take(screen.as_mut(), false);
        assert!(matches!(outside, Err(ConsoleError::BadInput(_))));
    }

    /// A white 1280x720 desktop where a film plays at `FILM` while `playing`.
    struct Cinema {
        step: u32,
        playing: bool,
    }

    const FILM: TileRect = TileRect {
        x: 256,
        y: 128,
        width: 512,
        height: 320,
    };

    impl CaptureSource for Cinema {
        fn capture(&mut self, _area: ScreenArea) -> Result<Frame, pult_screen::CaptureError> {
            if self.playing {
                self.step += 1;
            }
            let mut frame = Frame::filled(1280, 720, [255, 255, 255, 255]);
            for band in 0..FILM.height / 8 {
                let shade = ((band * 13 + self.step * 7) % 256) as u8;
                frame.fill_rect(
                    i64::from(FILM.x),
                    i64::from(FILM.y + band * 8),
                    i64::from(FILM.width),
                    8,
                    [shade, 255 - shade, shade / 2, 255],
                );
            }
            Ok(frame)
        }

        fn monitors(&mut self) -> Result<Vec<pult_screen::MonitorInfo>, pult_screen::CaptureError> {
            Ok(Vec::new())
        }

        fn describe(&self) -> String {
            "cinema".into()
        }
    }

    #[test]
    fn a_film_goes_as_h264_over_black_tiles_and_back_to_tiles_when_it_stops() {
        let mut cinema = Cinema {
            step: 0,
            playing: true,
        };
        let mut camera = Camera::new(ScreenSource::default());
        let mut decoder = pult_screen::codec::FrameDecoder::new();
        let mut film_started = None;
        for picture in 0..60 {
            let (update, _) = camera.take(&mut cinema, false).unwrap();
            let video: Vec<_> = update
                .tiles
                .iter()
                .filter(|t| t.encoding == TileEncoding::H264)
                .collect();
            if let Some(frame) = video.first() {
                film_started.get_or_insert(picture);
                assert_eq!(
                    (frame.x, frame.y, frame.width, frame.height),
                    (FILM.x, FILM.y, FILM.width, FILM.height)
                );
                let images: u32 = update
                    .tiles
                    .iter()
                    .filter(|t| t.encoding != TileEncoding::H264)
                    .map(|t| t.width * t.height)
                    .sum();
                if Some(picture) != film_started {
                    assert_eq!(
                        images, 0,
                        "picture {picture}: the film's part is not in tiles"
                    );
                }
            }
            decoder
                .apply(&pult_screen::wire::encoded_frame(update))
                .unwrap();
        }
        let started = film_started.expect("the film went as H.264");
        assert!(started <= 30, "after {started} pictures");
        // What the student sees is the film, close to the teacher's.
        let shown = decoder.frame().unwrap().clone();
        let teacher = cinema.capture(ScreenArea::Desktop).unwrap();
        let middle = (FILM.x + 200, FILM.y + 100);
        let (a, b) = (
            shown.pixel(middle.0, middle.1).unwrap(),
            teacher.pixel(middle.0, middle.1).unwrap(),
        );
        assert!(
            a.iter().zip(b).all(|(p, q)| p.abs_diff(q) < 40),
            "{a:?} vs {b:?}"
        );
        // The film stops: its part comes back as tiles, exact.
        cinema.playing = false;
        let mut ended = false;
        for _ in 0..40 {
            let (update, taken) = camera.take(&mut cinema, false).unwrap();
            ended |= taken.film_ended;
            decoder
                .apply(&pult_screen::wire::encoded_frame(update))
                .unwrap();
        }
        assert!(ended, "the film ended");
        assert_eq!(
            decoder.frame().unwrap().pixels(),
            cinema.capture(ScreenArea::Desktop).unwrap().pixels()
        );
    }
}
