//! Waking devices by wake-on-LAN: magic packets from the teacher's computer
//! to each network it is on, and from up to [`RELAYS`] awake devices of the
//! room to theirs, for a room behind a router (where the teacher's
//! broadcasts never arrive). The agents wake only MACs their room grant lists.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pult_protocol::credentials::RoomManifest;
use pult_protocol::power::{Mac, send_magic_packets, wake_targets};

use crate::{Console, ConsoleError};

/// How many awake devices of the room are asked to relay.
pub const RELAYS: usize = 3;

/// The outcome per device, in the order asked.
pub type WakeResults = Vec<(String, Result<(), ConsoleError>)>;

/// The MACs that wake `devices`, and a result for each device: an error
/// for one that is not in the room, not steerable (R10) or has no MAC in
/// the registry.
pub fn plan(room: &RoomManifest, devices: &[String]) -> (Vec<Mac>, WakeResults) {
    let mut macs = Vec::new();
    let results = devices
        .iter()
        .map(|name| {
            let outcome = match room.device(name) {
                None => Err(ConsoleError::NotInRoom {
                    device: name.clone(),
                    room: room.room.clone(),
                }),
                Some(device) if !device.steerable => Err(ConsoleError::NotSteerable {
                    device: name.clone(),
                }),
                Some(device) if device.macs.is_empty() => Err(ConsoleError::NoMac {
                    device: name.clone(),
                }),
                Some(device) => {
                    macs.extend(
                        device
                            .macs
                            .iter()
                            .filter(|m| !macs.contains(*m))
                            .copied()
                            .collect::<Vec<_>>(),
                    );
                    Ok(())
                }
            };
            (name.clone(), outcome)
        })
        .collect();
    (macs, results)
}

/// Sends magic packets for `macs` from this computer to its networks' broadcast
/// addresses and `extra`; returns how many went out.
pub fn send_here(macs: &[Mac], extra: &[SocketAddr]) -> Result<usize, ConsoleError> {
    send_magic_packets(macs, &wake_targets(extra))
        .map_err(|e| ConsoleError::Network(format!("no magic packet could be sent: {e}")))
}

/// The devices to ask to relay: steerable ones `awake` says are up, in the
/// room's order, at most [`RELAYS`]. A device being woken that is up relays
/// too ("switch on all" with part of the room on).
pub fn relays(room: &RoomManifest, awake: impl Fn(&str) -> bool) -> Vec<&str> {
    room.devices
        .iter()
        .filter(|d| d.steerable && awake(&d.name))
        .map(|d| d.name.as_str())
        .take(RELAYS)
        .collect()
}

/// The results once the packets went out from here (`here`) and from the
/// relays (`relayed`: whether any agent took the request): a device is
/// woken if the packets went out from anywhere.
pub fn settle(
    results: WakeResults,
    here: &Result<usize, ConsoleError>,
    relayed: bool,
) -> WakeResults {
    results
        .into_iter()
        .map(|(name, outcome)| {
            let outcome = outcome.and_then(|()| match here {
                Ok(_) => Ok(()),
                Err(_) if relayed => Ok(()),
                Err(error) => Err(ConsoleError::Network(error.to_string())),
            });
            (name, outcome)
        })
        .collect()
}

/// How long a device has to answer before it is taken as asleep.
const AWAKE_WITHIN: Duration = Duration::from_secs(3);

/// What waking came to, for a console without a running room session
/// (`pultctl power on`).
pub struct Woken {
    /// Per device, in the order asked.
    pub results: WakeResults,
    /// Whether the packets left from this computer.
    pub here: bool,
    /// The devices that relayed them.
    pub relays: Vec<String>,
    /// Devices that answered but would not relay, and why.
    pub refusals: Vec<ConsoleError>,
}

/// Wakes `devices`: packets from here ([`send_here`]), and asks the room's
/// steerable devices that answer within 3 s to relay them, the first
/// [`RELAYS`] that do.
pub async fn wake_through(
    console: Arc<Console>,
    room: &RoomManifest,
    devices: &[String],
    extra: &[SocketAddr],
) -> Woken {
    let (macs, results) = plan(room, devices);
    if macs.is_empty() {
        return Woken {
            results,
            here: false,
            relays: Vec::new(),
            refusals: Vec::new(),
        };
    }
    let here = send_here(&macs, extra);
    let mut tasks = tokio::task::JoinSet::new();
    // Every steerable device, those being woken too: one that is on relays.
    // A few more are asked than needed, as some sleep.
    for device in room
        .devices
        .iter()
        .filter(|d| d.steerable)
        .take(3 * RELAYS)
        .cloned()
    {
        let (console, macs) = (console.clone(), macs.clone());
        tasks.spawn(async move {
            let session = tokio::time::timeout(AWAKE_WITHIN, console.connect(&device))
                .await
                .ok()?
                .ok()?;
            let result = session.wake(&macs).await;
            session.close();
            Some(result.map(|()| device.name))
        });
    }
    let (mut relays, mut refusals) = (Vec::new(), Vec::new());
    while relays.len() < RELAYS {
        match tasks.join_next().await {
            Some(Ok(Some(Ok(relay)))) => relays.push(relay),
            Some(Ok(Some(Err(error)))) => refusals.push(error),
            Some(_) => {}
            None => break,
        }
    }
    Woken {
        results: settle(results, &here, !relays.is_empty()),
        here: here.is_ok(),
        relays,
        refusals,
    }
}
