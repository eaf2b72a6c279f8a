//! The room session: the teacher's live view of one room, headless.
//!
//! It connects to every device of the room at once, keeps a status per device
//! (connecting, online with the logged-on user, offline, refused, not
//! steerable), reconnects with backoff, uses addresses found by mDNS before
//! the registry's, keeps a screen stream per device at the size the viewer
//! shows it, and runs actions on a selection of devices at once, reporting
//! per device. The app and `pultctl status` are thin layers over it.
//!
//! One device's commands run side by side, each on a stream of its own: a
//! slow screenshot holds up neither a status request nor an action to the
//! same device, and ending the session never waits for one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pult_protocol::credentials::{RoomDevice, RoomManifest};
use pult_protocol::message::{AgentStatus, ErrorCode, Screenshot, WebUrl};
use pult_protocol::power::{Mac, PowerAction};
use pult_protocol::watch::{ScreenUpdate, WatchSettings};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use crate::{Console, ConsoleError, ControlSession, DeviceSession, Discovery, RoomCertificate};

/// How often the logged-on user is asked for again.
const STATUS_INTERVAL: Duration = Duration::from_secs(15);
/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between attempts to reach a device.
const MAX_BACKOFF: Duration = Duration::from_secs(3);
/// The first wait before a device without a picture, because its student
/// cannot be notified (nobody logged on, the helper restarting), is asked
/// again; it doubles up to [`PICTURE_RETRY_MAX`], since every refused
/// request is a line in the agent's audit log. Someone logging on (the
/// status poll names them) asks at once.
const PICTURE_RETRY: Duration = Duration::from_secs(2);
/// The longest wait between two such requests.
const PICTURE_RETRY_MAX: Duration = Duration::from_secs(60);
/// The wait before reconnecting to a device whose agent refused this
/// certificate or sent what the console refuses: it will not mend by itself soon.
const REFUSED_BACKOFF: Duration = Duration::from_secs(30);
/// Events waiting for the viewer; beyond this the screen streams pause
/// (their credit is not returned), which is the flow control working.
const EVENT_BUFFER: usize = 64;

/// How a room session behaves.
#[derive(Clone, Copy, Debug)]
pub struct SessionOptions {
    /// The screen stream every device starts with.
    pub thumbnail: WatchSettings,
    /// Whether to look for devices by mDNS on the local network.
    pub discover: bool,
    /// How many screen updates of one device may be handed out and not yet
    /// shown ([`RoomSession::shown`]) before that device's stream waits; the
    /// agent's credit continued into a viewer that draws asynchronously, like
    /// the app's web view. `None`: updates are shown once taken from the
    /// event receiver.
    pub viewer_credit: Option<usize>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            thumbnail: WatchSettings::THUMBNAIL,
            discover: true,
            viewer_credit: None,
        }
    }
}

/// Where a device stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DeviceState {
    /// Trying to reach it.
    Connecting,
    /// Connected and streaming.
    Online,
    /// Not reachable; `reason` says what happened last.
    Offline {
        /// What happened, in English (logs, `pultctl`).
        reason: String,
        /// The error's stable code ([`ConsoleError::code`]), for the app to
        /// word in the teacher's language.
        code: &'static str,
    },
    /// Its agent refused this room certificate.
    Refused {
        /// What the agent's refusal means, in English.
        reason: String,
        /// The error's stable code.
        code: &'static str,
    },
    /// An admin marked it not steerable (R10): it is not contacted.
    NotSteerable,
}

/// What the teacher sees of one device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceStatus {
    /// The device's name.
    pub name: String,
    /// Where it stands in the room.
    pub position: Option<String>,
    /// Its state.
    pub state: DeviceState,
    /// Who is logged on (R15), while online.
    pub user: Option<String>,
    /// Who locked the screen (R20), while it is locked.
    pub locked: Option<String>,
    /// The address in use or last tried.
    pub address: Option<String>,
}

/// What happens in the room.
#[derive(Debug)]
pub enum RoomEvent {
    /// A device's status changed.
    Status(DeviceStatus),
    /// A device's screen changed.
    Screen {
        /// The device.
        device: String,
        /// The changed tiles.
        update: ScreenUpdate,
    },
}

