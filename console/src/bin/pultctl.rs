//! `pultctl`: the teacher's console on the command line, for scripts and admins.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use pult_console::{Console, ConsoleError, RoomCertificate};
use pult_protocol::credentials::RoomDevice;
use pult_protocol::message::WebUrl;
use tokio::task::JoinSet;

/// Pult's console on the command line: act on the devices of one room.
#[derive(Parser)]
#[command(name = "pultctl", version)]
struct Cli {
    /// The room certificate directory written by `pult-registry room-cert`.
    #[arg(long, value_name = "DIR")]
    cert: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Saves a screenshot of a device's whole screen as PNG.
    Screenshot {
        /// The device, by its name in room.json.
        device: String,
        /// Where to save the PNG.
        #[arg(long, value_name = "FILE.png")]
        out: PathBuf,
    },
    /// Opens a web page (http or https) on devices; without DEVICE on every device of the room.
    OpenUrl {
        /// The web address.
        url: String,
        /// Devices by name; none means all.
        devices: Vec<String>,
    },
    /// Starts a program on devices (no shell). Put `--` before arguments that start with `-`.
    Run {
        /// The program.
        program: String,
        /// Its arguments.
        args: Vec<String>,
        /// A device to run it on (repeatable); none means all.
        #[arg(long = "on", value_name = "DEVICE")]
        on: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("pultctl: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("pultctl: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command; `Ok(false)` when it failed on some device (already reported).
async fn run(cli: Cli) -> Result<bool> {
    let room = RoomCertificate::load(&cli.cert)?;
    match cli.command {
        Command::Screenshot { device, out } => {
            let device = room.devices(&[device])?.remove(0);
            let console = Console::new(room)?;
            let mut session = console.connect(&device).await?;
            let screenshot = session.screenshot().await?;
            session.close();
            write_atomically(&out, &screenshot.png)?;
            println!(
                "{}: saved a {}x{} screenshot to {}",
                device.name,
                screenshot.width,
                screenshot.height,
                out.display()
            );
            Ok(true)
        }
        Command::OpenUrl { url, devices } => {
            let url = WebUrl::parse(&url)?;
            let targets = targets(&room, &devices)?;
            let console = Console::new(room)?;
            let said = format!("opened {url}");
            Ok(on_each(console, targets, said, move |mut session| {
                let url = url.clone();
                async move {
                    let result = session.open_url(&url).await;
                    session.close();
                    result
                }
            })
            .await)
        }
        Command::Run { program, args, on } => {
            let targets = targets(&room, &on)?;
            let console = Console::new(room)?;
            let said = format!("started {program}");
            Ok(on_each(console, targets, said, move |mut session| {
                let (program, args) = (program.clone(), args.clone());
                async move {
                    let result = session.run_program(&program, &args).await;
                    session.close();
                    result
                }
            })
            .await)
        }
    }
}

/// The named devices, or every steerable device of the room; refuses names not in the room.
fn targets(room: &RoomCertificate, names: &[String]) -> Result<Vec<RoomDevice>> {
    if !names.is_empty() {
        return Ok(room.devices(names)?);
    }
    let (steerable, skipped): (Vec<_>, Vec<_>) = room
        .manifest
        .devices
        .iter()
        .cloned()
        .partition(|d| d.steerable);
    for device in skipped {
        println!("{}: skipped, not steerable", device.name);
    }
    Ok(steerable)
}

/// Runs `action` on every target at once; prints one line per device in room order.
async fn on_each<F, Fut>(
    console: Console,
    targets: Vec<RoomDevice>,
    said: String,
    action: F,
) -> bool
where
    F: Fn(pult_console::DeviceSession) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), ConsoleError>> + Send,
{
    let console = std::sync::Arc::new(console);
    let action = std::sync::Arc::new(action);
    let mut tasks = JoinSet::new();
    for (index, device) in targets.into_iter().enumerate() {
        let (console, action) = (console.clone(), action.clone());
        tasks.spawn(async move {
            let result = match console.connect(&device).await {
                Ok(session) => action(session).await,
                Err(error) => Err(error),
            };
            (index, device.name, result)
        });
    }
    let mut results = tasks.join_all().await;
    results.sort_by_key(|(index, _, _)| *index);
    let mut all_ok = true;
    for (_, name, result) in results {
        match result {
            Ok(()) => println!("{name}: {said}"),
            Err(error) => {
                all_ok = false;
                eprintln!("pultctl: {error}");
            }
        }
    }
    all_ok
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().context("the output needs a file name")?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
    }
    let partial = path.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    std::fs::write(&partial, bytes)
        .with_context(|| format!("could not write {}", partial.display()))?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("could not write {}", path.display()))?;
    Ok(())
}
