//! Backfill against the fake Zep: a dry run writes nothing, a run interrupted by injected faults
//! resumes from its checkpoint, and no message is ever stored twice.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use rollgate::assistant::backfill::{self, BackfillConfig, BackfillError};
use rollgate::assistant::zep_client::ApiVersion;

use super::zep::{self, ADD_MESSAGES};

/// 3 threads x 4 recent messages, then one message older than 30 days.
fn history(dir: &Path) -> PathBuf {
    let mut text = String::new();
    for thread in ["t1", "t2", "t3"] {
        for n in 0..4 {
            let role = if n % 2 == 0 { "user" } else { "assistant" };
            let content = if n == 0 {
                "2BR in Girne, mail me at jane@example.com"
            } else {
                "noted"
            };
            text.push_str(&format!(
                "{{\"thread_id\":\"{thread}\",\"user_id\":\"u-{thread}\",\"role\":\"{role}\",\"content\":\"{content}\",\
                 \"created_at\":\"2026-11-20T10:00:0{n}Z\",\"message_id\":\"{thread}-{n}\"}}\n"
            ));
        }
    }
    text.push_str(
        "{\"thread_id\":\"t9\",\"user_id\":\"u9\",\"role\":\"user\",\"content\":\"old\",\
         \"created_at\":\"2025-01-01T00:00:00Z\",\"message_id\":\"t9-0\"}\n",
    );
    let path = dir.join("history.jsonl");
    std::fs::write(&path, text).expect("write history");
    path
}

fn config(input: &Path, zep_url: &str) -> BackfillConfig {
    BackfillConfig {
        input: input.to_path_buf(),
        checkpoint: input.with_extension("checkpoint"),
        since: Some(Duration::from_secs(30 * 86_400)),
        now: humantime::parse_rfc3339("2026-11-25T00:00:00Z").unwrap_or(SystemTime::UNIX_EPOCH),
        dry_run: false,
        zep_url: zep_url.to_string(),
        zep_key: "rollgate-dev-key".into(),
        zep_api: ApiVersion::V3,
        max_attempts: 1,
        backoff_base: Duration::from_millis(10),
        attempt_timeout: Duration::from_secs(2),
        progress: false,
        metrics_file: None,
    }
}

#[tokio::test]
async fn a_dry_run_counts_and_writes_nothing() {
    let fake = zep::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let input = history(dir.path());
    let summary = backfill::run(&BackfillConfig {
        dry_run: true,
        ..config(&input, &fake.url())
    })
    .await
    .expect("dry run");
    assert_eq!(
        (
            summary.lines,
            summary.written,
            summary.batches,
            summary.threads,
            summary.too_old
        ),
        (13, 12, 3, 3, 1)
    );
    assert!(
        zep::all_entries(&fake).await.is_empty(),
        "a dry run calls nothing"
    );

    // The same through the command line, against the real clock: one message from now, one old.
    let now = humantime::format_rfc3339(SystemTime::now());
    let cli_input = dir.path().join("recent.jsonl");
    std::fs::write(
        &cli_input,
        format!(
            "{{\"thread_id\":\"t1\",\"user_id\":\"u1\",\"role\":\"user\",\"content\":\"hi\",\"created_at\":\"{now}\",\"message_id\":\"a\"}}\n\
             {{\"thread_id\":\"t1\",\"user_id\":\"u1\",\"role\":\"user\",\"content\":\"hi\",\"created_at\":\"2020-01-01T00:00:00Z\",\"message_id\":\"b\"}}\n"
        ),
    )
    .expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args([
            "assistant",
            "backfill",
            "--since",
            "30d",
            "--dry-run",
            "--zep-url",
            &fake.url(),
            "--input",
        ])
        .arg(&cli_input)
        .output()
        .expect("rollgate runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with("would write ") && stdout.contains("1 older than --since"),
        "{stdout}"
    );
    assert!(zep::all_entries(&fake).await.is_empty());
    fake.shutdown().await;
}

