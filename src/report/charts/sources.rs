//! What each chart plots, prepared from the run directory as numbers (pure data, no pixels):
//! per-second load rows (`load/seconds.json`), the HDR histogram logs
//! (`load/histograms/*.ttfb_corrected.hlog`) and the scraped store (`prom/samples.v1.prom`,
//! evaluated with rollgate's own PromQL engine on the seed's queries, per variant).
//!
//! For: building [`Plot`]s, or saying in one sentence (naming the file) why a chart has no data.
//! Not for: drawing (see [`super::plot`]) or judging (the thresholds drawn are the seed's, the
//! decision is the analyzer's).

use std::path::Path;
use std::time::SystemTime;

use hdrhistogram::Histogram;
use promql_parser::label::MatchOp;

use super::plot::{Line, Plot, Stroke, XAxis, BASELINE, CANARY, INTENDED, THRESHOLDS, TOTAL};
use crate::analysis::select;
use crate::load::manifest;
use crate::prom::eval::Engine;
use crate::prom::store::Store;
use crate::report::model::{RunInputs, SecondRow};
use crate::run_dir;

/// The two sides, with their colours, in drawing order.
pub const SIDES: [(&str, plotters::style::RGBColor); 2] =
    [("baseline", BASELINE), ("canary", CANARY)];

/// The longest run a rate chart is drawn for (31 days), so a damaged row cannot ask for an
/// absurd allocation.
const MAX_SECOND: u64 = 31 * 24 * 3600;

/// Most points a prometheus-derived line gets (the step is chosen from the span).
const PROM_POINTS: i64 = 300;

/// What the chart builders share: the run's inputs, the run's start, the scraped store.
pub struct Sources<'a> {
    /// The run directory.
    pub dir: &'a Path,
    /// What the report read.
    pub inputs: &'a RunInputs,
    /// Slot 0 of the load schedule, ms since the epoch (from the manifest), if known.
    pub start_ms: Option<i64>,
    /// The x range of time charts: the whole schedule, in seconds, if known.
    pub run_span: Option<(f64, f64)>,
    /// The scraped store, or why there is none.
    pub store: Result<Store, String>,
}

impl<'a> Sources<'a> {
    /// Reads what is not in `inputs` yet (the run's start, the scraped store).
    pub fn read(dir: &'a Path, inputs: &'a RunInputs) -> Sources<'a> {
        let start_ms = inputs
            .manifest
            .as_ref()
            .and_then(|m| humantime::parse_rfc3339(&m.started_at).ok())
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64);
        let store = Store::read_run_dir(dir).map_err(|e| e.to_string());
        // The schedule's length (the load engine's own reading of its manifest), else how long
        // the run lasted.
        let run_span = manifest::schedule_span(dir)
            .map(|(a, b)| (b - a) as f64 / 1000.0)
            .or_else(|| inputs.manifest.as_ref().and_then(|m| m.duration_s))
            .filter(|d| d.is_finite() && *d > 0.0)
            .map(|d| (0.0, d));
        Sources {
            dir,
            inputs,
            start_ms,
            run_span,
            store,
        }
    }

    /// An epoch-ms timestamp as seconds since the run started (`origin` when no start is known).
    pub fn seconds(&self, t_ms: i64, origin: i64) -> f64 {
        (t_ms - self.start_ms.unwrap_or(origin)) as f64 / 1000.0
    }
}

fn per_variant(
    rows: &[SecondRow],
    variant: &str,
    y: impl Fn(&SecondRow) -> Option<f64>,
) -> Vec<(f64, f64)> {
    rows.iter()
        .filter(|r| r.variant == variant)
        .filter_map(|r| y(r).map(|v| (r.second as f64, v)))
        .collect()
}

fn solid(name: String, points: Vec<(f64, f64)>, color: plotters::style::RGBColor) -> Line {
    Line {
        name,
        points,
        stroke: Stroke::Solid(color),
    }
}

