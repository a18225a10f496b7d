//! Helpers: start a fake Zep with a program, call it, read raw bytes off a socket.

use std::time::Duration;

use reqwest::header::HeaderMap;
use rollgate::fake_zep::{Config, FakeZep, Program, DEFAULT_API_KEY};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A running fake Zep and a client for it.
pub struct Zep {
    pub server: FakeZep,
    pub http: reqwest::Client,
}

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

pub async fn start(program: &str) -> Zep {
    start_with(Config {
        program: Program::parse(program, "test").expect("test program parses"),
        seed: 42,
        ..Config::default()
    })
    .await
}

pub async fn start_with(config: Config) -> Zep {
    let server = FakeZep::start(config).await.expect("fake zep starts");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    Zep { server, http }
}

impl Zep {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request completes");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body reads");
        Reply {
            status,
            headers,
            text,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.authed(self.http.post(self.url(path))).json(&body))
            .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.authed(self.http.get(self.url(path)))).await
    }

    pub fn authed(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.header("authorization", format!("Api-Key {DEFAULT_API_KEY}"))
    }

    /// Creates user `u1` and thread `thread` through the v3 API.
    pub async fn thread(&self, thread: &str) {
        let user = self
            .post("/api/v2/users", serde_json::json!({ "user_id": "u1" }))
            .await;
        assert!(user.status == 201 || user.status == 400, "{user:?}");
        let created = self
            .post(
                "/api/v2/threads",
                serde_json::json!({ "thread_id": thread, "user_id": "u1" }),
            )
            .await;
        assert_eq!(created.status, 201, "{created:?}");
    }

    pub async fn add_message(&self, thread: &str, content: &str) -> Reply {
        self.post(
            &format!("/api/v2/threads/{thread}/messages"),
            serde_json::json!({ "messages": [{ "role": "user", "content": content }] }),
        )
        .await
    }
}

/// What a raw socket saw after sending one request.
#[derive(Debug)]
pub struct Raw {
    pub bytes: Vec<u8>,
    /// The read ended with a connection reset (RST) rather than a clean close.
    pub reset: bool,
    /// Time from sending to the first byte, when any arrived.
    pub first_byte: Option<Duration>,
    pub total: Duration,
}

impl Raw {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Sends a raw GET of `path` (with a valid key) and reads until close, reset or `limit`.
pub async fn raw_get(zep: &Zep, path: &str, limit: Duration) -> Raw {
    let mut stream = TcpStream::connect(zep.server.addr()).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nhost: zep\r\nauthorization: Api-Key {DEFAULT_API_KEY}\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let started = tokio::time::Instant::now();
    let mut bytes = Vec::new();
    let mut first_byte = None;
    let mut reset = false;
    let mut chunk = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(started + limit, stream.read(&mut chunk)).await {
            Err(_) => break,
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => {
                first_byte.get_or_insert(started.elapsed());
                bytes.extend_from_slice(&chunk[..n]);
            }
            Ok(Err(err)) => {
                reset = err.kind() == std::io::ErrorKind::ConnectionReset;
                break;
            }
        }
    }
    Raw {
        bytes,
        reset,
        first_byte,
        total: started.elapsed(),
    }
}
