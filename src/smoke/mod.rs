//! The smoke checklist: every box of the seed's Phase 1 (write-only) and Phase 2 (read-write)
//! checklists as a data-driven check from `scenarios/smoke/*.toml`, run against the embedded
//! fake Zep + reference assistant or an external target, reported as a table, JSON
//! (`rollgate.smoke/v1`) and JUnit. Not for load or canary analysis.

mod expect;
mod journal;
pub mod plan;
pub mod runner;
mod settle;

use std::time::Duration;

use serde::Serialize;
use thiserror::Error;

pub use plan::{
    load_dir, Check, Compare, Expect, Expectation, FieldSource, JournalCheck, Phase, Plan,
    PlanError, Step,
};
pub use runner::{CheckResult, Status, Target};
pub use settle::Settle;

use crate::run_dir::{RunDir, RunDirError};

/// Why a smoke run could not produce a report.
#[derive(Debug, Error)]
pub enum SmokeError {
    /// A smoke file is bad.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The report could not be written.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// The embedded stack did not start.
    #[error("embedded {what} did not start: {message}")]
    Embedded {
        /// Fake Zep or assistant.
        what: &'static str,
        /// Why.
        message: String,
    },
}

/// A whole run (`smoke/smoke.json`).
#[derive(Debug, Clone, Serialize)]
pub struct SmokeReport {
    /// Always `rollgate.smoke/v1`.
    pub schema: &'static str,
    /// `write-only` or `read-write`.
    pub phase: &'static str,
    /// `embedded` or the target URL.
    pub target: String,
    /// True when every check passed.
    pub passed: bool,
    /// One per box.
    pub checks: Vec<CheckResult>,
}

/// Runs every check of `plan` against `target`, writes `smoke/smoke.json` and `smoke/junit.xml`
/// into `run_dir`, and returns the report. A target with a fake Zep admin API is settled before
/// each check with the default [`Settle`] (see [`run_settled`]).
pub async fn run(
    plan: &Plan,
    target: &Target,
    run_dir: &RunDir,
) -> Result<SmokeReport, SmokeError> {
    run_settled(plan, target, &Settle::default(), run_dir).await
}

/// [`run`] with a chosen [`Settle`]: when `target` has a fake Zep admin API (so checks inject
/// faults that can leave its breaker open or its mode downgraded), each check first resets the
/// faults and waits, up to `settle.deadline`, for the target to read healthy; without one,
/// nothing is settled (no check can have disturbed it).
pub async fn run_settled(
    plan: &Plan,
    target: &Target,
    settle: &Settle,
    run_dir: &RunDir,
) -> Result<SmokeReport, SmokeError> {
    let run_id = run_tag();
    let mut checks = Vec::new();
    for (i, check) in plan.checks.iter().enumerate() {
        let id = format!("{run_id}-{i}");
        checks.push(runner::run_check(check, target, plan.phase, Some(settle), &id).await);
        // Partial results stay on disk if the run is interrupted.
        write(plan, target, run_dir, &checks)?;
    }
    write(plan, target, run_dir, &checks)
}

/// Runs every check of `plan` against its own fresh embedded fake Zep + reference assistant (so
/// a breaker opened or a downgrade in one check cannot leak into the next); `adjust` changes the
/// assistant's config (the mutation tests use it to start a defective assistant).
pub async fn run_embedded(
    plan: &Plan,
    run_dir: &RunDir,
    adjust: impl Fn(&mut crate::assistant::Config),
) -> Result<SmokeReport, SmokeError> {
    let run_id = run_tag();
    let mut checks = Vec::new();
    let label = Target {
        url: String::new(),
        zep_admin: None,
        label: "embedded".to_string(),
    };
    for (i, check) in plan.checks.iter().enumerate() {
        let embedded = Embedded::start(plan.phase, &adjust).await?;
        let id = format!("{run_id}-{i}");
        // A fresh stack needs no settling.
        checks.push(runner::run_check(check, &embedded.target(), plan.phase, None, &id).await);
        embedded.shutdown().await;
        write(plan, &label, run_dir, &checks)?;
    }
    write(plan, &label, run_dir, &checks)
}

/// A random tag for one run's thread and message ids: 8 letters, no digits, so the ids (which
/// travel in the bodies written to Zep) can never look like a phone number to the journal's PII
/// check (a uuid's first 8 hex digits are all decimal digits about 2% of the time).
fn run_tag() -> String {
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(8)
        .map(|b| char::from(b'a' + b % 26))
        .collect()
}

fn write(
    plan: &Plan,
    target: &Target,
    run_dir: &RunDir,
    checks: &[CheckResult],
) -> Result<SmokeReport, SmokeError> {
    let report = SmokeReport {
        schema: "rollgate.smoke/v1",
        phase: plan.phase.as_str(),
        target: target.label.clone(),
        passed: checks.iter().all(|c| c.status == Status::Pass),
        checks: checks.to_vec(),
    };
    run_dir.write_json("smoke/smoke.json", &report)?;
    run_dir.write("smoke/junit.xml", junit(&report).as_bytes())?;
    Ok(report)
}

