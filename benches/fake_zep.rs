//! Fake Zep throughput and added latency over loopback. Prints figures; asserts nothing.
//!
//! `cargo bench --bench fake_zep` (release build). Workload: 90% message writes, 10% context reads
//! on 200 threads, from concurrent keep-alive clients in the same process. Three runs per setting;
//! the median is printed with the spread.
//!
//! - throughput: 64 concurrent clients, 20,000 requests, no faults vs `canary-storm`;
//! - added latency: one client at a time (no queueing), the fake vs a bare axum server answering a
//!   fixed JSON body on loopback; the difference of the p50s and p99s is what the fake adds.

use std::time::{Duration, Instant};

use futures::StreamExt;
use rollgate::fake_zep::{Config, FakeZep, Program, DEFAULT_API_KEY};

const THREADS: usize = 200;
const RUNS: usize = 3;

struct Run {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    statuses: std::collections::BTreeMap<u16, usize>,
    failed: usize,
}

async fn prepare(base: &str, http: &reqwest::Client) {
    let auth = format!("Api-Key {DEFAULT_API_KEY}");
    let user = serde_json::json!({ "user_id": "bench" });
    let _ = http
        .post(format!("{base}/api/v2/users"))
        .header("authorization", &auth)
        .json(&user)
        .send()
        .await;
    for t in 0..THREADS {
        let body = serde_json::json!({ "thread_id": format!("t{t}"), "user_id": "bench" });
        let _ = http
            .post(format!("{base}/api/v2/threads"))
            .header("authorization", &auth)
            .json(&body)
            .send()
            .await;
    }
}

async fn drive(base: &str, http: &reqwest::Client, requests: usize, concurrency: usize) -> Run {
    let auth = format!("Api-Key {DEFAULT_API_KEY}");
    let started = Instant::now();
    let calls = (0..requests).map(|i| {
        let thread = format!("t{}", i % THREADS);
        let request = if i % 10 == 9 {
            http.get(format!("{base}/api/v2/threads/{thread}/context"))
        } else {
            let body = serde_json::json!({ "messages": [{ "role": "user", "content": format!("message {i}: 2BR in Girne") }] });
            http.post(format!("{base}/api/v2/threads/{thread}/messages")).json(&body)
        }
        .header("authorization", auth.clone());
        async move {
            let sent = Instant::now();
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    response.bytes().await.ok().map(|_| status)
                }
                Err(_) => None,
            };
            (outcome, sent.elapsed())
        }
    });
    let results: Vec<(Option<u16>, Duration)> = futures::stream::iter(calls)
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut latencies: Vec<f64> = results.iter().map(|(_, d)| d.as_secs_f64() * 1e3).collect();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let mut statuses = std::collections::BTreeMap::new();
    let mut failed = 0;
    for (status, _) in &results {
        match status {
            Some(s) => *statuses.entry(*s).or_insert(0) += 1,
            None => failed += 1,
        }
    }
    Run {
        per_second: requests as f64 / elapsed.as_secs_f64(),
        p50_ms: latencies[latencies.len() / 2],
        p99_ms: latencies[latencies.len() * 99 / 100],
        statuses,
        failed,
    }
}

fn median(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(|a, b| a.total_cmp(b));
    (
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    )
}

async fn fake(program: &str) -> FakeZep {
    let program = Program::load(std::path::Path::new(program)).expect("shipped program");
    FakeZep::start(Config {
        program,
        journal_size: 10_000,
        ..Config::default()
    })
    .await
    .expect("fake zep starts")
}

async fn bare_wiremock() -> wiremock::MockServer {
    let server = wiremock::MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({ "message_uuids": [], "context": null })),
        )
        .mount(&server)
        .await;
    server
}

async fn bare_server() -> String {
    let app = axum::Router::new().fallback(|| async {
        axum::Json(serde_json::json!({ "message_uuids": ["00000000-0000-4000-8000-000000000000"], "context": null }))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::main]
async fn main() {
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    println!("fake zep benchmark: {RUNS} runs each, median [min..max]");
    for (label, program) in [
        ("no faults", "fixtures/faults/none.toml"),
        ("canary-storm", "fixtures/faults/canary-storm.toml"),
    ] {
        let zep = fake(program).await;
        let base = zep.url();
        prepare(&base, &http).await;
        let runs: Vec<Run> = {
            let mut runs = Vec::new();
            for _ in 0..RUNS {
                runs.push(drive(&base, &http, 20_000, 64).await);
            }
            runs
        };
        let (rate, lo, hi) = median(runs.iter().map(|r| r.per_second).collect());
        let (p99, _, _) = median(runs.iter().map(|r| r.p99_ms).collect());
        println!(
            "throughput, {label:<12}: {rate:>8.0} req/s [{lo:.0}..{hi:.0}], p99 {p99:.2} ms at 64 in flight; statuses {:?}, transport errors {}",
            runs[0].statuses, runs[0].failed
        );
        zep.shutdown().await;
    }

    let zep = fake("fixtures/faults/none.toml").await;
    let base = zep.url();
    prepare(&base, &http).await;
    let bare = bare_server().await;
    let wiremock = bare_wiremock().await;
    let mut fake_runs = Vec::new();
    let mut bare_runs = Vec::new();
    let mut wiremock_runs = Vec::new();
    for _ in 0..RUNS {
        fake_runs.push(drive(&base, &http, 5_000, 1).await);
        bare_runs.push(drive(&bare, &http, 5_000, 1).await);
        wiremock_runs.push(drive(&wiremock.uri(), &http, 5_000, 1).await);
    }
    let (w50, _, _) = median(wiremock_runs.iter().map(|r| r.p50_ms).collect());
    let (w99, _, _) = median(wiremock_runs.iter().map(|r| r.p99_ms).collect());
    let wiremock_rate = drive(&wiremock.uri(), &http, 20_000, 64).await.per_second;
    println!("bare wiremock (one static mock): p50 {w50:.3} ms p99 {w99:.3} ms one at a time; {wiremock_rate:.0} req/s at 64 in flight");
    let (f50, _, _) = median(fake_runs.iter().map(|r| r.p50_ms).collect());
    let (f99, _, _) = median(fake_runs.iter().map(|r| r.p99_ms).collect());
    let (b50, _, _) = median(bare_runs.iter().map(|r| r.p50_ms).collect());
    let (b99, _, _) = median(bare_runs.iter().map(|r| r.p99_ms).collect());
    println!("latency, one client at a time: fake p50 {f50:.3} ms p99 {f99:.3} ms; bare axum p50 {b50:.3} ms p99 {b99:.3} ms");
    println!(
        "added by the fake: p50 {:.3} ms, p99 {:.3} ms",
        f50 - b50,
        f99 - b99
    );
    zep.shutdown().await;
}
