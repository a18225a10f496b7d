//! What the numbers behind a check allow it to claim. A pass needs enough observations that the
//! interval of the value (Wilson or the rule of three for a ratio, the order-statistic interval
//! for a quantile) clears the threshold; otherwise the check is inconclusive ("insufficient
//! data"), which holds. A breach needs its test to be significant at the gate file's confidence
//! (a binomial test against the threshold, a two-proportion z-test or Mann-Whitney U against the
//! baseline); otherwise it is inconclusive too ("breach not significant: n=40, p=0.3"), so a
//! handful of requests can neither promote nor roll back.
//!
//! The counts come from the analysed span for a pass and from the first breach (its evaluations
//! and the query's range before them) for a breach. One counter's rate or increase gets an exact
//! Poisson test against the threshold. Other queries (gauges, mixed expressions) carry no
//! statistic.
//!
//! For: `samples` and `statistic` of a check and the outcome they change. Not for: fetching the
//! counts (see [`super::evidence`]) or the tests' arithmetic (see [`super::stats`]).

use serde::Serialize;

use super::evaluate::{CheckResult, Outcome, Span};
use super::evidence::{self, LatencySamples, Shape};
use super::gates::{Check, Compare, Gates};
use super::stats::{self, Bucket};
use crate::prom::source::Source;

/// The test behind a check's value, in `verdict.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statistic {
    /// `binomial`, `two-proportion-z`, `quantile-binomial`, `mann-whitney` or `poisson`.
    pub test: &'static str,
    /// What a small p-value supports (the breach direction), in words.
    pub hypothesis: String,
    /// One-sided p-value for the hypothesis.
    pub p_value: Option<f64>,
    /// The effect size, see `effect`.
    pub effect_size: Option<f64>,
    /// What `effect_size` measures.
    pub effect: &'static str,
    /// The interval of `ci_of` at `confidence` (`null` for an unbounded end).
    pub ci: Option<[f64; 2]>,
    /// What `ci` bounds.
    pub ci_of: String,
    /// How `ci` was computed.
    pub ci_method: &'static str,
    /// The confidence of `ci`; significance is `p_value < 1 - confidence`.
    pub confidence: f64,
    /// The normal approximation's z, for z-based tests.
    pub z: Option<f64>,
    /// Canary observations (trials for a ratio).
    pub canary_n: u64,
    /// Canary events, for a ratio.
    pub canary_events: Option<u64>,
    /// Baseline observations, for a comparison with the baseline.
    pub baseline_n: Option<u64>,
    /// Baseline events, for a ratio compared with the baseline.
    pub baseline_events: Option<u64>,
    /// Where the counts came from.
    pub data: &'static str,
    /// The counted range `[from_ms, to_ms]`.
    pub range_ms: [i64; 2],
    /// Whether the counts suffice for a pass (the interval clears the threshold).
    pub sufficient: bool,
    /// Why not, when they do not.
    pub insufficient: Option<String>,
}

impl Statistic {
    fn significant(&self) -> Option<bool> {
        self.p_value.map(|p| p < 1.0 - self.confidence)
    }
}

/// What the statistics are computed from.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The gate file (side labels, confidence).
    pub gates: &'a Gates,
    /// The source the checks were evaluated on.
    pub source: &'a Source,
    /// The analysed span.
    pub span: &'a Span,
    /// Per-request latency of a load run, when the source is one.
    pub latency: Option<&'a LatencySamples>,
}

