//! The write path against the fake Zep: every turn written once, duplicates refused, PII redacted
//! before it leaves, 429 `Retry-After` waited without opening the breaker.

use std::time::Duration;

use rollgate::assistant::mode::Mode;
use rollgate::assistant::regression::Regression;
use rollgate::assistant::Config;
use serde_json::json;

use super::support::{chat, config, metric, scrape, start, turn, Ws};
use super::zep::{self, ADD_MESSAGES};

const V: &str = "variant=\"baseline\"";

#[tokio::test]
async fn a_write_only_turn_is_written_once_with_both_messages() {
    let fake = zep::start().await;
    let assistant = start(config(&fake.url(), Mode::WriteOnly)).await;
    let mut ws = Ws::connect(&assistant).await;
    let (tokens, trace) = ws.turn(&turn("t1", "2BR in Girne", "m1")).await;
    assert!(tokens.len() > 3, "{tokens:?}");
    assert_eq!(trace["type"], "trace");
    assert_eq!(
        trace["memory"],
        json!({ "used": true, "mode": "write_only", "source": "zep" })
    );
    assert_eq!(trace["write"], "queued");

    assert_eq!(zep::wait_stored(&fake, "t1", 2).await, 2);
    let writes = zep::entries(&fake, "t1", ADD_MESSAGES).await;
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(
        (writes[0].status, writes[0].messages, writes[0].user_message),
        (Some(200), 2, true)
    );
    assert_eq!(writes[0].idempotency_key.as_deref(), Some("t1:m1"));

    let text = scrape(&assistant).await;
    assert_eq!(
        metric(&text, &format!("memory_zep_write_requests_total{{{V}}}")),
        1.0
    );
    assert_eq!(
        metric(&text, &format!("memory_zep_write_attempts_total{{{V}}}")),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            &format!("memory_zep_write_latency_seconds_count{{{V}}}")
        ),
        1.0
    );
    assert_eq!(
        metric(&text, &format!("memory_zep_write_failures_total{{{V}}}")),
        0.0
    );
    assert_eq!(metric(&text, &format!("memory_mode_gauge{{{V}}}")), 1.0);
    assistant.shutdown(Duration::from_secs(2)).await;
    fake.shutdown().await;
}

#[tokio::test]
async fn a_repeated_client_msg_id_is_stored_once() {
    let fake = zep::start().await;
    let assistant = start(config(&fake.url(), Mode::WriteOnly)).await;
    let body = turn("t1", "3 bedroom villa in Lapta", "m1");
    let (status, first) = chat(&assistant, &body).await;
    assert_eq!(
        (status, first["trace"]["write"].as_str()),
        (200, Some("queued"))
    );
    assert_eq!(zep::wait_stored(&fake, "t1", 2).await, 2);
    // The client retries the same turn: it is answered again, and not stored again.
    let (status, again) = chat(&assistant, &body).await;
    assert_eq!(
        (status, again["trace"]["write"].as_str()),
        (200, Some("duplicate"))
    );
    let (_, next) = chat(&assistant, &turn("t1", "show me", "m2")).await;
    assert_eq!(next["trace"]["write"], "queued");
    assert_eq!(zep::wait_stored(&fake, "t1", 4).await, 4);

    let duplicates = fake.admin().duplicates().await.expect("duplicates");
    assert!(duplicates.per_thread.is_empty(), "{duplicates:?}");
    let text = scrape(&assistant).await;
    assert_eq!(
        metric(
            &text,
            &format!("memory_zep_write_skipped_total{{reason=\"duplicate\",{V}}}")
        ),
        1.0
    );
    assistant.shutdown(Duration::from_secs(2)).await;

    // The check has teeth: a canary without idempotency stores the repeat, and the journal sees it.
    let regression = Regression {
        idempotency: false,
        ..Regression::default()
    };
    let canary = start(Config {
        regression,
        ..config(&fake.url(), Mode::WriteOnly)
    })
    .await;
    let body = turn("t2", "3 bedroom villa in Lapta", "m1");
    chat(&canary, &body).await;
    assert_eq!(zep::wait_stored(&fake, "t2", 2).await, 2);
    chat(&canary, &body).await;
    assert_eq!(zep::wait_stored(&fake, "t2", 4).await, 4);
    let duplicates = fake.admin().duplicates().await.expect("duplicates");
    assert_eq!(duplicates.per_thread.get("t2"), Some(&1), "{duplicates:?}");
    canary.shutdown(Duration::from_secs(2)).await;
    fake.shutdown().await;
}

