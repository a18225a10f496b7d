//! A small client for the Zep v3 threads API (under `/api/v2`), the calls the memory layer makes:
//! create a user and a thread, add messages, read the thread's context, and list recent messages
//! (to check whether an ambiguous write landed before retrying it).
//!
//! Every failure is classified once here ([`FailureClass`]) so the write worker, the read path,
//! the breaker and the auth downgrade agree on what a 429, a 401 or a hang is. The client makes one
//! HTTP attempt per call: retries, deadlines and the breaker belong to its callers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use thiserror::Error;

use super::breaker::CallResult;

/// v4 thread UUIDs remembered (all forgotten at once past this; a forgotten one is recreated
/// through the same `Idempotency-Key`, which replays the same UUID).
const MAX_THREAD_UUIDS: usize = 200_000;

/// Longest `Retry-After` honoured; a bigger value is capped (the Python SDK caps at 30-60 s).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// What kind of failure a Zep call had; the label value for `memory_zep_context_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// No full answer within the deadline.
    Timeout,
    /// Connection refused, reset or closed early.
    Connection,
    /// 5xx.
    ServerError,
    /// 429.
    RateLimited,
    /// 401 or 403.
    Auth,
    /// Another 4xx.
    ClientError,
    /// 2xx with a body that is not what Zep sends.
    BadResponse,
}

impl FailureClass {
    /// Label value and trace reason.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Timeout => "timeout",
            FailureClass::Connection => "connection",
            FailureClass::ServerError => "server_error",
            FailureClass::RateLimited => "rate_limited",
            FailureClass::Auth => "auth",
            FailureClass::ClientError => "client_error",
            FailureClass::BadResponse => "bad_response",
        }
    }

    /// Whether a write that failed this way is worth retrying.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            FailureClass::Timeout
                | FailureClass::Connection
                | FailureClass::ServerError
                | FailureClass::RateLimited
        )
    }

    /// Whether the request may have been stored although it failed (so a retry could duplicate it).
    pub fn ambiguous(self) -> bool {
        matches!(
            self,
            FailureClass::Timeout | FailureClass::Connection | FailureClass::ServerError
        )
    }

    /// How the breaker counts it: 5xx, connection failures and timeouts are failures; 429 and
    /// other 4xx are neutral.
    pub fn breaker_result(self) -> CallResult {
        match self {
            FailureClass::Timeout | FailureClass::Connection | FailureClass::ServerError => {
                CallResult::Failure
            }
            FailureClass::RateLimited
            | FailureClass::Auth
            | FailureClass::ClientError
            | FailureClass::BadResponse => CallResult::Neutral,
        }
    }
}

/// A failed Zep call.
#[derive(Debug, Error)]
pub enum ZepError {
    /// Zep answered with a non-2xx status.
    #[error("{method} {url}: HTTP {status}: {body}")]
    Status {
        /// HTTP method.
        method: &'static str,
        /// Full URL.
        url: String,
        /// Status code.
        status: u16,
        /// `Retry-After`, when sent (seconds or an HTTP date), capped at [`MAX_RETRY_AFTER`].
        retry_after: Option<Duration>,
        /// The start of the body.
        body: String,
    },
    /// No answer: refused, reset, closed, or the per-attempt timeout.
    #[error("{method} {url}: {source}")]
    Transport {
        /// HTTP method.
        method: &'static str,
        /// Full URL.
        url: String,
        /// What reqwest said.
        source: reqwest::Error,
    },
    /// v4: a write to a thread this client has not created (call `ensure_thread` first).
    #[error("thread {thread} has no Zep UUID yet")]
    UnknownThread {
        /// The app's thread id.
        thread: String,
    },
    /// A 2xx whose body is not Zep's.
    #[error("{method} {url}: unexpected answer body: {reason}")]
    Body {
        /// HTTP method.
        method: &'static str,
        /// Full URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ZepError {
    /// The failure's class.
    pub fn class(&self) -> FailureClass {
        match self {
            ZepError::Status { status, .. } => match status {
                401 | 403 => FailureClass::Auth,
                429 => FailureClass::RateLimited,
                500..=599 => FailureClass::ServerError,
                _ => FailureClass::ClientError,
            },
            ZepError::Transport { source, .. } if source.is_timeout() => FailureClass::Timeout,
            // reqwest reports a body cut short as a "decode" error: our own JSON parsing makes
            // `Body` errors, so every transport error past the timeout is a broken connection.
            ZepError::Transport { .. } => FailureClass::Connection,
            ZepError::Body { .. } => FailureClass::BadResponse,
            ZepError::UnknownThread { .. } => FailureClass::ClientError,
        }
    }

    /// The `Retry-After` Zep sent, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ZepError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// One message as written to Zep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutMessage {
    /// `user` or `assistant`.
    pub role: String,
    /// The (redacted) text.
    pub content: String,
    /// The app's id for this message (`{client_msg_id}:{role}`), kept in Zep's metadata so a retry
    /// can check whether the message already landed.
    pub message_id: String,
}

/// Which Zep API the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiVersion {
    /// zep-cloud 3.x threads API under `/api/v2`: thread ids chosen by the app, no server-side
    /// idempotency (the app's dedupe record and a "did it land?" check before a retry).
    #[default]
    V3,
    /// zep-cloud 4.x under `/api/v4`: users and threads get UUIDs from Zep, and `Idempotency-Key`
    /// makes a retried POST replay the first answer instead of storing twice.
    V4,
}

