//! `rollgate report` on synthetic run directories written per `reports/README.md`.

mod charts;

use std::path::Path;

use rollgate::report;
use rollgate::run_dir::{self, RunDir};
use serde_json::json;

const PLANTED_KEY: &str = "sk-planted-4f1c9e";

/// A realistic run directory: manifest, seconds, smoke and verdict with a breaching check.
pub(super) fn synthetic_run(dir: &Path) {
    let rd = RunDir::at(dir).unwrap();
    rd.write_json(
        run_dir::MANIFEST,
        &json!({
            "schema": "rollgate.run/v1", "status": "complete", "abort_reason": null,
            "scenario": {"name": "seed-load", "path": "scenarios/seed-load.toml"},
            "config": {"target": {"baseline": "http://127.0.0.1:8700", "canary": "http://127.0.0.1:8701",
                       "zep_api_key": PLANTED_KEY,
                       "headers": {"Authorization": format!("Bearer {PLANTED_KEY}")}},
                       "rate": 100, "duration": "10m"},
            "seed": 7, "versions": {"rollgate": "0.1.0", "goose": "0.19"},
            "machine": {"cpus": 2, "os": "linux"},
            "started_at": "2026-12-03T08:45:00Z", "ended_at": "2026-12-03T08:55:00Z",
            "duration_s": 600.0, "rate": {"intended": 100.0, "achieved": 99.98},
            "send_lag_ms": {"p50": 0.1, "p99": 0.4, "max": 3.0}, "trustworthy": false,
            "results": [], "extra_field": {"ignored": true}
        }),
    )
    .unwrap();
    let mut seconds = Vec::new();
    for s in 0..3 {
        for (v, p95) in [("baseline", 180.0), ("canary", 420.0 + s as f64)] {
            seconds.push(
                json!({"second": s, "variant": v, "intended": 50, "count": 49 + s,
                                "errors": s % 2, "ttfb_p95_ms": p95}),
            );
        }
    }
    rd.write_json(run_dir::LOAD_SECONDS, &seconds).unwrap();
    rd.write_json(
        run_dir::SMOKE_JSON,
        &json!({"schema": "rollgate.smoke/v1", "phase": "canary", "target": "embedded", "passed": false,
            "checks": [
              {"group": "Circuit Breaker", "name": "Force Zep 5xx → breaker opens", "status": "pass",
               "expected": "breaker open", "seen": "open after 5 failures", "evidence": [], "duration_ms": 812},
              {"group": "PII", "name": "No <PII> in logs", "status": "fail",
               "expected": "0 matches", "seen": "2 emails in turn log", "evidence": ["line 3"], "duration_ms": 40}
            ]}),
    )
    .unwrap();
    rd.write_json(
        run_dir::VERDICT,
        &json!({"schema": "rollgate.verdict/v1", "phase": "canary", "verdict": "ROLLBACK",
            "reason": "canary p95 TTFB is 240 ms above baseline (> 200 ms) for 10m",
            "decided_by": ["p95 TTFB increase > 200ms"], "time_scale": 1.0,
            "window": {"start_ms": 0, "end_ms": 600000}, "warnings": ["histogram buckets are 100 ms wide near the threshold"],
            "checks": [
              {"name": "p95 TTFB increase > 200ms", "action": "rollback",
               "query": "histogram_quantile(0.95, sum by (le) (rate(chat_ttfb_seconds_bucket{variant=\"canary\"}[5m])))",
               "comparison": "canary - baseline > 0.2", "threshold": 0.2, "unit": "seconds",
               "window": "10m", "step": "30s", "evaluations": 20, "samples": 12000, "value": 0.24,
               "statistic": {"test": "mann-whitney", "p_value": 0.001}, "outcome": "breach",
               "decision": "rollback: breached for 10m", "breaches": [[0, 600000]], "warnings": []},
              {"name": "Zep error ratio > 1%", "action": "downgrade", "query": "sum(rate(memory_zep_errors_total[5m]))",
               "comparison": "canary > 0.01", "threshold": 0.01, "unit": "ratio", "window": "10m",
               "samples": 3, "value": null, "outcome": "inconclusive", "decision": "too few samples"}
            ]}),
    )
    .unwrap();
}

pub(super) fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap()
}

#[test]
fn report_of_a_full_run_matches_snapshots() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("20261203T084500Z-seed-load");
    synthetic_run(&dir);
    let summary = report::write(&dir).unwrap();
    assert_eq!(summary.verdict, "ROLLBACK");
    // report.html, summary.md, junit.xml and the two charts seconds.json has data for.
    assert_eq!(summary.files.len(), 5, "{:?}", summary.files);
    insta::assert_snapshot!("report_summary_md", read(&dir, run_dir::SUMMARY_MD));
    insta::assert_snapshot!("report_junit_xml", read(&dir, run_dir::JUNIT));
    let html = read(&dir, run_dir::REPORT_HTML);
    assert!(html.contains("class=\"banner ROLLBACK\""));
    assert!(
        html.contains("No &lt;PII&gt; in logs"),
        "smoke box wording is escaped"
    );
    assert!(html.contains("untrusted run"));
    assert!(!html.contains("<script") && !html.contains("http-equiv=\"refresh\""));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
}

#[test]
fn planted_api_key_never_reaches_an_output_file() {
    let tmp = tempfile::tempdir().unwrap();
    synthetic_run(tmp.path());
    let summary = report::write(tmp.path()).unwrap();
    for f in &summary.files {
        let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
        assert!(!text.contains(PLANTED_KEY), "{} leaks the key", f.display());
        assert!(
            !text.contains("Bearer "),
            "{} leaks an auth header",
            f.display()
        );
    }
    let html = read(tmp.path(), run_dir::REPORT_HTML);
    assert!(html.contains("[redacted]"));
}

#[test]
fn damaged_run_dir_gives_a_report_that_says_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    synthetic_run(tmp.path());
    std::fs::remove_file(tmp.path().join(run_dir::VERDICT)).unwrap();
    let smoke = read(tmp.path(), run_dir::SMOKE_JSON);
    std::fs::write(
        tmp.path().join(run_dir::SMOKE_JSON),
        &smoke[..smoke.len() / 2],
    )
    .unwrap();
    let summary = report::write(tmp.path()).unwrap();
    assert_eq!(summary.verdict, "NO VERDICT");
    for rel in [run_dir::REPORT_HTML, run_dir::SUMMARY_MD] {
        let text = read(tmp.path(), rel);
        assert!(text.contains("verdict.json is missing"), "{rel}: {text}");
        assert!(
            text.contains("smoke/smoke.json is damaged"),
            "{rel}: {text}"
        );
    }
    let junit = read(tmp.path(), run_dir::JUNIT);
    assert!(junit.contains("<error") && junit.contains("verdict.json is missing"));
}

#[test]
fn empty_and_absent_run_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    let summary = report::write(tmp.path()).unwrap();
    assert_eq!(summary.verdict, "NO VERDICT");
    let (charts, files): (Vec<_>, Vec<_>) = summary
        .warnings
        .iter()
        .partition(|w| w.starts_with("chart charts/"));
    assert_eq!(files.len(), 4, "{:?}", summary.warnings);
    assert_eq!(charts.len(), 7, "every chart is skipped: {charts:?}");
    let err = report::write(&tmp.path().join("nope")).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}
