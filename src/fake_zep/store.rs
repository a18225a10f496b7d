//! Zep's data and semantics, in memory: users, threads (v3) and sessions (v2, the same records),
//! v4 threads with `Idempotency-Key` replay, message limits, and a deterministic context summary
//! built from the stored messages so a reader can tell that a write arrived.
//!
//! Not for faults (the engine decides those) nor for HTTP (the backend turns [`Reply`] into a
//! response). Every handler returns a reply, never panics: a malformed body is Zep's 400.

use std::collections::{HashMap, VecDeque};
use std::time::SystemTime;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::routes::{ApiVersion, Route};

/// At most this many messages per add-messages call (Zep's limit).
pub const MAX_MESSAGES_PER_CALL: usize = 30;
/// Stored messages kept per thread; older ones are dropped (the thread's total still counts them).
const MAX_MESSAGES_PER_THREAD: usize = 1_000;
/// v4 idempotency records kept (oldest forgotten first).
const MAX_IDEMPOTENCY_RECORDS: usize = 100_000;
/// Messages shown in a context summary.
const CONTEXT_MESSAGES: usize = 8;
/// Roles Zep accepts.
const ROLES: [&str; 6] = ["norole", "system", "assistant", "user", "function", "tool"];

/// A route handler's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
    /// Messages this request stored (0 for reads and errors).
    pub stored: usize,
    /// The answer is a replay of an earlier request with the same `Idempotency-Key`.
    pub replayed: bool,
}

impl Reply {
    fn ok(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body,
            stored: 0,
            replayed: false,
        }
    }
}

/// Zep's error body for `version`: `{"message"}` on v2/v3, `{"error": {...}}` on v4.
pub fn error_body(version: ApiVersion, status: u16, message: &str) -> Value {
    match version {
        ApiVersion::V2 | ApiVersion::V3 => json!({ "message": message }),
        ApiVersion::V4 => json!({
            "error": {
                "code": v4_error_code(status),
                "message": message,
                "param": null,
                "request_id": format!("req_{:016x}", rand::rng().random::<u64>()),
                "details": null,
            }
        }),
    }
}

fn v4_error_code(status: u16) -> &'static str {
    match status {
        400 => "invalid_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        409 => "conflict",
        429 => "rate_limit_exceeded",
        _ => "internal_error",
    }
}

fn error(version: ApiVersion, status: u16, message: impl AsRef<str>) -> Reply {
    Reply::ok(status, error_body(version, status, message.as_ref()))
}

/// The parts of a request a route handler reads.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The route.
    pub route: Route,
    /// The `{id}` path segment.
    pub thread: Option<&'a str>,
    /// The raw query string (without `?`).
    pub query: &'a str,
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<&'a str>,
    /// The request body.
    pub body: &'a [u8],
}

/// Everything Zep stores.
#[derive(Debug)]
pub struct Store {
    max_message_chars: usize,
    rng: StdRng,
    users: HashMap<String, User>,
    threads: HashMap<String, Thread>,
    idempotency: HashMap<(Route, String), Reply>,
    idempotency_order: VecDeque<(Route, String)>,
}

#[derive(Debug, Clone)]
struct User {
    uuid: Uuid,
    user_id: String,
    fields: Value,
    created_at: String,
}

#[derive(Debug)]
struct Thread {
    user_id: String,
    created_at: String,
    messages: VecDeque<Message>,
    total: u64,
}

#[derive(Debug, Clone)]
struct Message {
    uuid: Uuid,
    role: String,
    name: Option<String>,
    content: String,
    metadata: Value,
    created_at: String,
}

#[derive(Deserialize)]
struct RawMessages {
    messages: Vec<RawMessage>,
    #[serde(default)]
    return_context: bool,
}

#[derive(Deserialize)]
struct RawMessage {
    role: Option<String>,
    role_type: Option<String>,
    name: Option<String>,
    content: String,
    #[serde(default)]
    metadata: Value,
}

impl Store {
    /// An empty store; `seed` makes generated UUIDs reproducible.
    pub fn new(max_message_chars: usize, seed: u64) -> Store {
        Store {
            max_message_chars,
            rng: StdRng::seed_from_u64(seed),
            users: HashMap::new(),
            threads: HashMap::new(),
            idempotency: HashMap::new(),
            idempotency_order: VecDeque::new(),
        }
    }

