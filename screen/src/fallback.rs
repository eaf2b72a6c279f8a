//! A fast capture with a slower, surer one behind it: on Windows DXGI
//! desktop duplication, and GDI where duplication is missing (Wine, some
//! virtual machines) or lost for a moment (the secure desktop, a mode
//! change). The choice is made here, the same on every system, so it is
//! tested where the tests run.

use std::time::{Duration, Instant};

use crate::{CaptureError, CaptureSource, Frame, MonitorInfo, ScreenArea};

/// Captures with `primary` while it works; when it fails, with `secondary`,
/// and tries `primary` again after a rest.
pub struct Fallback<P, S> {
    primary: P,
    secondary: S,
    rest: Duration,
    /// While set, `primary` rests until then.
    resting_until: Option<Instant>,
    /// Why `primary` failed last.
    failure: Option<String>,
}

impl<P: CaptureSource, S: CaptureSource> Fallback<P, S> {
    /// `primary` first, `secondary` when it fails; `primary` is asked again
    /// `rest` after a failure.
    pub fn new(primary: P, secondary: S, rest: Duration) -> Self {
        Self {
            primary,
            secondary,
            rest,
            resting_until: None,
            failure: None,
        }
    }

    /// Why the primary capture is not in use, if it is not.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    fn primary_due(&self) -> bool {
        self.resting_until
            .is_none_or(|until| Instant::now() >= until)
    }

    fn fail(&mut self, error: &CaptureError) {
        self.failure = Some(error.to_string());
        self.resting_until = Some(Instant::now() + self.rest);
    }
}

impl<P: CaptureSource, S: CaptureSource> CaptureSource for Fallback<P, S> {
    fn capture(&mut self, area: ScreenArea) -> Result<Frame, CaptureError> {
        if self.primary_due() {
            match self.primary.capture(area) {
                Ok(frame) => {
                    self.resting_until = None;
                    self.failure = None;
                    return Ok(frame);
                }
                // A monitor the fast capture does not reach (another graphics
                // card) may still be the surer one's; no failure of the capture.
                Err(CaptureError::NoSuchMonitor { .. }) => return self.secondary.capture(area),
                Err(error) => self.fail(&error),
            }
        }
        self.secondary.capture(area)
    }

    fn monitors(&mut self) -> Result<Vec<MonitorInfo>, CaptureError> {
        if self.primary_due() {
            match self.primary.monitors() {
                Ok(monitors) => {
                    self.resting_until = None;
                    self.failure = None;
                    return Ok(monitors);
                }
                Err(error) => self.fail(&error),
            }
        }
        self.secondary.monitors()
    }

    /// None: the two sources count changes each their own way, and a switch
    /// between them must not look like "nothing changed".
    fn change_counter(&mut self) -> Option<u64> {
        None
    }

