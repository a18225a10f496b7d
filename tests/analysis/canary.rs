//! The canary datasets of `fixtures/canary/`: each file is exactly what `rollgate synth` writes
//! from `fixtures/canary/datasets.toml`, and the seed's canary gates reach on it the verdict its
//! story calls for (one test per outcome the issue lists).

use std::path::{Path, PathBuf};

use rollgate::analysis::evaluate::Outcome;
use rollgate::analysis::gates::{Gates, Phase};
use rollgate::analysis::verdict::{Decision, Verdict};
use rollgate::prom::store::{self, Store};
use rollgate::synth::{self, spec, Dataset};

pub(crate) const DATASETS: &str = "fixtures/canary/datasets.toml";

pub(crate) fn datasets() -> Vec<Dataset> {
    spec::load(Path::new(DATASETS)).expect("fixtures/canary/datasets.toml")
}

pub(crate) fn fixture(dataset: &Dataset) -> PathBuf {
    Path::new("fixtures/canary").join(synth::file_name(dataset))
}

/// The checked-in fixture of `name`, judged for the canary phase with the seed's gates; fails
/// with the reason when the verdict is not the one the dataset expects.
async fn judged(name: &str) -> Verdict {
    let dataset = datasets()
        .into_iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no dataset {name:?} in {DATASETS}"));
    let mut store = Store::new();
    store.load_fixtures(&fixture(&dataset)).expect("fixture");
    let gates = Gates::seed().expect("seed gates");
    let verdict = synth::judge(&gates, Phase::Canary, store)
        .await
        .expect("samples");
    if let Some(why) = synth::mismatch(&dataset, &verdict) {
        panic!("{name}: {why}");
    }
    verdict
}

fn check<'a>(verdict: &'a Verdict, name: &str) -> &'a rollgate::analysis::evaluate::CheckResult {
    verdict
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name:?}"))
}

/// Simulating twelve datasets keeps a core busy for a minute in a debug build: the test takes
/// the load tests' lock so that it does not starve their latency-sensitive runs.
#[tokio::test]
async fn every_fixture_is_what_rollgate_synth_writes() {
    let _turn = super::GOOSE.lock().await;
    let datasets = datasets();
    assert!(datasets.len() >= 12, "{} datasets", datasets.len());
    for dataset in &datasets {
        let path = fixture(dataset);
        let on_disk = store::read_text(&path).unwrap_or_else(|e| {
            panic!("{}: {e}: run `rollgate synth` to write it", path.display())
        });
        let mut fresh = Vec::new();
        synth::simulate(dataset)
            .expect("simulate")
            .write_to(&mut fresh)
            .expect("write");
        assert!(
            on_disk.as_bytes() == fresh.as_slice(),
            "{} differs from what `rollgate synth` writes from {DATASETS}: regenerate it",
            path.display()
        );
    }
}

#[tokio::test]
async fn a_healthy_canary_is_promoted() {
    let v = judged("healthy").await;
    assert_eq!(v.verdict, Decision::Promote, "{}", v.reason);
    assert!(v.checks.iter().all(|c| c.outcome == Outcome::Pass));
}

#[tokio::test]
async fn a_canary_250ms_slower_is_rolled_back_by_the_ttfb_trigger() {
    let v = judged("ttfb-plus-250ms").await;
    assert_eq!(
        v.decided_by[0], "p95 TTFB increase > 200ms",
        "{:?}",
        v.decided_by
    );
}

#[tokio::test]
async fn breaker_open_6_percent_for_11_minutes_is_rolled_back() {
    let v = judged("breaker-6pct-11m").await;
    let c = check(&v, "Breaker open > 5% for 10m");
    assert_eq!(c.outcome, Outcome::Breach, "{}", c.decision);
}

#[tokio::test]
async fn breaker_open_6_percent_for_8_minutes_is_not_rolled_back() {
    let v = judged("breaker-6pct-8m").await;
    assert_ne!(v.verdict, Decision::Rollback, "{}", v.reason);
    // The 6% was seen: the shorter canary alert fired, the 10-minute trigger did not.
    assert_eq!(
        check(&v, "Breaker open > 1% for 5m").outcome,
        Outcome::Breach
    );
    let c = check(&v, "Breaker open > 5% for 10m");
    assert_eq!(c.outcome, Outcome::Pass, "{}", c.decision);
}

#[tokio::test]
async fn read_p95_350ms_for_16_minutes_is_downgraded() {
    let v = judged("read-p95-350ms-16m").await;
    assert_eq!(v.verdict, Decision::Downgrade, "{}", v.reason);
}

#[tokio::test]
async fn context_failures_12_percent_for_10_minutes_is_downgraded() {
    let v = judged("context-failures-12pct-10m").await;
    assert_eq!(v.verdict, Decision::Downgrade, "{}", v.reason);
}

#[tokio::test]
async fn an_error_rate_2_5x_a_non_zero_baseline_is_rolled_back() {
    let v = judged("errors-2.5x-baseline").await;
    assert_eq!(v.verdict, Decision::Rollback, "{}", v.reason);
}

#[tokio::test]
async fn one_canary_error_against_a_zero_error_baseline_is_not_rolled_back() {
    let v = judged("one-error-zero-baseline").await;
    let c = check(&v, "Error rate increase > 2x baseline");
    assert_eq!(c.outcome, Outcome::Pass, "{}", c.decision);
    // The one error is in the data: the canary's ratio is above zero somewhere.
    assert!(c.canary_series.iter().any(|(_, v)| *v > 0.0));
}

