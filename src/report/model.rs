//! What the report reads from a run directory: lenient copies of the `reports/README.md`
//! schemas (every field defaulted, unknown fields ignored, the `schema` name checked).
//!
//! For: reading `manifest.json`, `verdict.json`, `smoke/smoke.json` and `load/seconds.json`
//! into [`RunInputs`], turning every missing or damaged file into a warning that names it, and
//! redacting secrets from the manifest's config. Not for: rendering (see the format modules).

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::run_dir;

/// `manifest.json` (`rollgate.run/v1`), the fields the report shows.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Manifest {
    /// `complete`, `interrupted` or `aborted`.
    pub status: String,
    /// Why the run was aborted, if it was.
    pub abort_reason: Option<String>,
    /// The scenario's name and path.
    pub scenario: Value,
    /// The resolved scenario (secrets redacted by [`redact`]).
    pub config: Value,
    /// The random seed.
    pub seed: Option<u64>,
    /// Component versions.
    pub versions: BTreeMap<String, Value>,
    /// The machine that ran the load.
    pub machine: Value,
    /// RFC 3339 start.
    pub started_at: String,
    /// RFC 3339 end.
    pub ended_at: String,
    /// Seconds the run lasted.
    pub duration_s: Option<f64>,
    /// Intended and achieved request rate.
    pub rate: Rate,
    /// Send-lag percentiles in milliseconds.
    pub send_lag_ms: BTreeMap<String, f64>,
    /// Whether the load generator kept its schedule.
    pub trustworthy: Option<bool>,
    /// Per (kind, variant) results.
    pub results: Vec<LoadResult>,
}

/// Intended and achieved rate (requests per second).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Rate {
    /// What the schedule asked for.
    pub intended: Option<f64>,
    /// What was sent.
    pub achieved: Option<f64>,
}

/// One (kind, variant) row of the manifest's results.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct LoadResult {
    /// Request kind (`chat`, ...).
    pub kind: String,
    /// `baseline` or `canary`.
    pub variant: String,
    /// Requests sent.
    pub count: u64,
    /// Errors by class.
    pub errors: BTreeMap<String, u64>,
    /// Corrected time-to-first-byte percentiles (ms).
    pub ttfb_corrected_ms: BTreeMap<String, f64>,
}

/// `verdict.json` (`rollgate.verdict/v1`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Verdict {
    /// The rollout phase judged.
    pub phase: String,
    /// `PROMOTE`, `HOLD`, `DOWNGRADE`, `ROLLBACK` or `ERROR`.
    pub verdict: String,
    /// The sentence a reviewer reads first.
    pub reason: String,
    /// The checks that decided.
    pub decided_by: Vec<String>,
    /// How the analyzer scaled windows (a compressed run); charts scale their windows alike.
    pub time_scale: Option<f64>,
    /// The analyzer's warnings.
    pub warnings: Vec<String>,
    /// The phase's checks.
    pub checks: Vec<Check>,
}

/// One check of the verdict.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Check {
    /// The check's name.
    pub name: String,
    /// What a breach does (`rollback`, `downgrade`, ...).
    pub action: String,
    /// The PromQL query.
    pub query: String,
    /// How value and threshold compare.
    pub comparison: String,
    /// The threshold.
    pub threshold: Option<f64>,
    /// Unit of value and threshold.
    pub unit: String,
    /// The evaluation window.
    pub window: String,
    /// Number of evaluations.
    pub evaluations: Option<u64>,
    /// Number of samples behind the value.
    pub samples: Option<u64>,
    /// The observed value.
    pub value: Option<f64>,
    /// The statistical test, if any.
    pub statistic: Option<Value>,
    /// `pass`, `breach`, `inconclusive` or `error`.
    pub outcome: String,
    /// What the check decided and why.
    pub decision: String,
    /// Breach windows `[start_ms, end_ms]`.
    pub breaches: Vec<(i64, i64)>,
    /// The check's warnings.
    pub warnings: Vec<String>,
}

/// `smoke/smoke.json` (`rollgate.smoke/v1`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Smoke {
    /// The phase checked.
    pub phase: String,
    /// `embedded` or a URL.
    pub target: String,
    /// Whether every box passed.
    pub passed: bool,
    /// One entry per checklist box.
    pub checks: Vec<SmokeCheck>,
}

/// One smoke checklist box.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SmokeCheck {
    /// Checklist group.
    pub group: String,
    /// The box's wording.
    pub name: String,
    /// `pass`, `fail`, `error` or `skipped`.
    pub status: String,
    /// What was expected.
    pub expected: String,
    /// What was seen.
    pub seen: String,
    /// Evidence lines.
    pub evidence: Vec<String>,
    /// How long it took.
    pub duration_ms: Option<u64>,
}

/// `gate.json` (`rollgate.gate/v1`), written by `rollgate gate` only.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Gate {
    /// The rollout phase.
    pub phase: String,
    /// `short` or `full`.
    pub profile: String,
    /// `embedded` or the external URLs.
    pub target: String,
    /// The embedded baseline's memory mode.
    pub baseline_mode: Option<String>,
    /// The embedded canary's memory mode.
    pub canary_mode: Option<String>,
    /// The canary's regression file.
    pub regression: Option<String>,
    /// Each stage, in order.
    pub stages: Vec<GateStage>,
}

/// One stage of a gate.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct GateStage {
    /// `start`, `smoke`, `load`, `analysis` or `report`.
    pub name: String,
    /// `pass`, `fail`, `error`, `interrupted` or `skipped`.
    pub status: String,
    /// One line on what it did.
    pub summary: String,
    /// Wall time.
    pub duration_ms: Option<u64>,
}

