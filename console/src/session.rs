//! Connections to agents: one QUIC connection per device; each stream starts
//! with a hello each way, then carries one request and its reply, or a screen
//! stream. A request on a stream of its own never waits behind another, so a
//! slow screenshot does not hold up a status request or an action.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pult_protocol::broadcast::BroadcastMode;
use pult_protocol::credentials::RoomDevice;
use pult_protocol::endpoint::{RefusalAlert, SILENCE, silence};
use pult_protocol::frame::{Frame, FrameError, FrameKind, read_frame, read_message, write_message};
use pult_protocol::message::{
    AgentStatus, ErrorCode, ErrorReply, Feature, Hello, PROTOCOL_VERSION, Reply, Request,
    ScreenText, Screenshot, TextKind, WebUrl,
};
use pult_protocol::power::{MAX_DELAY_SECONDS, Mac, PowerAction};
use pult_protocol::watch::WatchSettings;
use pult_screen::encode_png;
use pult_screen::inspect::{PictureSize, decode_screenshot};
use quinn::{Connection, ConnectionError, RecvStream, SendStream};

use crate::control::ControlSession;
use crate::watch::ScreenStream;
use crate::{ConsoleError, RoomCertificate};

/// How long a device may take to answer the first packets: a computer that
/// is off shows as offline after this; the room session tries again soon.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a device may take to answer the connection and the hello.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Ends a console's connections and waits until the agents were told.
///
/// A program that exits right after [`DeviceSession::close`] may end before
/// the close reached the agent, which then learns of it only when the
/// connection times out ([`pult_protocol::endpoint::IDLE_TIMEOUT`]): the
/// student's notice would stay up all that time after the view ended (R1).
#[derive(Clone)]
pub struct Closer(quinn::Endpoint);

impl Closer {
    /// Closes every connection and waits, at most `within`, until each
    /// close was sent and its echoes drained.
    pub async fn close(self, within: Duration) {
        self.0.close(0u32.into(), b"done");
        let _ = tokio::time::timeout(within, self.0.wait_idle()).await;
    }
}

/// The console: one endpoint from which it reaches the devices of its room.
pub struct Console {
    room: RoomCertificate,
    endpoint: quinn::Endpoint,
    /// The TLS identity new connections show: the room certificate's, or a
    /// renewed one's.
    client: std::sync::Mutex<quinn::ClientConfig>,
}

impl Console {
    /// A console for the room certificate `room`.
    pub fn new(room: RoomCertificate) -> Result<Self, ConsoleError> {
        let endpoint = room
            .tls
            .endpoint()
            .map_err(|e| ConsoleError::Network(e.to_string()))?;
        let client = std::sync::Mutex::new(room.tls.client_config());
        Ok(Self {
            room,
            endpoint,
            client,
        })
    }

    /// The room certificate.
    pub fn room(&self) -> &RoomCertificate {
        &self.room
    }

    /// Connects from now on with the renewed certificate `room` (of the same
    /// room): the connections open keep going, a device that comes back
    /// (or a new stream's new connection) uses the new one.
    pub fn renew(&self, room: &RoomCertificate) {
        *self.client.lock().unwrap_or_else(|p| p.into_inner()) = room.tls.client_config();
    }

    /// A handle that ends this console's connections, kept by a program
    /// that must tell the agents before it exits.
    pub fn closer(&self) -> Closer {
        Closer(self.endpoint.clone())
    }

    /// Connects to `device` at its registered address and exchanges hellos on
    /// a first stream, to learn the agent's version and features.
    pub async fn connect(&self, device: &RoomDevice) -> Result<DeviceSession, ConsoleError> {
        let address = device.address.ok_or_else(|| ConsoleError::NoAddress {
            device: device.name.clone(),
        })?;
        self.connect_at(device, address.socket_addr()).await
    }

