//! The counts behind a check's value: what its query is made of (a ratio of two counters, a
//! quantile of a histogram, one counter's rate) and how many events, trials or bucketed
//! observations each side had in a time range, from the same source the check was evaluated on,
//! or, for latency, from the load engine's per-request HDR histograms when the source is a run.
//!
//! For: reading the counts. Not for: the arithmetic (see [`super::stats`]) or what the counts
//! mean for the check (see [`super::significance`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use promql_parser::parser::{self, Expr, VectorSelector};

use super::gates::Gates;
use super::select;
use super::stats::{self, Bucket};
use crate::load::manifest::{self, ManifestError};
use crate::load::sparse_hdr::{Layout, Sparse};
use crate::prom::eval::Value;
use crate::prom::source::Source;

/// What a check's query computes, as far as statistics are concerned.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// `rate(events) / rate(trials)` (sums and parentheses allowed): a ratio of two counters.
    Ratio {
        /// The numerator's selector, as written.
        events: String,
        /// The denominator's selector.
        trials: String,
        /// The longest range in the query.
        range: Duration,
    },
    /// `histogram_quantile(q, ... rate(X_bucket[r]) ...)`.
    Quantile {
        /// The quantile.
        q: f64,
        /// The bucket selector (`X_bucket{...}`), as written.
        buckets: String,
        /// The histogram's name (`X`).
        metric: String,
        /// The range.
        range: Duration,
    },
    /// The rate or increase of one counter (`sum(rate(X[r]))`, no arithmetic): a count of events.
    Count {
        /// The counter's selector.
        counter: String,
        /// The range.
        range: Duration,
        /// `rate` (events per second) rather than `increase` (events per range).
        per_second: bool,
    },
    /// Anything else (a gauge, an expression of several kinds): no statistic applies.
    Opaque,
}

impl Shape {
    /// Reads the shape of a query; a query that does not parse is [`Shape::Opaque`].
    pub fn of(query: &str) -> Shape {
        let Ok(expr) = parser::parse(query) else {
            return Shape::Opaque;
        };
        let top = unparen(&expr);
        if let Expr::Call(call) = top {
            if call.func.name == "histogram_quantile" && call.args.args.len() == 2 {
                let q = match unparen(&call.args.args[0]) {
                    Expr::NumberLiteral(n) => n.val,
                    _ => return Shape::Opaque,
                };
                return match counters(&call.args.args[1]).as_deref() {
                    Some([(vs, range)]) => match vs.name.as_deref() {
                        Some(name) if name.ends_with("_bucket") => Shape::Quantile {
                            q,
                            buckets: text(vs),
                            metric: name.trim_end_matches("_bucket").to_string(),
                            range: *range,
                        },
                        _ => Shape::Opaque,
                    },
                    _ => Shape::Opaque,
                };
            }
        }
        if let Expr::Binary(b) = top {
            if b.op.to_string() == "/" {
                if let (Some([(e, r1)]), Some([(t, r2)])) =
                    (counters(&b.lhs).as_deref(), counters(&b.rhs).as_deref())
                {
                    return Shape::Ratio {
                        events: text(e),
                        trials: text(t),
                        range: (*r1).max(*r2),
                    };
                }
                return Shape::Opaque;
            }
        }
        match single_counter(top) {
            Some((vs, range, per_second)) => Shape::Count {
                counter: text(&vs),
                range,
                per_second,
            },
            None => Shape::Opaque,
        }
    }

    /// The longest range of the query (zero for [`Shape::Opaque`]).
    pub fn range(&self) -> Duration {
        match self {
            Shape::Ratio { range, .. }
            | Shape::Quantile { range, .. }
            | Shape::Count { range, .. } => *range,
            Shape::Opaque => Duration::ZERO,
        }
    }
}

fn unparen(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(p) => unparen(&p.expr),
        other => other,
    }
}

/// The selector without `offset` or `@`, as PromQL text.
fn text(vs: &VectorSelector) -> String {
    let mut vs = vs.clone();
    vs.offset = None;
    vs.at = None;
    vs.to_string()
}

