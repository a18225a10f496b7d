//! `histogram_quantile` over classic buckets, ported from Prometheus's `promql/quantile.go`
//! (`BucketQuantile`, `coalesceBuckets`, `ensureMonotonicAndIgnoreSmallDeltas`) and
//! `util/almost` — the arithmetic, step by step, so results match to the last bit.
//!
//! Not for: native histograms, or grouping samples into buckets (see `functions.rs`).

use super::Semantics;

/// One classic bucket: upper bound (`le`) and cumulative count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// The `le` label as a number.
    pub upper_bound: f64,
    /// Cumulative count (or rate of it).
    pub count: f64,
}

/// Relative tolerance below which neighbouring bucket counts are treated as equal (Prometheus's
/// `smallDeltaTolerance`).
pub const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// Outcome of [`bucket_quantile`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantileOutcome {
    /// The quantile (NaN, ±Inf by Prometheus's rules).
    pub value: f64,
    /// True when some bucket count had to be raised to keep counts monotonic (Prometheus emits an
    /// info annotation then).
    pub forced_monotonic: bool,
}

/// `almost.Equal`: true when `a` and `b` are equal within relative tolerance `epsilon`.
/// Both NaN counts as equal; the stale marker equals only itself.
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    let (sa, sb) = (
        crate::prom::store::is_stale(a),
        crate::prom::store::is_stale(b),
    );
    if sa || sb {
        return sa && sb;
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let min_normal = f64::MIN_POSITIVE; // 2^-1022, Go's 0x0010000000000000
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < min_normal {
        return diff < epsilon * min_normal;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// The `q`-quantile of classic buckets (`BucketQuantile`). Sorts and modifies `buckets`.
///
/// Rules, in order: q NaN gives NaN, q < 0 gives −Inf, q > 1 gives +Inf; no `+Inf` bucket gives
/// NaN; equal bounds are coalesced; counts are forced monotonic (small deltas within 1e-12 are
/// equalised silently); fewer than two buckets or zero observations give NaN; a rank in the `+Inf`
/// bucket gives the second-highest bound; a first bucket with bound ≤ 0 gives that bound; else
/// linear interpolation inside the bucket that holds the rank.
///
/// With [`Semantics::Prometheus2`] the monotonicity fix is a plain running maximum (no
/// `almost.Equal`), as in Prometheus before 2.46.
pub fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>, semantics: Semantics) -> QuantileOutcome {
    let done = |value| QuantileOutcome {
        value,
        forced_monotonic: false,
    };
    if q.is_nan() {
        return done(f64::NAN);
    }
    if q < 0.0 {
        return done(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return done(f64::INFINITY);
    }
    if buckets.is_empty() {
        return done(f64::NAN);
    }
    // Go's slices.SortFunc with a comparator treating NaN bounds as equal to everything; a stable
    // sort gives the same order for the non-NaN bounds that parse from `le` labels.
    buckets.sort_by(|a, b| {
        a.upper_bound
            .partial_cmp(&b.upper_bound)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if buckets[buckets.len() - 1].upper_bound != f64::INFINITY {
        return done(f64::NAN);
    }
    coalesce(buckets);
    let forced_monotonic = match semantics {
        Semantics::Prometheus3 => ensure_monotonic(buckets, SMALL_DELTA_TOLERANCE),
        Semantics::Prometheus2 => running_max(buckets),
    };
    let with = |value| QuantileOutcome {
        value,
        forced_monotonic,
    };
    let n = buckets.len();
    if n < 2 {
        return with(f64::NAN);
    }
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return with(f64::NAN);
    }
    let mut rank = q * observations;
    // sort.Search(n-1, count >= rank): the first index in [0, n-1) whose count >= rank.
    let b = go_search(n - 1, |i| buckets[i].count >= rank);
    if b == n - 1 {
        return with(buckets[n - 2].upper_bound);
    }
    if b == 0 && buckets[0].upper_bound <= 0.0 {
        return with(buckets[0].upper_bound);
    }
    let mut bucket_start = 0.0;
    let bucket_end = buckets[b].upper_bound;
    let mut count = buckets[b].count;
    if b > 0 {
        bucket_start = buckets[b - 1].upper_bound;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    with(bucket_start + (bucket_end - bucket_start) * (rank / count))
}

/// Go's `sort.Search`, midpoint for midpoint, so that non-monotonic (NaN) inputs pick the same
/// bucket as Prometheus.
fn go_search(n: usize, f: impl Fn(usize) -> bool) -> usize {
    let (mut i, mut j) = (0usize, n);
    while i < j {
        let h = (i + j) >> 1;
        if !f(h) {
            i = h + 1;
        } else {
            j = h;
        }
    }
    i
}

fn coalesce(buckets: &mut Vec<Bucket>) {
    let mut last = buckets[0];
    let mut i = 0;
    for j in 1..buckets.len() {
        let b = buckets[j];
        if b.upper_bound == last.upper_bound {
            last.count += b.count;
        } else {
            buckets[i] = last;
            last = b;
            i += 1;
        }
    }
    buckets[i] = last;
    buckets.truncate(i + 1);
}

fn running_max(buckets: &mut [Bucket]) -> bool {
    let mut max = buckets[0].count;
    let mut forced = false;
    for bucket in buckets.iter_mut().skip(1) {
        if bucket.count > max {
            max = bucket.count;
        } else if bucket.count < max {
            bucket.count = max;
            forced = true;
        }
    }
    forced
}

fn ensure_monotonic(buckets: &mut [Bucket], tolerance: f64) -> bool {
    let mut forced = false;
    let mut prev = buckets[0].count;
    for bucket in buckets.iter_mut().skip(1) {
        let curr = bucket.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, tolerance) {
            bucket.count = prev;
            continue;
        }
        if curr < prev {
            bucket.count = prev;
            forced = true;
            continue;
        }
        prev = curr;
    }
    forced
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bq(q: f64, buckets: &mut Vec<Bucket>) -> QuantileOutcome {
        bucket_quantile(q, buckets, Semantics::Prometheus3)
    }

    fn b(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs
            .iter()
            .map(|&(upper_bound, count)| Bucket { upper_bound, count })
            .collect()
    }

    #[test]
    fn hand_computed_interpolation() {
        // 10 observations: 5 ≤ 0.1, 9 ≤ 0.5. p50 → rank 5 in the first bucket: 0.1 * 5/5 = 0.1.
        let mut buckets = b(&[(0.1, 5.0), (0.5, 9.0), (f64::INFINITY, 10.0)]);
        assert_eq!(bq(0.5, &mut buckets).value, 0.1);
        // p70 → rank 7: 0.1 + 0.4 * (2/4) = 0.30000000000000004 in f64.
        let mut buckets = b(&[(0.1, 5.0), (0.5, 9.0), (f64::INFINITY, 10.0)]);
        assert_eq!(bq(0.7, &mut buckets).value, 0.1 + 0.4 * 0.5);
        // p95 → rank 9.5 lies in +Inf: the second-highest bound.
        let mut buckets = b(&[(0.1, 5.0), (0.5, 9.0), (f64::INFINITY, 10.0)]);
        assert_eq!(bq(0.95, &mut buckets).value, 0.5);
    }

    #[test]
    fn nan_and_infinity_rules() {
        let base = b(&[(1.0, 1.0), (f64::INFINITY, 2.0)]);
        assert!(bq(f64::NAN, &mut base.clone()).value.is_nan());
        assert_eq!(bq(-1.0, &mut base.clone()).value, f64::NEG_INFINITY);
        assert_eq!(bq(1.5, &mut base.clone()).value, f64::INFINITY);
        assert!(bq(0.5, &mut b(&[(1.0, 1.0), (2.0, 2.0)])).value.is_nan());
        assert!(bq(0.5, &mut b(&[(1.0, 0.0), (f64::INFINITY, 0.0)]))
            .value
            .is_nan());
        assert!(bq(0.5, &mut b(&[(f64::INFINITY, 3.0)])).value.is_nan());
    }

    #[test]
    fn monotonicity_fix_is_reported_but_small_deltas_are_not() {
        let out = bq(
            0.5,
            &mut b(&[(1.0, 5.0), (2.0, 4.0), (f64::INFINITY, 10.0)]),
        );
        assert!(out.forced_monotonic);
        let tiny = 5.0 * (1.0 - 1e-14);
        let out = bq(
            0.5,
            &mut b(&[(1.0, 5.0), (2.0, tiny), (f64::INFINITY, 10.0)]),
        );
        assert!(!out.forced_monotonic);
    }

    #[test]
    fn almost_equal_follows_go() {
        assert!(almost_equal(f64::NAN, f64::NAN, 1e-12));
        assert!(!almost_equal(0.0, 1e-300, 1e-12));
        assert!(almost_equal(1.0, 1.0 + 1e-13, 1e-12));
        assert!(!almost_equal(1.0, 1.0 + 1e-11, 1e-12));
    }
}
