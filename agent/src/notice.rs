//! What the student must be told, as a state machine without I/O (R1).
//!
//! Every live view (a screen stream) is an open entry until it ends; a
//! screenshot holds its entry for [`SCREENSHOT_NOTICE`] after it was taken.
//! The board answers "what is the notice now?" and "when does it next
//! change by itself?" for a given instant; the service shows the answer
//! through the session helper.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use pult_protocol::local::{Activity, Notice, NoticeEntry};

/// How long the notice stays after a screenshot was taken (R1).
pub const SCREENSHOT_NOTICE: Duration = Duration::from_secs(10);

/// The open views and the notices held after screenshots.
#[derive(Debug, Default)]
pub struct NoticeBoard {
    next_view: u64,
    views: BTreeMap<u64, NoticeEntry>,
    held: BTreeMap<NoticeEntry, Instant>,
}

/// One open view, to end with [`NoticeBoard::end`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ViewId(u64);

impl NoticeBoard {
    /// A view begins (a screen stream): its entry stays until [`Self::end`].
    pub fn begin(&mut self, entry: NoticeEntry) -> ViewId {
        self.next_view += 1;
        self.views.insert(self.next_view, entry);
        ViewId(self.next_view)
    }

    /// A view ended.
    pub fn end(&mut self, view: ViewId) {
        self.views.remove(&view.0);
    }

    /// Keeps `entry` on the notice until `until` at least (a screenshot).
    pub fn hold(&mut self, entry: NoticeEntry, until: Instant) {
        let held = self.held.entry(entry).or_insert(until);
        *held = (*held).max(until);
    }

    /// Ends every hold of `activity` (an unlock ends the lock's entry).
    pub fn release(&mut self, activity: Activity) {
        self.held.retain(|entry, _| entry.activity != activity);
    }

    /// Whether a live view is open (the status a console sees: "watched");
    /// control alone is not a view.
    pub fn is_viewed(&self) -> bool {
        self.views
            .values()
            .any(|entry| entry.activity == Activity::Viewing)
    }

    /// The notice at `now`: every teacher and activity once, in a stable order.
    pub fn notice(&self, now: Instant) -> Notice {
        let entries: BTreeSet<&NoticeEntry> = self
            .views
            .values()
            .chain(
                self.held
                    .iter()
                    .filter(|&(_, &until)| until > now)
                    .map(|(entry, _)| entry),
            )
            .collect();
        Notice {
            entries: entries.into_iter().cloned().collect(),
        }
    }

    /// When the notice next changes without anyone asking: the earliest
    /// hold that ends after `now`. Forgets holds that have ended.
    pub fn next_change(&mut self, now: Instant) -> Option<Instant> {
        self.held.retain(|_, until| *until > now);
        self.held.values().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(teacher: &str) -> NoticeEntry {
        NoticeEntry {
            teacher: teacher.into(),
            room: "101".into(),
            activity: Activity::Viewing,
        }
    }

    #[test]
    fn r1_a_view_is_on_the_notice_until_it_ends() {
        let mut board = NoticeBoard::default();
        let now = Instant::now();
        assert!(!board.notice(now).is_active());
        let first = board.begin(entry("mueller"));
        let second = board.begin(entry("mueller"));
        assert_eq!(
            board.notice(now).entries,
            vec![entry("mueller")],
            "one line per teacher"
        );
        board.end(first);
        assert!(board.is_viewed());
        assert!(
            board.notice(now).is_active(),
            "the second stream is still open"
        );
        board.end(second);
        assert!(!board.notice(now).is_active());
        assert!(!board.is_viewed());
    }

    #[test]
    fn r3_control_is_on_the_notice_but_alone_is_not_a_view() {
        let mut board = NoticeBoard::default();
        let controlled = NoticeEntry {
            activity: Activity::Controlled,
            ..entry("mueller")
        };
        let control = board.begin(controlled.clone());
        assert_eq!(board.notice(Instant::now()).entries, vec![controlled]);
        assert!(!board.is_viewed(), "status says watched only for a view");
        let view = board.begin(entry("mueller"));
        assert!(board.is_viewed());
        board.end(view);
        board.end(control);
        assert!(!board.notice(Instant::now()).is_active());
    }

    #[test]
    fn r1_a_screenshot_keeps_the_notice_for_ten_seconds() {
        let mut board = NoticeBoard::default();
        let taken = Instant::now();
        board.hold(entry("schmidt"), taken + SCREENSHOT_NOTICE);
        assert!(!board.is_viewed(), "a screenshot is not a live view");
        let just_before = taken + SCREENSHOT_NOTICE - Duration::from_millis(1);
        assert_eq!(board.notice(just_before).entries, vec![entry("schmidt")]);
        assert_eq!(board.next_change(taken), Some(taken + SCREENSHOT_NOTICE));
        let after = taken + SCREENSHOT_NOTICE;
        assert!(!board.notice(after).is_active());
        assert_eq!(board.next_change(after), None);
    }

    #[test]
    fn a_second_screenshot_extends_the_hold_and_an_earlier_one_does_not_shorten_it() {
        let mut board = NoticeBoard::default();
        let start = Instant::now();
        board.hold(entry("mueller"), start + Duration::from_secs(20));
        board.hold(entry("mueller"), start + Duration::from_secs(10));
        assert_eq!(
            board.next_change(start),
            Some(start + Duration::from_secs(20))
        );
        let view = board.begin(entry("schmidt"));
        assert_eq!(
            board.notice(start).entries,
            vec![entry("mueller"), entry("schmidt")]
        );
        board.end(view);
        assert_eq!(
            board.notice(start + Duration::from_secs(15)).entries,
            vec![entry("mueller")]
        );
    }

    #[test]
    fn r20_a_lock_is_on_the_notice_until_released_or_timed_out() {
        let mut board = NoticeBoard::default();
        let start = Instant::now();
        let locked = NoticeEntry {
            activity: Activity::Locked,
            ..entry("mueller")
        };
        board.hold(locked.clone(), start + Duration::from_secs(1800));
        board.hold(entry("mueller"), start + SCREENSHOT_NOTICE);
        assert_eq!(
            board.notice(start).entries,
            vec![entry("mueller"), locked.clone()]
        );
        board.release(Activity::Locked);
        assert_eq!(board.notice(start).entries, vec![entry("mueller")]);
        board.hold(locked.clone(), start + Duration::from_secs(60));
        assert_eq!(
            board.notice(start + Duration::from_secs(60)).entries,
            Vec::<NoticeEntry>::new(),
            "the lock's entry ends with its timeout"
        );
    }
}
