//! pult-demo: a classroom on this one machine, for `pult demo`, the benchmark
//! and anyone trying Pult without a school at hand.
//!
//! [`School`] makes a temporary school with one room through the registry
//! library; [`Classroom`] adds one agent per device, running in this process
//! on its own loopback address with the synthetic desktop, and a room
//! certificate for the teacher. Nothing leaves the machine: agents on
//! loopback never announce themselves, and they write requested programs and
//! web pages, and the clicks, keys and text of remote control, to a file
//! instead of starting or pressing them.
#![warn(missing_docs)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use pult_agent::bundle::Bundle;
use pult_agent::desktop::Desktop;
use pult_agent::helper::files::Folders;
use pult_agent::helper::student::ActionMode;
use pult_agent::helper::{HelperCore, LoggedInput, LoggedNotice, Student};
use pult_agent::power::{PowerControl, PowerPlan};
use pult_agent::running::{AgentSetup, Listen, RunningAgent};
use pult_protocol::message::Feature;
use pult_registry::Registry;
use pult_registry::model::{DeviceFields, RoomName};
use pult_registry::store::SqliteStore;
use pult_screen::{MonitorInfo, SyntheticDesktop};

/// The room of the demo school.
pub const ROOM: &str = "101";
/// The teacher of the demo school.
pub const TEACHER: &str = "demo-lehrkraft";

/// A temporary school with one room, set up through the registry library.
pub struct School {
    dir: tempfile::TempDir,
    registry: Registry<SqliteStore>,
}

