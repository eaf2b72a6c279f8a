//! The student's desktop as the service reaches it: through whichever
//! session helper is connected now, with the notice (R1) kept in step.
//!
//! No notice, no view: a screen stream or screenshot begins only once the
//! helper confirmed that the notice is on the screen; without a helper, or
//! when it cannot show the notice, the request is refused with
//! [`ErrorCode::CannotNotify`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pult_protocol::broadcast::BroadcastMode;
use pult_protocol::input::{Controller, InputEvent};
use pult_protocol::local::{
    Activity, BroadcastView, CapturedFrame, FromHelper, LockScreen, NoticeEntry, TeacherMessage,
    ToHelper,
};
use pult_protocol::message::{ErrorCode, ErrorReply, Screenshot};
use pult_protocol::watch::{ScreenUpdate, WatchSettings};
use tokio::sync::{Notify, watch};

use crate::helper::HelperCore;
use crate::link::HelperLink;
use crate::notice::{NoticeBoard, SCREENSHOT_NOTICE, ViewId};

/// How long the helper may take to show the notice or answer a small request.
const ANSWER: Duration = Duration::from_secs(2);
/// How long a capture or screenshot may take (a 4K PNG on a slow machine).
const CAPTURE: Duration = Duration::from_secs(20);
/// How long a lock lasts when nobody ends it (R20): a lesson and a half.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The desktop of the active session, through its helper.
pub struct Desktop {
    helper: watch::Sender<Option<HelperLink>>,
    board: Mutex<NoticeBoard>,
    /// Serialises showing the notice, so the last notice sent is the newest.
    showing: tokio::sync::Mutex<()>,
    /// Puts broadcasts up one at a time, each checked again afterwards.
    broadcast_showing: tokio::sync::Mutex<()>,
    changed: Arc<Notify>,
    viewed: watch::Sender<bool>,
    /// The lock (R20): kept here, not in the helper, so it outlives
    /// consoles, helpers and sessions until unlocked or timed out.
    lock: Mutex<Option<Lock>>,
    lock_timeout: Mutex<Duration>,
    /// Serialises telling the helper about the lock, as `showing` does.
    locking: tokio::sync::Mutex<()>,
    /// Who controls mouse and keyboard now (R3): one console at a time.
    controller: Mutex<Option<NoticeEntry>>,
    /// Whose broadcast is shown (R7), and which turn it is: a broadcast ends
    /// when the turn moves on (replaced, the screen locked), with the reason.
    broadcaster: Mutex<Option<NoticeEntry>>,
    broadcast_turn: watch::Sender<(u64, Option<ErrorReply>)>,
}

/// A lock in force.
#[derive(Clone, Debug)]
struct Lock {
    screen: LockScreen,
    until: Instant,
}

impl Desktop {
    /// A desktop without a helper yet; the task that keeps the notice in
    /// step with time and helper changes runs until the desktop is dropped.
    pub fn new() -> Arc<Self> {
        let desktop = Arc::new(Self {
            helper: watch::Sender::new(None),
            board: Mutex::default(),
            showing: tokio::sync::Mutex::new(()),
            broadcast_showing: tokio::sync::Mutex::new(()),
            changed: Arc::new(Notify::new()),
            viewed: watch::Sender::new(false),
            lock: Mutex::default(),
            lock_timeout: Mutex::new(LOCK_TIMEOUT),
            locking: tokio::sync::Mutex::new(()),
            controller: Mutex::default(),
            broadcaster: Mutex::default(),
            broadcast_turn: watch::Sender::new((0, None)),
        });
        tokio::spawn(keep_notice(Arc::downgrade(&desktop)));
        desktop
    }

    /// A desktop served for good by a helper joined in memory (the demo
    /// classroom, a single-process agent).
    pub fn joined(core: Arc<HelperCore>) -> Arc<Self> {
        let desktop = Self::new();
        desktop.connect(HelperLink::joined(core));
        desktop
    }

