//! The teacher PC and the registry server: the PC's own identity (enrolled
//! with a teacher token), the teacher's sign-in, and the room certificate
//! the registry issues for a key made here and that is renewed before it
//! runs out. The teacher never handles a file: everything lands in the
//! places [`crate::room::RoomCertificate::installed_dir`] and this module name.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use pult_protocol::credentials::{
    CA_CERTIFICATE_FILE, DEVICE_CERTIFICATE_FILE, DEVICE_KEY_FILE, DEVICE_MANIFEST_FILE,
    ROOM_CERTIFICATE_FILE, ROOM_KEY_FILE, ROOM_MANIFEST_FILE,
};
use pult_registry_client::{IssuedRoom, RegistryClient};
use serde::{Deserialize, Serialize};

/// The file that says where the registry is, written by the installer or
/// `pultctl enroll`: `/etc/pult/registry.json` (`%ProgramData%\Pult\registry.json`).
pub fn default_setting_file() -> PathBuf {
    #[cfg(windows)]
    let base = std::env::var_os("ProgramData")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
        .join("Pult");
    #[cfg(not(windows))]
    let base = PathBuf::from("/etc/pult");
    base.join("registry.json")
}

/// Where the registry is, and where this teacher PC keeps its identity.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegistrySetting {
    /// The registry's address.
    pub url: String,
    /// The teacher PC's certificate directory.
    pub device: PathBuf,
}

impl RegistrySetting {
    /// Reads the setting file.
    pub fn load(file: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(file).with_context(|| {
            format!(
                "no registry is set up on this PC ({} cannot be read); an admin runs `pultctl enroll`",
                file.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("{} is not valid", file.display()))
    }

    /// A client of the registry that shows this PC's certificate.
    pub fn client(&self) -> Result<RegistryClient> {
        let read = |name: &str| {
            let path = self.device.join(name);
            std::fs::read_to_string(&path)
                .with_context(|| format!("could not read this PC's identity {}", path.display()))
        };
        let ca = read(CA_CERTIFICATE_FILE)?;
        let certificate = read(DEVICE_CERTIFICATE_FILE)?;
        let key = read(DEVICE_KEY_FILE)?;
        Ok(RegistryClient::new(
            &self.url,
            &ca,
            Some((&certificate, &key)),
        )?)
    }
}

/// Where an enrolled teacher PC keeps its identity unless told otherwise:
/// `/etc/pult/teacher-pc` (`%ProgramData%\\Pult\\teacher-pc`).
pub fn default_device_dir() -> PathBuf {
    default_setting_file().with_file_name("teacher-pc")
}

/// Enrols this PC as a teacher PC: its identity goes to `device_dir`, the setting to `setting_file`.
pub fn enrol_teacher_pc(
    url: &str,
    token: &str,
    name: Option<&str>,
    device_dir: &Path,
    setting_file: &Path,
) -> Result<pult_registry_client::EnrolledDevice> {
    let name = match name {
        Some(name) => name.to_owned(),
        None => pult_registry_client::host_name()
            .context("this computer's host name is unknown; give its name with --name")?,
    };
    let enrolled = pult_registry_client::enrol(url, token, &name)?;
    if !enrolled.teacher {
        bail!(
            "the registry enrolled {name} as a student PC: the token was not a teacher token; \
             an admin makes one with `pult-registry token create --teacher`"
        );
    }
    replace_dir(
        device_dir,
        &[
            (CA_CERTIFICATE_FILE, enrolled.ca_pem.as_bytes(), false),
            (
                DEVICE_CERTIFICATE_FILE,
                enrolled.certificate_pem.as_bytes(),
                false,
            ),
            (DEVICE_KEY_FILE, enrolled.key_pem.as_bytes(), true),
            (
                DEVICE_MANIFEST_FILE,
                &serde_json::to_vec_pretty(&enrolled.manifest)?,
                false,
            ),
        ],
    )?;
    let setting = RegistrySetting {
        url: url.trim().trim_end_matches('/').to_owned(),
        device: device_dir.to_owned(),
    };
    if let Some(parent) = setting_file.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("could not create {}", parent.display()))?;
    }
    write_atomically(setting_file, &serde_json::to_vec_pretty(&setting)?, false)?;
    Ok(enrolled)
}

/// What `pultctl login` keeps to renew the room certificate without a new
/// sign-in: the refresh token (secret, the user's own file) and the room.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedSession {
    /// The registry's address.
    pub url: String,
    /// Who signed in.
    pub user: String,
    /// The room asked for, if not the PC's own.
    pub room: Option<String>,
    /// Exchanged once for new tokens.
    pub refresh_token: String,
}

/// The file of the saved session beside a room certificate directory.
pub fn session_file(room_dir: &Path) -> PathBuf {
    room_dir.with_file_name(format!(
        "{}.session.json",
        room_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("room")
    ))
}

/// Signs in and installs a room certificate for `room` (default: the PC's
/// own room) in `room_dir`; keeps the session for [`renew`].
pub fn login(
    setting: &RegistrySetting,
    user: &str,
    password: &str,
    room: Option<&str>,
    room_dir: &Path,
) -> Result<IssuedRoom> {
    let client = setting.client()?;
    let tokens = client.sign_in(user, password)?;
    take_room(setting, &client, tokens, room, room_dir)
}

