//! The registry's records, parsed once at the edge into types that hold only good values.

use std::fmt;
use std::str::FromStr;

use pult_protocol::DeviceId;
use pult_protocol::address::AgentAddress;
use pult_protocol::pki::Fingerprint;
use pult_protocol::power::Mac;
use serde::{Deserialize, Serialize};

/// A device as the school's device management keeps it (R12).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// The device's identity; stays the same across imports and room moves.
    pub uuid: DeviceId,
    /// Whether it is a teacher PC: it gets room certificates, it is not in them.
    #[serde(default)]
    pub teacher: bool,
    /// The certificate it holds now, once it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    /// The device's fields.
    #[serde(flatten)]
    pub fields: DeviceFields,
}

/// Everything about a device except its identity: what a CSV line holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceFields {
    /// The device's name, unique in its school.
    pub name: DeviceName,
    /// The room it is assigned to.
    pub room: RoomName,
    /// Where it stands in the room ("Reihe 2, Platz 3").
    pub position: Option<String>,
    /// The inventory number.
    pub inventory: Option<String>,
    /// The MAC addresses of its network interfaces.
    pub macs: Vec<MacAddress>,
    /// Its IP addresses; the first is where its agent listens.
    pub addresses: Vec<AgentAddress>,
    /// Free text.
    pub description: Option<String>,
    /// Tags, e.g. "Laptopwagen".
    pub tags: Vec<String>,
    /// For a private device, its owner (R12, R13).
    pub owner: Option<String>,
    /// Whether teachers may reach it at all (R10).
    pub steerable: bool,
}

/// A device name: 1 to 63 letters, digits, `-`, `_` or `.`, not starting with `-` or `.`.
///
/// Names end up in file names (screenshots) and command lines, so nothing else is allowed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceName(String);

/// A room name: 1 to 64 characters, no control characters, no slashes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomName(String);

/// A text that is not a valid name; says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(String);

impl FromStr for DeviceName {
    type Err = NameError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > 63 {
            return Err(NameError(format!(
                "a device name must have 1 to 63 characters, '{text}' has {}",
                text.chars().count()
            )));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(NameError(format!(
                "a device name may hold only letters, digits, '-', '_' and '.', not {bad:?} (in '{text}')"
            )));
        }
        if text.starts_with(['-', '.']) {
            return Err(NameError(format!(
                "a device name may not start with '-' or '.' ('{text}')"
            )));
        }
        Ok(Self(text.to_owned()))
    }
}

impl FromStr for RoomName {
    type Err = NameError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > 64 {
            return Err(NameError(format!(
                "a room name must have 1 to 64 characters, '{text}' has {}",
                text.chars().count()
            )));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| c.is_control() || matches!(c, '/' | '\\'))
        {
            return Err(NameError(format!(
                "a room name may not hold {bad:?} (in '{}')",
                text.escape_debug()
            )));
        }
        Ok(Self(text.to_owned()))
    }
}

macro_rules! name_conversions {
    ($name:ident) => {
        impl $name {
            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;

            fn try_from(text: String) -> Result<Self, Self::Error> {
                text.parse()
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }
    };
}

name_conversions!(DeviceName);
name_conversions!(RoomName);

/// A network interface's hardware address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MacAddress(Mac);

impl MacAddress {
    /// The address as the protocol carries it (room grants and manifests).
    pub fn mac(self) -> Mac {
        self.0
    }
}

impl FromStr for MacAddress {
    type Err = NameError;

    /// Accepts `aa:bb:cc:dd:ee:ff`, `AA-BB-CC-DD-EE-FF` and `aabbccddeeff`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse()
            .map(Self)
            .map_err(|e: pult_protocol::power::MacError| NameError(e.to_string()))
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl TryFrom<String> for MacAddress {
    type Error = NameError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<MacAddress> for String {
    fn from(mac: MacAddress) -> String {
        mac.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_refuse_what_would_break_a_file_name_or_a_shell() {
        for good in ["PC-01", "r101_pc.7", "Schüler-PC"] {
            assert!(good.parse::<DeviceName>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "../etc",
            "a/b",
            "pc 01",
            "-rf",
            ".hidden",
            "a\u{0}b",
            &"x".repeat(64),
        ] {
            assert!(bad.parse::<DeviceName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn room_names_allow_spaces_but_no_slashes_or_controls() {
        assert_eq!(
            "  Raum 101 ".parse::<RoomName>().unwrap().as_str(),
            "Raum 101"
        );
        for bad in ["", "a/b", "a\\b", "a\nb"] {
            assert!(bad.parse::<RoomName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mac_addresses_accept_common_spellings_and_print_one() {
        for text in ["00:1A:2b:3c:4d:5e", "00-1a-2b-3c-4d-5e", "001a2b3c4d5e"] {
            assert_eq!(
                text.parse::<MacAddress>().unwrap().to_string(),
                "00:1a:2b:3c:4d:5e"
            );
        }
        for bad in [
            "00:1a:2b:3c:4d",
            "00:1a:2b:3c:4d:5g",
            "001a2b3c4d5",
            "0:1a:2b:3c:4d:5e:",
        ] {
            assert!(bad.parse::<MacAddress>().is_err(), "{bad}");
        }
    }
}