    /// A helper connected (or reconnected): it is asked to show the notice
    /// as it stands, and serves every request from now on.
    pub fn connect(&self, helper: HelperLink) {
        self.helper.send_replace(Some(helper));
        self.changed.notify_one();
    }

    /// The helper went away (its session ended, or it died).
    pub fn disconnect(&self) {
        self.helper.send_replace(None);
    }

    /// The connected helper, if any.
    pub fn helper(&self) -> Option<HelperLink> {
        self.helper.borrow().clone().filter(|h| !h.is_closed())
    }

    /// Whether a live view is open (what consoles see as "watched").
    pub fn is_viewed(&self) -> bool {
        *self.viewed.borrow()
    }

    /// Follows [`Self::is_viewed`].
    pub fn subscribe_viewed(&self) -> watch::Receiver<bool> {
        self.viewed.subscribe()
    }

    /// Begins a live view by `entry`: returns once the student sees the
    /// notice; the view lasts until the guard is dropped.
    pub async fn begin_view(self: &Arc<Self>, entry: NoticeEntry) -> Result<ViewGuard, ErrorReply> {
        let view = self.board().begin(entry);
        let guard = ViewGuard {
            desktop: self.clone(),
            view,
        };
        self.update_viewed();
        self.show_notice().await?;
        Ok(guard)
    }

    /// Takes a screenshot for `entry`: the notice is shown first and stays
    /// for [`SCREENSHOT_NOTICE`] after (R1, R2).
    pub async fn screenshot(&self, entry: NoticeEntry) -> Result<Screenshot, ErrorReply> {
        self.board()
            .hold(entry.clone(), Instant::now() + SCREENSHOT_NOTICE);
        self.show_notice().await?;
        let answer = self.request(ToHelper::Screenshot, CAPTURE).await?;
        // The notice stays ten seconds from when the picture was taken.
        self.board().hold(entry, Instant::now() + SCREENSHOT_NOTICE);
        self.changed.notify_one();
        match answer {
            FromHelper::Screenshot(screenshot) => Ok(screenshot),
            other => Err(unexpected(&other)),
        }
    }

    /// Begins remote control by `entry`'s teacher (R3): refused with
    /// [`ErrorCode::InUse`], naming who, while another console controls, and
    /// with [`ErrorCode::Locked`] while the screen is locked;
    /// returns once the student sees that they are controlled. Control lasts
    /// until the guard is dropped, which lets go of every key and button.
    pub async fn begin_control(
        self: &Arc<Self>,
        entry: NoticeEntry,
    ) -> Result<ControlGuard, ErrorReply> {
        // The lock screen holds keyboard and mouse (R20): input would go nowhere.
        if let Some(lock) = self.current_lock() {
            return Err(ErrorReply::new(
                ErrorCode::Locked,
                format!(
                    "the screen is locked by {} (room {}); unlock it to control the computer",
                    lock.screen.teacher, lock.screen.room
                ),
            ));
        }
        {
            let mut controller = self.controller.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(other) = controller.as_ref() {
                let who = Controller {
                    user: other.teacher.clone(),
                    room: other.room.clone(),
                };
                return Err(ErrorReply::new(ErrorCode::InUse, who.message()));
            }
            *controller = Some(entry.clone());
        }
        let guard = ControlGuard {
            desktop: self.clone(),
            view: self.board().begin(entry),
        };
        self.show_notice().await?;
        Ok(guard)
    }

