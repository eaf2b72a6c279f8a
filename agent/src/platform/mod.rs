//! What differs between operating systems, behind one small interface:
//! how to open a web page for the user and how to start a program detached;
//! on Linux also the notice (R1) on the X display and the session bus;
//! remote control, the clipboard and power on both.
//!
//! Everything else in the agent is platform-neutral.

#[cfg(target_os = "linux")]
pub mod bridge;
#[cfg(target_os = "linux")]
pub mod broadcast_view;
#[cfg(target_os = "linux")]
pub mod desktop_notice;
#[cfg(target_os = "linux")]
pub mod indicator;
#[cfg(target_os = "linux")]
pub mod lock_screen;
#[cfg(target_os = "linux")]
pub mod logind;
#[cfg(target_os = "linux")]
pub mod message_window;
#[cfg(unix)]
mod unix;
#[cfg(target_os = "linux")]
pub mod unix_host;
#[cfg(windows)]
pub mod windows_capture;
#[cfg(windows)]
pub mod windows_data;
#[cfg(windows)]
pub mod windows_host;
#[cfg(windows)]
pub mod windows_input;
#[cfg(windows)]
pub mod windows_notice;
#[cfg(target_os = "linux")]
pub mod x11_clipboard;
#[cfg(target_os = "linux")]
pub mod x11_input;
#[cfg(target_os = "linux")]
pub mod x11_ui;
#[cfg(unix)]
use unix as current;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as current;

use std::io;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The command that opens a URL in the user's browser: program and leading arguments;
/// the URL is appended as the last argument.
pub fn default_url_opener() -> Vec<String> {
    current::default_url_opener()
}

/// The capture of this session's desktop: X11 (or xcap) on Linux; on
/// Windows DXGI duplication with GDI behind it.
pub fn desktop_capture() -> Box<dyn pult_screen::CaptureSource> {
    #[cfg(windows)]
    return Box::new(windows_capture::desktop_capture());
    #[cfg(not(windows))]
    Box::new(pult_screen::DesktopCapture::new())
}

/// Restarts, shuts down or logs off this computer now: logind on Linux (as
/// root, asking nobody: the teacher decided, the student was told), Windows'
/// shutdown and WTS calls with the service's shutdown privilege.
pub async fn power(action: pult_protocol::power::PowerAction) -> Result<(), String> {
    #[cfg(target_os = "linux")]
    return logind::power(action).await;
    #[cfg(windows)]
    return tokio::task::spawn_blocking(move || {
        use pult_protocol::power::PowerAction;
        match action {
            PowerAction::Reboot => pult_agent_windows::power::restart(true),
            PowerAction::Shutdown => pult_agent_windows::power::restart(false),
            PowerAction::Logoff => pult_agent_windows::power::log_off_console(),
        }
    })
    .await
    .map_err(|e| e.to_string())?;
    #[cfg(not(any(target_os = "linux", windows)))]
    Err(format!("this system cannot {action} from Pult yet"))
}

/// The mouse and keyboard of this session, for remote control (R3): XTEST
/// on X11, SendInput on Windows. Without them, every event fails with why.
pub fn desktop_input() -> Box<dyn crate::helper::InputDevice> {
    #[cfg(windows)]
    return Box::new(windows_input::WindowsInput::new());
    #[cfg(target_os = "linux")]
    return match x11_input::X11Input::connect() {
        Ok(input) => Box::new(input),
        Err(error) => {
            tracing::warn!("remote control cannot reach this session: {error}");
            Box::new(crate::helper::NoInput(error))
        }
    };
    #[cfg(not(any(target_os = "linux", windows)))]
    Box::new(crate::helper::NoInput(
        "remote control is not built for this system".into(),
    ))
}

/// The Windows service's name (the MSI installs it under this name).
pub const SERVICE_NAME: &str = "PultAgent";

/// Where the installed agent keeps its bundle, audit log and configuration:
/// `%ProgramData%\Pult\Agent` on Windows (SYSTEM and Administrators only);
/// nowhere by default elsewhere (the .deb passes its paths).
pub fn data_dir() -> Option<PathBuf> {
    #[cfg(windows)]
    {
        // Asked of Windows, not read from the environment: Wine's services,
        // for one, see no ProgramData variable, and the installer and the
        // service must agree on the folder.
        match pult_agent_windows::folders::program_data() {
            Ok(folder) => Some(folder.join("Pult").join("Agent")),
            Err(error) => {
                tracing::error!("{error}");
                None
            }
        }
    }
    #[cfg(not(windows))]
    None
}

/// The installed agent's bundle: `bundle` in [`data_dir`].
pub fn default_bundle() -> Option<PathBuf> {
    data_dir().map(|dir| dir.join("bundle"))
}

/// The user logged on at this computer, if any (R15).
pub fn logged_on_user() -> Option<String> {
    current::logged_on_user()
}

/// Starts `program` with `args`, detached from the agent: no shell, no inherited
/// input or output, its own process group; the agent does not wait for it.
/// With `environment`, the program gets exactly that environment.
pub fn spawn_detached(
    program: &str,
    args: &[String],
    environment: Option<&[(String, String)]>,
) -> io::Result<()> {
    let mut command = Command::new(program);
    if let Some(environment) = environment {
        command
            .env_clear()
            .envs(environment.iter().map(|(k, v)| (k, v)));
    }
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    current::detach(&mut command);
    let mut child = command.spawn()?;
    // Reap the child when it ends so it does not linger as a zombie.
    std::thread::Builder::new()
        .name("reap-child".into())
        .spawn(move || {
            let _ = child.wait();
        })?;
    Ok(())
}
