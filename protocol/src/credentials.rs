//! The documents the registry hands out: what an installer puts on a student
//! computer (an agent bundle) and what a teacher's console loads (a room
//! certificate directory). Both are directories of PEM files and one JSON
//! manifest; the file names here are the contract between registry and ends.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::DeviceId;
use crate::address::AgentAddress;

/// The school CA certificate, in both kinds of directory.
pub const CA_CERTIFICATE_FILE: &str = "ca.crt";
/// The agent's device certificate.
pub const DEVICE_CERTIFICATE_FILE: &str = "device.crt";
/// The agent's private key.
pub const DEVICE_KEY_FILE: &str = "device.key";
/// The agent's [`DeviceManifest`].
pub const DEVICE_MANIFEST_FILE: &str = "device.json";
/// The teacher's room certificate.
pub const ROOM_CERTIFICATE_FILE: &str = "room.crt";
/// The room certificate's private key.
pub const ROOM_KEY_FILE: &str = "room.key";
/// The room's [`RoomManifest`].
pub const ROOM_MANIFEST_FILE: &str = "room.json";

/// Who an agent is: written by `pult-registry agent-bundle`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceManifest {
    /// The school.
    pub organisation: String,
    /// The device's name in the registry.
    pub name: String,
    /// The device's identity, as in its certificate.
    pub uuid: DeviceId,
    /// Where the agent listens unless told otherwise (from the registry's IP column).
    pub listen: Option<AgentAddress>,
}

/// What a room certificate is for: written by `pult-registry room-cert`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomManifest {
    /// The school.
    pub organisation: String,
    /// The room.
    pub room: String,
    /// The teacher the certificate was issued to.
    pub user: String,
    /// When the certificate ends.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Every device of the room, steerable or not.
    pub devices: Vec<RoomDevice>,
}

/// One device of a room, as the console needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomDevice {
    /// The device's name, which teachers and `pultctl` use.
    pub name: String,
    /// The device's identity; its agent's certificate must name it.
    pub uuid: DeviceId,
    /// The agent's address as registered, if any.
    pub address: Option<AgentAddress>,
    /// Where the device stands in the room.
    pub position: Option<String>,
    /// Whether the device may be steered (R10).
    pub steerable: bool,
    /// Its network cards, for wake-on-LAN.
    #[serde(default)]
    pub macs: Vec<crate::power::Mac>,
    /// The fingerprint of the certificate the registry last issued to the
    /// device; any other is refused (a device enrolled again). None for a
    /// device whose certificate the registry has not recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<crate::pki::Fingerprint>,
}

impl RoomManifest {
    /// The device called `name`, if it is in this room.
    pub fn device(&self, name: &str) -> Option<&RoomDevice> {
        self.devices.iter().find(|d| d.name == name)
    }

    /// Each device's current certificate, where the registry recorded it.
    pub fn pins(&self) -> std::collections::HashMap<DeviceId, crate::pki::Fingerprint> {
        self.devices
            .iter()
            .filter_map(|d| Some((d.uuid, d.fingerprint?)))
            .collect()
    }
}
