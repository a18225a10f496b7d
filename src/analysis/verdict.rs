//! The verdict: every check of a phase evaluated, decided into PROMOTE / HOLD / DOWNGRADE /
//! ROLLBACK with precedence rollback > downgrade > hold > promote, and ERROR kept apart for an
//! analysis that could not be done. It fails closed: an inconclusive check (no data, a gap, too
//! little traffic or time) holds; only checks that all pass on enough data promote. A rollback
//! breach is reported even when another check errored.
//!
//! For: the decision and `verdict.json` (schema `rollgate.verdict/v1`). Not for: evaluating a
//! check (see [`super::evaluate`]).

use serde::Serialize;

use super::evaluate::{self, CheckResult, Outcome, Span, Traffic};
use super::evidence::LatencySamples;
use super::gates::{Action, Gates, Phase};
use super::significance;
use crate::prom::source::Source;

/// The schema of `verdict.json`.
pub const SCHEMA: &str = "rollgate.verdict/v1";

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Decision {
    /// Every check passed on enough data: move to the next phase.
    Promote,
    /// Stay in this phase: a gate is not met yet, or the data does not allow a decision.
    Hold,
    /// Switch memory to write-only.
    Downgrade,
    /// Roll back.
    Rollback,
    /// The analysis could not be done (a query failed).
    Error,
}

impl Decision {
    /// The process exit code: PROMOTE 0, HOLD 1, ERROR 2, DOWNGRADE 3, ROLLBACK 4.
    pub fn exit_code(self) -> u8 {
        match self {
            Decision::Promote => 0,
            Decision::Hold => 1,
            Decision::Error => 2,
            Decision::Downgrade => 3,
            Decision::Rollback => 4,
        }
    }

    /// The upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Promote => "PROMOTE",
            Decision::Hold => "HOLD",
            Decision::Downgrade => "DOWNGRADE",
            Decision::Rollback => "ROLLBACK",
            Decision::Error => "ERROR",
        }
    }
}

/// The analysed span, in `verdict.json`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Window {
    /// First evaluation, ms since the epoch.
    pub start_ms: i64,
    /// Last evaluation.
    pub end_ms: i64,
}

/// `verdict.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The phase judged.
    pub phase: Phase,
    /// The decision.
    pub verdict: Decision,
    /// One sentence a reviewer reads first.
    pub reason: String,
    /// The checks that decided it.
    pub decided_by: Vec<String>,
    /// The gate file.
    pub gates: String,
    /// Time scale applied to windows and ranges.
    pub time_scale: f64,
    /// The analysed span.
    pub window: Window,
    /// Requests per side in the span.
    pub traffic: Traffic,
    /// Warnings for the whole analysis.
    pub warnings: Vec<String>,
    /// Every check of the phase.
    pub checks: Vec<CheckResult>,
}

/// Evaluates every check of `phase` on `source` over `span` and decides.
pub async fn analyze(gates: &Gates, phase: Phase, source: &Source, span: &Span) -> Verdict {
    analyze_with(gates, phase, source, span, None).await
}

/// [`analyze`], with the per-request latency a load run recorded (see
/// [`LatencySamples::read`]): latency comparisons with the baseline then test those samples
/// rather than the scraped buckets.
pub async fn analyze_with(
    gates: &Gates,
    phase: Phase,
    source: &Source,
    span: &Span,
    latency: Option<&LatencySamples>,
) -> Verdict {
    let span = &match gates.sufficiency.warmup.is_zero() {
        true => *span,
        false => span.after_warmup(gates.sufficiency.warmup + gates.look_back(phase)),
    };
    let inputs = significance::Inputs {
        gates,
        source,
        span,
        latency,
    };
    let traffic = evaluate::traffic(gates, source, span).await;
    let need = gates.sufficiency.min_requests;
    let short: Vec<String> = [("baseline", traffic.baseline), ("canary", traffic.canary)]
        .iter()
        .filter(|(_, n)| n.is_none_or(|n| n < need))
        .map(|(side, n)| match n {
            Some(n) => format!("{side} had {n:.0} requests, needs {need:.0}"),
            None => format!("no request count for the {side}"),
        })
        .collect();
    let note = (!short.is_empty()).then(|| short.join("; "));
    let ranges = evaluate::Ranges::new(source);
    let mut checks = Vec::new();
    for check in gates.for_phase(phase) {
        let mut result = evaluate::check(gates, check, &ranges, span, note.as_deref()).await;
        significance::assess(&inputs, check, &mut result).await;
        checks.push(result);
    }
    let mut warnings: Vec<String> = note
        .iter()
        .map(|n| format!("insufficient data: {n}"))
        .collect();
    for c in &checks {
        for w in &c.warnings {
            let line = format!("{}: {w}", c.name);
            if !warnings.contains(&line) {
                warnings.push(line);
            }
        }
    }
    let (verdict, decided_by, mut reason) = decide(&checks);
    let breached = checks
        .iter()
        .any(|c| c.outcome == evaluate::Outcome::Breach);
    if let (Decision::Hold, Some(note), false) = (verdict, &note, breached) {
        reason = format!("insufficient data: {note}; {reason}");
    }
    Verdict {
        schema: SCHEMA,
        phase,
        verdict,
        reason,
        decided_by,
        gates: gates.origin.clone(),
        time_scale: span.time_scale,
        window: Window {
            start_ms: span.start_ms,
            end_ms: span.end_ms,
        },
        traffic,
        warnings,
        checks,
    }
}