    /// Begins showing `entry`'s broadcast (R7) in `mode`: refused with
    /// [`ErrorCode::Locked`] while the screen is locked, and with
    /// [`ErrorCode::InUse`], naming who, while another teacher broadcasts
    /// (the same teacher's newer broadcast replaces the older). Returns once
    /// the student is told and the broadcast's windows are up; it lasts
    /// until the guard is dropped.
    pub async fn begin_broadcast(
        self: &Arc<Self>,
        entry: NoticeEntry,
        mode: BroadcastMode,
    ) -> Result<BroadcastGuard, ErrorReply> {
        if let Some(lock) = self.current_lock() {
            return Err(ErrorReply::new(
                ErrorCode::Locked,
                format!(
                    "the screen is locked by {} (room {}); unlock it to show a broadcast",
                    lock.screen.teacher, lock.screen.room
                ),
            ));
        }
        let helper = self.helper().ok_or_else(no_helper)?;
        let turn = {
            let mut broadcaster = self.broadcaster.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(other) = broadcaster.as_ref()
                && (&other.teacher, &other.room) != (&entry.teacher, &entry.room)
            {
                let who = Controller {
                    user: other.teacher.clone(),
                    room: other.room.clone(),
                };
                return Err(ErrorReply::new(ErrorCode::InUse, who.message()));
            }
            *broadcaster = Some(entry.clone());
            let replaced = ErrorReply::new(
                ErrorCode::InUse,
                "a newer broadcast of the same teacher took its place",
            );
            self.move_broadcast_turn(replaced)
        };
        let guard = BroadcastGuard {
            desktop: self.clone(),
            view: self.board().begin(entry.clone()),
            turn,
            helpers: self.helper.subscribe(),
        };
        self.show_notice().await?;
        let _one_at_a_time = self.broadcast_showing.lock().await;
        self.broadcast_stands(turn)?;
        let view = BroadcastView {
            teacher: entry.teacher,
            room: entry.room,
            mode,
        };
        match helper
            .request(ToHelper::Broadcast(Some(view)), ANSWER)
            .await?
        {
            FromHelper::Done => {}
            other => return Err(unexpected(&other)),
        }
        // A lock or an end that came meanwhile may have reached the helper
        // before this broadcast did: then its windows go again now.
        if let Err(why) = self.broadcast_stands(turn) {
            let nobody = self
                .broadcaster
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_none();
            if nobody {
                helper.request(ToHelper::Broadcast(None), ANSWER).await?;
            }
            return Err(why);
        }
        Ok(guard)
    }

    /// Whether broadcast `turn` is still to be shown: no newer turn, and
    /// the screen not locked (a lock that slipped in ends it here).
    fn broadcast_stands(&self, turn: u64) -> Result<(), ErrorReply> {
        if let Some(lock) = self.current_lock() {
            let why = locked_by(&lock.screen);
            self.end_broadcast(why.clone());
            return Err(why);
        }
        let turns = self.broadcast_turn.borrow();
        if turns.0 == turn {
            return Ok(());
        }
        Err(turns
            .1
            .clone()
            .unwrap_or_else(|| ErrorReply::new(ErrorCode::Internal, "the broadcast was ended")))
    }

