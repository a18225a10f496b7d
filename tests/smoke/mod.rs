//! The smoke checklist end to end: the shipped `scenarios/smoke` files against the embedded
//! fake Zep + reference assistant, and the files it writes.

use std::path::Path;

use rollgate::run_dir::RunDir;
use rollgate::smoke::{self, Embedded, Phase, Status};

#[tokio::test]
async fn the_write_only_checklist_passes_on_the_embedded_default() {
    let plan = smoke::load_dir(Path::new("scenarios/smoke"), Phase::WriteOnly, None).expect("plan");
    assert!(plan.checks.len() >= 13, "{} checks", plan.checks.len());
    let dir = tempfile::tempdir().expect("tempdir");
    let run_dir = RunDir::at(dir.path()).expect("run dir");
    let embedded = Embedded::start(Phase::WriteOnly, |_| {})
        .await
        .expect("stack");
    let report = smoke::run(&plan, &embedded.target(), &run_dir)
        .await
        .expect("report");
    embedded.shutdown().await;
    let failing: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .collect();
    assert!(failing.is_empty(), "{}", smoke::table(&report));
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("smoke/smoke.json")).expect("smoke.json"),
    )
    .expect("JSON");
    assert_eq!(json["schema"], "rollgate.smoke/v1");
    assert_eq!(
        json["checks"].as_array().map(Vec::len),
        Some(plan.checks.len())
    );
    let junit = std::fs::read_to_string(dir.path().join("smoke/junit.xml")).expect("junit");
    assert_eq!(junit.matches("<testcase ").count(), plan.checks.len());
}

#[test]
fn an_unknown_field_is_an_error_naming_the_file_and_line() {
    let err = smoke::plan::parse_file(
        Path::new("bad.toml"),
        "group = \"g\"\nphases = [\"write-only\"]\n[[check]]\nname = \"x\"\nexpectt = []\n",
        Phase::WriteOnly,
    )
    .expect_err("unknown field");
    let text = err.to_string();
    assert!(text.contains("bad.toml"), "{text}");
    assert!(text.contains("line 5"), "{text}");
    assert!(text.contains("expectt"), "{text}");
}
