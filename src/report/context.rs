//! The one context every report format renders: the run's inputs plus what the report derives
//! from them (verdict label, load totals, warnings). It is `Serialize`, so it can be dumped as
//! JSON for debugging or other renderers.
//!
//! For: deriving display facts once. Not for: formatting (each format module does its own).

use std::path::Path;

use serde::Serialize;

use super::charts::{self, ChartSet};
use super::model::{self, Manifest, RunInputs, Smoke, Verdict};

/// Everything a report format needs.
#[derive(Debug, Clone, Serialize)]
pub struct ReportContext {
    /// The run directory's name (its last path component).
    pub run_name: String,
    /// The verdict word, or `NO VERDICT`.
    pub verdict_label: String,
    /// The verdict's reason, or why there is none.
    pub reason: String,
    /// The verdict (if readable).
    pub verdict: Option<Verdict>,
    /// The manifest (if readable), secrets redacted.
    pub manifest: Option<Manifest>,
    /// The smoke results (if readable).
    pub smoke: Option<Smoke>,
    /// The gate's stages (when a gate wrote the run directory).
    pub gate: Option<model::Gate>,
    /// Load totals per variant from `load/seconds.json`.
    pub load: Vec<VariantLoad>,
    /// Everything the reviewer must be warned about, one sentence each.
    pub warnings: Vec<String>,
    /// The charts drawn from the run directory, and why others were skipped.
    pub charts: ChartSet,
}

/// Load totals of one variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantLoad {
    /// `baseline` or `canary`.
    pub variant: String,
    /// Seconds with data.
    pub seconds: u64,
    /// Requests the schedule asked for.
    pub intended: f64,
    /// Requests sent.
    pub sent: f64,
    /// Errors.
    pub errors: f64,
    /// Highest per-second TTFB p95 (ms).
    pub worst_ttfb_p95_ms: Option<f64>,
}

impl ReportContext {
    /// Reads a run directory and derives the context, charts included; never fails.
    pub fn from_run_dir(dir: &Path) -> ReportContext {
        let inputs = model::read_inputs(dir);
        let charts = charts::render(dir, &inputs);
        let run_name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut ctx = ReportContext::from_inputs(run_name, inputs);
        ctx.charts = charts;
        ctx
    }

    /// Derives the context from inputs already read (no charts: they need the run directory).
    pub fn from_inputs(run_name: String, inputs: RunInputs) -> ReportContext {
        let RunInputs {
            manifest,
            verdict,
            smoke,
            gate,
            seconds,
            problems,
        } = inputs;
        let mut warnings = problems;
        for stage in gate.iter().flat_map(|g| &g.stages) {
            if matches!(stage.status.as_str(), "interrupted" | "error") {
                warnings.push(format!(
                    "untrusted run: the gate's {} stage {}: {}",
                    stage.name,
                    if stage.status == "error" {
                        "failed"
                    } else {
                        "was interrupted"
                    },
                    stage.summary
                ));
            }
        }
        if let Some(m) = &manifest {
            if m.status != "complete" {
                let why = m.abort_reason.as_deref().unwrap_or("no reason recorded");
                warnings.push(format!(
                    "the load run is {} ({why}): its figures cover part of the plan",
                    if m.status.is_empty() {
                        "of unknown status"
                    } else {
                        &m.status
                    }
                ));
            }
            if m.trustworthy == Some(false) {
                warnings.push(
                    "the load generator fell behind its schedule (untrusted run): latencies may \
                     be understated"
                        .into(),
                );
            }
        }
        if let Some(v) = &verdict {
            warnings.extend(v.warnings.iter().map(|w| format!("analyzer: {w}")));
            for c in &v.checks {
                warnings.extend(c.warnings.iter().map(|w| format!("{}: {w}", c.name)));
                if c.outcome == "inconclusive" {
                    warnings.push(format!("{}: insufficient data (inconclusive)", c.name));
                }
            }
        }
        let (verdict_label, reason) = match &verdict {
            Some(v) => (v.verdict.clone(), v.reason.clone()),
            None => (
                "NO VERDICT".to_string(),
                "verdict.json is missing or damaged, so this run has no decision".to_string(),
            ),
        };
        ReportContext {
            run_name,
            verdict_label,
            reason,
            verdict,
            manifest,
            smoke,
            gate,
            load: load_totals(&seconds),
            warnings,
            charts: ChartSet::default(),
        }
    }
}

/// Sums `load/seconds.json` per variant, in first-seen order.
pub fn load_totals(rows: &[model::SecondRow]) -> Vec<VariantLoad> {
    let mut out: Vec<VariantLoad> = Vec::new();
    for r in rows {
        let i = match out.iter().position(|v| v.variant == r.variant) {
            Some(i) => i,
            None => {
                out.push(VariantLoad {
                    variant: r.variant.clone(),
                    seconds: 0,
                    intended: 0.0,
                    sent: 0.0,
                    errors: 0.0,
                    worst_ttfb_p95_ms: None,
                });
                out.len() - 1
            }
        };
        let v = &mut out[i];
        v.seconds += 1;
        v.intended += r.intended;
        v.sent += r.count;
        v.errors += r.errors;
        if let Some(p) = r.ttfb_p95_ms {
            v.worst_ttfb_p95_ms = Some(v.worst_ttfb_p95_ms.map_or(p, |w: f64| w.max(p)));
        }
    }
    out
}

/// A number for display: `-` when absent, up to 4 significant decimals otherwise.
pub fn num(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        Some(x) => format!("{x:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::SecondRow;

    fn row(second: u64, variant: &str, count: f64, p95: Option<f64>) -> SecondRow {
        SecondRow {
            second,
            variant: variant.into(),
            intended: 10.0,
            count,
            errors: 1.0,
            ttfb_p95_ms: p95,
        }
    }

    #[test]
    fn load_totals_sum_per_variant_in_order() {
        let rows = [
            row(0, "baseline", 9.0, Some(100.0)),
            row(0, "canary", 10.0, None),
            row(1, "baseline", 10.0, Some(150.0)),
        ];
        let t = load_totals(&rows);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].variant, "baseline");
        assert_eq!((t[0].seconds, t[0].sent, t[0].errors), (2, 19.0, 2.0));
        assert_eq!(t[0].worst_ttfb_p95_ms, Some(150.0));
        assert_eq!(t[1].worst_ttfb_p95_ms, None);
    }

    #[test]
    fn numbers_display_compactly() {
        assert_eq!(num(None), "-");
        assert_eq!(num(Some(3.0)), "3");
        assert_eq!(num(Some(0.25)), "0.25");
        assert_eq!(num(Some(0.123456)), "0.1235");
    }
}