/// Sets `samples` and `statistic` of `result` and turns an unsupported pass or an insignificant
/// breach into inconclusive. Counts that cannot be read leave the outcome alone, with a warning.
pub async fn assess(inputs: &Inputs<'_>, check: &Check, result: &mut CheckResult) {
    if result.outcome == Outcome::Error {
        return;
    }
    let shape = Shape::of(&check.query);
    let range_ms = match shape.range().as_millis() as i64 {
        0 => 0,
        r => ((r as f64 * inputs.span.time_scale) as i64).max(1000),
    };
    let (from, to) = match (result.outcome, result.breaches.first()) {
        (Outcome::Breach, Some(&(f, t))) => ((f - range_ms).max(inputs.span.start_ms), t),
        _ => (inputs.span.start_ms, inputs.span.end_ms),
    };
    let computed = match &shape {
        Shape::Ratio { events, trials, .. } => ratio(inputs, check, events, trials, from, to).await,
        Shape::Quantile {
            q, buckets, metric, ..
        } => quantile(inputs, check, *q, buckets, metric, from, to).await,
        Shape::Count {
            counter,
            per_second,
            ..
        } => {
            let per_ms = if *per_second { 1000 } else { range_ms };
            count(inputs, check, counter, per_ms, from, to).await
        }
        Shape::Opaque => Ok((None, None)),
    };
    let (samples, statistic) = match computed {
        Ok(found) => found,
        Err(e) => {
            result.warnings.push(format!("statistics unavailable: {e}"));
            return;
        }
    };
    result.samples = samples;
    let Some(stat) = statistic else {
        return;
    };
    let n = stat.canary_n;
    match (result.outcome, stat.significant()) {
        (Outcome::Breach, Some(false)) => {
            result.outcome = Outcome::Inconclusive;
            result.decision = format!(
                "breach not significant: n={n}, p={:.3} ({}, {}); {}",
                stat.p_value.unwrap_or(f64::NAN),
                stat.test,
                stat.hypothesis,
                result.decision
            );
        }
        (Outcome::Pass, _) if !stat.sufficient => {
            result.outcome = Outcome::Inconclusive;
            result.decision = format!(
                "insufficient data: {} ({})",
                stat.insufficient
                    .as_deref()
                    .unwrap_or("too few observations"),
                result.decision
            );
        }
        _ => {}
    }
    result.statistic = Some(stat);
}

type Assessed = Result<(Option<u64>, Option<Statistic>), String>;

fn fmt_ratio(x: f64) -> String {
    format!("{:.3}%", x * 100.0)
}

async fn ratio(
    inputs: &Inputs<'_>,
    check: &Check,
    events: &str,
    trials: &str,
    from: i64,
    to: i64,
) -> Assessed {
    let (g, src, sides) = (inputs.gates, inputs.source, &inputs.gates.sides);
    let confidence = g.sufficiency.confidence;
    let x1 = evidence::count(g, src, &sides.canary, events, from, to)
        .await?
        .unwrap_or(0);
    let Some(n1) = evidence::count(g, src, &sides.canary, trials, from, to).await? else {
        return Ok((None, None));
    };
    let t = check.threshold;
    let interval = stats::ratio_interval(x1, n1, confidence);
    let ci = interval.map(|((lo, hi), _)| [lo, hi]);
    let ci_method = interval.map_or("none (no trials)", |(_, how)| how);
    let observed = (n1 > 0).then(|| x1 as f64 / n1 as f64);
    let mut stat = Statistic {
        test: "binomial",
        hypothesis: String::new(),
        p_value: None,
        effect_size: None,
        effect: "canary ratio - threshold",
        ci,
        ci_of: "canary ratio".into(),
        ci_method,
        confidence,
        z: None,
        canary_n: n1,
        canary_events: Some(x1),
        baseline_n: None,
        baseline_events: None,
        data: "prometheus counters",
        range_ms: [from, to],
        sufficient: false,
        insufficient: None,
    };
    let hi = ci.map(|[_, hi]| hi);
    let lo = ci.map(|[lo, _]| lo);
    let mut limit = t;
    match check.compare {
        Compare::Above => {
            stat.hypothesis = format!("canary ratio > {t}");
            stat.p_value = stats::binomial_above(x1, n1, t);
            stat.effect_size = observed.map(|o| o - t);
            stat.sufficient = hi.is_some_and(|hi| hi <= t);
        }
        Compare::Below => {
            stat.hypothesis = format!("canary ratio < {t}");
            stat.p_value = stats::binomial_below(x1, n1, t);
            stat.effect_size = observed.map(|o| o - t);
            stat.sufficient = lo.is_some_and(|lo| lo >= t);
        }
        Compare::DeltaAbove | Compare::RatioAbove => {
            let x2 = evidence::count(g, src, &sides.baseline, events, from, to)
                .await?
                .unwrap_or(0);
            let n2 = evidence::count(g, src, &sides.baseline, trials, from, to)
                .await?
                .unwrap_or(0);
            let base = if n2 > 0 { x2 as f64 / n2 as f64 } else { 0.0 };
            limit = if check.compare == Compare::RatioAbove {
                (t * base.max(check.floor)).max(check.floor)
            } else {
                base + t
            };
            stat.baseline_n = Some(n2);
            stat.baseline_events = Some(x2);
            stat.hypothesis = "canary ratio > baseline ratio".into();
            if let Some(tp) = stats::two_proportions(x1, n1, x2, n2, confidence) {
                stat.test = "two-proportion-z";
                stat.p_value = Some(tp.p_greater);
                stat.z = Some(tp.z);
                stat.effect = "canary ratio - baseline ratio";
                stat.effect_size = Some(tp.difference);
                stat.ci = Some([tp.ci.0, tp.ci.1]);
                stat.ci_of = "canary ratio - baseline ratio".into();
                stat.ci_method = "wald";
            }
            stat.sufficient = hi.is_some_and(|hi| hi <= limit);
        }
    }
    if !stat.sufficient {
        stat.insufficient = Some(match (check.compare, hi, lo) {
            (_, None, _) | (_, _, None) => format!("no {trials} on the canary in the range"),
            (Compare::Below, _, Some(lo)) => format!(
                "{x1} of {n1}: the canary ratio could be as low as {} ({ci_method}), below {}",
                fmt_ratio(lo),
                fmt_ratio(limit)
            ),
            (_, Some(hi), _) => format!(
                "{x1} of {n1}: the canary ratio could be as high as {} ({ci_method}, {:.0}%), above the limit {}",
                fmt_ratio(hi),
                confidence * 100.0,
                fmt_ratio(limit)
            ),
        });
    }
    Ok((Some(n1), Some(stat)))
}

