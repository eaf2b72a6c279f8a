//! A temporary school for the benchmark, made with the registry library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use pult_registry::Registry;
use pult_registry::model::{DeviceFields, RoomName};
use pult_registry::store::SqliteStore;

/// A school with one room "Bench" of devices PC-01, PC-02, ...
pub(crate) struct School {
    dir: tempfile::TempDir,
    registry: Registry<SqliteStore>,
}

impl School {
    /// A school whose devices listen on `addresses`.
    pub(crate) fn new(addresses: &[SocketAddr]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut registry = Registry::new(SqliteStore::create(&dir.path().join("registry.db"))?)?;
        registry.init("Benchmark-Schule")?;
        let devices = addresses
            .iter()
            .enumerate()
            .map(|(i, address)| {
                Ok(DeviceFields {
                    name: format!("PC-{:02}", i + 1).parse()?,
                    room: "Bench".parse()?,
                    position: None,
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
        registry.add_user("bench", &["lehrer".to_owned()])?;
        registry.authorize_group("lehrer")?;
        Ok(Self { dir, registry })
    }

    /// Writes the agent bundle of device number `index` (from 0).
    pub(crate) fn bundle(&mut self, index: usize) -> Result<PathBuf> {
        let name = format!("PC-{:02}", index + 1);
        let out = self.dir.path().join(&name);
        self.registry.agent_bundle(&name.parse()?)?.write_to(&out)?;
        Ok(out)
    }

    /// Writes the room certificate.
    pub(crate) fn certificate(&mut self) -> Result<PathBuf> {
        let out = self.dir.path().join("cert");
        let room: RoomName = "Bench".parse()?;
        self.registry
            .room_certificate(&room, "bench", Duration::from_secs(4 * 3600))?
            .write_to(&out)?;
        Ok(out)
    }
}
