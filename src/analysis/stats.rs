//! The statistics behind a check: how sure a ratio or a quantile is given the number of
//! observations behind it, and whether the canary differs from the baseline beyond chance.
//!
//! - Ratios (errors/requests, breaker opens/writes): the Wilson score interval, the rule of three
//!   when no event was seen (upper bound `-ln(1 - c)/n`, which is 3/n at 95%), an exact binomial
//!   test against a threshold, and a two-proportion z-test for canary vs baseline.
//! - Quantiles from bucketed counts (Prometheus `le` buckets, HDR histogram buckets): the
//!   distribution-free order-statistic interval (binomial method), and a binomial test of "the
//!   q-quantile is above t" from the count at or below t.
//! - Latency distributions: Mann-Whitney U with the normal approximation, tie correction and
//!   continuity correction (scipy's `mannwhitneyu(method="asymptotic")`), where every bucket is a
//!   group of tied values, so it runs on histograms of any sample count in bucket time.
//!
//! For: the arithmetic, on counts. Not for: fetching the counts (see `super::evidence`) or
//! deciding a check (see [`super::evaluate`]).

use hdrhistogram::Histogram;
use statrs::distribution::{Binomial, ChiSquared, ContinuousCDF, DiscreteCDF, Normal, Poisson};

/// One bucket of a histogram: observations in `(lo, hi]` (or exactly `lo` when `lo == hi`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Lower edge (exclusive, except for a point bucket).
    pub lo: f64,
    /// Upper edge (inclusive); `f64::INFINITY` for Prometheus's `+Inf` bucket.
    pub hi: f64,
    /// Observations in the bucket.
    pub count: u64,
}

/// The buckets of an HDR histogram in microseconds, converted to seconds: one bucket per
/// recorded value range (its lowest to highest equivalent value).
pub fn hdr_buckets(h: &Histogram<u64>) -> Vec<Bucket> {
    h.iter_recorded()
        .map(|v| {
            let value = v.value_iterated_to();
            Bucket {
                lo: h.lowest_equivalent(value) as f64 / 1e6,
                hi: h.highest_equivalent(value) as f64 / 1e6,
                count: v.count_at_value(),
            }
        })
        .collect()
}

/// Prometheus classic buckets `(le, cumulative count)` (any order, `+Inf` included) as
/// non-cumulative buckets; counts that decrease (a reset inside the window) are clamped to 0.
pub fn prometheus_buckets(cumulative: &[(f64, f64)]) -> Vec<Bucket> {
    let mut sorted: Vec<(f64, f64)> = cumulative
        .iter()
        .copied()
        .filter(|(le, c)| !le.is_nan() && c.is_finite())
        .collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = Vec::with_capacity(sorted.len());
    let (mut prev_le, mut prev_count) = (0.0_f64, 0.0_f64);
    for (le, c) in sorted {
        let count = (c - prev_count).max(0.0).round() as u64;
        out.push(Bucket {
            lo: prev_le.min(le),
            hi: le,
            count,
        });
        prev_le = le;
        prev_count = prev_count.max(c);
    }
    out
}

/// The two-sided normal quantile for `confidence` (1.96 for 0.95).
fn z_for(confidence: f64) -> f64 {
    standard_normal().inverse_cdf(1.0 - (1.0 - confidence) / 2.0)
}

fn standard_normal() -> Normal {
    // Mean 0 and standard deviation 1 are valid parameters.
    Normal::standard()
}

