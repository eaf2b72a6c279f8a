//! `pult-registry`: the admin's command line over the device registry.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use pult_protocol::message::Feature;
use pult_registry::devices_csv::{read_device_file, write_devices};
use pult_registry::duration::parse_duration;
use pult_registry::model::{DeviceName, DeviceRecord, RoomName};
use pult_registry::server::{Bound, ServeOptions};
use pult_registry::store::SqliteStore;
use pult_registry::write::write_file_atomically;
use pult_registry::{Actor, Registry, RegistryError};

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
    /// Serves the registry over HTTPS: the JSON API (enrolment, teachers'
    /// room certificates, the admin's calls) and the admin's pages.
    Serve {
        /// Where to listen.
        #[arg(long, default_value = "0.0.0.0:8443", value_name = "IP:PORT")]
        listen: std::net::SocketAddr,
        /// A name the registry is reached by (host name or IP address), for
        /// the HTTPS certificate the school CA issues it; may be given again.
        /// Default: this computer's host name, localhost and 127.0.0.1.
        #[arg(long = "name", value_name = "NAME")]
        names: Vec<String>,
        /// The HTTPS certificate chain (PEM) to use instead of one from the school CA.
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The key of --tls-cert (PEM).
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// How long the room certificates it issues are valid (at most 24h).
        #[arg(long, value_name = "DURATION", default_value = "8h")]
        room_validity: String,
    },
    /// Writes a consistent copy of the registry to FILE while it is in use
    /// (R28: a backup, or a snapshot before an update).
    Backup {
        /// The backup file to write (never overwritten).
        file: PathBuf,
    },
    /// Puts the backup FILE in place of the registry (stop the server
    /// first); a backup of an older version is brought up to date.
    Restore {
        /// The backup file.
        file: PathBuf,
    },
    /// Prints the school's record of processing for classroom control
    /// (Art. 30 GDPR) from the live configuration, as Markdown.
    PrivacyReport {
        /// de or en.
        #[arg(long, default_value = "de", value_parser = ["de", "en"])]
        lang: String,
    },
    /// How long the registry keeps its log (R17, R25): shown, or set with --log.
    Retention {
        /// Keep the log this long: 24h to 183d.
        #[arg(long, value_name = "DURATION")]
        log: Option<String>,
    },
    /// Shows the registry's log: sign-ins, certificates, enrolments, changes
    /// (newest first); `log verify` checks its hash chain (R17).
    #[command(args_conflicts_with_subcommands = true)]
    Log {
        #[command(subcommand)]
        command: Option<LogCommand>,
        /// Only this kind: sign-in, sign-out, certificate, enrolment, change.
        #[arg(long)]
        kind: Option<String>,
        /// Only lines whose user, device or room contains this.
        #[arg(long)]
        text: Option<String>,
        /// At most this many lines.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// As JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// How teachers and admins sign in besides local passwords: the school's
    /// directory (LDAP, Active Directory) and its OpenID Connect provider.
    SignIn {
        #[command(subcommand)]
        command: SignInCommand,
    },
    /// Enrolment tokens: what an installer is given so the device enrols itself.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
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
    /// Makes GROUP the group whose members may use the admin's pages and API.
    Admins {
        /// The group.
        group: String,
    },
}

#[derive(Subcommand)]
enum LogCommand {
    /// Checks that no line was changed or removed (but by expiry): the hash
    /// chain through every line. Prints the last hash, for an admin to keep.
    Verify,
}