/// Something to do on student computers.
#[derive(Clone, Debug)]
pub enum Action {
    /// Open a web page (R5).
    OpenUrl(WebUrl),
    /// Start a program (R4).
    RunProgram {
        /// The program.
        program: String,
        /// Its arguments.
        args: Vec<String>,
    },
    /// Show a message window.
    Message {
        /// Its title, if any.
        title: Option<String>,
        /// The text.
        text: String,
    },
    /// Lock the screen (R20) with these words.
    Lock(Option<String>),
    /// End the lock (R20).
    Unlock,
    /// Restart, shut down or log off after a delay in seconds.
    Power(PowerAction, u32),
    /// Call off the power action still waiting.
    PowerCancel,
    /// Send magic packets for these MACs (as a relay for devices that sleep).
    Wake(Vec<Mac>),
}

enum Command {
    Watch(WatchSettings),
    Status(oneshot::Sender<Result<AgentStatus, ConsoleError>>),
    Screenshot(oneshot::Sender<Result<Screenshot, ConsoleError>>),
    Act(Action, oneshot::Sender<Result<(), ConsoleError>>),
    Control(oneshot::Sender<Result<ControlSession, ConsoleError>>),
    Session(oneshot::Sender<Result<Arc<DeviceSession>, ConsoleError>>),
}

type Statuses = Arc<Mutex<BTreeMap<usize, DeviceStatus>>>;

/// Screen updates of one device the viewer may still be handed (see
/// [`SessionOptions::viewer_credit`]).
struct ViewerCredit {
    available: tokio::sync::Semaphore,
    limit: usize,
}

impl ViewerCredit {
    /// Waits for one credit; `false` if the session is ending.
    async fn take(&self) -> bool {
        match self.available.acquire().await {
            Ok(permit) => {
                permit.forget();
                true
            }
            Err(_) => false,
        }
    }

    /// Returns `count` credits, never above the limit.
    fn give_back(&self, count: usize) {
        let room = self
            .limit
            .saturating_sub(self.available.available_permits());
        self.available.add_permits(count.min(room));
    }
}

/// A Pult agent on the network that this room's certificate does not list
/// (R14): shown to the teacher while the room is open, stored nowhere.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnknownDevice {
    /// The name it announces (its own word).
    pub name: String,
    /// Where it announced itself.
    pub address: String,
}

/// A live session with every device of one room; ends when dropped.
pub struct RoomSession {
    manifest: RoomManifest,
    commands: BTreeMap<String, mpsc::Sender<Command>>,
    credits: BTreeMap<String, Arc<ViewerCredit>>,
    statuses: Statuses,
    tasks: Vec<JoinHandle<()>>,
    console: Arc<Console>,
    discovery: Option<Arc<Discovery>>,
}

impl RoomSession {
    /// Starts the session for `room`; events arrive on the returned receiver.
    pub fn start(
        room: RoomCertificate,
        options: SessionOptions,
    ) -> Result<(Self, mpsc::Receiver<RoomEvent>), ConsoleError> {
        let manifest = room.manifest.clone();
        let discovery = if options.discover {
            Some(Arc::new(Discovery::start()?))
        } else {
            None
        };
        let console = Arc::new(Console::new(room)?);
        let (events, receiver) = mpsc::channel(EVENT_BUFFER);
        let statuses: Statuses = Arc::default();
        let mut commands = BTreeMap::new();
        let mut credits = BTreeMap::new();
        let mut tasks = Vec::new();
        for (index, device) in manifest.devices.iter().enumerate() {
            let (sender, inbox) = mpsc::channel(16);
            commands.insert(device.name.clone(), sender);
            let status = DeviceStatus {
                name: device.name.clone(),
                position: device.position.clone(),
                state: if device.steerable {
                    DeviceState::Connecting
                } else {
                    DeviceState::NotSteerable
                },
                user: None,
                locked: None,
                address: device.address.map(|a| a.to_string()),
            };
            statuses
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(index, status.clone());
            let credit = options.viewer_credit.map(|limit| {
                Arc::new(ViewerCredit {
                    available: tokio::sync::Semaphore::new(limit),
                    limit,
                })
            });
            if let Some(credit) = &credit {
                credits.insert(device.name.clone(), credit.clone());
            }
            let supervisor = Supervisor {
                console: console.clone(),
                device: device.clone(),
                discovery: discovery.clone(),
                events: events.clone(),
                statuses: statuses.clone(),
                index,
                status,
                watch: options.thumbnail,
                credit,
            };
            tasks.push(tokio::spawn(supervisor.run(inbox)));
        }
        Ok((
            Self {
                manifest,
                commands,
                credits,
                statuses,
                tasks,
                console,
                discovery,
            },
            receiver,
        ))
    }

