//! Just enough HTTP/1.1 to own the socket: read requests (Content-Length or chunked bodies,
//! `Expect: 100-continue`, keep-alive) and write responses byte by byte, so that the front can pause,
//! dribble, reset or garble an answer where a regular server framework would not let it.
//!
//! Not a general server: no pipelining guarantees beyond reading requests in order, no upgrades.

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted.
pub const MAX_BODY: usize = 8 * 1024 * 1024;
/// Most headers accepted.
const MAX_HEADERS: usize = 100;

/// A request as read from the socket.
#[derive(Debug)]
pub struct Request {
    /// Method, as sent.
    pub method: String,
    /// Request target: path and query.
    pub target: String,
    /// Headers.
    pub headers: HeaderMap,
    /// Body, de-chunked.
    pub body: Bytes,
    /// Whether the connection stays open after the answer.
    pub keep_alive: bool,
}

impl Request {
    /// The path without the query string.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("/")
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The peer went away or the socket failed; nothing to answer.
    Io(std::io::Error),
    /// The request is malformed: answer with this status and message, then close.
    Bad(u16, String),
}

impl From<std::io::Error> for ReadError {
    fn from(err: std::io::Error) -> Self {
        ReadError::Io(err)
    }
}

/// Reads the next request; `Ok(None)` when the peer closed the connection between requests.
pub async fn read_request(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
) -> Result<Option<Request>, ReadError> {
    loop {
        if !buf.is_empty() {
            if let Some(request) = parse_head(stream, buf).await? {
                return Ok(Some(request));
            }
        }
        if stream.read_buf(buf).await? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(ReadError::Io(std::io::ErrorKind::UnexpectedEof.into()))
            };
        }
    }
}

