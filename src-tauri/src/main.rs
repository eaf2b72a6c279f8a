//! `pult`: the teacher app.
//!
//! `pult --cert DIR` opens the room of a room certificate (without `--cert`,
//! the one in `~/.config/pult/room`); `pult demo` opens a
//! demo classroom on this machine (`--headless` prints it instead) when built
//! with the feature `demo`: the demo runs agents and a registry in the app,
//! which the packaged app must not contain. Every decision lives in
//! pult-console; this binary only wires it to a window.
// On Windows the installed app has no console window of its own.
#![cfg_attr(all(windows, not(debug_assertions)), windows_subsystem = "windows")]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pult::{run, show_problem};
use pult_console::desk::DeskFolders;
use pult_console::sign_in::Registration;
use pult_console::{RoomCertificate, SessionOptions};
use time::UtcOffset;

/// Pult: see and steer the student computers of your room.
#[derive(Parser)]
#[command(name = "pult", version)]
struct Cli {
    /// The room certificate directory (from `pult-registry room-cert`);
    /// default `~/.config/pult/room`.
    #[arg(long, value_name = "DIR")]
    cert: Option<PathBuf>,
    /// The registry setting of this teacher PC (default:
    /// /etc/pult/registry.json, written by the installer or `pultctl
    /// enroll`): with one, the app signs the teacher in and gets the room
    /// certificate itself.
    #[arg(long, value_name = "FILE", conflicts_with = "cert")]
    setting: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Enrols this computer as a teacher PC at the school's registry (the
    /// installer, or an admin, once per PC, with a teacher token); from then
    /// on plain `pult` signs the teacher in.
    Enroll(pult_console::registry::EnrolArgs),
    /// Forgets this computer's enrolment (the uninstaller).
    Unenroll,
    /// A demo classroom on this machine: student computers with moving
    /// desktops on loopback, and the room view on them.
    Demo {
        /// No window: print each device's status as it changes.
        #[arg(long)]
        headless: bool,
        /// How many student computers.
        #[arg(long, default_value_t = 12)]
        devices: usize,
        /// Stop after this many seconds (headless only); default: until Ctrl-C.
        #[arg(long)]
        seconds: Option<f64>,
    },
}

