//! Refusal lines per source, limited: anyone on the network can make the agent
//! refuse a connection (a self-made certificate costs nothing), so each source
//! address gets a few lines a minute, and the rest of its refusals in that
//! minute are summed into one line with their reasons.
//!
//! A pure state machine: it is told the time and gives verdicts; the audit log
//! writes. Tested without a clock.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Refusal lines written per source and window before the rest are summed.
pub const LINES_PER_WINDOW: u32 = 10;
/// The window: a minute.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Sources followed one by one; more are summed together (as "other sources"),
/// so a flood from many addresses cannot grow the table without bound.
pub const MAX_SOURCES: usize = 4096;

/// Whether to write a refusal line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Write it.
    Write,
    /// Count it into the source's summary instead.
    Summed,
}

/// The refusals of one source that were not written in one window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusalSummary {
    /// The source; `None` for the sources beyond [`MAX_SOURCES`].
    pub source: Option<IpAddr>,
    /// How many refusals were not written.
    pub count: u64,
    /// How many of them had each reason (its stable code).
    pub reasons: BTreeMap<String, u64>,
}

impl RefusalSummary {
    /// The line's text: "12 more refusals from 10.0.0.9 in the last minute (other-room 12)".
    pub fn describe(&self) -> String {
        let source = self
            .source
            .map_or("other sources".to_owned(), |s| s.to_string());
        let reasons = self
            .reasons
            .iter()
            .map(|(reason, count)| format!("{reason} {count}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "{} more refusals from {source} in the last minute ({reasons})",
            self.count
        )
    }
}

/// One source's current window.
#[derive(Debug)]
struct Window {
    started: Instant,
    written: u32,
    summed: u64,
    reasons: BTreeMap<String, u64>,
}

impl Window {
    fn new(now: Instant) -> Self {
        Self {
            started: now,
            written: 0,
            summed: 0,
            reasons: BTreeMap::new(),
        }
    }

    fn summary(self, source: Option<IpAddr>) -> Option<RefusalSummary> {
        (self.summed > 0).then_some(RefusalSummary {
            source,
            count: self.summed,
            reasons: self.reasons,
        })
    }
}

/// The limiter: a fixed window per source, started by its first refusal.
#[derive(Debug)]
pub struct RefusalLimiter {
    lines_per_window: u32,
    window: Duration,
    max_sources: usize,
    sources: HashMap<Option<IpAddr>, Window>,
}

impl Default for RefusalLimiter {
    fn default() -> Self {
        Self::new(LINES_PER_WINDOW, WINDOW, MAX_SOURCES)
    }
}

impl RefusalLimiter {
    /// A limiter writing `lines_per_window` lines per source per `window`,
    /// following at most `max_sources` sources one by one.
    pub fn new(lines_per_window: u32, window: Duration, max_sources: usize) -> Self {
        Self {
            lines_per_window,
            window,
            max_sources,
            sources: HashMap::new(),
        }
    }

    /// A refusal from `source` for `reason` at `now`: whether to write its
    /// line, and the summary of the source's previous window if that ended.
    pub fn refusal(
        &mut self,
        source: IpAddr,
        reason: &str,
        now: Instant,
    ) -> (Verdict, Option<RefusalSummary>) {
        let key = if self.sources.len() >= self.max_sources
            && !self.sources.contains_key(&Some(source))
        {
            None
        } else {
            Some(source)
        };
        let mut ended = None;
        if let Some(window) = self.sources.get(&key)
            && now.saturating_duration_since(window.started) >= self.window
            && let Some(window) = self.sources.remove(&key)
        {
            ended = window.summary(key);
        }
        let window = self.sources.entry(key).or_insert_with(|| Window::new(now));
        let verdict = if window.written < self.lines_per_window {
            window.written += 1;
            Verdict::Write
        } else {
            window.summed += 1;
            *window.reasons.entry(reason.to_owned()).or_default() += 1;
            Verdict::Summed
        };
        (verdict, ended)
    }

