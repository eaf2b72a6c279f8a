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
            std::fs::read_to_string(&path).map_err(|error| {
                let hint = if error.kind() == std::io::ErrorKind::PermissionDenied {
                    "; only the admin may read it: enrol the PC with --group GROUP \
                     so that the teachers in GROUP may use it"
                } else {
                    ""
                };
                anyhow::anyhow!(
                    "could not read this PC's identity {}: {error}{hint}",
                    path.display()
                )
            })
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

/// How an admin (or an installer) enrols a teacher PC: `pultctl enroll`
/// and `pult enroll` take the same arguments.
#[derive(Clone, Debug, clap::Args)]
pub struct EnrolArgs {
    /// The registry's address, https://HOST:PORT.
    #[arg(long, value_name = "URL")]
    pub registry: String,
    /// The teacher token the admin made (or PULT_TOKEN, which other users
    /// cannot read, unlike a command line).
    #[arg(long, env = "PULT_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The PC's name in the registry; default (or empty): its host name.
    #[arg(long)]
    pub name: Option<String>,
    /// Where the PC's identity goes; default: /etc/pult/teacher-pc
    /// (%ProgramData%\Pult\teacher-pc).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Where the setting goes; default: /etc/pult/registry.json.
    #[arg(long, value_name = "FILE")]
    pub setting: Option<PathBuf>,
    /// The group of the teachers who may use this PC's identity to sign in
    /// (Linux; without it only root may read its key). On Windows the
    /// PC's users may read it, as ProgramData gives them.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
}

/// Enrols this PC as the arguments say, and says so.
pub fn enrol_command(args: &EnrolArgs) -> Result<()> {
    let dir = args.dir.clone().unwrap_or_else(default_device_dir);
    let setting = args.setting.clone().unwrap_or_else(default_setting_file);
    let name = args.name.as_deref().filter(|n| !n.trim().is_empty());
    // The group is found before the token is spent: a wrong name costs nothing.
    let readers = args.group.as_deref().map(teachers_group).transpose()?;
    let enrolled = enrol_teacher_pc(&args.registry, &args.token, name, &dir, &setting)?;
    if let Some(gid) = readers {
        share_with_group(&dir, gid)?;
    }
    println!(
        "enrolled as the teacher PC {} ({}); its identity is in {}, the setting in {}",
        enrolled.manifest.name,
        enrolled.manifest.uuid,
        dir.display(),
        setting.display()
    );
    Ok(())
}

/// Forgets this PC's enrolment: the setting and the PC's identity at their
/// default places (the app's uninstaller runs it).
pub fn unenrol_command() -> Result<()> {
    let setting = default_setting_file();
    let _ = std::fs::remove_file(&setting);
    let dir = default_device_dir();
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).with_context(|| format!("could not remove {}", dir.display())),
    }
}

/// The id of the teachers' group `group`, as the computer knows it (NSS:
/// /etc/group, or the school's directory through sssd or winbind).
#[cfg(unix)]
fn teachers_group(group: &str) -> Result<u32> {
    group_id(group).with_context(|| format!("this computer knows no group '{group}'"))
}

#[cfg(not(unix))]
fn teachers_group(_group: &str) -> Result<u32> {
    // ProgramData lets the computer's users read what SYSTEM put there.
    Ok(0)
}

/// Lets the members of the group `gid` (the teachers) read this PC's
/// identity in `dir`: the directory 0750 and the key 0640, both of that
/// group; nobody else but root. A sign-in still proves the person; the key
/// only proves the PC, and so the room.
#[cfg(unix)]
fn share_with_group(dir: &Path, gid: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let key = dir.join(DEVICE_KEY_FILE);
    for (path, mode) in [(dir.to_owned(), 0o750), (key, 0o640)] {
        std::os::unix::fs::chown(&path, None, Some(gid))
            .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)))
            .with_context(|| format!("could not give {} to the group {gid}", path.display()))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn share_with_group(_dir: &Path, _gid: u32) -> Result<()> {
    Ok(())
}

/// The id of the group `name`: `getent group` (every source the computer
/// uses), else /etc/group.
#[cfg(unix)]
fn group_id(name: &str) -> Option<u32> {
    let gid_of = |line: &str| -> Option<u32> {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        fields.nth(1)?.trim().parse().ok()
    };
    if let Ok(found) = std::process::Command::new("getent")
        .args(["group", name])
        .output()
        && found.status.success()
    {
        return String::from_utf8_lossy(&found.stdout)
            .lines()
            .find_map(gid_of);
    }
    std::fs::read_to_string("/etc/group")
        .ok()?
        .lines()
        .find_map(gid_of)
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
    let tokens = browser_tokens(&client, open)?;
    take_room(setting, &client, tokens, room, room_dir)
}

/// Tokens from a sign-in with the school's identity provider in the
/// browser `open` opens at the address it is given; it comes back to a
/// loopback address of this process within [`BROWSER_SIGN_IN_TIME`].
pub(crate) fn browser_tokens(
    client: &RegistryClient,
    open: impl FnOnce(&str) -> Result<()>,
) -> Result<pult_protocol::registry_api::Tokens> {
    let sign_in = pult_registry_client::browser::BrowserSignIn::start(client)?;
    open(sign_in.url())?;
    Ok(sign_in.finish(client, BROWSER_SIGN_IN_TIME)?)
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

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    #[test]
    fn the_teachers_group_may_read_the_pc_key_and_others_may_not() {
        let dir = tempfile::tempdir().unwrap();
        let pc = dir.path().join("teacher-pc");
        std::fs::create_dir(&pc).unwrap();
        write_atomically(&pc.join(DEVICE_KEY_FILE), b"key", true).unwrap();
        // The group this process's files get: one it may hand them to.
        let gid = std::fs::metadata(&pc).unwrap().gid();
        let group = std::fs::read_to_string("/etc/group")
            .unwrap()
            .lines()
            .find(|l| l.split(':').nth(2) == Some(&gid.to_string()))
            .and_then(|l| l.split(':').next())
            .unwrap()
            .to_owned();
        assert_eq!(group_id(&group), Some(gid));
        share_with_group(&pc, teachers_group(&group).unwrap()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&pc), 0o750);
        assert_eq!(mode(&pc.join(DEVICE_KEY_FILE)), 0o640);
        let error = teachers_group("no-such-group-here").unwrap_err();
        assert!(error.to_string().contains("no-such-group-here"), "{error}");
        assert_eq!(group_id("no-such-group-here"), None);
    }
}
