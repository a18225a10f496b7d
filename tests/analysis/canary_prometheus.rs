//! The same verdicts from a run directory and from a real Prometheus that scraped the same
//! targets: every canary dataset of `fixtures/canary/` is served as a live target (one per
//! dataset), scraped at once by Debian's `prometheus` and by rollgate's scraper, and judged twice
//! with the seed's gates: from the run directory rollgate's scrapes were saved in, and through
//! Prometheus's HTTP API. Verdicts, deciding checks and every check's outcome must agree, and
//! match what the dataset expects.
//!
//! Determinism: each target serves its dataset's scrapes one at a time with their timestamps
//! (shifted to the last hour, inside the TSDB's appendable window), and moves to the next only
//! after both scrapers fetched the current one. The datasets share one Prometheus; each gets its
//! own `variant` values (`<name>/baseline`, `<name>/canary`) and a gate file whose `[sides]`
//! names them. The server is a 2.x, so rollgate evaluates with `Semantics::Prometheus2`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use rollgate::analysis::evaluate::Span;
use rollgate::analysis::gates::{Gates, Phase, DEFAULT_GATES};
use rollgate::analysis::verdict::{self, Verdict};
use rollgate::prom::api_client::{ApiClient, ApiConfig};
use rollgate::prom::eval::Semantics;
use rollgate::prom::scrape::{now_ms, ScrapeConfig, Scraper};
use rollgate::prom::source::Source;
use rollgate::prom::store::{exposition_series, format_value, Store};
use rollgate::synth::{self, Dataset};

use super::canary::datasets;
use crate::prom::real_prometheus::{serve_app, skipped, start};

/// One dataset as a target: its scrapes, and which scraper has fetched the current one.
struct Served {
    bodies: Vec<String>,
    state: Mutex<(usize, bool, bool)>,
}

async fn serve(
    State(targets): State<Arc<Vec<Served>>>,
    UrlPath(i): UrlPath<usize>,
    headers: HeaderMap,
) -> impl IntoResponse {
    let Some(target) = targets.get(i) else {
        return (StatusCode::NOT_FOUND, String::new());
    };
    let agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut s = target.state.lock().expect("lock");
    let k = s.0;
    if agent.starts_with("Prometheus/") {
        s.1 = true;
    } else if agent.starts_with("rollgate/") {
        s.2 = true;
    }
    if s.1 && s.2 && s.0 + 1 < target.bodies.len() {
        *s = (s.0 + 1, false, false);
    }
    (StatusCode::OK, target.bodies[k].clone())
}

/// The dataset's scrapes as exposition bodies, its `variant` values prefixed with its name and
/// its timestamps moved by `shift_ms`.
fn bodies(dataset: &Dataset, shift_ms: i64) -> Vec<String> {
    let store = synth::simulate(dataset).expect("simulate");
    let interval = dataset.scrape_interval.as_millis() as i64;
    let scrapes = (dataset.duration.as_millis() as i64 / interval) as usize + 1;
    let mut out = vec![String::new(); scrapes];
    for series in store.series_sorted(None) {
        let side = series.labels().get("variant").to_string();
        let labels = series
            .labels()
            .with("variant", &format!("{}/{side}", dataset.name));
        let name = exposition_series(&labels);
        for (t, v) in series.samples() {
            let k = ((t - dataset.start_ms) / interval) as usize;
            out[k].push_str(&format!("{name} {} {}\n", format_value(v), t + shift_ms));
        }
    }
    out
}

/// The seed's gates with the dataset's own side names.
fn gates(dataset: &Dataset) -> Gates {
    let sides = "[sides]\nlabel = \"variant\"\nbaseline = \"baseline\"\ncanary = \"canary\"\n";
    assert!(DEFAULT_GATES.contains(sides), "the seed's [sides] moved");
    let own = format!(
        "[sides]\nlabel = \"variant\"\nbaseline = \"{0}/baseline\"\ncanary = \"{0}/canary\"\n",
        dataset.name
    );
    Gates::parse(
        std::path::Path::new("rollgate.toml"),
        &DEFAULT_GATES.replace(sides, &own),
    )
    .expect("gates")
}

