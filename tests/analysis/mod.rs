//! The canary analyzer: window semantics and floors on synthetic series, and verdicts on real load
//! runs of the reference assistant (healthy, 250 ms slower, no canary traffic).

use std::path::Path;
use std::time::Duration;

use rollgate::analysis::evaluate::{self, Outcome, Span};
use rollgate::analysis::evidence::LatencySamples;
use rollgate::analysis::gates::{Gates, Phase};
use rollgate::analysis::verdict::{self, Decision};
use rollgate::load::run::{self, RunOptions};
use rollgate::load::scenario::{Overrides, Scenario};
use rollgate::prom::eval::Semantics;
use rollgate::prom::labels::Labels;
use rollgate::prom::source::Source;
use rollgate::prom::store::Store;
use rollgate::stack::{Stack, StackConfig};
use rollgate::variant::Variant;

use super::load::GOOSE;

mod canary;
mod canary_prometheus;
mod live;
mod stats;

pub(crate) const MINUTE: i64 = 60_000;
pub(crate) const T0: i64 = 1_764_000_000_000;

/// A gauge per side, sampled every 15 s for `minutes`: the canary's value is `high` during
/// `[from, from + for)` minutes and `low` otherwise; the baseline is `baseline` throughout.
fn store(minutes: i64, from: i64, lasting: i64, low: f64, high: f64, baseline: f64) -> Source {
    let mut store = Store::new();
    let canary = Labels::from_pairs([("__name__", "ratio"), ("variant", "canary")]);
    let base = Labels::from_pairs([("__name__", "ratio"), ("variant", "baseline")]);
    let mut t = T0;
    while t <= T0 + minutes * MINUTE {
        let m = (t - T0) as f64 / MINUTE as f64;
        let v = if m >= from as f64 && m < (from + lasting) as f64 {
            high
        } else {
            low
        };
        store.append(&canary, t, v).expect("append");
        store.append(&base, t, baseline).expect("append");
        t += 15_000;
    }
    Source::Local {
        store,
        semantics: Semantics::Prometheus3,
    }
}

fn gates(check: &str) -> Gates {
    let text = format!(
        "[data]\nmin_requests = 0\nrequests = \"vector(0)\"\n[[check]]\nname = \"c\"\n{check}\n"
    );
    Gates::parse(Path::new("test.toml"), &text).expect("gate file")
}

async fn outcome(gates: &Gates, source: &Source, minutes: i64) -> evaluate::CheckResult {
    let span = Span {
        start_ms: T0,
        end_ms: T0 + minutes * MINUTE,
        time_scale: 1.0,
    };
    evaluate::check(
        gates,
        &gates.checks[0],
        &evaluate::Ranges::new(source),
        &span,
        None,
    )
    .await
}

#[tokio::test]
async fn breaker_open_6_percent_for_11_minutes_breaches_a_10_minute_window_and_8_minutes_does_not()
{
    let g = gates("action = \"rollback\"\nquery = \"ratio\"\ncompare = \"above\"\nthreshold = 0.05\nfor = \"10m\"\nstep = \"30s\"");
    let long = outcome(&g, &store(30, 5, 11, 0.0, 0.06, 0.0), 30).await;
    assert_eq!(long.outcome, Outcome::Breach, "{}", long.decision);
    let (from, to) = long.breaches[0];
    assert_eq!(
        ((from - T0) / 1000, (to - T0) / 1000),
        (300, 930),
        "{:?}",
        long.breaches
    );
    let short = outcome(&g, &store(30, 5, 8, 0.0, 0.06, 0.0), 30).await;
    assert_eq!(short.outcome, Outcome::Pass, "{}", short.decision);
    assert!(short.breaches.is_empty());
}

#[tokio::test]
async fn a_ratio_against_a_zero_baseline_needs_the_floor() {
    let g = gates("action = \"rollback\"\nquery = \"ratio\"\ncompare = \"ratio_above\"\nthreshold = 2\nfloor = 0.01");
    // One error in a few hundred requests against a clean baseline: below the floor, no rollback.
    let quiet = outcome(&g, &store(10, 0, 10, 0.004, 0.004, 0.0), 10).await;
    assert_eq!(quiet.outcome, Outcome::Pass, "{}", quiet.decision);
    // 2.5x a non-zero baseline: rollback.
    let loud = outcome(&g, &store(10, 0, 11, 0.05, 0.05, 0.02), 10).await;
    assert_eq!(loud.outcome, Outcome::Breach, "{}", loud.decision);
}

