//! `junit.xml` of the report: one testcase per verdict check and per smoke box, through
//! [`crate::junit`].
//!
//! For: mapping check outcomes and smoke statuses onto JUnit outcomes. Not for: XML syntax.

use super::context::{num, ReportContext};
use super::Format;
use crate::junit::{self, Case, CaseOutcome, Suite};
use crate::run_dir;

/// The JUnit format.
pub(super) struct Junit;

impl Format for Junit {
    fn file(&self) -> &'static str {
        run_dir::JUNIT
    }

    fn render(&self, ctx: &ReportContext) -> String {
        let timestamp = ctx
            .manifest
            .as_ref()
            .map(|m| m.started_at.clone())
            .unwrap_or_default();
        let mut suites = Vec::new();
        let mut checks = Vec::new();
        match &ctx.verdict {
            Some(v) => {
                for c in &v.checks {
                    let details = format!(
                        "query: {}\nvalue: {} {}\nthreshold: {} ({})\nwindow: {}\nsamples: {}",
                        c.query,
                        num(c.value),
                        c.unit,
                        num(c.threshold),
                        c.comparison,
                        c.window,
                        c.samples.map_or("-".into(), |n| n.to_string())
                    );
                    let outcome = match c.outcome.as_str() {
                        "pass" => CaseOutcome::Pass,
                        "breach" => CaseOutcome::Failure {
                            message: format!("{} ({})", c.decision, c.action),
                            details,
                        },
                        "inconclusive" => CaseOutcome::Skipped {
                            message: format!("insufficient data: {}", c.decision),
                        },
                        other => CaseOutcome::Error {
                            message: format!("outcome {other:?}: {}", c.decision),
                            details,
                        },
                    };
                    checks.push(case(&c.name, &format!("gate.{}", v.phase), 0.0, outcome));
                }
            }
            None => checks.push(case(
                "verdict",
                "gate",
                0.0,
                CaseOutcome::Error {
                    message: ctx.reason.clone(),
                    details: ctx.warnings.join("\n"),
                },
            )),
        }
        suites.push(Suite {
            name: format!("rollgate gate {}", ctx.run_name),
            timestamp: timestamp.clone(),
            cases: checks,
        });
        if let Some(sm) = &ctx.smoke {
            let cases = sm
                .checks
                .iter()
                .map(|c| {
                    let details = format!(
                        "expected: {}\nseen: {}\n{}",
                        c.expected,
                        c.seen,
                        c.evidence.join("\n")
                    );
                    let outcome = match c.status.as_str() {
                        "pass" => CaseOutcome::Pass,
                        "fail" => CaseOutcome::Failure {
                            message: c.seen.clone(),
                            details,
                        },
                        "skipped" => CaseOutcome::Skipped {
                            message: c.seen.clone(),
                        },
                        _ => CaseOutcome::Error {
                            message: c.seen.clone(),
                            details,
                        },
                    };
                    let class = format!("smoke.{}.{}", sm.phase, slug(&c.group));
                    let secs = c.duration_ms.unwrap_or(0) as f64 / 1000.0;
                    case(&c.name, &class, secs, outcome)
                })
                .collect();
            suites.push(Suite {
                name: format!("rollgate smoke {}", sm.phase),
                timestamp,
                cases,
            });
        }
        junit::render(&suites)
    }
}

fn case(name: &str, classname: &str, seconds: f64, outcome: CaseOutcome) -> Case {
    Case {
        name: name.to_string(),
        classname: classname.to_string(),
        seconds,
        outcome,
        output: String::new(),
    }
}

/// `Circuit Breaker` -> `circuit-breaker`.
fn slug(s: &str) -> String {
    s.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}
