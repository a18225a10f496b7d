//! Mutation tests: the reference assistant started with one deliberate defect (a regression file
//! from `fixtures/defects/`) makes exactly the matching smoke check(s) fail, every other check of
//! the phase still passes, and the failure names the cause.

use std::path::Path;

use rollgate::assistant::regression::Regression;
use rollgate::run_dir::RunDir;
use rollgate::smoke::{self, CheckResult, Phase, SmokeReport, Status};

use super::check_named;

/// Runs the shipped checklist of `phase` against an embedded assistant with the defect file.
async fn run_with_defect(phase: Phase, defect: &str) -> SmokeReport {
    let path = Path::new("fixtures/defects").join(defect);
    let regression = Regression::load(&path).expect("defect file");
    assert_ne!(
        regression,
        Regression::default(),
        "{defect} changes nothing"
    );
    let plan = smoke::load_dir(Path::new("scenarios/smoke"), phase, None).expect("plan");
    let dir = tempfile::tempdir().expect("tempdir");
    let run_dir = RunDir::at(dir.path()).expect("run dir");
    smoke::run_embedded(&plan, &run_dir, |assistant| {
        assistant.regression = regression.clone();
    })
    .await
    .expect("report")
}

/// Asserts that the checks whose name starts with one of `failing` fail (status `fail`, not
/// `error`) and every other check passes; returns the failing ones.
fn assert_only_failing<'r>(report: &'r SmokeReport, failing: &[&str]) -> Vec<&'r CheckResult> {
    let table = smoke::table(report);
    for prefix in failing {
        assert!(
            report.checks.iter().any(|c| c.name.starts_with(prefix)),
            "no check named {prefix:?}\n{table}"
        );
    }
    let mut failed = Vec::new();
    for check in &report.checks {
        if failing.iter().any(|p| check.name.starts_with(p)) {
            assert_eq!(check.status, Status::Fail, "{}\n{table}", check.name);
            failed.push(check);
        } else {
            assert_eq!(check.status, Status::Pass, "{}\n{table}", check.name);
        }
    }
    failed
}

fn says(check: &CheckResult, text: &str) -> bool {
    check.expected.contains(text) || check.seen.contains(text)
}

#[tokio::test]
async fn a_disabled_breaker_fails_the_breaker_boxes() {
    let report = run_with_defect(Phase::WriteOnly, "breaker-disabled.toml").await;
    // "App still responds" still passes: without a breaker the app still answers (with memory
    // writes failing behind it); both boxes that need the breaker open fail.
    let failed = assert_only_failing(
        &report,
        &["Force Zep 5xx → breaker opens", "Writes skipped, trace:"],
    );
    for check in failed {
        assert!(says(check, "circuit breaker"), "{check:?}");
        // The turns sent to open it ran out, and the evidence says so.
        assert!(
            check.evidence.iter().any(|e| e.starts_with(
                "chat_until: max_turns reached: memory_zep_breaker_state == 0 after 10 turn(s)"
            )),
            "{check:?}"
        );
    }
    let opens = check_named(&report.checks, "Force Zep 5xx");
    assert!(
        says(opens, "memory_zep_breaker_opens_total delta 0"),
        "{opens:?}"
    );
}

#[tokio::test]
async fn an_ignored_retry_after_fails_the_429_boxes() {
    let report = run_with_defect(Phase::WriteOnly, "retry-after-ignored.toml").await;
    // Two boxes: the journal shows the retry came too soon, and the metric of seconds waited on
    // Retry-After stays at 0 because nothing was waited. "No breaker open" and "Second turn
    // succeeds" still pass (a 429 never counts toward the breaker; the retry succeeds).
    let failed = assert_only_failing(
        &report,
        &[
            "Stub Zep 429 with Retry-After: 2",
            "memory_zep_retry_after_seconds increments",
        ],
    );
    let spacing = check_named(failed.iter().copied(), "Stub Zep 429");
    assert!(says(spacing, "Retry-After ignored"), "{spacing:?}");
    assert!(says(spacing, "HTTP 429 Retry-After 2s"), "{spacing:?}");
    let metric = check_named(failed.iter().copied(), "memory_zep_retry_after_seconds");
    assert!(says(metric, "Retry-After"), "{metric:?}");
}

#[tokio::test]
async fn pii_redaction_off_fails_the_pii_check() {
    let report = run_with_defect(Phase::WriteOnly, "pii-redaction-off.toml").await;
    let failed = assert_only_failing(&report, &["Send message with an email and a phone"]);
    let check = failed[0];
    assert!(says(check, "unredacted PII reached Zep"), "{check:?}");
    assert!(says(check, "email") && says(check, "phone"), "{check:?}");
}

#[tokio::test]
async fn no_read_deadline_fails_the_timeout_box() {
    let report = run_with_defect(Phase::ReadWrite, "read-deadline-off.toml").await;
    let failed = assert_only_failing(&report, &["Timeout (250ms)"]);
    let check = failed[0];
    assert!(says(check, "the 250 ms read deadline"), "{check:?}");
    assert!(says(check, "trace.memory.took_ms"), "{check:?}");
}

#[tokio::test]
async fn no_downgrade_fails_the_downgrade_check() {
    let report = run_with_defect(Phase::ReadWrite, "downgrade-off.toml").await;
    let failed = assert_only_failing(&report, &["Sustained 401/403 from Zep"]);
    let check = failed[0];
    assert!(
        says(check, "the automatic downgrade on sustained 401/403"),
        "{check:?}"
    );
    assert!(says(check, "\"read_write\""), "{check:?}");
}