/// The Wilson score interval for `events` of `n` at `confidence`; `None` when `n` is 0.
pub fn wilson(events: u64, n: u64, confidence: f64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let (x, n) = (events.min(n) as f64, n as f64);
    let z = z_for(confidence);
    let p = x / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// The rule of three: with no event in `n` trials, the one-sided upper bound of the ratio at
/// `confidence` is `-ln(1 - confidence) / n` (≈ 3/n at 95%); `None` when `n` is 0.
pub fn rule_of_three(n: u64, confidence: f64) -> Option<f64> {
    (n > 0).then(|| (-(1.0 - confidence).ln() / n as f64).min(1.0))
}

/// The interval for a ratio: the rule of three when no event was seen, Wilson otherwise.
/// Returns the interval and the method's name.
pub fn ratio_interval(events: u64, n: u64, confidence: f64) -> Option<((f64, f64), &'static str)> {
    if events == 0 {
        rule_of_three(n, confidence).map(|hi| ((0.0, hi), "rule of three"))
    } else {
        wilson(events, n, confidence).map(|ci| (ci, "wilson"))
    }
}

/// Exact binomial test of "the true ratio is above `threshold`" having seen `events` of `n`:
/// the probability of `events` or more if the ratio were exactly `threshold`.
pub fn binomial_above(events: u64, n: u64, threshold: f64) -> Option<f64> {
    let b = Binomial::new(threshold.clamp(0.0, 1.0), n).ok()?;
    Some(if events == 0 { 1.0 } else { b.sf(events - 1) })
}

/// Exact binomial test of "the true ratio is below `threshold`": the probability of `events` or
/// fewer if the ratio were exactly `threshold`.
pub fn binomial_below(events: u64, n: u64, threshold: f64) -> Option<f64> {
    let b = Binomial::new(threshold.clamp(0.0, 1.0), n).ok()?;
    Some(b.cdf(events.min(n)))
}

/// The exact (Garwood) interval for the mean of a Poisson count having seen `events`:
/// `[χ²(α/2; 2x)/2, χ²(1 − α/2; 2x + 2)/2]`.
pub fn poisson_interval(events: u64, confidence: f64) -> Option<(f64, f64)> {
    let alpha = 1.0 - confidence;
    let x = events as f64;
    let lo = if events == 0 {
        0.0
    } else {
        0.5 * ChiSquared::new(2.0 * x).ok()?.inverse_cdf(alpha / 2.0)
    };
    let hi = 0.5
        * ChiSquared::new(2.0 * x + 2.0)
            .ok()?
            .inverse_cdf(1.0 - alpha / 2.0);
    Some((lo, hi))
}

/// Exact Poisson test of "the mean is above `mean`" having seen `events`: P(X >= events).
/// With a zero mean, any event is certain evidence (p = 0) and none is no evidence (p = 1).
pub fn poisson_above(events: u64, mean: f64) -> Option<f64> {
    if events == 0 {
        return Some(1.0);
    }
    if mean <= 0.0 {
        return Some(0.0);
    }
    Some(Poisson::new(mean).ok()?.sf(events - 1))
}

/// Exact Poisson test of "the mean is below `mean`": P(X <= events).
pub fn poisson_below(events: u64, mean: f64) -> Option<f64> {
    if mean <= 0.0 {
        return Some(1.0);
    }
    Some(Poisson::new(mean).ok()?.cdf(events))
}

/// A two-proportion z-test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TwoProportions {
    /// z with the pooled standard error.
    pub z: f64,
    /// One-sided p-value for "the canary's ratio is higher".
    pub p_greater: f64,
    /// Canary ratio minus baseline ratio.
    pub difference: f64,
    /// Wald interval of the difference (unpooled standard error).
    pub ci: (f64, f64),
}

/// Compares the canary's `x1` of `n1` with the baseline's `x2` of `n2`; `None` when a side has no
/// trials. With no event on either side there is no evidence of a difference (z = 0, p = 0.5).
pub fn two_proportions(
    x1: u64,
    n1: u64,
    x2: u64,
    n2: u64,
    confidence: f64,
) -> Option<TwoProportions> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (x1, n1, x2, n2) = (x1.min(n1) as f64, n1 as f64, x2.min(n2) as f64, n2 as f64);
    let (p1, p2) = (x1 / n1, x2 / n2);
    let pooled = (x1 + x2) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    let z = if se > 0.0 { (p1 - p2) / se } else { 0.0 };
    let half = z_for(confidence) * (p1 * (1.0 - p1) / n1 + p2 * (1.0 - p2) / n2).sqrt();
    Some(TwoProportions {
        z,
        p_greater: standard_normal().sf(z),
        difference: p1 - p2,
        ci: (p1 - p2 - half, p1 - p2 + half),
    })
}

