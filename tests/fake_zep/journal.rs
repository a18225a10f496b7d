//! The journal and its derived queries, over real HTTP.

use std::time::Duration;

use rollgate::fake_zep::journal::Query;
use rollgate::fake_zep::{Config, Program};
use serde_json::json;

use super::support::{start, start_with};

#[tokio::test]
async fn a_retry_after_a_timed_out_write_is_a_duplicate() {
    // The write is stored, but the answer comes too late for the client, which retries.
    let zep = start("[[rule]]\nroutes = [\"writes\"]\nfault = { kind = \"latency\", distribution = \"fixed\", delay = \"500ms\" }\n").await;
    zep.thread("t1").await;
    let body = json!({ "messages": [{ "role": "user", "content": "2BR in Girne" }] });
    let url = zep.url("/api/v2/threads/t1/messages");
    let first = zep
        .authed(zep.http.post(&url))
        .json(&body)
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(first.expect_err("times out").is_timeout());
    zep.server.admin().set_faults("").await.unwrap();
    // Let the first request finish on the server side before looking.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let retry = zep.send(zep.authed(zep.http.post(&url)).json(&body)).await;
    assert_eq!(retry.status, 200);

    let admin = zep.server.admin();
    let dups = admin.duplicates().await.unwrap();
    assert_eq!(dups.per_thread.get("t1"), Some(&1), "{dups:?}");
    assert_eq!(dups.writes[0].stored_times, 2);
    // One logical write, two attempts, both stored.
    let writes = admin.attempts(Some("t1")).await.unwrap();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].attempts.len(), 2);
}

#[tokio::test]
async fn attempts_show_retry_after_spacing() {
    let zep = start(
        "[[rule]]\nroutes = [\"writes\"]\nwhen = { burst = 1, period = 1000 }\nfault = { kind = \"rate_limit\", retry_after = \"1s\" }\n",
    )
    .await;
    zep.thread("t1").await;
    let limited = zep.add_message("t1", "show me").await;
    assert_eq!(limited.status, 429);
    let wait: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(zep.add_message("t1", "show me").await.status, 200);
    zep.add_message("t1", "nearest pharmacy").await;

    let writes = zep.server.admin().attempts(Some("t1")).await.unwrap();
    assert_eq!(writes.len(), 2, "two logical writes");
    let retried = &writes[0];
    assert_eq!(retried.attempts.len(), 2);
    assert_eq!(retried.attempts[0].status, Some(429));
    assert_eq!(retried.attempts[0].retry_after.as_deref(), Some("1"));
    assert_eq!(retried.attempts[0].faults, ["rate_limit"]);
    assert!(
        retried.gaps_ms[0] >= 1000.0,
        "retry {} ms after the 429",
        retried.gaps_ms[0]
    );
    assert_eq!(retried.stored_times, 1);
    assert!(zep
        .server
        .admin()
        .duplicates()
        .await
        .unwrap()
        .writes
        .is_empty());
}

#[tokio::test]
async fn reads_are_counted_per_turn() {
    let zep = start("").await;
    zep.thread("t1").await;
    zep.get("/api/v2/threads/t1/context").await;
    zep.add_message("t1", "2BR in Girne").await;
    zep.get("/api/v2/threads/t1/context").await;
    zep.get("/api/v2/threads/t1/messages?lastn=4").await;
    zep.add_message("t1", "show me").await;
    let reads = zep.server.admin().reads_per_turn().await.unwrap();
    assert_eq!(reads.get("t1"), Some(&vec![1, 2]));
}

#[tokio::test]
async fn journal_is_bounded_and_counts_what_it_dropped() {
    let zep = start_with(Config {
        journal_size: 5,
        program: Program::default(),
        ..Config::default()
    })
    .await;
    for _ in 0..12 {
        zep.get("/api/v2/threads/x/context").await;
    }
    let snap = zep.server.admin().journal(&Query::default()).await.unwrap();
    assert_eq!(
        (snap.capacity, snap.total, snap.evicted, snap.entries.len()),
        (5, 12, 7, 5)
    );
    assert_eq!(snap.entries[0].seq, 7);
    assert_eq!(snap.entries[4].status, Some(404));
    assert_eq!(snap.entries[4].route, "GET /api/v2/threads/{id}/context");
}

#[tokio::test]
async fn journal_flags_pii_and_filters() {
    let zep = start("").await;
    zep.thread("t1").await;
    zep.thread("t2").await;
    zep.add_message("t1", "write to jane@example.com").await;
    zep.add_message("t1", "call me on +90 533 123 45 67").await;
    zep.add_message("t2", "card 4111 1111 1111 1111").await;
    zep.add_message("t2", "2BR in Girne under 150000").await;
    let admin = zep.server.admin();
    let t1 = admin
        .journal(&Query {
            thread: Some("t1".into()),
            route: Some("POST /api/v2/threads/{id}/messages".into()),
            ..Query::default()
        })
        .await
        .unwrap();
    let flags: Vec<Vec<String>> = t1.entries.iter().map(|e| e.pii.clone()).collect();
    assert_eq!(
        flags,
        [vec!["email".to_string()], vec!["phone".to_string()]]
    );
    assert!(t1
        .entries
        .iter()
        .all(|e| e.user_message && e.messages == 1 && e.stored == 1));
    let last = admin
        .journal(&Query {
            limit: Some(2),
            ..Query::default()
        })
        .await
        .unwrap();
    let flags: Vec<Vec<String>> = last.entries.iter().map(|e| e.pii.clone()).collect();
    assert_eq!(flags, [vec!["card".to_string()], vec![]]);
    // Admin requests are not journaled.
    assert!(last
        .entries
        .iter()
        .all(|e| !e.path.starts_with("/__rollgate")));
}