/// The decision, the checks that made it, and the reason.
pub fn decide(checks: &[CheckResult]) -> (Decision, Vec<String>, String) {
    let breached = |action: Action| -> Vec<&CheckResult> {
        checks
            .iter()
            .filter(|c| c.outcome == Outcome::Breach && c.action == action)
            .collect()
    };
    let named = |list: &[&CheckResult]| list.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    let rollback = breached(Action::Rollback);
    if !rollback.is_empty() {
        return (
            Decision::Rollback,
            named(&rollback),
            rollback[0].decision.clone(),
        );
    }
    let errors: Vec<&CheckResult> = checks
        .iter()
        .filter(|c| c.outcome == Outcome::Error)
        .collect();
    if !errors.is_empty() {
        return (
            Decision::Error,
            named(&errors),
            format!(
                "the analysis failed: {}: {}",
                errors[0].name, errors[0].decision
            ),
        );
    }
    let downgrade = breached(Action::Downgrade);
    if !downgrade.is_empty() {
        return (
            Decision::Downgrade,
            named(&downgrade),
            downgrade[0].decision.clone(),
        );
    }
    let hold = breached(Action::Hold);
    if !hold.is_empty() {
        return (Decision::Hold, named(&hold), hold[0].decision.clone());
    }
    let unsure: Vec<&CheckResult> = checks
        .iter()
        .filter(|c| c.outcome == Outcome::Inconclusive)
        .collect();
    if !unsure.is_empty() {
        return (
            Decision::Hold,
            named(&unsure),
            format!(
                "{} of {} checks cannot be judged yet; first: {}: {}",
                unsure.len(),
                checks.len(),
                unsure[0].name,
                unsure[0].decision
            ),
        );
    }
    if checks.is_empty() {
        return (
            Decision::Hold,
            Vec::new(),
            "the phase has no checks: nothing says it is safe".into(),
        );
    }
    (
        Decision::Promote,
        named(&checks.iter().collect::<Vec<_>>()),
        format!("all {} checks passed on enough data", checks.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, action: Action, outcome: Outcome) -> CheckResult {
        CheckResult {
            name: name.into(),
            action,
            query: String::new(),
            resolved: Default::default(),
            comparison: String::new(),
            threshold: 0.0,
            unit: String::new(),
            window: String::new(),
            step: String::new(),
            evaluations: 0,
            samples: None,
            statistic: None,
            baseline_series: Vec::new(),
            canary_series: Vec::new(),
            value: None,
            outcome,
            decision: format!("{name} decided"),
            breaches: Vec::new(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn precedence_is_rollback_downgrade_hold_promote_and_no_data_holds() {
        use Action::*;
        use Outcome::*;
        let cases: &[(&[(Action, Outcome)], Decision)] = &[
            (&[(Hold, Pass), (Rollback, Pass)], Decision::Promote),
            (&[(Hold, Inconclusive), (Rollback, Pass)], Decision::Hold),
            (&[(Hold, Breach), (Downgrade, Breach)], Decision::Downgrade),
            (
                &[(Downgrade, Breach), (Rollback, Breach), (Hold, Breach)],
                Decision::Rollback,
            ),
            (&[(Hold, Error), (Rollback, Breach)], Decision::Rollback),
            (&[(Hold, Error), (Downgrade, Breach)], Decision::Error),
            (&[], Decision::Hold),
        ];
        for (checks, expected) in cases {
            let results: Vec<CheckResult> = checks
                .iter()
                .enumerate()
                .map(|(i, (a, o))| result(&format!("c{i}"), *a, *o))
                .collect();
            let (decision, _, reason) = decide(&results);
            assert_eq!(decision, *expected, "{checks:?}: {reason}");
        }
        assert_eq!(
            [
                Decision::Promote,
                Decision::Hold,
                Decision::Error,
                Decision::Downgrade,
                Decision::Rollback
            ]
            .map(Decision::exit_code),
            [0, 1, 2, 3, 4]
        );
    }
}
