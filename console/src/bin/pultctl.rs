//! `pultctl`: the teacher's console on the command line, for scripts and admins.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use pult_console::{
    Broadcast, BroadcastArea, Closer, Console, ConsoleError, DeviceState, DeviceStatus,
    RoomCertificate, RoomSession, ScreenSource, ScreenStream, SessionOptions,
    audit::{ConsoleAudit, TransferKind},
    encoded_frame, files,
    transfer::{self, CollectOptions, DeviceResult, Outgoing, SendOptions},
};
use pult_protocol::broadcast::BroadcastMode;
use pult_protocol::credentials::{RoomDevice, RoomManifest};
use pult_protocol::input::{InputEvent, KeyCombo, MouseButton, ScreenPoint};
use pult_protocol::message::{ScreenText, TextKind, WebUrl};
use pult_protocol::power::PowerAction;
use pult_protocol::watch::WatchSettings;
use pult_screen::codec::FrameDecoder;
use pult_screen::{Frame, encode_png};

/// Pult's console on the command line: act on the devices of one room.
#[derive(Parser)]
#[command(name = "pultctl", version)]
struct Cli {
    /// The room certificate directory written by `pultctl login` or
    /// `pult-registry room-cert`; default: pult/room in the configuration
    /// folder (~/.config), where `pultctl login` puts it.
    #[arg(long, value_name = "DIR")]
    cert: Option<PathBuf>,
    /// The console's audit log of files sent and collected (R16); default:
    /// pult/audit in the user's local data folder (~/.local/share).
    #[arg(long, value_name = "DIR", global = true)]
    audit_dir: Option<PathBuf>,
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
    /// Watches a device's screen live; prints figures each second and a summary.
    Watch {
        /// The device, by its name in room.json.
        device: String,
        /// The largest picture to receive; the agent scales down to fit.
        #[arg(long, value_name = "WxH", default_value = "1280x720")]
        size: String,
        /// The most updates a second.
        #[arg(long, default_value_t = 10)]
        fps: u8,
        /// How long to watch.
        #[arg(long, default_value_t = 10.0, value_parser = parse_seconds)]
        seconds: f64,
        /// JPEG quality of photo-like tiles (1-100).
        #[arg(long, default_value_t = 75)]
        quality: u8,
        /// One monitor (0, 1, ...) instead of the whole desktop.
        #[arg(long)]
        monitor: Option<u32>,
        /// Updates in flight at most.
        #[arg(long, default_value_t = 2)]
        credit: u16,
        /// Save the last picture as PNG.
        #[arg(long, value_name = "FILE.png")]
        save_last: Option<PathBuf>,
    },
    /// Shows every device of the room: online with its user, offline, refused, not steerable.
    Status {
        /// How long to watch the room before printing.
        #[arg(long, default_value_t = 3.0, value_parser = parse_seconds)]
        seconds: f64,
        /// Also look for devices on the local network by mDNS.
        #[arg(long)]
        mdns: bool,
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
    /// Shows a message window on devices, which the student closes; without DEVICE on every device.
    Message {
        /// The message (line breaks as typed).
        text: String,
        /// Devices by name; none means all.
        devices: Vec<String>,
        /// A title above the message.
        #[arg(long)]
        title: Option<String>,
    },
    /// Locks the screens of devices (R20) until `unlock` or the agent's lock timeout (30 min).
    Lock {
        /// Devices by name; none means all.
        devices: Vec<String>,
        /// Shown on the lock screen under your name.
        #[arg(long)]
        message: Option<String>,
    },
    /// Ends the lock of devices, whoever locked them; without DEVICE on every device.
    Unlock {
        /// Devices by name; none means all.
        devices: Vec<String>,
    },
    /// Wakes devices (`on`: wake-on-LAN, from here and through up to three
    /// awake devices of the room, for a room behind a router), or restarts,
    /// shuts down or logs off devices after a delay in which their students
    /// are told (`reboot`, `shutdown`, `logoff`); `cancel` calls a waiting one
    /// off. Without DEVICE on every device.
    Power {
        /// on, reboot, shutdown, logoff or cancel.
        #[arg(value_enum)]
        what: PowerCommand,
        /// Devices by name; none means all.
        devices: Vec<String>,
        /// Seconds the students have before it happens (0: now; at most 3600).
        #[arg(long, default_value_t = pult_protocol::power::DEFAULT_DELAY_SECONDS)]
        delay: u32,
        /// `on`: also send magic packets to this broadcast address (IP or
        /// IP:PORT, port 9 if none), e.g. a routed network's. May be given again.
        #[arg(long, value_name = "ADDR", value_parser = pult_protocol::power::parse_broadcast)]
        broadcast: Vec<std::net::SocketAddr>,
    },
    /// Types and clicks on a device as its student would (R3), in the order
    /// given: `--text STRING` types text as it is (umlauts, @, € on any
    /// layout); `--key COMBO` presses keys together (`ctrl+alt+t`, `alt+F4`,
    /// `super`, `Return`); `--click X,Y[,BUTTON]` clicks at pixel X,Y of the
    /// whole desktop as a screenshot shows it (button 1 left, 2 middle,
    /// 3 right); `--move X,Y` moves the pointer there; `--scroll N` turns
    /// the wheel N notches down (negative: up); `--down COMBO` and
    /// `--up COMBO` press and release keys separately; `--wait SECONDS`
    /// pauses; `--clipboard TEXT` puts text on the student's clipboard and
    /// `--read-clipboard` prints what is on it. Whatever is still held at the
    /// end is released.
    #[command(allow_hyphen_values = true)]
    Input {
        /// The device, by its name in room.json.
        device: String,
        /// The steps, in order.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "--text S | --key COMBO | --click X,Y[,B] | --move X,Y | --scroll N | --down COMBO | --up COMBO | --wait S | --clipboard S | --read-clipboard"
        )]
        steps: Vec<String>,
    },
    /// Shows your screen — the whole desktop, one monitor or a region — on
    /// the students' screens (R7), or with `--from` one student's screen;
    /// full screen with keyboard and mouse blocked, or with `--window` in a
    /// window the students can move. Runs for `--seconds`, or until Ctrl+C;
    /// a device that comes online meanwhile is shown it at once. Without
    /// `--to` on every device of the room.
    Broadcast {
        /// Only this rectangle of the desktop: X,Y,WIDTH,HEIGHT in pixels.
        #[arg(long, value_name = "X,Y,W,H", conflicts_with_all = ["monitor", "from"])]
        region: Option<pult_console::Region>,
        /// Only this monitor (0, 1, ... from the left).
        #[arg(long, conflicts_with = "from")]
        monitor: Option<u32>,
        /// Show it in a window instead of over the whole screen.
        #[arg(long)]
        window: bool,
        /// How long; without it until Ctrl+C.
        #[arg(long, value_parser = parse_seconds)]
        seconds: Option<f64>,
        /// A device to show it on (repeatable); none means all.
        #[arg(long = "to", value_name = "DEVICE")]
        to: Vec<String>,
        /// Show this device's screen instead of yours.
        #[arg(long, value_name = "DEVICE")]
        from: Option<String>,
        /// The most pictures a second.
        #[arg(long, default_value_t = 25)]
        fps: u8,
        /// JPEG quality of photo-like tiles (1-100).
        #[arg(long, default_value_t = 75)]
        quality: u8,
        /// Kbit/s for a film playing full screen, sent as H.264 (a smaller
        /// one gets its share); 0 sends it as tiles like the rest.
        #[arg(long, default_value_t = pult_console::broadcast::DEFAULT_VIDEO_BITRATE / 1000)]
        video_kbit: u32,
    },
    /// Sends files to devices (R6): files by name, folders as their tree,
    /// into each student's receive folder ("Von der Lehrkraft" on the
    /// desktop, unless an admin set another). A file of the same name there
    /// is replaced only with `--overwrite`; otherwise that device reports
    /// "exists". The student is told which files arrived. Without `--to` on
    /// every device of the room.
    Send {
        /// The files and folders.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// A device to send to (repeatable); none means all.
        #[arg(long = "to", value_name = "DEVICE")]
        to: Vec<String>,
        /// Replace files of the same name.
        #[arg(long)]
        overwrite: bool,
        /// Open the files for the students once they arrived.
        #[arg(long)]
        open: bool,
    },
    /// Collects the files of the students' hand-in folders ("Abgabe" on the
    /// desktop) into OUT/ROOM/DEVICE-USER/; the students are told. Without
    /// `--from` from every device of the room.
    Collect {
        /// Where the files go.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// A device to collect from (repeatable); none means all.
        #[arg(long = "from", value_name = "DEVICE")]
        from: Vec<String>,
        /// Only files whose names match (`*.pdf`, `Aufsatz*`).
        #[arg(long, value_name = "GLOB")]
        pattern: Option<String>,
        /// Another folder beside the hand-in folder, by its name.
        #[arg(long, value_name = "FOLDER")]
        source: Option<String>,
        /// The most megabytes taken from one device.
        #[arg(long, value_name = "MB", default_value_t = pult_protocol::files::DEFAULT_COLLECT_BYTES / 1_000_000)]
        max_mb: u64,
    },
    /// The console's own audit log of files sent and collected (R16, R17).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Enrols this computer as a teacher PC at the registry (an admin, once
    /// per PC, with a teacher token): its identity, and the setting that
    /// says where the registry is.
    Enroll(pult_console::registry::EnrolArgs),
    /// Signs in at the registry and installs the room certificate for the
    /// room this PC stands in (or --room): with --user (the password read
    /// from standard input) or --browser.
    Login {
        /// The teacher's user name (the password is read from standard input).
        #[arg(long, required_unless_present = "browser", conflicts_with = "browser")]
        user: Option<String>,
        /// Sign in with the school's identity provider in the system browser
        /// (`$BROWSER`, or the desktop's default) instead of a password.
        #[arg(long)]
        browser: bool,
        /// Another room this PC is allowed for.
        #[arg(long)]
        room: Option<String>,
        /// The registry setting; default: /etc/pult/registry.json.
        #[arg(long, value_name = "FILE")]
        setting: Option<PathBuf>,
    },
    /// Renews the room certificate with the sign-in `login` kept.
    Renew {
        /// The registry setting; default: /etc/pult/registry.json.
        #[arg(long, value_name = "FILE")]
        setting: Option<PathBuf>,
    },
}

