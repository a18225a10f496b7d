//! Bad input: malformed chat turns (HTTP and WebSocket), an unreachable Zep at start, a bad
//! regression file on the command line. Each gets a clear answer; nothing panics.

use std::process::Command;

use rollgate::assistant::mode::Mode;
use serde_json::json;

use super::support::{chat, config, dead_url, eventually, metric, scrape, start, turn, Ws};

#[tokio::test]
async fn bad_chat_bodies_get_400_with_a_message() {
    let assistant = start(config(&dead_url(), Mode::Off)).await;
    let (status, body) = chat(&assistant, &json!({ "thread_id": "t1", "message": "hi" })).await;
    assert_eq!(status, 400);
    let message = body["error"].as_str().expect("error message");
    assert!(message.contains("user_id"), "{message}");

    let (status, body) = chat(&assistant, &turn("t/1", "hi", "m1")).await;
    assert_eq!(status, 400);
    assert!(body["error"]
        .as_str()
        .expect("message")
        .contains("`thread_id` may only contain"));

    let (status, body) = chat(&assistant, &turn("t1", "", "m1")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("field `message` must not be empty"))
    );

    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .post(format!("{}/api/chat", assistant.url()))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status().as_u16(), 400);
    let text = response.text().await.expect("body");
    assert!(text.contains("error"), "{text}");

    let metrics = scrape(&assistant).await;
    assert!(
        metrics.contains("assistant_requests_total{transport=\"http\",variant=\"baseline\"} 4"),
        "{metrics}"
    );
    assert!(metrics.contains("assistant_errors_total{transport=\"http\",variant=\"baseline\"} 0"));
    assistant.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_bad_websocket_frame_gets_an_error_frame_and_the_socket_stays_usable() {
    let assistant = start(config(&dead_url(), Mode::Off)).await;
    let mut ws = Ws::connect(&assistant).await;
    ws.send_text("hello?").await;
    let frame = ws.next().await;
    assert_eq!(frame["type"], "error");
    assert_eq!(frame["status"], 400);
    assert!(frame["message"]
        .as_str()
        .expect("message")
        .starts_with("invalid chat turn"));

    let (tokens, trace) = ws.turn(&turn("t1", "2BR in Girne", "m1")).await;
    assert!(!tokens.is_empty());
    assert_eq!(trace["type"], "trace");
    assert_eq!(
        trace["memory"],
        json!({ "used": false, "mode": "off", "reason": "mode_off" })
    );
    assistant.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test]
async fn an_unreachable_zep_at_start_turns_memory_off_and_the_app_still_answers() {
    let assistant = start(config(&dead_url(), Mode::ReadWrite)).await;
    let (status, body) = chat(&assistant, &turn("t1", "nearest pharmacy", "m1")).await;
    assert_eq!(status, 200);
    assert_eq!(body["agent"], "local_info");
    assert_eq!(
        body["trace"]["memory"],
        json!({ "used": false, "mode": "off", "reason": "zep_unreachable" })
    );
    assert_eq!(body["trace"]["write"], "mode_off");
    let metrics = scrape(&assistant).await;
    assert!(
        metrics.contains("memory_mode_gauge{variant=\"baseline\"} 0"),
        "{metrics}"
    );
    assistant.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test]
async fn memory_comes_back_when_an_unreachable_zep_starts_answering() {
    let url = dead_url();
    let probe_interval = std::time::Duration::from_millis(100);
    let assistant = start(rollgate::assistant::Config {
        probe_interval,
        ..config(&url, Mode::WriteOnly)
    })
    .await;
    let gauge = "memory_mode_gauge{variant=\"baseline\"}";
    assert_eq!(metric(&scrape(&assistant).await, gauge), 0.0);
    // Something starts answering HTTP on that address (any status counts as reachable).
    let listener = tokio::net::TcpListener::bind(url.trim_start_matches("http://"))
        .await
        .expect("rebind the port");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, axum::Router::new()).await;
    });
    let back = eventually(std::time::Duration::from_secs(10), || async {
        metric(&scrape(&assistant).await, gauge) == 1.0
    })
    .await;
    assert!(back, "memory mode never came back to write_only");
    let (_, answer) = chat(&assistant, &turn("t1", "2BR in Girne", "m1")).await;
    assert_eq!(answer["trace"]["memory"]["mode"], "write_only");
    server.abort();
    assistant.shutdown(std::time::Duration::from_secs(1)).await;
}

#[test]
fn the_first_stdout_line_is_the_url() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args([
            "assistant",
            "--listen",
            "127.0.0.1:0",
            "--for",
            "3s",
            "--turn-log",
            "off",
            "--zep-url",
        ])
        .arg(dead_url())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("rollgate runs");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut first).expect("a line");
    let status = child.wait().expect("exits after --for");
    assert!(
        first.starts_with("http://127.0.0.1:") && !first.ends_with(":0\n"),
        "{first}"
    );
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_bad_regression_file_is_an_error_naming_file_line_and_field() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("slow-canary.toml");
    std::fs::write(
        &path,
        "[brain]\nextra_latency = \"150ms\"\nerror_rate = 3\n",
    )
    .expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(["assistant", "--listen", "127.0.0.1:0", "--regression"])
        .arg(&path)
        .output()
        .expect("rollgate runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "{}:3: field `brain.error_rate`: 3 is outside 0..=1",
        path.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(
        output.stdout.is_empty(),
        "nothing on stdout: {}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn every_shipped_regression_fixture_loads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/regressions");
    let mut loaded = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures/regressions exists") {
        let path = entry.expect("entry").path();
        let regression = rollgate::assistant::regression::Regression::load(&path)
            .unwrap_or_else(|err| panic!("{err}"));
        assert_ne!(
            regression,
            Default::default(),
            "{} changes nothing",
            path.display()
        );
        loaded += 1;
    }
    assert!(loaded >= 4, "{loaded} fixtures");
}
