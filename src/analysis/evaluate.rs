//! Judging one check over time: its query is evaluated for each side at every step of the
//! analysed span, the sides are compared point by point, and a breach needs every evaluation in
//! the trailing window, both ends included, to breach (Prometheus's `for:`). No data is never a pass: a check without data, without enough
//! of it for its window or minimum duration, or on a side with too little traffic is
//! inconclusive, which holds the rollout.
//!
//! For: one check's outcome with its evidence. Not for: combining outcomes (see
//! [`super::verdict`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::OnceCell;

use super::evidence::Shape;
use super::gates::{Action, Check, Compare, Gates};
use super::select;
use crate::prom::eval::{resolution, Evaluated, RangeSeries, Value};
use crate::prom::source::Source;

/// A range query's answer, or why it failed.
pub type RangeAnswer = Result<Arc<Evaluated<Vec<RangeSeries>>>, String>;

/// A range query's arguments: query, start, end, step (ms).
type RangeKey = (String, i64, i64, i64);

/// A source whose range queries are answered once per distinct query and span: checks often
/// share one (the seed's TTFB p95 and breaker ratio each back three checks), and over a day of
/// scrapes a range query is the analysis's main cost.
pub struct Ranges<'a> {
    /// The source queried.
    pub source: &'a Source,
    answers: Mutex<HashMap<RangeKey, Arc<OnceCell<RangeAnswer>>>>,
}

impl<'a> Ranges<'a> {
    /// No answers yet.
    pub fn new(source: &'a Source) -> Ranges<'a> {
        Ranges {
            source,
            answers: Mutex::new(HashMap::new()),
        }
    }

    /// [`Source::range`], asked once per distinct arguments.
    pub async fn range(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> RangeAnswer {
        let cell = {
            let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
            answers
                .entry((query.to_string(), start_ms, end_ms, step_ms))
                .or_default()
                .clone()
        };
        cell.get_or_init(|| async {
            self.source
                .range(query, start_ms, end_ms, step_ms)
                .await
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .await
        .clone()
    }
}

/// The span analysed and how time is scaled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// First evaluation, ms since the epoch.
    pub start_ms: i64,
    /// Last evaluation.
    pub end_ms: i64,
    /// Multiplies every window, step, minimum duration and range in queries (1.0: as written);
    /// a compressed run (the gate's short profile) is judged with a small scale.
    pub time_scale: f64,
}

impl Span {
    /// The span a scraped run is judged over: its samples, cut to the load's schedule
    /// (`schedule`, ms since the epoch) when known, so the idle scrapes before and after the load
    /// do not count. `None` when the store holds no sample.
    pub fn of_samples(
        store: &crate::prom::store::Store,
        schedule: Option<(i64, i64)>,
        time_scale: f64,
    ) -> Option<Span> {
        let (first, last) = (store.min_timestamp()?, store.max_timestamp()?);
        let (start, end) = schedule.map_or((first, last), |(s, e)| (s.max(first), e.min(last)));
        Some(Span {
            start_ms: start,
            end_ms: end.max(start),
            time_scale,
        })
    }

    /// The span without its first `warmup` (scaled); never shorter than nothing.
    pub fn after_warmup(&self, warmup: Duration) -> Span {
        Span {
            start_ms: (self.start_ms + self.scaled_ms(warmup)).min(self.end_ms),
            ..*self
        }
    }

    fn scaled_ms(&self, d: Duration) -> i64 {
        (d.as_secs_f64() * self.time_scale * 1000.0).round() as i64
    }
}

/// How a check turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Evaluated on enough data, never breached.
    Pass,
    /// Breached for its whole window at least once.
    Breach,
    /// Not enough data to say.
    Inconclusive,
    /// The query could not be evaluated.
    Error,
}

/// One check's result, with everything a reviewer needs to see why.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// The check's name.
    pub name: String,
    /// What a breach leads to.
    pub action: Action,
    /// The query as written.
    pub query: String,
    /// The queries as run, per side.
    pub resolved: BTreeMap<&'static str, String>,
    /// The comparison, in words.
    pub comparison: String,
    /// The threshold.
    pub threshold: f64,
    /// The value's unit.
    pub unit: String,
    /// The window, scaled, as text.
    pub window: String,
    /// The step, scaled, as text.
    pub step: String,
    /// Evaluations with a value.
    pub evaluations: usize,
    /// Observations behind the value in the counted range (requests or trials of a ratio,
    /// observations of a histogram, events of a counter); `None` for a query without counts.
    pub samples: Option<u64>,
    /// The test behind the value (see [`super::significance`]).
    pub statistic: Option<super::significance::Statistic>,
    /// Baseline values over time `(ms, value)` (empty when the comparison does not use it).
    pub baseline_series: Vec<(i64, f64)>,
    /// Canary values over time.
    pub canary_series: Vec<(i64, f64)>,
    /// The compared value at the last evaluation with data.
    pub value: Option<f64>,
    /// The outcome.
    pub outcome: Outcome,
    /// What this check decided and why, in one sentence.
    pub decision: String,
    /// Spans `(from_ms, to_ms)` in which the check was in breach for its whole window.
    pub breaches: Vec<(i64, i64)>,
    /// Annotations from evaluation (bucket resolution, monotonicity fixes...).
    pub warnings: Vec<String>,
}

/// Requests each side had in the span (`None` when the query had no data).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Traffic {
    /// Baseline requests.
    pub baseline: Option<f64>,
    /// Canary requests.
    pub canary: Option<f64>,
}