    /// Connects to `device` at `address` (found by mDNS, say); the agent there
    /// must still prove to be that device.
    pub async fn connect_at(
        &self,
        device: &RoomDevice,
        address: SocketAddr,
    ) -> Result<DeviceSession, ConsoleError> {
        let unreachable = |detail: String| ConsoleError::Unreachable {
            device: device.name.clone(),
            address: address.to_string(),
            detail,
        };
        let no_answer = |within: Duration| {
            unreachable(format!(
                "no answer within {} s; is the agent running?",
                within.as_secs()
            ))
        };
        let attempt = async {
            let connecting = self
                .endpoint
                .connect_with(
                    self.client
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .clone(),
                    address,
                    &device.uuid.server_name(),
                )
                .map_err(|e| unreachable(e.to_string()))?;
            let connection = tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting)
                .await
                .map_err(|_| no_answer(HANDSHAKE_TIMEOUT))?
                .map_err(|e| classify(device, e))?;
            let link = Link::new(device.clone(), connection);
            let (mut send, _, hello) = link.open_stream().await?;
            // Every request opens a stream of its own; this one has done its job.
            let _ = send.finish();
            Ok(DeviceSession { link, hello })
        };
        tokio::time::timeout(CONNECT_TIMEOUT, attempt)
            .await
            .unwrap_or_else(|_| Err(no_answer(CONNECT_TIMEOUT)))
    }
}

/// A connection to one device, and which device it is; shared by its streams.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) device: RoomDevice,
    pub(crate) connection: Connection,
    watchdog: Arc<Watchdog>,
}

/// Closes a connection whose agent has sent nothing for [`SILENCE`], so
/// that everything waiting on it ends with "no answer" at once rather than
/// after the long idle timeout: the teacher sees a switched-off computer as
/// offline within seconds (R1), and a command to it fails as quickly. Ends
/// with the last [`Link`] to the connection.
struct Watchdog {
    task: tokio::task::AbortHandle,
    fell_silent: Arc<AtomicBool>,
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Link {
    fn new(device: RoomDevice, connection: Connection) -> Self {
        let fell_silent = Arc::new(AtomicBool::new(false));
        let watched = connection.clone();
        let flag = fell_silent.clone();
        let task = tokio::spawn(async move {
            tokio::select! {
                _ = watched.closed() => {}
                () = silence(&watched, SILENCE) => {
                    flag.store(true, Ordering::Release);
                    watched.close(0u32.into(), b"the agent fell silent");
                }
            }
        })
        .abort_handle();
        Self {
            device,
            connection,
            watchdog: Arc::new(Watchdog { task, fell_silent }),
        }
    }

    /// The console error for the end of this connection.
    fn classify(&self, error: ConnectionError) -> ConsoleError {
        if self.watchdog.fell_silent.load(Ordering::Acquire) {
            return ConsoleError::Unreachable {
                device: self.device.name.clone(),
                address: self.connection.remote_address().to_string(),
                detail: format!(
                    "no answer for {} s; switched off or cut off?",
                    SILENCE.as_secs()
                ),
            };
        }
        classify(&self.device, error)
    }

    /// Opens a stream and exchanges hellos.
    pub(crate) async fn open_stream(
        &self,
    ) -> Result<(SendStream, RecvStream, Hello), ConsoleError> {
        let (mut send, mut recv) = self
            .connection
            .open_bi()
            .await
            .map_err(|e| self.classify(e))?;
        let hello = Hello::current(
            concat!("pult-console ", env!("CARGO_PKG_VERSION")),
            &Feature::ALL,
        );
        self.check(write_message(&mut send, &hello).await)?;
        let Some(agent_hello) = self.check(read_message::<Hello>(&mut recv).await)? else {
            return Err(self.protocol("the agent closed the stream without a hello"));
        };
        if !agent_hello.version.is_compatible_with(PROTOCOL_VERSION) {
            return Err(self.protocol(&format!(
                "the agent speaks protocol {}, this console {PROTOCOL_VERSION}",
                agent_hello.version
            )));
        }
        Ok((send, recv, agent_hello))
    }

    /// Turns a frame result into a console error, preferring the connection's
    /// close reason (a refusal arrives as a close right after the handshake).
    pub(crate) fn check<T>(&self, result: Result<T, FrameError>) -> Result<T, ConsoleError> {
        result.map_err(|error| match self.connection.close_reason() {
            Some(reason) => self.classify(reason),
            None => self.protocol(&error.to_string()),
        })
    }

    pub(crate) fn protocol(&self, detail: &str) -> ConsoleError {
        ConsoleError::Protocol {
            device: self.device.name.clone(),
            detail: detail.to_owned(),
        }
    }

    /// The error for a reply that is not what was asked for.
    pub(crate) fn unexpected(&self, reply: Reply) -> ConsoleError {
        match reply {
            Reply::Error(error) => ConsoleError::Agent {
                device: self.device.name.clone(),
                error,
            },
            Reply::Done | Reply::Status(_) => {
                self.protocol("the agent's answer does not fit the request")
            }
        }
    }
}

/// Tells when a device's connection ends.
pub struct CloseSignal(Link);

impl CloseSignal {
    /// Resolves when the connection ends, with the error that ended it.
    pub async fn wait(&self) -> ConsoleError {
        self.0.classify(self.0.connection.closed().await)
    }
}

/// A connection to one device. Its methods take `&self`: requests from
/// several tasks run side by side, each on a stream of its own.
pub struct DeviceSession {
    link: Link,
    hello: Hello,
}

impl DeviceSession {
    /// The device.
    pub fn device(&self) -> &RoomDevice {
        &self.link.device
    }