/// A count check: an exact Poisson test of the canary's events against the threshold's
/// expected count over the range; the value's unit is events per `per_ms` (1 s for `rate`, the
/// range for `increase`). With a threshold of 0 every event is seen, so a pass needs no more data.
async fn count(
    inputs: &Inputs<'_>,
    check: &Check,
    counter: &str,
    per_ms: i64,
    from: i64,
    to: i64,
) -> Assessed {
    let side = &inputs.gates.sides.canary;
    let Some(x) = evidence::count(inputs.gates, inputs.source, side, counter, from, to).await?
    else {
        return Ok((None, None));
    };
    if !matches!(check.compare, Compare::Above | Compare::Below) || per_ms <= 0 || to <= from {
        return Ok((Some(x), None));
    }
    let confidence = inputs.gates.sufficiency.confidence;
    let t = check.threshold;
    // Periods of the value's unit in the counted range.
    let periods = (to - from) as f64 / per_ms as f64;
    let expected = t.max(0.0) * periods;
    let ci = stats::poisson_interval(x, confidence).map(|(lo, hi)| [lo / periods, hi / periods]);
    let (hypothesis, p_value, sufficient) = if check.compare == Compare::Below {
        (
            format!("canary rate < {t}"),
            stats::poisson_below(x, expected),
            ci.is_some_and(|[lo, _]| lo >= t),
        )
    } else {
        (
            format!("canary rate > {t}"),
            stats::poisson_above(x, expected),
            t <= 0.0 || ci.is_some_and(|[_, hi]| hi <= t),
        )
    };
    let stat = Statistic {
        test: "poisson",
        hypothesis,
        p_value,
        effect_size: Some(x as f64 / periods - t),
        effect: "canary rate - threshold (the query's unit)",
        ci,
        ci_of: "canary rate (the query's unit)".into(),
        ci_method: "garwood (exact poisson)",
        confidence,
        z: None,
        canary_n: x,
        canary_events: Some(x),
        baseline_n: None,
        baseline_events: None,
        data: "prometheus counters",
        range_ms: [from, to],
        sufficient,
        insufficient: (!sufficient).then(|| {
            format!(
                "{x} events in {:.0} s: the canary rate could be as high as {:.3} at {:.0}%, above {t}",
                (to - from) as f64 / 1000.0,
                ci.map_or(f64::NAN, |[_, hi]| hi),
                confidence * 100.0
            )
        }),
    };
    Ok((Some(x), Some(stat)))
}

async fn side_buckets(
    inputs: &Inputs<'_>,
    side: &str,
    selector: &str,
    metric: &str,
    from: i64,
    to: i64,
) -> Result<(Vec<Bucket>, &'static str), String> {
    if let Some(found) = inputs
        .latency
        .and_then(|l| l.window(metric, side, from, to))
    {
        return Ok((
            found,
            "load engine HDR histograms (corrected TTFB per request)",
        ));
    }
    let found = evidence::buckets(inputs.gates, inputs.source, side, selector, from, to).await?;
    Ok((found, "prometheus buckets"))
}

