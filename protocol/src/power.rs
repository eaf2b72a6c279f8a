//! Power: waking devices by wake-on-LAN, and restarting, shutting down or
//! logging off a student computer after a delay the student is told of.
//!
//! A room certificate's grant lists the MAC addresses of its steerable
//! devices ([`crate::grant::RoomGrant::wake`]); an agent asked to wake
//! devices for a console (the relay for rooms behind a router) sends magic
//! packets only to those.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The UDP port magic packets go to (discard; 7 and 0 are also seen, 9 is
/// what network cards and switches expect most).
pub const WAKE_PORT: u16 = 9;

/// The most devices one wake request names.
pub const MAX_WAKE: usize = 256;

/// The longest delay before a power action, in seconds (an hour).
pub const MAX_DELAY_SECONDS: u32 = 3600;

/// The delay a console uses unless told otherwise, in seconds: time for the
/// student to save their work.
pub const DEFAULT_DELAY_SECONDS: u32 = 60;

/// A network card's MAC address.
/// In JSON (certificates, manifests) it is written `aa:bb:cc:dd:ee:ff`, on
/// the wire as six bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            text.parse().map_err(serde::de::Error::custom)
        } else {
            <[u8; 6]>::deserialize(deserializer).map(Self)
        }
    }
}

impl Mac {
    /// The magic packet that wakes this card: six 0xff bytes, then the
    /// address sixteen times.
    pub fn magic_packet(&self) -> [u8; 102] {
        let mut packet = [0xff; 102];
        for chunk in packet[6..].chunks_exact_mut(6) {
            chunk.copy_from_slice(&self.0);
        }
        packet
    }

    /// The address a magic packet wakes, if `packet` is one.
    pub fn from_magic_packet(packet: &[u8]) -> Option<Self> {
        if packet.len() < 102 || packet[..6] != [0xff; 6] {
            return None;
        }
        let mac: [u8; 6] = packet[6..12].try_into().ok()?;
        packet[6..102]
            .chunks_exact(6)
            .all(|chunk| chunk == mac)
            .then_some(Self(mac))
    }
}

/// Why a text is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a MAC address (like 00:1a:2b:3c:4d:5e)")]
pub struct MacError(pub String);

impl FromStr for Mac {
    type Err = MacError;

    /// Accepts `aa:bb:cc:dd:ee:ff`, `AA-BB-CC-DD-EE-FF` and `aabbccddeeff`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || MacError(text.to_owned());
        let hex: String = if text.contains([':', '-']) {
            let parts: Vec<&str> = text.split([':', '-']).collect();
            if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
                return Err(bad());
            }
            parts.concat()
        } else {
            text.to_owned()
        };
        if hex.len() != 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut mac = [0u8; 6];
        for (i, byte) in mac.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Self(mac))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// Where magic packets go from this computer: the limited broadcast and the
/// broadcast address of every IPv4 network it is on (the limited broadcast
/// leaves by one interface only), then `extra` (a configured broadcast such
/// as 10.1.255.255:9 for a network that is routed to), each once.
pub fn wake_targets(extra: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut targets = vec![SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::BROADCAST,
        WAKE_PORT,
    ))];
    for interface in if_addrs::get_if_addrs().unwrap_or_default() {
        if let if_addrs::IfAddr::V4(v4) = &interface.addr
            && !interface.is_loopback()
            && let Some(broadcast) = v4.broadcast
        {
            targets.push(SocketAddr::V4(SocketAddrV4::new(broadcast, WAKE_PORT)));
        }
    }
    targets.extend_from_slice(extra);
    let mut seen = std::collections::HashSet::new();
    targets.retain(|t| seen.insert(*t));
    targets
}

/// A broadcast address to wake through, as people write it: `IP` (port
/// [`WAKE_PORT`]) or `IP:PORT`.
pub fn parse_broadcast(text: &str) -> Result<SocketAddr, String> {
    text.parse::<SocketAddr>()
        .or_else(|_| {
            text.parse::<std::net::IpAddr>()
                .map(|ip| SocketAddr::new(ip, WAKE_PORT))
        })
        .map_err(|_| format!("'{text}' is not an IP address or IP:PORT"))
}