/// What must agree between the two verdicts.
fn shape(v: &Verdict) -> String {
    let outcomes: Vec<String> = v
        .checks
        .iter()
        .map(|c| format!("{}={:?}", c.name, c.outcome))
        .collect();
    format!(
        "{} by {:?}; {}",
        v.verdict.as_str(),
        v.decided_by,
        outcomes.join(", ")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_and_a_run_directory_give_the_same_verdicts() {
    if skipped("a_real_prometheus_and_a_run_directory_give_the_same_verdicts") {
        return;
    }
    let datasets = datasets();
    // The newest sample lands two minutes ago, on the datasets' :07/:37 phase.
    let longest = datasets.iter().map(|d| d.duration).max().expect("datasets");
    let first = datasets[0].start_ms;
    let aligned = (now_ms() - longest.as_millis() as i64 - 120_000) / 30_000 * 30_000;
    let t0 = aligned + first % 30_000;
    let served: Vec<Served> = {
        let _turn = super::GOOSE.lock().await; // simulating is CPU-heavy: not beside a load run
        datasets
            .iter()
            .map(|d| Served {
                bodies: bodies(d, t0 - d.start_ms),
                state: Mutex::new((0, false, false)),
            })
            .collect()
    };
    let targets = Arc::new(served);
    let addr = serve_app(
        axum::Router::new()
            .route("/d/{i}", get(serve))
            .with_state(targets.clone()),
    )
    .await;

    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = String::from(
        "global:\n  scrape_interval: 250ms\n  scrape_timeout: 200ms\nscrape_configs:\n",
    );
    for i in 0..datasets.len() {
        config.push_str(&format!(
            "  - job_name: d{i}\n    metrics_path: /d/{i}\n    static_configs:\n      - targets: ['{addr}']\n"
        ));
    }
    let (_server, base) = start(dir.path(), &config);

    let urls: Vec<String> = (0..datasets.len())
        .map(|i| format!("http://{addr}/d/{i}"))
        .collect();
    let mut scraper = Scraper::new(
        ScrapeConfig::new(&urls, "canary-datasets", Duration::from_millis(250), None)
            .expect("config"),
    )
    .expect("scraper");
    let done = || {
        targets
            .iter()
            .all(|t| t.state.lock().expect("lock").0 + 1 == t.bodies.len())
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    while !done() {
        scraper.scrape_round().await;
        assert!(
            Instant::now() < deadline,
            "the targets did not reach their last scrape in 300 s: is Prometheus scraping {addr}?\n{}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    scraper.scrape_round().await;

    // rollgate's side: the scrapes saved as a run directory and read back.
    let run = tempfile::tempdir().expect("run dir");
    scraper
        .into_store()
        .write_run_dir(run.path())
        .expect("save");
    let ours = Source::Local {
        store: Store::read_run_dir(run.path()).expect("read back"),
        semantics: Semantics::Prometheus2,
    };
    let theirs = Source::Remote(ApiClient::new(ApiConfig::new(&base)).expect("api client"));

    // Prometheus may still be appending the last scrapes: wait until it has the newest sample.
    let newest = "max(timestamp(assistant_requests_total))";
    let last = t0 + longest.as_millis() as i64;
    let wait = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = match theirs.instant(newest, now_ms()).await.map(|r| r.value) {
            Ok(rollgate::prom::eval::Value::Vector(v)) => v.first().map(|s| s.value),
            _ => None,
        };
        if seen.is_some_and(|s| (s * 1000.0) as i64 >= last) || Instant::now() > wait {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let mut failures = Vec::new();
    for dataset in &datasets {
        let gates = gates(dataset);
        let span = Span {
            start_ms: t0,
            end_ms: t0 + dataset.duration.as_millis() as i64,
            time_scale: 1.0,
        };
        let from_run = verdict::analyze(&gates, Phase::Canary, &ours, &span).await;
        let from_prometheus = verdict::analyze(&gates, Phase::Canary, &theirs, &span).await;
        eprintln!(
            "{:<28} run directory {:<9} prometheus {:<9}",
            dataset.name,
            from_run.verdict.as_str(),
            from_prometheus.verdict.as_str()
        );
        if shape(&from_run) != shape(&from_prometheus) {
            failures.push(format!(
                "{}: run directory says\n  {}\nprometheus says\n  {}",
                dataset.name,
                shape(&from_run),
                shape(&from_prometheus)
            ));
        }
        if let Some(why) = synth::mismatch(dataset, &from_prometheus) {
            failures.push(format!("{} (from prometheus): {why}", dataset.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
