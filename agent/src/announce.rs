//! Announcing the agent on the local network by mDNS (DNS-SD), so a console
//! finds a device whose address changed (DHCP, a moved computer).
//!
//! An agent that listens on a loopback address does not announce itself:
//! nobody else could reach it.

use std::net::SocketAddr;

use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};
use pult_protocol::credentials::DeviceManifest;
use pult_protocol::discovery::{SERVICE_TYPE, UUID_KEY};

/// A running announcement; it ends when dropped.
pub struct Announcement {
    daemon: ServiceDaemon,
    fullname: String,
}

impl Drop for Announcement {
    fn drop(&mut self) {
        let _ = self.daemon.unregister(&self.fullname);
        let _ = self.daemon.shutdown();
    }
}

/// Announces the agent of `device` listening on `listen`; `None` for a
/// loopback address.
pub fn announce(
    device: &DeviceManifest,
    listen: SocketAddr,
) -> Result<Option<Announcement>, mdns_sd::Error> {
    if listen.ip().is_loopback() {
        return Ok(None);
    }
    let daemon = ServiceDaemon::new()?;
    let host = format!("{}.local.", device.uuid);
    let properties = [(UUID_KEY, device.uuid.to_string())];
    let info = if listen.ip().is_unspecified() {
        ServiceInfo::new(
            SERVICE_TYPE,
            &device.name,
            &host,
            "",
            listen.port(),
            &properties[..],
        )?
        .enable_addr_auto()
    } else {
        // Announce on the interface of the listening address only.
        daemon.disable_interface(IfKind::All)?;
        daemon.enable_interface(IfKind::Addr(listen.ip()))?;
        ServiceInfo::new(
            SERVICE_TYPE,
            &device.name,
            &host,
            listen.ip(),
            listen.port(),
            &properties[..],
        )?
    };
    let fullname = info.get_fullname().to_owned();
    daemon.register(info)?;
    Ok(Some(Announcement { daemon, fullname }))
}
