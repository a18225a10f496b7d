//! The fake Zep's TCP front: the listening socket clients connect to. For each request it asks the
//! fault engine what to do, forwards to the wiremock backend (which renders Zep's answers and the
//! HTTP faults), then delivers the answer itself — on time, late, dribbled, cut off or not at all —
//! and records the request in the journal and the metrics.
//!
//! Only what wiremock cannot do lives here: timing of the bytes on the wire and transport faults.
//! Admin routes, `/metrics` and `/healthz` pass straight through, never faulted or journaled.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use http::{HeaderMap, HeaderValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::faults::{Action, Decision, RateLimitHeaders};
use super::http1::{self, Pool, ReadError, Request, Response};
use super::journal::Entry;
use super::program::{ConnectionFault, ConnectionMode};
use super::routes::{self, Matched, RouteKind};
use super::{Shared, FAULT_HEADER, INTERNAL_PREFIX, REPLAYED_HEADER, STORED_HEADER};

/// Request headers never passed to the backend: hop-by-hop ones, and our internal ones.
const DROPPED_REQUEST_HEADERS: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "upgrade",
    "expect",
    "host",
];

/// Runs the accept loop until `shutdown` flips; open connections are dropped with the loop.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    backend: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let backend = Arc::new(Pool::new(backend));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let connection = Connection {
                        stream,
                        buf: BytesMut::with_capacity(8 * 1024),
                        shared: shared.clone(),
                        backend: backend.clone(),
                    };
                    connections.spawn(connection.run());
                }
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("fake zep: accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
        while connections.try_join_next().is_some() {}
    }
    connections.abort_all();
}

struct Connection {
    stream: TcpStream,
    buf: BytesMut,
    shared: Arc<Shared>,
    backend: Arc<Pool>,
}

/// What a delivered answer looked like on the wire.
struct Delivered {
    status: Option<u16>,
    retry_after: Option<String>,
    stored: u32,
    replayed: bool,
    keep_alive: bool,
}

impl Connection {
    async fn run(mut self) {
        loop {
            let request = match http1::read_request(&mut self.stream, &mut self.buf).await {
                Ok(Some(request)) => request,
                Ok(None) => return,
                Err(ReadError::Io(err)) => {
                    tracing::debug!("fake zep: connection dropped while reading a request: {err}");
                    return;
                }
                Err(ReadError::Bad(status, message)) => {
                    let body = serde_json::json!({ "message": message });
                    let _ = self
                        .stream
                        .write_all(&response_bytes(&Response::json(status, &body), false))
                        .await;
                    return;
                }
            };
            if !self.answer(request).await {
                return;
            }
        }
    }

    /// Answers one request; returns whether the connection stays open.
    async fn answer(&mut self, request: Request) -> bool {
        let received = Instant::now();
        let path = request.path().to_string();
        if path.starts_with(INTERNAL_PREFIX) || path == "/metrics" || path == "/healthz" {
            let response = self.forward(&request, None).await;
            return self.write(&response, request.keep_alive).await && request.keep_alive;
        }
        let matched = routes::classify(&request.method, &path);
        let decision = match &matched {
            Some(m) => self.shared.lock_engine().decide(m.route, received),
            None => Decision::default(),
        };
        let delivered = match decision.action.clone() {
            Action::Connection(fault) if !fault_sends_headers(fault.mode) => {
                self.break_connection(fault).await;
                Delivered {
                    status: None,
                    retry_after: None,
                    stored: 0,
                    replayed: false,
                    keep_alive: false,
                }
            }
            action => {
                let fault_header = match &action {
                    Action::Respond(fault) => serde_json::to_string(fault).ok(),
                    _ => None,
                };
                let mut response = self.forward(&request, fault_header).await;
                add_rate_limit_headers(&mut response.headers, decision.rate_limit);
                let stored = take_internal(&mut response.headers, STORED_HEADER)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let replayed = take_internal(&mut response.headers, REPLAYED_HEADER).is_some();
                let retry_after = response
                    .headers
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                let connection = match action {
                    Action::Connection(fault) => Some(fault),
                    _ => None,
                };
                let keep_alive = self
                    .deliver(&response, &decision, connection, request.keep_alive)
                    .await;
                Delivered {
                    status: Some(response.status),
                    retry_after,
                    stored,
                    replayed,
                    keep_alive,
                }
            }
        };
        self.record(&request, matched, &decision, &delivered, received);
        delivered.keep_alive
    }

