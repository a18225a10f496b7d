//! The gate's decision: the analyzer's verdict, amended by what the gate's own stages found.
//!
//! The analyzer judges metrics; the gate also knows whether the smoke checklist passed, whether
//! the load run can be trusted, and whether it was interrupted. Each of those can only make the
//! decision more cautious, never promote:
//! - a stage that failed outright (the system under test did not start, the load could not be
//!   sent) is ERROR;
//! - an interrupted gate is HOLD (the partial analysis is kept in the reason and the checks);
//! - a failed smoke box, or an untrusted load run (the generator fell behind, or the run was
//!   aborted by its error guard), turns PROMOTE into HOLD and is a warning otherwise.
//!
//! For: that amendment. Not for: the checks themselves ([`crate::analysis`]).

use crate::analysis::evaluate::Traffic;
use crate::analysis::gates::{Gates, Phase};
use crate::analysis::verdict::{Decision, Verdict, Window, SCHEMA};

/// What the gate's stages found, beside the analyzer's checks.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    /// Smoke boxes that did not pass, one line each (`group: name: status: seen`).
    pub smoke_failures: Vec<String>,
    /// Smoke boxes run.
    pub smoke_total: usize,
    /// Why the load run cannot be trusted (empty when it can).
    pub load_problems: Vec<String>,
    /// The stage that was interrupted by Ctrl-C.
    pub interrupted: Option<String>,
    /// `(stage, why)` of a stage that failed outright.
    pub error: Option<(String, String)>,
}

/// A verdict with no checks, for a gate that stopped before its analysis.
pub fn without_analysis(gates: &Gates, phase: Phase, time_scale: f64) -> Verdict {
    Verdict {
        schema: SCHEMA,
        phase,
        verdict: Decision::Hold,
        reason: "the analysis did not run".into(),
        decided_by: Vec::new(),
        gates: gates.origin.clone(),
        time_scale,
        window: Window {
            start_ms: 0,
            end_ms: 0,
        },
        traffic: Traffic {
            baseline: None,
            canary: None,
        },
        warnings: Vec::new(),
        checks: Vec::new(),
    }
}

/// Amends `verdict` with `findings` (see the module docs for the rules).
pub fn combine(mut verdict: Verdict, findings: &Findings) -> Verdict {
    if let Some((stage, why)) = &findings.error {
        verdict.verdict = Decision::Error;
        verdict.reason = format!("the {stage} stage failed: {why}");
        verdict.decided_by = vec![format!("{stage} stage")];
        verdict.warnings.push(verdict.reason.clone());
        return verdict;
    }
    if let Some(stage) = &findings.interrupted {
        let partial = match verdict.checks.is_empty() {
            true => String::new(),
            false => format!(
                "; the partial analysis said {}: {}",
                verdict.verdict.as_str(),
                verdict.reason
            ),
        };
        verdict.verdict = Decision::Hold;
        verdict.reason = format!(
            "interrupted during the {stage} stage: the gate did not finish, so it cannot promote{partial}"
        );
        verdict.decided_by = vec![format!("interrupted during {stage}")];
        verdict.warnings.push(format!(
            "untrusted run: interrupted during the {stage} stage"
        ));
        return verdict;
    }
    if !findings.smoke_failures.is_empty() {
        let first = &findings.smoke_failures[0];
        let said = format!(
            "smoke checklist: {} of {} boxes did not pass; first: {first}",
            findings.smoke_failures.len(),
            findings.smoke_total
        );
        verdict.warnings.push(said.clone());
        match verdict.verdict {
            Decision::Promote => {
                verdict.verdict = Decision::Hold;
                verdict.reason = said;
                verdict.decided_by = vec!["smoke checklist".into()];
            }
            Decision::Hold => verdict.decided_by.push("smoke checklist".into()),
            _ => {}
        }
    }
    if !findings.load_problems.is_empty() {
        let said = format!("untrusted run: {}", findings.load_problems.join("; "));
        verdict.warnings.push(said.clone());
        if verdict.verdict == Decision::Promote {
            verdict.verdict = Decision::Hold;
            verdict.reason = format!(
                "the load run cannot be trusted: {}",
                findings.load_problems.join("; ")
            );
            verdict.decided_by = vec!["load run".into()];
        }
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn promoted() -> Verdict {
        let gates = Gates::seed().expect("seed gates");
        let mut v = without_analysis(&gates, Phase::Canary, 1.0);
        v.verdict = Decision::Promote;
        v.reason = "all 11 checks passed on enough data".into();
        v
    }

    #[test]
    fn nothing_found_keeps_the_analyzers_verdict() {
        let v = combine(promoted(), &Findings::default());
        assert_eq!(v.verdict, Decision::Promote);
        assert!(v.warnings.is_empty());
    }

    #[test]
    fn a_failed_smoke_box_or_an_untrusted_run_never_promotes() {
        let smoke = Findings {
            smoke_failures: vec![
                "Circuit Breaker: opens on 5xx: fail: breaker stayed closed".into()
            ],
            smoke_total: 6,
            ..Findings::default()
        };
        let v = combine(promoted(), &smoke);
        assert_eq!(v.verdict, Decision::Hold);
        assert!(v.reason.contains("1 of 6 boxes"), "{}", v.reason);
        let lag = Findings {
            load_problems: vec!["the generator fell behind its schedule".into()],
            ..Findings::default()
        };
        let v = combine(promoted(), &lag);
        assert_eq!(v.verdict, Decision::Hold);
        assert!(
            v.warnings[0].starts_with("untrusted run"),
            "{:?}",
            v.warnings
        );
    }

    #[test]
    fn a_smoke_failure_does_not_soften_a_rollback() {
        let mut rollback = promoted();
        rollback.verdict = Decision::Rollback;
        let v = combine(
            rollback,
            &Findings {
                smoke_failures: vec!["x".into()],
                smoke_total: 1,
                ..Findings::default()
            },
        );
        assert_eq!(v.verdict, Decision::Rollback);
        assert_eq!(v.warnings.len(), 1);
    }

    #[test]
    fn interrupted_is_hold_and_keeps_what_the_partial_analysis_said() {
        let mut rollback = promoted();
        rollback.verdict = Decision::Rollback;
        rollback.reason = "p95 TTFB rose 250 ms".into();
        let v = combine(
            rollback,
            &Findings {
                interrupted: Some("load".into()),
                ..Findings::default()
            },
        );
        assert_eq!(v.verdict, Decision::Hold);
        assert!(v.reason.contains("interrupted during the load stage"));
        // No checks in this verdict, so there is no partial analysis to quote.
        assert!(!v.reason.contains("ROLLBACK"));
    }

    #[test]
    fn a_failed_stage_is_error() {
        let v = combine(
            promoted(),
            &Findings {
                error: Some(("load".into(), "http://127.0.0.1:9/ refused".into())),
                ..Findings::default()
            },
        );
        assert_eq!(v.verdict, Decision::Error);
        assert!(v.reason.contains("127.0.0.1:9"), "{}", v.reason);
    }
}