async fn quantile(
    inputs: &Inputs<'_>,
    check: &Check,
    q: f64,
    selector: &str,
    metric: &str,
    from: i64,
    to: i64,
) -> Assessed {
    let (g, sides) = (inputs.gates, &inputs.gates.sides);
    let confidence = g.sufficiency.confidence;
    let t = check.threshold;
    let n_of = |b: &[Bucket]| b.iter().map(|b| b.count).sum::<u64>();
    let pct = format!("p{}", q * 100.0);
    let comparing = matches!(check.compare, Compare::DeltaAbove | Compare::RatioAbove);
    // An absolute threshold is judged on the buckets the check's value came from; a comparison
    // with the baseline on per-request samples when the run has them.
    let (canary, data) = if comparing {
        side_buckets(inputs, &sides.canary, selector, metric, from, to).await?
    } else {
        let b = evidence::buckets(g, inputs.source, &sides.canary, selector, from, to).await?;
        (b, "prometheus buckets")
    };
    let n1 = n_of(&canary);
    let c_ci = stats::quantile_interval(&canary, q, confidence);
    let mut stat = Statistic {
        test: "quantile-binomial",
        hypothesis: String::new(),
        p_value: None,
        effect_size: None,
        effect: "",
        ci: c_ci.map(|(lo, hi)| [lo, hi]),
        ci_of: format!("canary {pct}"),
        ci_method: "order statistics (binomial)",
        confidence,
        z: None,
        canary_n: n1,
        canary_events: None,
        baseline_n: None,
        baseline_events: None,
        data,
        range_ms: [from, to],
        sufficient: false,
        insufficient: None,
    };
    if comparing {
        let (baseline, _) =
            side_buckets(inputs, &sides.baseline, selector, metric, from, to).await?;
        let n2 = n_of(&baseline);
        let b_ci = stats::quantile_interval(&baseline, q, confidence);
        stat.baseline_n = Some(n2);
        stat.hypothesis = "canary latency stochastically greater than baseline".into();
        stat.effect = "P(canary > baseline) (common-language effect size)";
        if let Some(mw) = stats::mann_whitney(&canary, &baseline) {
            stat.test = "mann-whitney";
            stat.p_value = Some(mw.p_greater);
            stat.z = Some(mw.z);
            stat.effect_size = Some(mw.cles);
        }
        if let (Some(c), Some(b)) = (c_ci, b_ci) {
            stat.ci = Some([c.0 - b.1, c.1 - b.0]);
            stat.ci_of = format!("canary {pct} - baseline {pct} (from both intervals)");
        }
        let bounded = |ci: Option<(f64, f64)>| ci.is_some_and(|(_, hi)| hi.is_finite());
        stat.sufficient = bounded(c_ci) && bounded(b_ci);
        if !stat.sufficient {
            stat.insufficient = Some(format!(
                "the {pct} is not bounded at {:.0}% with {n1} canary and {n2} baseline observations",
                confidence * 100.0
            ));
        }
    } else {
        stat.effect = "share of observations above the threshold - (1 - q)";
        // Counting the bucket holding t as at-or-below makes a breach harder to call significant.
        let generous = stats::count_at_or_below(&canary, t, true);
        let strict = stats::count_at_or_below(&canary, t, false);
        if n1 > 0 {
            stat.effect_size = Some((n1 - strict) as f64 / n1 as f64 - (1.0 - q));
        }
        match check.compare {
            Compare::Below => {
                stat.hypothesis = format!("canary {pct} < {t}");
                stat.p_value = stats::quantile_at_or_below(strict, n1, q);
                stat.sufficient = c_ci.is_some_and(|(lo, _)| lo >= t);
            }
            _ => {
                stat.hypothesis = format!("canary {pct} > {t}");
                stat.p_value = stats::quantile_above(generous, n1, q);
                stat.sufficient = c_ci.is_some_and(|(_, hi)| hi <= t);
            }
        }
        if !stat.sufficient {
            stat.insufficient = Some(match c_ci {
                None => "no observations on the canary in the range".into(),
                Some((lo, hi)) => format!(
                    "{n1} observations: the canary {pct} lies in [{lo}, {hi}] at {:.0}%, which does not clear {t}",
                    confidence * 100.0
                ),
            });
        }
    }
    Ok((Some(n1), Some(stat)))
}