    /// The agents found on the network (with `discover` on) that are not
    /// devices of this room's certificate (R14), in the order of their names.
    pub fn unknown_devices(&self) -> Vec<UnknownDevice> {
        let Some(discovery) = &self.discovery else {
            return Vec::new();
        };
        let known: std::collections::HashSet<pult_protocol::DeviceId> =
            self.manifest.devices.iter().map(|d| d.uuid).collect();
        discovery
            .announced()
            .into_iter()
            .filter(|a| !known.contains(&a.device))
            .map(|a| UnknownDevice {
                name: a.name,
                address: a.address.to_string(),
            })
            .collect()
    }

    /// Takes the renewed certificate `room` for every connection from now
    /// on; one of another school or room is refused.
    pub fn renew(&self, room: &RoomCertificate) -> Result<(), ConsoleError> {
        if room.manifest.organisation != self.manifest.organisation
            || room.manifest.room != self.manifest.room
        {
            return Err(ConsoleError::Certificate {
                dir: std::path::PathBuf::new(),
                detail: format!(
                    "the renewed certificate is for {} {}, not {} {}",
                    room.manifest.organisation,
                    room.manifest.room,
                    self.manifest.organisation,
                    self.manifest.room
                ),
            });
        }
        self.console.renew(room);
        Ok(())
    }

    /// The room and its devices.
    pub fn manifest(&self) -> &RoomManifest {
        &self.manifest
    }

