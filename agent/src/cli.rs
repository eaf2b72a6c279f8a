//! The agent's command line: `pult-agent --bundle DIR [...]`.

use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};

use pult_protocol::address::AgentAddress;
use pult_protocol::endpoint::DEFAULT_PORT;
use pult_screen::{CaptureSource, DesktopCapture, SyntheticDesktop};

use crate::announce::announce;
use crate::audit::{AuditLog, RETENTION};
use crate::bundle::Bundle;
use crate::platform;
use crate::serve::{Agent, serve};

/// The Pult student agent.
#[derive(Parser)]
#[command(name = "pult-agent", version)]
pub struct Cli {
    /// The agent bundle written by `pult-registry agent-bundle`.
    #[arg(long, value_name = "DIR")]
    bundle: PathBuf,
    /// Where to listen (IP, or IP:PORT); default: the bundle's address, port 11500.
    #[arg(long, value_name = "ADDR")]
    listen: Option<AgentAddress>,
    /// What to capture: the real desktop (x11), or the synthetic classroom desktop.
    #[arg(long, value_enum, default_value = "x11")]
    screen: ScreenKind,
    /// Size of the synthetic desktop.
    #[arg(long, value_name = "WxH", default_value = "1280x720")]
    synthetic_size: String,
    /// How fast the synthetic desktop moves; 0 keeps it still.
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    synthetic_speed: f64,
    /// The program that opens web pages; the URL is appended as its last argument.
    #[arg(long, value_name = "CMD")]
    url_opener: Option<String>,
    /// Report this user as logged on (demos, kiosks); default: ask the system.
    #[arg(long, value_name = "USER")]
    session_user: Option<String>,
    /// Announce the agent on the local network by mDNS (`_pult._udp.local.`).
    /// An agent listening on a loopback address never announces itself.
    #[arg(long, value_enum, default_value = "on")]
    mdns: Switch,
    /// Where the audit log goes; default: `audit/` in the bundle directory.
    #[arg(long, value_name = "DIR")]
    audit_dir: Option<PathBuf>,
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
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_max_level(tracing::Level::INFO)
        .init();
    let cli = Cli::parse_from(args);
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pult-agent: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let bundle = Bundle::load(&cli.bundle)?;
    let listen = cli.listen.or(bundle.manifest.listen).map_or(
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, DEFAULT_PORT)),
        AgentAddress::socket_addr,
    );
    let screen = open_screen(&cli, bundle.manifest.uuid.as_u64())?;
    let url_opener = match &cli.url_opener {
        Some(command) => command.split_whitespace().map(str::to_owned).collect(),
        None => platform::default_url_opener(),
    };
    if url_opener.is_empty() {
        bail!("--url-opener is empty");
    }
    let audit_dir = cli.audit_dir.unwrap_or_else(|| cli.bundle.join("audit"));
    let audit = AuditLog::open(&audit_dir, RETENTION)
        .with_context(|| format!("could not open the audit log in {}", audit_dir.display()))?;
    let endpoint = bundle.tls.endpoint(listen)?;
    let agent = Arc::new(Agent {
        tls: bundle.tls,
        screen: Arc::new(Mutex::new(screen)),
        url_opener,
        audit,
        watch_state: Arc::default(),
        session_user: cli.session_user.clone(),
    });
    tokio::spawn(expire_daily(agent.clone()));
    tokio::spawn(report_watched(agent.clone()));
    let local = endpoint.local_addr()?;
    let _announcement = match cli.mdns {
        Switch::Off => None,
        Switch::On => announce(&bundle.manifest, local).unwrap_or_else(|error| {
            tracing::warn!("could not announce the agent by mDNS: {error}");
            None
        }),
    };
    tracing::info!(
        "pult-agent {} for {} ({}) of {}; audit log in {}",
        env!("CARGO_PKG_VERSION"),
        bundle.manifest.name,
        bundle.manifest.uuid,
        bundle.manifest.organisation,
        audit_dir.display()
    );
    // A stable line on stdout, for scripts and tests that wait for the agent.
    println!("listening on {local}");
    tokio::select! {
        () = serve(endpoint.clone(), agent) => {}
        _ = tokio::signal::ctrl_c() => {
            endpoint.close(0u32.into(), b"agent stopping");
            endpoint.wait_idle().await;
        }
    }
    Ok(())
}

fn open_screen(cli: &Cli, seed: u64) -> Result<Box<dyn CaptureSource>> {
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
            Box::new(DesktopCapture::new())
        }
    })
}

/// Reports the "being watched" state on stdout (for scripts and tests) and in
/// the log, until the notice in the student's session takes it over.
async fn report_watched(agent: Arc<Agent>) {
    let mut watched = agent.watch_state.subscribe();
    while watched.changed().await.is_ok() {
        let now = *watched.borrow_and_update();
        tracing::info!(
            "the screen is {}being watched",
            if now { "" } else { "no longer " }
        );
        println!("watched: {}", if now { "yes" } else { "no" });
    }
}

async fn expire_daily(agent: Arc<Agent>) {
    let mut interval = tokio::time::interval(Duration::from_secs(3600));
    loop {
        interval.tick().await;
        if let Err(error) = agent.audit.expire() {
            tracing::error!(
                "could not expire old audit files in {}: {error}",
                agent.audit.dir().display()
            );
        }
    }
}
