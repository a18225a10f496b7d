//! Helpers: start an assistant with test-sized settings, talk to it over HTTP and WebSocket, and
//! read single series back from its `/metrics`.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rollgate::assistant::brain::LatencyDist;
use rollgate::assistant::breaker::BreakerConfig;
use rollgate::assistant::mode::{DowngradeConfig, Mode};
use rollgate::assistant::turn_log::TurnLogTarget;
use rollgate::assistant::write_worker::WriteConfig;
use rollgate::assistant::{Assistant, Config};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// A config for tests: no model time, quick backoff, no per-turn log.
pub fn config(zep_url: &str, mode: Mode) -> Config {
    Config {
        zep_url: zep_url.to_string(),
        mode,
        brain_latency: LatencyDist::Fixed(Duration::ZERO),
        turn_log: TurnLogTarget::Off,
        write: WriteConfig {
            backoff_base: Duration::from_millis(20),
            backoff_cap: Duration::from_millis(100),
            ..WriteConfig::default()
        },
        breaker: BreakerConfig {
            failure_threshold: 3,
            open_for: Duration::from_secs(60),
        },
        downgrade: DowngradeConfig {
            auth_failures: 3,
            duration: Duration::from_secs(60),
        },
        ..Config::default()
    }
}

/// Starts an assistant.
pub async fn start(config: Config) -> Assistant {
    Assistant::start(config).await.expect("assistant starts")
}

/// A chat turn body.
pub fn turn(thread: &str, message: &str, client_msg_id: &str) -> Value {
    json!({ "thread_id": thread, "user_id": "u1", "message": message, "client_msg_id": client_msg_id })
}

/// A loopback HTTP client (no proxy).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// Posts a turn to `/api/chat`; returns the status and the JSON body.
pub async fn chat(assistant: &Assistant, body: &Value) -> (u16, Value) {
    chat_with(&http(), assistant, body).await
}

/// [`chat`] over a given client (a warm client keeps connection set-up out of a measured turn).
pub async fn chat_with(
    client: &reqwest::Client,
    assistant: &Assistant,
    body: &Value,
) -> (u16, Value) {
    let response = client
        .post(format!("{}/api/chat", assistant.url()))
        .json(body)
        .send()
        .await
        .expect("chat answered");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

/// A WebSocket connection to `/ws/chat`.
pub struct Ws(
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
);

impl Ws {
    /// Connects.
    pub async fn connect(assistant: &Assistant) -> Ws {
        let url = format!("ws://{}/ws/chat", assistant.addr());
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        Ws(stream)
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: &str) {
        self.0.send(Message::text(text)).await.expect("frame sent");
    }

    /// The next JSON frame (bounded wait).
    pub async fn next(&mut self) -> Value {
        let frame = tokio::time::timeout(Duration::from_secs(10), self.0.next())
            .await
            .expect("a frame within 10 s")
            .expect("socket open")
            .expect("frame ok");
        match frame {
            Message::Text(text) => serde_json::from_str(text.as_str()).expect("JSON frame"),
            other => panic!("unexpected frame {other:?}"),
        }
    }

    /// Sends a turn; returns the token texts and the final trace (or error) frame.
    pub async fn turn(&mut self, body: &Value) -> (Vec<String>, Value) {
        self.send_text(&body.to_string()).await;
        let mut tokens = Vec::new();
        loop {
            let frame = self.next().await;
            match frame["type"].as_str() {
                Some("token") => {
                    tokens.push(frame["text"].as_str().unwrap_or_default().to_string())
                }
                _ => return (tokens, frame),
            }
        }
    }
}

/// The value of one series of the assistant's exposition, such as
/// `memory_zep_write_skipped_total{reason="circuit_open",variant="baseline"}`.
pub fn metric(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .unwrap_or_else(|| panic!("series {series} not in exposition:\n{exposition}"))
        .trim()
        .parse()
        .expect("numeric value")
}

/// Fetches `/metrics` over HTTP.
pub async fn scrape(assistant: &Assistant) -> String {
    let response = http()
        .get(format!("{}/metrics", assistant.url()))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.expect("text")
}

/// A URL nothing listens on (a port bound, then released).
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
/// Polls `check` every 20 ms until it holds or `limit` passes; returns whether it held.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
