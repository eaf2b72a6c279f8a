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
                // Asking for a monitor that is not there is no failure of the capture.
                Err(error @ CaptureError::NoSuchMonitor { .. }) => return Err(error),
                Err(error) => self.fail(&error),
            }
        }
        self.secondary.capture(area)
    }

    fn monitors(&mut self) -> Result<Vec<MonitorInfo>, CaptureError> {
        if self.primary_due() {
            match self.primary.monitors() {
                Ok(monitors) => return Ok(monitors),
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

    /// A capture that fails its first `failures` calls, then shows one colour.
    struct Flaky {
        failures: usize,
        calls: Arc<AtomicUsize>,
    }

    impl CaptureSource for Flaky {
        fn capture(&mut self, area: ScreenArea) -> Result<Frame, CaptureError> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            if let ScreenArea::Monitor(index) = area {
                if index > 0 {
                    return Err(CaptureError::NoSuchMonitor { index, count: 1 });
                }
            }
            if call < self.failures {
                return Err(CaptureError::Failed("the duplication is lost".into()));
            }
            Ok(Frame::filled(64, 64, [9, 9, 9, 255]))
        }

        fn monitors(&mut self) -> Result<Vec<MonitorInfo>, CaptureError> {
            Err(CaptureError::Failed("not asked in these tests".into()))
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
    fn a_monitor_that_is_not_there_is_an_error_not_a_fallback() {
        let (primary, _) = flaky(0);
        let mut capture = Fallback::new(
            primary,
            SyntheticDesktop::new(96, 72),
            Duration::from_secs(60),
        );
        assert!(matches!(
            capture.capture(ScreenArea::Monitor(3)),
            Err(CaptureError::NoSuchMonitor { index: 3, count: 1 })
        ));
        assert_eq!(capture.failure(), None);
        assert_eq!(capture.capture(ScreenArea::Desktop).unwrap().width(), 64);
    }
}
