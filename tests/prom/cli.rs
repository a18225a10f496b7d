//! `rollgate query` in process: scrape → save → re-query the run; errors; help text.

use clap::{CommandFactory, Parser};
use rollgate::cli::Cli;
use rollgate::commands::{run, Outcome};

use super::target::TestTarget;

async fn query(args: &[&str]) -> anyhow::Result<Outcome> {
    let mut argv = vec!["rollgate", "query"];
    argv.extend_from_slice(args);
    run(Cli::try_parse_from(argv)?).await
}

#[tokio::test]
async fn scrape_save_then_requery_the_run() {
    let target = TestTarget::start("memory_zep_context_failures_total 5\n").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let run_dir = dir.path().join("run");
    let source = format!("scrape:{}", target.url);
    let outcome = query(&[
        "memory_zep_context_failures_total",
        "--source",
        &source,
        "--for",
        "600ms",
        "--interval",
        "250ms",
        "--save",
        run_dir.to_str().expect("utf-8"),
    ])
    .await
    .expect("scrape query");
    assert_eq!(outcome, Outcome::Success);
    let run_source = format!("run:{}", run_dir.display());
    let again = query(&["up == 1", "--source", &run_source, "--json"])
        .await
        .expect("run query");
    assert_eq!(again, Outcome::Success);
    let none = query(&["nonexistent_metric", "--source", &run_source])
        .await
        .expect("no data");
    assert_eq!(none, Outcome::Failed, "no data is exit 1, not a zero");
}

#[tokio::test]
async fn fixture_range_query_and_errors() {
    let fixture = format!(
        "fixture:{}/fixtures/scrapes/seed-canary.prom",
        env!("CARGO_MANIFEST_DIR")
    );
    let ok = query(&[
        "rate(memory_zep_write_requests_total[1m])",
        "--source",
        &fixture,
        "--range",
        "5m",
        "--step",
        "1m",
    ])
    .await
    .expect("range");
    assert_eq!(ok, Outcome::Success);
    let err = query(&["delta(x[5m])", "--source", &fixture])
        .await
        .expect_err("unsupported");
    assert!(format!("{err:#}").contains("function delta"), "{err:#}");
    let err = query(&["x", "--source", "scrape:http://127.0.0.1:9/metrics"])
        .await
        .expect_err("no --for");
    assert!(format!("{err:#}").contains("--for"), "{err:#}");
    let err = query(&["x", "--source", "run:/nonexistent/run"])
        .await
        .expect_err("missing run");
    assert!(format!("{err:#}").contains("/nonexistent/run"), "{err:#}");
    assert!(Cli::try_parse_from(["rollgate", "query", "x", "--source", "nope"]).is_err());
}

#[test]
fn help_shows_sources_and_examples() {
    let mut cmd = Cli::command();
    let help = cmd
        .find_subcommand_mut("query")
        .expect("query subcommand")
        .render_long_help()
        .to_string();
    for needle in [
        "scrape:URL",
        "prometheus:URL",
        "run:DIR",
        "--json",
        "Examples:",
        "--for",
    ] {
        assert!(help.contains(needle), "help lacks {needle}");
    }
}

#[tokio::test]
async fn prometheus_source_passes_auth_and_headers() {
    let base = super::api::start().await;
    let source = format!("prometheus:{base}");
    let ok = query(&[
        "up",
        "--source",
        &source,
        "--bearer-token",
        "s3cret",
        "--header",
        "X-Scope-OrgID: team-a",
    ])
    .await
    .expect("remote query");
    assert_eq!(ok, Outcome::Success);
    let empty = query(&[
        "empty",
        "--source",
        &source,
        "--bearer-token",
        "s3cret",
        "--header",
        "X-Scope-OrgID: team-a",
    ])
    .await
    .expect("remote empty");
    assert_eq!(empty, Outcome::Failed, "empty is no data, exit 1");
    let err = query(&["up", "--source", &source])
        .await
        .expect_err("no credentials");
    assert!(format!("{err:#}").contains("HTTP 401"), "{err:#}");
}
