//! Runs one resolved [`Check`] against a target: its steps (turns over HTTP or the WebSocket,
//! fault programs, waits) over real connections, then hands what they left to
//! [`super::expect`]. Not for judging expectations, parsing or output.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::expect::{sum, Judge};
use super::plan::{Check, Phase, Step};
use super::settle::Settle;
use crate::fake_zep::admin::AdminClient;
use crate::prom::exposition::{self, Format};

/// Status of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every expectation held.
    Pass,
    /// An expectation did not hold.
    Fail,
    /// Bad input: unreachable target, unknown metric, rejected fault program.
    Error,
    /// Not run (for example fault injection without an admin API).
    Skipped,
}

/// What one check produced (`rollgate.smoke/v1` `checks[]`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckResult {
    /// Checklist group.
    pub group: String,
    /// The box's wording.
    pub name: String,
    /// Outcome.
    pub status: Status,
    /// What was expected (the first failing expectation, or all of them).
    pub expected: String,
    /// What was seen.
    pub seen: String,
    /// Responses and metric values gathered.
    pub evidence: Vec<String>,
    /// Wall time.
    pub duration_ms: u64,
}

/// Where checks are sent.
#[derive(Debug, Clone)]
pub struct Target {
    /// The assistant's base URL.
    pub url: String,
    /// The fake Zep's base URL, when faults can be injected.
    pub zep_admin: Option<String>,
    /// How the target is described in reports (`embedded` or the URL).
    pub label: String,
}

/// Why a check did not pass.
pub(crate) struct Failure {
    pub status: Status,
    pub expected: String,
    pub seen: String,
}

/// An expectation that did not hold.
pub(crate) fn fail(expected: impl Into<String>, seen: impl Into<String>) -> Failure {
    Failure {
        status: Status::Fail,
        expected: expected.into(),
        seen: seen.into(),
    }
}

/// A check that could not be judged (bad input, unreachable target, unknown metric).
pub(crate) fn error(expected: impl Into<String>, seen: impl Into<String>) -> Failure {
    Failure {
        status: Status::Error,
        expected: expected.into(),
        seen: seen.into(),
    }
}

