//! One test per fault kind, over real HTTP (or a raw socket where HTTP cannot see the fault).

use std::time::{Duration, Instant};

use serde_json::json;

use super::support::{raw_get, start};

const CONTEXT: &str = "/api/v2/threads/t1/context";

#[tokio::test]
async fn status_faults_every_nth_with_zep_body() {
    let zep = start("[[rule]]\nroutes = [\"reads\"]\nwhen = { every = 3 }\nfault = { kind = \"status\", status = 503 }\n").await;
    zep.thread("t1").await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(zep.get(CONTEXT).await);
    }
    let codes: Vec<u16> = statuses.iter().map(|r| r.status).collect();
    assert_eq!(codes, [200, 200, 503, 200, 200, 503]);
    assert_eq!(
        statuses[2].json(),
        json!({ "message": "service unavailable" })
    );
}

#[tokio::test]
async fn status_faults_in_bursts_at_a_rate_and_in_windows() {
    let zep = start(
        "[[rule]]\nwhen = { burst = 2, period = 5 }\nfault = { kind = \"status\", status = 500 }\n",
    )
    .await;
    let mut codes = Vec::new();
    for _ in 0..10 {
        codes.push(zep.get("/api/v2/threads/x/context").await.status);
    }
    assert_eq!(codes, [500, 500, 404, 404, 404, 500, 500, 404, 404, 404]);

    let program =
        "seed = 3\n[[rule]]\nwhen = { rate = 0.5 }\nfault = { kind = \"status\", status = 502 }\n";
    zep.server.admin().set_faults(program).await.unwrap();
    let mut failed = 0;
    for _ in 0..100 {
        if zep.get("/api/v2/threads/x/context").await.status == 502 {
            failed += 1;
        }
    }
    assert!((25..=75).contains(&failed), "{failed} of 100 at rate 0.5");

    // "504 until 1.5 s after loading": the first request is inside, one after 1.6 s is not.
    let window =
        "[[rule]]\nwindow = { until = \"1500ms\" }\nfault = { kind = \"status\", status = 504 }\n";
    zep.server.admin().set_faults(window).await.unwrap();
    assert_eq!(zep.get("/api/v2/threads/x/context").await.status, 504);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(zep.get("/api/v2/threads/x/context").await.status, 404);
}

#[tokio::test]
async fn rate_limit_429_with_retry_after_seconds_and_http_date() {
    let zep =
        start("[[rule]]\nfault = { kind = \"rate_limit\", retry_after = \"2s\", limit = 100 }\n")
            .await;
    let reply = zep.get(CONTEXT).await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.headers["retry-after"], "2");
    assert_eq!(reply.headers["x-ratelimit-limit"], "100");
    assert_eq!(reply.headers["x-ratelimit-remaining"], "0");
    let reset: u64 = reply.headers["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(reset > now, "reset {reset} vs now {now}");
    assert_eq!(reply.json()["message"], "rate limit exceeded");

    zep.server
        .admin()
        .set_faults("[[rule]]\nfault = { kind = \"rate_limit\", retry_after = \"3s\", retry_after_format = \"http_date\" }\n")
        .await
        .unwrap();
    let dated = zep.get(CONTEXT).await;
    assert_eq!(dated.status, 429);
    let when = httpdate::parse_http_date(dated.headers["retry-after"].to_str().unwrap())
        .expect("an HTTP-date");
    assert!(when > std::time::SystemTime::now() + Duration::from_secs(1));
}

