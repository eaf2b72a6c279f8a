//! What can go wrong talking to a room, with a stable code for each kind.

use std::path::PathBuf;

use pult_protocol::endpoint::RefusalAlert;
use pult_protocol::message::ErrorReply;
use pult_screen::inspect::PictureProblem;

/// A failure of the console, for one device or for the room certificate.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The room certificate directory is missing or broken.
    #[error("the room certificate in {} cannot be used: {detail}", dir.display())]
    Certificate {
        /// The directory.
        dir: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A file of the teacher's (screenshot, favourites) could not be read or written.
    #[error("{0}")]
    Storage(String),
    /// The console could not open its network endpoint.
    #[error("could not open the console's network endpoint: {0}")]
    Network(String),
    /// The device is not in the certificate's room, so the console does not even try (R8).
    #[error(
        "device '{device}' is not in room {room}, the room of this certificate; it is not contacted"
    )]
    NotInRoom {
        /// The device asked for.
        device: String,
        /// The certificate's room.
        room: String,
    },
    /// The registry has no address for the device.
    #[error("{device}: the registry has no address for this device")]
    NoAddress {
        /// The device.
        device: String,
    },
    /// An admin marked the device not steerable (R10): nothing is sent to it,
    /// not even a magic packet.
    #[error("{device}: an admin marked this device not steerable (R10); it is left alone")]
    NotSteerable {
        /// The device.
        device: String,
    },
    /// The device has no MAC address in the registry, so it cannot be woken.
    #[error("{device}: the registry has no MAC address for this device, so it cannot be woken")]
    NoMac {
        /// The device.
        device: String,
    },
    /// The agent did not answer.
    #[error("{device}: cannot reach the agent at {address}: {detail}")]
    Unreachable {
        /// The device.
        device: String,
        /// Where it was expected.
        address: String,
        /// What happened.
        detail: String,
    },
    /// The agent refused this room certificate.
    #[error("{device}: the agent refused this certificate: {}", explain(*alert, *marked_not_steerable))]
    Refused {
        /// The device.
        device: String,
        /// The TLS alert the agent sent.
        alert: RefusalAlert,
        /// Whether the room certificate lists the device as not steerable.
        marked_not_steerable: bool,
    },
    /// The device did not prove it is the device it should be.
    #[error(
        "{device}: the agent's certificate is not that of this device of this school: {detail}"
    )]
    AgentNotVerified {
        /// The device.
        device: String,
        /// What did not match.
        detail: String,
    },
    /// The agent carried out nothing and said why.
    #[error("{device}: {error}")]
    Agent {
        /// The device.
        device: String,
        /// The agent's error.
        error: ErrorReply,
    },
    /// The agent sent a screen update or screenshot that breaks the console's
    /// rules (too large, tiles outside the picture, a file that is not what it
    /// claims); it is not shown or saved, and that stream ends.
    #[error("{device}: the agent sent a picture the console refuses: {problem}")]
    BadPicture {
        /// The device.
        device: String,
        /// What was wrong.
        problem: PictureProblem,
    },
    /// The teacher's own screen could not be captured for a broadcast.
    #[error("the screen to broadcast could not be captured: {0}")]
    Capture(String),
    /// What the teacher asked for is refused before anything is sent (a
    /// message too long, a URL that is not a web page).
    #[error("{0}")]
    BadInput(String),
    /// The conversation with the agent broke off or made no sense.
    #[error("{device}: {detail}")]
    Protocol {
        /// The device.
        device: String,
        /// What happened.
        detail: String,
    },
}

impl ConsoleError {
    /// A stable code for UIs and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Certificate { .. } => "certificate",
            Self::Network(_) => "network",
            Self::Storage(_) => "storage",
            Self::NotInRoom { .. } => "not-in-room",
            Self::NoAddress { .. } => "no-address",
            Self::NoMac { .. } => "no-mac",
            Self::NotSteerable { .. } => "not-steerable",
            Self::Unreachable { .. } => "unreachable",
            Self::Refused { .. } => "refused",
            Self::AgentNotVerified { .. } => "agent-not-verified",
            Self::Agent { error, .. } => error.code.as_str(),
            Self::BadPicture { .. } => "bad-picture",
            Self::Capture(_) => "capture-failed",
            Self::BadInput(_) => "bad-input",
            Self::Protocol { .. } => "protocol",
        }
    }
}

fn explain(alert: RefusalAlert, marked_not_steerable: bool) -> String {
    match alert {
        RefusalAlert::AccessDenied if marked_not_steerable => {
            "an admin marked this device not steerable (R10)".into()
        }
        RefusalAlert::AccessDenied => {
            "the device is not in this certificate's room or is not steerable (R8, R10)".into()
        }
        RefusalAlert::Expired => {
            "the certificate has expired (or is not valid yet); get a new one".into()
        }
        RefusalAlert::UnknownCa => "it was not issued by this device's school".into(),
        RefusalAlert::Unsupported => "it is not a room certificate".into(),
        RefusalAlert::Other(alert) => format!("TLS alert {alert}"),
    }
}