    /// Shows the broadcast's next picture; returns once it is on the screen.
    pub async fn broadcast_picture(&self, update: ScreenUpdate) -> Result<(), ErrorReply> {
        match self
            .request(ToHelper::BroadcastPicture(update), CAPTURE)
            .await?
        {
            FromHelper::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Ends the broadcast shown now, if any, telling its stream why.
    fn end_broadcast(&self, why: ErrorReply) {
        let mut broadcaster = self.broadcaster.lock().unwrap_or_else(|p| p.into_inner());
        if broadcaster.take().is_some() {
            self.move_broadcast_turn(why);
            if let Some(helper) = self.helper() {
                helper.tell(ToHelper::Broadcast(None));
            }
        }
    }

    /// The next broadcast's turn; the one before ends with `why`.
    fn move_broadcast_turn(&self, why: ErrorReply) -> u64 {
        let mut turn = 0;
        self.broadcast_turn.send_modify(|(number, reason)| {
            *number += 1;
            *reason = Some(why);
            turn = *number;
        });
        turn
    }

    /// Applies one input event in the session, after those sent before it.
    pub async fn input(&self, event: InputEvent) -> Result<(), ErrorReply> {
        match self.request(ToHelper::Input(event), ANSWER).await? {
            FromHelper::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// The text on the student's clipboard, read in order with the input
    /// before it (R3: clipboard text both ways while controlling).
    pub async fn read_clipboard(&self) -> Result<String, ErrorReply> {
        match self
            .request(ToHelper::Input(InputEvent::ReadClipboard), ANSWER)
            .await?
        {
            FromHelper::Clipboard(text) => Ok(text),
            other => Err(unexpected(&other)),
        }
    }

    /// Sets how long a lock lasts unless ended ([`LOCK_TIMEOUT`] by default).
    pub fn set_lock_timeout(&self, timeout: Duration) {
        *self.lock_timeout.lock().unwrap_or_else(|p| p.into_inner()) = timeout;
    }

    /// Shows the student a message window; returns once it is on the screen.
    pub async fn message(&self, message: TeacherMessage) -> Result<(), ErrorReply> {
        match self.request(ToHelper::Message(message), ANSWER).await {
            Ok(FromHelper::Done) => Ok(()),
            Ok(other) => Err(unexpected(&other)),
            Err(error) if error.code == ErrorCode::CannotNotify => Err(ErrorReply::new(
                ErrorCode::CannotNotify,
                "nobody is logged on to read the message",
            )),
            Err(error) => Err(error),
        }
    }

    /// Locks the screen (R20) with `screen` until [`Self::unlock`] or the
    /// lock timeout; a lock in force gets the new words and a new timeout.
    /// With nobody logged on the lock waits for the next session, which
    /// begins locked.
    pub async fn lock(&self, screen: LockScreen) -> Result<(), ErrorReply> {
        let timeout = *self.lock_timeout.lock().unwrap_or_else(|p| p.into_inner());
        let entry = NoticeEntry {
            teacher: screen.teacher.clone(),
            room: screen.room.clone(),
            activity: Activity::Locked,
        };
        let until = Instant::now() + timeout;
        // The lock covers a broadcast; the broadcast ends and says why.
        self.end_broadcast(locked_by(&screen));
        *self.locked() = Some(Lock { screen, until });
        {
            let mut board = self.board();
            board.release(Activity::Locked);
            board.hold(entry, until);
        }
        self.changed.notify_one();
        if self.helper().is_none() {
            return Ok(());
        }
        self.show_lock().await?;
        // Whatever else is shown, the student is told why the screen is locked.
        self.show_notice().await
    }

    /// Ends the lock, if any; returns once the lock screen is gone.
    pub async fn unlock(&self) -> Result<(), ErrorReply> {
        *self.locked() = None;
        self.board().release(Activity::Locked);
        self.changed.notify_one();
        if self.helper().is_none() {
            return Ok(());
        }
        self.show_lock().await
    }

    /// Who locked the screen, while it is locked.
    pub fn locked_by(&self) -> Option<String> {
        self.current_lock().map(|lock| lock.screen.teacher)
    }

    /// The lock in force now; forgets one that has timed out.
    fn current_lock(&self) -> Option<Lock> {
        let mut lock = self.locked();
        if lock.as_ref().is_some_and(|l| l.until <= Instant::now()) {
            *lock = None;
        }
        lock.clone()
    }

    /// Tells the helper the lock as it stands now and waits until it is shown.
    async fn show_lock(&self) -> Result<(), ErrorReply> {
        let _one_at_a_time = self.locking.lock().await;
        let screen = self.current_lock().map(|lock| lock.screen);
        let helper = self.helper().ok_or_else(no_helper)?;
        match helper.request(ToHelper::Lock(screen), ANSWER).await? {
            FromHelper::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, Option<Lock>> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Captures for screen stream `stream` (see [`ToHelper::Capture`]).
    pub async fn capture(
        &self,
        stream: u64,
        settings: WatchSettings,
        whole_picture: bool,
    ) -> Result<Option<CapturedFrame>, ErrorReply> {
        let request = ToHelper::Capture {
            stream,
            settings,
            whole_picture,
        };
        match self.request(request, CAPTURE).await? {
            FromHelper::Captured(frame) => Ok(frame),
            other => Err(unexpected(&other)),
        }
    }

    /// Screen stream `stream` ended.
    pub fn end_stream(&self, stream: u64) {
        if let Some(helper) = self.helper() {
            helper.tell(ToHelper::EndStream { stream });
        }
    }

    /// The monitors, as width × height; none without a session.
    pub async fn monitors(&self) -> Vec<(u32, u32)> {
        match self.request(ToHelper::Monitors, ANSWER).await {
            Ok(FromHelper::Monitors(monitors)) => monitors,
            _ => Vec::new(),
        }
    }

    /// Opens a web page or starts a program as the student.
    pub async fn act(&self, request: ToHelper) -> Result<(), ErrorReply> {
        // Without a helper there is no student to start anything for.
        match self.request(request, ANSWER).await {
            Ok(FromHelper::Done) => Ok(()),
            Ok(other) => Err(unexpected(&other)),
            Err(error) if error.code == ErrorCode::CannotNotify => Err(ErrorReply::new(
                ErrorCode::ProgramFailed,
                "no student session is running on this computer",
            )),
            Err(error) => Err(error),
        }
    }

    /// Passes a file request (R6) to the helper, which writes and reads as
    /// the student; without a session there is nobody to send files to.
    pub async fn files(&self, request: ToHelper) -> Result<FromHelper, ErrorReply> {
        self.request(request, CAPTURE).await
    }

    async fn request(&self, body: ToHelper, timeout: Duration) -> Result<FromHelper, ErrorReply> {
        let Some(helper) = self.helper() else {
            return Err(no_helper());
        };
        helper.request(body, timeout).await
    }

    /// Shows the notice as it stands now and waits until it is shown.
    async fn show_notice(&self) -> Result<(), ErrorReply> {
        let _one_at_a_time = self.showing.lock().await;
        let notice = self.board().notice(Instant::now());
        let helper = self.helper().ok_or_else(no_helper)?;
        match helper.request(ToHelper::Notice(notice), ANSWER).await? {
            FromHelper::NoticeShown => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    fn update_viewed(&self) {
        let viewed = self.board().is_viewed();
        self.viewed
            .send_if_modified(|now| std::mem::replace(now, viewed) != viewed);
    }

    fn board(&self) -> std::sync::MutexGuard<'_, NoticeBoard> {
        self.board.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One open live view; ends it (and, with the last, the notice) when dropped.
pub struct ViewGuard {
    desktop: Arc<Desktop>,
    view: ViewId,
}

impl Drop for ViewGuard {
    fn drop(&mut self) {
        self.desktop.board().end(self.view);
        self.desktop.update_viewed();
        self.desktop.changed.notify_one();
    }
}

/// Remote control in progress; ends it when dropped: every key and button
/// is let go, the notice no longer says "controlled", another may control.
pub struct ControlGuard {
    desktop: Arc<Desktop>,
    view: ViewId,
}

impl Drop for ControlGuard {
    fn drop(&mut self) {
        if let Some(helper) = self.desktop.helper() {
            helper.tell(ToHelper::Input(InputEvent::ReleaseAll));
        }
        *self
            .desktop
            .controller
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
        self.desktop.board().end(self.view);
        self.desktop.changed.notify_one();
    }
}

/// A broadcast shown (R7); ends it when dropped: the windows go, the
/// desktop comes back, the notice no longer says "broadcast".
pub struct BroadcastGuard {
    desktop: Arc<Desktop>,
    view: ViewId,
    turn: u64,
    helpers: watch::Receiver<Option<HelperLink>>,
}

impl BroadcastGuard {
    /// Resolves when the broadcast must end before its console ends it:
    /// replaced, the screen locked, the student's session gone; with why.
    pub async fn ended(&mut self) -> ErrorReply {
        let mut turns = self.desktop.broadcast_turn.subscribe();
        let turn = self.turn;
        tokio::select! {
            moved = turns.wait_for(|(number, _)| *number != turn) => match moved {
                Ok(moved) => moved.1.clone().unwrap_or_else(|| {
                    ErrorReply::new(ErrorCode::Internal, "the broadcast was ended")
                }),
                Err(_) => ErrorReply::new(ErrorCode::Internal, "the agent is stopping"),
            },
            _ = self.helpers.changed() => ErrorReply::new(
                ErrorCode::CannotNotify,
                "the student's session changed; the broadcast begins again in the new one",
            ),
        }
    }
}

impl Drop for BroadcastGuard {
    fn drop(&mut self) {
        // Under the lock that begins broadcasts: a newer one is left alone.
        let mut broadcaster = self
            .desktop
            .broadcaster
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if self.desktop.broadcast_turn.borrow().0 == self.turn {
            *broadcaster = None;
            if let Some(helper) = self.desktop.helper() {
                helper.tell(ToHelper::Broadcast(None));
            }
        }
        drop(broadcaster);
        self.desktop.board().end(self.view);
        self.desktop.changed.notify_one();
    }
}

/// Why a broadcast ended: `screen` locked it away.
fn locked_by(screen: &LockScreen) -> ErrorReply {
    ErrorReply::new(
        ErrorCode::Locked,
        format!(
            "the screen was locked by {} (room {})",
            screen.teacher, screen.room
        ),
    )
}

fn no_helper() -> ErrorReply {
    ErrorReply::new(
        ErrorCode::CannotNotify,
        "the student cannot be notified: no session helper is running (nobody logged on, or it is restarting)",
    )
}

/// The helper answered something other than what was asked for; the
/// answer is named in at most 200 characters (it may carry a file's bytes).
pub(crate) fn unexpected(answer: &FromHelper) -> ErrorReply {
    /// Takes 200 characters, then stops the formatting: a megabyte of
    /// bytes is never spelled out in full first.
    struct Capped(String, usize);
    impl std::fmt::Write for Capped {
        fn write_str(&mut self, text: &str) -> std::fmt::Result {
            for c in text.chars() {
                if self.1 == 0 {
                    self.0.push('…');
                    return Err(std::fmt::Error);
                }
                self.0.push(c);
                self.1 -= 1;
            }
            Ok(())
        }
    }
    let mut capped = Capped(String::new(), 200);
    let _ = std::fmt::Write::write_fmt(&mut capped, format_args!("{answer:?}"));
    let said = capped.0;
    ErrorReply::new(
        ErrorCode::Internal,
        format!("the session helper answered out of turn: {said}"),
    )
}

/// Keeps the notice and the lock in step: after a view ends, when a
/// screenshot's hold or a lock runs out, and when a new helper connects
/// (it shows what is current).
async fn keep_notice(desktop: std::sync::Weak<Desktop>) {
    let (mut helpers, changed) = match desktop.upgrade() {
        Some(desktop) => (desktop.helper.subscribe(), desktop.changed.clone()),
        None => return,
    };
    loop {
        let Some(strong) = desktop.upgrade() else {
            return;
        };
        let next = strong.board().next_change(Instant::now());
        if let Err(error) = strong.show_notice().await
            && strong.helper().is_some()
        {
            tracing::warn!("could not update the notice: {}", error.message);
        }
        // A new helper (a session begun, a helper restarted) is locked as the
        // service is; a lock that timed out ends here.
        if let Err(error) = strong.show_lock().await
            && strong.helper().is_some()
        {
            tracing::warn!("could not update the lock screen: {}", error.message);
        }
        drop(strong);
        let until = next.map_or_else(
            || tokio::time::Instant::now() + Duration::from_secs(3600),
            tokio::time::Instant::from_std,
        );
        tokio::select! {
            () = changed.notified() => {}
            () = tokio::time::sleep_until(until) => {}
            result = helpers.changed() => if result.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_out_of_turn_is_named_short_however_large_it_is() {
        let error = unexpected(&FromHelper::FileBytes(vec![7; 1 << 20]));
        assert!(
            error
                .message
                .starts_with("the session helper answered out of turn: FileBytes([")
        );
        assert!(error.message.ends_with('…'), "{}", error.message);
        assert!(
            error.message.chars().count() < 260,
            "{}",
            error.message.len()
        );
        let error = unexpected(&FromHelper::Done);
        assert!(error.message.ends_with(": Done"), "{}", error.message);
    }
}
