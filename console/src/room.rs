//! A room certificate directory, as `pult-registry room-cert` writes it.

use std::path::{Path, PathBuf};

use pult_protocol::credentials::{
    CA_CERTIFICATE_FILE, ROOM_CERTIFICATE_FILE, ROOM_KEY_FILE, ROOM_MANIFEST_FILE, RoomDevice,
    RoomManifest,
};
use pult_protocol::endpoint::ConsoleTls;

use crate::ConsoleError;

/// A teacher's certificate for one room, with the room's devices.
#[derive(Debug, Clone)]
pub struct RoomCertificate {
    /// The room and its devices.
    pub manifest: RoomManifest,
    /// The TLS identity to connect with.
    pub tls: ConsoleTls,
}

impl RoomCertificate {
    /// The room certificate installed for this user, which the app opens when
    /// it is given none: `pult/room` in the configuration folder
    /// (`~/.config/pult/room`), where a logon script or the teacher puts the
    /// directory `room-cert` wrote. Without one, the error says where it looked.
    pub fn installed_dir() -> Result<PathBuf, ConsoleError> {
        let dir = Self::default_dir();
        if dir.join(ROOM_MANIFEST_FILE).is_file() {
            Ok(dir)
        } else {
            Err(ConsoleError::Certificate {
                dir,
                detail: "there is none; sign in with `pultctl login`, or put the directory \
                         pult-registry room-cert wrote there"
                    .into(),
            })
        }
    }

    /// Where this user's room certificate goes: `pult/room` in the
    /// configuration folder (`~/.config/pult/room`).
    pub fn default_dir() -> PathBuf {
        dirs::config_dir()
            .unwrap_or_else(|| PathBuf::from("~/.config"))
            .join("pult")
            .join("room")
    }

    /// Loads the directory `dir`.
    pub fn load(dir: &Path) -> Result<Self, ConsoleError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|e| ConsoleError::Certificate {
                dir: dir.to_owned(),
                detail: format!("could not read {}: {e}", PathBuf::from(name).display()),
            })
        };
        let manifest: RoomManifest =
            serde_json::from_str(&read(ROOM_MANIFEST_FILE)?).map_err(|e| {
                ConsoleError::Certificate {
                    dir: dir.to_owned(),
                    detail: format!("{ROOM_MANIFEST_FILE} is not valid: {e}"),
                }
            })?;
        let tls = ConsoleTls::new(
            &read(CA_CERTIFICATE_FILE)?,
            &read(ROOM_CERTIFICATE_FILE)?,
            &read(ROOM_KEY_FILE)?,
            manifest.pins(),
        )
        .map_err(|e| ConsoleError::Certificate {
            dir: dir.to_owned(),
            detail: e.to_string(),
        })?;
        Ok(Self { manifest, tls })
    }

    /// The devices called `names`, in the order given; refuses the first name not in this room.
    pub fn devices(&self, names: &[String]) -> Result<Vec<RoomDevice>, ConsoleError> {
        names
            .iter()
            .map(|name| {
                self.manifest
                    .device(name)
                    .cloned()
                    .ok_or_else(|| ConsoleError::NotInRoom {
                        device: name.clone(),
                        room: self.manifest.room.clone(),
                    })
            })
            .collect()
    }
}
