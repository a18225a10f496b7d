//! A regression file turns the assistant into a bad canary: slower first token, failed turns,
//! more reads. Each effect shows in the metrics rollgate judges.

use std::time::Duration;

use rollgate::assistant::mode::Mode;
use rollgate::assistant::regression::Regression;
use rollgate::assistant::{Config, Variant};

use super::support::{chat, config, metric, scrape, start, turn, Ws};
use super::zep::{self, GET_CONTEXT};

const C: &str = "variant=\"canary\"";

fn canary(zep_url: &str, mode: Mode, text: &str) -> Config {
    let regression =
        Regression::parse(std::path::Path::new("canary.toml"), text).expect("valid regression");
    Config {
        variant: Variant::Canary,
        regression,
        ..config(zep_url, mode)
    }
}

#[tokio::test]
async fn extra_latency_moves_ttfb_past_the_threshold_buckets() {
    let fake = zep::start().await;
    let assistant = start(canary(
        &fake.url(),
        Mode::WriteOnly,
        "[brain]\nextra_latency = \"300ms\"\n",
    ))
    .await;
    let (status, _) = chat(&assistant, &turn("t1", "2BR in Girne", "m1")).await;
    assert_eq!(status, 200);
    Ws::connect(&assistant)
        .await
        .turn(&turn("t1", "show me", "m2"))
        .await;
    let text = scrape(&assistant).await;
    for transport in ["http", "ws"] {
        // Lower bounds only: the model time is at least 300 ms.
        let count = format!("assistant_ttfb_seconds_count{{transport=\"{transport}\",{C}}}");
        let fast =
            format!("assistant_ttfb_seconds_bucket{{transport=\"{transport}\",{C},le=\"0.3\"}}");
        assert_eq!(
            (metric(&text, &count), metric(&text, &fast)),
            (1.0, 0.0),
            "{transport}"
        );
    }
    assistant.shutdown(Duration::from_secs(2)).await;
    fake.shutdown().await;
}

#[tokio::test]
async fn error_rate_one_fails_every_turn_with_a_500_and_counts_it() {
    let fake = zep::start().await;
    let assistant = start(canary(
        &fake.url(),
        Mode::WriteOnly,
        "[brain]\nerror_rate = 1.0\n",
    ))
    .await;
    let (status, body) = chat(&assistant, &turn("t1", "2BR in Girne", "m1")).await;
    assert_eq!(status, 500, "{body}");
    assert!(body["error"]
        .as_str()
        .expect("message")
        .contains("injected"));
    let (tokens, frame) = Ws::connect(&assistant)
        .await
        .turn(&turn("t1", "show me", "m2"))
        .await;
    assert!(tokens.is_empty());
    assert_eq!(
        (frame["type"].as_str(), frame["status"].as_u64()),
        (Some("error"), Some(500))
    );
    let text = scrape(&assistant).await;
    assert_eq!(
        metric(
            &text,
            &format!("assistant_errors_total{{transport=\"http\",{C}}}")
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            &format!("assistant_errors_total{{transport=\"ws\",{C}}}")
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            &format!("assistant_requests_total{{transport=\"http\",{C}}}")
        ),
        1.0
    );
    // A failed turn writes nothing.
    assert_eq!(
        metric(&text, &format!("memory_zep_write_requests_total{{{C}}}")),
        0.0
    );
    assistant.shutdown(Duration::from_secs(2)).await;
    fake.shutdown().await;
}

#[tokio::test]
async fn no_cache_and_two_reads_per_turn_double_the_reads() {
    let fake = zep::start().await;
    let text = "[memory]\ncache = false\nreads_per_turn = 2\n";
    let assistant = start(canary(&fake.url(), Mode::ReadWrite, text)).await;
    for n in 0..2 {
        let (_, answer) = chat(&assistant, &turn("t1", "2BR in Girne", &format!("m{n}"))).await;
        assert_eq!(answer["trace"]["memory"]["source"], "zep");
    }
    assert_eq!(zep::entries(&fake, "t1", GET_CONTEXT).await.len(), 4);
    let exposition = scrape(&assistant).await;
    assert_eq!(
        metric(
            &exposition,
            &format!("memory_zep_read_latency_seconds_count{{{C}}}")
        ),
        4.0
    );
    assistant.shutdown(Duration::from_secs(2)).await;
    fake.shutdown().await;
}
