//! pult (the library half of the teacher app): the window over pult-console.
//!
//! It holds the Tauri window and its commands; every decision lives in
//! pult-console. The binary `pult` parses the command line and calls in here.
//! It must never contain the agent or the registry: the demo classroom that
//! needs them is behind the cargo feature `demo`.

mod app;

pub use app::{run, run_registered, show_problem};
