//! Zep v4 (`--zep-api v4`): threads by UUID, and `Idempotency-Key` so that a retried write is
//! replayed by Zep instead of stored twice.

use std::time::Duration;

use rollgate::assistant::mode::Mode;
use rollgate::assistant::read_path::ReadConfig;
use rollgate::assistant::regression::Regression;
use rollgate::assistant::zep_client::ApiVersion;
use rollgate::assistant::Config;
use rollgate::fake_zep::journal::{Entry, Query};
use rollgate::fake_zep::FakeZep;

use super::support::{chat, config, start, turn};
use super::zep;

const V4_ADD: &str = "POST /api/v4/threads/{id}/messages";

fn v4(zep_url: &str, mode: Mode) -> Config {
    Config {
        zep_api: ApiVersion::V4,
        ..config(zep_url, mode)
    }
}

async fn route(fake: &FakeZep, route: &str) -> Vec<Entry> {
    let query = Query {
        route: Some(route.into()),
        ..Query::default()
    };
    fake.admin().journal(&query).await.expect("journal").entries
}

async fn wait_v4_stored(fake: &FakeZep, n: u32) -> u32 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stored: u32 = route(fake, V4_ADD).await.iter().map(|e| e.stored).sum();
        if stored >= n || tokio::time::Instant::now() >= deadline {
            return stored;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn v4_turns_are_written_and_read_back_by_thread_uuid() {
    let fake = zep::start().await;
    let read = ReadConfig {
        cache: false,
        ..ReadConfig::default()
    };
    let assistant = start(Config {
        read,
        ..v4(&fake.url(), Mode::ReadWrite)
    })
    .await;
    let (status, first) = chat(&assistant, &turn("t1", "2BR in Girne", "m1")).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(wait_v4_stored(&fake, 2).await, 2);
    let writes = route(&fake, V4_ADD).await;
    assert_eq!(writes[0].status, Some(202));
    assert_eq!(writes[0].idempotency_key.as_deref(), Some("t1:m1"));
    let uuid = writes[0].thread.clone().expect("thread uuid in the path");
    assert_ne!(uuid, "t1");

    let (_, second) = chat(&assistant, &turn("t1", "any flats?", "m2")).await;
    assert_eq!(second["trace"]["memory"]["source"], "zep", "{second}");
    assert_eq!(
        second["trace"]["routing"]["slot_sources"]["bedrooms"], "memory",
        "{second}"
    );
    let reads = route(&fake, "GET /api/v4/threads/{id}/context").await;
    assert!(
        reads
            .iter()
            .any(|e| e.thread.as_deref() == Some(uuid.as_str()) && e.status == Some(200)),
        "{reads:?}"
    );
    assistant.shutdown(Duration::from_secs(2)).await;
    fake.shutdown().await;
}

#[tokio::test]
async fn a_lost_v4_answer_is_replayed_by_zep_not_stored_twice() {
    let fake = zep::start().await;
    // The app-side dedupe is off: only the Idempotency-Key can prevent the duplicate here.
    let regression = Regression {
        idempotency: false,
        ..Regression::default()
    };
    let assistant = start(Config {
        regression,
        ..v4(&fake.url(), Mode::WriteOnly)
    })
    .await;
    zep::faults(
        &fake,
        "[[rule]]\nroutes = [\"writes\"]\nwhen = { burst = 1, period = 1000 }\n\
         fault = { kind = \"connection\", mode = \"reset_mid_body\" }\n",
    )
    .await;
    chat(&assistant, &turn("t1", "2BR in Girne", "m1")).await;
    // A later turn on the same thread is written after the first one is settled.
    chat(&assistant, &turn("t1", "show me", "m2")).await;
    assert_eq!(wait_v4_stored(&fake, 4).await, 4);

    let writes = route(&fake, V4_ADD).await;
    assert_eq!(writes.len(), 3, "{writes:?}");
    assert_eq!(writes[0].faults, ["reset_mid_body"]);
    assert_eq!(
        (
            writes[1].idempotency_key.as_deref(),
            writes[1].replayed,
            writes[1].stored
        ),
        (Some("t1:m1"), true, 0)
    );
    assert!(fake
        .admin()
        .duplicates()
        .await
        .expect("duplicates")
        .per_thread
        .is_empty());
    assistant.shutdown(Duration::from_secs(2)).await;
    fake.shutdown().await;
}
