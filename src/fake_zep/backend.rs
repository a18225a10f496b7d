//! The wiremock server behind the front: one mock per Zep route (from the route table), the HTTP
//! faults the engine decided (passed in an internal header), the auth check, a Zep-shaped catch-all
//! 404, and the admin API, `/metrics` and `/healthz`.
//!
//! Responders run under wiremock's lock and must not block: they only touch in-memory state.

use std::sync::Arc;

use serde_json::json;
use wiremock::matchers::{any, header_exists, method, path, path_regex};
use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

use super::faults::FaultResponse;
use super::journal::Query;
use super::program::Program;
use super::routes::{self, ApiVersion, Route};
use super::store::{error_body, Call};
use super::{AuthBody, Shared, FAULT_HEADER, INTERNAL_PREFIX, REPLAYED_HEADER, STORED_HEADER};

/// Starts wiremock on a loopback port and mounts every mock.
pub async fn start(shared: Arc<Shared>) -> std::io::Result<MockServer> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let server = MockServer::builder()
        .listener(listener)
        .disable_request_recording()
        .start()
        .await;
    let admin = |verb: &str, route: &str| {
        Mock::given(method(verb)).and(path(format!("{INTERNAL_PREFIX}{route}")))
    };
    let mocks = [
        Mock::given(header_exists(FAULT_HEADER))
            .respond_with(FaultResponder)
            .with_priority(1),
        Mock::given(method("GET"))
            .and(path("/healthz"))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok\n"))
            .with_priority(1),
        Mock::given(method("GET"))
            .and(path("/metrics"))
            .respond_with(Admin::new(&shared, AdminOp::Metrics))
            .with_priority(1),
        admin("GET", "/faults").respond_with(Admin::new(&shared, AdminOp::GetFaults)),
        admin("PUT", "/faults").respond_with(Admin::new(&shared, AdminOp::PutFaults)),
        admin("POST", "/reset").respond_with(Admin::new(&shared, AdminOp::Reset)),
        admin("GET", "/journal").respond_with(Admin::new(&shared, AdminOp::Journal)),
        admin("GET", "/journal/attempts").respond_with(Admin::new(&shared, AdminOp::Attempts)),
        admin("GET", "/journal/duplicates").respond_with(Admin::new(&shared, AdminOp::Duplicates)),
        admin("GET", "/journal/reads").respond_with(Admin::new(&shared, AdminOp::Reads)),
        Mock::given(path_regex("^/api/"))
            .and(WrongApiKey(shared.clone()))
            .respond_with(Unauthorized(shared.config.auth_body))
            .with_priority(2),
    ];
    for mock in mocks {
        server.register(mock).await;
    }
    for route in Route::ALL {
        let mock = Mock::given(method(route.method()))
            .and(path_regex(route.path_regex()))
            .respond_with(RouteResponder {
                route,
                shared: shared.clone(),
            })
            .with_priority(3);
        server.register(mock).await;
    }
    server
        .register(Mock::given(any()).respond_with(NotFound).with_priority(10))
        .await;
    Ok(server)
}

fn version_of(path: &str) -> ApiVersion {
    if path.starts_with("/api/v4/") {
        ApiVersion::V4
    } else {
        ApiVersion::V3
    }
}

fn json_reply(status: u16, body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

/// Runs a Zep route against the store.
struct RouteResponder {
    route: Route,
    shared: Arc<Shared>,
}

impl Respond for RouteResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let thread =
            routes::classify(request.method.as_str(), request.url.path()).and_then(|m| m.thread);
        let idempotency_key = request
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok());
        let reply = self.shared.lock_store().handle(Call {
            route: self.route,
            thread: thread.as_deref(),
            query: request.url.query().unwrap_or(""),
            idempotency_key,
            body: &request.body,
        });
        let mut template = json_reply(reply.status, reply.body)
            .insert_header(STORED_HEADER, reply.stored.to_string());
        if reply.replayed {
            template = template.insert_header(REPLAYED_HEADER, "1");
        }
        template
    }
}

/// Renders an error the fault engine decided.
struct FaultResponder;

