//! The agent's command line.
//!
//! - `pult-agent service --bundle DIR ...`: the installed system service; it
//!   starts a session helper in the active graphical session.
//! - `pult-agent helper --socket PATH ...`: the session helper (started by
//!   the service, not by people).
//! - `pult-agent notice-bridge`: the notice on the student's session bus
//!   (started by the helper, as the student).
//! - `pult-agent audit verify DIR`: checks an audit log's hash chain.
//! - `pult-agent --bundle DIR ...`: service and helper in one process, on
//!   this process's own display or a synthetic screen (demos, tests, a kiosk).

use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use pult_protocol::address::AgentAddress;
use pult_protocol::endpoint::DEFAULT_PORT;
use pult_screen::{CaptureSource, DesktopCapture, SyntheticDesktop};

use crate::bundle::Bundle;
use crate::desktop::Desktop;
use crate::helper::files::Folders;
use crate::helper::student::{ActionMode, Identity};
use crate::helper::{HelperCore, InputDevice, LoggedInput, LoggedNotice, SessionDisplay, Student};
use crate::platform;
use crate::power::{PowerControl, PowerPlan};
use crate::running::{AgentSetup, Listen, RunningAgent};

/// The Pult student agent.
#[derive(Parser)]
#[command(name = "pult-agent", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    joined: JoinedArgs,
}

#[derive(Subcommand)]
enum Command {
    /// The system service: network, key, audit log; a helper in the active session.
    Service(ServiceArgs),
    /// The session helper (started by the service).
    Helper(HelperArgs),
    /// Work with the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Enrols this computer at the registry with an enrolment token: makes
    /// the device key here, has the registry certify it, and installs the
    /// bundle (replacing one there, as when a device is enrolled again).
    Enroll {
        /// The registry's address, https://HOST:PORT.
        #[arg(long, value_name = "URL")]
        registry: String,
        /// The enrolment token the admin made (or PULT_TOKEN, which other
        /// users cannot read, unlike a command line).
        #[arg(long, env = "PULT_TOKEN", hide_env_values = true)]
        token: String,
        /// The device's name in the registry; default: this computer's host name.
        #[arg(long)]
        name: Option<String>,
        /// Where to install the bundle; default: where the service loads it.
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
    },
    /// For the installer (the MSI runs it as SYSTEM): enrols this computer
    /// at the registry with a token, or installs the agent bundle from DIR,
    /// into the agent's data directory (SYSTEM and Administrators only), and
    /// makes sure the service's path is quoted.
    #[cfg(windows)]
    Install {
        /// The bundle written by `pult-registry agent-bundle`.
        #[arg(long, value_name = "DIR", conflicts_with = "registry")]
        bundle: Option<PathBuf>,
        /// The registry to enrol at, https://HOST:PORT (with --token).
        #[arg(long, value_name = "URL", requires = "token")]
        registry: Option<String>,
        /// The enrolment token (or PULT_TOKEN).
        #[arg(long, env = "PULT_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// The device's name; default (or empty): this computer's name.
        #[arg(long)]
        name: Option<String>,
    },
    /// For the installer, when the agent is removed (not upgraded): deletes
    /// the agent's data directory, its key and audit log with it.
    #[cfg(windows)]
    Uninstall,
    /// The notice on the student's D-Bus session bus (started by the helper).
    NoticeBridge {
        /// The notification's title.
        #[arg(long, default_value = "Pult")]
        title: String,
    },
    /// Writes and reads the student's files (R6), as the student (started
    /// by the helper).
    FileWorker(FolderArgs),
}

/// Where files from the teacher go and hand-ins come from (R6).
#[derive(Args, Clone, Default)]
struct FolderArgs {
    /// The folder files from the teacher go to: absolute, or below the
    /// student's home folder. Default: "Von der Lehrkraft" (German
    /// desktops) or "From the teacher" on the student's desktop.
    #[arg(long, value_name = "PATH")]
    receive_folder: Option<PathBuf>,
    /// The folder teachers collect from: absolute, or below the student's
    /// home folder. Default: "Abgabe" or "Hand-in" on the desktop.
    #[arg(long, value_name = "PATH")]
    hand_in_folder: Option<PathBuf>,
}

