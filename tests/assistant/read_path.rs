//! The read path against the fake Zep: the checklist's read trace, the per-turn cache, and memory
//! facts as soft hints that the current turn overrides.

use std::time::Duration;

use rollgate::assistant::mode::Mode;
use rollgate::assistant::read_path::ReadConfig;
use rollgate::assistant::Config;
use serde_json::json;

use super::support::{chat, config, metric, scrape, start, turn, Ws};
use super::zep::{self, GET_CONTEXT};

const V: &str = "variant=\"baseline\"";

#[tokio::test]
async fn a_second_turn_within_30s_is_served_from_the_cache() {
    let fake = zep::start().await;
    let assistant = start(config(&fake.url(), Mode::ReadWrite)).await;
    let (_, first) = chat(&assistant, &turn("t1", "2BR in Girne", "m1")).await;
    assert_eq!(first["trace"]["memory"]["source"], "zep", "{first}");
    let (_, second) = chat(&assistant, &turn("t1", "show me", "m2")).await;
    assert_eq!(
        second["trace"]["memory"],
        json!({ "used": true, "mode": "read_write", "source": "cache", "strategy": "summary", "took_ms": 0 })
    );
    // Another thread is another key.
    let (_, other) = chat(&assistant, &turn("t2", "2BR in Girne", "m1")).await;
    assert_eq!(other["trace"]["memory"]["source"], "zep");

    assert_eq!(
        zep::entries(&fake, "t1", GET_CONTEXT).await.len(),
        1,
        "one read for two turns"
    );
    let text = scrape(&assistant).await;
    assert_eq!(
        metric(
            &text,
            &format!("memory_zep_context_cache_total{{result=\"hit\",{V}}}")
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            &format!("memory_zep_context_cache_total{{result=\"miss\",{V}}}")
        ),
        2.0
    );
    assert_eq!(
        metric(
            &text,
            &format!("memory_zep_read_latency_seconds_count{{{V}}}")
        ),
        2.0
    );
    assistant.shutdown(Duration::from_secs(2)).await;
    fake.shutdown().await;
}

#[tokio::test]
async fn zep_context_gives_the_checklist_trace_and_soft_hints() {
    let fake = zep::start().await;
    let writer = start(config(&fake.url(), Mode::WriteOnly)).await;
    chat(&writer, &turn("t1", "2BR in Girne under £150,000", "m1")).await;
    assert_eq!(zep::wait_stored(&fake, "t1", 2).await, 2);
    writer.shutdown(Duration::from_secs(2)).await;

    // A fresh assistant (no local state for t1) reading Zep's context over the WebSocket.
    let read = ReadConfig {
        cache: false,
        ..ReadConfig::default()
    };
    let reader = start(Config {
        read,
        ..config(&fake.url(), Mode::ReadWrite)
    })
    .await;
    let mut ws = Ws::connect(&reader).await;
    let (_, trace) = ws.turn(&turn("t1", "any flats?", "m2")).await;
    let memory = &trace["memory"];
    assert_eq!(
        (
            &memory["used"],
            &memory["mode"],
            &memory["source"],
            &memory["strategy"]
        ),
        (
            &json!(true),
            &json!("read_write"),
            &json!("zep"),
            &json!("summary")
        ),
        "{trace}"
    );
    assert!(
        memory["took_ms"].as_u64().is_some() && memory.get("reason").is_none(),
        "{memory}"
    );
    // Bedrooms, budget and place came from memory; none was in this turn.
    assert_eq!(
        trace["routing"]["slots"],
        json!({ "bedrooms": 2, "budget": 150000, "location": "Girne" })
    );
    assert_eq!(
        trace["routing"]["slot_sources"],
        json!({ "bedrooms": "memory", "budget": "memory", "location": "memory" })
    );
    // The current turn overrides a memory fact.
    let (_, trace) = ws.turn(&turn("t1", "actually 3 bedrooms", "m3")).await;
    assert_eq!(trace["routing"]["slots"]["bedrooms"], 3);
    assert_eq!(trace["routing"]["slot_sources"]["bedrooms"], "turn");
    assert_eq!(trace["routing"]["slot_sources"]["location"], "memory");
    reader.shutdown(Duration::from_secs(2)).await;
    fake.shutdown().await;
}
