//! The supported PromQL functions: `rate`, `increase`, `irate`, `histogram_quantile`,
//! `clamp_min`, `abs`, `time`. Arithmetic ported from Prometheus's `promql/functions.go`
//! (`extrapolatedRate`, `instantValue`, `funcHistogramQuantile`).

use rustc_hash::FxHashMap as HashMap;

use promql_parser::parser::{Call, Expr};

use super::quantile::{bucket_quantile, Bucket};
use super::{Ctx, EvalError, Semantics, Val, WarningLevel};
use crate::prom::exposition::parse_float;
use crate::prom::labels::Labels;
use crate::prom::store::{is_stale, Series};

const SUPPORTED: &[&str] = &[
    "rate",
    "increase",
    "irate",
    "histogram_quantile",
    "clamp_min",
    "abs",
    "time",
];

pub(super) fn is_supported(name: &str) -> bool {
    SUPPORTED.contains(&name)
}

pub(super) fn call(ctx: &mut Ctx<'_>, call: &Call, t: i64) -> Result<Val, EvalError> {
    let args = &call.args.args;
    let name = call.func.name;
    match name {
        "time" => Ok(Val::Scalar(t as f64 / 1000.0)),
        "rate" | "increase" | "irate" => {
            let Some(Expr::MatrixSelector(ms)) = args.first().map(|a| strip_parens(a)) else {
                return Err(
                    ctx.execution(format!("{name}: expected a range vector selector argument"))
                );
            };
            let range_s = ms.range.as_secs_f64();
            let offset = super::selector::offset_ms(&ms.vs.offset);
            let range_end = t - offset;
            let range_start = range_end - ms.range.as_millis() as i64;
            let semantics = ctx.semantics;
            // Walk the selected series directly with one reusable buffer: this is the hot loop of
            // range queries (one call per series per step).
            let series_list: Vec<&Series> = ctx.selection(&ms.vs).to_vec();
            let window_start = ctx.window_start(range_end, ms.range.as_millis() as i64);
            let mut points: Vec<(i64, f64)> = Vec::new();
            let mut out = Vec::with_capacity(series_list.len());
            for series in series_list {
                points.clear();
                points.extend(
                    series
                        .window(window_start, range_end)
                        .map(|i| (series.timestamp(i), series.value(i)))
                        .filter(|&(_, v)| !is_stale(v)),
                );
                if points.is_empty() {
                    continue;
                }
                if name != "irate" {
                    let labels = series.labels();
                    let metric = labels.metric_name();
                    if !["_total", "_sum", "_count", "_bucket"]
                        .iter()
                        .any(|s| metric.ends_with(s))
                    {
                        ctx.warn(
                            WarningLevel::Info,
                            format!(
                                "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {metric:?}"
                            ),
                        );
                    }
                }
                let value = match name {
                    "irate" => instant_rate(&points),
                    _ => extrapolated_rate(
                        &points,
                        range_start,
                        range_end,
                        range_s,
                        name == "rate",
                        semantics,
                    ),
                };
                if let Some(v) = value {
                    out.push((ctx.without_name(series), v));
                }
            }
            Ok(Val::Vector(out))
        }
        "abs" => map_vector(ctx, args, t, f64::abs),
        "clamp_min" => {
            let min = scalar_arg(ctx, args.get(1).map(|a| a.as_ref()), t, name)?;
            // Go's math.Max: NaN in either gives NaN.
            map_vector(ctx, args, t, |v| {
                if v.is_nan() || min.is_nan() {
                    f64::NAN
                } else {
                    v.max(min)
                }
            })
        }
        "histogram_quantile" => histogram_quantile(ctx, call, t),
        other => Err(ctx.unsupported(&format!("function {other}"), other)),
    }
}

fn strip_parens(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => strip_parens(&p.expr),
        e => e,
    }
}

fn scalar_arg(ctx: &mut Ctx<'_>, arg: Option<&Expr>, t: i64, name: &str) -> Result<f64, EvalError> {
    match arg {
        Some(a) => match ctx.eval(a, t)? {
            Val::Scalar(v) => Ok(v),
            _ => Err(ctx.execution(format!("{name}: expected a scalar argument"))),
        },
        None => Err(ctx.execution(format!("{name}: missing argument"))),
    }
}

fn map_vector(
    ctx: &mut Ctx<'_>,
    args: &[Box<Expr>],
    t: i64,
    f: impl Fn(f64) -> f64,
) -> Result<Val, EvalError> {
    match args.first() {
        Some(a) => match ctx.eval(a, t)? {
            Val::Vector(v) => Ok(Val::Vector(
                v.into_iter()
                    .map(|(l, x)| (l.without_name(), f(x)))
                    .collect(),
            )),
            _ => Err(ctx.execution("expected an instant vector argument".to_string())),
        },
        None => Err(ctx.execution("missing argument".to_string())),
    }
}