#[derive(Subcommand)]
enum SignInCommand {
    /// Signs users without a local password in against the school's directory
    /// (search, then bind). The service account's password, if --bind-dn is
    /// given, is read from standard input (one line).
    Ldap {
        /// ldap://HOST[:PORT] or ldaps://HOST[:PORT].
        #[arg(long)]
        url: String,
        /// Where users are searched, e.g. ou=people,dc=schule,dc=example.
        #[arg(long, value_name = "DN")]
        base_dn: String,
        /// The service account that searches; without, the search is anonymous.
        #[arg(long, value_name = "DN")]
        bind_dn: Option<String>,
        /// Upgrade an ldap:// connection with StartTLS.
        #[arg(long)]
        starttls: bool,
        /// The CA of the directory's certificate (PEM), if not a public one.
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// The filter that finds a user; {user} is the name typed in.
        #[arg(long, value_name = "FILTER", default_value_t = pult_registry::ldap::default_user_filter())]
        user_filter: String,
        /// Where groups that list their members are searched (memberOf is read in any case).
        #[arg(long, value_name = "DN")]
        group_base_dn: Option<String>,
        /// The filter that finds a user's groups; {dn} is the user's entry, {user} their name.
        #[arg(long, value_name = "FILTER", default_value_t = pult_registry::ldap::default_group_filter())]
        group_filter: String,
    },
    /// Lets users sign in with the school's OpenID Connect provider. The
    /// client secret is read from standard input (one line).
    Oidc {
        /// The provider's issuer, exactly as it names itself.
        #[arg(long)]
        issuer: String,
        /// The registry's client id at the provider.
        #[arg(long)]
        client_id: String,
        /// This registry's callback as registered at the provider:
        /// https://REGISTRY:PORT/oidc/callback.
        #[arg(long, value_name = "URL")]
        redirect_uri: String,
        /// What the sign-in button says.
        #[arg(long, default_value_t = pult_registry::oidc::default_label())]
        label: String,
        /// The scopes asked for.
        #[arg(long, default_value_t = pult_registry::oidc::default_scopes())]
        scopes: String,
        /// The claim with the user name.
        #[arg(long, default_value_t = pult_registry::oidc::default_user_claim())]
        user_claim: String,
        /// The claim with the user's groups.
        #[arg(long, default_value_t = pult_registry::oidc::default_groups_claim())]
        groups_claim: String,
        /// The CA of the provider's certificate (PEM), if not a public one.
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
    },
    /// Shows the sign-in settings (without secrets).
    Show,
    /// Removes the directory or the provider.
    Remove {
        /// ldap or oidc.
        #[arg(value_parser = ["ldap", "oidc"])]
        method: String,
    },
    /// Tries a sign-in against the directory (the password from standard
    /// input) and prints the user's name and groups.
    Test {
        /// The user name.
        user: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Makes a token and prints it (once: the registry keeps only its hash).
    Create {
        /// The room new devices go to; without, only registered devices enrol.
        #[arg(long)]
        room: Option<String>,
        /// How many devices may enrol with it.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// How long it is valid (at most 90 days).
        #[arg(long, value_name = "DURATION", default_value = "24h")]
        valid: String,
        /// It enrols teacher PCs, which get room certificates for their room.
        #[arg(long)]
        teacher: bool,
        /// A note for the list.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Lists the tokens.
    List,
    /// Deletes a token.
    Delete {
        /// The token's number, as listed.
        id: i64,
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
    /// Deletes a user: locked at once, purged for good with the devices
    /// they own 90 days later (R13, R18); `user restore` takes it back before.
    Delete {
        /// The user name.
        user: String,
    },
    /// Takes back a user's deletion before it is purged.
    Restore {
        /// The user name.
        user: String,
    },
    /// Sets a user's local password, read from standard input (one line).
    Password {
        /// The user name.
        user: String,
        /// Remove the local password instead: the user signs in by LDAP or OpenID Connect only.
        #[arg(long)]
        remove: bool,
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
    /// Makes a device a teacher PC (room certificates for its room and the
    /// rooms given), or a student PC again.
    Teacher {
        /// The device's name.
        name: String,
        /// A room besides its own it may get certificates for (repeatable).
        #[arg(long = "also", value_name = "ROOM")]
        also: Vec<String>,
        /// Make it a student PC again.
        #[arg(long)]
        remove: bool,
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
    if let Command::Restore { file } = &cli.command {
        let store = SqliteStore::restore(file, &cli.db)?;
        let registry = Registry::new(store)?;
        println!(
            "restored {} from {}: the school '{}', {} devices, {} users, {} log lines",
            cli.db.display(),
            file.display(),
            registry.organisation()?.name,
            registry.devices(None)?.len(),
            registry.users()?.len(),
            registry.log_lines()?
        );
        return Ok(());
    }
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
        Command::Init { .. } | Command::Restore { .. } => unreachable!("handled above"),
        Command::Backup { file } => {
            registry.backup(&file)?;
            println!(
                "wrote a backup of {} to {} (readable by you only)",
                cli.db.display(),
                file.display()
            );
        }
        Command::Group {
            command: GroupCommand::Authorize { group },
        } => {
            let outcome = registry.authorize_group(&group, &Actor::cli())?;
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
        Command::Group {
            command: GroupCommand::Admins { group },
        } => {
            let outcome = registry.set_admin_group(&group, &Actor::cli())?;
            println!("'{}' is now the admins' group", group.trim());
            if let Some(replaced) = outcome.replaced {
                println!("  (it replaces '{replaced}')");
            }
        }
        Command::User {
            command: UserCommand::Add { user, groups },
        } => {
            let created = registry.add_user(&user, &groups, None, &Actor::cli())?;
            let verb = if created { "added" } else { "updated" };
            println!("{verb} user '{}' in {}", user.trim(), groups.join(", "));
        }
        Command::User {
            command: UserCommand::Delete { user },
        } => {
            registry.delete_user(&user, &Actor::cli())?;
            println!(
                "deleted '{}': locked now, purged with the devices they own in 90 days \
                 (`user restore` takes it back until then)",
                user.trim()
            );
        }
        Command::User {
            command: UserCommand::Restore { user },
        } => {
            registry.restore_user(&user, &Actor::cli())?;
            println!("restored '{}'", user.trim());
        }
        Command::User {
            command: UserCommand::Password { user, remove },
        } => {
            if remove {
                registry.set_password(&user, None, &Actor::cli())?;
                println!("removed the local password of '{}'", user.trim());
            } else {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("could not read the password from standard input")?;
                let password = line.trim_end_matches(['\r', '\n']);
                registry.set_password(&user, Some(password), &Actor::cli())?;
                println!("set the local password of '{}'", user.trim());
            }
        }
        Command::Serve {
            listen,
            names,
            tls_cert,
            tls_key,
            room_validity,
        } => serve(
            registry,
            listen,
            names,
            tls_cert.zip(tls_key),
            &room_validity,
        )?,
        Command::Token { command } => token(&mut registry, command)?,
        Command::SignIn { command } => sign_in(&mut registry, command)?,
        Command::PrivacyReport { lang } => {
            let language = if lang == "en" {
                pult_registry::privacy::ReportLanguage::English
            } else {
                pult_registry::privacy::ReportLanguage::German
            };
            print!("{}", pult_registry::privacy::report(&registry, language)?);
        }
        Command::Retention { log } => {
            if let Some(log) = log {
                let keep = parse_duration(&log).map_err(anyhow::Error::msg)?;
                registry.set_log_retention(keep, &Actor::cli())?;
            }
            println!(
                "the log is kept for {}; deleted users are purged after 90 days",
                pult_registry::duration::format_duration(registry.log_retention()?)
            );
        }
        Command::Log {
            command: Some(LogCommand::Verify),
            ..
        } => match registry.verify_log()? {
            pult_registry::store::LogCheck::Intact { lines, last } => {
                println!("the log's {lines} lines are intact; the last hash is {last}");
            }
            pult_registry::store::LogCheck::Broken { line, time } => {
                bail!(
                    "the log was changed: line {line} ({time}) does not follow from the one before \
                     (it was edited, or lines before it were removed)"
                );
            }
        },
        Command::Log {
            command: None,
            kind,
            text,
            limit,
            json,
        } => {
            let kind = kind
                .map(|k| {
                    serde_json::from_value::<pult_registry::store::EventKind>(
                        serde_json::Value::String(k.clone()),
                    )
                    .map_err(|_| anyhow::anyhow!("--kind is one of sign-in, sign-out, certificate, enrolment, change, not '{k}'"))
                })
                .transpose()?;
            let events = registry.events(&pult_registry::store::EventFilter {
                kind,
                outcome: None,
                text,
                limit,
            })?;
            for event in events {
                if json {
                    println!("{}", serde_json::to_string(&event)?);
                } else {
                    println!(
                        "{}  {:<11} {:<8} {:<12} {:<15} {:<12} {}",
                        event
                            .time
                            .format(&time::format_description::well_known::Rfc3339)
                            .unwrap_or_default(),
                        event.kind.as_str(),
                        event.outcome.as_str(),
                        event.actor.as_deref().unwrap_or("-"),
                        event.source.as_deref().unwrap_or("-"),
                        event.subject.as_deref().unwrap_or("-"),
                        event.detail
                    );
                }
            }
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

fn sign_in(registry: &mut Registry<SqliteStore>, command: SignInCommand) -> Result<()> {
    let read_ca = |file: Option<PathBuf>| {
        file.map(|f| {
            std::fs::read_to_string(&f).with_context(|| format!("could not read {}", f.display()))
        })
        .transpose()
    };
    match command {
        SignInCommand::Ldap {
            url,
            base_dn,
            bind_dn,
            starttls,
            ca,
            user_filter,
            group_base_dn,
            group_filter,
        } => {
            let bind_password = match bind_dn {
                Some(_) => Some(secret_line("the service account's password")?),
                None => None,
            };
            let settings = pult_registry::ldap::LdapSettings {
                url,
                starttls,
                ca_pem: read_ca(ca)?,
                base_dn,
                bind_dn,
                bind_password,
                user_filter,
                group_base_dn,
                group_filter,
            };
            registry.set_ldap_settings(Some(&settings), &Actor::cli())?;
            println!(
                "users without a local password now sign in against {}; try one with `sign-in test USER`",
                settings.url
            );
        }
        SignInCommand::Oidc {
            issuer,
            client_id,
            redirect_uri,
            label,
            scopes,
            user_claim,
            groups_claim,
            ca,
        } => {
            let settings = pult_registry::oidc::OidcSettings {
                issuer,
                client_id,
                client_secret: secret_line("the client secret")?,
                redirect_uri,
                scopes,
                user_claim,
                groups_claim,
                label,
                ca_pem: read_ca(ca)?,
            };
            registry.set_oidc_settings(Some(&settings), &Actor::cli())?;
            println!(
                "the sign-in page and the app now offer \"{}\" ({})",
                settings.label, settings.issuer
            );
        }
        SignInCommand::Show => {
            let shown = serde_json::json!({
                "ldap": registry.ldap_settings()?.map(|s| s.redacted()),
                "oidc": registry.oidc_settings()?.map(|s| s.redacted()),
            });
            println!("{}", serde_json::to_string_pretty(&shown)?);
        }
        SignInCommand::Remove { method } => {
            if method == "ldap" {
                registry.set_ldap_settings(None, &Actor::cli())?;
            } else {
                registry.set_oidc_settings(None, &Actor::cli())?;
            }
            println!("removed the {method} sign-in");
        }
        SignInCommand::Test { user } => {
            let settings = registry
                .ldap_settings()?
                .context("no directory is set up; set one with `sign-in ldap`")?;
            let password = secret_line("the password")?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let identity = runtime.block_on(settings.sign_in(&user, &password))?;
            let identity = registry.directory_identity(identity)?;
            println!(
                "signed in as '{}', groups: {}",
                identity.user,
                identity.groups.join(", ")
            );
            match registry.check_authorised(&identity) {
                Ok(()) => println!("  may use Pult (in the authorised group)"),
                Err(refusal) => println!("  may not use Pult: {refusal}"),
            }
        }
    }
    Ok(())
}

/// One line of standard input: a secret an admin pipes in, never an argument (ps shows those).
fn secret_line(what: &str) -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .with_context(|| format!("could not read {what} from standard input"))?;
    let secret = line.trim_end_matches(['\r', '\n']).to_owned();
    if secret.is_empty() {
        bail!("{what} is read from standard input, and it was empty");
    }
    Ok(secret)
}

fn device(registry: &mut Registry<SqliteStore>, command: DeviceCommand) -> Result<()> {
    match command {
        DeviceCommand::Import { file } => {
            let (bytes, source_name) = read_input(&file)?;
            let list = read_device_file(&bytes, &source_name)?;
            let summary = registry.import_list(&list, &source_name, &Actor::cli())?;
            println!(
                "{} from {source_name}",
                pult_registry::describe_import(&list, &summary)
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
        DeviceCommand::Teacher { name, also, remove } => {
            let name: DeviceName = name.parse()?;
            let also = also
                .iter()
                .map(|r| r.parse::<RoomName>())
                .collect::<Result<Vec<_>, _>>()?;
            registry.set_teacher_device(&name, !remove, &also, &Actor::cli())?;
            if remove {
                println!("{name} is a student PC again");
            } else {
                println!(
                    "{name} is a teacher PC; it gets room certificates for its own room and {} more",
                    also.len()
                );
            }
        }
        DeviceCommand::Set { name, steerable } => {
            let name: DeviceName = name.parse()?;
            let steerable = matches!(steerable, YesNo::Yes);
            match registry.set_steerable(&name, steerable, &pult_registry::Actor::cli()) {
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

fn serve(
    registry: Registry<SqliteStore>,
    listen: std::net::SocketAddr,
    mut names: Vec<String>,
    certificate: Option<(PathBuf, PathBuf)>,
    room_validity: &str,
) -> Result<()> {
    let room_validity = parse_duration(room_validity).map_err(anyhow::Error::msg)?;
    if room_validity > pult_protocol::pki::MAX_ROOM_VALIDITY {
        bail!("--room-validity is at most 24h");
    }
    if names.is_empty() {
        names = default_names(listen);
    }
    let certificate = certificate
        .map(|(chain, key)| -> Result<(String, String)> {
            let read = |path: &Path| {
                std::fs::read_to_string(path)
                    .with_context(|| format!("could not read {}", path.display()))
            };
            Ok((read(&chain)?, read(&key)?))
        })
        .transpose()?;
    let options = ServeOptions {
        listen,
        names: names.clone(),
        certificate,
        room_validity,
    };
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().context("could not start the runtime")?;
    runtime.block_on(async {
        let bound = Bound::new(registry, &options).await?;
        let address = bound.local_addr()?;
        // Tests and scripts read this line for the address and port.
        println!("serving https://{address}/ (names: {})", names.join(", "));
        tokio::select! {
            served = bound.serve() => served?,
            _ = tokio::signal::ctrl_c() => eprintln!("stopping"),
        }
        Ok(())
    })
}

/// The names a registry is reached by when the admin names none.
fn default_names(listen: std::net::SocketAddr) -> Vec<String> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    if let Ok(host) = std::fs::read_to_string("/etc/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            names.push(host.to_owned());
        }
    }
    if !listen.ip().is_unspecified() && !listen.ip().is_loopback() {
        names.push(listen.ip().to_string());
    }
    names
}

fn token(registry: &mut Registry<SqliteStore>, command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Create {
            room,
            uses,
            valid,
            teacher,
            label,
        } => {
            let room = room.map(|r| r.parse::<RoomName>()).transpose()?;
            let valid = parse_duration(&valid).map_err(anyhow::Error::msg)?;
            let (text, token) = registry.create_enrolment_token(
                &label,
                room.as_ref(),
                teacher,
                uses,
                valid,
                &Actor::cli(),
            )?;
            eprintln!(
                "token {} enrols {uses} {} until {}; it is shown only now:",
                token.id,
                if teacher { "teacher PCs" } else { "devices" },
                token
                    .expires
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            );
            println!("{text}");
        }
        TokenCommand::List => {
            for token in registry.enrolment_tokens()? {
                println!(
                    "{:>4}  {:<10}  {} uses left  until {}  {}{}",
                    token.id,
                    token.room.map_or("(any)".to_owned(), |r| r.to_string()),
                    token.uses_left,
                    token
                        .expires
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                    if token.teacher { "teacher PCs  " } else { "" },
                    token.label
                );
            }
        }
        TokenCommand::Delete { id } => {
            registry.delete_enrolment_token(id, &Actor::cli())?;
            println!("deleted token {id}");
        }
    }
    Ok(())
}

/// The bytes of `file` (`-` for standard input) and its name for messages.
fn read_input(file: &Path) -> Result<(Vec<u8>, String)> {
    if file == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("could not read standard input")?;
        return Ok((bytes, "standard input".into()));
    }
    let bytes =
        std::fs::read(file).with_context(|| format!("could not read {}", file.display()))?;
    Ok((bytes, file.display().to_string()))
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
