//! The agent's command line: `pult-agent --bundle DIR [...]` runs the agent;
//! `pult-agent audit verify DIR` checks an audit log's hash chain.

use std::net::{Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use pult_protocol::address::AgentAddress;
use pult_protocol::endpoint::DEFAULT_PORT;
use pult_screen::{CaptureSource, DesktopCapture, SyntheticDesktop};

use crate::audit::{self, RETENTION};
use crate::bundle::Bundle;
use crate::platform;
use crate::running::{AgentSetup, Listen, RunningAgent};
use crate::serve::ActionMode;
use crate::watch::WatchState;

/// The Pult student agent.
#[derive(Parser)]
#[command(
    name = "pult-agent",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct CommandLine {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a command: run the agent.
    #[command(flatten)]
    run: Option<Cli>,
}

#[derive(Subcommand)]
enum Command {
    /// Work with the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
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

/// Running the agent: the options without a command.
#[derive(Args)]
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
    /// Write requested programs and web pages to FILE instead of starting them
    /// (a demo classroom on one machine).
    #[arg(long, value_name = "FILE")]
    record_actions: Option<PathBuf>,
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
    let command_line = CommandLine::parse_from(args);
    let cli = match (command_line.command, command_line.run) {
        (Some(Command::Audit(AuditCommand::Verify { dir })), _) => return verify_audit(&dir),
        (None, Some(cli)) => cli,
        (None, None) => CommandLine::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "--bundle DIR is needed to run the agent (or a command such as `audit verify DIR`)",
            )
            .exit(),
    };
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

/// `pult-agent audit verify DIR`: success only if the chain is whole.
fn verify_audit(dir: &Path) -> ExitCode {
    let oldest_kept = audit::oldest_kept_day(RETENTION);
    match audit::chain::verify(dir, oldest_kept) {
        Err(error) => {
            eprintln!(
                "pult-agent: could not read the audit log in {}: {error}",
                dir.display()
            );
            ExitCode::from(2)
        }
        Ok(verified) if verified.problems.is_empty() => {
            println!(
                "{}: {} lines in {} files verified, the chain is whole",
                dir.display(),
                verified.lines,
                verified.files
            );
            if let Some(hash) = verified.last_hash {
                // Lines cut off the end leave no trace in what remains; this
                // hash, kept elsewhere, shows them.
                println!(
                    "last line's hash: {hash} (keep it to check later that no lines were cut off the end)"
                );
            }
            ExitCode::SUCCESS
        }
        Ok(verified) => {
            for problem in &verified.problems {
                println!("{}", problem);
            }
            eprintln!(
                "pult-agent: the audit log in {} was altered: {} problems in {} lines of {} files",
                dir.display(),
                verified.problems.len(),
                verified.lines,
                verified.files
            );
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
    let audit_dir = cli
        .audit_dir
        .clone()
        .unwrap_or_else(|| cli.bundle.join("audit"));
    let manifest = bundle.manifest.clone();
    let running = RunningAgent::start(AgentSetup {
        bundle,
        listen: Listen::Address(listen),
        screen,
        url_opener,
        audit_dir: audit_dir.clone(),
        session_user: cli.session_user.clone(),
        mdns: cli.mdns == Switch::On,
        actions: cli
            .record_actions
            .clone()
            .map_or(ActionMode::CarryOut, ActionMode::Record),
    })?;
    tokio::spawn(report_watched(running.watch_state()));
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
    let _ = tokio::signal::ctrl_c().await;
    running.stop().await;
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
async fn report_watched(state: Arc<WatchState>) {
    let mut watched = state.subscribe();
    while watched.changed().await.is_ok() {
        let now = *watched.borrow_and_update();
        tracing::info!(
            "the screen is {}being watched",
            if now { "" } else { "no longer " }
        );
        println!("watched: {}", if now { "yes" } else { "no" });
    }
}
