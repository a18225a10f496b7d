//! The embedded stack: a fake Zep, a baseline and a canary assistant in one process, each with the
//! mode, variant label and regression it was given.

use std::time::Duration;

use rollgate::assistant::mode::Mode;
use rollgate::assistant::regression::Regression;
use rollgate::stack::{Stack, StackConfig};
use rollgate::variant::Variant;
use serde_json::{json, Value};

async fn chat(url: &str, thread: &str) -> (u16, Value) {
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .post(format!("{url}/api/chat"))
        .json(&json!({"thread_id": thread, "user_id": "u1", "message": "2BR in Girne", "client_msg_id": "m1"}))
        .send()
        .await
        .expect("chat answered");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

#[tokio::test]
async fn the_stack_runs_a_baseline_and_a_canary_against_one_fake_zep() {
    let regression = Regression::parse(
        std::path::Path::new("inline.toml"),
        "[brain]\nextra_latency = \"10ms\"\n",
    )
    .expect("regression");
    let stack = Stack::start(&StackConfig {
        baseline_mode: Mode::WriteOnly,
        canary_mode: Mode::ReadWrite,
        canary_regression: regression,
        brain_latency: "0".parse().expect("latency"),
        ..StackConfig::default()
    })
    .await
    .expect("stack starts");

    let baseline = stack.assistant(Variant::Baseline);
    let canary = stack.assistant(Variant::Canary);
    assert!(baseline.url().starts_with("http://127.0.0.1:"));
    assert_ne!(baseline.url(), canary.url());
    let (status, answer) = chat(&baseline.url(), "b1").await;
    assert_eq!(status, 200);
    assert_eq!(answer["trace"]["memory"]["mode"], "write_only");
    let (status, answer) = chat(&canary.url(), "c1").await;
    assert_eq!(status, 200);
    assert_eq!(answer["trace"]["memory"]["mode"], "read_write");
    assert_eq!(answer["trace"]["variant"], "canary");

    let text = canary.metrics_text().expect("metrics");
    assert!(
        text.contains("memory_mode_gauge{variant=\"canary\"} 2"),
        "{text}"
    );
    let text = baseline.metrics_text().expect("metrics");
    assert!(
        text.contains("memory_mode_gauge{variant=\"baseline\"} 1"),
        "{text}"
    );

    // Both wrote to the one fake Zep.
    let admin = stack.zep().admin();
    let journal = admin.journal(&Default::default()).await.expect("journal");
    for thread in ["b1", "c1"] {
        assert!(
            journal
                .entries
                .iter()
                .any(|e| e.thread.as_deref() == Some(thread)),
            "no journal entry for {thread}"
        );
    }
    tokio::time::timeout(Duration::from_secs(30), stack.shutdown())
        .await
        .expect("stack stops");
}
