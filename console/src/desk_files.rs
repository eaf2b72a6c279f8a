//! The desk's files (R6): the teacher picks files and folders from their
//! own home folder, sends them to the devices chosen, and collects the
//! students' hand-in folders into a folder of their own; progress comes per
//! device and per file, the result per device.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;

use crate::audit::{ConsoleAudit, TransferKind};
use crate::desk::Desk;
use crate::transfer::{
    self, CollectOptions, DeviceResult, Outgoing, SendOptions, TransferEvent, unreadable,
};
use crate::{ConsoleError, at_once};

/// A folder of the teacher's home, as the file picker shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HomeFolder {
    /// The folder below the home folder, `/`-separated ("" for home itself).
    pub path: String,
    /// Its folders first, then its files, each by name; hidden ones left out.
    pub entries: Vec<HomeEntry>,
}

/// One entry of a [`HomeFolder`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HomeEntry {
    /// The name.
    pub name: String,
    /// A folder (sent as its tree) rather than a file.
    pub folder: bool,
    /// A file's size in bytes (0 for a folder).
    pub size: u64,
}

/// How a transfer went on one device, for the app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceTransfer {
    /// The device.
    pub device: String,
    /// What happened there.
    #[serde(flatten)]
    pub result: DeviceResult,
    /// Whether everything went through.
    pub ok: bool,
}

impl Desk {
    /// Folder `path` (`/`-separated, below the teacher's home folder) for
    /// the file picker; a path that leads outside the home folder, through
    /// a link or otherwise, is refused (R6: files from the teacher's home).
    pub fn home_folder(&self, path: &str) -> Result<HomeFolder, ConsoleError> {
        home_folder(&self.home, path)
    }

    /// Sends `paths` (below the teacher's home folder; folders as their
    /// tree) to `devices`, all at once, reporting on `events`. Every name is
    /// checked and every file hashed before anything goes; a problem there
    /// is an error for the whole send. One result per device, in the order given.
    pub async fn send_files(
        &self,
        devices: &[String],
        paths: &[String],
        options: SendOptions,
        events: UnboundedSender<TransferEvent>,
    ) -> Result<Vec<DeviceTransfer>, ConsoleError> {
        let sources = paths
            .iter()
            .map(|path| in_home(&self.home, path))
            .collect::<Result<Vec<_>, _>>()?;
        let home = self.home.clone();
        // Hashing a film takes a while: not on the runtime's threads.
        let outgoing =
            tokio::task::spawn_blocking(move || Outgoing::gather_within(&sources, &home))
                .await
                .map_err(|e| ConsoleError::Storage(format!("reading the files failed: {e}")))??;
        let outgoing = Arc::new(outgoing);
        // Nothing goes unless it can be written down (R16).
        let audit = self.audit()?;
        let results = self
            .on_each(devices, events, move |session, _, events| {
                let outgoing = outgoing.clone();
                async move { transfer::send(&session, outgoing, options, &events).await }
            })
            .await;
        self.audit_transfers(&audit, TransferKind::FilesSend, &results);
        Ok(results)
    }

    /// Collects the hand-in folders of `devices` (only names matching
    /// `pattern`, when given) into `COLLECTED/ROOM/DEVICE-USER/…`, all at
    /// once, reporting on `events`. One result per device, in the order given.
    pub async fn collect_files(
        &self,
        devices: &[String],
        pattern: Option<String>,
        events: UnboundedSender<TransferEvent>,
    ) -> Result<Vec<DeviceTransfer>, ConsoleError> {
        let mut options = CollectOptions::new(self.collected.clone(), &self.room().room);
        options.pattern = pattern.filter(|p| !p.trim().is_empty());
        let options = Arc::new(options);
        let audit = self.audit()?;
        let results = self
            .on_each(devices, events, move |session, user, events| {
                let options = options.clone();
                async move { transfer::collect(&session, user.as_deref(), &options, &events).await }
            })
            .await;
        self.audit_transfers(&audit, TransferKind::FilesCollect, &results);
        Ok(results)
    }