    /// Ends the windows that are over at `now`: their summaries (for sources
    /// with refusals not written), oldest source first.
    pub fn ended(&mut self, now: Instant) -> Vec<RefusalSummary> {
        let over: Vec<Option<IpAddr>> = self
            .sources
            .iter()
            .filter(|(_, w)| now.saturating_duration_since(w.started) >= self.window)
            .map(|(key, _)| *key)
            .collect();
        self.take(over)
    }

    /// Ends every window now (the agent stops): all summaries.
    pub fn drain(&mut self) -> Vec<RefusalSummary> {
        let all: Vec<Option<IpAddr>> = self.sources.keys().copied().collect();
        self.take(all)
    }

    fn take(&mut self, keys: Vec<Option<IpAddr>>) -> Vec<RefusalSummary> {
        let mut windows: Vec<(Option<IpAddr>, Window)> = keys
            .into_iter()
            .filter_map(|key| Some((key, self.sources.remove(&key)?)))
            .collect();
        windows.sort_by_key(|(_, w)| w.started);
        windows
            .into_iter()
            .filter_map(|(key, w)| w.summary(key))
            .collect()
    }

    /// How many sources are followed now.
    pub fn sources(&self) -> usize {
        self.sources.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_source_gets_its_lines_and_the_rest_are_summed_when_the_minute_ends() {
        let start = Instant::now();
        let mut limiter = RefusalLimiter::new(3, WINDOW, 100);
        let verdicts: Vec<Verdict> = (0..10)
            .map(|i| {
                let reason = if i % 2 == 0 {
                    "other-room"
                } else {
                    "unknown-ca"
                };
                let (verdict, ended) = limiter.refusal(ip(9), reason, start + i * SECOND);
                assert_eq!(ended, None);
                verdict
            })
            .collect();
        assert_eq!(verdicts[..3], [Verdict::Write; 3]);
        assert_eq!(verdicts[3..], [Verdict::Summed; 7]);
        // Another source is not held back by the first.
        assert_eq!(
            limiter.refusal(ip(8), "expired", start + 10 * SECOND).0,
            Verdict::Write
        );
        assert_eq!(limiter.ended(start + 59 * SECOND), vec![]);
        let summaries = limiter.ended(start + 60 * SECOND);
        assert_eq!(
            summaries,
            vec![RefusalSummary {
                source: Some(ip(9)),
                count: 7,
                reasons: [("other-room".to_owned(), 3), ("unknown-ca".to_owned(), 4)].into(),
            }]
        );
        assert_eq!(
            summaries[0].describe(),
            "7 more refusals from 10.0.0.9 in the last minute (other-room 3, unknown-ca 4)"
        );
        // The source with nothing summed ends without a line, and is forgotten.
        assert_eq!(limiter.ended(start + 70 * SECOND), vec![]);
        assert_eq!(limiter.sources(), 0);
    }

    #[test]
    fn the_next_refusal_after_the_minute_reports_the_last_one_and_starts_anew() {
        let start = Instant::now();
        let mut limiter = RefusalLimiter::new(1, WINDOW, 100);
        limiter.refusal(ip(1), "expired", start);
        assert_eq!(
            limiter.refusal(ip(1), "expired", start + SECOND).0,
            Verdict::Summed
        );
        let (verdict, ended) = limiter.refusal(ip(1), "expired", start + 61 * SECOND);
        assert_eq!(verdict, Verdict::Write);
        assert_eq!(ended.unwrap().count, 1);
    }

    #[test]
    fn sources_beyond_the_table_are_summed_together() {
        let start = Instant::now();
        let mut limiter = RefusalLimiter::new(1, WINDOW, 2);
        for last in 1..=50 {
            limiter.refusal(ip(last), "unknown-ca", start);
        }
        assert_eq!(limiter.sources(), 3, "two sources and the rest together");
        let summaries = limiter.drain();
        assert_eq!(summaries.len(), 1);
        assert_eq!(summaries[0].source, None);
        assert_eq!(summaries[0].count, 47);
        assert!(summaries[0].describe().contains("from other sources"));
    }
}