/// The report as one JUnit suite, one testcase per box.
pub fn junit(report: &SmokeReport) -> String {
    use crate::junit::{Case, CaseOutcome, Suite};
    let cases = report
        .checks
        .iter()
        .map(|c| {
            let detail = format!(
                "expected: {}\nseen: {}\nevidence:\n{}",
                c.expected,
                c.seen,
                c.evidence.join("\n")
            );
            let outcome = match c.status {
                Status::Pass => CaseOutcome::Pass,
                Status::Fail => CaseOutcome::Failure {
                    message: format!("expected {}; seen {}", c.expected, c.seen),
                    details: detail.clone(),
                },
                Status::Error => CaseOutcome::Error {
                    message: format!("expected {}; seen {}", c.expected, c.seen),
                    details: detail.clone(),
                },
                Status::Skipped => CaseOutcome::Skipped {
                    message: c.seen.clone(),
                },
            };
            Case {
                name: c.name.clone(),
                classname: format!("smoke.{}.{}", report.phase, slug(&c.group)),
                seconds: c.duration_ms as f64 / 1000.0,
                outcome,
                output: String::new(),
            }
        })
        .collect();
    crate::junit::render(&[Suite {
        name: format!("rollgate smoke {}", report.phase),
        timestamp: String::new(),
        cases,
    }])
}

fn slug(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The terminal table.
pub fn table(report: &SmokeReport) -> String {
    let mut out = format!("smoke {} against {}\n", report.phase, report.target);
    for c in &report.checks {
        let status = format!("{:?}", c.status).to_uppercase();
        out.push_str(&format!("{status:<8} {:<22} {}\n", c.group, c.name));
        if matches!(c.status, Status::Fail | Status::Error) {
            out.push_str(&format!(
                "         expected: {}\n         seen:     {}\n",
                c.expected, c.seen
            ));
            for e in &c.evidence {
                out.push_str(&format!("         evidence: {e}\n"));
            }
        }
    }
    let passed = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Pass)
        .count();
    out.push_str(&format!("{passed}/{} passed\n", report.checks.len()));
    out
}

/// A fake Zep and a reference assistant in `mode`, on loopback, with test-sized breaker and
/// downgrade thresholds. Shut down with [`Embedded::shutdown`].
pub struct Embedded {
    zep: crate::fake_zep::FakeZep,
    assistant: crate::assistant::Assistant,
}

impl Embedded {
    /// Starts both; `config` adjusts the assistant (for example a regression file's defects).
    pub async fn start(
        phase: Phase,
        adjust: impl FnOnce(&mut crate::assistant::Config),
    ) -> Result<Embedded, SmokeError> {
        use crate::assistant::mode::Mode;
        let zep = crate::fake_zep::FakeZep::start(crate::fake_zep::Config::default())
            .await
            .map_err(|e| SmokeError::Embedded {
                what: "fake Zep",
                message: e.to_string(),
            })?;
        let mut config = crate::assistant::Config {
            zep_url: zep.url(),
            mode: match phase {
                Phase::WriteOnly => Mode::WriteOnly,
                Phase::ReadWrite => Mode::ReadWrite,
            },
            brain_latency: crate::assistant::brain::LatencyDist::Fixed(Duration::ZERO),
            turn_log: crate::assistant::turn_log::TurnLogTarget::Off,
            ..crate::assistant::Config::default()
        };
        config.write.backoff_base = Duration::from_millis(20);
        config.write.backoff_cap = Duration::from_millis(100);
        config.breaker.failure_threshold = 3;
        config.breaker.open_for = Duration::from_secs(2);
        config.downgrade.auth_failures = 3;
        adjust(&mut config);
        let assistant = crate::assistant::Assistant::start(config)
            .await
            .map_err(|e| SmokeError::Embedded {
                what: "assistant",
                message: e.to_string(),
            })?;
        Ok(Embedded { zep, assistant })
    }

    /// The target to run checks against.
    pub fn target(&self) -> Target {
        Target {
            url: self.assistant.url(),
            zep_admin: Some(self.zep.url()),
            label: "embedded".to_string(),
        }
    }

    /// Stops both.
    pub async fn shutdown(self) {
        self.assistant.shutdown(Duration::from_secs(2)).await;
        self.zep.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_never_look_like_personal_data() {
        for _ in 0..2000 {
            let tag = run_tag();
            assert!(
                tag.len() == 8 && tag.chars().all(|c| c.is_ascii_lowercase()),
                "{tag}"
            );
            let body = format!(
                "{{\"thread_id\":\"smoke-{tag}-3-a\",\"client_msg_id\":\"smoke-{tag}-3-12:user\"}}"
            );
            assert!(crate::pii::find(&body).is_empty(), "{body}");
        }
        // What the uuid's hex digits could give before: a phone to the journal.
        assert!(!crate::pii::find("{\"message_id\":\"smoke-27035666-3-1:user\"}").is_empty());
    }
}