    /// The console's audit log, opened on first use (one per desk: two
    /// writers would fork its chain).
    fn audit(&self) -> Result<Arc<ConsoleAudit>, ConsoleError> {
        let mut open = self.audit.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(audit) = open.as_ref() {
            return Ok(audit.clone());
        }
        let audit = Arc::new(ConsoleAudit::open(&self.audit_dir)?);
        *open = Some(audit.clone());
        Ok(audit)
    }

    /// Writes the devices' results to the audit log. The files have moved
    /// and the teacher sees how each device went either way; a log that
    /// opened a moment ago and now fails (a full disk) is reported here.
    fn audit_transfers(
        &self,
        audit: &ConsoleAudit,
        kind: TransferKind,
        results: &[DeviceTransfer],
    ) {
        let logged = results.iter().map(|r| (r.device.as_str(), &r.result));
        if let Err(error) = audit.transfers(kind, self.session.manifest(), logged) {
            tracing::error!("{error}");
        }
    }

    /// Runs `work` with the session of each of `devices` at once (with the
    /// user logged on there); a device without one fails as a whole.
    async fn on_each<F, Fut>(
        &self,
        devices: &[String],
        events: UnboundedSender<TransferEvent>,
        work: F,
    ) -> Vec<DeviceTransfer>
    where
        F: Fn(Arc<crate::DeviceSession>, Option<String>, UnboundedSender<TransferEvent>) -> Fut
            + Send
            + Sync
            + 'static,
        Fut: Future<Output = DeviceResult> + Send,
    {
        let statuses = self.session.statuses();
        let work = Arc::new(work);
        let devices = devices.iter().map(|device| {
            let user = statuses
                .iter()
                .find(|s| &s.name == device)
                .and_then(|s| s.user.clone());
            (device.clone(), user, self.session.connector(device))
        });
        at_once(devices, |(device, user, connector)| {
            let (work, events) = (work.clone(), events.clone());
            async move {
                let session = match connector {
                    Ok(connector) => connector.session().await,
                    Err(error) => Err(error),
                };
                let result = match session {
                    Ok(session) => work(session, user, events).await,
                    Err(error) => {
                        let result = DeviceResult {
                            error: Some(error.to_string()),
                            ..DeviceResult::default()
                        };
                        let _ = events.send(TransferEvent::Finished {
                            device: device.clone(),
                            result: result.clone(),
                        });
                        result
                    }
                };
                DeviceTransfer {
                    device,
                    ok: result.is_complete(),
                    result,
                }
            }
        })
        .await
    }
}

fn outside(path: &str) -> ConsoleError {
    ConsoleError::Storage(format!("{path} is not in your home folder"))
}