/// The distribution-free interval for the `q`-quantile of the bucketed observations: the order
/// statistics `X(l)` and `X(u)` with `P(l <= B < u) >= confidence` for `B ~ Binomial(n, q)`,
/// widened to the edges of the buckets they fall in. `None` without observations or with `q`
/// outside (0, 1). The upper bound is `+Inf` when `u` falls in Prometheus's `+Inf` bucket or
/// when there are too few observations to bound it (`u > n`: for the p95 at 95%, n < 72).
pub fn quantile_interval(buckets: &[Bucket], q: f64, confidence: f64) -> Option<(f64, f64)> {
    let n: u64 = buckets.iter().map(|b| b.count).sum();
    if n == 0 || !(q > 0.0 && q < 1.0) {
        return None;
    }
    let b = Binomial::new(q, n).ok()?;
    let alpha = 1.0 - confidence;
    // Ranks are 1-based: l = smallest k with P(B <= k) >= alpha/2 keeps P(B < l) <= alpha/2.
    let l = b.inverse_cdf(alpha / 2.0).max(1);
    let u = b.inverse_cdf(1.0 - alpha / 2.0) + 1;
    let hi = if u > n {
        f64::INFINITY
    } else {
        rank_bucket(buckets, u)?.hi
    };
    Some((rank_bucket(buckets, l)?.lo, hi))
}

/// The bucket holding the observation of 1-based rank `r`.
fn rank_bucket(buckets: &[Bucket], r: u64) -> Option<&Bucket> {
    let mut seen = 0;
    buckets.iter().find(|b| {
        seen += b.count;
        seen >= r && b.count > 0
    })
}

/// Binomial test of "the `q`-quantile is above `t`" from `at_or_below` of `n` observations at or
/// below `t`: if the quantile were exactly `t`, the count at or below it is Binomial(n, q), and
/// the p-value is the chance of so few.
pub fn quantile_above(at_or_below: u64, n: u64, q: f64) -> Option<f64> {
    let b = Binomial::new(q.clamp(0.0, 1.0), n).ok()?;
    Some(b.cdf(at_or_below.min(n)))
}

/// Binomial test of "the `q`-quantile is at or below `t`" from `at_or_below` of `n`: the chance
/// of so many at or below `t` if the quantile were just above it.
pub fn quantile_at_or_below(at_or_below: u64, n: u64, q: f64) -> Option<f64> {
    let b = Binomial::new(q.clamp(0.0, 1.0), n).ok()?;
    Some(if at_or_below == 0 {
        1.0
    } else {
        b.sf(at_or_below.min(n) - 1)
    })
}

/// Observations at or below `t`, counting only buckets that lie wholly at or below it
/// (`exact_or_more = false`) or also the bucket that contains `t` (`true`).
pub fn count_at_or_below(buckets: &[Bucket], t: f64, exact_or_more: bool) -> u64 {
    buckets
        .iter()
        .filter(|b| b.hi <= t || (exact_or_more && b.lo < t))
        .map(|b| b.count)
        .sum()
}

/// A Mann-Whitney U test of canary vs baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// U of the canary: pairs where the canary is higher, ties counted half.
    pub u: f64,
    /// The normal approximation's z (continuity corrected toward "greater").
    pub z: f64,
    /// One-sided p-value for "the canary is stochastically greater" (slower).
    pub p_greater: f64,
    /// Two-sided p-value.
    pub p_two_sided: f64,
    /// Common-language effect size: P(canary > baseline) + P(tie)/2 = U / (n1·n2).
    pub cles: f64,
    /// Canary observations.
    pub n_canary: u64,
    /// Baseline observations.
    pub n_baseline: u64,
}

