//! What switches memory down, against the fake Zep: the breaker on forced 5xx, the 250 ms read
//! deadline against a hanging Zep, and the auth downgrade on a 401 storm.

use std::time::{Duration, Instant};

use rollgate::assistant::breaker::BreakerConfig;
use rollgate::assistant::mode::{DowngradeConfig, Mode};
use rollgate::assistant::Config;
use serde_json::json;

use super::support::{chat, chat_with, config, eventually, http, metric, scrape, start, turn};
use super::zep::{self, GET_CONTEXT};

const V: &str = "variant=\"baseline\"";

#[tokio::test]
async fn the_breaker_opens_on_forced_5xx_and_the_app_still_answers() {
    let fake = zep::start().await;
    let assistant = start(config(&fake.url(), Mode::WriteOnly)).await;
    zep::faults(
        &fake,
        "[[rule]]\nfault = { kind = \"status\", status = 503 }\n",
    )
    .await;
    let (status, first) = chat(&assistant, &turn("t1", "2BR in Girne", "m1")).await;
    assert_eq!(status, 200, "{first}");
    // Three consecutive 503s (threshold 3) open it; the fourth attempt is skipped.
    let opened = eventually(Duration::from_secs(10), || async {
        metric(
            &scrape(&assistant).await,
            &format!("memory_zep_breaker_opens_total{{{V}}}"),
        ) == 1.0
    })
    .await;
    assert!(
        opened,
        "breaker never opened:\n{}",
        scrape(&assistant).await
    );

    let (status, answer) = chat(&assistant, &turn("t1", "show me", "m2")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["agent"], "real_estate");
    assert_eq!(
        answer["trace"]["memory"],
        json!({ "used": false, "mode": "off", "reason": "breaker_open" })
    );
    assert_eq!(answer["trace"]["write"], "circuit_open");

    let text = scrape(&assistant).await;
    assert_eq!(
        metric(&text, &format!("memory_zep_breaker_state{{{V}}}")),
        2.0
    );
    assert_eq!(
        metric(
            &text,
            &format!("memory_zep_write_skipped_total{{reason=\"circuit_open\",{V}}}")
        ),
        2.0
    );
    assert_eq!(
        metric(&text, &format!("memory_zep_write_attempts_total{{{V}}}")),
        3.0
    );
    assert_eq!(
        metric(&text, &format!("memory_zep_write_requests_total{{{V}}}")),
        2.0
    );
    assert_eq!(
        metric(
            &text,
            &format!("assistant_errors_total{{transport=\"http\",{V}}}")
        ),
        0.0
    );
    assistant.shutdown(Duration::from_secs(2)).await;
    fake.shutdown().await;
}

#[tokio::test]
async fn the_250ms_read_deadline_holds_against_a_hanging_zep() {
    let fake = zep::start().await;
    let assistant = start(config(&fake.url(), Mode::ReadWrite)).await;
    zep::faults(
        &fake,
        "[[rule]]\nroutes = [\"reads\"]\nfault = { kind = \"connection\", mode = \"hang\" }\n",
    )
    .await;
    // Three turns on fresh threads. Each must fall back on the deadline: without it a hung read
    // would last until the client's 1 s backstop timeout (took_ms shows which one cut it). The
    // issue's bound (< 400 ms) is checked on the fastest of the three, so that another test hogging
    // this shared 2-core machine for a moment does not fail it.
    let client = http();
    let (status, _) = chat_with(&client, &assistant, &json!({})).await;
    assert_eq!(status, 400, "warm-up request");
    let mut fastest = Duration::MAX;
    for thread in ["t1", "t2", "t3"] {
        let started = Instant::now();
        let (status, answer) =
            chat_with(&client, &assistant, &turn(thread, "2BR in Girne", "m1")).await;
        let took = started.elapsed();
        fastest = fastest.min(took);
        assert_eq!(status, 200, "{answer}");
        let memory = &answer["trace"]["memory"];
        assert_eq!(
            (
                &memory["used"],
                &memory["mode"],
                &memory["reason"],
                &memory["source"],
                &memory["strategy"]
            ),
            (
                &json!(false),
                &json!("read_write"),
                &json!("timeout"),
                &json!("local"),
                &json!("last_messages")
            )
        );
        let took_ms = memory["took_ms"].as_u64().expect("took_ms");
        eprintln!("{thread}: turn {took:?}, read took_ms {took_ms}");
        assert!((250..900).contains(&took_ms), "{thread}: took_ms {took_ms}");
        assert_eq!(zep::entries(&fake, thread, GET_CONTEXT).await.len(), 1);
    }
    assert!(
        fastest < Duration::from_millis(400),
        "fastest turn took {fastest:?}"
    );
    eprintln!("hanging Zep, 250 ms deadline: fastest of 3 turns {fastest:?}");

    let text = scrape(&assistant).await;
    assert_eq!(
        metric(
            &text,
            &format!("memory_zep_context_failures_total{{reason=\"timeout\",{V}}}")
        ),
        3.0
    );
    assert_eq!(
        metric(
            &text,
            &format!("memory_zep_read_latency_seconds_count{{{V}}}")
        ),
        3.0
    );
    assert_eq!(
        metric(
            &text,
            &format!("memory_zep_read_latency_seconds_bucket{{{V},le=\"0.25\"}}")
        ),
        0.0
    );
    assistant.shutdown(Duration::from_secs(2)).await;
    fake.shutdown().await;
}

