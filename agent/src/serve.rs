//! Serving consoles: accept connections (the room rule is enforced in the TLS
//! handshake), then serve each stream: a hello, then requests and replies.
//!
//! A malformed or oversized frame ends only its own stream, with an error
//! reply; the connection and every other console go on being served.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use pult_protocol::broadcast::{
    BroadcastMode, BroadcastNews, INITIAL_CREDIT, MAX_COVER, MAX_PICTURE, MAX_VIDEO_FRAMES,
};
use pult_protocol::endpoint::{AgentTls, SILENCE, peer_grant, silence};
use pult_protocol::frame::{FrameError, read_message, write_message};
use pult_protocol::grant::RoomGrant;
use pult_protocol::input::{ControlNews, InputEvent, PointerMove};
use pult_protocol::local::{
    Activity, LockScreen, NoticeEntry, PowerNotice, TeacherMessage, ToHelper,
};
use pult_protocol::message::{
    AgentStatus, ErrorCode, ErrorReply, Feature, Hello, PROTOCOL_VERSION, Reply, Request,
    ScreenText, TextError, TextKind, WebUrl,
};
use pult_protocol::power::{MAX_DELAY_SECONDS, PowerAction};
use pult_protocol::watch::{ScreenUpdate, WatchSettings};
use pult_screen::inspect::{PictureProblem, PictureSize, check_layered_update};
use pult_screen::wire::tile_views;
use quinn::{Connection, Incoming, RecvStream, SendStream};

use crate::audit::{AuditAction, AuditEntry, AuditLog, AuditResult};
use crate::desktop::Desktop;
use crate::limits::{self, ConnectionLimits};
use crate::watch;

mod files;

/// What every connection of this agent shares.
pub struct Agent {
    /// The agent's TLS identity and trust.
    pub tls: AgentTls,
    /// The student's desktop, through the session helper.
    pub desktop: Arc<Desktop>,
    /// The audit log.
    pub audit: AuditLog,
    /// Who is logged on (R15): from the session the service follows, or set
    /// by the command line (demos, kiosks).
    pub session_user: tokio::sync::watch::Receiver<Option<String>>,
    /// Restarts, shutdowns and log-offs waiting, and waking the room.
    pub power: Arc<crate::power::PowerPlan>,
}

/// The features this agent offers in its hello; it refuses the others
/// (`unsupported`).
const FEATURES: &[Feature] = &[
    Feature::Screenshot,
    Feature::OpenUrl,
    Feature::RunProgram,
    Feature::Watch,
    Feature::Message,
    Feature::Lock,
    Feature::Control,
    Feature::Power,
    Feature::Broadcast,
    Feature::Files,
];

/// Who is on the other end of one connection, and what it may still ask.
struct Session {
    grant: RoomGrant,
    peer: SocketAddr,
    limits: ConnectionLimits,
    /// For the pointer moves that come as datagrams (R3).
    connection: Connection,
    /// Batches of files under way (R6).
    files: files::Batches,
}

impl Session {
    /// What the student is told about this teacher (R1).
    fn notice(&self, activity: Activity) -> NoticeEntry {
        NoticeEntry {
            teacher: self.grant.user.clone(),
            room: self.grant.room.clone(),
            activity,
        }
    }

    fn entry(&self, action: AuditAction, detail: Option<String>) -> AuditEntry {
        AuditEntry {
            user: Some(self.grant.user.clone()),
            room: Some(self.grant.room.clone()),
            detail,
            ..AuditEntry::new(action, self.peer.to_string())
        }
    }
}

/// Accepts connections on `endpoint` until it is closed.
pub async fn serve(endpoint: quinn::Endpoint, agent: Arc<Agent>) {
    while let Some(incoming) = endpoint.accept().await {
        // A QUIC Retry first proves the console can receive at its source
        // address, so a spoofed one cannot make the agent send its handshake
        // (several times larger than the packet that asked) to a victim.
        if !incoming.remote_address_validated() && incoming.may_retry() {
            if let Err(error) = incoming.retry() {
                error.into_incoming().ignore();
            }
            continue;
        }
        tokio::spawn(handle_incoming(incoming, agent.clone()));
    }
}

