//! pult-agent: the student agent, a service on each student computer.
//!
//! It serves its screen (screenshots and live screen streams) and actions
//! (open a web page, run a program) to consoles whose room certificate lists this device as steerable,
//! and writes every accepted or refused connection and every request to its
//! audit log. It never asks the registry anything: the certificate carries the
//! room rule. Platform specifics live in [`platform`] behind one interface.
#![warn(missing_docs)]

pub mod actions;
pub mod announce;
pub mod audit;
pub mod bundle;
pub mod cli;
pub mod desktop;
pub mod enrol;
pub mod helper;
pub mod limits;
pub mod link;
pub mod notice;
pub mod notice_text;
pub mod platform;
pub mod power;
pub mod running;
pub mod serve;
pub mod service;
pub mod service_log;
pub mod watch;
