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
    /// A file of the bundle could not be written where it is installed.
    #[error("could not write {}: {source}", path.display())]
    Write {
        /// The file or directory.
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
    /// The device key can be read or written by others than its owner.
    #[error(
        "{} is open to others (mode {mode:04o}): the device key must be readable by \
         the agent's user alone, or anyone on this computer can pose as it; \
         run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    KeyNotPrivate {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
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
        check_key_is_private(&dir.join(DEVICE_KEY_FILE))?;
        let tls = AgentTls::new(
            manifest.uuid,
            &read(CA_CERTIFICATE_FILE)?,
            &read(DEVICE_CERTIFICATE_FILE)?,
            &read(DEVICE_KEY_FILE)?,
        )?;
        Ok(Self { manifest, tls })
    }
}

/// Refuses a device key that group or others may read or write, as ssh does
/// with a private key: whoever reads it can pose as this computer for the ten
/// years its certificate lasts.
#[cfg(unix)]
fn check_key_is_private(path: &Path) -> Result<(), BundleError> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(path).map_err(|source| BundleError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(BundleError::KeyNotPrivate {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// On Windows the key's protection is its ACL, which the Windows service's
/// installer sets (the Windows issue); mode bits do not exist there.
#[cfg(not(unix))]
fn check_key_is_private(_path: &Path) -> Result<(), BundleError> {
    Ok(())
}

/// Makes the directory `path` readable by its owner only (Unix; on Windows
/// it takes its parent's access list, which the installer set up).
fn private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Installs the bundle in `from` as `to`: checked first (it must load),
/// copied into a new directory beside `to` that only its owner can read,
/// which then replaces `to` whole, so a bad bundle changes nothing and a
/// good one is never half there.
pub fn install(from: &Path, to: &Path) -> Result<Bundle, BundleError> {
    use pult_protocol::credentials::{
        CA_CERTIFICATE_FILE, DEVICE_CERTIFICATE_FILE, DEVICE_KEY_FILE, DEVICE_MANIFEST_FILE,
    };
    let bundle = Bundle::load(from)?;
    let io = |path: &Path, source: std::io::Error| BundleError::Write {
        path: path.to_owned(),
        source,
    };
    let parent = to.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    let staging = parent.join(".bundle-new");
    let _ = std::fs::remove_dir_all(&staging);
    private_dir(&staging).map_err(|e| io(&staging, e))?;
    for name in [
        CA_CERTIFICATE_FILE,
        DEVICE_CERTIFICATE_FILE,
        DEVICE_KEY_FILE,
        DEVICE_MANIFEST_FILE,
    ] {
        let target = staging.join(name);
        std::fs::copy(from.join(name), &target).map_err(|e| io(&target, e))?;
    }
    let old = parent.join(".bundle-old");
    let _ = std::fs::remove_dir_all(&old);
    if to.exists() {
        std::fs::rename(to, &old).map_err(|e| io(to, e))?;
    }
    if let Err(error) = std::fs::rename(&staging, to) {
        // Put the bundle there was back: a failed install changes nothing.
        let _ = std::fs::rename(&old, to);
        let _ = std::fs::remove_dir_all(&staging);
        return Err(io(to, error));
    }
    let _ = std::fs::remove_dir_all(&old);
    Ok(bundle)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_key_others_can_read_or_write_is_refused_naming_file_mode_and_fix() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join(DEVICE_KEY_FILE);
        std::fs::write(&key, "secret").unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602] {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
            let error = check_key_is_private(&key).unwrap_err();
            let said = error.to_string();
            assert!(said.contains(&key.display().to_string()), "{said}");
            assert!(said.contains(&format!("mode 0{mode:o}")), "{said}");
            assert!(said.contains("chmod 600"), "{said}");
        }
        for mode in [0o600, 0o400] {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
            check_key_is_private(&key).unwrap();
        }
    }
}
