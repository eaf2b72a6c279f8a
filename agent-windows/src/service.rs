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