/// Runs one check in isolation: fresh thread ids (`run_id` makes them unique), faults reset
/// before and after, and, with `settle` and an admin API, the target settled (breaker closed,
/// memory mode of `phase`) before the check's first scrape. Checks that inject faults or read
/// the journal are skipped, with the reason, when the target has no fake Zep admin API.
pub async fn run_check(
    check: &Check,
    target: &Target,
    phase: Phase,
    settle: Option<&Settle>,
    run_id: &str,
) -> CheckResult {
    let started = Instant::now();
    let mut evidence = Vec::new();
    let admin = target.zep_admin.as_deref().map(AdminClient::new);
    let skipped = match (admin.is_some(), check.needs_faults(), check.needs_journal()) {
        (false, true, _) => {
            Some("needs fault injection; pass --zep-admin URL of a fake Zep the target uses")
        }
        (false, false, true) => {
            Some("needs the fake Zep's journal; pass --zep-admin URL of a fake Zep the target uses")
        }
        _ => None,
    };
    let (status, expected, seen) = if let Some(reason) = skipped {
        (
            Status::Skipped,
            "a fake Zep admin API".to_string(),
            reason.to_string(),
        )
    } else {
        let settle = settle.filter(|_| admin.is_some()).map(|s| (phase, s));
        match execute(check, target, admin.as_ref(), settle, run_id, &mut evidence).await {
            Ok(summary) => (Status::Pass, summary.clone(), summary),
            Err(f) => (f.status, f.expected, f.seen),
        }
    };
    if let Some(admin) = &admin {
        if let Err(e) = admin.set_faults("").await {
            evidence.push(format!("resetting faults failed: {e}"));
        }
    }
    CheckResult {
        group: check.group.clone(),
        name: check.name.clone(),
        status,
        expected,
        seen,
        evidence,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

/// What the steps left for the expectations to judge.
pub(crate) struct Observed {
    /// The last HTTP answer (with `http_status`), or null.
    pub response: Value,
    /// The last WebSocket trace (or error) frame, or null.
    pub ws_trace: Value,
    /// The Zep thread ids the check's turns used.
    pub threads: Vec<String>,
    /// The scrape taken before the steps.
    pub before: exposition::Parsed,
}

async fn execute(
    check: &Check,
    target: &Target,
    admin: Option<&AdminClient>,
    settle: Option<(Phase, &Settle)>,
    run_id: &str,
    evidence: &mut Vec<String>,
) -> Result<String, Failure> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(TURN_TIMEOUT)
        .build()
        .map_err(|e| error("an HTTP client", e.to_string()))?;
    if let Some(admin) = admin {
        admin
            .set_faults("")
            .await
            .map_err(|e| error("fault program reset", e.to_string()))?;
    }
    if let Some((phase, settle)) = settle {
        // After settling, so the probe turns are not in the check's deltas.
        super::settle::settle(&http, target, phase, settle, run_id, evidence).await?;
    }
    let before = scrape(&http, &target.url).await?;
    let mut observed = Observed {
        response: Value::Null,
        ws_trace: Value::Null,
        threads: Vec::new(),
        before,
    };
    for (n, step) in check.steps.iter().enumerate() {
        match step {
            Step::Chat { thread, message } | Step::WsChat { thread, message } => {
                let thread_id = format!("smoke-{run_id}-{thread}");
                if !observed.threads.contains(&thread_id) {
                    observed.threads.push(thread_id);
                }
                let body = turn_body(run_id, thread, message, &(n + 1).to_string());
                if matches!(step, Step::Chat { .. }) {
                    observed.response = http_turn(&http, &target.url, &body, evidence).await?;
                } else {
                    observed.ws_trace = ws_turn(&target.url, &body, evidence).await?;
                }
            }
            Step::Faults(program) => {
                let admin = admin.ok_or_else(|| error("an admin API", "none"))?;
                admin
                    .set_faults(program)
                    .await
                    .map_err(|e| error("fault program accepted", e.to_string()))?;
                evidence.push(format!("faults: {}", program.trim().replace('\n', "; ")));
            }
            Step::Wait(d) => tokio::time::sleep(*d).await,
            Step::ChatUntil {
                thread,
                message,
                metric,
                equals,
                max_turns,
                per_turn,
            } => {
                let thread_id = format!("smoke-{run_id}-{thread}");
                if !observed.threads.contains(&thread_id) {
                    observed.threads.push(thread_id);
                }
                let mut turns = 0;
                let mut seen = None;
                while turns < *max_turns && seen != Some(*equals) {
                    turns += 1;
                    let msg_id = format!("{}-{turns}", n + 1);
                    let body = turn_body(run_id, thread, message, &msg_id);
                    observed.response = http_turn(&http, &target.url, &body, evidence).await?;
                    seen = poll_metric(&http, &target.url, metric, *equals, *per_turn).await?;
                }
                evidence.push(match seen {
                    Some(v) if v == *equals => {
                        format!("chat_until: {metric} == {v} after {turns} turn(s)")
                    }
                    _ => format!(
                        "chat_until: max_turns reached: {metric} == {} after {turns} turn(s), never {equals}",
                        seen.map_or("absent".to_string(), |v| v.to_string())
                    ),
                });
            }
        }
    }
    let judge = Judge {
        http: &http,
        target,
        admin,
        observed: &observed,
    };
    for expectation in &check.expects {
        judge
            .check(&expectation.expect, evidence)
            .await
            .map_err(|mut failure| {
                if let Some(why) = &expectation.why {
                    failure.expected = format!("{} ({why})", failure.expected);
                }
                failure
            })?;
    }
    Ok(format!("{} expectation(s) held", check.expects.len()))
}

/// The body of one turn on the check's thread `thread`; `msg_id` makes its `client_msg_id` unique
/// within the check.
pub(crate) fn turn_body(run_id: &str, thread: &str, message: &str, msg_id: &str) -> Value {
    json!({
        "thread_id": format!("smoke-{run_id}-{thread}"),
        "user_id": format!("smoke-{run_id}"),
        "message": message,
        "client_msg_id": format!("smoke-{run_id}-{msg_id}"),
    })
}

/// Polls `metric` (summed) on `base` every 50 ms until it equals `equals` or `within` passes;
/// returns the last value. A metric the target does not expose is an error naming both.
async fn poll_metric(
    http: &reqwest::Client,
    base: &str,
    metric: &str,
    equals: f64,
    within: Duration,
) -> Result<Option<f64>, Failure> {
    let deadline = Instant::now() + within;
    loop {
        let value = sum(&scrape(http, base).await?, metric);
        if value.is_none() {
            return Err(error(
                format!("metric {metric} on {base}/metrics"),
                format!("{metric} is not exposed by {base}/metrics"),
            ));
        }
        if value == Some(equals) || Instant::now() >= deadline {
            return Ok(value);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The longest a turn (HTTP or WebSocket) may take before the check is an error.
const TURN_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) async fn http_turn(
    http: &reqwest::Client,
    base: &str,
    body: &Value,
    evidence: &mut Vec<String>,
) -> Result<Value, Failure> {
    let url = format!("{base}/api/chat");
    let response = http
        .post(&url)
        .json(body)
        .send()
        .await
        .map_err(|e| error(format!("{url} answers"), e.to_string()))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| error(format!("{url} body"), e.to_string()))?;
    evidence.push(format!("POST {url} -> {status} {text}"));
    let mut value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if !value.is_object() {
        value = json!({ "body": value });
    }
    value["http_status"] = json!(status);
    Ok(value)
}

/// One turn over `/ws/chat`: the trace frame (or an error frame) that ends it.
async fn ws_turn(base: &str, body: &Value, evidence: &mut Vec<String>) -> Result<Value, Failure> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let url = match base.split_once("://") {
        Some(("https", rest)) => format!("wss://{rest}/ws/chat"),
        Some((_, rest)) => format!("ws://{rest}/ws/chat"),
        None => format!("ws://{base}/ws/chat"),
    };
    let turn = async {
        let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .map_err(|e| error(format!("{url} accepts a WebSocket"), e.to_string()))?;
        socket
            .send(Message::text(body.to_string()))
            .await
            .map_err(|e| error(format!("{url} takes the turn"), e.to_string()))?;
        let mut tokens = 0usize;
        loop {
            let frame = match socket.next().await {
                Some(Ok(Message::Text(frame))) => frame,
                Some(Ok(Message::Close(_))) | None => {
                    return Err(error(
                        format!("a trace frame from {url}"),
                        format!("the socket closed after {tokens} token frame(s)"),
                    ))
                }
                Some(Err(e)) => {
                    return Err(error(format!("a trace frame from {url}"), e.to_string()))
                }
                Some(Ok(_)) => continue,
            };
            let value: Value = serde_json::from_str(frame.as_str()).map_err(|e| {
                error(
                    format!("JSON frames from {url}"),
                    format!("{e}: {}", frame.as_str()),
                )
            })?;
            match value["type"].as_str() {
                Some("token") => tokens += 1,
                Some("trace") | Some("error") => {
                    let _ = socket.close(None).await;
                    evidence.push(format!("WS {url} -> {tokens} token frame(s), then {value}"));
                    return Ok(value);
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(TURN_TIMEOUT, turn)
        .await
        .map_err(|_| {
            error(
                format!("a trace frame from {url}"),
                format!("none within {TURN_TIMEOUT:?}"),
            )
        })?
}

pub(crate) async fn scrape(
    http: &reqwest::Client,
    base: &str,
) -> Result<exposition::Parsed, Failure> {
    let url = format!("{base}/metrics");
    let response = http
        .get(&url)
        .send()
        .await
        .map_err(|e| error(format!("{url} answers"), e.to_string()))?;
    let format = Format::from_content_type(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
    );
    let body = response
        .text()
        .await
        .map_err(|e| error(format!("{url} body"), e.to_string()))?;
    Ok(exposition::parse(&body, format))
}
