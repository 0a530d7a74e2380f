//! Log lines at a bounded rate: a flood of the same event (accept errors, timed-out
//! connections) writes one line per code and period, carrying how many were left out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// One line per code and period.
pub(crate) struct LogLimit {
    period: Duration,
    last: Mutex<HashMap<&'static str, (Instant, u64)>>,
    written: AtomicU64,
}

impl LogLimit {
    /// At most one line per code every `period`.
    pub(crate) fn new(period: Duration) -> LogLimit {
        LogLimit { period, last: Mutex::new(HashMap::new()), written: AtomicU64::new(0) }
    }

    /// Whether a line for `code` may be written now; `Some(n)`: yes, and `n` events of this
    /// code were left out since the last line.
    pub(crate) fn allow(&self, code: &'static str) -> Option<u64> {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let allowed = match last.get_mut(code) {
            Some((at, skipped)) if now.duration_since(*at) < self.period => {
                *skipped = skipped.saturating_add(1);
                None
            }
            Some((at, skipped)) => {
                *at = now;
                Some(std::mem::take(skipped))
            }
            None => {
                last.insert(code, (now, 0));
                Some(0)
            }
        };
        if allowed.is_some() {
            self.written.fetch_add(1, Ordering::Relaxed);
        }
        allowed
    }

    /// Lines allowed so far (tests bound it).
    #[cfg(test)]
    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_line_per_code_and_period_with_the_count_left_out() {
        let limit = LogLimit::new(Duration::from_secs(10));
        assert_eq!(limit.allow("a"), Some(0));
        assert_eq!(limit.allow("b"), Some(0));
        for _ in 0..1000 {
            assert_eq!(limit.allow("a"), None);
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(limit.allow("a"), Some(1000));
        assert_eq!(limit.allow("a"), None);
        assert_eq!(limit.written(), 3);
    }
}