async fn handle_incoming(incoming: Incoming, agent: Arc<Agent>) {
    let peer = incoming.remote_address();
    let refused = |reason: String| AuditEntry {
        result: AuditResult::Refused,
        reason: Some(reason),
        ..AuditEntry::new(AuditAction::Connect, peer.to_string())
    };
    let (config, refusal) = match agent.tls.connection_config() {
        Ok(config) => config,
        Err(error) => {
            agent
                .audit
                .record(&refused(format!("agent TLS set-up failed: {error}")));
            return;
        }
    };
    let connecting = match incoming.accept_with(Arc::new(config)) {
        Ok(connecting) => connecting,
        Err(error) => {
            agent.audit.record_refusal(
                peer.ip(),
                "connection-refused",
                &refused(error.to_string()),
            );
            return;
        }
    };
    match connecting.await {
        Ok(connection) => serve_connection(connection, peer, agent).await,
        Err(error) => {
            let (code, entry) = match refusal.get() {
                // Names are the school's word only if its CA issued the certificate.
                Some(refusal) if refusal.chained_to_ca => (
                    refusal.reason.code(),
                    AuditEntry {
                        user: refusal.user.clone(),
                        room: refusal.room.clone(),
                        ..refused(format!("{}: {}", refusal.reason.code(), refusal.reason))
                    },
                ),
                Some(refusal) => (
                    refusal.reason.code(),
                    AuditEntry {
                        claimed_user: refusal.user.clone(),
                        claimed_room: refusal.room.clone(),
                        ..refused(format!("{}: {}", refusal.reason.code(), refusal.reason))
                    },
                ),
                None => (
                    "handshake-failed",
                    refused(format!("handshake failed: {error}")),
                ),
            };
            tracing::info!(
                "refused {peer}: {}",
                entry.reason.as_deref().unwrap_or_default()
            );
            agent.audit.record_refusal(peer.ip(), code, &entry);
        }
    }
}

async fn serve_connection(connection: Connection, peer: SocketAddr, agent: Arc<Agent>) {
    // The verifier admitted the certificate, so it is there and holds a grant.
    let Some(grant) = peer_grant(&connection) else {
        connection.close(1u32.into(), b"no room grant");
        return;
    };
    let session = Arc::new(Session {
        grant,
        peer,
        limits: ConnectionLimits::new(Instant::now()),
        connection: connection.clone(),
        files: files::Batches::default(),
    });
    agent.audit.record(&AuditEntry {
        result: AuditResult::Accepted,
        ..session.entry(AuditAction::Connect, None)
    });
    tracing::info!(
        "{peer}: {} of room {} connected",
        session.grant.user,
        session.grant.room
    );
    let reason = loop {
        match connection.accept_bi().await {
            Ok((send, recv)) => {
                tokio::spawn(serve_stream(send, recv, session.clone(), agent.clone()));
            }
            Err(error) => break error,
        }
    };
    agent.audit.record(&AuditEntry {
        result: AuditResult::Closed,
        reason: Some(reason.to_string()),
        ..session.entry(AuditAction::Disconnect, None)
    });
}