    /// Runs the route's handler.
    pub fn handle(&mut self, call: Call) -> Reply {
        let version = call.route.version();
        if version == ApiVersion::V4 && call.route.method() == "POST" {
            if let Some(key) = call.idempotency_key {
                let record = (call.route, key.to_string());
                if let Some(previous) = self.idempotency.get(&record) {
                    return Reply {
                        stored: 0,
                        replayed: true,
                        ..previous.clone()
                    };
                }
                let reply = self.dispatch(call);
                if reply.status < 500 {
                    self.remember(record, reply.clone());
                }
                return reply;
            }
        }
        self.dispatch(call)
    }

    fn remember(&mut self, record: (Route, String), reply: Reply) {
        if self.idempotency_order.len() >= MAX_IDEMPOTENCY_RECORDS {
            if let Some(oldest) = self.idempotency_order.pop_front() {
                self.idempotency.remove(&oldest);
            }
        }
        self.idempotency_order.push_back(record.clone());
        self.idempotency.insert(record, reply);
    }

    fn dispatch(&mut self, call: Call) -> Reply {
        let version = call.route.version();
        let thread = call.thread.unwrap_or_default();
        match call.route {
            Route::CreateUser | Route::V4CreateUser => self.create_user(version, call.body),
            Route::CreateThread => self.create_thread(version, call.body, "thread_id"),
            Route::CreateSession => self.create_thread(version, call.body, "session_id"),
            Route::V4CreateThread => self.create_v4_thread(call.body),
            Route::AddMessages
            | Route::AddMessagesBatch
            | Route::AddMemory
            | Route::V4AddMessages => self.add_messages(call.route, thread, call.body),
            Route::GetContext | Route::V4GetContext => match self.thread(version, thread) {
                Ok(t) => Reply::ok(200, json!({ "context": context_of(thread, t) })),
                Err(reply) => reply,
            },
            Route::GetMemory => match self.thread(version, thread) {
                Ok(t) => {
                    let lastn = query_usize(call.query, "lastn");
                    let messages = last_n(t, lastn);
                    Reply::ok(
                        200,
                        json!({
                            "context": context_of(thread, t),
                            "messages": messages,
                            "relevant_facts": [],
                            "facts": [],
                            "summary": null,
                            "metadata": {},
                        }),
                    )
                }
                Err(reply) => reply,
            },
            Route::GetMessages | Route::GetSessionMessages => match self.thread(version, thread) {
                Ok(t) => {
                    let (lastn, limit) = (
                        query_usize(call.query, "lastn"),
                        query_usize(call.query, "limit"),
                    );
                    let cursor = query_usize(call.query, "cursor").unwrap_or(0);
                    let messages = match lastn {
                        Some(n) => last_n(t, Some(n)),
                        None => window_from(t, cursor, limit),
                    };
                    Reply::ok(
                        200,
                        json!({
                            "messages": messages,
                            "row_count": messages.len(),
                            "total_count": t.total,
                            "user_id": t.user_id,
                            "thread_created_at": t.created_at,
                        }),
                    )
                }
                Err(reply) => reply,
            },
        }
    }

    fn uuid(&mut self) -> Uuid {
        uuid::Builder::from_random_bytes(self.rng.random()).into_uuid()
    }