impl FolderArgs {
    fn folders(&self) -> Folders {
        Folders {
            receive: self.receive_folder.clone(),
            hand_in: self.hand_in_folder.clone(),
        }
    }
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Checks the hash chain of an audit log directory: names every line
    /// edited, inserted or deleted, and every missing file (R16, R17).
    Verify {
        /// The audit directory (by default `audit/` in the agent's bundle).
        dir: PathBuf,
    },
}

/// What the service and a single-process agent share.
#[derive(Args)]
struct AgentArgs {
    /// The agent bundle written by `pult-registry agent-bundle`.
    #[arg(long, value_name = "DIR")]
    bundle: Option<PathBuf>,
    /// Where to listen (IP, or IP:PORT); default: the bundle's address, port 11500.
    #[arg(long, value_name = "ADDR")]
    listen: Option<AgentAddress>,
    /// The program that opens web pages; the URL is appended as its last argument.
    #[arg(long, value_name = "CMD")]
    url_opener: Option<String>,
    /// Announce the agent on the local network by mDNS (`_pult._udp.local.`).
    /// An agent listening on a loopback address never announces itself.
    #[arg(long, value_enum, default_value = "on")]
    mdns: Switch,
    /// Where the audit log goes; default: `audit/` in the bundle directory.
    #[arg(long, value_name = "DIR")]
    audit_dir: Option<PathBuf>,
    /// How long a lock lasts unless a teacher ends it (R20), in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    lock_timeout: u64,
    /// Also send wake-on-LAN packets to this broadcast address (IP, or
    /// IP:PORT; port 9 if none), for a network this computer reaches through
    /// a router that forwards directed broadcasts. May be given again.
    #[arg(long, value_name = "ADDR", value_parser = pult_protocol::power::parse_broadcast)]
    wake_broadcast: Vec<SocketAddr>,
    /// Write restarts, shutdowns and log-offs to FILE instead of carrying
    /// them out (tests and demonstrations).
    #[arg(long, value_name = "FILE")]
    power_record: Option<PathBuf>,
    #[command(flatten)]
    folders: FolderArgs,
}

/// `pult-agent service`.
#[derive(Args)]
struct ServiceArgs {
    #[command(flatten)]
    agent: AgentArgs,
    /// Where the helpers' socket goes (a directory only root may enter).
    #[cfg(unix)]
    #[arg(long, value_name = "DIR", default_value = "/run/pult-agent")]
    runtime_dir: PathBuf,
    /// Follow logind's active session (default), or serve one user's session
    /// on one display (a kiosk, a computer without logind).
    #[cfg(unix)]
    #[arg(long, value_name = "USER", requires = "session_display")]
    session_user: Option<String>,
    /// The display of `--session-user`'s session.
    #[cfg(unix)]
    #[arg(long, value_name = "DISPLAY", requires = "session_user")]
    session_display: Option<String>,
    /// Run in this console instead of under the service control manager.
    #[cfg(windows)]
    #[arg(long)]
    console: bool,
}

/// `pult-agent helper`.
#[derive(Args)]
struct HelperArgs {
    /// The service's socket.
    #[cfg(unix)]
    #[arg(long, value_name = "PATH")]
    socket: PathBuf,
    /// The student's user id: what the student asks for runs as them.
    #[cfg(unix)]
    #[arg(long)]
    uid: u32,
    /// The student's group id.
    #[cfg(unix)]
    #[arg(long)]
    gid: u32,
    /// The service's named pipe.
    #[cfg(windows)]
    #[arg(long, value_name = "NAME")]
    pipe: String,
    /// The session the helper serves: what the student asks for runs with
    /// that session user's token.
    #[cfg(windows)]
    #[arg(long)]
    session: u32,
    /// The program that opens web pages; the URL is appended as its last argument.
    #[arg(long, value_name = "CMD")]
    url_opener: Option<String>,
    #[command(flatten)]
    folders: FolderArgs,
}