/// Counts each side's requests in the span with the gate file's `[data] requests` counter.
pub async fn traffic(gates: &Gates, source: &Source, span: &Span) -> Traffic {
    let side =
        |value: &str| select::for_gate_side(&gates.sufficiency.requests, &gates.sides, value, 1.0);
    let mut out = [None, None];
    for (slot, value) in [(0, &gates.sides.baseline), (1, &gates.sides.canary)] {
        let Ok(query) = side(value) else { continue };
        let at = |t| {
            let query = query.clone();
            async move {
                let evaluated = source.instant(&query, t).await.ok()?;
                match evaluated.value {
                    crate::prom::eval::Value::Vector(v) => {
                        let sum: f64 = v.iter().map(|s| s.value).filter(|v| v.is_finite()).sum();
                        (!v.is_empty()).then_some(sum)
                    }
                    crate::prom::eval::Value::Scalar(s) => Some(s),
                    crate::prom::eval::Value::Matrix(_) => None,
                }
            }
        };
        let end = at(span.end_ms).await;
        let start = at(span.start_ms).await.unwrap_or(0.0);
        out[slot] = end.map(|e| (e - start).max(0.0));
    }
    Traffic {
        baseline: out[0],
        canary: out[1],
    }
}

/// Evaluates one check on `ranges`' source over `span`; `traffic_note` is set when a side had too few
/// requests, which turns a pass into inconclusive.
pub async fn check(
    gates: &Gates,
    check: &Check,
    ranges: &Ranges<'_>,
    span: &Span,
    traffic_note: Option<&str>,
) -> CheckResult {
    let window_ms = span.scaled_ms(check.window);
    let step_ms = span.scaled_ms(check.step).max(1000);
    let min_ms = span.scaled_ms(check.min_duration);
    let uses_baseline = matches!(check.compare, Compare::DeltaAbove | Compare::RatioAbove);
    let mut result = CheckResult {
        name: check.name.clone(),
        action: check.action,
        query: check.query.clone(),
        resolved: BTreeMap::new(),
        comparison: comparison(check),
        threshold: check.threshold,
        unit: check.unit.clone(),
        window: humantime::format_duration(Duration::from_millis(window_ms.max(0) as u64))
            .to_string(),
        step: humantime::format_duration(Duration::from_millis(step_ms as u64)).to_string(),
        evaluations: 0,
        samples: None,
        statistic: None,
        baseline_series: Vec::new(),
        canary_series: Vec::new(),
        value: None,
        outcome: Outcome::Error,
        decision: String::new(),
        breaches: Vec::new(),
        warnings: Vec::new(),
    };
    let mut sides = vec![("canary", &gates.sides.canary)];
    if uses_baseline {
        sides.push(("baseline", &gates.sides.baseline));
    }
    let mut series: BTreeMap<&'static str, BTreeMap<i64, f64>> = BTreeMap::new();
    for (name, value) in sides {
        let query = match select::for_gate_side(&check.query, &gates.sides, value, span.time_scale)
        {
            Ok(q) => q,
            Err(e) => {
                result.decision = format!("the query does not parse: {e}");
                return result;
            }
        };
        result.resolved.insert(name, query.clone());
        match ranges
            .range(&query, span.start_ms, span.end_ms, step_ms)
            .await
        {
            Ok(evaluated) => {
                result
                    .warnings
                    .extend(evaluated.warnings.iter().map(|w| w.message.clone()));
                series.insert(name, worst(&evaluated.value, check.compare));
            }
            Err(e) => {
                result.decision = format!("the {name} query failed: {e}");
                return result;
            }
        }
    }
    let canary = series.remove("canary").unwrap_or_default();
    let baseline = series.remove("baseline").unwrap_or_default();
    result.canary_series = canary.iter().map(|(t, v)| (*t, *v)).collect();
    result.baseline_series = baseline.iter().map(|(t, v)| (*t, *v)).collect();

    if let Some(warning) = bucket_resolution(gates, check, ranges.source, span).await {
        result.warnings.push(warning);
    }

    // The compared value and whether it breaches, at every step of the span.
    let mut points: Vec<(i64, Option<(f64, bool)>)> = Vec::new();
    let mut t = span.start_ms;
    while t <= span.end_ms {
        points.push((
            t,
            compare(check, canary.get(&t).copied(), baseline.get(&t).copied()),
        ));
        t += step_ms;
    }
    result.evaluations = points.iter().filter(|(_, p)| p.is_some()).count();
    result.value = points.iter().rev().find_map(|(_, p)| p.map(|(v, _)| v));

    // Windowed breaches, as Prometheus's `for:` fires: every evaluation in [t - window, t] has
    // data and breaches (breaching since t - window at the latest), and the window lies inside
    // the span. A 10m window at a 30s step needs 21 breaching evaluations in a row.
    let in_breach = |i: usize| -> bool {
        let (t, _) = points[i];
        if t - window_ms < span.start_ms {
            return false;
        }
        points[..=i]
            .iter()
            .rev()
            .take_while(|(u, _)| *u >= t - window_ms)
            .all(|(_, p)| matches!(p, Some((_, true))))
    };
    let mut run: Option<(i64, i64)> = None;
    for (i, &(t, _)) in points.iter().enumerate() {
        if in_breach(i) {
            run = Some(match run {
                Some((from, _)) => (from, t),
                // From the first evaluation of the window that completed the breach.
                None => ((t - window_ms).max(span.start_ms), t),
            });
        } else if let Some(done) = run.take() {
            result.breaches.push(done);
        }
    }
    result.breaches.extend(run);

    let with_data: Vec<i64> = points
        .iter()
        .filter(|(_, p)| p.is_some())
        .map(|(t, _)| *t)
        .collect();
    let covered = match (with_data.first(), with_data.last()) {
        (Some(first), Some(last)) => last - first,
        _ => 0,
    };
    let fmt_ms = |ms: i64| {
        humantime::format_duration(Duration::from_secs((ms.max(0) / 1000) as u64)).to_string()
    };
    (result.outcome, result.decision) = if let Some((from, to)) = result.breaches.first() {
        (
            Outcome::Breach,
            format!(
                "{} breached ({}) from {} to {} of the span: {}",
                check.name,
                result.comparison,
                fmt_ms(from - span.start_ms),
                fmt_ms(to - span.start_ms),
                action_words(check.action)
            ),
        )
    } else if with_data.is_empty() {
        (
            Outcome::Inconclusive,
            format!(
                "no data for {}",
                result
                    .resolved
                    .values()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        )
    } else if covered < min_ms {
        (
            Outcome::Inconclusive,
            format!(
                "holds so far, but needs {} of data and has {}: {} more",
                fmt_ms(min_ms),
                fmt_ms(covered),
                fmt_ms(min_ms - covered)
            ),
        )
    } else if window_ms > 0 && covered < window_ms {
        (
            Outcome::Inconclusive,
            format!(
                "its {} window is longer than the {} of data: cannot rule a breach out",
                fmt_ms(window_ms),
                fmt_ms(covered)
            ),
        )
    } else if points.last().is_some_and(|(_, p)| p.is_none()) {
        (
            Outcome::Inconclusive,
            "no data at the end of the span (a scrape gap or no traffic)".into(),
        )
    } else if let Some(note) = traffic_note {
        (Outcome::Inconclusive, format!("insufficient data: {note}"))
    } else {
        (
            Outcome::Pass,
            format!(
                "never breached ({}) in {} evaluations",
                result.comparison, result.evaluations
            ),
        )
    };
    result
}

/// What a breach of `action` does, in words ("roll back").
pub fn action_words(action: Action) -> &'static str {
    match action {
        Action::Rollback => "roll back",
        Action::Downgrade => "downgrade to write-only",
        Action::Hold => "hold the rollout",
    }
}

