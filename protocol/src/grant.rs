//! The room grant: what a room certificate allows, carried in an X.509 extension.
//!
//! The registry writes it when it issues a room certificate; the agent reads it
//! while verifying a console's certificate and admits the console only if the
//! grant lists the agent's own device as steerable (R8, R10).

use serde::{Deserialize, Serialize};
use x509_parser::asn1_rs::Oid;

use crate::DeviceId;
use crate::message::Feature;

/// OID of the room grant extension.
///
/// `2.25` is the arc for identifiers derived from random numbers; rcgen encodes
/// arcs as `u64`, so the number is a random 63-bit value rather than a whole
/// UUID. To be replaced by an arc under a registered IANA enterprise number
/// before the first release; agents match it exactly.
pub const ROOM_GRANT_OID: [u64; 3] = [2, 25, 6_112_309_436_887_715_127];

/// DER tag of an ASN.1 UTF8String, which carries the grant as JSON text so that
/// `openssl x509 -text` shows it and newer registries can add fields.
const UTF8_STRING_TAG: u8 = 0x0c;

/// What one room certificate grants one teacher.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomGrant {
    /// The school (organisation) whose CA issued the certificate.
    pub organisation: String,
    /// The room the certificate is for.
    pub room: String,
    /// The teacher's user name.
    pub user: String,
    /// The features granted, by [`Feature::as_str`]; unknown names are ignored.
    pub features: Vec<String>,
    /// The devices of the room that may be steered.
    pub steerable: Vec<DeviceId>,
    /// The devices of the room an admin marked not steerable. Listed so an agent
    /// can tell "not steerable" from "another room" in its log.
    #[serde(default)]
    pub not_steerable: Vec<DeviceId>,
    /// The MAC addresses of the steerable devices: what an agent of the room
    /// may wake for the holder (a relay wakes nothing else).
    #[serde(default)]
    pub wake: Vec<crate::power::Mac>,
}

/// Whether a grant lets its holder reach a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The device is in the room and steerable.
    Admitted,
    /// The device is in the room but marked not steerable (R10).
    NotSteerable,
    /// The device is not in the grant's room (R8).
    OtherRoom,
}

/// Why a certificate's room grant could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// The bytes are not an X.509 certificate.
    #[error("not an X.509 certificate: {0}")]
    NotACertificate(String),
    /// The certificate has no room grant extension: it is not a room certificate.
    #[error("the certificate carries no room grant; it is not a Pult room certificate")]
    Missing,
    /// The extension is there but does not decode.
    #[error("the room grant in the certificate is malformed: {0}")]
    Malformed(String),
}

impl RoomGrant {
    /// Whether the grant includes `feature`.
    pub fn grants(&self, feature: Feature) -> bool {
        self.features.iter().any(|f| f == feature.as_str())
    }

    /// Whether the grant lets its holder reach `device`.
    pub fn admission(&self, device: DeviceId) -> Admission {
        if self.steerable.contains(&device) {
            Admission::Admitted
        } else if self.not_steerable.contains(&device) {
            Admission::NotSteerable
        } else {
            Admission::OtherRoom
        }
    }

    /// The extension's DER content: a UTF8String holding the grant as JSON.
    pub fn to_extension_content(&self) -> Vec<u8> {
        // Serialising plain strings and UUIDs cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        let mut der = vec![UTF8_STRING_TAG];
        push_der_length(&mut der, json.len());
        der.extend_from_slice(&json);
        der
    }

    /// Reads the grant from the extension content written by [`Self::to_extension_content`].
    pub fn from_extension_content(content: &[u8]) -> Result<Self, GrantError> {
        let malformed = |what: &str| GrantError::Malformed(what.to_owned());
        let (&tag, rest) = content.split_first().ok_or_else(|| malformed("empty"))?;
        if tag != UTF8_STRING_TAG {
            return Err(malformed("not a UTF8String"));
        }
        let (len, body) = read_der_length(rest).ok_or_else(|| malformed("bad length"))?;
        if body.len() != len {
            return Err(malformed("length does not match content"));
        }
        serde_json::from_slice(body).map_err(|e| GrantError::Malformed(e.to_string()))
    }

    /// Reads the grant from a DER certificate. Does not verify the certificate.
    pub fn from_certificate(der: &[u8]) -> Result<Self, GrantError> {
        let (_, certificate) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| GrantError::NotACertificate(e.to_string()))?;
        let oid = Oid::from(&ROOM_GRANT_OID).map_err(|_| GrantError::Missing)?;
        let extension = certificate
            .get_extension_unique(&oid)
            .map_err(|e| GrantError::Malformed(e.to_string()))?
            .ok_or(GrantError::Missing)?;
        Self::from_extension_content(extension.value)
    }
}

fn push_der_length(der: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        // Short form: the length itself, below 128.
        der.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        der.push(0x80 | (bytes.len() - skip) as u8);
        der.extend_from_slice(&bytes[skip..]);
    }
}

fn read_der_length(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let (&first, rest) = bytes.split_first()?;
    if first < 0x80 {
        return Some((usize::from(first), rest));
    }
    let count = usize::from(first & 0x7f);
    if count == 0 || count > 4 || rest.len() < count {
        return None;
    }
    let (len_bytes, body) = rest.split_at(count);
    let len = len_bytes
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    Some((len, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(devices: usize) -> RoomGrant {
        RoomGrant {
            organisation: "Gymnasium Am Park".into(),
            room: "101".into(),
            user: "mueller".into(),
            features: vec!["screenshot".into()],
            steerable: (0..devices).map(|_| DeviceId::random()).collect(),
            not_steerable: vec![DeviceId::random()],
            wake: vec![],
        }
    }

    #[test]
    fn extension_content_round_trips_short_and_long() {
        for devices in [0, 1, 40, 400] {
            let grant = grant(devices);
            let content = grant.to_extension_content();
            assert_eq!(RoomGrant::from_extension_content(&content).unwrap(), grant);
        }
    }

    #[test]
    fn admission_tells_other_room_from_not_steerable() {
        let grant = grant(2);
        assert_eq!(grant.admission(grant.steerable[1]), Admission::Admitted);
        assert_eq!(
            grant.admission(grant.not_steerable[0]),
            Admission::NotSteerable
        );
        assert_eq!(grant.admission(DeviceId::random()), Admission::OtherRoom);
        assert!(grant.grants(Feature::Screenshot));
        assert!(!grant.grants(Feature::RunProgram));
    }

    #[test]
    fn broken_extension_content_is_malformed() {
        let mut content = grant(3).to_extension_content();
        content.truncate(content.len() - 1);
        assert!(matches!(
            RoomGrant::from_extension_content(&content),
            Err(GrantError::Malformed(_))
        ));
        assert!(RoomGrant::from_extension_content(&[0x04, 0x01, 0x00]).is_err());
        assert!(RoomGrant::from_extension_content(&[]).is_err());
    }
}
