//! Identifiers that travel between registry, agent and console.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The stable identity of one student computer: a UUID assigned at enrolment.
///
/// Device certificates name it, room certificates list it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeviceId(Uuid);

impl DeviceId {
    /// A fresh random identity for a newly registered device.
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }

    /// A number derived from the identity, e.g. to vary a synthetic screen per device.
    pub fn as_u64(&self) -> u64 {
        self.0.as_u64_pair().0
    }

    /// The DNS-style name a device certificate carries in its subjectAltName,
    /// and that a console expects when it connects to this device.
    pub fn server_name(&self) -> String {
        format!("{}.device.pult", self.0)
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for DeviceId {
    type Err = uuid::Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(text).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_round_trips_through_text() {
        let id = DeviceId::random();
        assert_eq!(id.to_string().parse::<DeviceId>().unwrap(), id);
        assert!("not-a-uuid".parse::<DeviceId>().is_err());
    }

    #[test]
    fn server_name_is_a_valid_tls_name() {
        let name = DeviceId::random().server_name();
        assert!(rustls::pki_types::ServerName::try_from(name).is_ok());
    }
}
