//! Running as a Windows service: the service control manager starts the
//! program, [`run`] reports it running, and hands the program's body the
//! controls that arrive (stop, shutdown, session changes).

use std::ffi::OsString;
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::Duration;

use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept,
    ServiceExitCode, ServiceFailureActions, ServiceFailureResetPeriod, ServiceState, ServiceStatus,
    ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};
use windows_sys::Win32::System::Services::{
    ChangeServiceConfigW, CloseServiceHandle, OpenSCManagerW, OpenServiceW, QUERY_SERVICE_CONFIGW,
    QueryServiceConfigW, SC_HANDLE, SC_MANAGER_CONNECT, SERVICE_CHANGE_CONFIG, SERVICE_NO_CHANGE,
    SERVICE_QUERY_CONFIG,
};

/// What the service control manager asks of a running service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Stop (also at shutdown).
    Stop,
    /// A session was logged on or off, connected, disconnected, locked or
    /// unlocked: look at the sessions again.
    SessionChange,
}

/// The body of a service: runs until it sees [`Control::Stop`].
pub type Body = Box<dyn FnOnce(mpsc::Receiver<Control>) -> Result<(), String> + Send>;

static NAME: OnceLock<String> = OnceLock::new();
static BODY: Mutex<Option<Body>> = Mutex::new(None);
static FAILURE: Mutex<Option<String>> = Mutex::new(None);

define_windows_service!(ffi_service_main, service_main);

/// Runs this process as the service `name` with `body`; returns when the
/// service has stopped. Fails at once if the process was not started by the
/// service control manager.
pub fn run(name: &str, body: Body) -> Result<(), String> {
    NAME.set(name.to_owned())
        .map_err(|_| "the service runs already".to_owned())?;
    if let Ok(mut slot) = BODY.lock() {
        *slot = Some(body);
    }
    service_dispatcher::start(name, ffi_service_main)
        .map_err(|error| format!("not started as a service: {error}"))?;
    match FAILURE.lock().map(|mut failure| failure.take()) {
        Ok(Some(failure)) => Err(failure),
        _ => Ok(()),
    }
}

fn service_main(_arguments: Vec<OsString>) {
    let (Some(name), Some(body)) = (NAME.get(), BODY.lock().ok().and_then(|mut b| b.take())) else {
        return;
    };
    let (controls, received) = mpsc::channel();
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            let _ = controls.send(Control::Stop);
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::SessionChange(_) => {
            let _ = controls.send(Control::SessionChange);
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let status = match service_control_handler::register(name, handler) {
        Ok(status) => status,
        Err(error) => {
            record(format!("could not register the control handler: {error}"));
            return;
        }
    };
    let report = |state, accepted, code| {
        status.set_service_status(ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: accepted,
            exit_code: ServiceExitCode::Win32(code),
            checkpoint: 0,
            wait_hint: Duration::from_secs(5),
            process_id: None,
        })
    };
    let accepted = ServiceControlAccept::STOP
        | ServiceControlAccept::SHUTDOWN
        | ServiceControlAccept::SESSION_CHANGE;
    if let Err(error) = report(ServiceState::Running, accepted, 0) {
        record(format!("could not report the service running: {error}"));
        return;
    }
    let result = body(received);
    // A service that ends with an error exits non-zero, so the recovery
    // actions (see `restart_on_failure`) start it again.
    let code = match &result {
        Ok(()) => 0,
        Err(failure) => {
            record(failure.clone());
            1
        }
    };
    let _ = report(ServiceState::Stopped, ServiceControlAccept::empty(), code);
}

fn record(failure: String) {
    if let Ok(mut slot) = FAILURE.lock() {
        *slot = Some(failure);
    }
}

/// Sets the service `name` to be started again when it fails: after 2 s,
/// 10 s, then every 60 s, the count reset after a day without failure. Set by
/// the service itself: the MSI tool at hand (wixl) cannot write it.
pub fn restart_on_failure(name: &str) -> Result<(), String> {
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .map_err(|error| format!("cannot open the service manager: {error}"))?;
    let service = manager
        .open_service(name, ServiceAccess::CHANGE_CONFIG | ServiceAccess::START)
        .map_err(|error| format!("cannot open service {name}: {error}"))?;
    let restart = |seconds| ServiceAction {
        action_type: ServiceActionType::Restart,
        delay: Duration::from_secs(seconds),
    };
    service
        .update_failure_actions(ServiceFailureActions {
            reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(24 * 3600)),
            reboot_msg: None,
            command: None,
            actions: Some(vec![restart(2), restart(10), restart(60)]),
        })
        .map_err(|error| format!("cannot set the recovery of {name}: {error}"))?;
    service
        .set_failure_actions_on_non_crash_failures(true)
        .map_err(|error| format!("cannot set the recovery of {name}: {error}"))
}

