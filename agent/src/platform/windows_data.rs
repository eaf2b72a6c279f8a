//! The installed agent's data on Windows: `%ProgramData%\Pult\Agent`
//! (bundle, audit log), for SYSTEM and Administrators only, and what the
//! MSI has the agent do with it at install and removal.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use pult_agent_windows::acl;

use super::{SERVICE_NAME, data_dir};

/// Creates the data directory if needed and (again) restricts it to SYSTEM
/// and Administrators; the service does this at every start.
pub fn prepare() -> Result<PathBuf> {
    let data = data_dir().context("no ProgramData directory")?;
    // `Pult` as well as `Pult\Agent`: whoever controls the parent can
    // rename the data directory away and put another in its place.
    let folders = [data.parent().unwrap_or(&data), &data];
    for folder in folders {
        // A junction or link (made by someone before the agent was
        // installed) would send the agent's key and its access list elsewhere.
        if std::fs::symlink_metadata(folder).is_ok_and(|meta| meta.file_type().is_symlink()) {
            bail!(
                "{} is a link or junction; remove it and install again",
                folder.display()
            );
        }
        std::fs::create_dir_all(folder)
            .with_context(|| format!("could not create {}", folder.display()))?;
        acl::restrict(folder, acl::SYSTEM_AND_ADMINISTRATORS)
            .with_context(|| format!("could not restrict {}", folder.display()))?;
    }
    Ok(data)
}

/// The service's own log: `service.log` in the data directory (a service
/// has no console), started afresh past 1 MiB or 30 days with the file
/// before kept as `service.old.log` (see [`crate::service_log`]).
pub fn service_log() -> Result<crate::service_log::ServiceLog> {
    const MOST: u64 = 1 << 20;
    const AGE: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);
    let data = prepare()?;
    let log = data.join("service.log");
    crate::service_log::ServiceLog::open(&log, &data.join("service.old.log"), MOST, AGE)
        .with_context(|| format!("could not open {}", log.display()))
}

/// An enrolment the installer asks for: the registry, the token, and the
/// device's name if not this computer's.
pub struct Enrolment {
    /// https://HOST:PORT.
    pub registry: String,
    /// The enrolment token.
    pub token: String,
    /// The device's name in the registry.
    pub name: Option<String>,
}

/// At install (the MSI's deferred custom action, as SYSTEM): the data
/// directory, the enrolment or the bundle from `bundle` if given, the
/// service path quoted.
pub fn install(bundle: Option<&Path>, enrolment: Option<Enrolment>) -> Result<()> {
    // A broken bundle fails the installation before anything is written.
    if let Some(from) = bundle {
        crate::bundle::Bundle::load(from)?;
    }
    let fresh = data_dir().is_some_and(|data| !data.exists());
    let data = prepare()?;
    if let Some(enrolment) = enrolment {
        let to = data.join("bundle");
        let enrolled = crate::enrol::enroll(
            &enrolment.registry,
            &enrolment.token,
            enrolment.name.as_deref(),
            &to,
        );
        // A refused token fails the installation, which then leaves nothing
        // behind: the data directory goes again if this made it.
        let installed = match enrolled {
            Ok(installed) => installed,
            Err(error) => {
                if fresh {
                    let _ = uninstall();
                }
                return Err(error);
            }
        };
        println!(
            "enrolled as {} ({}) at {}; the bundle is in {}",
            installed.manifest.name,
            installed.manifest.uuid,
            enrolment.registry,
            to.display()
        );
    }
    if let Some(from) = bundle {
        let to = data.join("bundle");
        let installed = crate::bundle::install(from, &to)?;
        println!(
            "installed the agent bundle of {} ({}) in {}",
            installed.manifest.name,
            installed.manifest.uuid,
            to.display()
        );
    }
    quote_service_path();
    Ok(())
}

/// When the agent is removed for good: deletes the data directory, key and
/// audit log with it. The installer has asked the service to stop, but its
/// process may still be closing its log; what is still open is deleted as
/// soon as it is closed, so this tries again for up to 20 s.
pub fn uninstall() -> Result<()> {
    let data = data_dir().context("no ProgramData directory")?;
    let mut tries = 0;
    loop {
        match std::fs::remove_dir_all(&data) {
            Ok(()) => break,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => break,
            Err(_) if tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Err(error) => {
                return Err(error).with_context(|| format!("could not remove {}", data.display()));
            }
        }
    }
    // `Pult` too, unless something else of Pult's is still in it.
    if let Some(parent) = data.parent() {
        let _ = std::fs::remove_dir(parent);
    }
    Ok(())
}

/// Makes sure the service's program path is quoted (see
/// `pult_agent_windows::service::quote_image_path`).
pub fn quote_service_path() {
    match pult_agent_windows::service::quote_image_path(SERVICE_NAME) {
        Ok(true) => println!("quoted the service's program path"),
        Ok(false) => {}
        Err(error) => tracing::warn!("could not check the service's program path: {error}"),
    }
}