    /// Sends the request to the wiremock backend; a backend failure becomes a 500 naming it.
    async fn forward(&self, request: &Request, fault: Option<String>) -> Response {
        let mut headers = HeaderMap::with_capacity(request.headers.len() + 1);
        for (name, value) in &request.headers {
            let name_text = name.as_str();
            if DROPPED_REQUEST_HEADERS.contains(&name_text)
                || name_text == "content-length"
                || name_text.starts_with("x-rollgate-")
            {
                continue;
            }
            headers.append(name.clone(), value.clone());
        }
        if let Some(value) = fault.and_then(|f| HeaderValue::from_str(&f).ok()) {
            headers.insert(FAULT_HEADER, value);
        }
        let sent = self
            .backend
            .send(&request.method, &request.target, &headers, &request.body)
            .await;
        sent.unwrap_or_else(|err| {
            tracing::error!(
                "fake zep: backend request {} {} failed: {err}",
                request.method,
                request.target
            );
            Response::json(
                500,
                &serde_json::json!({ "message": format!("fake zep backend failed: {err}") }),
            )
        })
    }

    async fn write(&mut self, response: &Response, keep_alive: bool) -> bool {
        self.stream
            .write_all(&response_bytes(response, keep_alive))
            .await
            .is_ok()
    }

    /// Writes the answer with the decision's timing and any fault that needs the headers sent first.
    /// Returns whether the connection stays open.
    async fn deliver(
        &mut self,
        response: &Response,
        decision: &Decision,
        fault: Option<ConnectionFault>,
        keep_alive: bool,
    ) -> bool {
        pause(decision.headers_delay).await;
        let Some(fault) = fault else {
            if decision.body_delay.is_zero() {
                return self.write(response, keep_alive).await && keep_alive;
            }
            if self
                .stream
                .write_all(&response.head(keep_alive))
                .await
                .is_err()
            {
                return false;
            }
            let _ = self.stream.flush().await;
            pause(decision.body_delay).await;
            return self.stream.write_all(&response.body).await.is_ok() && keep_alive;
        };
        let head = response.head(false);
        if self.stream.write_all(&head).await.is_err() {
            return false;
        }
        match fault.mode {
            ConnectionMode::ResetAfterHeaders => self.reset().await,
            ConnectionMode::ResetMidBody => {
                let half = response.body.len() / 2;
                let _ = self.stream.write_all(&response.body[..half]).await;
                self.reset().await;
            }
            _ => {
                // Dribble: the rest of the answer, a few bytes at a time.
                pause(decision.body_delay).await;
                for chunk in response.body.chunks(fault.chunk_bytes) {
                    if self.stream.write_all(chunk).await.is_err()
                        || self.stream.flush().await.is_err()
                    {
                        return false;
                    }
                    tokio::time::sleep(fault.interval).await;
                }
            }
        }
        false
    }

    /// Faults that send no HTTP at all.
    async fn break_connection(&mut self, fault: ConnectionFault) {
        match fault.mode {
            ConnectionMode::Hang => {
                // Never answer; wait for the client to give up (the server's shutdown drops us too).
                let mut scratch = [0u8; 1024];
                while matches!(self.stream.read(&mut scratch).await, Ok(n) if n > 0) {}
            }
            ConnectionMode::Close => {
                let _ = self.stream.shutdown().await;
            }
            ConnectionMode::Garbage => {
                let bytes = self.shared.lock_engine().garbage(64);
                let _ = self.stream.write_all(&bytes).await;
                let _ = self.stream.shutdown().await;
            }
            _ => self.reset().await,
        }
    }

    /// Aborts the connection with a TCP RST (linger 0, then close).
    async fn reset(&mut self) {
        let _ = self.stream.flush().await;
        if let Err(err) = self.stream.set_zero_linger() {
            tracing::warn!("fake zep: cannot set SO_LINGER 0 for a reset: {err}");
        }
        // Dropping the stream after this sends RST; the caller closes the connection.
    }