#[tokio::test]
async fn pii_never_reaches_the_fake_zep() {
    let fake = zep::start().await;
    let assistant = start(config(&fake.url(), Mode::WriteOnly)).await;
    let message = "2BR in Girne, mail jane.doe@example.com or call +90 533 123 4567";
    let (status, answer) = chat(&assistant, &turn("t1", message, "m1")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(zep::wait_stored(&fake, "t1", 2).await, 2);
    let entries = zep::all_entries(&fake).await;
    assert!(
        entries.iter().any(|e| e.route == ADD_MESSAGES),
        "{entries:?}"
    );
    for entry in &entries {
        assert!(entry.pii.is_empty(), "PII reached Zep: {entry:?}");
    }
    let text = scrape(&assistant).await;
    assert_eq!(
        metric(
            &text,
            &format!("memory_zep_redactions_total{{field_type=\"email\",{V}}}")
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            &format!("memory_zep_redactions_total{{field_type=\"phone\",{V}}}")
        ),
        1.0
    );
    assistant.shutdown(Duration::from_secs(2)).await;

    // The journal does see PII when redaction is off, so the check above can fail.
    let regression = Regression {
        redaction: false,
        ..Regression::default()
    };
    let leaky = start(Config {
        regression,
        ..config(&fake.url(), Mode::WriteOnly)
    })
    .await;
    chat(&leaky, &turn("t2", message, "m1")).await;
    assert_eq!(zep::wait_stored(&fake, "t2", 2).await, 2);
    let writes = zep::entries(&fake, "t2", ADD_MESSAGES).await;
    assert!(
        writes
            .iter()
            .any(|e| e.pii.iter().any(|kind| kind == "email")),
        "{writes:?}"
    );
    leaky.shutdown(Duration::from_secs(2)).await;
    fake.shutdown().await;
}

#[tokio::test]
async fn a_429_with_retry_after_2_is_waited_opens_no_breaker_and_the_next_turn_succeeds() {
    let fake = zep::start().await;
    let assistant = start(config(&fake.url(), Mode::WriteOnly)).await;
    zep::faults(
        &fake,
        "[[rule]]\nroutes = [\"writes\"]\nwhen = { burst = 1, period = 1000 }\n\
         fault = { kind = \"rate_limit\", retry_after = \"2s\" }\n",
    )
    .await;
    let (status, _) = chat(&assistant, &turn("t1", "2BR in Girne", "m1")).await;
    assert_eq!(status, 200);
    let (status, second) = chat(&assistant, &turn("t1", "show me", "m2")).await;
    assert_eq!(status, 200);
    assert_eq!(
        second["trace"]["memory"],
        json!({ "used": true, "mode": "write_only", "source": "zep" })
    );
    assert_eq!(second["trace"]["write"], "queued");
    assert_eq!(zep::wait_stored(&fake, "t1", 4).await, 4);

    let writes = fake.admin().attempts(Some("t1")).await.expect("attempts");
    assert_eq!(writes.len(), 2, "{writes:?}");
    let statuses: Vec<Option<u16>> = writes[0].attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(429), Some(200)]);
    assert_eq!(writes[0].attempts[0].retry_after.as_deref(), Some("2"));
    // A lower bound only: the worker slept the full Retry-After before the second attempt.
    assert!(writes[0].gaps_ms[0] >= 1990.0, "{:?}", writes[0].gaps_ms);
    assert_eq!((writes[0].stored_times, writes[1].stored_times), (1, 1));

    let text = scrape(&assistant).await;
    assert_eq!(
        metric(
            &text,
            &format!("memory_zep_retry_after_seconds_total{{{V}}}")
        ),
        2.0
    );
    assert_eq!(
        metric(&text, &format!("memory_zep_breaker_opens_total{{{V}}}")),
        0.0
    );
    assert_eq!(
        metric(&text, &format!("memory_zep_breaker_state{{{V}}}")),
        0.0
    );
    assert_eq!(
        metric(&text, &format!("memory_zep_write_attempts_total{{{V}}}")),
        3.0
    );
    assert_eq!(
        metric(&text, &format!("memory_zep_write_failures_total{{{V}}}")),
        0.0
    );
    assistant.shutdown(Duration::from_secs(2)).await;
    fake.shutdown().await;
}

/// Waits until the write worker has finished everything queued for `thread` before the turn
/// `marker`: a later turn on the same thread is written by the same worker, in order.
async fn drain(
    assistant: &rollgate::assistant::Assistant,
    fake: &rollgate::fake_zep::FakeZep,
    thread: &str,
    n: u32,
) {
    chat(assistant, &turn(thread, "nearest pharmacy", "marker")).await;
    assert_eq!(zep::wait_stored(fake, thread, n).await, n);
}

