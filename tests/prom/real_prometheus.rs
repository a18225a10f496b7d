//! The comparison with a real Prometheus: Debian's `prometheus` (2.42 on Debian 12) and rollgate's
//! scraper both scrape the same loopback target, then every query of the seed's PromQL section,
//! the gate expressions and more run through rollgate's evaluator and through the HTTP API
//! source at the same timestamps; results must agree (same series, values equal to 1e-9
//! relative, NaN where Prometheus has NaN).
//!
//! Determinism on a loaded machine: the target exposes samples with explicit timestamps on a
//! virtual clock (one state = 15 virtual seconds) and moves to its next state only after *both*
//! scrapers fetched the current one, so neither can miss a sample. The target goes down (503)
//! for four states and a counter resets. Because the server is a 2.x, rollgate evaluates with
//! `Semantics::Prometheus2`; Prometheus 3 arithmetic is checked by the golden tests.
//!
//! Run alone: `cargo test --test tests real_prometheus -- --nocapture`. Needs `prometheus` on
//! PATH (`apt-get install prometheus`; ci/test.sh installs it). Set
//! `ROLLGATE_SKIP_REAL_PROMETHEUS=1` to skip it explicitly where it cannot be installed.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use rollgate::prom::api_client::{ApiClient, ApiConfig};
use rollgate::prom::eval::{RangeSeries, Semantics, Value};
use rollgate::prom::scrape::{ScrapeConfig, Scraper};
use rollgate::prom::source::Source;
use rollgate::prom::store::Store;

const STATES: i64 = 48;
const STEP_MS: i64 = 15_000;
const DOWN: std::ops::RangeInclusive<i64> = 18..=21;
const RESET_AT: i64 = 30;
const JOB: &str = "rollgate-compare";

/// The queries compared: the seed's four (with and without their thresholds) and gate shapes.
const QUERIES: &[&str] = &[
    "rate(memory_zep_write_failures_total[5m]) / rate(memory_zep_write_requests_total[5m])",
    "rate(memory_zep_write_failures_total[5m]) / rate(memory_zep_write_requests_total[5m]) < 0.01",
    "histogram_quantile(0.95, rate(memory_zep_read_latency_seconds_bucket[5m]))",
    "histogram_quantile(0.95, rate(memory_zep_read_latency_seconds_bucket[5m])) < 0.250",
    "rate(memory_zep_write_skipped_total{reason=\"circuit_open\"}[5m]) / rate(memory_zep_write_requests_total[5m])",
    "rate(memory_zep_write_skipped_total{reason=\"circuit_open\"}[5m]) / rate(memory_zep_write_requests_total[5m]) < 0.001",
    "rate(memory_zep_context_failures_total[5m])",
    "rate(memory_zep_context_failures_total[5m]) < 5",
    "histogram_quantile(0.95, sum by (le) (rate(memory_zep_read_latency_seconds_bucket[5m])))",
    "histogram_quantile(0.5, sum by (le, route) (rate(memory_zep_read_latency_seconds_bucket[2m])))",
    "histogram_quantile(0.99, sum without (route) (rate(memory_zep_read_latency_seconds_bucket[1m])))",
    "increase(memory_zep_write_requests_total[3m])",
    "irate(memory_zep_context_failures_total[1m])",
    "sum(rate(memory_zep_write_skipped_total[5m]))",
    "sum without (reason) (increase(memory_zep_write_skipped_total[2m]))",
    "avg by (route) (memory_zep_inflight)",
    "max(memory_zep_inflight) - min(memory_zep_inflight)",
    "count(memory_zep_inflight)",
    "clamp_min(memory_zep_inflight - 2, 0)",
    "abs(memory_zep_inflight - 2.5)",
    "rate(memory_zep_context_failures_total[5m] offset 1m)",
    "memory_zep_inflight > bool 2",
    "memory_zep_inflight >= 2",
    "memory_zep_inflight * on (route) group_left sum by (route) (rate(memory_zep_read_latency_seconds_count[5m]))",
    "rate(memory_zep_read_latency_seconds_sum[5m]) / rate(memory_zep_read_latency_seconds_count[5m])",
    "-memory_zep_inflight + time() / 1e9",
];

const BOUNDS: [&str; 7] = ["0.05", "0.1", "0.2", "0.3", "0.5", "1", "+Inf"];
const SHARES: [f64; 7] = [0.3, 0.55, 0.8, 0.9, 0.96, 0.99, 1.0];

