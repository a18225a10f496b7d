//! The live source: rollgate scrapes a running baseline and canary (the embedded reference
//! assistants under load) and judges what it scraped; an unreachable target is an error naming
//! it, with what was scraped still saved.

use std::path::Path;
use std::time::Duration;

use rollgate::analysis::evaluate::Span;
use rollgate::analysis::gates::{Gates, Phase};
use rollgate::analysis::live::{self, LiveError, LiveOptions};
use rollgate::analysis::verdict::{self, Decision};
use rollgate::load::run::{self, RunOptions};
use rollgate::prom::eval::Semantics;
use rollgate::prom::source::{Side, Source};
use rollgate::prom::store::Store;
use rollgate::stack::{Stack, StackConfig};
use rollgate::variant::Variant;

#[tokio::test]
async fn a_live_scrape_of_a_canary_250ms_slower_is_rolled_back_by_the_ttfb_trigger() {
    let _turn = super::GOOSE.lock().await;
    let config = StackConfig {
        canary_regression: rollgate::assistant::regression::Regression::parse(
            Path::new("r.toml"),
            "[brain]\nextra_latency = \"250ms\"\n",
        )
        .expect("regression"),
        ..StackConfig::default()
    };
    let stack = Stack::start(&config).await.expect("stack");
    let metrics = |v: Variant| format!("{}/metrics", stack.assistant(v).url());
    let targets = vec![
        (Side::Baseline, metrics(Variant::Baseline)),
        (Side::Canary, metrics(Variant::Canary)),
    ];
    let out = tempfile::tempdir().expect("temp dir");
    let scenario = super::short_load(&stack, true);
    let gates = Gates::seed().expect("seed gates");
    let live_dir = out.path().join("live");
    let options = LiveOptions {
        duration: Duration::from_secs(21),
        interval: Duration::from_millis(500),
        save_every: Duration::from_secs(5),
    };
    let mut lines = Vec::new();
    let mut progress = |l: String| lines.push(l);
    let run_options = RunOptions {
        out_base: out.path().to_path_buf(),
        ..RunOptions::default()
    };
    let (load, scraped) = tokio::join!(
        run::run(&scenario, &run_options),
        live::scrape(&targets, &gates.sides, &options, &live_dir, &mut progress),
    );
    load.expect("load run");
    stack.shutdown().await;
    let scraped = scraped.expect("live scrape");
    assert!(scraped.rounds >= 30, "{} rounds", scraped.rounds);
    assert!(!lines.is_empty(), "no progress lines");
    // What was judged is on disk, and reads back as a run directory.
    let saved = Store::read_run_dir(&live_dir).expect("saved scrapes");
    assert_eq!(saved.series().len(), scraped.store.series().len());

    let span = Span::of_samples(&scraped.store, Some(scraped.span_ms), 1.0 / 60.0).expect("span");
    let source = Source::Local {
        store: scraped.store,
        semantics: Semantics::Prometheus3,
    };
    let v = verdict::analyze(&gates, Phase::Canary, &source, &span).await;
    assert_eq!(v.verdict, Decision::Rollback, "{}", v.reason);
    assert!(
        v.decided_by
            .contains(&"p95 TTFB increase > 200ms".to_string()),
        "{:?}",
        v.decided_by
    );
    // The side labels came from the live source: the assistant sets `variant` itself, so the
    // target label moved its own value to `exported_variant`, as Prometheus does.
    assert!(
        saved
            .series()
            .iter()
            .any(|s| s.labels().get("exported_variant") == "canary"
                && s.labels().get("variant") == "canary"),
        "no series labelled by the live source"
    );
    let ttfb = v
        .checks
        .iter()
        .find(|c| c.name == "p95 TTFB increase > 200ms")
        .expect("check");
    assert!(!ttfb.canary_series.is_empty() && !ttfb.baseline_series.is_empty());
}

#[tokio::test]
async fn an_unreachable_live_target_is_an_error_naming_it_and_the_scrapes_are_saved() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let fake = rollgate::stack::Stack::start(&StackConfig::default())
        .await
        .expect("stack");
    let alive = format!("{}/metrics", fake.assistant(Variant::Baseline).url());
    let dead_url = format!("http://{dead}/metrics");
    let out = tempfile::tempdir().expect("temp dir");
    let gates = Gates::seed().expect("seed gates");
    let err = live::scrape(
        &[(Side::Baseline, alive), (Side::Canary, dead_url.clone())],
        &gates.sides,
        &LiveOptions {
            duration: Duration::from_secs(2),
            interval: Duration::from_millis(500),
            save_every: Duration::from_secs(60),
        },
        out.path(),
        &mut |_| {},
    )
    .await
    .expect_err("the canary is unreachable");
    fake.shutdown().await;
    assert!(matches!(err, LiveError::Unreachable { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("canary target") && text.contains(&dead_url),
        "{text}"
    );
    let saved = Store::read_run_dir(out.path()).expect("scrapes saved");
    assert!(
        saved
            .series()
            .iter()
            .any(|s| s.labels().get("variant") == "baseline"),
        "the baseline's scrapes are on disk"
    );
}