/// What `pultctl audit` does.
#[derive(Subcommand)]
enum AuditCommand {
    /// Checks that the console's audit log was not altered (R17): the hash
    /// chain through its lines and day files.
    Verify,
}

/// What `pultctl power` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum PowerCommand {
    /// Wake by wake-on-LAN.
    On,
    /// Restart.
    Reboot,
    /// Shut down.
    Shutdown,
    /// Log the student off.
    Logoff,
    /// Call off a restart, shutdown or log-off still waiting.
    Cancel,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Needs no room certificate and no runtime; keeps its own exit codes.
    if let Command::Audit(AuditCommand::Verify) = cli.command {
        return match audit_dir(cli.audit_dir) {
            Ok(dir) => pult_audit::verify_command("pultctl", &dir),
            Err(error) => {
                eprintln!("pultctl: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    // The registry's calls need no room certificate and no runtime.
    match registry(&cli) {
        Some(Ok(())) => return ExitCode::SUCCESS,
        Some(Err(error)) => {
            eprintln!("pultctl: {error:#}");
            return ExitCode::FAILURE;
        }
        None => {}
    }
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

/// `enroll`, `login` and `renew`; None for the other commands.
fn registry(cli: &Cli) -> Option<Result<()>> {
    use pult_console::registry::{RegistrySetting, default_setting_file};
    let setting_file = |given: &Option<PathBuf>| given.clone().unwrap_or_else(default_setting_file);
    let room_dir = || -> Result<PathBuf> {
        Ok(cli
            .cert
            .clone()
            .unwrap_or_else(RoomCertificate::default_dir))
    };
    let report = |issued: &pult_registry_client::IssuedRoom, dir: &Path| {
        let steerable = issued
            .manifest
            .devices
            .iter()
            .filter(|d| d.steerable)
            .count();
        println!(
            "room {} for {}: {steerable} of {} devices steerable, valid until {}; in {}",
            issued.manifest.room,
            issued.manifest.user,
            issued.manifest.devices.len(),
            issued
                .manifest
                .not_after
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            dir.display()
        );
    };
    Some(match &cli.command {
        Command::Enroll(args) => pult_console::registry::enrol_command(args),
        Command::Login {
            user,
            browser: _,
            room,
            setting,
        } => (|| {
            let setting = RegistrySetting::load(&setting_file(setting))?;
            let dir = room_dir()?;
            let issued = match user {
                Some(user) => {
                    let mut password = String::new();
                    std::io::stdin()
                        .read_line(&mut password)
                        .context("could not read the password from standard input")?;
                    let password = password.trim_end_matches(['\r', '\n']);
                    pult_console::registry::login(&setting, user, password, room.as_deref(), &dir)?
                }
                None => pult_console::registry::login_in_browser(
                    &setting,
                    room.as_deref(),
                    &dir,
                    |url| {
                        eprintln!("pultctl: signing in in the browser: {url}");
                        pult_console::registry::open_in_browser(url)
                    },
                )?,
            };
            report(&issued, &dir);
            Ok(())
        })(),
        Command::Renew { setting } => (|| {
            let setting = RegistrySetting::load(&setting_file(setting))?;
            let dir = room_dir()?;
            let issued = pult_console::registry::renew(&setting, &dir)?;
            report(&issued, &dir);
            Ok(())
        })(),
        _ => return None,
    })
}

/// The console's audit log directory: `--audit-dir`, or the default.
fn audit_dir(given: Option<PathBuf>) -> Result<PathBuf> {
    match given {
        Some(dir) => Ok(dir),
        None => ConsoleAudit::default_dir()
            .context("no local data folder is known for the audit log; give --audit-dir DIR"),
    }
}

/// Runs the command, then closes its connections; `Ok(false)` when it
/// failed on some device (already reported).
async fn run(cli: Cli) -> Result<bool> {
    let opened = Opened::default();
    let result = command(cli, &opened).await;
    opened.close().await;
    result
}

/// The consoles a command opened, closed before the process ends so that
/// every agent hears of it at once and takes down the student's notice (R1).
#[derive(Default)]
struct Opened(std::sync::Mutex<Vec<Closer>>);

impl Opened {
    /// How long closing may hold up the end of the program.
    const CLOSING: Duration = Duration::from_secs(2);

    fn console(&self, room: RoomCertificate) -> Result<Console> {
        let console = Console::new(room)?;
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(console.closer());
        Ok(console)
    }

    async fn close(self) {
        let closers = self.0.into_inner().unwrap_or_else(|p| p.into_inner());
        for closer in closers {
            closer.close(Self::CLOSING).await;
        }
    }
}

/// Runs the command with consoles from `opened`.
async fn command(cli: Cli, opened: &Opened) -> Result<bool> {
    let cert = match cli.cert {
        Some(dir) => dir,
        None => RoomCertificate::installed_dir()?,
    };
    let room = RoomCertificate::load(&cert)?;
    match cli.command {
        // Handled above, before a room certificate was needed.
        Command::Audit(_) | Command::Enroll(_) | Command::Login { .. } | Command::Renew { .. } => {
            anyhow::bail!("this command needs no room certificate")
        }
        Command::Screenshot { device, out } => {
            let device = room.devices(&[device])?.remove(0);
            let console = opened.console(room)?;
            let session = console.connect(&device).await?;
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
        Command::Input { device, steps } => {
            let steps = input_steps(&steps)?;
            let device = room.devices(&[device])?.remove(0);
            let console = opened.console(room)?;
            let session = console.connect(&device).await?;
            let mut control = session.control().await?;
            for step in &steps {
                match step {
                    Step::Move(at) => control.move_to(*at).await?,
                    Step::Events(events) => control.send_all(events).await?,
                    Step::Wait(pause) => tokio::time::sleep(*pause).await,
                    Step::ReadClipboard => println!("{}", control.read_clipboard().await?),
                }
            }
            let failures = control.end().await?;
            session.close();
            for failure in &failures {
                eprintln!("{}: {failure}", device.name);
            }
            if failures.is_empty() {
                println!("{}: {} steps done", device.name, steps.len());
            }
            Ok(failures.is_empty())
        }
        Command::Watch {
            device,
            size,
            fps,
            seconds,
            quality,
            monitor,
            credit,
            save_last,
        } => {
            let (max_width, max_height) = parse_size(&size)?;
            let settings = WatchSettings {
                max_width,
                max_height,
                max_fps: fps,
                quality,
                monitor,
            };
            let device = room.devices(&[device])?.remove(0);
            let console = opened.console(room)?;
            let session = console.connect(&device).await?;
            let stream = session.watch(settings, credit).await?;
            let picture = watch(stream, Duration::from_secs_f64(seconds), &device.name).await?;
            session.close();
            if let (Some(path), Some(picture)) = (save_last, picture) {
                write_atomically(&path, &encode_png(&picture)?)?;
                println!("saved the last picture to {}", path.display());
            }
            Ok(true)
        }
        Command::Status { seconds, mdns } => {
            let options = SessionOptions {
                discover: mdns,
                ..SessionOptions::default()
            };
            let (session, mut events) = RoomSession::start(room, options)?;
            let deadline = tokio::time::sleep(Duration::from_secs_f64(seconds));
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    () = &mut deadline => break,
                    event = events.recv() => if event.is_none() { break },
                }
            }
            let statuses = session.statuses();
            let unknown = session.unknown_devices();
            session.close(Opened::CLOSING).await;
            for status in &statuses {
                println!("{}", status_line(status));
            }
            // R14: seen on the network, not in the room's certificate; not stored.
            for device in &unknown {
                println!(
                    "unknown device {} at {}: not in this room's certificate",
                    device.name, device.address
                );
            }
            Ok(statuses
                .iter()
                .all(|s| matches!(s.state, DeviceState::Online | DeviceState::NotSteerable)))
        }
        Command::OpenUrl { url, devices } => {
            let url = WebUrl::parse(&url)?;
            let targets = targets(&room, &devices)?;
            let console = opened.console(room)?;
            let said = format!("opened {url}");
            Ok(on_each(console, targets, said, move |session| {
                let url = url.clone();
                async move {
                    let result = session.open_url(&url).await;
                    session.close();
                    result
                }
            })
            .await)
        }
        Command::Message {
            text,
            devices,
            title,
        } => {
            ScreenText::optional(title.as_deref(), TextKind::Title)?;
            ScreenText::new(&text, TextKind::Message)?;
            let targets = targets(&room, &devices)?;
            let console = opened.console(room)?;
            Ok(
                on_each(console, targets, "message shown".into(), move |session| {
                    let (title, text) = (title.clone(), text.clone());
                    async move {
                        let result = session.message(title.as_deref(), &text).await;
                        session.close();
                        result
                    }
                })
                .await,
            )
        }
        Command::Broadcast {
            region,
            monitor,
            window,
            seconds,
            to,
            from,
            fps,
            quality,
            video_kbit,
        } => {
            let area = match (region, monitor) {
                (Some(region), _) => BroadcastArea::Region(region),
                (None, Some(monitor)) => BroadcastArea::Monitor(monitor),
                (None, None) => BroadcastArea::Desktop,
            };
            let source = ScreenSource {
                area,
                max_fps: fps,
                quality,
                video_bitrate: video_kbit.saturating_mul(1000),
                ..ScreenSource::default()
            };
            let mode = if window {
                BroadcastMode::Window
            } else {
                BroadcastMode::FullScreen
            };
            let duration = seconds.map(Duration::from_secs_f64);
            broadcast(room, opened, source, from, &to, mode, duration).await
        }
        Command::Send {
            files,
            to,
            overwrite,
            open,
        } => {
            let targets = targets(&room, &to)?;
            let outgoing = tokio::task::spawn_blocking(move || Outgoing::gather(&files)).await??;
            // Nothing goes unless it can be written down (R16).
            let audit = ConsoleAudit::open(&audit_dir(cli.audit_dir)?)?;
            let manifest = room.manifest.clone();
            let console = opened.console(room)?;
            let results =
                send_files(console, targets, outgoing, SendOptions { overwrite, open }).await;
            report_devices(&results, &audit, TransferKind::FilesSend, &manifest)
        }
        Command::Collect {
            out,
            from,
            pattern,
            source,
            max_mb,
        } => {
            let targets = targets(&room, &from)?;
            let mut options = CollectOptions::new(out, &room.manifest.room);
            options.pattern = pattern;
            options.folder = source;
            options.max_bytes = max_mb.saturating_mul(1_000_000);
            let audit = ConsoleAudit::open(&audit_dir(cli.audit_dir)?)?;
            let manifest = room.manifest.clone();
            let console = opened.console(room)?;
            let results = collect_files(console, targets, options).await;
            report_devices(&results, &audit, TransferKind::FilesCollect, &manifest)
        }
        Command::Lock { devices, message } => {
            ScreenText::optional(message.as_deref(), TextKind::LockMessage)?;
            let targets = targets(&room, &devices)?;
            let console = opened.console(room)?;
            Ok(on_each(console, targets, "locked".into(), move |session| {
                let message = message.clone();
                async move {
                    let result = session.lock(message.as_deref()).await;
                    session.close();
                    result
                }
            })
            .await)
        }
        Command::Power {
            what,
            devices,
            delay,
            broadcast,
        } => {
            let targets = targets(&room, &devices)?;
            let action = match what {
                PowerCommand::On => return wake(room, opened, targets, &broadcast).await,
                PowerCommand::Cancel => None,
                PowerCommand::Reboot => Some(PowerAction::Reboot),
                PowerCommand::Shutdown => Some(PowerAction::Shutdown),
                PowerCommand::Logoff => Some(PowerAction::Logoff),
            };
            let said = match action {
                None => "power action called off".to_owned(),
                Some(action) => format!("{action} in {delay} s"),
            };
            let console = opened.console(room)?;
            Ok(on_each(console, targets, said, move |session| async move {
                let result = match action {
                    Some(action) => session.power(action, delay).await,
                    None => session.power_cancel().await,
                };
                session.close();
                result
            })
            .await)
        }
        Command::Unlock { devices } => {
            let targets = targets(&room, &devices)?;
            let console = opened.console(room)?;
            Ok(
                on_each(console, targets, "unlocked".into(), |session| async move {
                    let result = session.unlock().await;
                    session.close();
                    result
                })
                .await,
            )
        }
        Command::Run { program, args, on } => {
            let targets = targets(&room, &on)?;
            let console = opened.console(room)?;
            let said = format!("started {program}");
            Ok(on_each(console, targets, said, move |session| {
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

/// Broadcasts `source` (or device `from`'s screen) to `to` (all when
/// empty) for `duration` or until Ctrl+C; one line per device at the end.
async fn broadcast(
    room: RoomCertificate,
    opened: &Opened,
    source: ScreenSource,
    from: Option<String>,
    to: &[String],
    mode: BroadcastMode,
    duration: Option<Duration>,
) -> Result<bool> {
    let mut targets = targets(&room, to)?;
    let console = std::sync::Arc::new(opened.console(room)?);
    let (broadcast, from_session) = match &from {
        Some(name) => {
            let device = console
                .room()
                .devices(std::slice::from_ref(name))?
                .remove(0);
            targets.retain(|d| d.uuid != device.uuid);
            let session = console.connect(&device).await?;
            (
                Broadcast::relay_from(&session, &source).await?,
                Some(session),
            )
        }
        None => {
            let capture = Box::new(pult_screen::DesktopCapture::new());
            (Broadcast::from_screen(capture, source)?, None)
        }
    };
    for device in targets {
        let console = console.clone();
        let name = device.name.clone();
        broadcast
            .send_to(&name, mode, move || {
                let (console, device) = (console.clone(), device.clone());
                async move { console.connect(&device).await.map(std::sync::Arc::new) }
            })
            .await;
    }
    let shown_from = from.as_deref().unwrap_or("this screen");
    println!("broadcasting {shown_from}; Ctrl+C ends it");
    let started = Instant::now();
    let deadline = async {
        match duration {
            Some(duration) => tokio::time::sleep(duration).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = deadline => {}
        _ = tokio::signal::ctrl_c() => {}
        () = broadcast.wait_source_ended() => {}
    }
    let report = broadcast.stop().await;
    if let Some(session) = from_session {
        session.close();
    }
    let seconds = started.elapsed().as_secs_f64().max(0.001);
    println!(
        "{} pictures encoded, {} tiles and {} H.264 frames packed once each; {} updates sent ({:.1} MB/s together)",
        report.pictures_encoded,
        report.fanout.tiles_packed,
        report.fanout.video_frames,
        report.fanout.updates_sent,
        report.fanout.bytes_sent as f64 / seconds / 1e6
    );
    if let Some(why) = &report.source_ended {
        eprintln!("pultctl: the broadcast ended early: {why}");
    }
    let mut all_ok = report.source_ended.is_none();
    for receiver in &report.receivers {
        if receiver.reached {
            let then = match (&receiver.problem, receiver.given_up) {
                (Some(problem), true) => format!("; then stopped: {problem}"),
                _ => String::new(),
            };
            println!(
                "{}: shown, {} updates, {:.1} MB{then}",
                receiver.device,
                receiver.updates,
                receiver.bytes as f64 / 1e6
            );
            continue;
        }
        all_ok = false;
        match &receiver.problem {
            Some(problem) => eprintln!("pultctl: {problem}"),
            None => eprintln!("pultctl: {}: not shown", receiver.device),
        }
    }
    Ok(all_ok)
}

/// Wakes `targets` (pult_console::wake::wake_through); one line per device.
async fn wake(
    room: RoomCertificate,
    opened: &Opened,
    targets: Vec<RoomDevice>,
    extra: &[std::net::SocketAddr],
) -> Result<bool> {
    let names: Vec<String> = targets.iter().map(|d| d.name.clone()).collect();
    let manifest = room.manifest.clone();
    let console = std::sync::Arc::new(opened.console(room)?);
    let woken = pult_console::wake::wake_through(console, &manifest, &names, extra).await;
    for refusal in &woken.refusals {
        eprintln!("pultctl: {refusal}");
    }
    let from = match (woken.here, woken.relays.is_empty()) {
        (true, true) => "from here".to_owned(),
        (true, false) => format!("from here and from {}", woken.relays.join(", ")),
        (false, _) => format!("from {}", woken.relays.join(", ")),
    };
    let mut all_ok = true;
    for (name, result) in woken.results {
        match result {
            Ok(()) => println!("{name}: magic packets sent {from}"),
            Err(error) => {
                all_ok = false;
                eprintln!("pultctl: {error}");
            }
        }
    }
    Ok(all_ok)
}

/// Sends `outgoing` to every device at once; one line per device.
async fn send_files(
    console: Console,
    targets: Vec<RoomDevice>,
    outgoing: Outgoing,
    options: SendOptions,
) -> Vec<(String, DeviceResult)> {
    let (files, bytes) = (outgoing.files.len(), outgoing.total_bytes());
    let outgoing = std::sync::Arc::new(outgoing);
    let started = Instant::now();
    let results = on_each_device(console, targets, move |session| {
        let outgoing = outgoing.clone();
        async move {
            let (events, _) = tokio::sync::mpsc::unbounded_channel();
            let result = transfer::send(&session, outgoing, options, &events).await;
            session.close();
            result
        }
    })
    .await;
    let seconds = started.elapsed().as_secs_f64().max(0.001);
    let moved: u64 = results.iter().map(|(_, r)| r.bytes).sum();
    println!(
        "{files} files ({:.1} MB) to {} devices in {seconds:.1} s, {:.1} MB/s together",
        bytes as f64 / 1e6,
        results.len(),
        moved as f64 / seconds / 1e6
    );
    results
}

/// Collects from every device at once; one line per device.
async fn collect_files(
    console: Console,
    targets: Vec<RoomDevice>,
    options: CollectOptions,
) -> Vec<(String, DeviceResult)> {
    let options = std::sync::Arc::new(options);
    on_each_device(console, targets, move |session| {
        let options = options.clone();
        async move {
            let user = session.status().await.ok().and_then(|s| s.user);
            let (events, _) = tokio::sync::mpsc::unbounded_channel();
            let result = transfer::collect(&session, user.as_deref(), &options, &events).await;
            session.close();
            result
        }
    })
    .await
}

/// Prints every device's result of a transfer, then writes them to the
/// console's audit log: the teacher reads them even if the log then fails.
/// Whether every device got everything.
fn report_devices(
    results: &[(String, DeviceResult)],
    audit: &ConsoleAudit,
    kind: TransferKind,
    manifest: &RoomManifest,
) -> Result<bool> {
    let mut all_ok = true;
    for (name, result) in results {
        if result.is_complete() {
            println!("{name}: {}", result.summary());
        } else {
            all_ok = false;
            eprintln!("{name}: {}", result.summary());
        }
    }
    let logged = results
        .iter()
        .map(|(device, result)| (device.as_str(), result));
    audit.transfers(kind, manifest, logged)?;
    Ok(all_ok)
}

/// Runs `action` on every device at once; a device that cannot be reached
/// fails as a whole. Results in the devices' order.
async fn on_each_device<F, Fut>(
    console: Console,
    targets: Vec<RoomDevice>,
    action: F,
) -> Vec<(String, DeviceResult)>
where
    F: Fn(pult_console::DeviceSession) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = DeviceResult> + Send,
{
    let results = on_each_session(console, targets, move |session| {
        let done = action(session);
        async move { Ok(done.await) }
    })
    .await;
    results
        .into_iter()
        .map(|(name, result)| {
            let result = result.unwrap_or_else(|error| DeviceResult {
                error: Some(error.to_string()),
                ..DeviceResult::default()
            });
            (name, result)
        })
        .collect()
}

/// Connects to every target at once and runs `action` with each session.
/// Results in the targets' order.
async fn on_each_session<F, Fut, R>(
    console: Console,
    targets: Vec<RoomDevice>,
    action: F,
) -> Vec<(String, Result<R, ConsoleError>)>
where
    F: Fn(pult_console::DeviceSession) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<R, ConsoleError>> + Send,
    R: Send + 'static,
{
    let console = std::sync::Arc::new(console);
    let action = std::sync::Arc::new(action);
    pult_console::at_once(targets, |device| {
        let (console, action) = (console.clone(), action.clone());
        async move {
            let result = match console.connect(&device).await {
                Ok(session) => action(session).await,
                Err(error) => Err(error),
            };
            (device.name, result)
        }
    })
    .await
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
    let mut all_ok = true;
    for (name, result) in on_each_session(console, targets, action).await {
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

/// Receives updates for `duration`, printing figures each second and a summary;
/// returns the last picture.
async fn watch(mut stream: ScreenStream, duration: Duration, name: &str) -> Result<Option<Frame>> {
    let started = Instant::now();
    let mut decoder = FrameDecoder::new();
    let (mut second, mut total) = (Figures::default(), Figures::default());
    let mut next_report = started + Duration::from_secs(1);
    loop {
        let remaining = (started + duration).saturating_duration_since(Instant::now());
        let update = match tokio::time::timeout(
            remaining.min(next_report.saturating_duration_since(Instant::now())),
            stream.next_update(),
        )
        .await
        {
            Ok(Ok(Some(update))) => Some(update),
            Ok(Ok(None)) => break,
            Ok(Err(error)) => return Err(error.into()),
            Err(_) => None, // time to report
        };
        if let Some(update) = update {
            let captured = update.captured_at_micros;
            let bytes: usize = update.tiles.iter().map(|t| t.data.len()).sum();
            let changed = !update.tiles.is_empty();
            decoder.apply(&encoded_frame(update))?;
            let latency = changed.then(|| unix_micros().saturating_sub(captured) as f64 / 1000.0);
            second.add(bytes, latency);
            total.add(bytes, latency);
        }
        let now = Instant::now();
        if now >= next_report {
            let size = decoder
                .frame()
                .map(|f| format!("{}x{}", f.width(), f.height()))
                .unwrap_or_default();
            println!(
                "{:5.1} s  {}  {size}",
                (now - started).as_secs_f64(),
                second.line(1.0)
            );
            second = Figures::default();
            next_report += Duration::from_secs(1);
        }
        if now >= started + duration {
            break;
        }
    }
    stream.stop().await;
    let elapsed = started.elapsed().as_secs_f64();
    println!("{name}: {} in {elapsed:.1} s", total.line(elapsed));
    Ok(decoder.frame().cloned())
}

/// One line per device: name, state, user, address.
fn status_line(status: &DeviceStatus) -> String {
    let state = match &status.state {
        DeviceState::Connecting => "connecting".to_owned(),
        DeviceState::Online => format!(
            "online, user {}{}",
            status.user.as_deref().unwrap_or("(none)"),
            status
                .locked
                .as_deref()
                .map(|teacher| format!(", locked by {teacher}"))
                .unwrap_or_default()
        ),
        DeviceState::Offline { reason, .. } => format!("offline: {reason}"),
        DeviceState::Refused { reason, .. } => format!("refused: {reason}"),
        DeviceState::NotSteerable => "not steerable".to_owned(),
    };
    let address = status
        .address
        .as_deref()
        .map(|a| format!(" at {a}"))
        .unwrap_or_default();
    format!("{}{address}: {state}", status.name)
}

/// Figures of a stretch of a screen stream.
#[derive(Default)]
struct Figures {
    frames: usize,
    bytes: usize,
    latencies: Vec<f64>,
}

impl Figures {
    fn add(&mut self, bytes: usize, latency: Option<f64>) {
        self.frames += 1;
        self.bytes += bytes;
        self.latencies.extend(latency);
    }

    fn line(&mut self, seconds: f64) -> String {
        self.latencies.sort_by(f64::total_cmp);
        let percentile = |p: f64| {
            let last = self.latencies.len().saturating_sub(1);
            self.latencies
                .get(((last as f64) * p).round() as usize)
                .copied()
        };
        let latency = match (percentile(0.5), percentile(0.95)) {
            (Some(p50), Some(p95)) => format!("latency p50 {p50:.1} ms p95 {p95:.1} ms"),
            _ => "no changes".to_owned(),
        };
        format!(
            "{} frames ({:.1} fps), {:.1} KB ({:.1} KB/s), {latency}",
            self.frames,
            self.frames as f64 / seconds,
            self.bytes as f64 / 1000.0,
            self.bytes as f64 / 1000.0 / seconds
        )
    }
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// One step of `pultctl input`.
enum Step {
    /// Move the pointer (on the stream, so a click after it lands there).
    Move(ScreenPoint),
    /// Keys, text, buttons, wheel.
    Events(Vec<InputEvent>),
    /// A pause.
    Wait(Duration),
    /// Print the text on the student's clipboard.
    ReadClipboard,
}

/// The steps of `pultctl input`, in the order given.
fn input_steps(words: &[String]) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let mut words = words.iter();
    while let Some(option) = words.next() {
        if option == "--read-clipboard" {
            steps.push(Step::ReadClipboard);
            continue;
        }
        let value = words
            .next()
            .with_context(|| format!("{option} needs a value"))?;
        let point = |text: &str| -> Result<(ScreenPoint, Option<u8>)> {
            let parts: Vec<&str> = text.split(',').map(str::trim).collect();
            let number = |part: &str| {
                part.parse::<u32>()
                    .with_context(|| format!("'{text}' is not X,Y in pixels"))
            };
            match parts[..] {
                [x, y] => Ok((
                    ScreenPoint::Pixel {
                        x: number(x)?,
                        y: number(y)?,
                    },
                    None,
                )),
                [x, y, button] => Ok((
                    ScreenPoint::Pixel {
                        x: number(x)?,
                        y: number(y)?,
                    },
                    Some(button.parse().with_context(|| {
                        format!("'{button}' is not a mouse button (1 left, 2 middle, 3 right)")
                    })?),
                )),
                _ => anyhow::bail!("'{text}' is not X,Y or X,Y,BUTTON"),
            }
        };
        match option.as_str() {
            "--text" => steps.push(Step::Events(vec![InputEvent::Text(value.clone())])),
            "--clipboard" => steps.push(Step::Events(vec![InputEvent::Clipboard(value.clone())])),
            "--key" => steps.push(Step::Events(KeyCombo::parse(value)?.events())),
            "--move" => match point(value)? {
                (at, None) => steps.push(Step::Move(at)),
                (_, Some(_)) => anyhow::bail!("--move takes X,Y, not a button"),
            },
            "--click" => {
                let (at, button) = point(value)?;
                let number = button.unwrap_or(1);
                let button = MouseButton::from_number(number).with_context(|| {
                    format!("'{number}' is not a mouse button (1 left, 2 middle, 3 right, 4 back, 5 forward)")
                })?;
                steps.push(Step::Move(at));
                steps.push(Step::Events(vec![
                    InputEvent::Button { button, down: true },
                    InputEvent::Button {
                        button,
                        down: false,
                    },
                ]));
            }
            "--down" | "--up" => {
                let down = option == "--down";
                let combo = KeyCombo::parse(value)?;
                let events = combo.events();
                let (downs, ups) = events.split_at(events.len() / 2);
                steps.push(Step::Events(if down { downs } else { ups }.to_vec()));
            }
            "--wait" => {
                let seconds: f64 = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| (0.0..=3600.0).contains(s))
                    .with_context(|| format!("'{value}' is not a number of seconds (0 to 3600)"))?;
                steps.push(Step::Wait(Duration::from_secs_f64(seconds)));
            }
            "--scroll" => {
                let notches: i16 = value
                    .parse()
                    .with_context(|| format!("'{value}' is not a number of notches"))?;
                steps.push(Step::Events(vec![InputEvent::Wheel { dx: 0, dy: notches }]));
            }
            other => anyhow::bail!(
                "'{other}' is not a step; use --text, --key, --click, --move, --scroll, --down, --up, --wait, --clipboard or --read-clipboard"
            ),
        }
    }
    if steps.is_empty() {
        anyhow::bail!("nothing to do: give --text, --key, --click, --move or --scroll");
    }
    for step in &steps {
        if let Step::Events(events) = step {
            for event in events {
                event.check()?;
            }
        }
    }
    Ok(steps)
}

/// A number of seconds from the command line: from 0.1 to a day, so that
/// it always makes a `Duration`.
fn parse_seconds(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| (0.1..=86_400.0).contains(s))
        .ok_or_else(|| format!("'{text}' is not a number of seconds from 0.1 to 86400"))
}

fn parse_size(text: &str) -> Result<(u32, u32)> {
    text.split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .filter(|&(w, h): &(u32, u32)| w >= 16 && h >= 16)
        .with_context(|| format!("'{text}' is not a size like 1280x720"))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    files::write_atomically(path, bytes)
        .with_context(|| format!("could not write {}", path.display()))
}
