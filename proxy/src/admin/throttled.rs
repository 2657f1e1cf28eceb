//! A warning that can repeat thousands of times a second (the accept loop out of file
//! descriptors), written at most once per interval with the count of those left out.

use std::time::{Duration, Instant};

/// Decides which occurrences of one recurring problem are logged.
#[derive(Debug)]
pub(super) struct Throttled {
    every: Duration,
    last_logged: Option<Instant>,
    left_out: u64,
}

impl Throttled {
    /// At most one line per `every`.
    pub(super) fn new(every: Duration) -> Self {
        Self {
            every,
            last_logged: None,
            left_out: 0,
        }
    }

    /// Records one occurrence at `now`: `Some(n)` when it is to be logged, `n` being how
    /// many occurrences since the last line were not.
    pub(super) fn occurred(&mut self, now: Instant) -> Option<u64> {
        let due = self
            .last_logged
            .is_none_or(|last| now.saturating_duration_since(last) >= self.every);
        if !due {
            self.left_out += 1;
            return None;
        }
        self.last_logged = Some(now);
        Some(std::mem::take(&mut self.left_out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_the_first_then_once_per_interval_with_the_count_left_out() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut t = Throttled::new(Duration::from_secs(5));
        assert_eq!(t.occurred(at(0)), Some(0), "the first is logged at once");
        // Every 100 ms (the accept loop's back-off) for the rest of the interval.
        for ms in (100..5000).step_by(100) {
            assert_eq!(t.occurred(at(ms)), None, "{ms} ms");
        }
        assert_eq!(t.occurred(at(5000)), Some(49));
        assert_eq!(t.occurred(at(5001)), None);
        // After a quiet spell, the next one is logged at once again.
        assert_eq!(t.occurred(at(60_000)), Some(1));
        assert_eq!(t.occurred(at(60_001)), None);
    }
}