    /// The agent's hello: its version and features.
    pub fn agent_hello(&self) -> &Hello {
        &self.hello
    }

    /// The connection's current round-trip time.
    pub fn rtt(&self) -> Duration {
        self.link.connection.rtt()
    }

    /// Bytes received from the agent in UDP datagrams so far: what the
    /// connection really cost on the wire, QUIC and TLS overhead included.
    pub fn bytes_received(&self) -> u64 {
        self.link.connection.stats().udp_rx.bytes
    }

    /// Takes a screenshot of the whole screen (R2). The PNG is checked and
    /// decoded within the console's limits and encoded anew, so what is saved
    /// is what was checked ([`pult_screen::inspect::decode_screenshot`]).
    pub async fn screenshot(&self) -> Result<Screenshot, ConsoleError> {
        let frame = self.request(&Request::Screenshot).await?;
        if frame.kind != FrameKind::Screenshot {
            let reply = self.link.check(frame.decode::<Reply>())?;
            return Err(self.link.unexpected(reply));
        }
        let screenshot: Screenshot = self.link.check(frame.decode())?;
        let device = self.link.device.name.clone();
        let checked = tokio::task::spawn_blocking(move || {
            let claimed = PictureSize::new(screenshot.width, screenshot.height);
            let picture = decode_screenshot(&screenshot.png, claimed)
                .map_err(|problem| ConsoleError::BadPicture { device, problem })?;
            let png = encode_png(&picture).map_err(|e| ConsoleError::Storage(e.to_string()))?;
            Ok(Screenshot {
                width: picture.width(),
                height: picture.height(),
                png,
            })
        })
        .await;
        checked.unwrap_or_else(|e| {
            Err(self
                .link
                .protocol(&format!("checking the screenshot failed: {e}")))
        })
    }

    /// Who is logged on at the device, and whether its screen is watched (R15).
    pub async fn status(&self) -> Result<AgentStatus, ConsoleError> {
        let frame = self.request(&Request::Status).await?;
        match self.link.check(frame.decode::<Reply>())? {
            Reply::Status(status) => Ok(status),
            reply => Err(self.link.unexpected(reply)),
        }
    }

