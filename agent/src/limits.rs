//! What one console connection may ask of the agent at once: at most two
//! screen streams, screenshots at a bounded rate, and a first message on every
//! stream within a few seconds. The transport limits (streams, windows) are in
//! `pult_protocol::endpoint::agent_transport_config`.
//!
//! The screenshot rate is a token bucket: a pure state machine driven by the
//! `Instant` it is given, tested without a clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pult_protocol::message::{ErrorCode, ErrorReply};

/// Screen streams one connection may have open at once: the thumbnail and
/// the full view.
pub const MAX_SCREEN_STREAMS: usize = 2;

/// Screenshots one connection may take in a burst.
pub const SCREENSHOT_BURST: u32 = 3;

/// After a burst, one screenshot per this long.
pub const SCREENSHOT_INTERVAL: Duration = Duration::from_secs(1);

/// How long a new stream may take to send its hello before it is dropped.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// The limits of one connection.
#[derive(Debug)]
pub struct ConnectionLimits {
    screen_streams: Arc<AtomicUsize>,
    screenshots: Mutex<TokenBucket>,
}

impl ConnectionLimits {
    /// The limits of a connection that begins at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            screen_streams: Arc::default(),
            screenshots: Mutex::new(TokenBucket::new(SCREENSHOT_BURST, SCREENSHOT_INTERVAL, now)),
        }
    }

    /// A place for one more screen stream, held until the slot is dropped;
    /// refused with `too-many-streams` when [`MAX_SCREEN_STREAMS`] are open.
    pub fn screen_stream(&self) -> Result<ScreenStreamSlot, ErrorReply> {
        let open = &self.screen_streams;
        let taken = open.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |count| {
            (count < MAX_SCREEN_STREAMS).then_some(count + 1)
        });
        match taken {
            Ok(_) => Ok(ScreenStreamSlot(open.clone())),
            Err(_) => Err(ErrorReply::new(
                ErrorCode::TooManyStreams,
                format!(
                    "this connection already has {MAX_SCREEN_STREAMS} screen streams open; \
                     close one first"
                ),
            )),
        }
    }

    /// Whether a screenshot may be taken at `now`; refused with `rate-limited` if not.
    pub fn screenshot(&self, now: Instant) -> Result<(), ErrorReply> {
        let mut bucket = self
            .screenshots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if bucket.take(now) {
            Ok(())
        } else {
            Err(ErrorReply::new(
                ErrorCode::RateLimited,
                format!(
                    "more than {SCREENSHOT_BURST} screenshots at once, or more than one a \
                     second after that; try again shortly"
                ),
            ))
        }
    }
}

/// One open screen stream; frees its place when dropped.
#[derive(Debug)]
pub struct ScreenStreamSlot(Arc<AtomicUsize>);

impl Drop for ScreenStreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A token bucket: `capacity` tokens, one more every `interval` up to the capacity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    capacity: u32,
    interval: Duration,
    tokens: u32,
    /// When the next token is counted from.
    refilled: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(capacity: u32, interval: Duration, now: Instant) -> Self {
        Self {
            capacity,
            interval,
            tokens: capacity,
            refilled: now,
        }
    }

    /// Takes a token at `now` if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }

    fn refill(&mut self, now: Instant) {
        if self.tokens >= self.capacity {
            // A full bucket gathers nothing; the next token counts from its use.
            self.refilled = now;
            return;
        }
        let elapsed = now.saturating_duration_since(self.refilled);
        let interval = self.interval.as_nanos().max(1);
        let earned = elapsed.as_nanos() / interval;
        if earned == 0 {
            return;
        }
        let missing = self.capacity - self.tokens;
        let added = u32::try_from(earned).unwrap_or(u32::MAX).min(missing);
        self.tokens += added;
        if self.tokens >= self.capacity {
            self.refilled = now;
        } else {
            // Keep the part of an interval already waited.
            self.refilled += self.interval * added;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_bucket_gives_a_burst_then_one_token_per_interval() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(3, Duration::from_secs(1), start);
        assert!(bucket.take(start));
        assert!(bucket.take(start));
        assert!(bucket.take(start + 10 * MS));
        assert!(!bucket.take(start + 20 * MS));
        assert!(!bucket.take(start + 999 * MS));
        assert!(bucket.take(start + 1000 * MS));
        assert!(!bucket.take(start + 1500 * MS));
        // The half second already waited counts towards the next token.
        assert!(bucket.take(start + 2000 * MS));
        // A long pause refills only up to the burst.
        let later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(bucket.take(later));
        }
        assert!(!bucket.take(later));
    }

    #[test]
    fn the_third_screen_stream_is_refused_until_one_closes() {
        let limits = ConnectionLimits::new(Instant::now());
        let first = limits.screen_stream().unwrap();
        let _second = limits.screen_stream().unwrap();
        let refused = limits.screen_stream().unwrap_err();
        assert_eq!(refused.code, ErrorCode::TooManyStreams);
        drop(first);
        let _third = limits.screen_stream().unwrap();
        assert!(limits.screen_stream().is_err());
    }

    #[test]
    fn screenshots_beyond_the_rate_are_refused_as_rate_limited() {
        let start = Instant::now();
        let limits = ConnectionLimits::new(start);
        for _ in 0..SCREENSHOT_BURST {
            limits.screenshot(start).unwrap();
        }
        assert_eq!(
            limits.screenshot(start).unwrap_err().code,
            ErrorCode::RateLimited
        );
        limits.screenshot(start + SCREENSHOT_INTERVAL).unwrap();
    }
}
