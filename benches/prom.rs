//! Benchmarks of the Prometheus toolkit (issue 4, "Speed"): printed figures, no assertions.
//!
//! Run: `cargo bench --bench prom` (release build). It measures
//! 1. parsing a 5,000-series exposition;
//! 2. `histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))` as a range query with a 1 m
//!    step over 24 h of 15 s scrapes of 20 buckets × 10 label sets, in rollgate's evaluator and,
//!    when `prometheus` and `promtool` are on PATH, in a real Prometheus loaded with the same
//!    samples (backfilled with `promtool tsdb create-blocks-from openmetrics`), timed through its
//!    query API; the ratio is printed;
//! 3. memory per stored sample.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rollgate::prom::api_client::{ApiClient, ApiConfig};
use rollgate::prom::eval::{Engine, Semantics};
use rollgate::prom::exposition::{parse, Format};
use rollgate::prom::labels::Labels;
use rollgate::prom::store::Store;

const QUERY: &str = "histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))";
const STEP_MS: i64 = 15_000;
const SCRAPES: i64 = 24 * 3600 * 1000 / STEP_MS; // 5,760
const BOUNDS: [&str; 20] = [
    "0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.15", "0.2", "0.25", "0.3", "0.4", "0.5",
    "0.75", "1", "1.5", "2", "3", "5", "10", "+Inf",
];

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bench_parse() {
    let mut body = String::new();
    for m in 0..500 {
        body.push_str(&format!(
            "# HELP metric_{m}_total Some counter.\n# TYPE metric_{m}_total counter\n"
        ));
        for i in 0..10 {
            body.push_str(&format!(
                "metric_{m}_total{{instance=\"10.0.0.{i}:9100\",job=\"node\",route=\"/api/v{i}\"}} {}\n",
                m * 1000 + i
            ));
        }
    }
    let runs: Vec<Duration> = (0..30)
        .map(|_| {
            let start = Instant::now();
            let parsed = parse(&body, Format::Text);
            assert_eq!(parsed.samples.len(), 5_000);
            start.elapsed()
        })
        .collect();
    let m = median(runs);
    println!(
        "parse 5,000-series exposition ({} KiB): median {:.2} ms ({:.1} MB/s, {:.0} samples/s)",
        body.len() / 1024,
        m.as_secs_f64() * 1e3,
        body.len() as f64 / m.as_secs_f64() / 1e6,
        5_000.0 / m.as_secs_f64()
    );
}

/// Bucket counts: each label set observes 3..12 requests per scrape, spread over the buckets.
fn count(set: usize, bucket: usize, scrape: i64) -> f64 {
    let per_scrape = 3 + (set as i64 % 10);
    let cumulative_share = (bucket as f64 + 1.0) / BOUNDS.len() as f64;
    ((per_scrape * scrape) as f64 * cumulative_share.sqrt()).floor()
}

fn build_store(t0: i64) -> Store {
    let mut store = Store::new();
    let labels: Vec<Vec<Labels>> = (0..10)
        .map(|set| {
            BOUNDS
                .iter()
                .map(|le| {
                    Labels::from_pairs([
                        ("__name__", "x_bucket"),
                        ("instance", &format!("10.0.0.{set}:8080")),
                        ("le", le),
                    ])
                })
                .collect()
        })
        .collect();
    for k in 0..SCRAPES {
        for (set, row) in labels.iter().enumerate() {
            for (b, l) in row.iter().enumerate() {
                // Appends in scrape order, like the scraper does.
                let _ = store.append(l, t0 + k * STEP_MS, count(set, b, k));
            }
        }
    }
    store
}

fn write_openmetrics(path: &std::path::Path, t0: i64) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "# TYPE x histogram")?;
    for set in 0..10 {
        for (b, le) in BOUNDS.iter().enumerate() {
            for k in 0..SCRAPES {
                let t = t0 + k * STEP_MS;
                writeln!(
                    out,
                    "x_bucket{{instance=\"10.0.0.{set}:8080\",le=\"{le}\"}} {} {}.{:03}",
                    count(set, b, k),
                    t / 1000,
                    t % 1000
                )?;
            }
        }
    }
    writeln!(out, "# EOF")?;
    out.flush()
}