#[tokio::test]
async fn no_data_and_short_data_are_inconclusive_never_pass() {
    let g =
        gates("action = \"hold\"\nquery = \"missing_metric\"\ncompare = \"above\"\nthreshold = 1");
    let none = outcome(&g, &store(10, 0, 0, 0.0, 0.0, 0.0), 10).await;
    assert_eq!(none.outcome, Outcome::Inconclusive);
    assert!(
        none.decision
            .starts_with("no data for missing_metric{variant=\"canary\"}"),
        "{}",
        none.decision
    );
    let g = gates("action = \"hold\"\nquery = \"ratio\"\ncompare = \"above\"\nthreshold = 1\nmin_duration = \"30m\"");
    let short = outcome(&g, &store(10, 0, 0, 0.0, 0.0, 0.0), 10).await;
    assert_eq!(short.outcome, Outcome::Inconclusive);
    assert!(short.decision.contains("20m more"), "{}", short.decision);
    // NaN (an empty histogram's quantile) is no data, not a value below the threshold.
    let nan = outcome(
        &gates("action = \"hold\"\nquery = \"ratio\"\ncompare = \"above\"\nthreshold = 1"),
        &store(10, 0, 11, f64::NAN, f64::NAN, 0.0),
        10,
    )
    .await;
    assert_eq!(nan.outcome, Outcome::Inconclusive, "{}", nan.decision);
}

/// A short load run of the seed's shape against the embedded system, judged for the canary phase
/// with the plan's windows compressed 1:60.
async fn judged(regression: Option<&str>, with_canary: bool) -> verdict::Verdict {
    let canary_regression = match regression {
        Some(text) => rollgate::assistant::regression::Regression::parse(Path::new("r.toml"), text)
            .expect("regression"),
        None => Default::default(),
    };
    judged_on(
        &StackConfig {
            canary_regression,
            ..StackConfig::default()
        },
        with_canary,
    )
    .await
}

/// The seed's short load scenario at 50 req/s for 20 s against the stack's baseline (and canary).
pub(crate) fn short_load(stack: &Stack, with_canary: bool) -> Scenario {
    Scenario::load(
        Path::new("scenarios/seed-load-short.toml"),
        &Overrides {
            rate: Some(50.0),
            duration: Some(Duration::from_secs(20)),
            target: Some(stack.assistant(Variant::Baseline).url()),
            canary_target: with_canary.then(|| stack.assistant(Variant::Canary).url()),
            ..Overrides::default()
        },
    )
    .expect("scenario")
}

/// [`judged`] on a given stack, with the run's per-request latency (as `rollgate analyze
/// --source run:DIR` does).
async fn judged_on(config: &StackConfig, with_canary: bool) -> verdict::Verdict {
    let stack = Stack::start(config).await.expect("stack");
    let out = tempfile::tempdir().expect("temp dir");
    let scenario = short_load(&stack, with_canary);
    let summary = run::run(
        &scenario,
        &RunOptions {
            out_base: out.path().to_path_buf(),
            ..RunOptions::default()
        },
    )
    .await
    .expect("load run");
    stack.shutdown().await;
    let store = Store::read_run_dir(&summary.dir).expect("scraped metrics");
    let (start_ms, end_ms) = rollgate::load::manifest::schedule_span(&summary.dir).expect("span");
    let source = Source::Local {
        store,
        semantics: Semantics::Prometheus3,
    };
    let gates = Gates::seed().expect("seed gates");
    let span = Span {
        start_ms,
        end_ms,
        time_scale: 1.0 / 60.0,
    };
    let latency = LatencySamples::read(&summary.dir).expect("load histograms");
    assert!(latency.is_some(), "a load run has a manifest");
    verdict::analyze_with(&gates, Phase::Canary, &source, &span, latency.as_ref()).await
}

#[tokio::test]
async fn a_canary_250ms_slower_is_rolled_back_by_the_ttfb_trigger_and_a_healthy_one_is_not() {
    let _turn = GOOSE.lock().await;
    let slow = judged(Some("[brain]\nextra_latency = \"250ms\"\n"), true).await;
    assert_eq!(slow.verdict, Decision::Rollback, "{}", slow.reason);
    assert!(
        slow.decided_by
            .contains(&"p95 TTFB increase > 200ms".to_string()),
        "{:?}",
        slow.decided_by
    );
    assert_eq!(slow.verdict.exit_code(), 4);

    let healthy = judged(None, true).await;
    assert!(
        matches!(healthy.verdict, Decision::Promote | Decision::Hold),
        "{:?}: {}",
        healthy.verdict,
        healthy.reason
    );
    let json = serde_json::to_value(&healthy).expect("json");
    assert_eq!(json["schema"], "rollgate.verdict/v1");
    assert!(
        json["traffic"]["canary"].as_f64().expect("canary requests") > 50.0,
        "{json}"
    );
    for check in json["checks"].as_array().expect("checks") {
        for field in [
            "query",
            "resolved",
            "comparison",
            "threshold",
            "window",
            "step",
            "evaluations",
            "canary_series",
            "outcome",
            "decision",
        ] {
            assert!(!check[field].is_null(), "{field} missing in {check}");
        }
    }
}

#[tokio::test]
async fn no_canary_traffic_holds_and_never_promotes() {
    let _turn = GOOSE.lock().await;
    let v = judged(None, false).await;
    assert_eq!(v.verdict, Decision::Hold, "{}", v.reason);
    assert!(
        v.warnings.iter().any(|w| w.contains("insufficient data")),
        "{:?}",
        v.warnings
    );
}