/// A single-process agent.
#[derive(Args)]
struct JoinedArgs {
    #[command(flatten)]
    agent: AgentArgs,
    /// What to capture: the real desktop (x11), or the synthetic classroom desktop.
    #[arg(long, value_enum, default_value = "x11")]
    screen: ScreenKind,
    /// Size of the synthetic desktop.
    #[arg(long, value_name = "WxH", default_value = "1280x720")]
    synthetic_size: String,
    /// How fast the synthetic desktop moves; 0 keeps it still.
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    synthetic_speed: f64,
    /// Report this user as logged on (demos, kiosks); default: ask the system.
    #[arg(long, value_name = "USER")]
    session_user: Option<String>,
    /// Write requested programs and web pages to FILE instead of starting them
    /// (a demo classroom on one machine).
    #[arg(long, value_name = "FILE")]
    record_actions: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Switch {
    On,
    Off,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ScreenKind {
    /// The real desktop through xcap (X11 on Linux).
    #[value(alias = "desktop")]
    X11,
    /// A synthetic, moving classroom desktop.
    Synthetic,
}

/// Runs the agent with command line `args` (the program name first) until it
/// is interrupted; the exit code says whether it started.
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let cli = Cli::parse_from(args);
    init_logging(&cli);
    let result = match cli.command {
        Some(Command::Audit(AuditCommand::Verify { dir })) => {
            return pult_audit::verify_command("pult-agent", &dir);
        }
        #[cfg(windows)]
        Some(Command::Service(args)) => windows_service(args),
        #[cfg(windows)]
        Some(Command::Install {
            bundle,
            registry,
            token,
            name,
        }) => {
            let enrolment =
                registry
                    .zip(token)
                    .map(|(registry, token)| platform::windows_data::Enrolment {
                        registry,
                        token,
                        name: name.filter(|n| !n.trim().is_empty()),
                    });
            platform::windows_data::install(bundle.as_deref(), enrolment)
        }
        #[cfg(windows)]
        Some(Command::Uninstall) => platform::windows_data::uninstall(),
        #[cfg(target_os = "linux")]
        Some(Command::NoticeBridge { title }) => platform::bridge::run(title),
        Some(Command::FileWorker(folders)) => crate::helper::file_worker::run(folders.folders()),
        Some(Command::Enroll {
            registry,
            token,
            name,
            bundle,
        }) => bundle
            .or_else(platform::default_bundle)
            .context("--bundle DIR is needed: where to install the agent bundle")
            .and_then(|to| {
                let installed = crate::enrol::enroll(&registry, &token, name.as_deref(), &to)?;
                println!(
                    "enrolled as {} ({}); the bundle is in {}",
                    installed.manifest.name,
                    installed.manifest.uuid,
                    to.display()
                );
                Ok(())
            }),
        #[cfg(not(target_os = "linux"))]
        Some(Command::NoticeBridge { .. }) => {
            Err(anyhow::anyhow!("no notice bridge on this system"))
        }
        command => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|runtime| {
                runtime.block_on(async move {
                    match command {
                        #[cfg(unix)]
                        Some(Command::Service(args)) => service(args).await,
                        Some(Command::Helper(args)) => helper(args).await,
                        _ => joined(cli.joined).await,
                    }
                })
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pult-agent: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the network side with `desktop`, prints the address, and serves
/// until interrupted.
async fn serve(
    args: &AgentArgs,
    desktop: Arc<Desktop>,
    session_user: tokio::sync::watch::Receiver<Option<String>>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let bundle_dir = args
        .bundle
        .clone()
        .or_else(platform::default_bundle)
        .context(
            "--bundle DIR is needed: the agent bundle written by `pult-registry agent-bundle`",
        )?;
    let bundle = Bundle::load(&bundle_dir)?;
    desktop.set_lock_timeout(std::time::Duration::from_secs(args.lock_timeout));
    let listen = args.listen.or(bundle.manifest.listen).map_or(
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, DEFAULT_PORT)),
        AgentAddress::socket_addr,
    );
    let audit_dir = args
        .audit_dir
        .clone()
        .unwrap_or_else(|| bundle_dir.join("audit"));
    let manifest = bundle.manifest.clone();
    let running = RunningAgent::start(AgentSetup {
        bundle,
        listen: Listen::Address(listen),
        desktop: desktop.clone(),
        audit_dir: audit_dir.clone(),
        session_user,
        mdns: args.mdns == Switch::On,
        power: PowerPlan::new(
            match &args.power_record {
                Some(file) => PowerControl::Record(file.clone()),
                None => PowerControl::System,
            },
            args.wake_broadcast.clone(),
        ),
    })?;
    tokio::spawn(report_watched(desktop));
    tracing::info!(
        "pult-agent {} for {} ({}) of {}; audit log in {}",
        env!("CARGO_PKG_VERSION"),
        manifest.name,
        manifest.uuid,
        manifest.organisation,
        audit_dir.display()
    );
    // A stable line on stdout, for scripts and tests that wait for the agent.
    println!("listening on {}", running.local_addr());
    stop.await;
    running.stop().await;
    Ok(())
}

/// Resolves on Ctrl-C or, for a service, SIGTERM.
async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn url_opener(command: Option<&String>) -> Vec<String> {
    match command {
        Some(command) => command.split_whitespace().map(str::to_owned).collect(),
        None => platform::default_url_opener(),
    }
}

/// Service and helper in one process.
async fn joined(cli: JoinedArgs) -> Result<()> {
    let seed = match &cli.agent.bundle {
        Some(dir) => Bundle::load(dir)?.manifest.uuid.as_u64(),
        None => 0,
    };
    let mut screen = open_screen(&cli, seed)?;
    let notice: Box<dyn SessionDisplay> = match cli.screen {
        ScreenKind::Synthetic => Box::new(LoggedNotice),
        #[cfg(target_os = "linux")]
        ScreenKind::X11 => {
            let environment: Vec<(String, String)> = std::env::vars().collect();
            Box::new(platform::desktop_notice::DesktopNotice::new(
                &environment,
                None,
            ))
        }
        #[cfg(windows)]
        ScreenKind::X11 => Box::new(
            crate::platform::windows_notice::WindowsNotice::start()
                .context("could not start the notice windows")?,
        ),
        #[cfg(not(any(target_os = "linux", windows)))]
        ScreenKind::X11 => Box::new(LoggedNotice),
    };
    let student = Student {
        identity: None,
        environment: None,
        url_opener: url_opener(cli.agent.url_opener.as_ref()),
        mode: cli
            .record_actions
            .clone()
            .map_or(ActionMode::CarryOut, ActionMode::Record),
        files: cli.agent.folders.folders(),
    };
    let display = std::env::var("DISPLAY").unwrap_or_default();
    let input: Box<dyn InputDevice> = match cli.screen {
        ScreenKind::Synthetic => Box::new(LoggedInput::new(
            screen.monitors().map_err(|e| anyhow::anyhow!("{e}"))?,
        )),
        ScreenKind::X11 => platform::desktop_input(),
    };
    let desktop = Desktop::joined(HelperCore::new(screen, input, notice, student, display));
    let user = cli.session_user.clone().or_else(platform::logged_on_user);
    serve(
        &cli.agent,
        desktop,
        tokio::sync::watch::channel(user).1,
        shutdown(),
    )
    .await
}

/// Logs go to standard error; the Windows service, which has none, writes
/// its own log file (`service.log` in the data directory).
fn init_logging(cli: &Cli) {
    let logging = tracing_subscriber::fmt().with_max_level(tracing::Level::INFO);
    #[cfg(windows)]
    if let Some(Command::Service(ServiceArgs { console: false, .. })) = &cli.command {
        match platform::windows_data::service_log() {
            Ok(file) => {
                logging
                    .with_writer(std::sync::Mutex::new(file))
                    .with_ansi(false)
                    .init();
                return;
            }
            Err(error) => eprintln!("pult-agent: no service log: {error:#}"),
        }
    }
    #[cfg(not(windows))]
    let _ = cli;
    logging
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// The system service.
#[cfg(target_os = "linux")]
async fn service(args: ServiceArgs) -> Result<()> {
    use crate::platform::logind::{self, SessionSource};
    use crate::platform::unix_host::{HelperCommand, UnixHost};

    let source = match (&args.session_user, &args.session_display) {
        (Some(user), Some(display)) => SessionSource::Fixed {
            user: user.clone(),
            display: display.clone(),
        },
        _ => SessionSource::Logind,
    };
    let sessions = logind::follow(source).await?;
    let desktop = Desktop::new();
    let command = HelperCommand {
        program: std::env::current_exe().context("cannot find this program's path")?,
        args: helper_args(&args.agent),
    };
    let user = user_names(sessions.clone(), |s| s.user.clone());
    let host = UnixHost::new(&args.runtime_dir, command)?;
    tokio::spawn(crate::service::supervise(sessions, host, desktop.clone()));
    serve(&args.agent, desktop, user, shutdown()).await
}

/// The Windows service: under the service control manager, or with
/// `--console` in this console (tests, trying things out).
#[cfg(windows)]
fn windows_service(args: ServiceArgs) -> Result<()> {
    use pult_agent_windows::service;

    if args.console {
        let (_controls, received) = std::sync::mpsc::channel();
        return windows_service_body(args, received, true);
    }
    service::run(
        platform::SERVICE_NAME,
        Box::new(move |controls| {
            windows_service_body(args, controls, false).map_err(|error| {
                // A service has no console: the reason goes to its log.
                let reason = format!("{error:#}");
                tracing::error!("the service stops: {reason}");
                reason
            })
        }),
    )
    .map_err(anyhow::Error::msg)
}

#[cfg(windows)]
fn windows_service_body(
    mut args: ServiceArgs,
    controls: std::sync::mpsc::Receiver<pult_agent_windows::service::Control>,
    console: bool,
) -> Result<()> {
    use crate::platform::windows_host::{self, PipeHost};
    use pult_agent_windows::service::Control;

    // Key, audit log and configuration: SYSTEM and Administrators only.
    let data = platform::windows_data::prepare()?;
    if args.agent.audit_dir.is_none() {
        args.agent.audit_dir = Some(data.join("audit"));
    }
    if !console {
        if let Err(error) = pult_agent_windows::service::restart_on_failure(platform::SERVICE_NAME)
        {
            tracing::warn!("{error}");
        }
        platform::windows_data::quote_service_path();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let changed = Arc::new(tokio::sync::Notify::new());
        let (stop_sender, stop) = tokio::sync::oneshot::channel::<()>();
        let notify = changed.clone();
        std::thread::Builder::new()
            .name("service-controls".into())
            .spawn(move || {
                let mut stop_sender = Some(stop_sender);
                while let Ok(control) = controls.recv() {
                    match control {
                        Control::SessionChange => notify.notify_one(),
                        Control::Stop => {
                            if let Some(sender) = stop_sender.take() {
                                let _ = sender.send(());
                            }
                        }
                    }
                }
            })?;
        let mut stop = stop;
        if !console && args.agent.bundle.is_none() {
            // Installed without BUNDLE: wait for one (`pult-agent install
            // --bundle DIR`, or the MSI again) instead of failing over and over.
            let bundle = platform::default_bundle().context("no ProgramData directory")?;
            let mut told = false;
            while !bundle.join(pult_protocol::credentials::DEVICE_MANIFEST_FILE).is_file() {
                if !told {
                    tracing::warn!(
                        "no agent bundle in {}; waiting for one (msiexec /i pult-agent.msi BUNDLE=DIR)",
                        bundle.display()
                    );
                    told = true;
                }
                tokio::select! {
                    _ = &mut stop => return Ok(()),
                    () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                }
            }
        }
        let sessions = windows_host::follow(changed);
        let desktop = Desktop::new();
        let program = std::env::current_exe().context("cannot find this program's path")?;
        let host = PipeHost::new(program, helper_args(&args.agent))?;
        let user = user_names(sessions.clone(), |s| s.user.clone());
        tokio::spawn(crate::service::supervise(sessions, host, desktop.clone()));
        let stop = async move {
            if console {
                shutdown().await;
            } else {
                let _ = stop.await;
            }
        };
        serve(&args.agent, desktop, user, stop).await
    })
}

/// What the service passes on to its helpers.
fn helper_args(agent: &AgentArgs) -> Vec<String> {
    let mut args: Vec<String> = agent
        .url_opener
        .iter()
        .flat_map(|opener| ["--url-opener".to_owned(), opener.clone()])
        .collect();
    args.extend(agent.folders.folders().to_args());
    args
}

/// The user of each session as it changes (R15).
fn user_names<S: Send + Sync + 'static>(
    mut sessions: tokio::sync::watch::Receiver<Option<S>>,
    user: fn(&S) -> String,
) -> tokio::sync::watch::Receiver<Option<String>> {
    let (sender, receiver) = tokio::sync::watch::channel(sessions.borrow().as_ref().map(user));
    tokio::spawn(async move {
        while sessions.changed().await.is_ok() {
            let now = sessions.borrow_and_update().as_ref().map(user);
            sender.send_replace(now);
        }
    });
    receiver
}

/// The session helper.
#[cfg(target_os = "linux")]
async fn helper(args: HelperArgs) -> Result<()> {
    let environment: Vec<(String, String)> = std::env::vars().collect();
    // The helper is root; the student's things run as the student.
    let identity = (crate::platform::unix_host::own_uid()? != args.uid).then_some(Identity {
        uid: args.uid,
        gid: args.gid,
    });
    let notice = platform::desktop_notice::DesktopNotice::new(&environment, identity);
    let student = Student {
        identity,
        environment: Some(environment),
        url_opener: url_opener(args.url_opener.as_ref()),
        mode: ActionMode::CarryOut,
        files: args.folders.folders(),
    };
    let display = std::env::var("DISPLAY").unwrap_or_default();
    let core = HelperCore::new(
        platform::desktop_capture(),
        platform::desktop_input(),
        Box::new(notice),
        student,
        display,
    );
    crate::helper::process::run(&args.socket, core).await
}

/// The session helper on Windows: SYSTEM in the student's session.
#[cfg(windows)]
async fn helper(args: HelperArgs) -> Result<()> {
    use crate::platform::windows_notice::WindowsNotice;

    crate::platform::windows_host::check_own_session(args.session)?;
    let notice = WindowsNotice::start().context("could not start the notice windows")?;
    let student = Student {
        identity: Some(Identity {
            session: args.session,
        }),
        environment: None,
        url_opener: url_opener(args.url_opener.as_ref()),
        mode: ActionMode::CarryOut,
        files: args.folders.folders(),
    };
    let core = HelperCore::new(
        platform::desktop_capture(),
        platform::desktop_input(),
        Box::new(notice),
        student,
        format!("session {}", args.session),
    );
    crate::helper::process::run(&args.pipe, core).await
}

fn open_screen(cli: &JoinedArgs, seed: u64) -> Result<Box<dyn CaptureSource>> {
    let size = &cli.synthetic_size;
    Ok(match cli.screen {
        ScreenKind::Synthetic => {
            let (width, height) = size
                .split_once('x')
                .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
                .filter(|&(w, h): &(u32, u32)| (64..=8192).contains(&w) && (64..=8192).contains(&h))
                .with_context(|| {
                    format!("'{size}' is not a screen size like 1280x720 (64 to 8192 each)")
                })?;
            Box::new(
                SyntheticDesktop::new(width, height)
                    .with_seed(seed)
                    .with_speed(cli.synthetic_speed),
            )
        }
        ScreenKind::X11 => {
            match DesktopCapture::probe() {
                Ok(described) => tracing::info!("capturing the {described}"),
                Err(error) => tracing::warn!("{error}; screenshots fail until there is a display"),
            }
            platform::desktop_capture()
        }
    })
}

/// Reports the "being watched" state on stdout (for scripts and tests) and in
/// the log; the student sees the notice the helper shows.
async fn report_watched(desktop: Arc<Desktop>) {
    let mut watched = desktop.subscribe_viewed();
    while watched.changed().await.is_ok() {
        let now = *watched.borrow_and_update();
        tracing::info!(
            "the screen is {}being watched",
            if now { "" } else { "no longer " }
        );
        println!("watched: {}", if now { "yes" } else { "no" });
    }
}