/// How long a teacher has to sign in in the browser.
pub const BROWSER_SIGN_IN_TIME: std::time::Duration = std::time::Duration::from_secs(300);

/// Signs in with the school's identity provider in the browser that `open`
/// opens at the address it is given (RFC 8252: the browser comes back to a
/// loopback address of this process), then installs the room certificate
/// as [`login`] does.
pub fn login_in_browser(
    setting: &RegistrySetting,
    room: Option<&str>,
    room_dir: &Path,
    open: impl FnOnce(&str) -> Result<()>,
) -> Result<IssuedRoom> {
    let client = setting.client()?;
    let sign_in = pult_registry_client::browser::BrowserSignIn::start(&client)?;
    open(sign_in.url())?;
    let tokens = sign_in.finish(&client, BROWSER_SIGN_IN_TIME)?;
    take_room(setting, &client, tokens, room, room_dir)
}

/// Opens `url` in the teacher's browser: `$BROWSER` if set, else the
/// desktop's default (`xdg-open`; on Windows the URL handler).
pub fn open_in_browser(url: &str) -> Result<()> {
    let mut command = match std::env::var_os("BROWSER").filter(|b| !b.is_empty()) {
        Some(browser) => std::process::Command::new(browser),
        None if cfg!(windows) => {
            let mut command = std::process::Command::new("rundll32");
            command.arg("url.dll,FileProtocolHandler");
            command
        }
        None => std::process::Command::new("xdg-open"),
    };
    command
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("could not open a browser; open the address shown by hand")?;
    Ok(())
}

/// With fresh tokens: the room certificate for `room` installed in
/// `room_dir`, and the session kept for [`renew`].
pub(crate) fn take_room(
    setting: &RegistrySetting,
    client: &RegistryClient,
    tokens: pult_protocol::registry_api::Tokens,
    room: Option<&str>,
    room_dir: &Path,
) -> Result<IssuedRoom> {
    let issued = client.room_certificate(&tokens.access_token, room)?;
    install_room(&issued, room_dir)?;
    save_session(
        room_dir,
        &SavedSession {
            url: setting.url.clone(),
            user: tokens.user,
            room: room.map(str::to_owned),
            refresh_token: tokens.refresh_token,
        },
    )?;
    Ok(issued)
}

/// Renews the room certificate in `room_dir` with the saved session.
pub fn renew(setting: &RegistrySetting, room_dir: &Path) -> Result<IssuedRoom> {
    let file = session_file(room_dir);
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("no saved sign-in ({}); run `pultctl login`", file.display()))?;
    let saved: SavedSession =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid", file.display()))?;
    let client = setting.client()?;
    let tokens = client.refresh(&saved.refresh_token)?;
    // The old refresh token is spent: keep the new one before anything else can fail.
    save_session(
        room_dir,
        &SavedSession {
            refresh_token: tokens.refresh_token.clone(),
            ..saved.clone()
        },
    )?;
    let issued = client.room_certificate(&tokens.access_token, saved.room.as_deref())?;
    install_room(&issued, room_dir)?;
    Ok(issued)
}

fn save_session(room_dir: &Path, session: &SavedSession) -> Result<()> {
    let file = session_file(room_dir);
    write_atomically(&file, &serde_json::to_vec_pretty(session)?, true)
}

/// Installs a room certificate directory, replacing the one there whole.
pub fn install_room(issued: &IssuedRoom, room_dir: &Path) -> Result<()> {
    replace_dir(
        room_dir,
        &[
            (CA_CERTIFICATE_FILE, issued.ca_pem.as_bytes(), false),
            (
                ROOM_CERTIFICATE_FILE,
                issued.certificate_pem.as_bytes(),
                false,
            ),
            (ROOM_KEY_FILE, issued.key_pem.as_bytes(), true),
            (
                ROOM_MANIFEST_FILE,
                &serde_json::to_vec_pretty(&issued.manifest)?,
                false,
            ),
        ],
    )
}

/// Writes `files` into a new directory beside `dir`, which then replaces
/// `dir`: a reader sees the old set or the new one (or, for the moment
/// between two renames, none), never a mix.
fn replace_dir(dir: &Path, files: &[(&str, &[u8], bool)]) -> Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("could not create {}", parent.display()))?;
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("dir");
    let staging = parent.join(format!(".{name}.new"));
    let old = parent.join(format!(".{name}.old"));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("could not create {}", staging.display()))?;
    for (file, contents, private) in files {
        write_atomically(&staging.join(file), contents, *private)?;
    }
    let _ = std::fs::remove_dir_all(&old);
    if dir.exists() {
        std::fs::rename(dir, &old)
            .with_context(|| format!("could not replace {}", dir.display()))?;
    }
    if let Err(error) = std::fs::rename(&staging, dir) {
        let _ = std::fs::rename(&old, dir);
        let _ = std::fs::remove_dir_all(&staging);
        return Err(error).with_context(|| format!("could not write {}", dir.display()));
    }
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Writes a file whole; a private one readable by its owner only.
fn write_atomically(path: &Path, contents: &[u8], private: bool) -> Result<()> {
    let written = if private {
        crate::files::write_private(path, contents)
    } else {
        crate::files::write_atomically(path, contents)
    };
    written.with_context(|| format!("could not write {}", path.display()))
}
