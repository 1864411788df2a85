/// Delay before the next try after `failures` failed attempts in a row.
///
/// Without jitter: `base_s * 2^(failures-1)`, capped at `max_s`; `0` failures
/// gives `0`. With `jitter` (any random number), the delay `d` is replaced by
/// a value in `ceil(d/2)..=d` chosen by `jitter`, so many devices that lost
/// the same server at once do not all retry in the same second. The result
/// never exceeds `max(max_s, 1)` and is at least 1 once there is a failure.
pub fn backoff_delay_s(failures: u32, base_s: u32, max_s: u32, jitter: Option<u32>) -> u32 {
    if failures == 0 {
        return 0;
    }
    let base = base_s.max(1);
    let cap = max_s.max(1);
    let shift = failures - 1;
    let delay = if shift >= 32 {
        cap
    } else {
        base.checked_mul(1u32 << shift).unwrap_or(cap).min(cap)
    };
    match jitter {
        None => delay,
        Some(r) => delay - r % (delay / 2 + 1),
    }
}

/// Capped exponential backoff state for one retry loop.
///
/// ```
/// use heartbeat_proto::Backoff;
/// let mut b = Backoff::new(5, 60);
/// assert_eq!(b.fail(None), 5);
/// assert_eq!(b.fail(None), 10);
/// assert_eq!(b.fail(None), 20);
/// assert_eq!(b.fail(None), 40);
/// assert_eq!(b.fail(None), 60);
/// assert_eq!(b.fail(None), 60);
/// b.succeed();
/// assert_eq!(b.fail(None), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base_s: u32,
    max_s: u32,
    failures: u32,
}

impl Backoff {
    /// Starts with no failures. `base_s` is the first delay, `max_s` the cap
    /// (both treated as at least 1 second).
    pub const fn new(base_s: u32, max_s: u32) -> Self {
        Backoff {
            base_s,
            max_s,
            failures: 0,
        }
    }

    /// Failed attempts since the last success.
    pub const fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a failure and returns how long to wait before the next try.
    /// Pass a random number as `jitter` to spread retries (see
    /// [`backoff_delay_s`]).
    pub fn fail(&mut self, jitter: Option<u32>) -> u32 {
        self.failures = self.failures.saturating_add(1);
        backoff_delay_s(self.failures, self.base_s, self.max_s, jitter)
    }

    /// Records a failure that retrying soon cannot fix (such as an unknown
    /// key): jumps straight to the cap.
    pub fn fail_hard(&mut self, jitter: Option<u32>) -> u32 {
        self.failures = self.failures.saturating_add(1).max(32);
        backoff_delay_s(self.failures, self.base_s, self.max_s, jitter)
    }

    /// Records a success: the next failure starts from `base_s` again.
    pub fn succeed(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_caps() {
        let got: [u32; 8] = core::array::from_fn(|i| backoff_delay_s(i as u32, 2, 100, None));
        assert_eq!(got, [0, 2, 4, 8, 16, 32, 64, 100]);
    }

    #[test]
    fn huge_failure_counts_do_not_overflow() {
        for f in [31, 32, 33, 64, 1_000, u32::MAX] {
            assert_eq!(backoff_delay_s(f, 5, 300, None), 300, "{f}");
            assert_eq!(
                backoff_delay_s(f, u32::MAX, u32::MAX, None),
                u32::MAX,
                "{f}"
            );
        }
        assert_eq!(backoff_delay_s(2, u32::MAX, u32::MAX, None), u32::MAX);
    }

    #[test]
    fn zero_base_and_cap_are_treated_as_one() {
        assert_eq!(backoff_delay_s(1, 0, 0, None), 1);
        assert_eq!(backoff_delay_s(5, 0, 10, None), 10);
        assert_eq!(backoff_delay_s(3, 0, 10, None), 4);
    }

    #[test]
    fn cap_below_base_wins() {
        assert_eq!(backoff_delay_s(1, 50, 10, None), 10);
    }

    #[test]
    fn jitter_stays_within_half_and_full_delay() {
        for failures in 1..12 {
            let full = backoff_delay_s(failures, 3, 200, None);
            for r in [0, 1, 2, 7, 99, 12_345, u32::MAX - 1, u32::MAX] {
                let d = backoff_delay_s(failures, 3, 200, Some(r));
                assert!(
                    d <= full && d >= full.div_ceil(2) && d >= 1,
                    "{failures} {r} {d}"
                );
            }
        }
        assert_eq!(backoff_delay_s(1, 1, 1, Some(u32::MAX)), 1);
        // jitter actually spreads values
        let a = backoff_delay_s(5, 5, 300, Some(0));
        let b = backoff_delay_s(5, 5, 300, Some(17));
        assert_ne!(a, b);
    }

    #[test]
    fn state_machine() {
        let mut b = Backoff::new(5, 60);
        assert_eq!(b.failures(), 0);
        assert_eq!(b.fail(None), 5);
        assert_eq!(b.fail(None), 10);
        assert_eq!(b.failures(), 2);
        b.succeed();
        assert_eq!(b.failures(), 0);
        assert_eq!(b.fail_hard(None), 60);
        assert_eq!(b.fail(None), 60);
        b.succeed();
        // 5 - 3 % (5 / 2 + 1) = 5
        assert_eq!(b.fail(Some(3)), 5);
        for _ in 0..100 {
            assert!(b.fail(Some(7)) <= 60);
        }
    }
}