/// The exposition of state `k` at virtual time `t0 + k * 15 s`.
fn body(k: i64, t0: i64) -> String {
    let t = t0 + k * STEP_MS;
    let mut out = String::new();
    let requests = if k < RESET_AT {
        12 * k + 5
    } else {
        12 * (k - RESET_AT) + 2
    };
    out.push_str(&format!("memory_zep_write_requests_total {requests} {t}\n"));
    out.push_str(&format!("memory_zep_write_failures_total {} {t}\n", k / 4));
    out.push_str(&format!(
        "memory_zep_write_skipped_total{{reason=\"circuit_open\"}} {} {t}\n",
        (k / 10) * 2
    ));
    out.push_str(&format!(
        "memory_zep_write_skipped_total{{reason=\"disabled\"}} {k} {t}\n"
    ));
    out.push_str(&format!(
        "memory_zep_context_failures_total {} {t}\n",
        3 * k + (k * k) % 5
    ));
    for (r, route) in ["a", "b"].iter().enumerate() {
        let reads = (20 + 7 * r as i64) * k + (k % 7);
        let mut counts: Vec<f64> = SHARES.iter().map(|s| (reads as f64 * s).floor()).collect();
        if k % 11 == 5 && r == 0 {
            counts[3] = counts[2] - 1.0; // a non-monotonic scrape: needs the monotonicity fix
        }
        for (le, c) in BOUNDS.iter().zip(&counts) {
            out.push_str(&format!(
                "memory_zep_read_latency_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {c} {t}\n"
            ));
        }
        out.push_str(&format!(
            "memory_zep_read_latency_seconds_count{{route=\"{route}\"}} {reads} {t}\n"
        ));
        out.push_str(&format!(
            "memory_zep_read_latency_seconds_sum{{route=\"{route}\"}} {} {t}\n",
            reads as f64 * 0.137
        ));
        out.push_str(&format!(
            "memory_zep_inflight{{route=\"{route}\"}} {} {t}\n",
            (k * (7 + r as i64)) % 5
        ));
    }
    out
}

#[derive(Default)]
struct Lockstep {
    k: i64,
    seen_prometheus: bool,
    seen_rollgate: bool,
}

struct Target {
    t0: i64,
    state: Mutex<Lockstep>,
}

async fn serve(State(target): State<Arc<Target>>, headers: HeaderMap) -> impl IntoResponse {
    let agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut s = target.state.lock().expect("lock");
    let k = s.k;
    if agent.starts_with("Prometheus/") {
        s.seen_prometheus = true;
    } else if agent.starts_with("rollgate/") {
        s.seen_rollgate = true;
    }
    if s.seen_prometheus && s.seen_rollgate && s.k < STATES - 1 {
        s.k += 1;
        s.seen_prometheus = false;
        s.seen_rollgate = false;
    }
    drop(s);
    if DOWN.contains(&k) {
        return (StatusCode::SERVICE_UNAVAILABLE, String::new());
    }
    (StatusCode::OK, body(k, target.t0))
}

/// Kills the Prometheus we started when the test ends, however it ends.
pub(crate) struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// True (and says so) when `ROLLGATE_SKIP_REAL_PROMETHEUS` is set: the explicit way to skip the
/// tests that need Debian's `prometheus` where it cannot be installed.
pub(crate) fn skipped(test: &str) -> bool {
    let skip = std::env::var_os("ROLLGATE_SKIP_REAL_PROMETHEUS").is_some();
    if skip {
        eprintln!("{test}: skipped (ROLLGATE_SKIP_REAL_PROMETHEUS is set)");
    }
    skip
}

/// Starts Prometheus (`ROLLGATE_PROMETHEUS` or `prometheus` on PATH) on a free loopback port with
/// `config` as its configuration, its data and log in `dir`, and returns it with its base URL.
/// Panics with what to install when it cannot start.
pub(crate) fn start(dir: &std::path::Path, config: &str) -> (Server, String) {
    let binary = std::env::var("ROLLGATE_PROMETHEUS").unwrap_or_else(|_| "prometheus".to_string());
    let config_path = dir.join("prometheus.yml");
    std::fs::write(&config_path, config).expect("config");
    let port = free_port();
    let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
    let child = Command::new(&binary)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {binary:?}: {e}. Install it (apt-get install prometheus; ci/test.sh does) or set ROLLGATE_SKIP_REAL_PROMETHEUS=1")
        });
    (Server(child), format!("http://127.0.0.1:{port}"))
}