#[tokio::test]
async fn a_window_too_short_for_the_30_minute_gate_holds_with_the_time_still_needed() {
    let v = judged("too-short-for-30m-gate").await;
    assert_eq!(v.verdict, Decision::Hold, "{}", v.reason);
    let c = check(&v, "p95 write latency < 150ms for 30-60 minutes");
    assert_eq!(c.outcome, Outcome::Inconclusive, "{}", c.decision);
    assert!(c.decision.contains("more"), "{}", c.decision);
}

#[tokio::test]
async fn no_canary_traffic_holds_with_insufficient_data() {
    let v = judged("no-canary-traffic").await;
    assert_eq!(v.verdict, Decision::Hold, "{}", v.reason);
    assert!(v.reason.starts_with("insufficient data"), "{}", v.reason);
    assert!(v.checks.iter().all(|c| c.outcome != Outcome::Pass));
}

#[tokio::test]
async fn nan_from_an_empty_histogram_holds() {
    let v = judged("empty-read-histogram").await;
    let c = check(&v, "Read path p95 < 250ms");
    assert_eq!(c.outcome, Outcome::Inconclusive, "{}", c.decision);
    assert!(c.canary_series.iter().all(|(_, v)| v.is_nan()) || c.canary_series.is_empty());
}

#[tokio::test]
async fn sustained_auth_failures_are_downgraded() {
    let v = judged("auth-downgrade").await;
    assert_eq!(v.verdict, Decision::Downgrade, "{}", v.reason);
}

#[test]
fn a_bad_datasets_file_names_the_line_and_field() {
    let good = std::fs::read_to_string(DATASETS).expect("datasets");
    let unknown = good.replacen(
        "expect = \"PROMOTE\"",
        "expect = \"PROMOTE\"\nexpekt = 1",
        1,
    );
    let err = spec::parse(Path::new("d.toml"), &unknown)
        .expect_err("unknown field")
        .to_string();
    assert!(err.contains("d.toml") && err.contains("expekt"), "{err}");
    let bad = good.replacen("for = \"14m 20s\"", "for = \"fourteen\"", 1);
    let err = spec::parse(Path::new("d.toml"), &bad)
        .expect_err("bad duration")
        .to_string();
    let line = bad
        .lines()
        .position(|l| l.contains("fourteen"))
        .expect("line")
        + 1;
    assert!(
        err.contains(&format!("d.toml:{line}:")) && err.contains("canary_episodes[0].for"),
        "{err}"
    );
    let verdict = good.replacen("expect = \"PROMOTE\"", "expect = \"PROMOTED\"", 1);
    let err = spec::parse(Path::new("d.toml"), &verdict)
        .expect_err("bad verdict")
        .to_string();
    assert!(
        err.contains("PROMOTED") && err.contains("ROLLBACK"),
        "{err}"
    );
}

#[tokio::test]
async fn a_threshold_inside_a_bucket_is_warned_about_and_the_seeds_are_not() {
    let dataset = datasets()
        .into_iter()
        .find(|d| d.name == "healthy")
        .expect("healthy");
    let load = || {
        let mut store = Store::new();
        store.load_fixtures(&fixture(&dataset)).expect("fixture");
        store
    };
    // The assistant's buckets hold every threshold of the seed: no warning.
    let seed = synth::judge(&Gates::seed().expect("gates"), Phase::Canary, load())
        .await
        .expect("samples");
    assert!(
        !seed
            .warnings
            .iter()
            .any(|w| w.contains("bucket resolution")),
        "{:?}",
        seed.warnings
    );
    // 180 ms lies in the (0.15, 0.2] bucket.
    let text = rollgate::analysis::gates::DEFAULT_GATES.replace(
        "threshold = 0.150\nmin_duration = \"30m\"",
        "threshold = 0.180\nmin_duration = \"30m\"",
    );
    let gates = Gates::parse(Path::new("g.toml"), &text).expect("gates");
    let v = synth::judge(&gates, Phase::Canary, load())
        .await
        .expect("samples");
    let c = check(&v, "p95 write latency < 150ms for 30-60 minutes");
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("bucket resolution") && w.contains("(0.15, 0.2]")),
        "{:?}",
        c.warnings
    );
    assert!(
        v.warnings.iter().any(|w| w.contains("0.18")),
        "{:?}",
        v.warnings
    );
}

#[tokio::test]
async fn sides_told_apart_by_a_regular_expression_judge_alike() {
    let dataset = datasets()
        .into_iter()
        .find(|d| d.name == "ttfb-plus-250ms")
        .expect("dataset");
    let mut store = Store::new();
    store.load_fixtures(&fixture(&dataset)).expect("fixture");
    let sides = "[sides]\nlabel = \"variant\"\nbaseline = \"baseline\"\ncanary = \"canary\"\n";
    let text = rollgate::analysis::gates::DEFAULT_GATES.replace(
        sides,
        "[sides]\nlabel = \"variant\"\nbaseline = \"base.*\"\ncanary = \".*nary\"\nregex = true\n",
    );
    let gates = Gates::parse(Path::new("g.toml"), &text).expect("gates");
    let v = synth::judge(&gates, Phase::Canary, store)
        .await
        .expect("samples");
    assert_eq!(v.verdict, Decision::Rollback, "{}", v.reason);
    let c = check(&v, "p95 TTFB increase > 200ms");
    assert!(
        c.resolved["canary"].contains("variant=~\".*nary\""),
        "{:?}",
        c.resolved
    );
    let bad = text.replace("\".*nary\"", "\"(canary\"");
    let err = Gates::parse(Path::new("g.toml"), &bad)
        .expect_err("bad regex")
        .to_string();
    assert!(err.contains("g.toml") && err.contains("(canary"), "{err}");
}
