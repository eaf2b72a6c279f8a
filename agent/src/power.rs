//! Power actions on this computer (restart, shut down, log off) after a
//! delay the student is told of, and waking the room's other computers for
//! a console whose own magic packets do not reach them (a room behind a
//! router).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pult_protocol::message::{ErrorCode, ErrorReply};
use pult_protocol::power::{Mac, PowerAction};
use tokio::task::AbortHandle;

/// Who carries power actions out.
#[derive(Clone, Debug)]
pub enum PowerControl {
    /// The system: logind on Linux, Windows' shutdown and WTS calls.
    System,
    /// Lines "reboot", "shutdown", "logoff" appended to a file instead (the
    /// demo classroom, tests): a machine's own tests must not restart it.
    Record(PathBuf),
}

impl PowerControl {
    async fn carry_out(&self, action: PowerAction) -> Result<(), String> {
        match self {
            Self::Record(file) => {
                crate::actions::record(file, action.as_str()).map_err(|e| e.message)
            }
            Self::System => crate::platform::power(action).await,
        }
    }
}

/// The power action waiting for its delay to pass, at most one: a newer
/// request replaces it, a cancel calls it off.
pub struct PowerPlan {
    control: PowerControl,
    waiting: Mutex<Option<(PowerAction, AbortHandle)>>,
    /// Where magic packets go besides this computer's own networks.
    wake_targets: Vec<SocketAddr>,
}

impl PowerPlan {
    /// Power actions by `control`; magic packets also to `extra_broadcasts`.
    pub fn new(control: PowerControl, extra_broadcasts: Vec<SocketAddr>) -> Arc<Self> {
        Arc::new(Self {
            control,
            waiting: Mutex::new(None),
            wake_targets: extra_broadcasts,
        })
    }

    /// Carries `action` out after `delay` (replacing one still waiting).
    pub fn schedule(self: &Arc<Self>, action: PowerAction, delay: Duration) {
        // The task holds the plan weakly: a plan dropped (the agent stopped)
        // takes its waiting action with it.
        let plan = Arc::downgrade(self);
        let control = self.control.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(plan) = plan.upgrade() {
                plan.waiting().take();
            }
            tracing::info!("power: {action} now");
            if let Err(error) = control.carry_out(action).await {
                tracing::error!("power: could not {action}: {error}");
            }
        });
        if let Some((previous, waiting)) = self.waiting().replace((action, task.abort_handle())) {
            waiting.abort();
            tracing::info!("power: {previous} replaced by {action}");
        }
    }

    /// Calls off the action still waiting; says which, if any.
    pub fn cancel(&self) -> Option<PowerAction> {
        let (action, waiting) = self.waiting().take()?;
        waiting.abort();
        Some(action)
    }

    /// The action waiting, if any.
    pub fn waiting_action(&self) -> Option<PowerAction> {
        self.waiting().as_ref().map(|(action, _)| *action)
    }

    /// Sends magic packets for `macs` on this computer's networks; only
    /// for MACs in `allowed` (the room grant's), so a console cannot use
    /// the agent to wake machines outside its room.
    pub fn wake(&self, macs: &[Mac], allowed: &[Mac]) -> Result<usize, ErrorReply> {
        if macs.len() > pult_protocol::power::MAX_WAKE {
            return Err(ErrorReply::new(
                ErrorCode::WakeRefused,
                format!(
                    "{} devices at once; at most {} are woken by one request",
                    macs.len(),
                    pult_protocol::power::MAX_WAKE
                ),
            ));
        }
        if let Some(stranger) = macs.iter().find(|mac| !allowed.contains(mac)) {
            return Err(ErrorReply::new(
                ErrorCode::WakeRefused,
                format!("{stranger} is not a steerable device of the certificate's room"),
            ));
        }
        let targets = pult_protocol::power::wake_targets(&self.wake_targets);
        pult_protocol::power::send_magic_packets(macs, &targets).map_err(|error| {
            ErrorReply::new(
                ErrorCode::PowerFailed,
                format!("no magic packet could be sent: {error}"),
            )
        })
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Option<(PowerAction, AbortHandle)>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for PowerPlan {
    fn drop(&mut self) {
        if let Some((_, waiting)) = self.waiting().take() {
            waiting.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(file: &std::path::Path) -> String {
        std::fs::read_to_string(file).unwrap_or_default()
    }

    #[tokio::test(start_paused = true)]
    async fn an_action_waits_for_its_delay_a_newer_one_replaces_it_and_a_cancel_calls_it_off() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("power.txt");
        let plan = PowerPlan::new(PowerControl::Record(file.clone()), vec![]);
        plan.schedule(PowerAction::Shutdown, Duration::from_secs(60));
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(recorded(&file), "");
        plan.schedule(PowerAction::Reboot, Duration::from_secs(60));
        assert_eq!(plan.waiting_action(), Some(PowerAction::Reboot));
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert_eq!(recorded(&file), "", "the shutdown was replaced");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(recorded(&file), "reboot\n");
        assert_eq!(plan.waiting_action(), None);

        plan.schedule(PowerAction::Logoff, Duration::from_secs(10));
        assert_eq!(plan.cancel(), Some(PowerAction::Logoff));
        assert_eq!(plan.cancel(), None);
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(recorded(&file), "reboot\n");

        // An agent that stops takes its waiting action with it.
        plan.schedule(PowerAction::Shutdown, Duration::from_secs(10));
        drop(plan);
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(recorded(&file), "reboot\n");
    }

    #[test]
    fn only_the_rooms_devices_are_woken() {
        let plan = PowerPlan::new(PowerControl::Record("/nonexistent".into()), vec![]);
        let room: Vec<Mac> = vec!["00:1a:2b:3c:4d:5e".parse().unwrap()];
        let stranger: Mac = "00:1a:2b:3c:4d:ff".parse().unwrap();
        let refused = plan.wake(&[room[0], stranger], &room).unwrap_err();
        assert_eq!(refused.code, ErrorCode::WakeRefused);
        assert!(refused.message.contains("00:1a:2b:3c:4d:ff"), "{refused}");
        let many = vec![room[0]; pult_protocol::power::MAX_WAKE + 1];
        assert_eq!(
            plan.wake(&many, &room).unwrap_err().code,
            ErrorCode::WakeRefused
        );
    }
}