/// Sends a magic packet for each of `macs` to each of `targets`; returns
/// how many went out. Fails only if none could be sent.
pub fn send_magic_packets(macs: &[Mac], targets: &[SocketAddr]) -> io::Result<usize> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    socket.set_broadcast(true)?;
    let mut sent = 0;
    let mut last_error = None;
    for mac in macs {
        let packet = mac.magic_packet();
        for target in targets {
            match socket.send_to(&packet, target) {
                Ok(_) => sent += 1,
                Err(error) => {
                    tracing::debug!("magic packet for {mac} to {target}: {error}");
                    last_error = Some(error);
                }
            }
        }
    }
    match (sent, last_error) {
        (0, Some(error)) => Err(error),
        _ => Ok(sent),
    }
}

/// What a power request does to a student computer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PowerAction {
    /// Restart the computer.
    Reboot,
    /// Shut the computer down.
    Shutdown,
    /// End the student's session.
    Logoff,
}

impl PowerAction {
    /// Every action.
    pub const ALL: [PowerAction; 3] = [Self::Reboot, Self::Shutdown, Self::Logoff];

    /// The stable name: "reboot", "shutdown", "logoff".
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reboot => "reboot",
            Self::Shutdown => "shutdown",
            Self::Logoff => "logoff",
        }
    }
}

impl fmt::Display for PowerAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PowerAction {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == text)
            .ok_or_else(|| format!("'{text}' is not a power action (reboot, shutdown, logoff)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_read_in_the_usual_spellings_and_print_one_way() {
        let mac: Mac = "00:1A:2b:3c:4d:5e".parse().unwrap();
        assert_eq!(mac.0, [0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e]);
        assert_eq!("00-1a-2b-3c-4d-5e".parse::<Mac>().unwrap(), mac);
        assert_eq!("001a2b3c4d5e".parse::<Mac>().unwrap(), mac);
        assert_eq!(mac.to_string(), "00:1a:2b:3c:4d:5e");
        for bad in [
            "",
            "00:1a:2b:3c:4d",
            "00:1a:2b:3c:4d:5g",
            "001a2b3c4d5e6f",
            "0:1a:2b:3c:4d:5e0",
        ] {
            assert_eq!(bad.parse::<Mac>(), Err(MacError(bad.into())), "{bad}");
        }
    }

    #[test]
    fn macs_are_text_in_json_and_six_bytes_on_the_wire() {
        let mac: Mac = "00:1a:2b:3c:4d:5e".parse().unwrap();
        assert_eq!(
            serde_json::to_string(&mac).unwrap(),
            "\"00:1a:2b:3c:4d:5e\""
        );
        assert_eq!(
            serde_json::from_str::<Mac>("\"00-1A-2B-3C-4D-5E\"").unwrap(),
            mac
        );
        assert!(serde_json::from_str::<Mac>("\"00:1a\"").is_err());
        let wire = postcard::to_stdvec(&mac).unwrap();
        assert_eq!(wire, mac.0);
        assert_eq!(postcard::from_bytes::<Mac>(&wire).unwrap(), mac);
    }

    #[test]
    fn a_magic_packet_is_six_ff_and_sixteen_times_the_address() {
        let mac: Mac = "00:1a:2b:3c:4d:5e".parse().unwrap();
        let packet = mac.magic_packet();
        assert_eq!(packet[..6], [0xff; 6]);
        assert_eq!(packet[96..], mac.0);
        assert_eq!(Mac::from_magic_packet(&packet), Some(mac));
        let mut broken = packet;
        broken[50] ^= 1;
        assert_eq!(Mac::from_magic_packet(&broken), None);
        assert_eq!(Mac::from_magic_packet(&packet[..101]), None);
    }

    #[test]
    fn magic_packets_leave_for_every_target() {
        let listener = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let macs: Vec<Mac> = ["00:1a:2b:3c:4d:5e", "00:1a:2b:3c:4d:5f"]
            .iter()
            .map(|m| m.parse().unwrap())
            .collect();
        let target = listener.local_addr().unwrap();
        assert_eq!(send_magic_packets(&macs, &[target, target]).unwrap(), 4);
        let mut woken = Vec::new();
        for _ in 0..4 {
            let mut packet = [0u8; 200];
            let (length, _) = listener.recv_from(&mut packet).unwrap();
            woken.push(Mac::from_magic_packet(&packet[..length]).unwrap());
        }
        assert_eq!(woken, [macs[0], macs[0], macs[1], macs[1]]);
        let targets = wake_targets(&[target]);
        assert_eq!(targets[0], "255.255.255.255:9".parse().unwrap());
        assert_eq!(targets.last(), Some(&target));
    }

    #[test]
    fn power_actions_have_stable_names() {
        for action in PowerAction::ALL {
            assert_eq!(action.as_str().parse::<PowerAction>(), Ok(action));
        }
        assert!("hibernate".parse::<PowerAction>().is_err());
    }
}
