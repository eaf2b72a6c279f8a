//! pult-agent-windows: the Windows system calls of the Pult agent, and the
//! only crate of ours with `unsafe` code. Each call is wrapped in a small safe
//! function; what to do with it (which session, when to start a helper, what
//! the notice says) is decided in pult-agent, which is tested on Linux too.
//!
//! - [`session`]: the active console session and its user (WTS).
//! - [`process`]: starting the helper with a SYSTEM token in a session, and
//!   the student's programs with the student's own token.
//! - [`pipe`]: the service/helper pipe, open to SYSTEM only.
//! - [`dialog`]: a message box (the teacher app uses it too).
//! - [`dxgi`]: the screen by DXGI desktop duplication.
//! - [`folders`]: the ProgramData folder, asked of Windows.
//! - [`clipboard`]: the session's clipboard text.
//! - [`acl`]: directories for SYSTEM and Administrators only.
//! - [`input`]: the teacher's mouse and keyboard by SendInput (R3).
//! - [`notice`]: the on-screen indicator and the notification-area icon.
//! - [`broadcast`]: the teacher's broadcast, full screen or in a window.
//! - [`power`]: restarting, shutting down, logging off.
//! - [`user`]: the student's token, to work on their files as them (R6).
//! - [`service`]: running as a Windows service (windows-service crate).
//!
//! On other systems the crate is empty.

#[cfg(windows)]
pub mod acl;
#[cfg(windows)]
pub mod broadcast;
#[cfg(windows)]
pub mod clipboard;
pub mod cmdline;
#[cfg(windows)]
pub mod dialog;
#[cfg(windows)]
pub mod dxgi;
#[cfg(windows)]
pub mod folders;
#[cfg(windows)]
pub mod input;
#[cfg(windows)]
pub mod notice;
#[cfg(windows)]
pub mod pipe;
#[cfg(windows)]
pub mod power;
#[cfg(windows)]
pub mod process;
#[cfg(windows)]
mod security;
#[cfg(windows)]
pub mod service;
#[cfg(windows)]
pub mod session;
#[cfg(windows)]
pub mod user;
#[cfg(windows)]
mod wide;