#[tokio::test]
async fn token_bucket_produces_real_429s_under_load() {
    // 6 per minute: after the burst of 3, the next token is 10 s away.
    let zep = start("[[rule]]\nroutes = [\"reads\"]\nfault = { kind = \"token_bucket\", per_minute = 6, burst = 3 }\n").await;
    zep.thread("t1").await;
    let mut replies = Vec::new();
    for _ in 0..5 {
        replies.push(zep.get(CONTEXT).await);
    }
    let codes: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(codes, [200, 200, 200, 429, 429]);
    assert_eq!(replies[0].headers["x-ratelimit-limit"], "6");
    assert_eq!(replies[0].headers["x-ratelimit-remaining"], "2");
    let retry: u64 = replies[3].headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((9..=10).contains(&retry), "retry-after {retry}");
    // Routes outside the rule are not limited.
    assert_eq!(
        zep.post("/api/v2/users", json!({ "user_id": "u9" }))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn auth_storms_401_json_401_text_and_403() {
    let zep = start(
        "[[rule]]\nroutes = [\"threads\"]\nfault = { kind = \"auth\", status = 403 }\n\
         [[rule]]\nroutes = [\"reads\"]\nfault = { kind = \"auth\", status = 401, body = \"text\" }\n\
         [[rule]]\nroutes = [\"writes\"]\nfault = { kind = \"auth\", status = 401 }\n",
    )
    .await;
    let forbidden = zep
        .post(
            "/api/v2/threads",
            json!({ "thread_id": "t", "user_id": "u" }),
        )
        .await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(forbidden.json(), json!({ "message": "forbidden" }));
    let text = zep.get(CONTEXT).await;
    assert_eq!((text.status, text.text.as_str()), (401, "unauthorized\n"));
    let json = zep.add_message("t1", "hi").await;
    assert_eq!(json.status, 401);
    assert_eq!(json.json(), json!({ "message": "unauthorized" }));
    let v4 = zep
        .post(
            "/api/v4/threads/00000000-0000-4000-8000-000000000000/messages",
            json!({}),
        )
        .await;
    assert_eq!(v4.json()["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn fixed_latency_before_headers_and_before_body() {
    let zep = start(
        "[[rule]]\nfault = { kind = \"latency\", distribution = \"fixed\", delay = \"250ms\" }\n",
    )
    .await;
    zep.thread("t1").await;
    let raw = raw_get(&zep, CONTEXT, Duration::from_secs(5)).await;
    assert!(raw.text().starts_with("HTTP/1.1 200 OK"), "{}", raw.text());
    assert!(
        raw.first_byte.unwrap() >= Duration::from_millis(250),
        "TTFB {:?}",
        raw.first_byte
    );

    let body_phase = "[[rule]]\nfault = { kind = \"latency\", distribution = \"fixed\", delay = \"300ms\", phase = \"body\" }\n";
    zep.server.admin().set_faults(body_phase).await.unwrap();
    let raw = raw_get(&zep, CONTEXT, Duration::from_secs(5)).await;
    let body_gap = raw.total - raw.first_byte.unwrap();
    assert!(
        body_gap >= Duration::from_millis(250),
        "headers then body {body_gap:?} later"
    );
    assert!(
        raw.text().contains("FACTS and ENTITIES"),
        "the body still arrives"
    );
}

#[tokio::test]
async fn uniform_latency_stays_within_bounds() {
    let zep = start(
        "[[rule]]\nfault = { kind = \"latency\", distribution = \"uniform\", min = \"30ms\", max = \"60ms\" }\n",
    )
    .await;
    for _ in 0..10 {
        let started = Instant::now();
        assert_eq!(zep.get("/api/v2/threads/x/context").await.status, 404);
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
    let journal = zep
        .server
        .admin()
        .journal(&Default::default())
        .await
        .unwrap();
    assert!(journal
        .entries
        .iter()
        .all(|e| e.faults == ["latency"] && e.duration_ms >= 30.0));
}

/// The issue's acceptance test: a seeded lognormal program's p95, measured by the client over 2,000
/// requests, is within 10% of the programmed p95. Latencies are large (median 1 s) so that the fake's
/// own overhead and late timer wake-ups on a busy 2-core machine stay small next to the 10% margin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lognormal_latency_p95_within_ten_percent_over_2000_requests() {
    use futures::StreamExt;
    let zep = start(
        "seed = 17\n[[rule]]\nfault = { kind = \"latency\", distribution = \"lognormal\", median = \"1s\", p95 = \"2s\" }\n",
    )
    .await;
    let requests = (0..2000).map(|_| {
        let request = zep.authed(zep.http.get(zep.url("/api/v2/threads/x/context")));
        async move {
            let started = Instant::now();
            let status = request.send().await.map(|r| r.status().as_u16());
            (status.ok(), started.elapsed().as_secs_f64())
        }
    });
    let results: Vec<(Option<u16>, f64)> = futures::stream::iter(requests)
        .buffer_unordered(250)
        .collect()
        .await;
    assert!(results.iter().all(|(status, _)| *status == Some(404)));
    let mut latencies: Vec<f64> = results.into_iter().map(|(_, l)| l).collect();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let (median, p95) = (latencies[999], latencies[1899]);
    eprintln!("lognormal 1 s / 2 s: measured median {median:.4}s, p95 {p95:.4}s");
    assert!(
        (p95 / 2.0 - 1.0).abs() <= 0.10,
        "measured p95 {p95:.4}s vs programmed 2.000s"
    );
    assert!(
        (median / 1.0 - 1.0).abs() <= 0.10,
        "measured median {median:.4}s vs 1.000s"
    );
}

#[tokio::test]
async fn hang_accepts_and_never_answers() {
    let zep = start(
        "[[rule]]\nroutes = [\"reads\"]\nfault = { kind = \"connection\", mode = \"hang\" }\n",
    )
    .await;
    let raw = raw_get(&zep, CONTEXT, Duration::from_millis(400)).await;
    assert!(raw.bytes.is_empty() && !raw.reset);
    assert!(raw.total >= Duration::from_millis(400));
    let timed_out = zep
        .authed(zep.http.get(zep.url(CONTEXT)))
        .timeout(Duration::from_millis(250))
        .send()
        .await
        .expect_err("no answer");
    assert!(timed_out.is_timeout(), "{timed_out}");
    // Other routes still answer.
    assert_eq!(
        zep.post("/api/v2/users", json!({ "user_id": "u" }))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn close_before_response_is_a_clean_eof() {
    let zep = start("[[rule]]\nfault = { kind = \"connection\", mode = \"close\" }\n").await;
    let raw = raw_get(&zep, CONTEXT, Duration::from_secs(5)).await;
    assert!(raw.bytes.is_empty(), "{}", raw.text());
    assert!(!raw.reset, "FIN, not RST");
    assert!(zep
        .authed(zep.http.get(zep.url(CONTEXT)))
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn reset_before_response_is_an_rst() {
    let zep = start("[[rule]]\nfault = { kind = \"connection\", mode = \"reset\" }\n").await;
    let raw = raw_get(&zep, CONTEXT, Duration::from_secs(5)).await;
    assert!(raw.bytes.is_empty());
    assert!(raw.reset, "expected ECONNRESET");
}

#[tokio::test]
async fn reset_after_headers_and_mid_body() {
    let zep = start("[[rule]]\nroutes = [\"reads\"]\nfault = { kind = \"connection\", mode = \"reset_after_headers\" }\n").await;
    zep.thread("t1").await;
    let raw = raw_get(&zep, CONTEXT, Duration::from_secs(5)).await;
    let text = raw.text();
    assert!(
        text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("\r\n\r\n"),
        "{text}"
    );
    assert!(raw.reset, "headers, then RST");

    zep.server
        .admin()
        .set_faults("[[rule]]\nroutes = [\"reads\"]\nfault = { kind = \"connection\", mode = \"reset_mid_body\" }\n")
        .await
        .unwrap();
    let raw = raw_get(&zep, CONTEXT, Duration::from_secs(5)).await;
    let text = raw.text();
    let (head, body) = text.split_once("\r\n\r\n").expect("headers arrive");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.parse().ok())
        .expect("content-length");
    assert!(
        !body.is_empty() && body.len() < length,
        "{} of {length} body bytes",
        body.len()
    );
    assert!(raw.reset);
}

#[tokio::test]
async fn dribble_sends_headers_then_the_body_slowly() {
    let zep = start(
        "[[rule]]\nroutes = [\"reads\"]\nfault = { kind = \"connection\", mode = \"dribble\", chunk_bytes = 20, interval = \"50ms\" }\n",
    )
    .await;
    zep.thread("t1").await;
    let raw = raw_get(&zep, CONTEXT, Duration::from_secs(20)).await;
    let text = raw.text();
    let (head, body) = text.split_once("\r\n\r\n").expect("headers arrive");
    assert!(head.starts_with("HTTP/1.1 200 OK"));
    assert!(
        body.contains("FACTS and ENTITIES"),
        "whole body arrives: {body}"
    );
    let chunks = body.len().div_ceil(20) as u32;
    assert!(
        raw.total >= Duration::from_millis(50) * (chunks - 1),
        "{chunks} chunks in {:?}",
        raw.total
    );
    assert!(!raw.reset);
}

#[tokio::test]
async fn garbage_instead_of_http() {
    let zep =
        start("seed = 1\n[[rule]]\nfault = { kind = \"connection\", mode = \"garbage\" }\n").await;
    let raw = raw_get(&zep, CONTEXT, Duration::from_secs(5)).await;
    assert_eq!(raw.bytes.len(), 64);
    assert!(!raw.text().starts_with("HTTP/"));
    let err = zep
        .authed(zep.http.get(zep.url(CONTEXT)))
        .send()
        .await
        .expect_err("not HTTP");
    assert!(!err.is_timeout());
}

#[tokio::test]
async fn faults_compose_and_change_at_run_time() {
    let program =
        "[[rule]]\nfault = { kind = \"latency\", distribution = \"fixed\", delay = \"100ms\" }\n\
                   [[rule]]\nroutes = [\"writes\"]\nfault = { kind = \"status\", status = 503 }\n";
    let zep = start(program).await;
    zep.thread("t1").await;
    let started = Instant::now();
    let reply = zep.add_message("t1", "hello").await;
    assert_eq!(reply.status, 503);
    assert!(started.elapsed() >= Duration::from_millis(100));
    let admin = zep.server.admin();
    assert_eq!(admin.faults().await.unwrap(), program);

    admin.set_faults("").await.unwrap();
    assert_eq!(admin.faults().await.unwrap(), "# no faults\n");
    assert_eq!(zep.add_message("t1", "hello").await.status, 200);

    admin.reset().await.unwrap();
    assert_eq!(
        admin.faults().await.unwrap(),
        program,
        "reset restores the startup program"
    );
    assert_eq!(
        zep.get(CONTEXT).await.status,
        404,
        "reset clears stored threads"
    );
    let metrics = zep.send(zep.http.get(zep.url("/metrics"))).await.text;
    assert!(
        metrics.contains(r#"fake_zep_faults_injected_total{kind="status"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"fake_zep_faults_injected_total{kind="latency"}"#));
}