/// The comparison in words ("canary - baseline > 0.2").
pub fn comparison(check: &Check) -> String {
    let t = check.threshold;
    match check.compare {
        Compare::Above => format!("canary > {t}"),
        Compare::Below => format!("canary < {t}"),
        Compare::DeltaAbove => format!("canary - baseline > {t}"),
        Compare::RatioAbove => format!("canary / max(baseline, {}) > {t}", check.floor),
    }
}

/// Per timestamp, the worst value over the result's series (highest, or lowest for `below`);
/// NaN and infinite values are no data.
fn worst(series: &[crate::prom::eval::RangeSeries], compare: Compare) -> BTreeMap<i64, f64> {
    let mut out: BTreeMap<i64, f64> = BTreeMap::new();
    for s in series {
        for &(t, v) in &s.points {
            if !v.is_finite() {
                continue;
            }
            out.entry(t)
                .and_modify(|w| {
                    *w = match compare {
                        Compare::Below => w.min(v),
                        _ => w.max(v),
                    }
                })
                .or_insert(v);
        }
    }
    out
}

/// The compared value and whether it breaches; `None` when a needed side has no data.
fn compare(check: &Check, canary: Option<f64>, baseline: Option<f64>) -> Option<(f64, bool)> {
    let c = canary?;
    let t = check.threshold;
    Some(match check.compare {
        Compare::Above => (c, c > t),
        Compare::Below => (c, c < t),
        Compare::DeltaAbove => {
            let d = c - baseline?;
            (d, d > t)
        }
        Compare::RatioAbove => {
            let r = c / baseline?.max(check.floor).max(f64::MIN_POSITIVE);
            (r, r > t && c > check.floor)
        }
    })
}

/// For a quantile compared with an absolute threshold: a warning when the threshold is not a
/// bound of the canary's histogram buckets, so the interpolated quantile can be off near it
/// (the toolkit's [`crate::prom::eval::resolution`] check, on the buckets the source holds).
async fn bucket_resolution(
    gates: &Gates,
    check: &Check,
    source: &Source,
    span: &Span,
) -> Option<String> {
    if !matches!(check.compare, Compare::Above | Compare::Below) {
        return None;
    }
    let Shape::Quantile { buckets, .. } = Shape::of(&check.query) else {
        return None;
    };
    let selector =
        select::for_gate_side(&buckets, &gates.sides, &gates.sides.canary, span.time_scale).ok()?;
    let query = format!("count by (le) ({selector})");
    let evaluated = source.instant(&query, span.end_ms).await.ok()?;
    let Value::Vector(series) = evaluated.value else {
        return None;
    };
    let mut bounds: Vec<f64> = series
        .iter()
        .filter_map(|s| crate::prom::exposition::parse_float(s.labels.get("le")))
        .collect();
    bounds.sort_by(f64::total_cmp);
    resolution::check(check.threshold, &bounds).map(|w| format!("bucket resolution: {w}"))
}