/// The counters under `rate`/`increase` in an expression made only of sums, parentheses, numbers
/// and arithmetic; `None` when it holds anything else (a bare selector, another function).
fn counters(expr: &Expr) -> Option<Vec<(VectorSelector, Duration)>> {
    match expr {
        Expr::Paren(p) => counters(&p.expr),
        Expr::NumberLiteral(_) => Some(Vec::new()),
        Expr::Aggregate(a) if a.op.to_string() == "sum" => counters(&a.expr),
        Expr::Binary(b) => {
            let mut out = counters(&b.lhs)?;
            out.extend(counters(&b.rhs)?);
            Some(out)
        }
        Expr::Call(c) if matches!(c.func.name, "rate" | "increase") => {
            match c.args.args.first().map(|a| unparen(a)) {
                Some(Expr::MatrixSelector(ms)) => Some(vec![(ms.vs.clone(), ms.range)]),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `rate(X[r])` or `increase(X[r])`, under sums and parentheses only: the selector, the range
/// and whether it is a rate.
fn single_counter(expr: &Expr) -> Option<(VectorSelector, Duration, bool)> {
    match expr {
        Expr::Paren(p) => single_counter(&p.expr),
        Expr::Aggregate(a) if a.op.to_string() == "sum" => single_counter(&a.expr),
        Expr::Call(c) if matches!(c.func.name, "rate" | "increase") => {
            match c.args.args.first().map(|a| unparen(a)) {
                Some(Expr::MatrixSelector(ms)) => {
                    Some((ms.vs.clone(), ms.range, c.func.name == "rate"))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// How much a sum of counters grew on one side between two instants, per `le` (the key is `""`
/// for a plain counter). A counter that shrank (a restart) counts as no growth.
pub async fn growth(
    gates: &Gates,
    source: &Source,
    side: &str,
    query: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<BTreeMap<String, f64>, String> {
    let query = select::for_gate_side(query, &gates.sides, side, 1.0)?;
    let at = |t: i64| {
        let query = query.clone();
        async move {
            let evaluated = source
                .instant(&query, t)
                .await
                .map_err(|e| format!("{query}: {e}"))?;
            let mut out = BTreeMap::new();
            match evaluated.value {
                Value::Vector(v) => {
                    for s in v.iter().filter(|s| s.value.is_finite()) {
                        out.insert(s.labels.get("le").to_string(), s.value);
                    }
                }
                Value::Scalar(s) if s.is_finite() => {
                    out.insert(String::new(), s);
                }
                _ => {}
            }
            Ok::<_, String>(out)
        }
    };
    let end = at(to_ms).await?;
    let start = at(from_ms).await?;
    Ok(end
        .into_iter()
        .map(|(k, v)| {
            let before = start.get(&k).copied().unwrap_or(0.0);
            (k, (v - before).max(0.0))
        })
        .collect())
}

/// The total growth of a counter selector on one side.
pub async fn count(
    gates: &Gates,
    source: &Source,
    side: &str,
    selector: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Option<u64>, String> {
    let g = growth(
        gates,
        source,
        side,
        &format!("sum({selector})"),
        from_ms,
        to_ms,
    )
    .await?;
    Ok(g.values().next().map(|v| v.round() as u64))
}

/// The growth of a classic histogram's buckets on one side, as non-cumulative buckets.
pub async fn buckets(
    gates: &Gates,
    source: &Source,
    side: &str,
    selector: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Bucket>, String> {
    let g = growth(
        gates,
        source,
        side,
        &format!("sum by (le) ({selector})"),
        from_ms,
        to_ms,
    )
    .await?;
    let cumulative: Vec<(f64, f64)> = g
        .iter()
        .filter_map(|(le, c)| {
            let le = match le.as_str() {
                "+Inf" | "Inf" | "inf" => f64::INFINITY,
                other => other.parse().ok()?,
            };
            Some((le, *c))
        })
        .collect();
    Ok(stats::prometheus_buckets(&cumulative))
}

/// Histograms the load engine measured per request that stand for a scraped histogram: the
/// client-side corrected TTFB is what `assistant_ttfb_seconds` measures at the server.
pub const MEASURED: &[(&str, &str)] = &[("assistant_ttfb_seconds", "ttfb_corrected")];

/// Per-request latency a load run recorded: per second and variant, the corrected TTFB
/// (`load/histograms/seconds.ttfb_corrected.hlog`), placed in time by the manifest's start and
/// kept as its recorded counters only (memory grows with distinct values per second, not with
/// the histogram's range or the request count).
#[derive(Debug, Clone, Default)]
pub struct LatencySamples {
    /// The value ranges of the counters' indexes (every second shares one).
    layout: Option<Layout>,
    /// The tags seen ("baseline", "canary"), indexed by [`Second::tag`].
    tags: Vec<String>,
    /// In time order.
    seconds: Vec<Second>,
}

#[derive(Debug, Clone)]
struct Second {
    /// Start, ms since the epoch.
    start_ms: i64,
    tag: usize,
    /// `(counter index, count)`, non-zero only.
    counts: Vec<(u32, u64)>,
}

impl LatencySamples {
    /// Reads a run directory's per-second TTFB log; `Ok(None)` when the directory has no load
    /// manifest (the run was not a load run).
    pub fn read(dir: &Path) -> Result<Option<LatencySamples>, ManifestError> {
        let Some((start_ms, _)) = manifest::schedule_span(dir) else {
            return Ok(None);
        };
        let path = dir.join(manifest::SECONDS_FILE);
        let mut out = LatencySamples::default();
        let mut problem = None;
        manifest::for_each_sparse_interval(&path, |offset, tag, sparse| {
            if problem.is_some() {
                return;
            }
            if let Err(why) = out.push(start_ms + offset.as_millis() as i64, tag, sparse) {
                problem = Some(format!("second {}: {why}", out.seconds.len() + 1));
            }
        })?;
        if let Some(message) = problem {
            return Err(ManifestError::Read { path, message });
        }
        out.seconds.sort_by_key(|s| s.start_ms);
        Ok(Some(out))
    }

    fn push(&mut self, start_ms: i64, tag: &str, sparse: Sparse) -> Result<(), String> {
        let layout = match &self.layout {
            Some(layout) => layout,
            None => self
                .layout
                .insert(Layout::new(sparse.bounds).map_err(|e| e.to_string())?),
        };
        if layout.bounds() != sparse.bounds {
            return Err(format!(
                "its bounds {:?} differ from the log's first {:?}",
                sparse.bounds,
                layout.bounds()
            ));
        }
        if let Some(&(last, _)) = sparse.counts.last() {
            if last as usize >= layout.len() {
                return Err(format!(
                    "a count at index {last} is past the histogram's {} counters",
                    layout.len()
                ));
            }
        }
        let tag = match self.tags.iter().position(|t| t == tag) {
            Some(i) => i,
            None => {
                self.tags.push(tag.to_string());
                self.tags.len() - 1
            }
        };
        self.seconds.push(Second {
            start_ms,
            tag,
            counts: sparse.counts,
        });
        Ok(())
    }

    /// The histogram a scraped metric stands for, if the load engine measured it, on one side
    /// over the seconds that start in `[from_ms, to_ms]`; `None` with no such measurement.
    pub fn window(
        &self,
        metric: &str,
        side: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Option<Vec<Bucket>> {
        MEASURED.iter().find(|(m, _)| *m == metric)?;
        let tag = self.tags.iter().position(|t| t == side)?;
        let layout = self.layout.as_ref()?;
        let first = self.seconds.partition_point(|s| s.start_ms < from_ms);
        let end = self.seconds.partition_point(|s| s.start_ms <= to_ms);
        let mut dense = vec![0u64; layout.len()];
        let mut any = false;
        for second in self.seconds[first..end.max(first)]
            .iter()
            .filter(|s| s.tag == tag)
        {
            for &(i, c) in &second.counts {
                dense[i as usize] += c;
                any = true;
            }
        }
        any.then(|| {
            dense
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(i, &count)| {
                    let range = layout.range(i as u32);
                    Bucket {
                        lo: *range.start() as f64 / 1e6,
                        hi: *range.end() as f64 / 1e6,
                        count,
                    }
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_queries_have_shapes() {
        let ratio = Shape::of("sum(rate(memory_zep_write_failures_total[5m])) / sum(rate(memory_zep_write_attempts_total[5m]))");
        assert_eq!(
            ratio,
            Shape::Ratio {
                events: "memory_zep_write_failures_total".into(),
                trials: "memory_zep_write_attempts_total".into(),
                range: Duration::from_secs(300)
            }
        );
        let breaker = Shape::of("sum(rate(memory_zep_write_skipped_total{reason=\"circuit_open\"}[5m])) / sum(rate(memory_zep_write_requests_total[5m]))");
        assert!(
            matches!(&breaker, Shape::Ratio { events, .. } if events == "memory_zep_write_skipped_total{reason=\"circuit_open\"}"),
            "{breaker:?}"
        );
        let q = Shape::of(
            "histogram_quantile(0.95, sum by (le) (rate(assistant_ttfb_seconds_bucket[5m])))",
        );
        assert_eq!(
            q,
            Shape::Quantile {
                q: 0.95,
                buckets: "assistant_ttfb_seconds_bucket".into(),
                metric: "assistant_ttfb_seconds".into(),
                range: Duration::from_secs(300)
            }
        );
        assert!(matches!(
            Shape::of("sum(increase(memory_zep_downgrades_total{reason=\"auth\"}[10m]))"),
            Shape::Count { range, per_second: false, .. } if range == Duration::from_secs(600)
        ));
        assert!(matches!(
            Shape::of("sum(rate(memory_zep_context_failures_total[5m]))"),
            Shape::Count {
                per_second: true,
                ..
            }
        ));
        assert_eq!(Shape::of("sum(rate(x[5m])) * 60"), Shape::Opaque);
        assert_eq!(Shape::of("ratio"), Shape::Opaque);
        assert_eq!(
            Shape::of("max(rate(x[5m])) / sum(rate(y[5m]))"),
            Shape::Opaque
        );
        assert_eq!(Shape::of("rate(x[5m"), Shape::Opaque);
    }
}