/// The command line the service manager starts service `name` with, as
/// Windows keeps it (the ImagePath).
pub fn image_path(name: &str) -> std::io::Result<String> {
    let service = ServiceHandle::open(name, SERVICE_QUERY_CONFIG)?;
    let mut needed = 0u32;
    // SAFETY: a valid service handle; asks only for the size needed.
    unsafe { QueryServiceConfigW(service.0, std::ptr::null_mut(), 0, &mut needed) };
    // u64 units keep the buffer aligned for QUERY_SERVICE_CONFIGW.
    let mut buffer = vec![0u64; (needed as usize).div_ceil(8).max(8)];
    let size = (buffer.len() * 8) as u32;
    let config = buffer.as_mut_ptr().cast::<QUERY_SERVICE_CONFIGW>();
    // SAFETY: a buffer of `size` bytes, aligned, for the configuration.
    if unsafe { QueryServiceConfigW(service.0, config, size, &mut needed) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: filled by QueryServiceConfigW above.
    let path = unsafe { (*config).lpBinaryPathName };
    // SAFETY: lpBinaryPathName is null or a NUL-terminated string inside `buffer`.
    Ok(unsafe { crate::wide::from_ptr(path) })
}

/// Makes sure service `name`'s program path is quoted, so that a path with
/// spaces ("C:\Program Files\...") cannot be taken for a shorter one that a
/// user could create (the unquoted-service-path attack). Installers do not
/// all quote it (Wine's msiexec does not); true if it had to be changed.
pub fn quote_image_path(name: &str) -> std::io::Result<bool> {
    let path = image_path(name)?;
    let Some(quoted) = quoted_image_path(&path) else {
        return Ok(false);
    };
    let service = ServiceHandle::open(name, SERVICE_CHANGE_CONFIG)?;
    let quoted = crate::wide::wide(&quoted);
    // SAFETY: a valid service handle; only the path changes, the rest is SERVICE_NO_CHANGE or null.
    let ok = unsafe {
        ChangeServiceConfigW(
            service.0,
            SERVICE_NO_CHANGE,
            SERVICE_NO_CHANGE,
            SERVICE_NO_CHANGE,
            quoted.as_ptr(),
            std::ptr::null(),
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if ok == 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(true)
}

/// The quoted form of an unquoted ImagePath whose program ends in ".exe";
/// `None` when it is quoted already.
fn quoted_image_path(path: &str) -> Option<String> {
    if path.starts_with('"') {
        return None;
    }
    // The ".exe" that ends the program: followed by the arguments or nothing
    // (a folder may be called "x.exe-tools").
    let lower = path.to_ascii_lowercase();
    let end = lower
        .match_indices(".exe")
        .map(|(at, _)| at + 4)
        .find(|&end| lower[end..].is_empty() || lower[end..].starts_with(' '))?;
    Some(format!("\"{}\"{}", &path[..end], &path[end..]))
}

/// An open handle to a service, closed on drop.
struct ServiceHandle(SC_HANDLE, SC_HANDLE);

impl ServiceHandle {
    fn open(name: &str, access: u32) -> std::io::Result<Self> {
        // SAFETY: connects to the local service manager; checked below.
        let manager =
            unsafe { OpenSCManagerW(std::ptr::null(), std::ptr::null(), SC_MANAGER_CONNECT) };
        if manager.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        let wide_name = crate::wide::wide(name);
        // SAFETY: a valid manager handle and a NUL-terminated name.
        let service = unsafe { OpenServiceW(manager, wide_name.as_ptr(), access) };
        if service.is_null() {
            let error = std::io::Error::last_os_error();
            // SAFETY: the manager handle is ours, closed once.
            unsafe { CloseServiceHandle(manager) };
            return Err(error);
        }
        Ok(Self(service, manager))
    }
}

impl Drop for ServiceHandle {
    fn drop(&mut self) {
        // SAFETY: both handles are ours, closed once.
        unsafe { CloseServiceHandle(self.0) };
        // SAFETY: as above.
        unsafe { CloseServiceHandle(self.1) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unquoted_program_path_is_quoted_and_its_arguments_kept() {
        assert_eq!(
            quoted_image_path(r"C:\Program Files\Pult\Agent\pult-agent.exe service").as_deref(),
            Some(r#""C:\Program Files\Pult\Agent\pult-agent.exe" service"#)
        );
        assert_eq!(
            quoted_image_path(r#""C:\Program Files\x.exe" service"#),
            None
        );
        assert_eq!(
            quoted_image_path(r"C:\Tools\a.exe-kit\pult-agent.exe service").as_deref(),
            Some(r#""C:\Tools\a.exe-kit\pult-agent.exe" service"#)
        );
    }
}
