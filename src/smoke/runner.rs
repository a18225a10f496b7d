//! Runs one resolved [`Check`] against a target: steps over real HTTP, expectations on the last
//! response and on metric deltas between two scrapes of `/metrics`. Not for parsing or output.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::plan::{Check, Expect, Step};
use crate::fake_zep::admin::AdminClient;
use crate::prom::exposition::{self, Format};

/// Status of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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

struct Failure {
    status: Status,
    expected: String,
    seen: String,
}

fn error(expected: impl Into<String>, seen: impl Into<String>) -> Failure {
    Failure {
        status: Status::Error,
        expected: expected.into(),
        seen: seen.into(),
    }
}

/// Runs one check in isolation: fresh thread ids (`run_id` makes them unique), faults reset
/// before and after.
pub async fn run_check(check: &Check, target: &Target, run_id: &str) -> CheckResult {
    let started = Instant::now();
    let mut evidence = Vec::new();
    let admin = target.zep_admin.as_deref().map(AdminClient::new);
    let (status, expected, seen) = if check.needs_faults() && admin.is_none() {
        (
            Status::Skipped,
            "a fault-injecting Zep".to_string(),
            "needs fault injection; pass --zep-admin URL of a fake Zep the target uses".to_string(),
        )
    } else {
        match execute(check, target, admin.as_ref(), run_id, &mut evidence).await {
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

async fn execute(
    check: &Check,
    target: &Target,
    admin: Option<&AdminClient>,
    run_id: &str,
    evidence: &mut Vec<String>,
) -> Result<String, Failure> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| error("an HTTP client", e.to_string()))?;
    if let Some(admin) = admin {
        admin
            .set_faults("")
            .await
            .map_err(|e| error("fault program reset", e.to_string()))?;
    }
    let before = scrape(&http, &target.url).await?;
    let mut last = Value::Null;
    for (n, step) in check.steps.iter().enumerate() {
        match step {
            Step::Chat { thread, message } => {
                let url = format!("{}/api/chat", target.url);
                let body = json!({
                    "thread_id": format!("smoke-{run_id}-{thread}"),
                    "user_id": format!("smoke-{run_id}"),
                    "message": message,
                    "client_msg_id": format!("smoke-{run_id}-{}", n + 1),
                });
                let response = http
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| error(format!("{url} answers"), e.to_string()))?;
                let status = response.status().as_u16();
                let text = response
                    .text()
                    .await
                    .map_err(|e| error(format!("{url} body"), e.to_string()))?;
                evidence.push(format!("POST {url} -> {status} {text}"));
                last = serde_json::from_str(&text).unwrap_or(Value::String(text));
                last["http_status"] = json!(status);
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
        }
    }
    for expect in &check.expects {
        match expect {
            Expect::Response { path, equals } => {
                let seen = lookup(&last, path);
                if &seen != equals {
                    return Err(Failure {
                        status: Status::Fail,
                        expected: format!("response {path} == {equals}"),
                        seen: format!("response {path} == {seen}"),
                    });
                }
            }
            Expect::MetricDelta {
                metric,
                min,
                max,
                within,
            } => {
                let old = sum(&before, metric).ok_or_else(|| {
                    error(
                        format!("metric {metric} on {}/metrics", target.url),
                        format!("{metric} is not exposed by {}/metrics", target.url),
                    )
                })?;
                let deadline = Instant::now() + *within;
                let delta = loop {
                    let now = scrape(&http, &target.url).await?;
                    let delta = sum(&now, metric).unwrap_or(0.0) - old;
                    if (*min..=*max).contains(&delta) || Instant::now() >= deadline {
                        break delta;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                };
                evidence.push(format!("{metric}: {old} -> {}", old + delta));
                if !(*min..=*max).contains(&delta) {
                    return Err(Failure {
                        status: Status::Fail,
                        expected: format!("{metric} delta in [{min}, {max}]"),
                        seen: format!("{metric} delta {delta}"),
                    });
                }
            }
        }
    }
    Ok(format!("{} expectation(s) held", check.expects.len()))
}

fn lookup(value: &Value, path: &str) -> Value {
    path.split('.')
        .try_fold(value, |v, key| v.get(key))
        .cloned()
        .unwrap_or(Value::Null)
}

async fn scrape(http: &reqwest::Client, base: &str) -> Result<exposition::Parsed, Failure> {
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

fn sum(parsed: &exposition::Parsed, metric: &str) -> Option<f64> {
    let mut found = None;
    for s in &parsed.samples {
        if s.labels.metric_name() == metric {
            *found.get_or_insert(0.0) += s.value;
        }
    }
    found
}
