//! `pult-registry`: the admin's command line over the device registry.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use pult_protocol::message::Feature;
use pult_registry::devices_csv::{read_devices, write_devices};
use pult_registry::duration::parse_duration;
use pult_registry::model::{DeviceName, DeviceRecord, RoomName};
use pult_registry::store::SqliteStore;
use pult_registry::write::write_file_atomically;
use pult_registry::{Registry, RegistryError};

/// The Pult device registry: schools, rooms, devices, users, certificates.
#[derive(Parser)]
#[command(name = "pult-registry", version)]
struct Cli {
    /// The registry's SQLite file.
    #[arg(long, value_name = "FILE")]
    db: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates the registry file with a school and its certificate authority.
    Init {
        /// The school's name.
        #[arg(long = "org", value_name = "NAME")]
        organisation: String,
    },
    /// Groups of users.
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// Users (teachers).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Devices and rooms.
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Writes what an installer puts on a device: its key and certificate, the CA, its identity.
    AgentBundle {
        /// The device's name.
        name: String,
        /// The directory to write.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Issues a teacher's certificate for one room.
    RoomCert {
        /// The room.
        room: String,
        /// The teacher.
        #[arg(long)]
        user: String,
        /// The directory to write.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// How long it is valid (at most 24h).
        #[arg(long, value_name = "DURATION", default_value = "10h")]
        valid: String,
        /// Grant only these features, comma-separated (screenshot, watch,
        /// open-url, run-program, message, lock, control, power, broadcast,
        /// files); all of them when not given.
        #[arg(long, value_name = "LIST", value_delimiter = ',')]
        features: Option<Vec<Feature>>,
    },
}

#[derive(Subcommand)]
enum GroupCommand {
    /// Makes GROUP the one group whose members may use Pult (R9).
    Authorize {
        /// The group.
        group: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Registers a user as a member of one or more groups.
    Add {
        /// The user name.
        user: String,
        /// A group to add the user to (repeatable).
        #[arg(long = "group", value_name = "GROUP", required = true)]
        groups: Vec<String>,
    },
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// Imports devices from CSV (`-` for standard input); all or nothing.
    Import {
        /// The CSV file.
        file: PathBuf,
    },
    /// Lists devices.
    List {
        /// Only this room.
        #[arg(long)]
        room: Option<String>,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Exports every device as CSV (`-` for standard output).
    Export {
        /// The CSV file.
        file: PathBuf,
    },
    /// Changes a device.
    Set {
        /// The device's name.
        name: String,
        /// Whether teachers may reach it (R10).
        #[arg(long, value_enum)]
        steerable: YesNo,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum YesNo {
    Yes,
    No,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pult-registry: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    if let Command::Init { organisation } = &cli.command {
        let mut registry = Registry::new(SqliteStore::create(&cli.db)?)?;
        registry.init(organisation)?;
        println!(
            "created the registry {} for '{}'",
            cli.db.display(),
            organisation.trim()
        );
        return Ok(());
    }
    let mut registry = Registry::new(SqliteStore::open(&cli.db)?)?;
    match cli.command {
        Command::Init { .. } => unreachable!("handled above"),
        Command::Group {
            command: GroupCommand::Authorize { group },
        } => {
            let outcome = registry.authorize_group(&group)?;
            println!(
                "'{}' is now the one group allowed to use Pult",
                group.trim()
            );
            if let Some(replaced) = outcome.replaced {
                println!(
                    "  (it replaces '{replaced}', whose members can no longer get room certificates)"
                );
            }
            if outcome.members == 0 {
                println!(
                    "  note: the group has no members yet; add them with `user add USER --group {}`",
                    group.trim()
                );
            }
        }
        Command::User {
            command: UserCommand::Add { user, groups },
        } => {
            let created = registry.add_user(&user, &groups)?;
            let verb = if created { "added" } else { "updated" };
            println!("{verb} user '{}' in {}", user.trim(), groups.join(", "));
        }
        Command::Device { command } => device(&mut registry, command)?,
        Command::AgentBundle { name, out } => {
            let name: DeviceName = name.parse()?;
            let bundle = registry.agent_bundle(&name)?;
            bundle.write_to(&out)?;
            let listen = bundle
                .manifest
                .listen
                .map_or("all addresses".to_owned(), |a| a.to_string());
            println!(
                "wrote the agent bundle of {name} ({}) to {}; the agent listens on {listen}",
                bundle.manifest.uuid,
                out.display()
            );
        }
        Command::RoomCert {
            room,
            user,
            out,
            valid,
            features,
        } => {
            let room: RoomName = room.parse()?;
            let valid = parse_duration(&valid).map_err(anyhow::Error::msg)?;
            let features = features.unwrap_or_else(|| Feature::ALL.to_vec());
            let certificate = registry.room_certificate(&room, user.trim(), valid, &features)?;
            certificate.write_to(&out)?;
            let devices = &certificate.manifest.devices;
            let steerable = devices.iter().filter(|d| d.steerable).count();
            println!(
                "wrote the room certificate of '{}' for room {room} to {}: {steerable} of {} devices steerable, valid until {}",
                certificate.manifest.user,
                out.display(),
                devices.len(),
                certificate
                    .manifest
                    .not_after
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

fn device(registry: &mut Registry<SqliteStore>, command: DeviceCommand) -> Result<()> {
    match command {
        DeviceCommand::Import { file } => {
            let (text, source_name) = read_input(&file)?;
            let devices = read_devices(text.as_bytes(), &source_name)?;
            let summary = registry.import_devices(&devices)?;
            println!(
                "imported {} devices from {source_name}: {} new, {} updated, {} new rooms",
                devices.len(),
                summary.added,
                summary.updated,
                summary.rooms_added
            );
        }
        DeviceCommand::List { room, json } => {
            let room = room.map(|r| r.parse::<RoomName>()).transpose()?;
            let devices = registry.devices(room.as_ref())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&devices)?);
            } else {
                print_table(&devices);
            }
        }
        DeviceCommand::Export { file } => {
            let devices = registry.devices(None)?;
            let mut csv = Vec::new();
            write_devices(&mut csv, &devices)?;
            if file == Path::new("-") {
                print!("{}", String::from_utf8_lossy(&csv));
            } else {
                write_file_atomically(&file, &csv)?;
                eprintln!("exported {} devices to {}", devices.len(), file.display());
            }
        }
        DeviceCommand::Set { name, steerable } => {
            let name: DeviceName = name.parse()?;
            let steerable = matches!(steerable, YesNo::Yes);
            match registry.set_steerable(&name, steerable) {
                Ok(()) => {}
                Err(RegistryError::UnknownDevice(name)) => {
                    bail!("device '{name}' is not registered")
                }
                Err(other) => return Err(other.into()),
            }
            let state = if steerable {
                "steerable"
            } else {
                "not steerable"
            };
            println!("{name} is now {state}; this holds for room certificates issued from now on");
        }
    }
    Ok(())
}

fn read_input(file: &Path) -> Result<(String, String)> {
    if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("could not read standard input")?;
        return Ok((text, "standard input".into()));
    }
    let bytes =
        std::fs::read(file).with_context(|| format!("could not read {}", file.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not UTF-8 text (byte {}); save it as UTF-8 CSV",
            file.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    Ok((text, file.display().to_string()))
}

fn print_table(devices: &[DeviceRecord]) {
    let rows: Vec<[String; 6]> = devices
        .iter()
        .map(|d| {
            let f = &d.fields;
            [
                f.name.to_string(),
                f.room.to_string(),
                f.position.clone().unwrap_or_default(),
                if f.steerable { "yes" } else { "no" }.to_owned(),
                f.addresses
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
                d.uuid.to_string(),
            ]
        })
        .collect();
    let header = ["NAME", "ROOM", "POSITION", "STEERABLE", "ADDRESS", "UUID"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
}