    fn describe(&self) -> String {
        match &self.failure {
            None => self.primary.describe(),
            Some(failure) => format!(
                "{} (the faster capture failed: {failure})",
                self.secondary.describe()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::SyntheticDesktop;

    /// A capture that fails its first `failures` calls, then shows one
    /// colour, with `monitors` monitors.
    struct Flaky {
        failures: usize,
        calls: Arc<AtomicUsize>,
        monitors: u32,
        shade: u8,
    }

    impl CaptureSource for Flaky {
        fn capture(&mut self, area: ScreenArea) -> Result<Frame, CaptureError> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            if let ScreenArea::Monitor(index) = area
                && index >= self.monitors
            {
                let count = self.monitors as usize;
                return Err(CaptureError::NoSuchMonitor { index, count });
            }
            if call < self.failures {
                return Err(CaptureError::Failed("the duplication is lost".into()));
            }
            Ok(Frame::filled(
                64,
                64,
                [self.shade, self.shade, self.shade, 255],
            ))
        }

        fn monitors(&mut self) -> Result<Vec<MonitorInfo>, CaptureError> {
            if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
                return Err(CaptureError::Failed("the duplication is lost".into()));
            }
            let monitor = |x| MonitorInfo {
                x,
                y: 0,
                width: 64,
                height: 64,
                primary: x == 0,
            };
            Ok((0..self.monitors).map(|i| monitor(64 * i as i32)).collect())
        }

        fn describe(&self) -> String {
            "flaky".into()
        }
    }

    fn flaky(failures: usize) -> (Flaky, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let source = Flaky {
            failures,
            calls: calls.clone(),
            monitors: 1,
            shade: 9,
        };
        (source, calls)
    }

    #[test]
    fn a_working_primary_is_used_and_the_secondary_never_asked() {
        let (primary, calls) = flaky(0);
        let mut capture = Fallback::new(
            primary,
            SyntheticDesktop::new(64, 64),
            Duration::from_secs(60),
        );
        for _ in 0..3 {
            let frame = capture.capture(ScreenArea::Desktop).unwrap();
            assert_eq!(frame.pixel(0, 0), Some([9, 9, 9, 255]));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(capture.describe(), "flaky");
    }

    #[test]
    fn a_failing_primary_rests_while_the_secondary_captures() {
        let (primary, calls) = flaky(usize::MAX);
        let mut capture = Fallback::new(
            primary,
            SyntheticDesktop::new(96, 72),
            Duration::from_secs(60),
        );
        for _ in 0..3 {
            let frame = capture.capture(ScreenArea::Desktop).unwrap();
            assert_eq!(
                (frame.width(), frame.height()),
                (96, 72),
                "the secondary's picture"
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "asked once, then resting");
        assert_eq!(
            capture.failure(),
            Some("screen capture failed: the duplication is lost")
        );
        assert!(
            capture.describe().contains("the duplication is lost"),
            "{}",
            capture.describe()
        );
    }

    #[test]
    fn after_its_rest_the_primary_is_asked_again_and_taken_back() {
        let (primary, calls) = flaky(1);
        let mut capture = Fallback::new(primary, SyntheticDesktop::new(96, 72), Duration::ZERO);
        let first = capture.capture(ScreenArea::Desktop).unwrap();
        assert_eq!(first.height(), 72, "the secondary while the primary failed");
        let second = capture.capture(ScreenArea::Desktop).unwrap();
        assert_eq!(
            second.pixel(0, 0),
            Some([9, 9, 9, 255]),
            "the primary again"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(capture.failure(), None);
    }

    #[test]
    fn a_monitor_the_primary_lacks_is_asked_of_the_secondary_without_a_rest() {
        let (primary, primary_calls) = flaky(0);
        let (mut secondary, _) = flaky(0);
        secondary.monitors = 2;
        secondary.shade = 200;
        let mut capture = Fallback::new(primary, secondary, Duration::from_secs(60));
        let second = capture.capture(ScreenArea::Monitor(1)).unwrap();
        assert_eq!(second.pixel(0, 0), Some([200, 200, 200, 255]));
        assert_eq!(capture.failure(), None);
        assert!(matches!(
            capture.capture(ScreenArea::Monitor(3)),
            Err(CaptureError::NoSuchMonitor { index: 3, count: 2 })
        ));
        // Not resting: the whole desktop comes from the primary again.
        let whole = capture.capture(ScreenArea::Desktop).unwrap();
        assert_eq!(whole.pixel(0, 0), Some([9, 9, 9, 255]));
        assert_eq!(primary_calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn monitors_come_from_the_primary_and_from_the_secondary_while_it_rests() {
        let (primary, _) = flaky(1);
        let (mut secondary, _) = flaky(0);
        secondary.monitors = 2;
        let mut capture = Fallback::new(primary, secondary, Duration::ZERO);
        assert_eq!(capture.monitors().unwrap().len(), 2, "the secondary's");
        assert!(capture.failure().is_some());
        assert_eq!(capture.monitors().unwrap().len(), 1, "the primary's again");
        assert_eq!(capture.failure(), None);
    }
}