    fn record(
        &self,
        request: &Request,
        matched: Option<Matched>,
        decision: &Decision,
        delivered: &Delivered,
        received: Instant,
    ) {
        let route = matched.as_ref().map_or("unmatched", |m| m.route.pattern());
        let is_write = matched
            .as_ref()
            .is_some_and(|m| m.route.kind() == RouteKind::Write);
        let body = inspect_body(&request.body);
        let idempotency_key = request.header("idempotency-key").map(String::from);
        let write_key = is_write.then(|| {
            idempotency_key.clone().unwrap_or_else(|| {
                body_key(
                    route,
                    matched.as_ref().and_then(|m| m.thread.as_deref()),
                    &request.body,
                )
            })
        });
        let duration = received.elapsed();
        self.shared.metrics.observe(
            route,
            delivered.status,
            &decision.applied,
            duration.as_secs_f64(),
        );
        let entry = Entry {
            seq: 0,
            at_ms: received.duration_since(self.shared.started).as_secs_f64() * 1e3,
            method: request.method.clone(),
            route: route.to_string(),
            path: request.path().to_string(),
            thread: matched.and_then(|m| m.thread),
            status: delivered.status,
            faults: decision.applied.iter().map(|s| s.to_string()).collect(),
            retry_after: delivered.retry_after.clone(),
            idempotency_key,
            write_key,
            replayed: delivered.replayed,
            stored: delivered.stored,
            messages: body.messages,
            user_message: body.user_message,
            body_bytes: request.body.len(),
            pii: body.pii,
            duration_ms: duration.as_secs_f64() * 1e3,
        };
        self.shared.lock_journal().push(entry);
    }
}

/// Sleeps for `delay`, and not at all for zero: a zero-length tokio sleep still waits for the next
/// timer tick (about 1 ms), which would add latency to every request with no latency fault.
async fn pause(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

fn fault_sends_headers(mode: ConnectionMode) -> bool {
    matches!(
        mode,
        ConnectionMode::ResetAfterHeaders | ConnectionMode::ResetMidBody | ConnectionMode::Dribble
    )
}

fn response_bytes(response: &Response, keep_alive: bool) -> Vec<u8> {
    let mut bytes = response.head(keep_alive);
    bytes.extend_from_slice(&response.body);
    bytes
}

fn take_internal(headers: &mut HeaderMap, name: &str) -> Option<String> {
    headers
        .remove(name)
        .and_then(|v| v.to_str().ok().map(String::from))
}

fn add_rate_limit_headers(headers: &mut HeaderMap, limits: Option<RateLimitHeaders>) {
    let Some(limits) = limits else { return };
    for (name, value) in [
        ("x-ratelimit-limit", limits.limit.to_string()),
        ("x-ratelimit-remaining", limits.remaining.to_string()),
        ("x-ratelimit-reset", limits.reset.to_string()),
        ("x-ratelimit-increment", "1".to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

/// What the journal wants to know about a request body.
struct BodyFacts {
    messages: u32,
    user_message: bool,
    pii: Vec<String>,
}

fn inspect_body(body: &[u8]) -> BodyFacts {
    let text = String::from_utf8_lossy(body);
    let pii = crate::pii::kinds(&text)
        .into_iter()
        .map(|k| k.as_str().to_string())
        .collect();
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let messages = parsed
        .as_ref()
        .and_then(|v| v.get("messages"))
        .and_then(|m| m.as_array());
    let user_message = messages.is_some_and(|list| {
        list.iter().any(|m| {
            m.get("role")
                .or_else(|| m.get("role_type"))
                .and_then(|r| r.as_str())
                == Some("user")
        })
    });
    BodyFacts {
        messages: messages.map_or(0, |list| list.len() as u32),
        user_message,
        pii,
    }
}

/// Identity of a write without an `Idempotency-Key`: a retry re-sends the same bytes.
fn body_key(route: &str, thread: Option<&str>, body: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (route, thread, body).hash(&mut hasher);
    format!("body:{:016x}", hasher.finish())
}