fn main() {
    bench_parse();

    let now = rollgate::prom::scrape::now_ms();
    let t0 = (now - 25 * 3_600_000) / 60_000 * 60_000;
    let start = Instant::now();
    let mut store = build_store(t0);
    let build = start.elapsed();
    let end = t0 + (SCRAPES - 1) * STEP_MS;
    let range_start = t0 + 300_000;
    let mut stats = store.stats();
    println!(
        "store: {} series, {} samples, built in {:.0} ms; before shrink {:.2} B/sample",
        stats.series,
        stats.samples,
        build.as_secs_f64() * 1e3,
        (stats.sample_bytes + stats.label_bytes) as f64 / stats.samples as f64
    );
    store.shrink_to_fit();
    stats = store.stats();
    println!(
        "memory per stored sample: {:.2} bytes ({} B samples + {} B labels over {} samples)",
        (stats.sample_bytes + stats.label_bytes) as f64 / stats.samples as f64,
        stats.sample_bytes,
        stats.label_bytes,
        stats.samples
    );

    for semantics in [Semantics::Prometheus3, Semantics::Prometheus2] {
        let engine = Engine::new(&store).with_semantics(semantics);
        let runs: Vec<Duration> = (0..5)
            .map(|_| {
                let s = Instant::now();
                let r = engine
                    .range(QUERY, range_start, end, 60_000)
                    .expect("range query");
                assert_eq!(r.value.len(), 1);
                s.elapsed()
            })
            .collect();
        println!(
            "rollgate {semantics:?}: {QUERY} over 24 h, step 1m ({} steps): median {:.1} ms",
            (end - range_start) / 60_000 + 1,
            median(runs).as_secs_f64() * 1e3
        );
    }
    if let Err(why) = compare_with_prometheus(t0, range_start, end, &store) {
        println!("real Prometheus comparison skipped: {why}");
    }
}

fn compare_with_prometheus(
    t0: i64,
    range_start: i64,
    end: i64,
    store: &Store,
) -> Result<(), String> {
    for tool in ["prometheus", "promtool"] {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("{tool} not runnable ({e}); apt-get install prometheus"))?;
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let om = dir.path().join("data.om");
    write_openmetrics(&om, t0).map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    let s = Instant::now();
    let status = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(&data)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("promtool backfill failed: {status}"));
    }
    println!(
        "promtool backfill of the same samples: {:.1} s",
        s.elapsed().as_secs_f64()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1h\n").map_err(|e| e.to_string())?;
    let mut child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.retention.time=30d")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let result = (|| -> Result<(), String> {
        let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        rt.block_on(async {
            let api = ApiClient::new(ApiConfig::new(&format!("http://127.0.0.1:{port}"))).map_err(|e| e.to_string())?;
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Ok(r) = api.instant("count(x_bucket)", end).await {
                    if !matches!(&r.value, rollgate::prom::eval::Value::Vector(v) if v.is_empty()) {
                        break;
                    }
                }
                if Instant::now() > deadline {
                    return Err("Prometheus did not serve the backfilled data within 60 s".to_string());
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            // Interleaved runs, so load from other processes hits both sides alike.
            let engine = Engine::new(store).with_semantics(Semantics::Prometheus2);
            let (mut ours_runs, mut theirs_runs) = (Vec::new(), Vec::new());
            let mut theirs = None;
            for _ in 0..7 {
                let s = Instant::now();
                let r = api.range(QUERY, range_start, end, 60_000).await.map_err(|e| e.to_string())?;
                theirs_runs.push(s.elapsed());
                theirs = Some(r.value);
                let s = Instant::now();
                engine.range(QUERY, range_start, end, 60_000).map_err(|e| e.to_string())?;
                ours_runs.push(s.elapsed());
            }
            let (ours_t, theirs_t) = (median(ours_runs), median(theirs_runs));
            println!(
                "same query, interleaved x7: rollgate median {:.1} ms, prometheus (query API, HTTP included) median {:.1} ms; ratio prometheus/rollgate = {:.2} (>1 means rollgate is faster)",
                ours_t.as_secs_f64() * 1e3,
                theirs_t.as_secs_f64() * 1e3,
                theirs_t.as_secs_f64() / ours_t.as_secs_f64()
            );
            let ours_v = Engine::new(store)
                .with_semantics(Semantics::Prometheus2)
                .range(QUERY, range_start, end, 60_000)
                .map_err(|e| e.to_string())?
                .value;
            let theirs_v = theirs.unwrap_or_default();
            let agree = ours_v.len() == theirs_v.len()
                && ours_v.iter().zip(&theirs_v).all(|(a, b)| {
                    a.points.len() == b.points.len()
                        && a.points.iter().zip(&b.points).all(|(x, y)| {
                            x.0 == y.0 && (x.1 == y.1 || (x.1 - y.1).abs() <= 1e-9 * x.1.abs() || (x.1.is_nan() && y.1.is_nan()))
                        })
                });
            println!("results agree with Prometheus (1e-9 relative): {agree}");
            Ok(())
        })
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}
