//! Latency histograms with fixed logarithmic buckets, so that histograms from any split of the
//! traffic add up exactly (a merge is a bucket-wise sum). Quantiles are reported as the upper
//! bound of their bucket: at most 19% above the true value (four buckets per doubling).

use std::sync::LazyLock;

/// Buckets per doubling of latency.
const BUCKETS_PER_DOUBLING: u32 = 4;
/// The first bucket ends at 1 µs; the last starts near 2^30 µs (about 18 minutes).
const DOUBLINGS: u32 = 30;
/// Number of buckets (the last one is open-ended).
pub const BUCKET_COUNT: usize = (BUCKETS_PER_DOUBLING * DOUBLINGS + 1) as usize;

/// A mergeable latency histogram.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "SparseHistogram", into = "SparseHistogram")]
pub struct LatencyHistogram {
    /// Counts per bucket; bucket `i` holds latencies up to [`bucket_upper_ns`]`(i)`. Only as
    /// long as the highest bucket used (a name's answers fill the first few dozen of
    /// [`BUCKET_COUNT`]), so histograms of thousands of names stay small.
    pub buckets: Vec<u64>,
    /// Number of samples.
    pub count: u64,
    /// Largest sample (ns), exact.
    pub max_ns: u64,
    /// Sum of all samples (ns), exact (Prometheus' `_sum`).
    pub sum_ns: u64,
}

/// The saved form of a histogram: only the non-empty buckets, as [index, count].
#[derive(serde::Serialize, serde::Deserialize)]
struct SparseHistogram {
    buckets: Vec<[u64; 2]>,
    count: u64,
    max_ns: u64,
    #[serde(default)]
    sum_ns: u64,
}

impl From<LatencyHistogram> for SparseHistogram {
    fn from(histogram: LatencyHistogram) -> Self {
        SparseHistogram {
            buckets: histogram.non_empty_buckets(),
            count: histogram.count,
            max_ns: histogram.max_ns,
            sum_ns: histogram.sum_ns,
        }
    }
}

impl TryFrom<SparseHistogram> for LatencyHistogram {
    type Error = String;

    fn try_from(sparse: SparseHistogram) -> Result<Self, String> {
        let mut histogram = LatencyHistogram::default();
        for [index, count] in sparse.buckets.into_iter().filter(|[_, count]| *count > 0) {
            let index = usize::try_from(index)
                .ok()
                .filter(|&i| i < BUCKET_COUNT)
                .ok_or_else(|| format!("latency bucket {index} does not exist"))?;
            *histogram.bucket_mut(index) = count;
        }
        histogram.count = sparse.count;
        histogram.max_ns = sparse.max_ns;
        histogram.sum_ns = sparse.sum_ns;
        Ok(histogram)
    }
}

/// Upper bound (inclusive, ns) of bucket `index`: 1 µs × 2^(index/4).
pub fn bucket_upper_ns(index: usize) -> u64 {
    let exponent = index as f64 / f64::from(BUCKETS_PER_DOUBLING);
    (1_000.0 * exponent.exp2()).round() as u64
}

/// Every bucket's upper bound, computed once: a sample's bucket is then a binary search, not a
/// logarithm and a few exponentials per sample (two samples per answered response).
static UPPER_BOUNDS_NS: LazyLock<[u64; BUCKET_COUNT]> =
    LazyLock::new(|| std::array::from_fn(bucket_upper_ns));

/// The first bucket whose (inclusive) upper bound holds `latency_ns`; the last is open-ended.
fn bucket_of(latency_ns: u64) -> usize {
    UPPER_BOUNDS_NS
        .partition_point(|&upper_ns| upper_ns < latency_ns)
        .min(BUCKET_COUNT - 1)
}

impl LatencyHistogram {
    /// Adds one latency.
    pub fn record(&mut self, latency_ns: u64) {
        *self.bucket_mut(bucket_of(latency_ns)) += 1;
        self.count += 1;
        self.sum_ns = self.sum_ns.saturating_add(latency_ns);
        self.max_ns = self.max_ns.max(latency_ns);
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        let LatencyHistogram {
            buckets,
            count,
            max_ns,
            sum_ns,
        } = other;
        if self.buckets.len() < buckets.len() {
            self.buckets.resize(buckets.len(), 0);
        }
        for (mine, theirs) in self.buckets.iter_mut().zip(buckets) {
            *mine += theirs;
        }
        self.count += count;
        self.sum_ns = self.sum_ns.saturating_add(*sum_ns);
        self.max_ns = self.max_ns.max(*max_ns);
    }

    /// Bucket `index` (below [`BUCKET_COUNT`]), grown into.
    fn bucket_mut(&mut self, index: usize) -> &mut u64 {
        if self.buckets.len() <= index {
            self.buckets.resize(index + 1, 0);
        }
        &mut self.buckets[index]
    }

    /// The non-empty buckets as [bucket index, count], in bucket order.
    pub fn non_empty_buckets(&self) -> Vec<[u64; 2]> {
        self.buckets
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(index, count)| [index as u64, *count])
            .collect()
    }

    /// The `quantile` (0..=1) as the upper bound of its bucket, capped at the exact maximum.
    pub fn quantile_ns(&self, quantile: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((quantile * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (index, count) in self.buckets.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(bucket_upper_ns(index).min(self.max_ns));
            }
        }
        Some(self.max_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_latency_falls_in_the_bucket_whose_bounds_hold_it() {
        for latency in [
            1,
            999,
            1_000,
            1_001,
            1_189,
            1_190,
            2_000,
            123_456,
            5_000_000_000,
            u64::MAX / 2,
        ] {
            let index = bucket_of(latency);
            assert!(
                latency <= bucket_upper_ns(index) || index == BUCKET_COUNT - 1,
                "{latency}"
            );
            assert!(
                index == 0 || latency > bucket_upper_ns(index - 1),
                "{latency}"
            );
        }
    }

    #[test]
    fn each_bucket_holds_its_upper_bound_and_the_next_the_nanosecond_after() {
        for index in 0..BUCKET_COUNT - 1 {
            let upper_ns = bucket_upper_ns(index);
            assert!(upper_ns < bucket_upper_ns(index + 1), "{index}");
            assert_eq!(bucket_of(upper_ns), index);
            assert_eq!(bucket_of(upper_ns + 1), index + 1);
        }
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(u64::MAX), BUCKET_COUNT - 1);
    }

    #[test]
    fn quantiles_are_bucket_upper_bounds_within_a_fifth() {
        let mut histogram = LatencyHistogram::default();
        for micros in 1..=1000u64 {
            histogram.record(micros * 1_000);
        }
        let p50 = histogram.quantile_ns(0.5).unwrap();
        assert!((500_000..=600_000).contains(&p50), "{p50}");
        let p99 = histogram.quantile_ns(0.99).unwrap();
        assert!((990_000..=1_000_000).contains(&p99), "{p99}");
        assert_eq!(histogram.max_ns, 1_000_000);
        assert_eq!(LatencyHistogram::default().quantile_ns(0.5), None);
    }

    #[test]
    fn merge_of_parts_equals_the_whole() {
        let samples: Vec<u64> = (0..500).map(|i| (i * 7919) % 3_000_000 + 10).collect();
        let mut whole = LatencyHistogram::default();
        samples.iter().for_each(|s| whole.record(*s));
        let (mut left, mut right) = (LatencyHistogram::default(), LatencyHistogram::default());
        samples[..123].iter().for_each(|s| left.record(*s));
        samples[123..].iter().for_each(|s| right.record(*s));
        right.merge(&left);
        assert_eq!(right, whole);
    }
}