/// Folder `path` of `home` for the file picker (see [`Desk::home_folder`]).
pub fn home_folder(home: &Path, path: &str) -> Result<HomeFolder, ConsoleError> {
    let folder = in_home(home, path)?;
    let mut entries = Vec::new();
    let listing = std::fs::read_dir(&folder).map_err(|e| unreadable(&folder, &e))?;
    for entry in listing.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        // Links are followed, as sending follows them.
        let Ok(meta) = std::fs::metadata(entry.path()) else {
            continue;
        };
        if meta.is_dir() || meta.is_file() {
            entries.push(HomeEntry {
                name,
                folder: meta.is_dir(),
                size: if meta.is_file() { meta.len() } else { 0 },
            });
        }
    }
    entries.sort_by(|a, b| {
        b.folder
            .cmp(&a.folder)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(HomeFolder {
        path: path.trim_matches('/').to_owned(),
        entries,
    })
}

/// Where `path` (`/`-separated, below `home`) is; refused when it names
/// anything outside `home`, through `..` or a link.
fn in_home(home: &Path, path: &str) -> Result<PathBuf, ConsoleError> {
    let relative = Path::new(path);
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(outside(path));
    }
    let joined = home.join(relative);
    let real = joined.canonicalize().map_err(|e| unreadable(&joined, &e))?;
    let home = home.canonicalize().map_err(|e| unreadable(home, &e))?;
    if real.starts_with(&home) {
        Ok(joined)
    } else {
        Err(outside(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picker_shows_folders_then_files_and_no_hidden_ones() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join("Worksheets")).unwrap();
        std::fs::write(home.path().join("worksheets.pdf"), b"1234").unwrap();
        std::fs::write(home.path().join("Anmerkung.txt"), b"x").unwrap();
        std::fs::write(home.path().join(".secret"), b"x").unwrap();
        std::fs::write(home.path().join("Worksheets/a.txt"), b"ab").unwrap();
        let top = home_folder(home.path(), "").unwrap();
        let names: Vec<_> = top
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.folder, e.size))
            .collect();
        assert_eq!(
            names,
            [
                ("Worksheets", true, 0),
                ("Anmerkung.txt", false, 1),
                ("worksheets.pdf", false, 4)
            ]
        );
        let below = home_folder(home.path(), "Worksheets/").unwrap();
        assert_eq!(below.path, "Worksheets");
        assert_eq!(below.entries[0].name, "a.txt");
    }

    #[cfg(unix)]
    #[test]
    fn nothing_outside_the_home_folder_is_shown_or_sent() {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("home");
        std::fs::create_dir_all(home.join("sub")).unwrap();
        std::fs::write(root.path().join("elsewhere.txt"), b"x").unwrap();
        std::os::unix::fs::symlink(root.path(), home.join("escape")).unwrap();
        std::os::unix::fs::symlink(root.path().join("elsewhere.txt"), home.join("link.txt"))
            .unwrap();
        for path in [
            "..",
            "sub/../..",
            "/etc",
            "escape",
            "link.txt",
            "escape/elsewhere.txt",
        ] {
            let error = in_home(&home, path).unwrap_err().to_string();
            assert!(error.contains("not in your home folder"), "{path}: {error}");
        }
        assert!(home_folder(&home, "../").is_err());
        // A link inside a folder that is sent leads out too: refused.
        std::fs::write(home.join("sub/fine.txt"), b"x").unwrap();
        assert!(Outgoing::gather_within(&[home.join("sub")], &home).is_ok());
        std::os::unix::fs::symlink(root.path().join("elsewhere.txt"), home.join("sub/out.txt"))
            .unwrap();
        let error = Outgoing::gather_within(&[home.join("sub")], &home)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("out.txt is not in your home folder"),
            "{error}"
        );
        assert_eq!(in_home(&home, "sub").unwrap(), home.join("sub"));
        assert!(
            in_home(&home, "missing")
                .unwrap_err()
                .to_string()
                .contains("cannot be read")
        );
    }

    #[test]
    fn r6_a_folder_goes_without_what_the_picker_hides() {
        let home = tempfile::tempdir().unwrap();
        let folder = home.path().join("Mappe");
        std::fs::create_dir_all(folder.join(".git/objects")).unwrap();
        std::fs::write(folder.join(".git/objects/ab"), b"x").unwrap();
        std::fs::write(folder.join(".env"), b"PASSWORT=geheim").unwrap();
        std::fs::write(folder.join("Blatt.txt"), b"Aufgabe").unwrap();
        let shown = home_folder(home.path(), "Mappe").unwrap();
        let names: Vec<&str> = shown.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["Blatt.txt"]);
        let outgoing = Outgoing::gather_within(&[folder], home.path()).unwrap();
        let paths: Vec<&str> = outgoing
            .files
            .iter()
            .map(|f| f.offer.path.as_str())
            .collect();
        assert_eq!(paths, ["Mappe/Blatt.txt"]);
        // A hidden file named on its own goes: the teacher chose it.
        let named = Outgoing::gather(&[home.path().join("Mappe/.env")]).unwrap();
        assert_eq!(named.files[0].offer.path, ".env");
    }
}