async fn serve_stream(
    mut send: SendStream,
    mut recv: RecvStream,
    session: Arc<Session>,
    agent: Arc<Agent>,
) {
    // A stream that never says hello is dropped, so it holds no stream of the
    // connection's few (the agent's transport allows eight at once).
    let Ok(hello) =
        tokio::time::timeout(limits::HELLO_TIMEOUT, read_message::<Hello>(&mut recv)).await
    else {
        tracing::debug!(
            "{}: no hello within {:?}",
            session.peer,
            limits::HELLO_TIMEOUT
        );
        let code = u32::from(u16::from(ErrorCode::UnexpectedMessage));
        let _ = send.reset(code.into());
        let _ = recv.stop(code.into());
        return;
    };
    match hello {
        Ok(Some(hello)) if hello.version.is_compatible_with(PROTOCOL_VERSION) => {
            let ours = Hello::current(concat!("pult-agent ", env!("CARGO_PKG_VERSION")), FEATURES);
            if write_message(&mut send, &ours).await.is_err() {
                return;
            }
        }
        Ok(Some(hello)) => {
            let message = format!(
                "this agent speaks protocol {PROTOCOL_VERSION}, the console {}",
                hello.version
            );
            let _ = write_message(
                &mut send,
                &Reply::Error(ErrorReply::new(ErrorCode::VersionMismatch, message)),
            )
            .await;
            let _ = send.finish();
            return;
        }
        Ok(None) => return,
        Err(error) => return reject(send, recv, error, &session, &agent).await,
    }
    loop {
        let request = match read_message::<Request>(&mut recv).await {
            Ok(Some(request)) => request,
            Ok(None) => break,
            Err(error) => return reject(send, recv, error, &session, &agent).await,
        };
        if let Request::Watch { settings, credit } = request {
            return serve_watch(send, recv, settings, credit, &session, &agent).await;
        }
        if request == Request::Control {
            return serve_control(send, recv, &session, &agent).await;
        }
        if let Request::Broadcast { mode } = request {
            return serve_broadcast(send, recv, mode, &session, &agent).await;
        }
        match request {
            Request::SendFiles { overwrite, open } => {
                return files::serve_send(send, recv, overwrite, open, &session, &agent).await;
            }
            Request::FileData { batch, index } => {
                return files::serve_data(send, recv, batch, index, &session, &agent).await;
            }
            Request::CollectFiles { folder, pattern } => {
                return files::serve_collect(send, recv, folder, pattern, &session, &agent).await;
            }
            Request::FetchFile { batch, index } => {
                return files::serve_fetch(send, batch, index, &session, &agent).await;
            }
            _ => {}
        }
        if handle_request(request, &mut send, &session, &agent)
            .await
            .is_err()
        {
            return;
        }
    }
    let _ = send.finish();
}

/// Answers a bad frame with an error reply and ends this stream only.
async fn reject(
    mut send: SendStream,
    mut recv: RecvStream,
    error: FrameError,
    session: &Session,
    agent: &Agent,
) {
    if matches!(error, FrameError::Io(_)) {
        return; // The stream or connection is gone; there is no one to answer.
    }
    agent.audit.record(&AuditEntry {
        result: AuditResult::Error,
        reason: Some(error.to_string()),
        ..session.entry(AuditAction::Malformed, None)
    });
    let code = error.code();
    let _ = write_message(
        &mut send,
        &Reply::Error(ErrorReply::new(code, error.to_string())),
    )
    .await;
    let _ = send.finish();
    // Whatever else the peer sends on this stream is not read.
    let _ = recv.stop(u32::from(u16::from(code)).into());
}

