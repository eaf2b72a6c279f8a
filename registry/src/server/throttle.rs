//! Slowing down password guessing (R16): per account and per source
//! address, a few failures are free, then each further attempt must wait
//! twice as long as the one before, up to a ceiling. A pure state machine
//! driven by the caller's clock, so it is tested without waiting.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Failures allowed before any waiting.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait between attempts.
pub const MAX_WAIT: Duration = Duration::from_secs(300);
/// After this long without a failure, a key's count starts again.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// At most this many keys are tracked; the oldest are dropped beyond it, so a
/// flood of made-up user names cannot fill the memory.
const MAX_KEYS: usize = 100_000;

/// Failures per key (an account, a source address).
pub struct Throttle<K> {
    failures: HashMap<K, Record>,
}

#[derive(Clone, Copy)]
struct Record {
    count: u32,
    last: Instant,
}

impl<K: Eq + Hash + Clone> Default for Throttle<K> {
    fn default() -> Self {
        Self {
            failures: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash + Clone> Throttle<K> {
    /// How long `key` must still wait before its next attempt, if at all.
    pub fn wait(&self, key: &K, now: Instant) -> Option<Duration> {
        let record = self.failures.get(key)?;
        if now.saturating_duration_since(record.last) >= FORGET_AFTER {
            return None;
        }
        let until = record.last + delay(record.count);
        until.checked_duration_since(now).filter(|d| !d.is_zero())
    }

    /// Records a failed attempt of `key`.
    pub fn failed(&mut self, key: K, now: Instant) {
        if self.failures.len() >= MAX_KEYS {
            self.failures
                .retain(|_, r| now.saturating_duration_since(r.last) < FORGET_AFTER);
            if self.failures.len() >= MAX_KEYS
                && let Some(oldest) = self
                    .failures
                    .iter()
                    .min_by_key(|(_, r)| r.last)
                    .map(|(k, _)| k.clone())
            {
                self.failures.remove(&oldest);
            }
        }
        let record = self.failures.entry(key).or_insert(Record {
            count: 0,
            last: now,
        });
        if now.saturating_duration_since(record.last) >= FORGET_AFTER {
            record.count = 0;
        }
        record.count = record.count.saturating_add(1);
        record.last = now;
    }

    /// Takes back one failure of `key` (an attempt counted from its start that succeeded).
    pub fn forgive(&mut self, key: &K) {
        if let Some(record) = self.failures.get_mut(key) {
            record.count = record.count.saturating_sub(1);
            if record.count == 0 {
                self.failures.remove(key);
            }
        }
    }

    /// Forgets `key`'s failures after it succeeded.
    pub fn succeeded(&mut self, key: &K) {
        self.failures.remove(key);
    }
}

/// The wait after `count` failures: none for the free ones, then 1 s, 2 s, 4 s, … up to [`MAX_WAIT`].
fn delay(count: u32) -> Duration {
    if count < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (count - FREE_FAILURES).min(16);
    Duration::from_secs(1u64 << doublings).min(MAX_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_failures_are_free_then_the_wait_doubles_up_to_its_ceiling() {
        let mut throttle = Throttle::default();
        let start = Instant::now();
        for _ in 0..FREE_FAILURES - 1 {
            throttle.failed("mueller", start);
            assert_eq!(throttle.wait(&"mueller", start), None);
        }
        throttle.failed("mueller", start);
        assert_eq!(
            throttle.wait(&"mueller", start),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            throttle.wait(&"mueller", start + Duration::from_secs(1)),
            None
        );
        throttle.failed("mueller", start + Duration::from_secs(1));
        assert_eq!(
            throttle.wait(&"mueller", start + Duration::from_secs(1)),
            Some(Duration::from_secs(2))
        );
        let mut now = start;
        for _ in 0..20 {
            now += MAX_WAIT;
            throttle.failed("mueller", now);
        }
        assert_eq!(throttle.wait(&"mueller", now), Some(MAX_WAIT));
        // Another key is not held back.
        assert_eq!(throttle.wait(&"schmidt", now), None);
        // A success forgets; so does a quarter of an hour of quiet.
        throttle.succeeded(&"mueller");
        assert_eq!(throttle.wait(&"mueller", now), None);
        for _ in 0..FREE_FAILURES + 3 {
            throttle.failed("schmidt", now);
        }
        assert!(throttle.wait(&"schmidt", now).is_some());
        assert_eq!(throttle.wait(&"schmidt", now + FORGET_AFTER), None);
        throttle.failed("schmidt", now + FORGET_AFTER);
        assert_eq!(
            throttle.wait(&"schmidt", now + FORGET_AFTER),
            None,
            "counting starts again"
        );
    }

    #[test]
    fn attempts_counted_from_their_start_hold_back_side_by_side_guesses() {
        let mut throttle = Throttle::default();
        let now = Instant::now();
        // Ten guesses arrive together: each is counted before it is checked.
        let mut let_through = 0;
        for _ in 0..10 {
            if throttle.wait(&"source", now).is_none() {
                throttle.failed("source", now);
                let_through += 1;
            }
        }
        assert_eq!(let_through, FREE_FAILURES);
        // One of them was right: forgiven, the others still count.
        throttle.forgive(&"source");
        assert_eq!(throttle.wait(&"source", now), None);
        for _ in 0..FREE_FAILURES {
            throttle.forgive(&"source");
        }
        assert!(throttle.failures.is_empty());
    }

    #[test]
    fn a_flood_of_keys_stays_bounded() {
        let mut throttle = Throttle::default();
        let now = Instant::now();
        for i in 0..MAX_KEYS + 10 {
            throttle.failed(i, now);
        }
        assert!(throttle.failures.len() <= MAX_KEYS);
    }
}
