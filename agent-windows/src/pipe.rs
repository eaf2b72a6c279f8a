//! The named pipe between the service and its helper: only SYSTEM may open
//! it, and the service checks which process did.

use std::io;
use std::os::windows::io::AsRawHandle;

use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};
use windows_sys::Win32::Security::SECURITY_ATTRIBUTES;
use windows_sys::Win32::System::Pipes::GetNamedPipeClientProcessId;

use crate::security::SecurityDescriptor;

/// Full access for SYSTEM, nobody else; not inherited from anywhere.
pub const SYSTEM_ONLY: &str = "D:P(A;;GA;;;SY)";

/// Creates one instance of pipe `name` (`\\.\pipe\...`) that only the
/// principals of `sddl` may open, for local clients only. With `first`, it
/// fails if any process already created a pipe of that name: nobody can
/// squat on the service's pipe before the service starts.
pub fn server(name: &str, sddl: &str, first: bool) -> io::Result<NamedPipeServer> {
    let descriptor = SecurityDescriptor::from_sddl(sddl)?;
    let mut attributes = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: descriptor.0,
        bInheritHandle: 0,
    };
    let mut options = ServerOptions::new();
    options
        .first_pipe_instance(first)
        .reject_remote_clients(true);
    // SAFETY: `attributes` is a valid SECURITY_ATTRIBUTES whose descriptor
    // lives until after the call.
    unsafe { options.create_with_security_attributes_raw(name, (&raw mut attributes).cast()) }
}

/// The process id of the client connected to `pipe`.
pub fn client_process_id(pipe: &NamedPipeServer) -> io::Result<u32> {
    let mut pid = 0u32;
    // SAFETY: a valid pipe handle owned by `pipe` and an out pointer.
    if unsafe { GetNamedPipeClientProcessId(pipe.as_raw_handle(), &mut pid) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::windows::named_pipe::ClientOptions;

    #[tokio::test]
    async fn a_client_connects_and_the_server_knows_its_process() -> io::Result<()> {
        let name = format!(r"\\.\pipe\pult-test-{}", std::process::id());
        // The test runs as the owner, not SYSTEM: allow everyone here.
        let server = server(&name, "D:P(A;;GA;;;WD)", true)?;
        let mut client = ClientOptions::new().open(&name)?;
        server.connect().await?;
        assert_eq!(client_process_id(&server)?, std::process::id());
        let mut server = server;
        client.write_all(b"hello").await?;
        let mut got = [0u8; 5];
        server.read_exact(&mut got).await?;
        assert_eq!(&got, b"hello");
        // That a second "first" instance of a name is refused (no squatting)
        // only real Windows shows: Wine does not enforce it
        // (docs/windows-checklist.md).
        Ok(())
    }

    #[test]
    fn bad_sddl_is_an_error() {
        assert!(SecurityDescriptor::from_sddl("D:(nonsense").is_err());
    }
}
