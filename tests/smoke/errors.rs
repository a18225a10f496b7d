//! Bad input: a smoke file with an unknown field, an expectation the target cannot answer, an
//! unreachable target. Each is an error naming the file/line or the metric and target, and an
//! `error` status distinct from `fail`.

use std::path::Path;

use rollgate::run_dir::RunDir;
use rollgate::smoke::{self, Phase, Status, Target};

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

    // In an expectation's inline table, on disk through the directory loader.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("9-typo.toml");
    std::fs::write(
        &file,
        "group = \"g\"\nphases = [\"write-only\"]\n\n[[check]]\nname = \"x\"\nstep = [{ chat = { thread = \"a\", message = \"hi\" } }]\nexpect = [{ response = \"agent\", equal = \"real_estate\" }]\n",
    )
    .expect("write");
    let text = smoke::load_dir(dir.path(), Phase::WriteOnly, None)
        .expect_err("unknown field")
        .to_string();
    assert!(text.contains("9-typo.toml"), "{text}");
    assert!(text.contains("line 7"), "{text}");
    assert!(text.contains("unknown field `equal`"), "{text}");
}

#[tokio::test]
async fn a_metric_the_target_does_not_expose_is_an_error_naming_metric_and_target() {
    let (report, _dir) = super::junit::run_mixed().await;
    let check = super::check_named(&report.checks, "errors:");
    assert_eq!(check.status, Status::Error, "{check:?}");
    assert!(
        check
            .seen
            .contains("memory_zep_no_such_metric_total is not exposed by http://127.0.0.1:")
            && check.seen.contains("/metrics"),
        "{check:?}"
    );
    let table = smoke::table(&report);
    assert!(table.contains("ERROR    Mixed"), "{table}");
    assert!(!report.passed);
}

#[tokio::test]
async fn an_unreachable_target_is_an_error_naming_the_url() {
    // A port that was bound and released: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let checks = smoke::plan::parse_file(
        Path::new("mixed.toml"),
        super::junit::MIXED,
        Phase::WriteOnly,
    )
    .expect("plan");
    let plan = smoke::Plan {
        phase: Phase::WriteOnly,
        checks,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let run_dir = RunDir::at(dir.path()).expect("run dir");
    let target = Target {
        url: url.clone(),
        zep_admin: None,
        label: url.clone(),
    };
    let report = smoke::run(&plan, &target, &run_dir).await.expect("report");
    for check in &report.checks {
        if check.name.starts_with("skipped:") {
            assert_eq!(check.status, Status::Skipped);
            continue;
        }
        assert_eq!(check.status, Status::Error, "{check:?}");
        assert!(
            check.expected.contains(&format!("{url}/metrics")),
            "{check:?}"
        );
    }
    // The error is in the JSON and JUnit outputs too.
    let json = std::fs::read_to_string(dir.path().join("smoke/smoke.json")).expect("json");
    assert!(json.contains("\"status\": \"error\""), "{json}");
    let junit = std::fs::read_to_string(dir.path().join("smoke/junit.xml")).expect("junit");
    assert!(junit.contains("<error message=\"expected "), "{junit}");
}