impl School {
    /// A school whose room [`ROOM`] holds devices PC-01, PC-02, ... at `addresses`,
    /// with [`TEACHER`] in the authorised group.
    pub fn new(organisation: &str, addresses: &[SocketAddr]) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("pult-demo-").tempdir()?;
        let mut registry = Registry::new(SqliteStore::create(&dir.path().join("registry.db"))?)?;
        registry.init(organisation)?;
        let devices = addresses
            .iter()
            .enumerate()
            .map(|(i, address)| {
                Ok(DeviceFields {
                    name: device_name(i).parse()?,
                    room: ROOM.parse()?,
                    position: Some(format!("Reihe {}, Platz {}", i / 4 + 1, i % 4 + 1)),
                    inventory: None,
                    macs: Vec::new(),
                    addresses: vec![(*address).into()],
                    description: None,
                    tags: Vec::new(),
                    owner: None,
                    steerable: true,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        registry.import_devices(&devices)?;
        registry.add_user(
            TEACHER,
            &["lehrer".to_owned()],
            None,
            &pult_registry::Actor::cli(),
        )?;
        registry.authorize_group("lehrer", &pult_registry::Actor::cli())?;
        Ok(Self { dir, registry })
    }

    /// Writes the agent bundle of device number `index` (from 0) and returns its directory.
    pub fn bundle(&mut self, index: usize) -> Result<PathBuf> {
        let name = device_name(index);
        let out = self.dir.path().join("agents").join(&name);
        self.registry.agent_bundle(&name.parse()?)?.write_to(&out)?;
        Ok(out)
    }

    /// Writes the teacher's room certificate and returns its directory.
    pub fn certificate(&mut self) -> Result<PathBuf> {
        let out = self.dir.path().join("room-certificate");
        let room: RoomName = ROOM.parse()?;
        self.registry
            .room_certificate(
                &room,
                TEACHER,
                Duration::from_secs(10 * 3600),
                &Feature::ALL,
            )?
            .write_to(&out)?;
        Ok(out)
    }

    /// The school's temporary directory (removed when the school is dropped).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The name of device number `index` (from 0): PC-01, PC-02, ...
pub fn device_name(index: usize) -> String {
    format!("PC-{:02}", index + 1)
}

/// How the demo classroom looks.
#[derive(Clone, Copy, Debug)]
pub struct ClassroomOptions {
    /// How many student computers.
    pub devices: usize,
    /// The size of their synthetic desktops.
    pub screen: (u32, u32),
}

impl Default for ClassroomOptions {
    fn default() -> Self {
        Self {
            devices: 12,
            screen: (1280, 720),
        }
    }
}

/// A running demo classroom; its agents stop and its files go when dropped.
pub struct Classroom {
    school: School,
    agents: Vec<RunningAgent>,
    certificate: PathBuf,
    actions: PathBuf,
}

impl Classroom {
    /// Starts the classroom on the current tokio runtime.
    pub fn start(options: ClassroomOptions) -> Result<Self> {
        let sockets = (0..options.devices)
            .map(loopback_socket)
            .collect::<Result<Vec<_>>>()?;
        let addresses = sockets
            .iter()
            .map(UdpSocket::local_addr)
            .collect::<Result<Vec<_>, _>>()?;
        let mut school = School::new("Demo-Gymnasium", &addresses)?;
        let actions = school.dir().join("actions.txt");
        let mut agents = Vec::with_capacity(options.devices);
        for (index, socket) in sockets.into_iter().enumerate() {
            let bundle_dir = school.bundle(index)?;
            let bundle = Bundle::load(&bundle_dir)?;
            let seed = bundle.manifest.uuid.as_u64();
            let (width, height) = options.screen;
            // The demo's students are simulated: the notice goes to the log.
            let helper = HelperCore::new(
                Box::new(SyntheticDesktop::new(width, height).with_seed(seed)),
                Box::new(
                    LoggedInput::new(vec![MonitorInfo {
                        x: 0,
                        y: 0,
                        width,
                        height,
                        primary: true,
                    }])
                    .recording(actions.clone(), device_name(index)),
                ),
                Box::new(LoggedNotice),
                Student {
                    identity: None,
                    environment: None,
                    url_opener: vec!["true".into()],
                    mode: ActionMode::Record(actions.clone()),
                    // Each simulated student's folders, in the demo's directory.
                    files: Folders {
                        receive: Some(
                            school
                                .dir()
                                .join(device_name(index))
                                .join("Von der Lehrkraft"),
                        ),
                        hand_in: Some(school.dir().join(device_name(index)).join("Abgabe")),
                    },
                },
                "synthetic".into(),
            );
            let user = format!("schueler{:02}", index + 1);
            agents.push(RunningAgent::start(AgentSetup {
                bundle,
                listen: Listen::Socket(socket),
                desktop: Desktop::joined(helper),
                audit_dir: bundle_dir.join("audit"),
                session_user: tokio::sync::watch::channel(Some(user)).1,
                mdns: false,
                // Power actions go to the actions file; the demo's devices
                // have no MACs, so no magic packet is ever sent.
                power: PowerPlan::new(PowerControl::Record(actions.clone()), Vec::new()),
            })?);
        }
        let certificate = school.certificate()?;
        Ok(Self {
            school,
            agents,
            certificate,
            actions,
        })
    }

    /// The teacher's room certificate directory.
    pub fn certificate(&self) -> &Path {
        &self.certificate
    }

    /// The file where the agents write the programs and pages they were asked
    /// to start and the clicks, keys and text they were sent.
    pub fn actions_file(&self) -> &Path {
        &self.actions
    }

    /// The classroom's temporary directory.
    pub fn dir(&self) -> &Path {
        self.school.dir()
    }

    /// How many agents run.
    pub fn agents(&self) -> usize {
        self.agents.len()
    }
}

/// A UDP socket on a loopback address of its own (127.0.0.101, ...), or on
/// 127.0.0.1 where the system has only that one.
fn loopback_socket(index: usize) -> Result<UdpSocket> {
    let own = Ipv4Addr::new(127, 0, 0, u8::try_from(101 + index % 150).unwrap_or(101));
    Ok(UdpSocket::bind((own, 0)).or_else(|_| UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)))?)
}
