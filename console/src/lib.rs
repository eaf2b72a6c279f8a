//! pult-console: the teacher's engine, headless.
//!
//! It loads a room certificate directory, connects to the room's agents over
//! QUIC, carries out actions on them reporting per device, and streams their
//! screens. The `pultctl`
//! command line and (later) the Tauri app are thin layers over it; every
//! decision about the room lives here. It never opens the registry database.
#![warn(missing_docs)]

mod error;
mod room;
mod session;
mod watch;

pub use error::ConsoleError;
pub use room::RoomCertificate;
pub use session::{Console, DeviceSession};
pub use watch::{ScreenStream, encoded_frame};