    /// Resolves when the connection ends, with the error that ended it.
    pub async fn closed(&self) -> ConsoleError {
        self.close_signal().wait().await
    }

    /// A handle that tells when the connection ends, without borrowing the session.
    pub fn close_signal(&self) -> CloseSignal {
        CloseSignal(self.link.clone())
    }

    /// Opens a web page on the device (R5).
    pub async fn open_url(&self, url: &WebUrl) -> Result<(), ConsoleError> {
        self.call(&Request::OpenUrl {
            url: url.as_str().to_owned(),
        })
        .await
    }

    /// Starts a program on the device (R4).
    pub async fn run_program(&self, program: &str, args: &[String]) -> Result<(), ConsoleError> {
        self.call(&Request::RunProgram {
            program: program.to_owned(),
            args: args.to_vec(),
        })
        .await
    }

    /// Shows the student a message window with an optional title; the
    /// texts are checked here first, as the agent will.
    pub async fn message(&self, title: Option<&str>, text: &str) -> Result<(), ConsoleError> {
        let title = ScreenText::optional(title, TextKind::Title).map_err(|e| self.text(&e))?;
        let text = ScreenText::new(text, TextKind::Message).map_err(|e| self.text(&e))?;
        self.call(&Request::Message {
            title: title.map(ScreenText::into_string),
            text: text.into_string(),
        })
        .await
    }

    /// Locks the screen (R20), with `message` on the lock screen.
    pub async fn lock(&self, message: Option<&str>) -> Result<(), ConsoleError> {
        let message =
            ScreenText::optional(message, TextKind::LockMessage).map_err(|e| self.text(&e))?;
        self.call(&Request::Lock {
            message: message.map(ScreenText::into_string),
        })
        .await
    }

    /// Ends the lock (R20), whoever set it.
    pub async fn unlock(&self) -> Result<(), ConsoleError> {
        self.call(&Request::Unlock).await
    }

    /// Takes over mouse and keyboard (R3). Fails with the agent's
    /// [`pult_protocol::message::ErrorCode::InUse`], naming who, while
    /// another console controls the device.
    pub async fn control(&self) -> Result<ControlSession, ConsoleError> {
        self.require(Feature::Control)?;
        // The clipboard came with protocol 1.3; an older agent would end control on it.
        let clipboard =
            self.hello.version >= (pult_protocol::message::ProtocolVersion { major: 1, minor: 3 });
        ControlSession::open(self.link.clone(), clipboard).await
    }

    fn text(&self, error: &pult_protocol::message::TextError) -> ConsoleError {
        ConsoleError::BadInput(format!("{}: {error}", self.link.device.name))
    }

    /// Opens a screen stream on a stream of its own, with `credit` updates in
    /// flight at most (R1). The request stream stays free for clicks.
    pub async fn watch(
        &self,
        settings: WatchSettings,
        credit: u16,
    ) -> Result<ScreenStream, ConsoleError> {
        self.require(Feature::Watch)?;
        ScreenStream::open(self.link.clone(), settings, credit).await
    }

    /// Opens a broadcast stream (R7): returns once the student is told and
    /// the screen is ready to show the pictures [`crate::Broadcast`] sends.
    pub(crate) async fn open_broadcast(
        &self,
        mode: BroadcastMode,
    ) -> Result<(Link, SendStream, RecvStream), ConsoleError> {
        self.require(Feature::Broadcast)?;
        let (mut send, mut recv, _) = self.link.open_stream().await?;
        let request = Request::Broadcast { mode };
        self.link.check(write_message(&mut send, &request).await)?;
        match self.link.check(read_message::<Reply>(&mut recv).await)? {
            Some(Reply::Done) => Ok((self.link.clone(), send, recv)),
            Some(reply) => Err(self.link.unexpected(reply)),
            None => Err(self
                .link
                .protocol("the agent closed the broadcast stream without an answer")),
        }
    }

