//! Finding agents on the local network by mDNS (DNS-SD): their current
//! addresses by device UUID, to use before the registry's (which may be
//! stale), and the agents a room certificate does not know ("unknown
//! devices", R14), kept in memory only while the room is open.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use mdns_sd::{ServiceDaemon, ServiceEvent};
use pult_protocol::DeviceId;
use pult_protocol::discovery::{SERVICE_TYPE, UUID_KEY};

use crate::ConsoleError;

/// Agents found on the local network; browsing stops when dropped.
pub struct Discovery {
    daemon: ServiceDaemon,
    found: Arc<Mutex<Found>>,
}

#[derive(Default)]
struct Found {
    by_device: HashMap<DeviceId, Announced>,
    by_fullname: HashMap<String, DeviceId>,
}

/// The most agents remembered: a network that announces more is not a classroom.
const MAX_FOUND: usize = 4096;

/// An agent as it announced itself: its word only, until TLS proves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announced {
    /// The device UUID it claims.
    pub device: DeviceId,
    /// The name it gives (the DNS-SD instance name), cleaned for showing.
    pub name: String,
    /// Where it listens.
    pub address: SocketAddr,
}

impl Discovery {
    /// Starts browsing for Pult agents on every interface.
    pub fn start() -> Result<Self, ConsoleError> {
        let failed = |e: mdns_sd::Error| ConsoleError::Network(format!("mDNS: {e}"));
        let daemon = ServiceDaemon::new().map_err(failed)?;
        let events = daemon.browse(SERVICE_TYPE).map_err(failed)?;
        let found = Arc::new(Mutex::new(Found::default()));
        let shared = found.clone();
        std::thread::Builder::new()
            .name("pult-discovery".into())
            .spawn(move || {
                while let Ok(event) = events.recv() {
                    let mut found = shared.lock().unwrap_or_else(|p| p.into_inner());
                    match event {
                        ServiceEvent::ServiceResolved(service) => {
                            let device = service
                                .get_property_val_str(UUID_KEY)
                                .and_then(|u| u.parse::<DeviceId>().ok());
                            // Prefer IPv4: it is what school networks route everywhere.
                            let mut ips: Vec<_> = service
                                .get_addresses()
                                .iter()
                                .map(|ip| ip.to_ip_addr())
                                .collect();
                            ips.sort_by_key(|ip| (ip.is_ipv6(), *ip));
                            let fullname = service.get_fullname().to_owned();
                            let room = found.by_device.len() < MAX_FOUND
                                && found.by_fullname.len() < MAX_FOUND;
                            if let (Some(device), Some(ip)) = (device, ips.first())
                                && (room
                                    || (found.by_device.contains_key(&device)
                                        && found.by_fullname.contains_key(&fullname)))
                            {
                                let name = instance_name(&fullname);
                                found.by_device.insert(
                                    device,
                                    Announced {
                                        device,
                                        name,
                                        address: SocketAddr::new(*ip, service.get_port()),
                                    },
                                );
                                found.by_fullname.insert(fullname, device);
                            }
                        }
                        ServiceEvent::ServiceRemoved(_, fullname) => {
                            if let Some(device) = found.by_fullname.remove(&fullname) {
                                found.by_device.remove(&device);
                            }
                        }
                        _ => {}
                    }
                }
            })
            .map_err(|e| ConsoleError::Network(e.to_string()))?;
        Ok(Self { daemon, found })
    }

    /// Where `device` announced itself last, if it did.
    pub fn address(&self, device: DeviceId) -> Option<SocketAddr> {
        self.found
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_device
            .get(&device)
            .map(|a| a.address)
    }

    /// Every agent found, in the order of their names.
    pub fn announced(&self) -> Vec<Announced> {
        let mut all: Vec<Announced> = self
            .found
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_device
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| (&a.name, a.address).cmp(&(&b.name, b.address)));
        all
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        let _ = self.daemon.shutdown();
    }
}

/// The instance part of a DNS-SD full name (`PC-07._pult._udp.local.` is
/// `PC-07`), at most 64 characters without control characters: what an
/// agent says of itself is shown, never trusted.
fn instance_name(fullname: &str) -> String {
    let instance = fullname
        .strip_suffix(pult_protocol::discovery::SERVICE_TYPE)
        .map(|i| i.trim_end_matches('.'))
        .unwrap_or(fullname);
    instance
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announced_name_is_cut_and_cleaned_for_showing() {
        assert_eq!(instance_name("PC-07._pult._udp.local."), "PC-07");
        assert_eq!(instance_name("Raum\u{7}101._pult._udp.local."), "Raum101");
        assert_eq!(
            instance_name(&format!("{}._pult._udp.local.", "x".repeat(100))).len(),
            64
        );
        assert_eq!(instance_name("odd"), "odd");
    }
}
