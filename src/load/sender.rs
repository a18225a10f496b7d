//! How the attack sends an HTTP request: hyper's pooled HTTP/1 client (plain TCP, or TLS checked
//! with the platform's verifier), given requests the [`Plan`](super::pacer::Plan) prepared in
//! full: method, URI, headers and body.
//!
//! This is the HTTP engine reqwest itself runs on, without reqwest's per-request layers: its
//! redirect layer prints and re-parses every URI, its retry layer clones every request in case it
//! is sent again, and its URL type is parsed (host, IDNA) once more per request. None of that is
//! wanted here: a redirect or a refused request is the target's answer, recorded as it came. In
//! `perf record` of `cargo bench --bench load -- --only paced` (2,000 req/s on 2 cores), reqwest's
//! `send` was 11% of the load thread's samples and its redirect layer alone 7.7%; with this sender
//! the load's CPU per request fell from 1.2× oha's to 0.75× (see the README).

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, USER_AGENT};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;

use super::recorder::ErrorKind;

/// One request, complete: what the plan builds and the sender sends.
pub type HttpRequest = http::Request<Bytes>;

/// The attack's HTTP client.
pub struct Sender {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
    user_agent: HeaderValue,
}

impl Sender {
    /// A client keeping up to `idle_per_host` connections open per target, with `timeout` for
    /// each request (connect, headers and body together). Fails only when TLS cannot be set up.
    pub fn new(idle_per_host: usize, timeout: Duration) -> Result<Sender, String> {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .try_with_platform_verifier()
            .map_err(|e| format!("TLS setup: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(idle_per_host.max(1))
            // A request that found its pooled connection closed is an error of the target's to
            // record, not a request to send again.
            .retry_canceled_requests(false)
            .build(connector);
        Ok(Sender {
            client,
            timeout,
            user_agent: HeaderValue::from_static(concat!("rollgate/", env!("CARGO_PKG_VERSION"))),
        })
    }

    /// Sends `request` and reads the whole answer; returns when the headers came (if they did)
    /// and the failure, if any: a status of 400 or more, no answer within the timeout, a refused
    /// connection or a broken one.
    pub async fn send(&self, request: HttpRequest) -> (Option<Instant>, Option<ErrorKind>) {
        let deadline = Instant::now() + self.timeout;
        let (mut parts, body) = request.into_parts();
        parts
            .headers
            .entry(USER_AGENT)
            .or_insert_with(|| self.user_agent.clone());
        let request = http::Request::from_parts(parts, Full::new(body));
        let response = match tokio::time::timeout_at(deadline, self.client.request(request)).await {
            Err(_) => return (None, Some(ErrorKind::Timeout)),
            Ok(Err(err)) if err.is_connect() => return (None, Some(ErrorKind::Connect)),
            Ok(Err(_)) => return (None, Some(ErrorKind::Transport)),
            Ok(Ok(response)) => response,
        };
        let first_byte = Instant::now();
        let status = response.status().as_u16();
        let error = match tokio::time::timeout_at(deadline, response.into_body().collect()).await {
            Err(_) => Some(ErrorKind::Timeout),
            Ok(Err(_)) => Some(ErrorKind::Transport),
            Ok(Ok(_)) if status >= 500 => Some(ErrorKind::Status5xx),
            Ok(Ok(_)) if status >= 400 => Some(ErrorKind::Status4xx),
            Ok(Ok(_)) => None,
        };
        (Some(first_byte), error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server answering each connection's requests with `answer`, then closing it; returns its
    /// address and the request heads it read.
    async fn server(answer: &'static str) -> (String, tokio::sync::mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = vec![0u8; 4096];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let _ = tx
                    .send(String::from_utf8_lossy(&buf[..n]).to_string())
                    .await;
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        (url, rx)
    }

    fn get(url: &str) -> HttpRequest {
        http::Request::get(format!("{url}/x"))
            .header("authorization", "Api-Key k")
            .body(Bytes::new())
            .unwrap()
    }

    #[tokio::test]
    async fn statuses_are_told_apart_and_the_request_goes_out_as_built() {
        let sender = Sender::new(4, Duration::from_secs(2)).unwrap();
        let (ok, mut heads) =
            server("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
        let (first_byte, error) = sender.send(get(&ok)).await;
        assert!(first_byte.is_some());
        assert_eq!(error, None);
        let head = heads.recv().await.unwrap().to_lowercase();
        assert!(head.starts_with("get /x http/1.1\r\n"), "{head}");
        assert!(head.contains("authorization: api-key k"), "{head}");
        assert!(head.contains("user-agent: rollgate/"), "{head}");
        assert!(head.contains("host: 127.0.0.1:"), "{head}");

        for (answer, want) in [
            (
                "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                ErrorKind::Status5xx,
            ),
            (
                "HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                ErrorKind::Status4xx,
            ),
            // Headers, then the connection closes before the promised body.
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 10\r\nconnection: close\r\n\r\nabc",
                ErrorKind::Transport,
            ),
        ] {
            let (url, _heads) = server(answer).await;
            assert_eq!(sender.send(get(&url)).await.1, Some(want), "{answer}");
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connect_error_and_a_silent_server_a_timeout() {
        let sender = Sender::new(4, Duration::from_millis(300)).unwrap();
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        assert_eq!(
            sender.send(get(&url)).await,
            (None, Some(ErrorKind::Connect))
        );

        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", silent.local_addr().unwrap());
        let started = Instant::now();
        assert_eq!(
            sender.send(get(&url)).await,
            (None, Some(ErrorKind::Timeout))
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(silent);
    }
}
