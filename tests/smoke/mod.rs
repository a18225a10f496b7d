//! The smoke checklist end to end: the shipped `scenarios/smoke` files against the embedded
//! fake Zep + reference assistant, and the files it writes.

mod defects;
mod errors;
mod external;
mod junit;
mod quantiles;

use std::path::Path;

use rollgate::run_dir::RunDir;
use rollgate::smoke::{self, CheckResult, Phase, SmokeReport, Status};

/// Runs the shipped checklist of `phase` the way `rollgate smoke` does (a fresh embedded stack
/// per check), into a temp run directory.
async fn run_phase(phase: Phase) -> (SmokeReport, tempfile::TempDir) {
    let plan = smoke::load_dir(Path::new("scenarios/smoke"), phase, None).expect("plan");
    let dir = tempfile::tempdir().expect("tempdir");
    let run_dir = RunDir::at(dir.path()).expect("run dir");
    let report = smoke::run_embedded(&plan, &run_dir, |_| {})
        .await
        .expect("report");
    (report, dir)
}

/// The first check whose name starts with `prefix`; fails the test naming the prefix and listing
/// the checks when there is none.
fn check_named<'r>(
    checks: impl IntoIterator<Item = &'r CheckResult>,
    prefix: &str,
) -> &'r CheckResult {
    let checks: Vec<&CheckResult> = checks.into_iter().collect();
    checks
        .iter()
        .copied()
        .find(|c| c.name.starts_with(prefix))
        .unwrap_or_else(|| {
            let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
            panic!("no check named {prefix:?} among {names:?}")
        })
}

fn assert_all_pass(report: &SmokeReport) {
    let failing: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .collect();
    assert!(failing.is_empty(), "{}", smoke::table(report));
}

/// Every box of the seed's checklist for a phase, by its wording.
fn seed_boxes(phase: Phase) -> Vec<&'static str> {
    match phase {
        Phase::WriteOnly => vec![
            "Send message → memory_zep_write_attempts_total increments",
            "p95 latency < 150ms (memory_zep_write_latency_seconds)",
            "WS trace includes: {memory: {used: true, mode: \"write_only\", source: \"zep\"}}",
            "User: \"2BR in Girne\" → listings",
            "User: \"show me\" (same thread) → continues (no router flip)",
            "Verify awaiting_clarification=true preserved",
            "Router switches to local-info",
            "Trace shows mode:\"write_only\", no exceptions",
            "Force Zep 5xx → breaker opens",
            "Writes skipped, trace: {used: false, mode: \"off\", reason: \"breaker_open\"}",
            "App still responds",
            "Stub Zep 429 with Retry-After: 2",
            "No breaker open",
            "memory_zep_retry_after_seconds increments",
            "Second turn succeeds",
        ],
        Phase::ReadWrite => vec![
            "WS trace: {memory: {used: true, mode: \"read_write\", source: \"zep\", strategy: \"summary\", took_ms: 30}}",
            "Token budget: Summary + last 4 messages truncated if exceeded",
            "Timeout (250ms): Falls back to last 4 messages, trace: {used: false, reason: \"timeout\"}",
        ],
    }
}

fn assert_every_box_listed(report: &SmokeReport, phase: Phase) {
    for wording in seed_boxes(phase) {
        assert!(
            report.checks.iter().any(|c| c.name.contains(wording)),
            "no check names the box {wording:?}"
        );
    }
}

#[tokio::test]
async fn the_write_only_checklist_passes_on_the_embedded_default() {
    let (report, dir) = run_phase(Phase::WriteOnly).await;
    assert_all_pass(&report);
    assert_every_box_listed(&report, Phase::WriteOnly);
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("smoke/smoke.json")).expect("smoke.json"),
    )
    .expect("JSON");
    assert_eq!(json["schema"], "rollgate.smoke/v1");
    assert_eq!(
        json["checks"].as_array().map(Vec::len),
        Some(report.checks.len())
    );
    // The quantile expectation counts its samples in the evidence.
    let p95 = check_named(&report.checks, "p95 latency");
    assert!(
        p95.evidence
            .iter()
            .any(|e| e.contains("memory_zep_write_latency_seconds: p95 =")
                && e.contains("over 5 sample(s)")),
        "{:?}",
        p95.evidence
    );
}

#[tokio::test]
async fn the_read_write_checklist_passes_on_the_embedded_default() {
    let (report, _dir) = run_phase(Phase::ReadWrite).await;
    assert_all_pass(&report);
    assert_every_box_listed(&report, Phase::ReadWrite);
}
