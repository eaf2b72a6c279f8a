//! Finding agents on the local network by mDNS (DNS-SD): their current
//! addresses by device UUID, to use before the registry's (which may be stale).

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
    by_device: HashMap<DeviceId, SocketAddr>,
    by_fullname: HashMap<String, DeviceId>,
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
                            if let (Some(device), Some(ip)) = (device, ips.first()) {
                                found
                                    .by_device
                                    .insert(device, SocketAddr::new(*ip, service.get_port()));
                                found
                                    .by_fullname
                                    .insert(service.get_fullname().to_owned(), device);
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
            .copied()
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        let _ = self.daemon.shutdown();
    }
}