/// One row of `load/seconds.json`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SecondRow {
    /// Seconds from the schedule's start.
    pub second: u64,
    /// `baseline` or `canary`.
    pub variant: String,
    /// Requests the schedule asked for.
    pub intended: f64,
    /// Requests sent.
    pub count: f64,
    /// Errors.
    pub errors: f64,
    /// TTFB p95 in ms.
    pub ttfb_p95_ms: Option<f64>,
}

/// Everything read from a run directory, with a warning per missing or damaged file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunInputs {
    /// The load manifest.
    pub manifest: Option<Manifest>,
    /// The verdict.
    pub verdict: Option<Verdict>,
    /// The smoke results.
    pub smoke: Option<Smoke>,
    /// The gate's record, when a gate wrote the run directory.
    pub gate: Option<Gate>,
    /// Per-second load series.
    pub seconds: Vec<SecondRow>,
    /// What is missing or damaged, one sentence each, naming the file.
    pub problems: Vec<String>,
}

/// Reads every input the report uses; never fails, a bad file becomes a problem sentence.
pub fn read_inputs(dir: &Path) -> RunInputs {
    let mut problems = Vec::new();
    let mut manifest: Option<Manifest> = read_json(
        dir,
        run_dir::MANIFEST,
        Some("rollgate.run/v1"),
        &mut problems,
    );
    if let Some(m) = manifest.as_mut() {
        redact(&mut m.config);
        redact(&mut m.scenario);
    }
    let verdict = read_json(
        dir,
        run_dir::VERDICT,
        Some("rollgate.verdict/v1"),
        &mut problems,
    );
    let smoke = read_json(
        dir,
        run_dir::SMOKE_JSON,
        Some("rollgate.smoke/v1"),
        &mut problems,
    );
    let seconds = read_json(dir, run_dir::LOAD_SECONDS, None, &mut problems).unwrap_or_default();
    // Only a gate writes gate.json: its absence is not a problem.
    let gate = match dir.join(run_dir::GATE_JSON).exists() {
        true => read_json(
            dir,
            run_dir::GATE_JSON,
            Some(crate::gate::SCHEMA),
            &mut problems,
        ),
        false => None,
    };
    RunInputs {
        manifest,
        verdict,
        smoke,
        gate,
        seconds,
        problems,
    }
}

fn read_json<T: DeserializeOwned>(
    dir: &Path,
    rel: &str,
    schema: Option<&str>,
    problems: &mut Vec<String>,
) -> Option<T> {
    let path = dir.join(rel);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            problems.push(format!(
                "{rel} is missing: this part of the report is empty"
            ));
            return None;
        }
        Err(e) => {
            problems.push(format!("{rel} cannot be read: {e}"));
            return None;
        }
    };
    let value: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!("{rel} is damaged (not JSON: {e})"));
            return None;
        }
    };
    if let Some(want) = schema {
        let got = value.get("schema").and_then(Value::as_str).unwrap_or("");
        if got != want {
            problems.push(format!(
                "{rel} has schema {got:?}, expected {want:?}: ignored"
            ));
            return None;
        }
    }
    match serde_json::from_value(value) {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(format!("{rel} does not match its schema: {e}"));
            None
        }
    }
}

/// Words that mark a config key as secret; its value is replaced by `[redacted]`.
const SECRET_KEY_WORDS: [&str; 7] = [
    "key",
    "token",
    "secret",
    "password",
    "auth",
    "credential",
    "cookie",
];

/// Replaces, recursively, the value of every key that names a secret, and any string that
/// looks like an `Authorization` header value (`Bearer ...`, `Basic ...`).
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let lower = k.to_ascii_lowercase();
                if SECRET_KEY_WORDS.iter().any(|w| lower.contains(w)) && !v.is_null() {
                    *v = Value::String("[redacted]".into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::String(s) => {
            let lower = s.to_ascii_lowercase();
            if lower.starts_with("bearer ") || lower.starts_with("basic ") {
                *s = "[redacted]".into();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secret_keys_and_auth_values_recursively() {
        let mut v = serde_json::json!({
            "target": {"url": "http://127.0.0.1:1", "api_key": "sk-123",
                       "headers": [{"name": "x", "value": "Bearer abc"}]},
            "ZEP_API_KEY": "z", "rate": 5
        });
        redact(&mut v);
        let s = v.to_string();
        assert!(!s.contains("sk-123") && !s.contains("Bearer abc") && !s.contains("\"z\""));
        assert_eq!(v["rate"], 5);
        assert_eq!(v["target"]["url"], "http://127.0.0.1:1");
    }

    #[test]
    fn missing_truncated_and_foreign_files_become_problems() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(run_dir::VERDICT),
            "{\"schema\": \"rollgate.ver",
        )
        .unwrap();
        std::fs::write(
            dir.path().join(run_dir::MANIFEST),
            "{\"schema\": \"other/v9\"}",
        )
        .unwrap();
        let inputs = read_inputs(dir.path());
        assert!(inputs.verdict.is_none() && inputs.manifest.is_none());
        let all = inputs.problems.join("\n");
        assert!(all.contains("verdict.json is damaged"), "{all}");
        assert!(
            all.contains("manifest.json has schema \"other/v9\""),
            "{all}"
        );
        assert!(all.contains("smoke/smoke.json is missing"), "{all}");
        assert!(all.contains("load/seconds.json is missing"), "{all}");
    }
}
