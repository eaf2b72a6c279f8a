//! pult-console: the teacher's engine, headless.
//!
//! It loads a room certificate directory, connects to the room's agents over
//! QUIC, carries out actions on them reporting per device, and streams their
//! screens. The `pultctl`
//! command line and (later) the Tauri app are thin layers over it; every
//! decision about the room lives here. It never opens the registry database.
#![warn(missing_docs)]

mod at_once;
pub mod audit;
pub mod broadcast;
mod control;
pub mod desk;
pub mod desk_broadcast;
pub mod desk_files;
mod discovery;
mod error;
pub mod fanout;
pub mod favourites;
pub mod files;
pub mod gallery;
mod motion;
pub mod registry;
mod room;
mod room_session;
mod session;
pub mod sign_in;
pub mod transfer;
pub mod ui_frame;
pub mod wake;
mod watch;

pub use at_once::at_once;
pub use broadcast::{
    Broadcast, BroadcastArea, BroadcastReport, ReceiverReport, Region, ScreenSource,
};
pub use control::ControlSession;
pub use discovery::Discovery;
pub use error::ConsoleError;
pub use pult_screen::wire::encoded_frame;
pub use room::RoomCertificate;
pub use room_session::{
    Action, Connector, DeviceState, DeviceStatus, RoomEvent, RoomSession, SessionOptions,
    UnknownDevice,
};
pub use session::{CloseSignal, Closer, Console, DeviceSession};
pub use watch::{ScreenStream, StreamControl};