/// Serves `app` on a free loopback port until the test ends; returns the address.
pub(crate) async fn serve_app(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

pub(crate) fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn compare_series(what: &str, ours: &[RangeSeries], theirs: &[RangeSeries]) -> Result<(), String> {
    let labels = |v: &[RangeSeries]| v.iter().map(|s| s.labels.to_string()).collect::<Vec<_>>();
    if labels(ours) != labels(theirs) {
        return Err(format!(
            "{what}: series differ\n  rollgate:   {:?}\n  prometheus: {:?}",
            labels(ours),
            labels(theirs)
        ));
    }
    for (a, b) in ours.iter().zip(theirs) {
        let same = a.points.len() == b.points.len()
            && a.points
                .iter()
                .zip(&b.points)
                .all(|(x, y)| x.0 == y.0 && close(x.1, y.1));
        if !same {
            return Err(format!(
                "{what}: {} differs\n  rollgate:   {:?}\n  prometheus: {:?}",
                a.labels, a.points, b.points
            ));
        }
    }
    Ok(())
}

fn as_series(v: Value, t: i64) -> Vec<RangeSeries> {
    match v {
        Value::Scalar(x) => vec![RangeSeries {
            labels: Default::default(),
            points: vec![(t, x)],
        }],
        Value::Vector(v) => v
            .into_iter()
            .map(|s| RangeSeries {
                labels: s.labels,
                points: vec![(t, s.value)],
            })
            .collect(),
        Value::Matrix(m) => m,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_agrees_with_rollgate() {
    if skipped("real_prometheus_agrees_with_rollgate") {
        return;
    }
    // Virtual time: half an hour ago, on a 15 s boundary, so every sample is in the past but
    // inside the TSDB head's appendable window (Prometheus refuses samples older than its newest
    // sample minus one hour as "out of bounds").
    let now = rollgate::prom::scrape::now_ms();
    let t0 = (now - 1_800_000) / STEP_MS * STEP_MS;
    let target = Arc::new(Target {
        t0,
        state: Mutex::new(Lockstep::default()),
    });
    let target_addr = serve_app(
        axum::Router::new()
            .route("/metrics", get(serve))
            .with_state(target.clone()),
    )
    .await;

    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, base) = start(
        dir.path(),
        &format!(
            "global:\n  scrape_interval: 250ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: ['{target_addr}']\n"
        ),
    );

    // rollgate scrapes the same target until the target has served its last state to both.
    let urls = vec![format!("http://{target_addr}/metrics")];
    let scrape_config =
        ScrapeConfig::new(&urls, JOB, Duration::from_millis(250), None).expect("scrape config");
    let mut scraper = Scraper::new(scrape_config).expect("scraper");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        scraper.scrape_round().await;
        let k = target.state.lock().expect("lock").k;
        if k == STATES - 1 {
            scraper.scrape_round().await;
            break;
        }
        if Instant::now() > deadline {
            let log =
                std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
            panic!("the target reached state {k} of {STATES} in 120 s: is Prometheus scraping {target_addr}?\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let store: Store = scraper.into_store();
    // Both sides go through the one interface the analysis uses.
    let ours_source = Source::Local {
        store,
        semantics: Semantics::Prometheus2,
    };
    let theirs_source = Source::Remote(ApiClient::new(ApiConfig::new(&base)).expect("api client"));
    let end = t0 + (STATES - 1) * STEP_MS;

    // First the raw samples must be the same, or nothing after this means anything. Prometheus
    // may still be appending its last scrape: retry for a while.
    let raw = "{__name__=~\"memory_zep_.*\"}[15m]";
    let ours = as_series(ours_source.instant(raw, end).await.expect("raw").value, end);
    let mut last_err = String::new();
    for _ in 0..40 {
        match theirs_source.instant(raw, end).await {
            Ok(theirs) => match compare_series("raw samples", &ours, &as_series(theirs.value, end))
            {
                Ok(()) => {
                    last_err.clear();
                    break;
                }
                Err(e) => last_err = e,
            },
            Err(e) => last_err = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(last_err.is_empty(), "{last_err}");
    assert_eq!(ours.len(), 25, "series in the comparison");

    // Instant queries every 7.5 s (on sample timestamps and between them), range queries at 15 s
    // and 60 s steps, across the whole run including the outage and the reset.
    let mut failures = Vec::new();
    let mut compared = 0usize;
    for q in QUERIES {
        let mut t = t0;
        while t <= end + 60_000 {
            let ours = ours_source
                .instant(q, t)
                .await
                .map(|r| as_series(r.value, t));
            let theirs = theirs_source
                .instant(q, t)
                .await
                .map(|r| as_series(r.value, t));
            match (ours, theirs) {
                (Ok(a), Ok(b)) => {
                    compared += a.len();
                    if let Err(e) = compare_series(&format!("{q} at {t}"), &a, &b) {
                        failures.push(e);
                    }
                }
                (a, b) => failures.push(format!("{q} at {t}: rollgate {a:?}, prometheus {b:?}")),
            }
            t += 7_500;
        }
        for step in [STEP_MS, 60_000] {
            let ours = ours_source.range(q, t0, end, step).await.map(|r| r.value);
            let theirs = theirs_source.range(q, t0, end, step).await.map(|r| r.value);
            match (ours, theirs) {
                (Ok(a), Ok(b)) => {
                    compared += a.iter().map(|s| s.points.len()).sum::<usize>();
                    if let Err(e) = compare_series(&format!("{q} range step {step}"), &a, &b) {
                        failures.push(e);
                    }
                }
                (a, b) => failures.push(format!("{q} range: rollgate {a:?}, prometheus {b:?}")),
            }
        }
    }
    eprintln!(
        "real_prometheus_agrees_with_rollgate: {} queries, {compared} values compared",
        QUERIES.len()
    );
    assert!(compared > 3_000, "too little compared: {compared}");
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