#[tokio::test]
async fn a_401_storm_downgrades_to_write_only_then_the_mode_comes_back() {
    let fake = zep::start().await;
    let downgrade = DowngradeConfig {
        auth_failures: 3,
        duration: Duration::from_secs(1),
    };
    let assistant = start(Config {
        downgrade,
        ..config(&fake.url(), Mode::ReadWrite)
    })
    .await;
    zep::faults(
        &fake,
        "[[rule]]\nfault = { kind = \"auth\", status = 401 }\n",
    )
    .await;
    let mut modes = Vec::new();
    for n in 0..4 {
        let (status, answer) =
            chat(&assistant, &turn("t1", "2BR in Girne", &format!("m{n}"))).await;
        assert_eq!(status, 200, "{answer}");
        modes.push(
            answer["trace"]["memory"]["mode"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    // Each read_write turn reads once (401) and its write gets 401s: the third 401 downgrades.
    assert_eq!(modes.first().map(String::as_str), Some("read_write"));
    assert_eq!(
        modes.last().map(String::as_str),
        Some("write_only"),
        "{modes:?}"
    );
    let text = scrape(&assistant).await;
    assert_eq!(
        metric(
            &text,
            &format!("memory_zep_downgrades_total{{reason=\"auth\",{V}}}")
        ),
        1.0
    );
    assert_eq!(metric(&text, &format!("memory_mode_gauge{{{V}}}")), 1.0);
    assert!(
        metric(
            &text,
            &format!("memory_zep_context_failures_total{{reason=\"auth\",{V}}}")
        ) >= 1.0
    );
    assert_eq!(
        metric(&text, &format!("memory_zep_breaker_opens_total{{{V}}}")),
        0.0
    );

    zep::faults(&fake, "").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, answer) = chat(&assistant, &turn("t1", "show me", "m9")).await;
    assert_eq!(answer["trace"]["memory"]["mode"], "read_write", "{answer}");
    assert_eq!(
        metric(
            &scrape(&assistant).await,
            &format!("memory_mode_gauge{{{V}}}")
        ),
        2.0
    );
    assistant.shutdown(Duration::from_secs(2)).await;
    fake.shutdown().await;
}

#[tokio::test]
async fn the_deadline_also_cuts_a_body_that_drips_in() {
    let fake = zep::start().await;
    let assistant = start(config(&fake.url(), Mode::ReadWrite)).await;
    // Headers on time, then one byte every 50 ms: only a total deadline catches this.
    zep::faults(
        &fake,
        "[[rule]]\nroutes = [\"reads\"]\n\
         fault = { kind = \"connection\", mode = \"dribble\", chunk_bytes = 1, interval = \"50ms\" }\n",
    )
    .await;
    let (status, answer) = chat(&assistant, &turn("t1", "2BR in Girne", "m1")).await;
    assert_eq!(status, 200, "{answer}");
    let memory = &answer["trace"]["memory"];
    assert_eq!(
        (&memory["used"], &memory["reason"]),
        (&json!(false), &json!("timeout")),
        "{answer}"
    );
    let took_ms = memory["took_ms"].as_u64().expect("took_ms");
    assert!((250..900).contains(&took_ms), "took_ms {took_ms}");
    assistant.shutdown(Duration::from_secs(2)).await;
    fake.shutdown().await;
}

#[tokio::test]
async fn the_breaker_closes_again_after_a_successful_half_open_probe() {
    let fake = zep::start().await;
    let breaker = BreakerConfig {
        failure_threshold: 3,
        open_for: Duration::from_millis(300),
    };
    let assistant = start(Config {
        breaker,
        ..config(&fake.url(), Mode::WriteOnly)
    })
    .await;
    zep::faults(
        &fake,
        "[[rule]]\nfault = { kind = \"status\", status = 503 }\n",
    )
    .await;
    chat(&assistant, &turn("t1", "2BR in Girne", "m1")).await;
    let state = format!("memory_zep_breaker_state{{{V}}}");
    let opened = eventually(Duration::from_secs(10), || async {
        metric(&scrape(&assistant).await, &state) == 2.0
    })
    .await;
    assert!(opened, "breaker never opened");

    zep::faults(&fake, "").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The open interval is over: this turn's write is the half-open probe, and it succeeds.
    let (_, answer) = chat(&assistant, &turn("t1", "show me", "m2")).await;
    assert_eq!(answer["trace"]["write"], "queued", "{answer}");
    assert_eq!(zep::wait_stored(&fake, "t1", 2).await, 2);
    let closed = eventually(Duration::from_secs(10), || async {
        metric(&scrape(&assistant).await, &state) == 0.0
    })
    .await;
    assert!(
        closed,
        "breaker never closed:\n{}",
        scrape(&assistant).await
    );
    let (_, answer) = chat(&assistant, &turn("t1", "nearest pharmacy", "m3")).await;
    assert_eq!(answer["trace"]["memory"]["used"], true);
    assert_eq!(
        metric(
            &scrape(&assistant).await,
            &format!("memory_zep_breaker_opens_total{{{V}}}")
        ),
        1.0
    );
    assistant.shutdown(Duration::from_secs(2)).await;
    fake.shutdown().await;
}
