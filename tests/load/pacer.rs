//! Open-model pacing: exact mix, achieved rate, and corrected latency through a stall.

use std::sync::Arc;
use std::time::Duration;

use rollgate::fake_zep::journal::Query;
use rollgate::fake_zep::{Config, FakeZep, Program, DEFAULT_API_KEY};
use rollgate::load::mix::Mix;
use rollgate::load::pacer::{self, Pacing, Plan, Request};
use rollgate::load::schedule::Schedule;
use rollgate::load::split::{Split, Variant};

use super::GOOSE;

const THREADS: u64 = 50;

/// Writes and context reads straight against the fake Zep's v3 API, on 50 threads.
struct ZepPlan {
    base: String,
    split: Split,
}

impl Plan for ZepPlan {
    fn kind_name(&self, kind: usize) -> &str {
        [
            "POST /api/v2/threads/{id}/messages",
            "GET /api/v2/threads/{id}/context",
        ][kind]
    }

    fn request(&self, slot: u64, kind: usize) -> Result<(Variant, Request), String> {
        let thread = format!("t{}", slot % THREADS);
        let variant = self.split.variant(&thread);
        let request = if kind == 0 {
            let body = serde_json::json!({ "messages": [{ "role": "user", "content": format!("slot {slot}") }] });
            http::Request::post(format!("{}/api/v2/threads/{thread}/messages", self.base))
                .header("content-type", "application/json")
                .body(body.to_string().into())
        } else {
            http::Request::get(format!("{}/api/v2/threads/{thread}/context", self.base))
                .body(Default::default())
        };
        let mut request = request.map_err(|e| e.to_string())?;
        request.headers_mut().insert(
            "authorization",
            format!("Api-Key {DEFAULT_API_KEY}")
                .parse()
                .map_err(|e| format!("{e}"))?,
        );
        Ok((variant, Request::Http(request)))
    }
}

async fn fake_zep(program: &str) -> FakeZep {
    let zep = FakeZep::start(Config {
        program: Program::parse(program, "test").unwrap(),
        ..Config::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let auth = format!("Api-Key {DEFAULT_API_KEY}");
    let user = serde_json::json!({ "user_id": "u" });
    http.post(format!("{}/api/v2/users", zep.url()))
        .header("authorization", &auth)
        .json(&user)
        .send()
        .await
        .unwrap();
    for t in 0..THREADS {
        let body = serde_json::json!({ "thread_id": format!("t{t}"), "user_id": "u" });
        http.post(format!("{}/api/v2/threads", zep.url()))
            .header("authorization", &auth)
            .json(&body)
            .send()
            .await
            .unwrap();
    }
    zep
}

fn pacing(rate: f64, seconds: u64, users: usize) -> Pacing {
    Pacing {
        schedule: Schedule::constant(rate, Duration::from_secs(seconds)).unwrap(),
        mix: Mix::new(&[9, 1], 7).unwrap(),
        users,
        timeout: Duration::from_secs(10),
        shard: (0, 1),
        start_delay: Duration::from_millis(200),
        error_guard: None,
        max_slots: None,
    }
}

/// Journal entries of the paced run (those after the setup requests).
async fn paced_entries(zep: &FakeZep) -> Vec<rollgate::fake_zep::journal::Entry> {
    let snapshot = zep.admin().journal(&Query::default()).await.unwrap();
    snapshot
        .entries
        .into_iter()
        .filter(|e| e.route != "POST /api/v2/users" && e.route != "POST /api/v2/threads")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_percent_reads_over_1000_requests_is_exactly_100() {
    let _turn = GOOSE.lock().await;
    let zep = fake_zep("").await;
    let plan = Arc::new(ZepPlan {
        base: zep.url(),
        split: Split::new(10.0),
    });
    let outcome = pacer::run(&zep.url(), plan, pacing(250.0, 4, 32))
        .await
        .unwrap();
    assert_eq!(outcome.sent, 1000);
    let entries = paced_entries(&zep).await;
    assert_eq!(entries.len(), 1000, "server-counted");
    let reads = entries.iter().filter(|e| e.method == "GET").count();
    assert_eq!(reads, 100);
    let recorded: u64 = outcome
        .recorder
        .keys()
        .map(|(k, v)| outcome.recorder.series(k, v).unwrap().count)
        .sum();
    assert_eq!(recorded, 1000);
    let canary_reads = outcome
        .recorder
        .series(1, Variant::Canary)
        .map_or(0, |s| s.count);
    let baseline_reads = outcome
        .recorder
        .series(1, Variant::Baseline)
        .map_or(0, |s| s.count);
    assert_eq!(canary_reads + baseline_reads, 100);
    zep.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn achieved_rate_over_20_s_at_200_per_second_is_within_one_percent() {
    let _turn = GOOSE.lock().await;
    let zep = fake_zep("").await;
    let plan = Arc::new(ZepPlan {
        base: zep.url(),
        split: Split::new(10.0),
    });
    let outcome = pacer::run(&zep.url(), plan, pacing(200.0, 20, 64))
        .await
        .unwrap();
    assert_eq!(outcome.sent, 4000);
    let entries = paced_entries(&zep).await;
    assert_eq!(entries.len(), 4000);
    let first = entries.first().unwrap().at_ms;
    let last = entries.last().unwrap().at_ms;
    // 4,000 arrivals span 3,999 intervals of 5 ms.
    let achieved = 3999.0 / ((last - first) / 1e3);
    assert!(
        (achieved / 200.0 - 1.0).abs() <= 0.01,
        "server-counted rate {achieved:.2} req/s"
    );
    zep.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_second_stall_shows_in_corrected_latency_not_in_raw() {
    let _turn = GOOSE.lock().await;
    // From 2 s to 4 s after loading, every request is held for 2 s before it is answered.
    let program = "[[rule]]\nwindow = { from = \"2s\", until = \"4s\" }\n\
                   fault = { kind = \"latency\", distribution = \"fixed\", delay = \"2s\" }\n";
    let zep = fake_zep("").await;
    let plan = Arc::new(ZepPlan {
        base: zep.url(),
        split: Split::new(0.0),
    });
    // Four users at 100 req/s: a closed-model pool that the stall exhausts.
    zep.admin().set_faults(program).await.unwrap();
    let outcome = pacer::run(&zep.url(), plan, pacing(100.0, 8, 4))
        .await
        .unwrap();
    assert_eq!(outcome.sent, 800);
    let writes = outcome.recorder.series(0, Variant::Baseline).unwrap();
    let corrected_p99 = writes.total_corrected.value_at_quantile(0.99) as f64 / 1e6;
    let raw_p99 = writes.total_raw.value_at_quantile(0.99) as f64 / 1e6;
    assert!(
        corrected_p99 >= 1.0,
        "corrected p99 {corrected_p99:.3}s shows the stall"
    );
    assert!(raw_p99 < 1.0, "raw p99 {raw_p99:.3}s hides it");
    let lag_p99 = outcome.recorder.send_lag().value_at_quantile(0.99) as f64 / 1e6;
    assert!(
        lag_p99 >= 0.5,
        "send lag p99 {lag_p99:.3}s shows the exhausted pool"
    );
    // The arrival rate over the whole run stays at target: all 800 went out.
    let entries = paced_entries(&zep).await;
    assert_eq!(entries.len(), 800);
    zep.shutdown().await;
}
