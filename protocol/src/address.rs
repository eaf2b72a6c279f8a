//! Where an agent listens: an IP address with an optional port.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::endpoint::DEFAULT_PORT;

/// An agent's UDP address. Written as an IP (`10.1.2.3`, `fd00::7`) when it
/// uses [`DEFAULT_PORT`], or with a port (`10.1.2.3:11501`, `[fd00::7]:11501`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgentAddress(SocketAddr);

/// A text that is not an agent address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an IP address (with an optional :port)")]
pub struct AddressError(pub String);

impl AgentAddress {
    /// The socket address to connect to or listen on.
    pub fn socket_addr(self) -> SocketAddr {
        self.0
    }
}

impl From<SocketAddr> for AgentAddress {
    fn from(address: SocketAddr) -> Self {
        Self(address)
    }
}

impl FromStr for AgentAddress {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Self(SocketAddr::new(ip, DEFAULT_PORT)));
        }
        match text.parse::<SocketAddr>() {
            Ok(address) if address.port() != 0 => Ok(Self(address)),
            _ => Err(AddressError(text.to_owned())),
        }
    }
}

impl TryFrom<String> for AgentAddress {
    type Error = AddressError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<AgentAddress> for String {
    fn from(address: AgentAddress) -> String {
        address.to_string()
    }
}

impl fmt::Display for AgentAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.port() == DEFAULT_PORT {
            self.0.ip().fmt(f)
        } else {
            self.0.fmt(f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_and_without_port_and_print_back() {
        for (text, expected) in [
            ("10.1.2.3", "10.1.2.3:11500"),
            ("10.1.2.3:11501", "10.1.2.3:11501"),
            ("fd00::7", "[fd00::7]:11500"),
            ("[fd00::7]:9", "[fd00::7]:9"),
        ] {
            let address: AgentAddress = text.parse().unwrap();
            assert_eq!(address.socket_addr().to_string(), expected);
            assert_eq!(address.to_string(), text);
        }
        for bad in ["", "pc-01", "10.1.2", "10.1.2.3:0", "10.1.2.3:99999"] {
            assert!(bad.parse::<AgentAddress>().is_err(), "{bad}");
        }
    }
}
