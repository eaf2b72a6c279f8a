//! How agents make themselves known on the local network (mDNS / DNS-SD).
//!
//! An agent announces a service of [`SERVICE_TYPE`] whose TXT record carries
//! its device UUID under [`UUID_KEY`]. A console that finds it uses the
//! announced address instead of the registry's; the TLS check still decides
//! whether the device is who it claims to be, so a false announcement can only
//! make a connection fail, never reach the wrong device.

/// The DNS-SD service type of Pult agents.
pub const SERVICE_TYPE: &str = "_pult._udp.local.";

/// The TXT key holding the device UUID.
pub const UUID_KEY: &str = "uuid";