impl Respond for FaultResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let fault: Option<FaultResponse> = request
            .headers
            .get(FAULT_HEADER)
            .and_then(|v| serde_json::from_slice(v.as_bytes()).ok());
        let Some(fault) = fault else {
            return json_reply(
                500,
                json!({ "message": "fake zep: unreadable internal fault header" }),
            );
        };
        let version = version_of(request.url.path());
        let mut template = if fault.text_body && version != ApiVersion::V4 {
            ResponseTemplate::new(fault.status)
                .set_body_raw(format!("{}\n", fault.message), "text/plain")
        } else {
            json_reply(
                fault.status,
                error_body(version, fault.status, &fault.message),
            )
        };
        if let Some(retry_after) = fault.retry_after {
            template = template.insert_header("retry-after", retry_after.as_str());
        }
        template
    }
}

/// Matches Zep API requests whose `Authorization` is not `Api-Key <a configured key>`.
struct WrongApiKey(Arc<Shared>);

impl Match for WrongApiKey {
    fn matches(&self, request: &Request) -> bool {
        let presented = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Api-Key "));
        !presented.is_some_and(|key| self.0.config.api_keys.iter().any(|k| k == key.trim()))
    }
}

struct Unauthorized(AuthBody);

impl Respond for Unauthorized {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let version = version_of(request.url.path());
        match (self.0, version) {
            (AuthBody::Text, ApiVersion::V2 | ApiVersion::V3) => {
                ResponseTemplate::new(401).set_body_raw("unauthorized\n", "text/plain")
            }
            _ => json_reply(401, error_body(version, 401, "unauthorized")),
        }
    }
}

struct NotFound;

impl Respond for NotFound {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let message = format!("not found: {} {}", request.method, request.url.path());
        json_reply(
            404,
            error_body(version_of(request.url.path()), 404, &message),
        )
    }
}

#[derive(Clone, Copy)]
enum AdminOp {
    Metrics,
    GetFaults,
    PutFaults,
    Reset,
    Journal,
    Attempts,
    Duplicates,
    Reads,
}

/// The admin API: fault program, reset, journal queries, metrics.
struct Admin {
    op: AdminOp,
    shared: Arc<Shared>,
}

impl Admin {
    fn new(shared: &Arc<Shared>, op: AdminOp) -> Admin {
        Admin {
            op,
            shared: shared.clone(),
        }
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> ResponseTemplate {
    match serde_json::to_value(value) {
        Ok(body) => json_reply(200, body),
        Err(err) => json_reply(
            500,
            json!({ "message": format!("cannot encode the answer: {err}") }),
        ),
    }
}

impl Respond for Admin {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let param = |key: &str| {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.into_owned())
        };
        match self.op {
            AdminOp::Metrics => ResponseTemplate::new(200).set_body_raw(
                self.shared.metrics.render(),
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            AdminOp::GetFaults => {
                let source = self.shared.lock_engine().program().source.clone();
                let text = if source.trim().is_empty() {
                    "# no faults\n".to_string()
                } else {
                    source
                };
                ResponseTemplate::new(200).set_body_raw(text, "application/toml")
            }
            AdminOp::PutFaults => {
                let text = String::from_utf8_lossy(&request.body);
                match Program::parse(&text, "PUT /__rollgate/faults") {
                    Ok(program) => {
                        let rules = program.rules.len();
                        self.shared.load_program(program);
                        json_reply(
                            200,
                            json!({ "message": "fault program loaded", "rules": rules }),
                        )
                    }
                    Err(err) => json_reply(400, json!({ "message": err.to_string() })),
                }
            }
            AdminOp::Reset => {
                self.shared.reset();
                json_reply(
                    200,
                    json!({ "message": "reset: startup fault program reloaded, journal and data cleared" }),
                )
            }
            AdminOp::Journal => {
                let number = |key: &str| param(key).and_then(|v| v.parse().ok());
                let query = Query {
                    thread: param("thread"),
                    route: param("route"),
                    since: number("since"),
                    limit: number("limit").map(|n: u64| n as usize),
                };
                to_json(&self.shared.lock_journal().snapshot(&query))
            }
            AdminOp::Attempts => {
                let thread = param("thread");
                to_json(&self.shared.lock_journal().attempts(thread.as_deref()))
            }
            AdminOp::Duplicates => to_json(&self.shared.lock_journal().duplicates()),
            AdminOp::Reads => to_json(&self.shared.lock_journal().reads_per_turn()),
        }
    }
}