    /// Restarts, shuts down or logs off the device after `delay_seconds`
    /// (the student is told at once); replaces a power action still waiting.
    pub async fn power(&self, action: PowerAction, delay_seconds: u32) -> Result<(), ConsoleError> {
        if delay_seconds > MAX_DELAY_SECONDS {
            return Err(ConsoleError::BadInput(format!(
                "a delay of {delay_seconds} s is longer than the {MAX_DELAY_SECONDS} s allowed"
            )));
        }
        self.call(&Request::Power {
            action,
            delay_seconds,
        })
        .await
    }

    /// Calls off the power action still waiting on the device, if any.
    pub async fn power_cancel(&self) -> Result<(), ConsoleError> {
        self.call(&Request::PowerCancel).await
    }

    /// Asks the device to send magic packets for `macs` on its networks
    /// (the relay for a room behind a router); the agent wakes only MACs of
    /// the certificate's room.
    pub async fn wake(&self, macs: &[Mac]) -> Result<(), ConsoleError> {
        self.call(&Request::Wake {
            macs: macs.to_vec(),
        })
        .await
    }

    /// Sends a request that the agent answers with "done" or an error. The typed
    /// methods above check their input first; this one sends what it is given.
    pub async fn call(&self, request: &Request) -> Result<(), ConsoleError> {
        let frame = self.request(request).await?;
        match self.link.check(frame.decode::<Reply>())? {
            Reply::Done => Ok(()),
            reply => Err(self.link.unexpected(reply)),
        }
    }

    /// Closes the connection politely; requests under way end with an error.
    pub fn close(&self) {
        self.link.connection.close(0u32.into(), b"done");
    }

    /// Sends `request` on a stream of its own and reads the one frame answering it.
    async fn request(&self, request: &Request) -> Result<Frame, ConsoleError> {
        self.require(request.feature())?;
        let (mut send, mut recv, _) = self.link.open_stream().await?;
        self.link.check(write_message(&mut send, request).await)?;
        // One request per stream: the agent ends the stream after answering.
        let _ = send.finish();
        match self.link.check(read_frame(&mut recv).await)? {
            Some(frame) => Ok(frame),
            None => Err(self
                .link
                .protocol("the agent closed the stream without a reply")),
        }
    }

    /// The connection, for streams of other modules.
    pub(crate) fn link(&self) -> &Link {
        &self.link
    }

    /// Refuses at once what the agent does not offer.
    pub(crate) fn require(&self, feature: Feature) -> Result<(), ConsoleError> {
        if self.hello.supports(feature) {
            Ok(())
        } else {
            Err(ConsoleError::Agent {
                device: self.link.device.name.clone(),
                error: ErrorReply::new(
                    ErrorCode::Unsupported,
                    format!(
                        "the agent ({}) does not offer '{feature}'",
                        self.hello.software
                    ),
                ),
            })
        }
    }
}

fn classify(device: &RoomDevice, error: ConnectionError) -> ConsoleError {
    if let Some(alert) = RefusalAlert::from_error(&error) {
        return ConsoleError::Refused {
            device: device.name.clone(),
            alert,
            marked_not_steerable: !device.steerable,
        };
    }
    match error {
        // A TLS error raised here: this console did not accept the agent's certificate.
        ConnectionError::TransportError(error)
            if (0x100..0x200).contains(&u64::from(error.code)) =>
        {
            ConsoleError::AgentNotVerified {
                device: device.name.clone(),
                detail: error.to_string(),
            }
        }
        ConnectionError::TimedOut => ConsoleError::Unreachable {
            device: device.name.clone(),
            address: device.address.map(|a| a.to_string()).unwrap_or_default(),
            detail: "the connection timed out".into(),
        },
        other => ConsoleError::Protocol {
            device: device.name.clone(),
            detail: other.to_string(),
        },
    }
}