/// Parses a complete head from `buf` and reads its body; `None` when the head is still partial.
async fn parse_head(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
) -> Result<Option<Request>, ReadError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut slots);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(ReadError::Bad(
                431,
                "request head is larger than 64 KiB".into(),
            ));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ReadError::Bad(
                431,
                format!("more than {MAX_HEADERS} request headers"),
            ));
        }
        Err(err) => {
            return Err(ReadError::Bad(
                400,
                format!("malformed HTTP request: {err}"),
            ))
        }
    };
    let method = parsed.method.unwrap_or("GET").to_string();
    let target = parsed.path.unwrap_or("/").to_string();
    let minor = parsed.version.unwrap_or(1);
    let mut headers = HeaderMap::with_capacity(parsed.headers.len());
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| ReadError::Bad(400, format!("invalid header name {:?}", h.name)))?;
        let value = HeaderValue::from_bytes(h.value)
            .map_err(|_| ReadError::Bad(400, format!("invalid value for header {}", h.name)))?;
        headers.append(name, value);
    }
    buf.advance(head_len);
    let connection = headers
        .get(http::header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let keep_alive = if minor == 0 {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    let chunked = headers
        .get(http::header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let expects_continue = headers
        .get(http::header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let length = match headers.get(http::header::CONTENT_LENGTH) {
        None => 0,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .ok_or_else(|| ReadError::Bad(400, "Content-Length is not a number".into()))?,
    };
    if length > MAX_BODY {
        return Err(ReadError::Bad(
            413,
            format!("request body of {length} bytes is over the 8 MiB limit"),
        ));
    }
    if expects_continue && (chunked || buf.len() < length) {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }
    let body = if chunked {
        read_chunked(stream, buf).await?
    } else {
        while buf.len() < length {
            if stream.read_buf(buf).await? == 0 {
                return Err(ReadError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
        buf.split_to(length).freeze()
    };
    Ok(Some(Request {
        method,
        target,
        headers,
        body,
        keep_alive,
    }))
}

async fn read_line(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<String, ReadError> {
    loop {
        if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.advance(end + 2);
            return Ok(line);
        }
        if buf.len() > 4096 {
            return Err(ReadError::Bad(400, "chunk size line is too long".into()));
        }
        if stream.read_buf(buf).await? == 0 {
            return Err(ReadError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
}

async fn read_chunked(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<Bytes, ReadError> {
    let mut body = BytesMut::new();
    loop {
        let line = read_line(stream, buf).await?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ReadError::Bad(400, format!("invalid chunk size {size_text:?}")))?;
        if size == 0 {
            while !read_line(stream, buf).await?.is_empty() {}
            return Ok(body.freeze());
        }
        if body.len() + size > MAX_BODY {
            return Err(ReadError::Bad(
                413,
                "chunked request body is over the 8 MiB limit".into(),
            ));
        }
        while buf.len() < size + 2 {
            if stream.read_buf(buf).await? == 0 {
                return Err(ReadError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
        body.extend_from_slice(&buf[..size]);
        if &buf[size..size + 2] != b"\r\n" {
            return Err(ReadError::Bad(400, "chunk is not followed by CRLF".into()));
        }
        buf.advance(size + 2);
    }
}

/// A response to write.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status.
    pub status: u16,
    /// Headers (without framing headers: Content-Length and Connection are added when written).
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, body: &serde_json::Value) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Response {
            status,
            headers,
            body: Bytes::from(body.to_string()),
        }
    }

    /// The status line and headers, with Content-Length and, when closing, `Connection: close`.
    pub fn head(&self, keep_alive: bool) -> Vec<u8> {
        let reason = http::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Unknown");
        let mut head = format!("HTTP/1.1 {} {reason}\r\n", self.status).into_bytes();
        for (name, value) in &self.headers {
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(format!("content-length: {}\r\n", self.body.len()).as_bytes());
        if !keep_alive {
            head.extend_from_slice(b"connection: close\r\n");
        }
        head.extend_from_slice(b"\r\n");
        head
    }
}

/// Keep-alive connections from the front to the wiremock backend: one request at a time per
/// connection, written and read in the calling task (no connection task, no channels), which keeps
/// the second hop cheap.
#[derive(Debug)]
pub struct Pool {
    addr: std::net::SocketAddr,
    idle: std::sync::Mutex<Vec<TcpStream>>,
}

/// Most idle backend connections kept.
const MAX_IDLE: usize = 256;

impl Pool {
    /// A pool for the server at `addr`.
    pub fn new(addr: std::net::SocketAddr) -> Pool {
        Pool {
            addr,
            idle: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Sends one request and reads the whole response. A reused connection that turns out closed is
    /// replaced by a fresh one once.
    pub async fn send(
        &self,
        method: &str,
        target: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> std::io::Result<Response> {
        let request = encode_request(method, target, headers, body);
        let reused = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        if let Some(stream) = reused {
            if let Ok(done) = self.exchange(stream, &request).await {
                return Ok(done);
            }
        }
        let stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        self.exchange(stream, &request).await
    }

    async fn exchange(&self, mut stream: TcpStream, request: &[u8]) -> std::io::Result<Response> {
        stream.write_all(request).await?;
        let mut buf = BytesMut::with_capacity(4096);
        let (response, reusable) = read_response(&mut stream, &mut buf).await?;
        if reusable && buf.is_empty() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push(stream);
            }
        }
        Ok(response)
    }
}

fn encode_request(method: &str, target: &str, headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: backend\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// Reads a response with a Content-Length (or chunked) body; returns it and whether the
/// connection may be reused.
async fn read_response(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
) -> std::io::Result<(Response, bool)> {
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    loop {
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut slots);
        match parsed.parse(buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let status = parsed.code.unwrap_or(500);
                let mut headers = HeaderMap::with_capacity(parsed.headers.len());
                let mut length = None;
                let mut chunked = false;
                let mut reusable = true;
                for h in parsed.headers.iter() {
                    let lower = h.name.to_ascii_lowercase();
                    match lower.as_str() {
                        "content-length" => {
                            let text = std::str::from_utf8(h.value).unwrap_or("");
                            length =
                                Some(text.trim().parse::<usize>().map_err(|_| {
                                    invalid(format!("bad content-length {text:?}"))
                                })?);
                        }
                        "transfer-encoding" => chunked = h.value.eq_ignore_ascii_case(b"chunked"),
                        "connection" => reusable = !h.value.eq_ignore_ascii_case(b"close"),
                        "keep-alive" => {}
                        _ => {
                            if let (Ok(name), Ok(value)) = (
                                HeaderName::from_bytes(h.name.as_bytes()),
                                HeaderValue::from_bytes(h.value),
                            ) {
                                headers.append(name, value);
                            }
                        }
                    }
                }
                buf.advance(head_len);
                let body = if chunked {
                    read_chunked(stream, buf).await.map_err(|e| match e {
                        ReadError::Io(err) => err,
                        ReadError::Bad(_, message) => invalid(message),
                    })?
                } else {
                    let length = length
                        .ok_or_else(|| invalid("backend response without content-length".into()))?;
                    while buf.len() < length {
                        if stream.read_buf(buf).await? == 0 {
                            return Err(std::io::ErrorKind::UnexpectedEof.into());
                        }
                    }
                    buf.split_to(length).freeze()
                };
                return Ok((
                    Response {
                        status,
                        headers,
                        body,
                    },
                    reusable,
                ));
            }
            Ok(httparse::Status::Partial) => {
                if buf.len() > MAX_HEAD {
                    return Err(invalid("backend response head too large".into()));
                }
            }
            Err(err) => return Err(invalid(format!("malformed backend response: {err}"))),
        }
        if stream.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}
