//! `pult-agent enroll`: the device makes its key, the registry certifies it
//! with an enrolment token, and the bundle is installed where the agent
//! loads it. No key file is ever copied between machines.

use std::path::Path;

use anyhow::{Context, Result};
use pult_protocol::credentials::{
    CA_CERTIFICATE_FILE, DEVICE_CERTIFICATE_FILE, DEVICE_KEY_FILE, DEVICE_MANIFEST_FILE,
};

use crate::bundle::Bundle;

/// Enrols this computer as `name` (default: its host name) at `registry`
/// with `token`, and installs the bundle in `to`, replacing one there whole.
pub fn enroll(registry: &str, token: &str, name: Option<&str>, to: &Path) -> Result<Bundle> {
    let name = match name {
        Some(name) => name.to_owned(),
        None => pult_registry_client::host_name()
            .context("this computer's host name is unknown; give the device's name with --name")?,
    };
    let enrolled = pult_registry_client::enrol(registry, token, &name)?;
    let parent = to.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("could not create {}", parent.display()))?;
    let staging = parent.join(".bundle-enrolled");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("could not create {}", staging.display()))?;
    let manifest = serde_json::to_vec_pretty(&enrolled.manifest)?;
    let written = (|| -> std::io::Result<()> {
        write_private(&staging.join(DEVICE_KEY_FILE), enrolled.key_pem.as_bytes())?;
        std::fs::write(staging.join(CA_CERTIFICATE_FILE), &enrolled.ca_pem)?;
        std::fs::write(
            staging.join(DEVICE_CERTIFICATE_FILE),
            &enrolled.certificate_pem,
        )?;
        std::fs::write(staging.join(DEVICE_MANIFEST_FILE), manifest)
    })();
    let installed = written
        .with_context(|| format!("could not write the bundle in {}", staging.display()))
        .and_then(|()| Ok(crate::bundle::install(&staging, to)?));
    let _ = std::fs::remove_dir_all(&staging);
    installed
}

/// Writes a file only its owner can read (the key), from the start.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents)
}
