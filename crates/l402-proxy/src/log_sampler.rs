//! Sampled log lines: at most a few per interval and code, so a flood of refused requests
//! cannot fill the disk with logs (decision 0608).
//!
//! Codes are the stable `&'static str` codes of errors, a fixed set, so the table stays small
//! whatever a client sends. Lines over the allowance are counted, not written; the first line
//! of the code written after its interval ends is preceded by one line saying how many were
//! left out. The listeners use it too, one line per code and period, for accept errors and
//! closed connections (decision 0811).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

// tokio's clock, so paused-time tests drive it; outside a runtime it is the std clock.
use tokio::time::Instant;

/// Lines written per code and interval by default.
pub(crate) const LINES: u32 = 10;
/// The default interval.
pub(crate) const INTERVAL: Duration = Duration::from_secs(10);

/// Allows `lines` log lines per code and `interval`.
#[derive(Debug)]
pub(crate) struct LogSampler {
    lines: u32,
    interval: Duration,
    slots: Mutex<HashMap<&'static str, Slot>>,
    written: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    since: Instant,
    written: u32,
    suppressed: u64,
}

impl Default for LogSampler {
    fn default() -> Self {
        LogSampler::new(LINES, INTERVAL)
    }
}

impl LogSampler {
    pub(crate) fn new(lines: u32, interval: Duration) -> LogSampler {
        LogSampler { lines, interval, slots: Mutex::default(), written: AtomicU64::new(0) }
    }

    /// Writes the line `write` makes for `code`, unless this code used its allowance.
    pub(crate) fn log(&self, code: &'static str, write: impl FnOnce()) {
        if let Some(suppressed) = self.allow(code) {
            if suppressed > 0 {
                tracing::warn!(code, suppressed, "similar log lines were suppressed");
            }
            write();
        }
    }

    /// Whether a line for `code` may be written now: `None` when it is suppressed, else how
    /// many lines of this code were suppressed since the last one written.
    pub(crate) fn allow(&self, code: &'static str) -> Option<u64> {
        self.sample(code, Instant::now())
    }

    /// Lines allowed so far (tests bound it).
    #[cfg(test)]
    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Whether a line for `code` at `now` is written: `None` when it is suppressed, else how
    /// many lines of this code were suppressed since the last one written.
    pub(crate) fn sample(&self, code: &'static str, now: Instant) -> Option<u64> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = slots.entry(code).or_insert(Slot { since: now, written: 0, suppressed: 0 });
        let mut reported = 0;
        if now.saturating_duration_since(slot.since) >= self.interval {
            reported = slot.suppressed;
            *slot = Slot { since: now, written: 0, suppressed: 0 };
        }
        if slot.written >= self.lines {
            slot.suppressed = slot.suppressed.saturating_add(1);
            return None;
        }
        slot.written += 1;
        self.written.fetch_add(1, Ordering::Relaxed);
        Some(reported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn at_most_n_lines_per_interval_then_a_count() {
        let sampler = LogSampler::new(3, 10 * S);
        let t0 = Instant::now();
        let written: Vec<_> =
            (0..100u32).map(|i| sampler.sample("rate-limited", t0 + i * S / 20)).collect();
        assert_eq!(written.iter().filter(|w| w.is_some()).count(), 3);
        assert_eq!(&written[..3], &[Some(0), Some(0), Some(0)]);
        // The next interval: its first line reports the 97 left out.
        assert_eq!(sampler.sample("rate-limited", t0 + 10 * S), Some(97));
        assert_eq!(sampler.sample("rate-limited", t0 + 11 * S), Some(0));
    }

    #[test]
    fn codes_are_counted_apart() {
        let sampler = LogSampler::new(1, 10 * S);
        let t0 = Instant::now();
        assert_eq!(sampler.sample("rate-limited", t0), Some(0));
        assert_eq!(sampler.sample("rate-limited", t0), None);
        assert_eq!(sampler.sample("missing-credential", t0), Some(0));
        assert_eq!(sampler.sample("missing-credential", t0 + 20 * S), Some(0), "none left out");
        assert_eq!(sampler.sample("rate-limited", t0 + 20 * S), Some(1));
    }

    #[test]
    fn zero_lines_writes_nothing() {
        let sampler = LogSampler::new(0, S);
        let t0 = Instant::now();
        assert_eq!(sampler.sample("x", t0), None);
        assert_eq!(sampler.sample("x", t0 + 2 * S), None);
    }

    #[test]
    fn a_clock_that_does_not_advance_never_reopens() {
        let sampler = LogSampler::new(1, S);
        let t0 = Instant::now() + 5 * S;
        assert_eq!(sampler.sample("x", t0), Some(0));
        assert_eq!(
            sampler.sample("x", t0 - 2 * S),
            None,
            "an earlier instant stays in the interval"
        );
    }
}