/// Client for one Zep base URL and key.
#[derive(Debug, Clone)]
pub struct ZepClient {
    http: reqwest::Client,
    api: String,
    key: String,
    version: ApiVersion,
    /// v4: the app's thread id -> Zep's thread UUID (shared by clones and [`ZepClient::with_timeout`]).
    uuids: Arc<Mutex<HashMap<String, String>>>,
}

impl ZepClient {
    /// A client for `base_url` (for example `http://127.0.0.1:8600`; the `/api/v2` or `/api/v4`
    /// prefix is added) with a per-attempt timeout.
    pub fn new(
        base_url: &str,
        key: &str,
        version: ApiVersion,
        attempt_timeout: Duration,
    ) -> Result<ZepClient, ZepError> {
        let base = base_url.trim_end_matches('/');
        let base = base
            .strip_suffix("/api/v2")
            .or_else(|| base.strip_suffix("/api/v4"))
            .unwrap_or(base);
        let api = match version {
            ApiVersion::V3 => format!("{base}/api/v2"),
            ApiVersion::V4 => format!("{base}/api/v4"),
        };
        let http = Self::http(&api, attempt_timeout)?;
        Ok(ZepClient {
            http,
            api,
            key: key.to_string(),
            version,
            uuids: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// The same client with another per-attempt timeout, sharing the v4 thread UUIDs.
    pub fn with_timeout(&self, attempt_timeout: Duration) -> Result<ZepClient, ZepError> {
        Ok(ZepClient {
            http: Self::http(&self.api, attempt_timeout)?,
            ..self.clone()
        })
    }

    /// The API version spoken.
    pub fn version(&self) -> ApiVersion {
        self.version
    }

    fn http(api: &str, attempt_timeout: Duration) -> Result<reqwest::Client, ZepError> {
        reqwest::Client::builder()
            .timeout(attempt_timeout)
            .connect_timeout(attempt_timeout.min(Duration::from_secs(2)))
            .pool_max_idle_per_host(64)
            .no_proxy()
            .build()
            .map_err(|source| ZepError::Transport {
                method: "CLIENT",
                url: api.to_string(),
                source,
            })
    }

    /// The API root (`…/api/v2` or `…/api/v4`).
    pub fn api_url(&self) -> &str {
        &self.api
    }

    async fn send(
        &self,
        method: &'static str,
        url: String,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, bytes::Bytes), ZepError> {
        let response = request
            .header("Authorization", format!("Api-Key {}", self.key))
            .send()
            .await
            .map_err(|source| ZepError::Transport {
                method,
                url: url.clone(),
                source,
            })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_retry_after);
        let body = response
            .bytes()
            .await
            .map_err(|source| ZepError::Transport {
                method,
                url: url.clone(),
                source,
            })?;
        if (200..300).contains(&status) {
            Ok((status, body))
        } else {
            let text = String::from_utf8_lossy(&body);
            let body = text
                .chars()
                .take(200)
                .collect::<String>()
                .trim()
                .to_string();
            Err(ZepError::Status {
                method,
                url,
                status,
                retry_after,
                body,
            })
        }
    }

    fn uuid_of(&self, thread_id: &str) -> Option<String> {
        let uuids = self.uuids.lock().unwrap_or_else(|p| p.into_inner());
        uuids.get(thread_id).cloned()
    }

    /// The path segment that names a thread: its id on v3, its UUID on v4 (`None` when this
    /// client has not created it).
    fn thread_segment(&self, thread_id: &str) -> Option<String> {
        match self.version {
            ApiVersion::V3 => Some(thread_id.to_string()),
            ApiVersion::V4 => self.uuid_of(thread_id),
        }
    }

    /// Creates the user and the thread. On v3 an existing user or thread (400 or 409) is fine.
    /// On v4 both creations carry a deterministic `Idempotency-Key`, so a repeat replays the
    /// first answer and yields the same UUIDs.
    pub async fn ensure_thread(&self, thread_id: &str, user_id: &str) -> Result<(), ZepError> {
        if self.version == ApiVersion::V4 {
            if self.uuid_of(thread_id).is_some() {
                return Ok(());
            }
            let user_uuid = self
                .create_v4(
                    "users",
                    &format!("user:{user_id}"),
                    json!({ "user_id": user_id }),
                )
                .await?;
            let thread_uuid = self
                .create_v4(
                    "threads",
                    &format!("thread:{thread_id}"),
                    json!({ "user_uuid": user_uuid }),
                )
                .await?;
            let mut uuids = self.uuids.lock().unwrap_or_else(|p| p.into_inner());
            if uuids.len() >= MAX_THREAD_UUIDS {
                uuids.clear();
            }
            uuids.insert(thread_id.to_string(), thread_uuid);
            return Ok(());
        }
        let url = format!("{}/users", self.api);
        let request = self.http.post(&url).json(&json!({ "user_id": user_id }));
        accept_existing(self.send("POST", url, request).await)?;
        let url = format!("{}/threads", self.api);
        let request = self
            .http
            .post(&url)
            .json(&json!({ "thread_id": thread_id, "user_id": user_id }));
        accept_existing(self.send("POST", url, request).await)
    }

    /// v4: POSTs `body` to `/{what}` with `Idempotency-Key: key`; returns the answer's `uuid`.
    async fn create_v4(
        &self,
        what: &str,
        key: &str,
        body: serde_json::Value,
    ) -> Result<String, ZepError> {
        let url = format!("{}/{what}", self.api);
        let request = self
            .http
            .post(&url)
            .header("Idempotency-Key", key)
            .json(&body);
        let (_, answer) = self.send("POST", url.clone(), request).await?;
        #[derive(Deserialize)]
        struct Created {
            uuid: String,
        }
        serde_json::from_slice::<Created>(&answer)
            .map(|created| created.uuid)
            .map_err(|err| ZepError::Body {
                method: "POST",
                url,
                reason: err.to_string(),
            })
    }

    /// Adds messages to a thread in one call, sending `idempotency_key` as `Idempotency-Key`
    /// (v4 replays a repeat instead of storing it again; v3 ignores the header, which still makes
    /// the retries of one logical write recognisable in a journal).
    pub async fn add_messages(
        &self,
        thread_id: &str,
        messages: &[OutMessage],
        idempotency_key: &str,
    ) -> Result<(), ZepError> {
        let Some(segment) = self.thread_segment(thread_id) else {
            return Err(ZepError::UnknownThread {
                thread: thread_id.to_string(),
            });
        };
        let url = format!("{}/threads/{}/messages", self.api, segment);
        let body: Vec<_> = messages
            .iter()
            .map(|m| json!({ "role": m.role, "content": m.content, "metadata": { "message_id": m.message_id } }))
            .collect();
        let request = self
            .http
            .post(&url)
            .header("Idempotency-Key", idempotency_key)
            .json(&json!({ "messages": body }));
        self.send("POST", url, request).await.map(|_| ())
    }

    /// The thread's context string. A thread Zep does not know yet (404, or on v4 one this
    /// client never created) has an empty context.
    pub async fn get_context(&self, thread_id: &str) -> Result<String, ZepError> {
        let Some(segment) = self.thread_segment(thread_id) else {
            return Ok(String::new());
        };
        let url = format!("{}/threads/{}/context", self.api, segment);
        let request = self.http.get(&url);
        match self.send("GET", url.clone(), request).await {
            Ok((_, body)) => {
                #[derive(Deserialize)]
                struct Context {
                    context: Option<String>,
                }
                let parsed: Context =
                    serde_json::from_slice(&body).map_err(|err| ZepError::Body {
                        method: "GET",
                        url,
                        reason: err.to_string(),
                    })?;
                Ok(parsed.context.unwrap_or_default())
            }
            Err(ZepError::Status { status: 404, .. }) => Ok(String::new()),
            Err(err) => Err(err),
        }
    }

    /// Whether one of the thread's last `lastn` messages carries `message_id` in its metadata
    /// (v3; v4 has no such route and needs none: `Idempotency-Key` dedupes on the server).
    pub async fn has_message(
        &self,
        thread_id: &str,
        message_id: &str,
        lastn: usize,
    ) -> Result<bool, ZepError> {
        if self.version == ApiVersion::V4 {
            return Ok(false);
        }
        let url = format!("{}/threads/{}/messages?lastn={lastn}", self.api, thread_id);
        let request = self.http.get(&url);
        match self.send("GET", url.clone(), request).await {
            Ok((_, body)) => {
                #[derive(Deserialize)]
                struct Stored {
                    #[serde(default)]
                    metadata: Option<serde_json::Value>,
                }
                #[derive(Deserialize)]
                struct Page {
                    #[serde(default)]
                    messages: Option<Vec<Stored>>,
                }
                let page: Page = serde_json::from_slice(&body).map_err(|err| ZepError::Body {
                    method: "GET",
                    url,
                    reason: err.to_string(),
                })?;
                Ok(page.messages.unwrap_or_default().iter().any(|m| {
                    m.metadata
                        .as_ref()
                        .and_then(|meta| meta.get("message_id"))
                        .and_then(|v| v.as_str())
                        == Some(message_id)
                }))
            }
            Err(ZepError::Status { status: 404, .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Whether anything answers HTTP at the base URL (any status counts: only a transport
    /// failure means unreachable).
    pub async fn probe(&self) -> Result<(), ZepError> {
        // A nil UUID is a valid identifier on both versions; any status means Zep answers.
        let url = format!(
            "{}/threads/00000000-0000-0000-0000-000000000000/context",
            self.api
        );
        let request = self.http.get(&url);
        match self.send("GET", url, request).await {
            Ok(_) | Err(ZepError::Status { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

fn accept_existing(result: Result<(u16, bytes::Bytes), ZepError>) -> Result<(), ZepError> {
    match result {
        Ok(_)
        | Err(ZepError::Status {
            status: 400 | 409, ..
        }) => Ok(()),
        Err(err) => Err(err),
    }
}

/// Parses `Retry-After`: delta seconds (fractions accepted) or an HTTP date; capped at
/// [`MAX_RETRY_AFTER`]. Unparsable values are ignored.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(seconds) = value.parse::<f64>() {
        if !(seconds.is_finite() && seconds >= 0.0) {
            return None;
        }
        Duration::try_from_secs_f64(seconds).ok()?
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_dates_and_caps() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("3600"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn statuses_are_classified_for_retry_and_breaker() {
        let status = |status| ZepError::Status {
            method: "POST",
            url: "u".into(),
            status,
            retry_after: None,
            body: String::new(),
        };
        assert_eq!(status(503).class(), FailureClass::ServerError);
        assert_eq!(status(503).class().breaker_result(), CallResult::Failure);
        assert_eq!(status(429).class(), FailureClass::RateLimited);
        assert_eq!(status(429).class().breaker_result(), CallResult::Neutral);
        assert!(status(429).class().retryable());
        assert_eq!(status(401).class(), FailureClass::Auth);
        assert_eq!(status(403).class(), FailureClass::Auth);
        assert!(!status(401).class().retryable());
        assert_eq!(status(422).class(), FailureClass::ClientError);
    }

    #[test]
    fn the_api_prefix_is_added_once() {
        let client = |url: &str, version| {
            ZepClient::new(url, "k", version, Duration::from_secs(1)).expect("client")
        };
        assert_eq!(
            client("http://127.0.0.1:1/", ApiVersion::V3).api_url(),
            "http://127.0.0.1:1/api/v2"
        );
        assert_eq!(
            client("http://127.0.0.1:1/api/v2", ApiVersion::V3).api_url(),
            "http://127.0.0.1:1/api/v2"
        );
        assert_eq!(
            client("http://127.0.0.1:1/api/v2", ApiVersion::V4).api_url(),
            "http://127.0.0.1:1/api/v4"
        );
        assert_eq!(
            client("http://127.0.0.1:1", ApiVersion::V4).api_url(),
            "http://127.0.0.1:1/api/v4"
        );
    }
}