/// p95 TTFB per second, baseline vs canary, with baseline +100 ms and +200 ms lines.
pub fn ttfb_over_time(src: &Sources) -> Result<Plot, String> {
    let rows = &src.inputs.seconds;
    let mut lines: Vec<Line> = SIDES
        .iter()
        .map(|(side, color)| {
            solid(
                format!("{side} p95"),
                per_variant(rows, side, |r| r.ttfb_p95_ms),
                *color,
            )
        })
        .collect();
    let baseline = lines[0].points.clone();
    for (i, delta) in [100.0, 200.0].into_iter().enumerate() {
        lines.push(Line {
            name: format!("baseline +{delta:.0} ms"),
            points: baseline.iter().map(|&(x, y)| (x, y + delta)).collect(),
            stroke: Stroke::Dashed(THRESHOLDS[i + 1]),
        });
    }
    let plot = Plot {
        title: "p95 time to first byte per second (corrected)".into(),
        x_axis: XAxis::Seconds,
        y_desc: "p95 TTFB (ms)".into(),
        lines,
        shaded: Vec::new(),
        x_range: src.run_span,
    };
    if plot.has_data() {
        Ok(plot)
    } else {
        Err(format!(
            "{} has no ttfb_p95_ms values",
            run_dir::LOAD_SECONDS
        ))
    }
}

/// Requests per second: intended (the schedule's total, repeated on each variant's row) vs sent,
/// in total and per variant.
pub fn rate(src: &Sources) -> Result<Plot, String> {
    let rows = &src.inputs.seconds;
    let last = rows
        .iter()
        .map(|r| r.second)
        .max()
        .ok_or_else(|| format!("{} has no rows", run_dir::LOAD_SECONDS))?;
    if last > MAX_SECOND {
        return Err(format!(
            "{} has a row for second {last}, past the {MAX_SECOND} s a run can last",
            run_dir::LOAD_SECONDS
        ));
    }
    let mut intended = vec![0.0; last as usize + 1];
    let mut sent = vec![0.0; last as usize + 1];
    for r in rows {
        let i = &mut intended[r.second as usize];
        *i = f64::max(*i, r.intended);
        sent[r.second as usize] += r.count;
    }
    let indexed = |v: Vec<f64>| -> Vec<(f64, f64)> {
        v.into_iter()
            .enumerate()
            .map(|(i, y)| (i as f64, y))
            .collect()
    };
    let mut lines = vec![
        solid("sent (total)".into(), indexed(sent), TOTAL),
        Line {
            name: "intended (total)".into(),
            points: indexed(intended),
            stroke: Stroke::Dashed(INTENDED),
        },
    ];
    for (side, color) in SIDES {
        let points = per_variant(rows, side, |r| Some(r.count));
        if !points.is_empty() {
            lines.push(solid(format!("sent to {side}"), points, color));
        }
    }
    Ok(Plot {
        title: "achieved vs intended request rate".into(),
        x_axis: XAxis::Seconds,
        y_desc: "requests per second".into(),
        lines,
        shaded: Vec::new(),
        x_range: src.run_span,
    })
}

