//! Small statistics helpers: exact percentiles over recorded samples, and the bucket-derived
//! quantile of a Prometheus histogram.

use std::time::Duration;

/// Latency samples in microseconds. Kept exact (a sorted `Vec`), which is cheap at the sizes a
/// bounded run produces (≤ a few million samples).
#[derive(Debug, Default, Clone)]
pub struct Samples {
    us: Vec<u32>,
    sorted: bool,
}

impl Samples {
    /// Records one duration (saturating at ~71 minutes).
    pub fn record(&mut self, d: Duration) {
        self.us
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
        self.sorted = false;
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Samples) {
        self.us.extend_from_slice(&other.us);
        self.sorted = false;
    }

    /// Sorts once, before asking for quantiles.
    pub fn finish(&mut self) {
        if !self.sorted {
            self.us.sort_unstable();
            self.sorted = true;
        }
    }

    /// The `q`-quantile (0..=1) by nearest rank; `None` without samples. Call
    /// [`Samples::finish`] first.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        debug_assert!(self.sorted || self.us.len() <= 1);
        let n = self.us.len();
        if n == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as usize).clamp(1, n);
        Some(Duration::from_micros(u64::from(self.us[rank - 1])))
    }

    /// The largest sample.
    pub fn max(&self) -> Option<Duration> {
        self.us
            .iter()
            .max()
            .map(|&u| Duration::from_micros(u64::from(u)))
    }
}

/// Exact quantile over signed values (seconds), by nearest rank. `values` must be sorted.
pub fn quantile_f64(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as usize).clamp(1, n);
    Some(sorted[rank - 1])
}

/// A cumulative Prometheus histogram: `(upper bound, cumulative count)` in bucket order,
/// `+Inf` as `f64::INFINITY`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Buckets as scraped.
    pub buckets: Vec<(f64, u64)>,
}

impl Histogram {
    /// Total observations (the `+Inf` bucket).
    pub fn count(&self) -> u64 {
        self.buckets.last().map_or(0, |b| b.1)
    }

    /// Upper bound of the bucket holding the `q`-quantile: the smallest `le` whose cumulative
    /// count reaches `q · count`. `None` without observations.
    pub fn quantile_upper_bound(&self, q: f64) -> Option<f64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let need = (q * count as f64).ceil() as u64;
        self.buckets
            .iter()
            .find(|(_, c)| *c >= need)
            .map(|(le, _)| *le)
    }

    /// Observations recorded since `earlier` was scraped (bucket-wise difference).
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        Histogram {
            buckets: self
                .buckets
                .iter()
                .map(|&(le, c)| {
                    let before = earlier
                        .buckets
                        .iter()
                        .find(|(l, _)| *l == le)
                        .map_or(0, |b| b.1);
                    (le, c.saturating_sub(before))
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let mut s = Samples::default();
        for ms in 1..=100 {
            s.record(Duration::from_millis(ms));
        }
        s.finish();
        assert_eq!(s.quantile(0.5), Some(Duration::from_millis(50)));
        assert_eq!(s.quantile(0.99), Some(Duration::from_millis(99)));
        assert_eq!(s.max(), Some(Duration::from_millis(100)));
        assert_eq!(Samples::default().quantile(0.5), None);
    }

    #[test]
    fn histogram_upper_bound() {
        let h = Histogram {
            buckets: vec![(0.1, 50), (0.5, 98), (1.0, 100), (f64::INFINITY, 100)],
        };
        assert_eq!(h.quantile_upper_bound(0.5), Some(0.1));
        assert_eq!(h.quantile_upper_bound(0.99), Some(1.0));
        let earlier = Histogram {
            buckets: vec![(0.1, 50), (0.5, 50), (1.0, 50), (f64::INFINITY, 50)],
        };
        assert_eq!(h.since(&earlier).count(), 50);
        assert_eq!(h.since(&earlier).quantile_upper_bound(0.9), Some(0.5));
    }
}