    fn create_user(&mut self, version: ApiVersion, body: &[u8]) -> Reply {
        let fields: Value = match parse_json(version, body) {
            Ok(v) => v,
            Err(reply) => return reply,
        };
        let user_id = match fields.get("user_id").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => id.to_string(),
            _ if version == ApiVersion::V4 => String::new(),
            _ => return error(version, 400, "user_id is required"),
        };
        if !user_id.is_empty() && self.users.contains_key(&user_id) {
            return error(version, 400, format!("user {user_id} already exists"));
        }
        let user = User {
            uuid: self.uuid(),
            user_id,
            fields,
            created_at: now_rfc3339(),
        };
        let key = if user.user_id.is_empty() {
            user.uuid.to_string()
        } else {
            user.user_id.clone()
        };
        let body = user_json(&user);
        self.users.insert(key, user);
        Reply::ok(201, body)
    }

    fn create_thread(&mut self, version: ApiVersion, body: &[u8], id_field: &str) -> Reply {
        let fields: Value = match parse_json(version, body) {
            Ok(v) => v,
            Err(reply) => return reply,
        };
        let (Some(thread_id), Some(user_id)) = (
            fields.get(id_field).and_then(Value::as_str),
            fields.get("user_id").and_then(Value::as_str),
        ) else {
            return error(version, 400, format!("{id_field} and user_id are required"));
        };
        if !self.users.contains_key(user_id) {
            return error(version, 400, format!("user {user_id} not found"));
        }
        if self.threads.contains_key(thread_id) {
            return error(
                version,
                400,
                format!("{id_field} {thread_id} already exists"),
            );
        }
        let uuid = self.uuid();
        let thread = Thread {
            user_id: user_id.to_string(),
            created_at: now_rfc3339(),
            messages: VecDeque::new(),
            total: 0,
        };
        let body = json!({
            "uuid": uuid,
            id_field: thread_id,
            "user_id": user_id,
            "project_uuid": Uuid::nil(),
            "created_at": thread.created_at,
        });
        self.threads.insert(thread_id.to_string(), thread);
        Reply::ok(201, body)
    }

    fn create_v4_thread(&mut self, body: &[u8]) -> Reply {
        let version = ApiVersion::V4;
        let fields: Value = match parse_json(version, body) {
            Ok(v) => v,
            Err(reply) => return reply,
        };
        let Some(user_uuid) = fields.get("user_uuid").and_then(Value::as_str) else {
            return error(version, 400, "user_uuid is required");
        };
        let Ok(user_uuid) = Uuid::parse_str(user_uuid) else {
            return invalid_identifier("user_uuid", user_uuid);
        };
        let Some(user) = self.users.values().find(|u| u.uuid == user_uuid).cloned() else {
            return error(version, 404, format!("user {user_uuid} not found"));
        };
        let (uuid, graph_uuid) = (self.uuid(), self.uuid());
        let thread = Thread {
            user_id: user.user_id,
            created_at: now_rfc3339(),
            messages: VecDeque::new(),
            total: 0,
        };
        self.threads.insert(uuid.to_string(), thread);
        Reply::ok(
            201,
            json!({ "uuid": uuid, "user_uuid": user_uuid, "graph_uuid": graph_uuid, "thread_id": uuid }),
        )
    }

    fn thread(&self, version: ApiVersion, id: &str) -> Result<&Thread, Reply> {
        if version == ApiVersion::V4 && Uuid::parse_str(id).is_err() {
            return Err(invalid_identifier("thread_uuid", id));
        }
        let noun = if version == ApiVersion::V2 {
            "session"
        } else {
            "thread"
        };
        self.threads
            .get(id)
            .ok_or_else(|| error(version, 404, format!("{noun} {id} not found")))
    }

    fn add_messages(&mut self, route: Route, thread_id: &str, body: &[u8]) -> Reply {
        let version = route.version();
        if let Err(reply) = self.thread(version, thread_id) {
            return reply;
        }
        let raw: RawMessages = match parse_json(version, body) {
            Ok(v) => v,
            Err(reply) => return reply,
        };
        if raw.messages.is_empty() {
            return error(version, 400, "messages must not be empty");
        }
        if raw.messages.len() > MAX_MESSAGES_PER_CALL {
            return error(
                version,
                400,
                format!(
                    "too many messages: {} in one call, at most {MAX_MESSAGES_PER_CALL}",
                    raw.messages.len()
                ),
            );
        }
        let mut messages = Vec::with_capacity(raw.messages.len());
        for (i, m) in raw.messages.into_iter().enumerate() {
            let role = if version == ApiVersion::V2 {
                m.role_type
            } else {
                m.role
            };
            let field = if version == ApiVersion::V2 {
                "role_type"
            } else {
                "role"
            };
            let Some(role) = role.filter(|r| ROLES.contains(&r.as_str())) else {
                return error(
                    version,
                    400,
                    format!(
                        "messages[{i}].{field} is required and must be one of {}",
                        ROLES.join(", ")
                    ),
                );
            };
            let chars = m.content.chars().count();
            if chars > self.max_message_chars {
                return error(
                    version,
                    400,
                    format!(
                        "messages[{i}].content is {chars} characters, more than the limit of {}",
                        self.max_message_chars
                    ),
                );
            }
            messages.push(Message {
                uuid: self.uuid(),
                role,
                name: m.name,
                content: m.content,
                metadata: m.metadata,
                created_at: now_rfc3339(),
            });
        }
        let uuids: Vec<Uuid> = messages.iter().map(|m| m.uuid).collect();
        let stored = messages.len();
        let Some(thread) = self.threads.get_mut(thread_id) else {
            return error(version, 404, format!("thread {thread_id} not found"));
        };
        for message in messages {
            if thread.messages.len() >= MAX_MESSAGES_PER_THREAD {
                thread.messages.pop_front();
            }
            thread.messages.push_back(message);
            thread.total += 1;
        }
        let context = raw.return_context.then(|| context_of(thread_id, thread));
        let body = match route {
            Route::V4AddMessages => json!({
                "messages": uuids.iter().map(|u| json!({ "uuid": u })).collect::<Vec<_>>(),
                "task": { "uuid": self.uuid(), "status": "pending" },
                "context": context,
            }),
            Route::AddMemory => json!({ "context": context }),
            _ => json!({ "message_uuids": uuids, "context": context }),
        };
        let status = if route == Route::V4AddMessages {
            202
        } else {
            200
        };
        Reply {
            stored,
            ..Reply::ok(status, body)
        }
    }
}