/// Corrected TTFB of the whole run per variant, merged over request kinds, read from
/// `load/histograms/<kind>.<variant>.ttfb_corrected.hlog`.
fn run_histograms(dir: &Path) -> Result<Vec<(&'static str, Histogram<u64>)>, String> {
    let hist_dir = dir.join(run_dir::LOAD_HISTOGRAMS);
    let entries = std::fs::read_dir(&hist_dir)
        .map_err(|e| format!("{} cannot be read: {e}", run_dir::LOAD_HISTOGRAMS))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut out: Vec<(&'static str, Histogram<u64>)> = Vec::new();
    for (side, _) in SIDES {
        let suffix = format!(".{side}.ttfb_corrected.hlog");
        let mut total: Option<Histogram<u64>> = None;
        for name in names.iter().filter(|n| n.ends_with(&suffix)) {
            let h = manifest::read_histogram(&hist_dir.join(name)).map_err(|e| e.to_string())?;
            match &mut total {
                None => total = Some(h),
                Some(t) => t.add(&h).map_err(|e| {
                    format!("{}/{name} cannot be added: {e:?}", run_dir::LOAD_HISTOGRAMS)
                })?,
            }
        }
        if let Some(h) = total.filter(|h| !h.is_empty()) {
            out.push((side, h));
        }
    }
    Ok(out)
}

/// The HDR percentile curve of a microsecond histogram in ms: x = `-log10(1 - q)` from p0 to the
/// deepest percentile the count supports (p90 at 10 values, p99.999 at most).
pub fn percentile_curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    let depth = (h.len().max(10) as f64).log10().min(5.0);
    let steps = (depth * 50.0).ceil() as usize;
    (0..=steps)
        .map(|i| {
            let x = depth * i as f64 / steps as f64;
            let q = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect()
}

/// The corrected TTFB distribution of the run, baseline vs canary, as an HDR percentile plot.
pub fn distribution(src: &Sources) -> Result<Plot, String> {
    let hists = run_histograms(src.dir)?;
    if hists.is_empty() {
        return Err(format!(
            "{} has no <kind>.<variant>.ttfb_corrected.hlog with values",
            run_dir::LOAD_HISTOGRAMS
        ));
    }
    let lines = hists
        .iter()
        .map(|(side, h)| {
            let color = if *side == "canary" { CANARY } else { BASELINE };
            solid(
                format!("{side} ({} requests)", h.len()),
                percentile_curve(h),
                color,
            )
        })
        .collect();
    Ok(Plot {
        title: "corrected TTFB distribution of the run (HDR percentile plot)".into(),
        x_axis: XAxis::Percentile,
        y_desc: "TTFB (ms)".into(),
        lines,
        shaded: Vec::new(),
        x_range: None,
    })
}

/// A chart of one seed query evaluated per variant over the scraped store.
#[derive(Debug, Clone, Copy)]
pub struct PromQuery {
    /// The seed's query, written for both variants (rewritten per side).
    pub query: &'static str,
    /// The metric the query needs (named when it is missing).
    pub metric: &'static str,
    /// Chart title.
    pub title: &'static str,
    /// Multiplies values for display (1000: seconds to ms, 100: ratio to %).
    pub scale: f64,
    /// Y axis description.
    pub y_desc: &'static str,
    /// Threshold lines: value in the query's unit, legend text.
    pub thresholds: &'static [(f64, &'static str)],
}

/// Evaluates `spec` per variant over the whole store (windows scaled like the analyzer's).
pub fn prom(src: &Sources, spec: &PromQuery) -> Result<Plot, String> {
    let store = src.store.as_ref().map_err(Clone::clone)?;
    let (Some(t0), Some(t1)) = (store.min_timestamp(), store.max_timestamp()) else {
        return Err(format!("{} holds no samples", run_dir_prom()));
    };
    let scale = src
        .inputs
        .verdict
        .as_ref()
        .and_then(|v| v.time_scale)
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(1.0);
    let step = ((t1 - t0) / PROM_POINTS).max(1000);
    let engine = Engine::new(store);
    let mut lines = Vec::new();
    for (side, color) in SIDES {
        let query = select::for_side(spec.query, "variant", MatchOp::Equal, side, scale)
            .map_err(|e| format!("query {:?} does not parse: {e}", spec.query))?;
        let result = engine
            .range(&query, t0, t1, step)
            .map_err(|e| e.to_string())?;
        let points: Vec<(f64, f64)> = result
            .value
            .iter()
            .flat_map(|s| s.points.iter())
            .map(|&(t, v)| (src.seconds(t, t0), v * spec.scale))
            .filter(|(_, v)| v.is_finite())
            .collect();
        lines.push(solid(side.to_string(), points, color));
    }
    let xs = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    if !lo.is_finite() {
        return Err(format!(
            "{} has no {} data for either variant",
            run_dir_prom(),
            spec.metric
        ));
    }
    let (lo, hi) = src
        .run_span
        .map_or((lo, hi), |(a, b)| (lo.min(a), hi.max(b)));
    for (i, (value, name)) in spec.thresholds.iter().enumerate() {
        let y = value * spec.scale;
        lines.push(Line {
            name: (*name).to_string(),
            points: vec![(lo, y), (hi, y)],
            stroke: Stroke::Dashed(THRESHOLDS[(i + 3 - spec.thresholds.len()).min(2)]),
        });
    }
    Ok(Plot {
        title: spec.title.to_string(),
        x_axis: XAxis::Seconds,
        y_desc: spec.y_desc.to_string(),
        lines,
        shaded: Vec::new(),
        x_range: src.run_span,
    })
}