#[tokio::test]
async fn a_backfill_interrupted_by_faults_resumes_and_never_writes_twice() {
    let fake = zep::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let input = history(dir.path());
    let metrics_file = dir.path().join("backfill.prom");
    let config = BackfillConfig {
        metrics_file: Some(metrics_file.clone()),
        ..config(&input, &fake.url())
    };
    let progress = |series: &str| {
        let text = std::fs::read_to_string(&metrics_file).expect("metrics file written");
        super::support::metric(&text, series)
    };
    // Every second message write fails with a 503; one attempt per batch.
    zep::faults(&fake, "[[rule]]\nroutes = [\"writes\"]\nwhen = { every = 2 }\nfault = { kind = \"status\", status = 503 }\n")
        .await;

    let mut stops = Vec::new();
    let summary = loop {
        match backfill::run(&config).await {
            Ok(summary) => break summary,
            Err(BackfillError::Write { line, written, .. }) => {
                stops.push((line, written));
                // The metrics file says where the run stopped.
                assert_eq!(progress("zep_backfill_failed"), 1.0);
                assert_eq!(progress("zep_backfill_running"), 0.0);
                assert_eq!(
                    progress("zep_backfill_messages{state=\"pending\"}")
                        + progress("zep_backfill_messages{state=\"already_done\"}")
                        + progress("zep_backfill_messages{state=\"written\"}"),
                    12.0
                );
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
        assert!(stops.len() < 5, "no progress: {stops:?}");
    };
    // Stopped at the 2nd batch (line 5) with 4 written, then at the 3rd (line 9) with 8.
    assert_eq!(stops, [(5, 4), (9, 8)]);
    assert_eq!(
        (summary.already_done, summary.written, summary.batches),
        (8, 4, 1)
    );
    assert_eq!(
        [
            progress("zep_backfill_messages{state=\"written\"}"),
            progress("zep_backfill_messages{state=\"pending\"}"),
            progress("zep_backfill_messages{state=\"already_done\"}"),
            progress("zep_backfill_messages{state=\"too_old\"}"),
            progress("zep_backfill_batches_total"),
            progress("zep_backfill_failed"),
            progress("zep_backfill_running"),
        ],
        [4.0, 0.0, 8.0, 1.0, 1.0, 0.0, 0.0]
    );
    let text = std::fs::read_to_string(&metrics_file).expect("metrics file");
    if let Some(result) = super::metrics::promtool_check(&text) {
        result.expect("promtool accepts the backfill metrics file");
    }

    // Done: a rerun writes nothing.
    let again = backfill::run(&config).await.expect("rerun");
    assert_eq!((again.written, again.already_done), (0, 13));

    for thread in ["t1", "t2", "t3"] {
        assert_eq!(zep::stored(&fake, thread).await, 4, "{thread}");
    }
    assert_eq!(zep::stored(&fake, "t9").await, 0, "older than --since");
    assert!(fake
        .admin()
        .duplicates()
        .await
        .expect("duplicates")
        .per_thread
        .is_empty());
    let entries = zep::all_entries(&fake).await;
    assert_eq!(
        entries.iter().filter(|e| e.route == ADD_MESSAGES).count(),
        5,
        "3 batches + 2 failed attempts"
    );
    assert!(entries.iter().all(|e| e.pii.is_empty()), "PII reached Zep");
    fake.shutdown().await;
}

#[tokio::test]
async fn retries_get_a_batch_through_a_flaky_zep_in_one_run() {
    let fake = zep::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let input = history(dir.path());
    let config = BackfillConfig {
        max_attempts: 3,
        ..config(&input, &fake.url())
    };
    zep::faults(&fake, "[[rule]]\nroutes = [\"writes\"]\nwhen = { every = 2 }\nfault = { kind = \"status\", status = 503 }\n")
        .await;
    let summary = backfill::run(&config).await.expect("one run is enough");
    assert_eq!((summary.written, summary.batches), (12, 3));
    for thread in ["t1", "t2", "t3"] {
        assert_eq!(zep::stored(&fake, thread).await, 4, "{thread}");
    }
    assert!(fake
        .admin()
        .duplicates()
        .await
        .expect("duplicates")
        .per_thread
        .is_empty());
    fake.shutdown().await;
}