#[tokio::test]
async fn a_write_whose_answer_was_lost_is_checked_before_the_retry_and_stored_once() {
    let fake = zep::start().await;
    let assistant = start(config(&fake.url(), Mode::WriteOnly)).await;
    // The first message write is stored, then the connection is reset halfway through the answer.
    zep::faults(
        &fake,
        "[[rule]]\nroutes = [\"writes\"]\nwhen = { burst = 1, period = 1000 }\n\
         fault = { kind = \"connection\", mode = \"reset_mid_body\" }\n",
    )
    .await;
    chat(&assistant, &turn("t1", "2BR in Girne", "m1")).await;
    drain(&assistant, &fake, "t1", 4).await;
    let writes = zep::entries(&fake, "t1", ADD_MESSAGES).await;
    assert_eq!(
        writes.len(),
        2,
        "the lost answer was not re-sent: {writes:?}"
    );
    assert_eq!(writes[0].faults, ["reset_mid_body"]);
    assert_eq!(
        zep::entries(&fake, "t1", "GET /api/v2/threads/{id}/messages")
            .await
            .len(),
        1
    );
    assert!(fake
        .admin()
        .duplicates()
        .await
        .expect("duplicates")
        .per_thread
        .is_empty());
    assistant.shutdown(Duration::from_secs(2)).await;

    // Without the check (a canary with idempotency off) the retry stores the turn twice.
    let regression = Regression {
        idempotency: false,
        ..Regression::default()
    };
    let canary = start(Config {
        regression,
        ..config(&fake.url(), Mode::WriteOnly)
    })
    .await;
    zep::faults(
        &fake,
        "[[rule]]\nroutes = [\"writes\"]\nwhen = { burst = 1, period = 1000 }\n\
         fault = { kind = \"connection\", mode = \"reset_mid_body\" }\n",
    )
    .await;
    chat(&canary, &turn("t2", "2BR in Girne", "m1")).await;
    drain(&canary, &fake, "t2", 6).await;
    let duplicates = fake.admin().duplicates().await.expect("duplicates");
    assert_eq!(duplicates.per_thread.get("t2"), Some(&1), "{duplicates:?}");
    canary.shutdown(Duration::from_secs(2)).await;
    fake.shutdown().await;
}

/// One worker writes many threads at once (a slow Zep does not serialise them), while the writes of
/// one thread still land one after the other, in the order the turns were taken.
#[tokio::test]
async fn one_worker_writes_threads_side_by_side_and_each_thread_in_order() {
    let fake = zep::start().await;
    zep::faults(
        &fake,
        r#"
[[rule]]
name = "slow message writes"
routes = ["POST /api/v2/threads/{id}/messages"]
fault = { kind = "latency", distribution = "fixed", delay = "300ms" }
"#,
    )
    .await;
    let mut cfg = config(&fake.url(), Mode::WriteOnly);
    cfg.write.workers = 1;
    cfg.write.concurrency = 32;
    let assistant = start(cfg).await;
    let client = super::support::http();
    for n in 0..24 {
        let (status, _) = super::support::chat_with(
            &client,
            &assistant,
            &turn(&format!("side-{n}"), "2BR in Girne", "m1"),
        )
        .await;
        assert_eq!(status, 200);
    }
    for n in 1..=4 {
        let (status, _) = chat(&assistant, &turn("ordered", "show me", &format!("m{n}"))).await;
        assert_eq!(status, 200);
    }
    // 28 writes of 300 ms each: one after the other they would take 8.4 s or more.
    let all_stored = super::support::eventually(Duration::from_secs(6), || async {
        let mut total = 0;
        for n in 0..24 {
            total += zep::stored(&fake, &format!("side-{n}")).await;
        }
        total == 48 && zep::stored(&fake, "ordered").await == 8
    })
    .await;
    assert!(all_stored, "not every write landed within 6 s");
    let keys: Vec<String> = zep::entries(&fake, "ordered", ADD_MESSAGES)
        .await
        .into_iter()
        .filter_map(|e| e.idempotency_key)
        .collect();
    assert_eq!(
        keys,
        ["ordered:m1", "ordered:m2", "ordered:m3", "ordered:m4"]
    );
    assistant.shutdown(Duration::from_secs(2)).await;
    fake.shutdown().await;
}