/// The scraped store's file, as the report names it.
pub fn run_dir_prom() -> String {
    format!("{}/samples.v1.prom", run_dir::PROM_DIR)
}

/// Breach windows, in seconds since the run started, of the verdict's breached checks whose
/// query mentions one of `keywords`; the names of those checks.
pub fn breaches(src: &Sources, keywords: &[&str]) -> (Vec<(f64, f64)>, Vec<String>) {
    let (Some(verdict), Some(start)) = (src.inputs.verdict.as_ref(), src.start_ms) else {
        return (Vec::new(), Vec::new());
    };
    let mut spans = Vec::new();
    let mut names = Vec::new();
    for c in &verdict.checks {
        if c.breaches.is_empty() || !keywords.iter().any(|k| c.query.contains(k)) {
            continue;
        }
        names.push(c.name.clone());
        spans.extend(
            c.breaches
                .iter()
                .map(|&(a, b)| ((a - start) as f64 / 1000.0, (b - start) as f64 / 1000.0)),
        );
    }
    (spans, names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(second: u64, variant: &str, intended: f64, count: f64) -> SecondRow {
        SecondRow {
            second,
            variant: variant.into(),
            intended,
            count,
            errors: 0.0,
            ttfb_p95_ms: None,
        }
    }

    #[test]
    fn rate_takes_the_intended_total_once_and_sums_what_was_sent() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = RunInputs {
            seconds: vec![
                row(0, "baseline", 100.0, 88.0),
                row(0, "canary", 100.0, 12.0),
                row(2, "baseline", 100.0, 90.0),
            ],
            ..RunInputs::default()
        };
        let plot = rate(&Sources::read(dir.path(), &inputs)).unwrap();
        let line = |name: &str| &plot.lines.iter().find(|l| l.name == name).unwrap().points;
        assert_eq!(
            line("intended (total)"),
            &[(0.0, 100.0), (1.0, 0.0), (2.0, 100.0)]
        );
        assert_eq!(
            line("sent (total)"),
            &[(0.0, 100.0), (1.0, 0.0), (2.0, 90.0)]
        );
        assert_eq!(line("sent to canary"), &[(0.0, 12.0)]);

        let damaged = RunInputs {
            seconds: vec![row(u64::MAX / 2, "baseline", 1.0, 1.0)],
            ..RunInputs::default()
        };
        let err = rate(&Sources::read(dir.path(), &damaged)).unwrap_err();
        assert!(
            err.contains("load/seconds.json has a row for second"),
            "{err}"
        );
    }

    #[test]
    fn percentile_curve_is_monotonic_and_reaches_the_tail() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let curve = percentile_curve(&h);
        assert!(
            (curve.last().unwrap().0 - 3.0).abs() < 1e-9,
            "1000 values reach p99.9"
        );
        assert!(curve.windows(2).all(|w| w[0].1 <= w[1].1));
        let p90 = curve
            .iter()
            .find(|(x, _)| (*x - 1.0).abs() < 1e-9)
            .unwrap()
            .1;
        assert!(
            (p90 - 900.0).abs() < 2.0,
            "p90 of 1..1000 ms is ~900 ms, got {p90}"
        );
    }
}
