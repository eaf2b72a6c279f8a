//! pult-protocol: the contract between the teacher's console and the student agent.
//!
//! It owns what both ends must agree on, and nothing else:
//! - [`message`]: the versioned hello, requests, replies and stable error codes;
//! - [`frame`]: length-prefixed postcard framing with a hard size limit per kind;
//! - [`grant`] and [`pki`]: the school CA, device certificates and room certificates
//!   whose extension carries the [`grant::RoomGrant`];
//! - [`verify`]: the rustls verifiers that enforce the room rule at both ends;
//! - [`endpoint`]: QUIC endpoint builders (TLS 1.3 only, ALPN `pult/1`, mutual auth);
//! - [`watch`]: screen streams with credit-based flow control;
//! - [`broadcast`]: the teacher's screen to the class (R7), on the same updates;
//! - [`files`]: files to the class (R6) and back, and the names both ends accept;
//! - [`credentials`]: the JSON documents the registry hands to agents and consoles;
//! - [`registry_api`]: the bodies of the registry server's JSON API;
//! - [`local`]: the local channel between an agent's service and its session helper.
//!
//! It must never know about screens, windows, SQL, or where a host keeps its files.
#![warn(missing_docs)]

pub mod address;
pub mod broadcast;
pub mod credentials;
pub mod discovery;
pub mod endpoint;
pub mod files;
pub mod frame;
pub mod grant;
pub mod ids;
pub mod input;
pub mod local;
pub mod message;
pub mod pki;
pub mod power;
pub mod registry_api;
pub mod udp;
pub mod verify;
pub mod watch;

pub use ids::DeviceId;