    /// Every device's status, in the room's order.
    pub fn statuses(&self) -> Vec<DeviceStatus> {
        self.statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The viewer has shown one screen update of `device`: its stream may
    /// hand out the next (with [`SessionOptions::viewer_credit`]).
    pub fn shown(&self, device: &str) {
        if let Some(credit) = self.credits.get(device) {
            credit.give_back(1);
        }
    }

    /// A new viewer replaced the old one (a reloaded page): what was handed to
    /// the old one will never be shown, so every stream gets its full credit.
    pub fn viewer_replaced(&self) {
        for credit in self.credits.values() {
            credit.give_back(credit.limit);
        }
    }

    /// Changes the screen stream of `device` (a bigger view, a new thumbnail size).
    pub async fn watch(&self, device: &str, settings: WatchSettings) -> Result<(), ConsoleError> {
        self.sender(device)?
            .send(Command::Watch(settings))
            .await
            .map_err(|_| gone(device))
    }

    /// Changes the screen streams of every device.
    pub async fn watch_all(&self, settings: WatchSettings) {
        for sender in self.commands.values() {
            let _ = sender.send(Command::Watch(settings)).await;
        }
    }

    /// Asks `device` now who is logged on and whether its screen is watched
    /// (R15); the answer also updates the device's status.
    pub async fn ask_status(&self, device: &str) -> Result<AgentStatus, ConsoleError> {
        let (reply, answer) = oneshot::channel();
        self.sender(device)?
            .send(Command::Status(reply))
            .await
            .map_err(|_| gone(device))?;
        answer.await.map_err(|_| gone(device))?
    }

    /// Takes a screenshot of `device` (R2).
    pub async fn screenshot(&self, device: &str) -> Result<Screenshot, ConsoleError> {
        let (reply, answer) = oneshot::channel();
        self.sender(device)?
            .send(Command::Screenshot(reply))
            .await
            .map_err(|_| gone(device))?;
        answer.await.map_err(|_| gone(device))?
    }

    /// Takes over mouse and keyboard of `device` (R3); control lasts as long
    /// as the returned session (or the connection).
    pub async fn control(&self, device: &str) -> Result<ControlSession, ConsoleError> {
        let (reply, answer) = oneshot::channel();
        self.sender(device)?
            .send(Command::Control(reply))
            .await
            .map_err(|_| gone(device))?;
        answer.await.map_err(|_| gone(device))?
    }

    /// A way to reach `device`'s current connection from anywhere, as long
    /// as the session lasts (a broadcast's receiver asks for it whenever it
    /// tries the device).
    pub fn connector(&self, device: &str) -> Result<Connector, ConsoleError> {
        Ok(Connector {
            device: device.to_owned(),
            commands: self.sender(device)?.clone(),
        })
    }

    /// Wakes `devices` (wake-on-LAN): magic packets from here, to each local
    /// network and `extra`, and from up to [`crate::wake::RELAYS`] online
    /// devices of the room on theirs. One result per device, in the order given.
    pub async fn wake(&self, devices: &[String], extra: &[SocketAddr]) -> crate::wake::WakeResults {
        let (macs, results) = crate::wake::plan(&self.manifest, devices);
        if macs.is_empty() {
            return results;
        }
        let here = crate::wake::send_here(&macs, extra);
        let statuses = self.statuses();
        let relays: Vec<String> = crate::wake::relays(&self.manifest, |name| {
            statuses
                .iter()
                .any(|s| s.name == name && s.state == DeviceState::Online)
        })
        .into_iter()
        .map(str::to_owned)
        .collect();
        let relayed = self.act(&relays, &Action::Wake(macs)).await;
        for (relay, outcome) in &relayed {
            if let Err(error) = outcome {
                tracing::info!("{relay} did not relay the wake-up: {error}");
            }
        }
        crate::wake::settle(results, &here, relayed.iter().any(|(_, r)| r.is_ok()))
    }

    /// Runs `action` on `devices` at once; one result per device, in the order given.
    pub async fn act(
        &self,
        devices: &[String],
        action: &Action,
    ) -> Vec<(String, Result<(), ConsoleError>)> {
        let mut pending = Vec::with_capacity(devices.len());
        for device in devices {
            let answer = match self.sender(device) {
                Ok(sender) => {
                    let (reply, answer) = oneshot::channel();
                    match sender.send(Command::Act(action.clone(), reply)).await {
                        Ok(()) => Ok(answer),
                        Err(_) => Err(gone(device)),
                    }
                }
                Err(error) => Err(error),
            };
            pending.push((device.clone(), answer));
        }
        let mut results = Vec::with_capacity(pending.len());
        for (device, answer) in pending {
            let result = match answer {
                Ok(answer) => answer.await.unwrap_or_else(|_| Err(gone(&device))),
                Err(error) => Err(error),
            };
            results.push((device, result));
        }
        results
    }

    fn sender(&self, device: &str) -> Result<&mpsc::Sender<Command>, ConsoleError> {
        self.commands
            .get(device)
            .ok_or_else(|| ConsoleError::NotInRoom {
                device: device.to_owned(),
                room: self.manifest.room.clone(),
            })
    }
}

impl RoomSession {
    /// Ends the session's connections; a program that exits calls this
    /// first, so that no agent keeps the notice up waiting (see [`crate::Closer`]).
    pub async fn close(&self, within: std::time::Duration) {
        for task in &self.tasks {
            task.abort();
        }
        self.console.closer().close(within).await;
    }
}

impl Drop for RoomSession {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Reaches one device's connection while the room session keeps it (see
/// [`RoomSession::connector`]).
#[derive(Clone)]
pub struct Connector {
    device: String,
    commands: mpsc::Sender<Command>,
}

impl Connector {
    /// The device's connection now; an error saying why when it has none.
    pub async fn session(&self) -> Result<Arc<DeviceSession>, ConsoleError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Session(reply))
            .await
            .map_err(|_| gone(&self.device))?;
        answer.await.map_err(|_| gone(&self.device))?
    }
}

fn gone(device: &str) -> ConsoleError {
    ConsoleError::Protocol {
        device: device.to_owned(),
        detail: "the room session has ended".into(),
    }
}

/// Keeps one device connected and serves its commands.
struct Supervisor {
    console: Arc<Console>,
    device: RoomDevice,
    discovery: Option<Arc<Discovery>>,
    events: mpsc::Sender<RoomEvent>,
    statuses: Statuses,
    index: usize,
    status: DeviceStatus,
    watch: WatchSettings,
    credit: Option<Arc<ViewerCredit>>,
}

