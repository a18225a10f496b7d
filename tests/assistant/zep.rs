//! Helpers for tests against the fake Zep: start one, load a fault program, read its journal.

use std::time::Duration;

use rollgate::fake_zep::journal::{Entry, Query};
use rollgate::fake_zep::{Config, FakeZep};

/// A fake Zep with no faults.
pub async fn start() -> FakeZep {
    FakeZep::start(Config::default())
        .await
        .expect("fake zep starts")
}

/// Replaces the fault program.
pub async fn faults(zep: &FakeZep, program: &str) {
    zep.admin()
        .set_faults(program)
        .await
        .expect("fault program accepted");
}

/// Journal entries of one thread and route pattern.
pub async fn entries(zep: &FakeZep, thread: &str, route: &str) -> Vec<Entry> {
    let query = Query {
        thread: Some(thread.into()),
        route: Some(route.into()),
        ..Query::default()
    };
    zep.admin().journal(&query).await.expect("journal").entries
}

/// Every journal entry.
pub async fn all_entries(zep: &FakeZep) -> Vec<Entry> {
    zep.admin()
        .journal(&Query::default())
        .await
        .expect("journal")
        .entries
}

/// Messages stored in `thread`, according to the journal.
pub async fn stored(zep: &FakeZep, thread: &str) -> u32 {
    entries(zep, thread, ADD_MESSAGES)
        .await
        .iter()
        .map(|e| e.stored)
        .sum()
}

/// Waits (bounded) until `thread` has at least `n` stored messages; returns how many it has.
pub async fn wait_stored(zep: &FakeZep, thread: &str, n: u32) -> u32 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let count = stored(zep, thread).await;
        if count >= n || tokio::time::Instant::now() >= deadline {
            return count;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Route pattern of v3 message writes.
pub const ADD_MESSAGES: &str = "POST /api/v2/threads/{id}/messages";
/// Route pattern of v3 context reads.
pub const GET_CONTEXT: &str = "GET /api/v2/threads/{id}/context";
