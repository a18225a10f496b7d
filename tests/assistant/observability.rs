//! The structured per-turn log line, and `promtool check metrics` on an exposition with traffic.

use std::time::Duration;

use rollgate::assistant::mode::Mode;
use rollgate::assistant::turn_log::TurnLogTarget;
use rollgate::assistant::Config;
use serde_json::{json, Value};

use super::metrics::promtool_check;
use super::support::{chat, config, scrape, start, turn, Ws};
use super::zep;

#[tokio::test]
async fn every_turn_writes_one_json_line_with_the_seed_fields() {
    let fake = zep::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("turns.jsonl");
    let turn_log = TurnLogTarget::File(path.clone());
    let assistant = start(Config {
        turn_log,
        ..config(&fake.url(), Mode::ReadWrite)
    })
    .await;
    chat(&assistant, &turn("t1", "2BR in Girne", "m1")).await;
    assert_eq!(zep::wait_stored(&fake, "t1", 2).await, 2);
    chat(&assistant, &turn("t1", "nearest pharmacy", "m2")).await;
    assistant.shutdown(Duration::from_secs(2)).await;

    let text = std::fs::read_to_string(&path).expect("turn log written");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    let first = &lines[0];
    assert_eq!(
        (&first["thread"], &first["user"], &first["agent"]),
        (&json!("t1"), &json!("u1"), &json!("real_estate"))
    );
    let zep = first["zep"].as_object().expect("zep object");
    let mut keys: Vec<&str> = zep.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["breaker", "mode", "read_ms", "retry_after", "write_ms"]
    );
    // In the seed's order on the line itself.
    let first_line = text.lines().next().unwrap_or_default();
    assert!(
        first_line.contains(r#""zep":{"mode":"read_write","read_ms":"#),
        "{first_line}"
    );
    assert_eq!(
        (&zep["mode"], &zep["breaker"], &zep["retry_after"]),
        (&json!("read_write"), &json!("closed"), &json!(0.0))
    );
    assert!(zep["read_ms"].is_u64(), "the first turn read Zep: {first}");
    let second = &lines[1]["zep"];
    assert_eq!(lines[1]["agent"], "local_info");
    assert!(
        second["read_ms"].is_null(),
        "the second turn was a cache hit: {second}"
    );
    assert!(
        second["write_ms"].is_u64(),
        "the first turn's write had finished: {second}"
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn an_exposition_with_traffic_and_failures_passes_promtool() {
    let fake = zep::start().await;
    let assistant = start(config(&fake.url(), Mode::ReadWrite)).await;
    chat(
        &assistant,
        &turn("t1", "2BR in Girne, call +90 533 123 4567", "m1"),
    )
    .await;
    Ws::connect(&assistant)
        .await
        .turn(&turn("t2", "nearest pharmacy", "m1"))
        .await;
    zep::faults(
        &fake,
        "[[rule]]\nroutes = [\"reads\"]\nfault = { kind = \"connection\", mode = \"hang\" }\n",
    )
    .await;
    chat(&assistant, &turn("t3", "show me", "m1")).await;
    assert_eq!(zep::wait_stored(&fake, "t3", 2).await, 2);
    let text = scrape(&assistant).await;
    assert!(
        text.contains(
            "memory_zep_context_failures_total{reason=\"timeout\",variant=\"baseline\"} 1"
        ),
        "{text}"
    );
    match promtool_check(&text) {
        Some(Ok(())) => {}
        Some(Err(said)) => panic!("promtool check metrics failed: {said}\n--- exposition:\n{text}"),
        None => eprintln!("\n\n!!!!! SKIPPED: promtool is not installed; `promtool check metrics` was NOT run !!!!!\n\n"),
    }
    assistant.shutdown(Duration::from_secs(2)).await;
    fake.shutdown().await;
}