fn invalid_identifier(param: &str, value: &str) -> Reply {
    let mut body = error_body(
        ApiVersion::V4,
        400,
        &format!("{param} must be a UUID, got {value:?}"),
    );
    body["error"]["code"] = json!("invalid_identifier");
    body["error"]["param"] = json!(param);
    Reply::ok(400, body)
}

fn parse_json<T: serde::de::DeserializeOwned>(
    version: ApiVersion,
    body: &[u8],
) -> Result<T, Reply> {
    serde_json::from_slice(body)
        .map_err(|err| error(version, 400, format!("invalid request body: {err}")))
}

fn user_json(user: &User) -> Value {
    let mut body = user.fields.clone();
    if !body.is_object() {
        body = json!({});
    }
    body["uuid"] = json!(user.uuid);
    body["user_id"] = json!(user.user_id);
    body["created_at"] = json!(user.created_at);
    body
}

fn message_json(m: &Message) -> Value {
    json!({
        "uuid": m.uuid,
        "role": m.role,
        "role_type": m.role,
        "name": m.name,
        "content": m.content,
        "metadata": m.metadata,
        "created_at": m.created_at,
    })
}

/// The last `lastn` messages (all when `None`).
fn last_n(thread: &Thread, lastn: Option<usize>) -> Vec<Value> {
    let skip = lastn.map_or(0, |n| thread.messages.len().saturating_sub(n));
    thread
        .messages
        .iter()
        .skip(skip)
        .map(message_json)
        .collect()
}

/// `limit` messages from position `cursor` (oldest first).
fn window_from(thread: &Thread, cursor: usize, limit: Option<usize>) -> Vec<Value> {
    let take = limit.unwrap_or(usize::MAX);
    thread
        .messages
        .iter()
        .skip(cursor)
        .take(take)
        .map(message_json)
        .collect()
}

/// A deterministic context block: counts, then the latest messages verbatim (shortened).
fn context_of(thread_id: &str, thread: &Thread) -> String {
    let users = thread.messages.iter().filter(|m| m.role == "user").count();
    let mut context = format!(
        "FACTS and ENTITIES for thread {thread_id}: {} messages stored ({users} from the user).\n",
        thread.total
    );
    let skip = thread.messages.len().saturating_sub(CONTEXT_MESSAGES);
    for m in thread.messages.iter().skip(skip) {
        let content: String = m.content.chars().take(200).collect();
        context.push_str(&format!("- {}: {content}\n", m.role));
    }
    context
}

fn query_usize(query: &str, key: &str) -> Option<usize> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call<'a>(route: Route, thread: Option<&'a str>, body: &'a str) -> Call<'a> {
        Call {
            route,
            thread,
            query: "",
            idempotency_key: None,
            body: body.as_bytes(),
        }
    }

    #[test]
    fn context_reflects_what_was_written() {
        let mut store = Store::new(2500, 1);
        assert_eq!(
            store
                .handle(call(Route::CreateUser, None, r#"{"user_id":"u1"}"#))
                .status,
            201
        );
        let created = store.handle(call(
            Route::CreateThread,
            None,
            r#"{"thread_id":"t1","user_id":"u1"}"#,
        ));
        assert_eq!(created.status, 201);
        let added = store.handle(call(
            Route::AddMessages,
            Some("t1"),
            r#"{"messages":[{"role":"user","content":"2BR in Girne"}]}"#,
        ));
        assert_eq!((added.status, added.stored), (200, 1));
        let context = store.handle(call(Route::GetContext, Some("t1"), ""));
        let text = context.body["context"].as_str().unwrap();
        assert!(
            text.contains("1 messages stored") && text.contains("- user: 2BR in Girne"),
            "{text}"
        );
    }

    #[test]
    fn query_values_parse_by_key() {
        assert_eq!(query_usize("limit=5&lastn=3", "lastn"), Some(3));
        assert_eq!(query_usize("limit=x", "limit"), None);
    }
}