async fn handle_request(
    request: Request,
    send: &mut SendStream,
    session: &Session,
    agent: &Agent,
) -> Result<(), FrameError> {
    let feature = request.feature();
    let detail = match &request {
        Request::Screenshot => None,
        Request::OpenUrl { url } => Some(url.clone()),
        Request::RunProgram { program, args } => Some(
            std::iter::once(program)
                .chain(args)
                .cloned()
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Request::Message { title, text } => Some(match title {
            Some(title) => format!("{title}: {text}"),
            None => text.clone(),
        }),
        Request::Lock { message } => message.clone(),
        Request::Power {
            action,
            delay_seconds,
        } => Some(format!("{action} in {delay_seconds} s")),
        Request::Wake { macs } => Some(
            macs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Request::Broadcast { mode } => Some(mode.to_string()),
        Request::CollectFiles { folder, pattern } => Some(format!(
            "{} {}",
            folder.as_deref().unwrap_or("(hand-in folder)"),
            pattern.as_deref().unwrap_or("*")
        )),
        Request::SendFiles { .. } | Request::FileData { .. } | Request::FetchFile { .. } => None,
        Request::Watch { .. }
        | Request::Status
        | Request::Unlock
        | Request::Control
        | Request::PowerCancel => None,
    };
    let mut entry = session.entry(audit_action(&request), detail);
    let outcome = if !session.grant.grants(feature) {
        Err(ErrorReply::new(
            ErrorCode::NotGranted,
            format!("the room certificate does not grant '{feature}'"),
        ))
    } else if !FEATURES.contains(&feature) {
        Err(ErrorReply::new(
            ErrorCode::Unsupported,
            format!("this agent does not offer '{feature}'"),
        ))
    } else {
        match request {
            Request::Screenshot => match session.limits.screenshot(Instant::now()) {
                Err(refused) => Err(refused),
                Ok(()) => match agent
                    .desktop
                    .screenshot(session.notice(Activity::Viewing))
                    .await
                {
                    Ok(screenshot) => {
                        entry.detail = Some(format!("{}x{}", screenshot.width, screenshot.height));
                        record(agent, entry, None);
                        return write_message(send, &screenshot).await;
                    }
                    Err(error) => Err(error),
                },
            },
            Request::OpenUrl { url } => match WebUrl::parse(&url) {
                Ok(url) => {
                    let url = url.as_str().to_owned();
                    agent.desktop.act(ToHelper::OpenUrl { url }).await
                }
                Err(error) => Err(ErrorReply::new(ErrorCode::UrlRefused, error.to_string())),
            },
            Request::RunProgram { program, args } => {
                agent
                    .desktop
                    .act(ToHelper::RunProgram { program, args })
                    .await
            }
            Request::Status => {
                let status = status(agent).await;
                record(agent, entry, None);
                return write_message(send, &Reply::Status(status)).await;
            }
            Request::Message { title, text } => match message(&session.grant, title, &text) {
                Ok(message) => agent.desktop.message(message).await,
                Err(error) => Err(text_refused(&error)),
            },
            Request::Lock { message } => {
                match ScreenText::optional(message.as_deref(), TextKind::LockMessage) {
                    Ok(message) => {
                        let screen = LockScreen {
                            teacher: session.grant.user.clone(),
                            room: session.grant.room.clone(),
                            message: message.map(ScreenText::into_string),
                        };
                        agent.desktop.lock(screen).await
                    }
                    Err(error) => Err(text_refused(&error)),
                }
            }
            Request::Unlock => agent.desktop.unlock().await,
            Request::Power {
                action,
                delay_seconds,
            } => power(agent, session, action, delay_seconds).await,
            Request::PowerCancel => {
                match agent.power.cancel() {
                    Some(action) => {
                        entry.detail = Some(format!("{action} called off"));
                        // The student was told it would happen: now that it won't.
                        let _ = tell_power(agent, session, action, 0, true).await;
                    }
                    None => entry.detail = Some("nothing was waiting".into()),
                }
                Ok(())
            }
            Request::Wake { macs } => agent
                .power
                .wake(&macs, &session.grant.wake)
                .map(|sent| tracing::info!("{}: {sent} magic packets sent", session.peer)),
            // Watch, control and broadcast requests take the stream over
            // before they get here.
            Request::Watch { .. }
            | Request::Control
            | Request::Broadcast { .. }
            | Request::SendFiles { .. }
            | Request::FileData { .. }
            | Request::CollectFiles { .. }
            | Request::FetchFile { .. } => Err(ErrorReply::new(
                ErrorCode::UnexpectedMessage,
                "a screen, control or file stream cannot be answered here",
            )),
        }
    };
    let reply = match outcome {
        Ok(()) => Reply::Done,
        Err(error) => Reply::Error(error),
    };
    record(agent, entry, Some(&reply));
    write_message(send, &reply).await
}

/// A message window's content, checked, from the teacher of `grant`.
fn message(
    grant: &RoomGrant,
    title: Option<String>,
    text: &str,
) -> Result<TeacherMessage, TextError> {
    Ok(TeacherMessage {
        teacher: grant.user.clone(),
        room: grant.room.clone(),
        title: ScreenText::optional(title.as_deref(), TextKind::Title)?
            .map(ScreenText::into_string),
        text: ScreenText::new(text, TextKind::Message)?.into_string(),
        power: None,
    })
}

fn text_refused(error: &TextError) -> ErrorReply {
    ErrorReply::new(ErrorCode::TextRefused, error.to_string())
}

/// The audit action of a request: a status poll is `status`, though it needs
/// the `watch` feature (it is part of seeing the room).
fn audit_action(request: &Request) -> AuditAction {
    match request {
        Request::Screenshot => AuditAction::Screenshot,
        Request::OpenUrl { .. } => AuditAction::OpenUrl,
        Request::RunProgram { .. } => AuditAction::RunProgram,
        Request::Watch { .. } => AuditAction::Watch,
        Request::Status => AuditAction::Status,
        Request::Message { .. } => AuditAction::Message,
        Request::Lock { .. } => AuditAction::Lock,
        Request::Unlock => AuditAction::Unlock,
        Request::Control => AuditAction::Control,
        Request::Power { .. } => AuditAction::Power,
        Request::PowerCancel => AuditAction::PowerCancel,
        Request::Wake { .. } => AuditAction::Wake,
        Request::Broadcast { .. } => AuditAction::Broadcast,
        Request::SendFiles { .. } | Request::FileData { .. } => AuditAction::FilesSend,
        Request::CollectFiles { .. } | Request::FetchFile { .. } => AuditAction::FilesCollect,
    }
}

/// Shows the student a message window about a power action (or its
/// cancellation), worded by the helper in the session's language.
async fn tell_power(
    agent: &Agent,
    session: &Session,
    action: PowerAction,
    seconds: u32,
    cancelled: bool,
) -> Result<(), ErrorReply> {
    let told = agent
        .desktop
        .message(TeacherMessage {
            teacher: session.grant.user.clone(),
            room: session.grant.room.clone(),
            title: None,
            text: String::new(),
            power: Some(PowerNotice {
                action,
                seconds,
                cancelled,
            }),
        })
        .await;
    if let Err(error) = &told {
        tracing::info!("power: the student was not told of {action}: {error}");
    }
    told
}

/// Tells the student what will happen and when, then schedules it. A
/// computer nobody is logged on to is restarted or shut down all the same.
async fn power(
    agent: &Agent,
    session: &Session,
    action: PowerAction,
    delay_seconds: u32,
) -> Result<(), ErrorReply> {
    if delay_seconds > MAX_DELAY_SECONDS {
        return Err(ErrorReply::new(
            ErrorCode::PowerFailed,
            format!(
                "a delay of {delay_seconds} s is longer than the {MAX_DELAY_SECONDS} s allowed"
            ),
        ));
    }
    match tell_power(agent, session, action, delay_seconds, false).await {
        Ok(()) => {}
        Err(_) if action == PowerAction::Logoff => {
            return Err(ErrorReply::new(
                ErrorCode::PowerFailed,
                "nobody is logged on to log off",
            ));
        }
        // Logged by tell_power: a computer nobody uses is restarted all the same.
        Err(_) => {}
    }
    agent.power.schedule(
        action,
        std::time::Duration::from_secs(u64::from(delay_seconds)),
    );
    Ok(())
}

/// Who is logged on, whether the screen is watched, and the monitors (R15).
async fn status(agent: &Agent) -> AgentStatus {
    let monitors = agent.desktop.monitors().await;
    AgentStatus {
        user: agent.session_user.borrow().clone(),
        watched: agent.desktop.is_viewed(),
        monitors,
        locked: agent.desktop.locked_by(),
    }
}

/// Turns the stream into a screen stream (R1) and serves it to its end.
async fn serve_watch(
    send: SendStream,
    recv: RecvStream,
    settings: WatchSettings,
    credit: u16,
    session: &Session,
    agent: &Agent,
) {
    let settings = settings.clamped();
    let area = settings
        .monitor
        .map_or("whole desktop".to_owned(), |m| format!("monitor {m}"));
    let detail = format!(
        "{}x{} at {} fps, {area}",
        settings.max_width, settings.max_height, settings.max_fps
    );
    let mut entry = session.entry(AuditAction::Watch, Some(detail));
    let slot = if session.grant.grants(Feature::Watch) {
        session.limits.screen_stream()
    } else {
        Err(ErrorReply::new(
            ErrorCode::NotGranted,
            "the room certificate does not grant 'watch'",
        ))
    };
    let _slot = match slot {
        Ok(slot) => slot,
        Err(error) => return refuse_stream(send, entry, error, agent).await,
    };
    // No notice, no view (R1): the stream starts once the student sees the notice.
    let view = match agent
        .desktop
        .begin_view(session.notice(Activity::Viewing))
        .await
    {
        Ok(view) => view,
        Err(error) => return refuse_stream(send, entry, error, agent).await,
    };
    record(agent, entry.clone(), None);
    let started = std::time::Instant::now();
    let (summary, failure) = watch::serve(send, recv, settings, credit, &agent.desktop).await;
    drop(view);
    entry.action = AuditAction::WatchEnd;
    entry.detail = Some(format!(
        "{} updates, {} bytes in {:.1} s",
        summary.updates,
        summary.bytes,
        started.elapsed().as_secs_f64()
    ));
    let reply = failure.map(Reply::Error);
    record(agent, entry, reply.as_ref());
}

/// What arrives while a console controls: its events in order, pointer
/// moves by datagram, and word that the console fell silent.
enum ControlInput {
    Frame(Result<Option<InputEvent>, FrameError>),
    Datagram(Vec<u8>),
    ConnectionLost,
    Silent,
}

/// Turns the stream into a control stream (R3) and applies its input until
/// the console finishes it, goes, or falls silent for [`SILENCE`] (a
/// crashed console must not hold the student's keys until the connection
/// times out); then every held key and button is let go.
async fn serve_control(mut send: SendStream, recv: RecvStream, session: &Session, agent: &Agent) {
    let mut entry = session.entry(AuditAction::Control, None);
    if !session.grant.grants(Feature::Control) {
        let error = ErrorReply::new(
            ErrorCode::NotGranted,
            "the room certificate does not grant 'control'",
        );
        return refuse_stream(send, entry, error, agent).await;
    }
    // No notice, no control (R1, R3).
    let guard = match agent
        .desktop
        .begin_control(session.notice(Activity::Controlled))
        .await
    {
        Ok(guard) => guard,
        Err(error) => return refuse_stream(send, entry, error, agent).await,
    };
    record(agent, entry.clone(), None);
    if write_message(&mut send, &Reply::Done).await.is_err() {
        return;
    }
    let started = Instant::now();
    let (incoming, mut arrivals) = tokio::sync::mpsc::channel(64);
    let frames = tokio::spawn(read_frames(recv, incoming.clone()));
    let datagrams = tokio::spawn(read_datagrams(session.connection.clone(), incoming.clone()));
    let connection = session.connection.clone();
    let silent = tokio::spawn(async move {
        silence(&connection, SILENCE).await;
        let _ = incoming.send(ControlInput::Silent).await;
    });
    let (mut applied, mut failed, mut last_move) = (0u64, 0u64, 0u32);
    let mut failure = None;
    let mut fell_silent = false;
    while let Some(arrived) = arrivals.recv().await {
        let event = match arrived {
            ControlInput::Frame(Ok(Some(event))) => {
                if let InputEvent::Move(moved) = &event {
                    last_move = last_move.max(moved.sequence);
                }
                event
            }
            ControlInput::Frame(Ok(None)) | ControlInput::ConnectionLost => break,
            ControlInput::Silent => {
                fell_silent = true;
                break;
            }
            ControlInput::Frame(Err(error)) => {
                // A bad frame ends control; whatever is held is let go below.
                if !matches!(error, FrameError::Io(_)) {
                    let news =
                        ControlNews::Failed(ErrorReply::new(error.code(), error.to_string()));
                    let _ = write_message(&mut send, &news).await;
                    failure = Some(error.to_string());
                }
                break;
            }
            ControlInput::Datagram(bytes) => match PointerMove::from_datagram(&bytes) {
                // Latest wins: a move older than one applied is dropped.
                Ok(moved) if moved.sequence > last_move => {
                    last_move = moved.sequence;
                    InputEvent::Move(moved)
                }
                Ok(_) => continue,
                Err(error) => {
                    tracing::debug!("{}: {error}", session.peer);
                    continue;
                }
            },
        };
        let outcome = match event.check() {
            Ok(()) if event == InputEvent::ReadClipboard => {
                // Reading the student's data is an access of its own in the log.
                let mut read = session.entry(AuditAction::ClipboardRead, None);
                let outcome = match agent.desktop.read_clipboard().await {
                    Ok(text) => {
                        read.detail = Some(format!("{} bytes", text.len()));
                        write_message(&mut send, &ControlNews::Clipboard(text))
                            .await
                            .map_err(|e| ErrorReply::new(ErrorCode::Internal, e.to_string()))
                    }
                    Err(error) => Err(error),
                };
                let reply = outcome.as_ref().err().map(|e| Reply::Error(e.clone()));
                record(agent, read, reply.as_ref());
                outcome
            }
            Ok(()) => agent.desktop.input(event).await,
            Err(error) => Err(ErrorReply::new(ErrorCode::InputRefused, error.to_string())),
        };
        match outcome {
            Ok(()) => applied += 1,
            Err(error) => {
                failed += 1;
                if write_message(&mut send, &ControlNews::Failed(error))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    frames.abort();
    datagrams.abort();
    silent.abort();
    // Let go of every key and button now, in order after the last event; the
    // guard tells the helper again when dropped, in case this did not arrive.
    if let Err(error) = agent.desktop.input(InputEvent::ReleaseAll).await {
        tracing::warn!(
            "{}: could not release held keys: {}",
            session.peer,
            error.message
        );
    }
    drop(guard);
    entry.action = AuditAction::ControlEnd;
    entry.detail = Some(format!(
        "{applied} events applied, {failed} failed, in {:.1} s{}",
        started.elapsed().as_secs_f64(),
        if fell_silent {
            format!("; the console sent nothing for {} s", SILENCE.as_secs())
        } else {
            String::new()
        }
    ));
    let reply = failure.map(|reason| Reply::Error(ErrorReply::new(ErrorCode::Malformed, reason)));
    record(agent, entry, reply.as_ref());
    let _ = send.finish();
}

/// How long a broadcasting console may send nothing before its broadcast
/// ends. Longer than [`SILENCE`]: a broadcast is the class's traffic on the
/// teacher's uplink, the way a queue starves one flow now and then, and a
/// broadcast ended by mistake is seen by every student; 5 s is what the
/// idle timeout gave before it grew to 30 s.
const BROADCAST_SILENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// Turns the stream into a broadcast stream (R7) and shows its pictures
/// until the console finishes it, goes, or falls silent for
/// [`BROADCAST_SILENCE`]; then the student's desktop comes back.
async fn serve_broadcast(
    mut send: SendStream,
    mut recv: RecvStream,
    mode: BroadcastMode,
    session: &Session,
    agent: &Agent,
) {
    let mut entry = session.entry(AuditAction::Broadcast, Some(mode.to_string()));
    if !session.grant.grants(Feature::Broadcast) {
        let error = ErrorReply::new(
            ErrorCode::NotGranted,
            "the room certificate does not grant 'broadcast'",
        );
        return refuse_stream(send, entry, error, agent).await;
    }
    // No notice, no broadcast (R1, R7).
    let mut guard = match agent
        .desktop
        .begin_broadcast(session.notice(Activity::Broadcasting), mode)
        .await
    {
        Ok(guard) => guard,
        Err(error) => return refuse_stream(send, entry, error, agent).await,
    };
    record(agent, entry.clone(), None);
    if write_message(&mut send, &Reply::Done).await.is_err()
        || write_message(&mut send, &BroadcastNews::Credit(INITIAL_CREDIT))
            .await
            .is_err()
    {
        return;
    }
    let started = Instant::now();
    let (mut shown, mut bytes) = (0u64, 0u64);
    let mut latencies = Latencies::default();
    let ended = loop {
        let update = tokio::select! {
            update = read_message::<ScreenUpdate>(&mut recv) => update,
            why = guard.ended() => break Some(why),
            () = silence(&session.connection, BROADCAST_SILENCE) => break Some(ErrorReply::new(
                ErrorCode::Silent,
                format!("the console sent nothing for {} s", BROADCAST_SILENCE.as_secs()),
            )),
        };
        let update = match update {
            Ok(Some(update)) => update,
            Ok(None) | Err(FrameError::Io(_)) => break None,
            Err(error) => break Some(ErrorReply::new(error.code(), error.to_string())),
        };
        if let Err(problem) = check_broadcast_picture(&update) {
            break Some(ErrorReply::new(
                ErrorCode::Malformed,
                format!("the broadcast's picture is refused: {problem}"),
            ));
        }
        bytes += update
            .tiles
            .iter()
            .map(|t| t.data.len() as u64)
            .sum::<u64>();
        let captured_at = update.captured_at_micros;
        if let Err(error) = agent.desktop.broadcast_picture(update).await {
            break Some(error);
        }
        latencies.note(captured_at);
        shown += 1;
        if write_message(&mut send, &BroadcastNews::Credit(1))
            .await
            .is_err()
        {
            break None;
        }
    };
    drop(guard);
    if let Some(why) = &ended {
        let _ = write_message(&mut send, &BroadcastNews::Ended(why.clone())).await;
    }
    entry.action = AuditAction::BroadcastEnd;
    entry.detail = Some(format!(
        "{shown} pictures shown, {bytes} bytes, in {:.1} s{}",
        started.elapsed().as_secs_f64(),
        latencies.summary()
    ));
    record(agent, entry, ended.map(Reply::Error).as_ref());
    let _ = send.finish();
}

/// How long pictures took from the teacher's capture to the student's
/// screen, by the two computers' clocks (exact on one machine, as good as
/// their agreement otherwise): for the audit line, which says how a
/// broadcast went.
#[derive(Default)]
struct Latencies {
    millis: Vec<u32>,
}

impl Latencies {
    /// At most this many are kept (an hour at 25 pictures a second).
    const KEPT: usize = 90_000;

    fn note(&mut self, captured_at_micros: u64) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        if self.millis.len() < Self::KEPT && captured_at_micros > 0 {
            let millis = now.saturating_sub(captured_at_micros) / 1000;
            self.millis.push(u32::try_from(millis).unwrap_or(u32::MAX));
        }
    }

    /// "; capture to screen p50 38 ms, p95 61 ms", or nothing without pictures.
    fn summary(&mut self) -> String {
        if self.millis.is_empty() {
            return String::new();
        }
        self.millis.sort_unstable();
        let at =
            |share: f64| self.millis[((self.millis.len() - 1) as f64 * share).round() as usize];
        format!(
            "; capture to screen p50 {} ms, p95 {} ms",
            at(0.5),
            at(0.95)
        )
    }
}

/// Checks a console's picture as the console checks an agent's: size, tiles
/// inside, each tile's image header naming its size (the console is
/// trusted with the room, not with the helper's memory).
fn check_broadcast_picture(update: &ScreenUpdate) -> Result<(), PictureProblem> {
    check_layered_update(
        PictureSize::new(update.width, update.height),
        tile_views(&update.tiles),
        PictureSize::new(MAX_PICTURE.0, MAX_PICTURE.1),
        MAX_COVER,
        MAX_VIDEO_FRAMES,
    )
}

async fn read_frames(mut recv: RecvStream, incoming: tokio::sync::mpsc::Sender<ControlInput>) {
    loop {
        let frame = read_message::<InputEvent>(&mut recv).await;
        let last = !matches!(frame, Ok(Some(_)));
        if incoming.send(ControlInput::Frame(frame)).await.is_err() || last {
            return;
        }
    }
}

async fn read_datagrams(connection: Connection, incoming: tokio::sync::mpsc::Sender<ControlInput>) {
    loop {
        let arrived = match connection.read_datagram().await {
            Ok(bytes) => ControlInput::Datagram(bytes.to_vec()),
            Err(_) => ControlInput::ConnectionLost,
        };
        let last = matches!(arrived, ControlInput::ConnectionLost);
        if incoming.send(arrived).await.is_err() || last {
            return;
        }
    }
}

/// Answers a screen stream that is not served with why, and ends it.
async fn refuse_stream(mut send: SendStream, entry: AuditEntry, error: ErrorReply, agent: &Agent) {
    let reply = Reply::Error(error);
    record(agent, entry, Some(&reply));
    let _ = write_message(&mut send, &reply).await;
    let _ = send.finish();
}

fn record(agent: &Agent, mut entry: AuditEntry, reply: Option<&Reply>) {
    match reply {
        Some(Reply::Error(error)) => {
            // The agent's limits refuse; everything else is a failed request.
            entry.result = match error.code {
                ErrorCode::TooManyStreams | ErrorCode::RateLimited => AuditResult::Refused,
                _ => AuditResult::Error,
            };
            entry.reason = Some(format!("{}: {}", error.code, error.message));
        }
        _ => entry.result = AuditResult::Ok,
    }
    agent.audit.record(&entry);
}