impl Supervisor {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        if !self.device.steerable {
            self.publish().await;
            while let Some(command) = commands.recv().await {
                self.refuse(command, "an admin marked this device not steerable (R10)");
            }
            return;
        }
        let mut backoff = FIRST_BACKOFF;
        loop {
            let Some(address) = self.address() else {
                self.set(
                    DeviceState::Offline {
                        reason: "no address is known for this device".into(),
                        code: "no-address",
                    },
                    None,
                )
                .await;
                if !self.wait(&mut commands, Duration::from_secs(5)).await {
                    return;
                }
                continue;
            };
            self.status.address = Some(address.to_string());
            if matches!(self.status.state, DeviceState::Online) {
                self.set(DeviceState::Connecting, None).await;
            }
            let (console, device) = (self.console.clone(), self.device.clone());
            let attempt = async move { console.connect_at(&device, address).await };
            tokio::pin!(attempt);
            let connected = loop {
                tokio::select! {
                    result = &mut attempt => break result,
                    command = commands.recv() => match command {
                        Some(command) => self.refuse(command, "the device is not connected yet"),
                        None => return,
                    },
                }
            };
            match connected {
                Ok(session) => {
                    backoff = FIRST_BACKOFF;
                    match self.serve(session, &mut commands).await {
                        Some(reason) => {
                            let refused = matches!(reason, ConsoleError::BadPicture { .. });
                            self.set(
                                DeviceState::Offline {
                                    reason: reason.to_string(),
                                    code: reason.code(),
                                },
                                None,
                            )
                            .await;
                            // An agent that sent what the console refuses is
                            // not asked again at once (it would only repeat it).
                            if refused && !self.wait(&mut commands, REFUSED_BACKOFF).await {
                                return;
                            }
                        }
                        None => return,
                    }
                }
                Err(error) => {
                    let state = match &error {
                        ConsoleError::Refused { .. } | ConsoleError::AgentNotVerified { .. } => {
                            DeviceState::Refused {
                                reason: error.to_string(),
                                code: error.code(),
                            }
                        }
                        _ => DeviceState::Offline {
                            reason: error.to_string(),
                            code: error.code(),
                        },
                    };
                    // A refusal will not go away by itself soon: try again rarely.
                    let wait = if matches!(state, DeviceState::Refused { .. }) {
                        REFUSED_BACKOFF
                    } else {
                        backoff
                    };
                    self.set(state, None).await;
                    if !self.wait(&mut commands, wait).await {
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Serves a connected device until the connection or its screen stream
    /// ends (`Some(why)`) or the session does (`None`). Each command runs as a
    /// job of its own on a stream of its own; this loop only hands them out,
    /// so none waits for another and the end of the session waits for none.
    async fn serve(
        &mut self,
        session: DeviceSession,
        commands: &mut mpsc::Receiver<Command>,
    ) -> Option<ConsoleError> {
        let session = Arc::new(session);
        // No screen stream while the student cannot be notified (nobody
        // logged on, the helper restarting): the device is online without a
        // picture, and the stream is asked for again (R1).
        let mut screen = match self.open_screen(&session).await {
            Ok(screen) => screen,
            Err(error) => return Some(error),
        };
        let mut viewer_gone = false;
        let mut jobs = JoinSet::new();
        // The device shows as online once it has said who is logged on.
        jobs.spawn(ask_user(session.clone(), None));
        let closed = session.close_signal();
        let mut ticker = tokio::time::interval(STATUS_INTERVAL);
        ticker.tick().await;
        let mut picture_wait = PICTURE_RETRY;
        let retry = tokio::time::sleep(picture_wait);
        tokio::pin!(retry);
        let reason = loop {
            tokio::select! {
                reason = closed.wait() => break Some(reason),
                ended = screen_ended(&mut screen) => {
                    if let Some(ended) = screen.take() {
                        ended.control.stop().await;
                    }
                    match ended {
                        Ok(Some(error)) if cannot_notify(&error) => {
                            picture_wait = PICTURE_RETRY;
                            retry.as_mut().reset(tokio::time::Instant::now() + picture_wait);
                        }
                        Ok(Some(error)) => break Some(error),
                        // The viewer is gone: the session is ending.
                        _ => viewer_gone = true,
                    }
                },
                () = &mut retry, if screen.is_none() && !viewer_gone => {
                    match self.open_screen(&session).await {
                        Ok(Some(opened)) => screen = Some(opened),
                        Ok(None) => picture_wait = (picture_wait * 2).min(PICTURE_RETRY_MAX),
                        Err(error) => break Some(error),
                    }
                    retry.as_mut().reset(tokio::time::Instant::now() + picture_wait);
                },
                Some(finished) = jobs.join_next() => match finished {
                    Ok(Finished::Status { user, locked }) => {
                        if screen.is_none() && user.is_some() && user != self.status.user {
                            picture_wait = PICTURE_RETRY;
                            retry.as_mut().reset(tokio::time::Instant::now());
                        }
                        self.set_online(user, locked).await;
                    }
                    Ok(Finished::StatusFailed) if self.status.state != DeviceState::Online => {
                        self.set(DeviceState::Online, None).await
                    }
                    _ => {}
                },
                command = commands.recv() => match command {
                    Some(Command::Watch(settings)) => {
                        self.watch = settings;
                        if let Some(screen) = &screen {
                            let _ = screen.control.adjust(settings).await;
                        }
                    }
                    Some(Command::Status(reply)) => {
                        jobs.spawn(ask_user(session.clone(), Some(reply)));
                    }
                    Some(Command::Screenshot(reply)) => {
                        let session = session.clone();
                        jobs.spawn(async move {
                            let _ = reply.send(session.screenshot().await);
                            Finished::Other
                        });
                    }
                    Some(Command::Act(action, reply)) => {
                        let session = session.clone();
                        jobs.spawn(async move {
                            let result = match &action {
                                Action::OpenUrl(url) => session.open_url(url).await,
                                Action::RunProgram { program, args } => {
                                    session.run_program(program, args).await
                                }
                                Action::Message { title, text } => {
                                    session.message(title.as_deref(), text).await
                                }
                                Action::Lock(message) => session.lock(message.as_deref()).await,
                                Action::Unlock => session.unlock().await,
                                Action::Power(action, delay) => session.power(*action, *delay).await,
                                Action::PowerCancel => session.power_cancel().await,
                                Action::Wake(macs) => session.wake(macs).await,
                            };
                            let _ = reply.send(result);
                            // The card shows the lock as soon as it is there.
                            if matches!(action, Action::Lock(_) | Action::Unlock) {
                                ask_user(session, None).await
                            } else {
                                Finished::Other
                            }
                        });
                    }
                    Some(Command::Control(reply)) => {
                        let session = session.clone();
                        jobs.spawn(async move {
                            let _ = reply.send(session.control().await);
                            Finished::Other
                        });
                    }
                    Some(Command::Session(reply)) => {
                        let _ = reply.send(Ok(session.clone()));
                    }
                    None => break None,
                },
                _ = ticker.tick() => {
                    jobs.spawn(ask_user(session.clone(), None));
                }
            }
        };
        if let Some(screen) = screen {
            screen.reader.abort();
            screen.control.stop().await;
        }
        match &reason {
            // Commands under way end with the connection and say why themselves.
            Some(_) => jobs.detach_all(),
            // The session is over: nobody waits for their answers.
            None => jobs.abort_all(),
        }
        // A screen stream the console refused ends the connection too, so
        // nothing more of that agent is read until it is tried again.
        session.close();
        reason
    }

    /// Opens the device's screen stream and hands its updates to the viewer;
    /// `None` while the student cannot be notified.
    async fn open_screen(
        &self,
        session: &Arc<DeviceSession>,
    ) -> Result<Option<Screen>, ConsoleError> {
        let stream = match session.watch(self.watch, 2).await {
            Ok(stream) => stream,
            Err(error) if cannot_notify(&error) => return Ok(None),
            Err(error) => return Err(error),
        };
        let control = stream.control();
        if let Some(credit) = &self.credit {
            // A new stream: what the old one had in flight is gone with it.
            credit.give_back(credit.limit);
        }
        let reader = tokio::spawn(read_screen(
            stream,
            self.device.name.clone(),
            self.events.clone(),
            self.credit.clone(),
        ));
        Ok(Some(Screen { reader, control }))
    }

    /// The address to try: where mDNS last saw the device, else the registry's.
    fn address(&self) -> Option<SocketAddr> {
        self.discovery
            .as_ref()
            .and_then(|d| d.address(self.device.uuid))
            .or_else(|| self.device.address.map(|a| a.socket_addr()))
    }

    /// Waits for `duration`, refusing commands meanwhile; false if the session ended.
    async fn wait(&mut self, commands: &mut mpsc::Receiver<Command>, duration: Duration) -> bool {
        let sleep = tokio::time::sleep(duration);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return true,
                command = commands.recv() => match command {
                    Some(command) => {
                        let reason = match &self.status.state {
                            DeviceState::Refused { reason, .. } | DeviceState::Offline { reason, .. } => reason.clone(),
                            _ => "the device is not connected".to_owned(),
                        };
                        self.refuse(command, &reason);
                    }
                    None => return false,
                },
            }
        }
    }

    fn refuse(&self, command: Command, reason: &str) {
        let error = || ConsoleError::Unreachable {
            device: self.device.name.clone(),
            address: self.status.address.clone().unwrap_or_default(),
            detail: reason.to_owned(),
        };
        match command {
            Command::Watch(_) => {}
            Command::Status(reply) => {
                let _ = reply.send(Err(error()));
            }
            Command::Screenshot(reply) => {
                let _ = reply.send(Err(error()));
            }
            Command::Act(_, reply) => {
                let _ = reply.send(Err(error()));
            }
            Command::Control(reply) => {
                let _ = reply.send(Err(error()));
            }
            Command::Session(reply) => {
                let _ = reply.send(Err(error()));
            }
        }
    }

    async fn set(&mut self, state: DeviceState, user: Option<String>) {
        // Whether a device out of reach is locked is not known.
        let locked = None;
        if self.status.state == state && self.status.user == user && self.status.locked == locked {
            return;
        }
        self.status.state = state;
        self.status.user = user;
        self.status.locked = locked;
        self.publish().await;
    }

    /// Online with `user` logged on, locked by `locked`.
    async fn set_online(&mut self, user: Option<String>, locked: Option<String>) {
        if self.status.state == DeviceState::Online
            && self.status.user == user
            && self.status.locked == locked
        {
            return;
        }
        self.status.state = DeviceState::Online;
        self.status.user = user;
        self.status.locked = locked;
        self.publish().await;
    }

    async fn publish(&self) {
        self.statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.index, self.status.clone());
        let _ = self
            .events
            .send(RoomEvent::Status(self.status.clone()))
            .await;
    }
}

/// A device's screen stream, read by its own task.
struct Screen {
    reader: JoinHandle<Option<ConsoleError>>,
    control: crate::watch::StreamControl,
}

/// Resolves when the screen stream's reader ends; never without a stream.
async fn screen_ended(
    screen: &mut Option<Screen>,
) -> Result<Option<ConsoleError>, tokio::task::JoinError> {
    match screen {
        Some(screen) => (&mut screen.reader).await,
        None => std::future::pending().await,
    }
}

/// Whether the agent said its student cannot be notified (R1): no view,
/// but the device is there.
fn cannot_notify(error: &ConsoleError) -> bool {
    matches!(error, ConsoleError::Agent { error, .. } if error.code == ErrorCode::CannotNotify)
}

/// What a finished command job tells its supervisor.
enum Finished {
    /// The device said who is logged on and whether it is locked.
    Status {
        user: Option<String>,
        locked: Option<String>,
    },
    /// A status request failed.
    StatusFailed,
    /// Anything else; its caller has the answer.
    Other,
}

/// Asks the device who is logged on; answers `reply` too, if given.
async fn ask_user(
    session: Arc<DeviceSession>,
    reply: Option<oneshot::Sender<Result<AgentStatus, ConsoleError>>>,
) -> Finished {
    let result = session.status().await;
    let finished = match &result {
        Ok(status) => Finished::Status {
            user: status.user.clone(),
            locked: status.locked.clone(),
        },
        Err(_) => Finished::StatusFailed,
    };
    if let Some(reply) = reply {
        let _ = reply.send(result);
    }
    finished
}

/// Hands a device's screen updates to the viewer until the stream fails or
/// ends (`Some(why)`) or the viewer is gone (`None`).
async fn read_screen(
    mut stream: crate::ScreenStream,
    device: String,
    events: mpsc::Sender<RoomEvent>,
    credit: Option<Arc<ViewerCredit>>,
) -> Option<ConsoleError> {
    loop {
        // Only with viewer credit is the next update taken, and with it the
        // agent's credit returned: a slow viewer slows the agent.
        if let Some(credit) = &credit
            && !credit.take().await
        {
            return None;
        }
        let update = match stream.next_update().await {
            Ok(Some(update)) => update,
            Ok(None) => {
                return Some(ConsoleError::Protocol {
                    device,
                    detail: "the agent ended the screen stream".into(),
                });
            }
            Err(error) => return Some(error),
        };
        let event = RoomEvent::Screen {
            device: device.clone(),
            update,
        };
        if events.send(event).await.is_err() {
            return None;
        }
    }
}