fn main() -> ExitCode {
    // Read while this is the only thread: the time crate refuses later.
    let utc_offset = UtcOffset::current_local_offset().unwrap_or(UtcOffset::UTC);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_max_level(tracing::Level::WARN)
        .init();
    let cli = Cli::parse();
    let folders = DeskFolders {
        utc_offset,
        ..DeskFolders::default()
    };
    let window = matches!(
        cli.command,
        None | Some(Command::Demo {
            headless: false,
            ..
        })
    );
    if window && let Some(missing) = missing_web_view() {
        eprintln!("pult: {missing}");
        #[cfg(windows)]
        pult_agent_windows::dialog::message_box("Pult", &missing);
        return ExitCode::from(3);
    }
    // On a teacher PC enrolled at a registry, the teacher signs in (R8, R9).
    let registration = match (&cli.command, &cli.cert) {
        (Some(_), _) | (None, Some(_)) => None,
        (None, None) => {
            let setting = cli
                .setting
                .clone()
                .unwrap_or_else(pult_console::registry::default_setting_file);
            match Registration::load(&setting, RoomCertificate::default_dir()) {
                Ok(registration) => registration,
                Err(error) => {
                    eprintln!("pult: {}", error.message);
                    show_problem(&error.message);
                    return ExitCode::from(2);
                }
            }
        }
    };
    let result = match (cli.command, registration) {
        (Some(Command::Enroll(args)), _) => pult_console::registry::enrol_command(&args),
        (Some(Command::Unenroll), _) => pult_console::registry::unenrol_command(),
        (
            Some(Command::Demo {
                headless,
                devices,
                seconds,
            }),
            _,
        ) => demo::run(headless, devices, seconds, folders),
        (None, Some(registration)) => {
            pult::run_registered(registration, SessionOptions::default(), folders)
        }
        (None, None) => match cli.cert.map_or_else(RoomCertificate::installed_dir, Ok) {
            Ok(cert) => run(&cert, SessionOptions::default(), folders),
            Err(error) => {
                eprintln!(
                    "pult: {error}\n\
                     usage: pult [--cert DIR]    (the directory pult-registry room-cert wrote)\n\
                     \x20      pult demo [--headless]"
                );
                show_problem(&error.to_string());
                return ExitCode::from(2);
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pult: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// What to tell the teacher when the window cannot have a web view: on
/// Windows the app uses the Microsoft Edge WebView2 Runtime, which Windows 11
/// has and Windows 10 gets with its updates, but which a stripped-down
/// installation (or Wine) may lack. Elsewhere the package brings WebKitGTK.
fn missing_web_view() -> Option<String> {
    if cfg!(windows) {
        tauri::webview_version().err().map(|error| {
            format!(
                "Pult needs the Microsoft Edge WebView2 Runtime, which is missing on this \
                 computer ({error}). Windows 11 has it and Windows 10 gets it with its \
                 updates; otherwise the IT department installs the \"Evergreen\" runtime.\n\n\
                 Pult braucht die Microsoft-Edge-WebView2-Runtime, die auf diesem Computer \
                 fehlt. Windows 11 bringt sie mit, Windows 10 bekommt sie mit seinen Updates; \
                 sonst installiert sie die IT (\"Evergreen\"-Runtime)."
            )
        })
    } else {
        None
    }
}

/// The demo classroom, in a build with the feature `demo`.
#[cfg(feature = "demo")]
mod demo {
    use std::time::Duration;

    use anyhow::{Context, Result};
    use pult_console::desk::DeskFolders;
    use pult_console::{DeviceState, RoomCertificate, RoomEvent, RoomSession, SessionOptions};
    use pult_demo::{Classroom, ClassroomOptions};

    /// The demo classroom: agents in this process, then the window (or the status lines).
    pub(super) fn run(
        headless: bool,
        devices: usize,
        seconds: Option<f64>,
        folders: DeskFolders,
    ) -> Result<()> {
        let options = ClassroomOptions {
            devices: devices.clamp(1, 40),
            ..ClassroomOptions::default()
        };
        let classroom = tauri::async_runtime::block_on(async { Classroom::start(options) })
            .context("starting the demo classroom")?;
        eprintln!(
            "pult demo: {} student computers on loopback; the programs and pages they are asked to start, and what remote control clicks and types, go to {}",
            classroom.agents(),
            classroom.actions_file().display()
        );
        // Loopback only: no mDNS (it would reach every network this machine is on).
        let session = SessionOptions {
            discover: false,
            ..SessionOptions::default()
        };
        if headless {
            return tauri::async_runtime::block_on(print_statuses(&classroom, session, seconds));
        }
        pult::run(classroom.certificate(), session, folders)
    }

    /// Prints a line per device whenever its status changes, and a summary each second.
    async fn print_statuses(
        classroom: &Classroom,
        options: SessionOptions,
        seconds: Option<f64>,
    ) -> Result<()> {
        let room = RoomCertificate::load(classroom.certificate())?;
        let (session, mut events) = RoomSession::start(room, options)?;
        let deadline =
            tokio::time::sleep(seconds.map_or(Duration::MAX / 4, Duration::from_secs_f64));
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        let mut frames = 0u64;
        loop {
            tokio::select! {
                () = &mut deadline => break,
                _ = tokio::signal::ctrl_c() => break,
                _ = ticker.tick() => {
                    let statuses = session.statuses();
                    let online = statuses.iter().filter(|s| s.state == DeviceState::Online).count();
                    println!("{online} of {} online, {frames} screen updates in the last second", statuses.len());
                    frames = 0;
                }
                event = events.recv() => match event {
                    Some(RoomEvent::Status(status)) => {
                        let state = match &status.state {
                            DeviceState::Online => format!("online, user {}", status.user.as_deref().unwrap_or("(none)")),
                            other => format!("{other:?}").to_lowercase(),
                        };
                        println!("{} at {}: {state}", status.name, status.address.as_deref().unwrap_or("?"));
                    }
                    Some(RoomEvent::Screen { .. }) => frames += 1,
                    None => break,
                },
            }
        }
        session.close(Duration::from_secs(2)).await;
        Ok(())
    }
}

/// Without the feature `demo` there is no demo classroom: say how to get one.
#[cfg(not(feature = "demo"))]
mod demo {
    use anyhow::{Result, bail};
    use pult_console::desk::DeskFolders;

    pub(super) fn run(
        _headless: bool,
        _devices: usize,
        _seconds: Option<f64>,
        _folders: DeskFolders,
    ) -> Result<()> {
        bail!(
            "this build of pult has no demo classroom (the installed app contains no student \
             agent); build it with the feature `demo`: cargo run -p pult --features demo -- demo"
        )
    }
}