/// `extrapolatedRate` for float counters (`isCounter` true): `rate` divides by the range.
/// `points` are the window's samples, staleness markers removed; fewer than two give no result.
pub fn extrapolated_rate(
    points: &[(i64, f64)],
    range_start: i64,
    range_end: i64,
    range_s: f64,
    is_rate: bool,
    semantics: Semantics,
) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (first_t, first_v) = points[0];
    let (last_t, last_v) = points[points.len() - 1];
    let mut result = last_v - first_v;
    for pair in points.windows(2) {
        if pair[1].1 < pair[0].1 {
            result += pair[0].1;
        }
    }
    let mut duration_to_start = (first_t - range_start) as f64 / 1000.0;
    let mut duration_to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let average = sampled_interval / (points.len() - 1) as f64;
    let threshold = average * 1.1;
    // Counters cannot go below zero: do not extrapolate past the point where it would be zero.
    // Prometheus 3 (since 2.51, #13725) clamps after the average/2 rule, Prometheus 2 before it.
    let zero_clamp = |duration_to_start: &mut f64| {
        if result > 0.0 && first_v >= 0.0 {
            let duration_to_zero = sampled_interval * (first_v / result);
            if duration_to_zero < *duration_to_start {
                *duration_to_start = duration_to_zero;
            }
        }
    };
    if semantics == Semantics::Prometheus2 {
        zero_clamp(&mut duration_to_start);
    }
    if duration_to_start >= threshold {
        duration_to_start = average / 2.0;
    }
    if semantics == Semantics::Prometheus3 {
        zero_clamp(&mut duration_to_start);
    }
    if duration_to_end >= threshold {
        duration_to_end = average / 2.0;
    }
    let mut factor = 1.0;
    if sampled_interval != 0.0 {
        factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    }
    if is_rate {
        factor /= range_s;
    }
    Some(result * factor)
}

/// `instantValue` for `irate`: per-second change between the last two samples (after a reset,
/// the last value itself); no result when they share a timestamp or there are fewer than two.
pub fn instant_rate(points: &[(i64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (prev_t, prev_v) = points[points.len() - 2];
    let (last_t, last_v) = points[points.len() - 1];
    let delta = if last_v < prev_v {
        last_v
    } else {
        last_v - prev_v
    };
    let interval = last_t - prev_t;
    if interval == 0 {
        return None;
    }
    Some(delta / (interval as f64 / 1000.0))
}

fn histogram_quantile(ctx: &mut Ctx<'_>, call: &Call, t: i64) -> Result<Val, EvalError> {
    let args = &call.args.args;
    let q = scalar_arg(
        ctx,
        args.first().map(|a| a.as_ref()),
        t,
        "histogram_quantile",
    )?;
    let input = match args.get(1) {
        Some(a) => match ctx.eval(a, t)? {
            Val::Vector(v) => v,
            _ => {
                return Err(
                    ctx.execution("histogram_quantile: expected an instant vector".to_string())
                )
            }
        },
        None => return Err(ctx.execution("histogram_quantile: missing argument".to_string())),
    };
    if q.is_nan() || !(0.0..=1.0).contains(&q) {
        ctx.warn(
            WarningLevel::Warning,
            format!(
                "PromQL warning: quantile value should be between 0 and 1, got {}",
                go_g(q)
            ),
        );
    }
    // Group by all labels except `le` (the metric name stays in the key, as in Prometheus's
    // signature; it is dropped from the output).
    let mut groups: Vec<(Labels, Vec<Bucket>)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::default();
    let mut bounds: Vec<f64> = Vec::new();
    for (labels, value) in input {
        let le = labels.get("le");
        let Some(upper_bound) = parse_float(le) else {
            ctx.warn(
                WarningLevel::Warning,
                format!(
                    "PromQL warning: bucket label \"le\" is missing or has a malformed value of {le:?}{}",
                    for_metric(labels.metric_name())
                ),
            );
            continue;
        };
        if !bounds.contains(&upper_bound) {
            bounds.push(upper_bound);
        }
        let key = labels.filtered(|n| n != "le");
        let slot = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((key.without_name(), Vec::new()));
            groups.len() - 1
        });
        groups[slot].1.push(Bucket {
            upper_bound,
            count: value,
        });
    }
    bounds.sort_by(f64::total_cmp);
    ctx.quantile_bounds
        .insert(call as *const Call as usize, bounds);
    let mut out = Vec::with_capacity(groups.len());
    for (labels, mut buckets) in groups {
        let outcome = bucket_quantile(q, &mut buckets, ctx.semantics);
        if outcome.forced_monotonic {
            ctx.warn(
                WarningLevel::Info,
                "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)".to_string(),
            );
        }
        out.push((labels, outcome.value));
    }
    Ok(Val::Vector(out))
}

fn for_metric(name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!(" for metric name {name:?}")
    }
}

/// Go's `%g` for the values annotations print (shortest form; exponent for large/small numbers).
fn go_g(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_hand_computed() {
        // Samples every 10 s at 10..=50 s, values 1..5, window (0, 60] s: Δ=4, sampled 40 s,
        // to start 10 s (< 11 s threshold), zero clamp 40*1/4=10 s, to end 10 s → 4*60/40 = 6.
        let pts: Vec<(i64, f64)> = (1..=5).map(|i| (i * 10_000, i as f64)).collect();
        assert_eq!(
            extrapolated_rate(&pts, 0, 60_000, 60.0, false, Semantics::Prometheus3),
            Some(6.0)
        );
        assert_eq!(
            extrapolated_rate(&pts, 0, 60_000, 60.0, true, Semantics::Prometheus3),
            Some(0.1)
        );
        assert_eq!(
            extrapolated_rate(&pts[..1], 0, 60_000, 60.0, true, Semantics::Prometheus3),
            None
        );
    }

    #[test]
    fn counter_reset_adds_the_previous_value() {
        let pts = [(10_000, 5.0), (20_000, 7.0), (30_000, 2.0), (40_000, 4.0)];
        // Δ = 4-5 + 7 = 6 over 30 s; to start 10 s < 11 s; zero clamp 30*5/6 = 25 s → keep 10 s.
        let v =
            extrapolated_rate(&pts, 0, 40_000, 40.0, false, Semantics::Prometheus3).expect("value");
        assert_eq!(v, 6.0 * (30.0 + 10.0) / 30.0);
        assert_eq!(instant_rate(&pts), Some(0.2));
        assert_eq!(instant_rate(&pts[..3]), Some(0.2));
    }
}