/// Mann-Whitney U on bucketed samples: buckets with the same edges on both sides are one group of
/// tied values. `None` when a side is empty or every observation is tied.
pub fn mann_whitney(canary: &[Bucket], baseline: &[Bucket]) -> Option<MannWhitney> {
    // Groups of tied values, in value order: (lo, hi), canary count, baseline count.
    let mut all: Vec<((f64, f64), u64, u64)> = canary
        .iter()
        .map(|b| ((b.lo, b.hi), b.count, 0))
        .chain(baseline.iter().map(|b| ((b.lo, b.hi), 0, b.count)))
        .filter(|(_, c1, c2)| c1 + c2 > 0)
        .collect();
    all.sort_by(|a, b| a.0 .0.total_cmp(&b.0 .0).then(a.0 .1.total_cmp(&b.0 .1)));
    let mut groups: Vec<((f64, f64), u64, u64)> = Vec::with_capacity(all.len());
    for (key, c1, c2) in all {
        match groups.last_mut() {
            Some(last) if last.0 == key => {
                last.1 += c1;
                last.2 += c2;
            }
            _ => groups.push((key, c1, c2)),
        }
    }
    let n1: u64 = groups.iter().map(|g| g.1).sum();
    let n2: u64 = groups.iter().map(|g| g.2).sum();
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (f1, f2) = (n1 as f64, n2 as f64);
    let total = f1 + f2;
    let (mut below, mut r1, mut ties) = (0.0_f64, 0.0_f64, 0.0_f64);
    for (_, c1, c2) in &groups {
        let t = (*c1 + *c2) as f64;
        let mean_rank = below + (t + 1.0) / 2.0;
        r1 += *c1 as f64 * mean_rank;
        ties += t * t * t - t;
        below += t;
    }
    let u = r1 - f1 * (f1 + 1.0) / 2.0;
    let mu = f1 * f2 / 2.0;
    let var = f1 * f2 / 12.0 * ((total + 1.0) - ties / (total * (total - 1.0)));
    if var <= 0.0 {
        return None;
    }
    let sd = var.sqrt();
    let normal = standard_normal();
    let z = (u - mu - 0.5) / sd;
    let z_abs = ((u - mu).abs() - 0.5).max(0.0) / sd;
    Some(MannWhitney {
        u,
        z,
        p_greater: normal.sf(z),
        p_two_sided: (2.0 * normal.sf(z_abs)).min(1.0),
        cles: u / (f1 * f2),
        n_canary: n1,
        n_baseline: n2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    fn points(values: &[(f64, u64)]) -> Vec<Bucket> {
        values
            .iter()
            .map(|&(v, count)| Bucket {
                lo: v,
                hi: v,
                count,
            })
            .collect()
    }

    #[test]
    fn wilson_matches_newcombe_1998() {
        // Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I,
        // method 3 (Wilson score, no continuity correction), 95%.
        for (x, n, lo, hi) in [
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 20, 0.0, 0.1611),
            (1, 29, 0.0061, 0.1718),
        ] {
            let (l, h) = wilson(x, n, 0.95).expect("n > 0");
            assert!(close(l, lo, 5e-5) && close(h, hi, 5e-5), "{x}/{n}: {l} {h}");
        }
        assert_eq!(wilson(0, 0, 0.95), None);
    }

    #[test]
    fn zero_events_use_the_rule_of_three() {
        // 95%: -ln(0.05)/n = 2.9957/n, the "rule of three" 3/n.
        let hi = rule_of_three(300, 0.95).expect("n > 0");
        assert!(close(hi, 2.995_732 / 300.0, 1e-9), "{hi}");
        let ((lo, hi), how) = ratio_interval(0, 1000, 0.95).expect("n > 0");
        assert_eq!((lo, how), (0.0, "rule of three"));
        assert!(close(hi, 0.002_995_7, 1e-7));
        let (_, how) = ratio_interval(3, 1000, 0.95).expect("n > 0");
        assert_eq!(how, "wilson");
    }

    #[test]
    fn binomial_tests_against_a_threshold() {
        // P(X >= 5 | n=100, p=0.01) = 1 - sum_{i<=4} C(100,i) 0.01^i 0.99^(100-i) = 0.0034323.
        let p = binomial_above(5, 100, 0.01).expect("valid");
        assert!(close(p, 0.003_432_3, 1e-6), "{p}");
        assert_eq!(binomial_above(0, 100, 0.01), Some(1.0));
        // P(X <= 39 | n=100, p=0.5) = 0.0176001.
        let p = binomial_below(39, 100, 0.5).expect("valid");
        assert!(close(p, 0.017_600_1, 1e-6), "{p}");
    }

    #[test]
    fn poisson_interval_and_tests_match_tables() {
        // Garwood intervals at 95% (e.g. Ulm 1990, Table 1): x = 0: [0, 3.689], x = 10:
        // [4.795, 18.390].
        let (lo, hi) = poisson_interval(0, 0.95).expect("valid");
        assert!(lo == 0.0 && close(hi, 3.688_879, 1e-5), "{lo} {hi}");
        let (lo, hi) = poisson_interval(10, 0.95).expect("valid");
        assert!(
            close(lo, 4.795_389, 1e-5) && close(hi, 18.390_356, 1e-5),
            "{lo} {hi}"
        );
        // P(X >= 5 | λ = 2) = 1 - e^-2 (1 + 2 + 2 + 4/3 + 2/3) = 0.0526530.
        let p = poisson_above(5, 2.0).expect("valid");
        assert!(close(p, 0.052_653_0, 1e-6), "{p}");
        assert_eq!(poisson_above(1, 0.0), Some(0.0));
        assert_eq!(poisson_above(0, 2.0), Some(1.0));
        // P(X <= 4 | λ = 2) = 1 - 0.0526530.
        let p = poisson_below(4, 2.0).expect("valid");
        assert!(close(p, 0.947_347_0, 1e-6), "{p}");
    }

    #[test]
    fn two_proportion_z_test_by_hand() {
        // 30/200 vs 15/200: pooled p = 45/400 = 0.1125,
        // se = sqrt(0.1125 * 0.8875 * (1/200 + 1/200)) = 0.0315981,
        // z = 0.075 / 0.0315981 = 2.373563, one-sided p = 1 - Phi(z) = 0.0088087.
        let t = two_proportions(30, 200, 15, 200, 0.95).expect("n > 0");
        assert!(close(t.z, 2.373_563, 1e-5), "{t:?}");
        assert!(close(t.p_greater, 0.008_808_7, 1e-6), "{t:?}");
        assert!(close(t.difference, 0.075, 1e-12));
        // Wald: 0.075 ± 1.959964 * sqrt(0.15*0.85/200 + 0.075*0.925/200) = 0.075 ± 0.061493.
        assert!(
            close(t.ci.0, 0.013_507, 1e-5) && close(t.ci.1, 0.136_493, 1e-5),
            "{t:?}"
        );
        let none = two_proportions(0, 100, 0, 100, 0.95).expect("n > 0");
        assert_eq!((none.z, none.p_greater), (0.0, 0.5));
        assert_eq!(two_proportions(1, 0, 0, 10, 0.95), None);
    }

    #[test]
    fn the_median_interval_of_100_observations_is_x40_to_x61() {
        // Conover, "Practical Nonparametric Statistics", quantile CI: n = 100, q = 0.5, 95%:
        // P(B <= 39) = 0.0176 <= 0.025 < P(B <= 40), P(B <= 60) = 0.9824 >= 0.975 > P(B <= 59),
        // so [X(40), X(61)] with coverage 0.9648.
        let values: Vec<(f64, u64)> = (1..=100).map(|i| (f64::from(i), 1)).collect();
        let ci = quantile_interval(&points(&values), 0.5, 0.95).expect("data");
        assert_eq!(ci, (40.0, 61.0));
        // Bucketed: the interval widens to the edges of the buckets the ranks fall in.
        let buckets = prometheus_buckets(&[
            (0.1, 30.0),
            (0.2, 50.0),
            (0.5, 90.0),
            (f64::INFINITY, 100.0),
        ]);
        assert_eq!(quantile_interval(&buckets, 0.5, 0.95), Some((0.1, 0.5)));
        // p95 of 100: P(B <= 89) = 0.0115, P(B <= 90) = 0.0282, so l = 90, in (0.2, 0.5];
        // P(B <= 98) = 0.9629, P(B <= 99) = 0.9941, so u = 100, in +Inf: unbounded above.
        let ci = quantile_interval(&buckets, 0.95, 0.95).expect("data");
        assert_eq!(ci, (0.2, f64::INFINITY));
        assert_eq!(quantile_interval(&[], 0.5, 0.95), None);
        // The p95 needs 72 observations to be bounded above at 95%: 1 - 0.95^71 = 0.97378 < 0.975
        // <= 1 - 0.95^72 = 0.97509, so with 71 the upper rank would be 72 > n.
        let ones = |n| points(&[(1.0, n)]);
        assert_eq!(
            quantile_interval(&ones(71), 0.95, 0.95),
            Some((1.0, f64::INFINITY))
        );
        assert_eq!(quantile_interval(&ones(72), 0.95, 0.95), Some((1.0, 1.0)));
    }

    #[test]
    fn quantile_threshold_tests_count_at_or_below() {
        // 90 of 100 at or below t: if p95 were t, B ~ Binomial(100, 0.95), P(B <= 90) = 0.0281883.
        let p = quantile_above(90, 100, 0.95).expect("valid");
        assert!(close(p, 0.028_188_3, 1e-6), "{p}");
        let buckets = prometheus_buckets(&[
            (0.1, 30.0),
            (0.2, 50.0),
            (0.5, 90.0),
            (f64::INFINITY, 100.0),
        ]);
        assert_eq!(count_at_or_below(&buckets, 0.2, false), 50);
        assert_eq!(count_at_or_below(&buckets, 0.3, false), 50);
        assert_eq!(count_at_or_below(&buckets, 0.3, true), 90);
        // 99 of 100 at or below: P(B >= 99 | 100, 0.95) = 0.0370.
        let p = quantile_at_or_below(99, 100, 0.95).expect("valid");
        assert!(close(p, 0.037_081, 1e-5), "{p}");
    }

    #[test]
    fn mann_whitney_with_ties_matches_scipy_asymptotic() {
        // canary x = [2, 3, 3, 5], baseline y = [1, 2, 3]. Pooled ranks: 1->1, 2->2.5, 3->5, 5->7;
        // R1 = 2.5 + 5 + 5 + 7 = 19.5, U1 = 19.5 - 4*5/2 = 9.5, mu = 4*3/2 = 6,
        // ties t = 2 and 3: sum(t^3 - t) = 30, var = 4*3/12 * (8 - 30/(7*6)) = 7.285714,
        // z = (9.5 - 6 - 0.5) / sqrt(7.285714) = 1.111438, p(greater) = 0.1331900,
        // two-sided p = 0.2663799 (scipy.stats.mannwhitneyu(x, y, method="asymptotic")).
        let x = points(&[(2.0, 1), (3.0, 2), (5.0, 1)]);
        let y = points(&[(1.0, 1), (2.0, 1), (3.0, 1)]);
        let t = mann_whitney(&x, &y).expect("data");
        assert!(close(t.u, 9.5, 1e-12), "{t:?}");
        assert!(close(t.z, 1.111_438, 1e-6), "{t:?}");
        assert!(close(t.p_greater, 0.133_190_0, 1e-6), "{t:?}");
        assert!(close(t.p_two_sided, 0.266_379_9, 1e-6), "{t:?}");
        assert!(close(t.cles, 9.5 / 12.0, 1e-12));
        // Swapped, U2 = n1*n2 - U1 = 2.5 and the two-sided p is the same.
        let s = mann_whitney(&y, &x).expect("data");
        assert!(close(s.u, 2.5, 1e-12) && close(s.p_two_sided, t.p_two_sided, 1e-12));
        // All tied: no test.
        assert_eq!(
            mann_whitney(&points(&[(1.0, 5)]), &points(&[(1.0, 3)])),
            None
        );
        assert_eq!(mann_whitney(&x, &[]), None);
    }

    #[test]
    fn hdr_buckets_are_tied_groups() {
        let mut a = Histogram::<u64>::new_with_bounds(1, 60_000_000, 2).expect("bounds");
        let mut b = a.clone();
        // 100 ms and 350 ms (µs), two buckets apart; within a bucket values tie.
        for _ in 0..50 {
            a.record(350_000).expect("record");
            b.record(100_000).expect("record");
            b.record(100_100).expect("record");
        }
        let (ba, bb) = (hdr_buckets(&a), hdr_buckets(&b));
        assert_eq!(
            bb.len(),
            1,
            "100.0 ms and 100.1 ms share a bucket at 2 digits: {bb:?}"
        );
        assert!(ba[0].lo <= 0.35 && ba[0].hi >= 0.35, "{ba:?}");
        let t = mann_whitney(&ba, &bb).expect("data");
        // Every canary value above every baseline value: U = n1*n2, CLES = 1.
        assert_eq!((t.u, t.cles), (5000.0, 1.0));
        assert!(t.p_greater < 1e-10, "{t:?}");
    }
}
