//! Loading the agent bundle the registry wrote for this device.

use std::path::{Path, PathBuf};

use pult_protocol::credentials::{
    CA_CERTIFICATE_FILE, DEVICE_CERTIFICATE_FILE, DEVICE_KEY_FILE, DEVICE_MANIFEST_FILE,
    DeviceManifest,
};
use pult_protocol::endpoint::{AgentTls, SetupError};

/// Why the bundle could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file of the bundle could not be read.
    #[error("could not read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The manifest is not valid.
    #[error("{} is not a valid device manifest: {source}", path.display())]
    Manifest {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: serde_json::Error,
    },
    /// The certificates or key are not usable.
    #[error("the bundle's certificates are not usable: {0}")]
    Tls(#[from] SetupError),
}

/// A loaded bundle: who this agent is, and its TLS identity.
pub struct Bundle {
    /// The device manifest.
    pub manifest: DeviceManifest,
    /// The TLS identity and the school CA.
    pub tls: AgentTls,
}

impl Bundle {
    /// Loads the bundle from `dir`.
    pub fn load(dir: &Path) -> Result<Self, BundleError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| BundleError::Read { path, source })
        };
        let manifest: DeviceManifest =
            serde_json::from_str(&read(DEVICE_MANIFEST_FILE)?).map_err(|source| {
                BundleError::Manifest {
                    path: dir.join(DEVICE_MANIFEST_FILE),
                    source,
                }
            })?;
        let tls = AgentTls::new(
            manifest.uuid,
            &read(CA_CERTIFICATE_FILE)?,
            &read(DEVICE_CERTIFICATE_FILE)?,
            &read(DEVICE_KEY_FILE)?,
        )?;
        Ok(Self { manifest, tls })
    }
}
