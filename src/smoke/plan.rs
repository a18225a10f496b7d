//! Smoke checklist files: the raw TOML form and the resolved [`Plan`] the runner executes.
//! Not for running checks (see `super::runner`).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

/// A smoke file that could not be read or understood.
#[derive(Debug, Error)]
pub enum PlanError {
    /// The file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has an unknown/missing field (the message names line and field).
    #[error("{path}: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{path}: check {check:?}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The check.
        check: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    group: String,
    phases: Vec<String>,
    #[serde(rename = "check", default)]
    checks: Vec<RawCheck>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    name: String,
    #[serde(rename = "step", default)]
    steps: Vec<RawStep>,
    #[serde(rename = "expect", default)]
    expects: Vec<RawExpect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    chat: Option<RawChat>,
    faults: Option<String>,
    wait_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChat {
    thread: String,
    message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    response: Option<String>,
    equals: Option<toml::Value>,
    metric: Option<String>,
    min_delta: Option<f64>,
    max_delta: Option<f64>,
    within_ms: Option<u64>,
}

/// Which checklist a run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Phase 1: writes only.
    WriteOnly,
    /// Phase 2: reads and writes.
    ReadWrite,
}

impl Phase {
    /// The name used on the command line and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::WriteOnly => "write-only",
            Phase::ReadWrite => "read-write",
        }
    }

    fn parse(text: &str) -> Option<Phase> {
        match text {
            "write-only" => Some(Phase::WriteOnly),
            "read-write" => Some(Phase::ReadWrite),
            _ => None,
        }
    }
}

/// One step of a check.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Send a turn over HTTP `/api/chat` on a thread (the name is made unique per run).
    Chat {
        /// Thread name within the check.
        thread: String,
        /// The user's message.
        message: String,
    },
    /// Load a fault program (TOML) on the fake Zep.
    Faults(String),
    /// Sleep.
    Wait(std::time::Duration),
}

/// One expectation, checked after the steps.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// A field of the last response (dotted path, e.g. `trace.memory.used`) equals a value.
    Response {
        /// Dotted path.
        path: String,
        /// Expected JSON value.
        equals: serde_json::Value,
    },
    /// A series' value (summed over matching series) changed by a delta within bounds between the
    /// scrape before the steps and the one after; polled up to `within`.
    MetricDelta {
        /// Metric name.
        metric: String,
        /// Lowest accepted delta.
        min: f64,
        /// Highest accepted delta.
        max: f64,
        /// How long to poll for it.
        within: std::time::Duration,
    },
}

/// One checklist box.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Checklist group (the seed's heading).
    pub group: String,
    /// The box's wording.
    pub name: String,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Expectations.
    pub expects: Vec<Expect>,
    /// The file it came from.
    pub file: PathBuf,
}

impl Check {
    /// Whether the check needs the fake Zep's admin API.
    pub fn needs_faults(&self) -> bool {
        self.steps.iter().any(|s| matches!(s, Step::Faults(_)))
    }
}

/// The checks of one phase, in file and declaration order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The phase.
    pub phase: Phase,
    /// The checks.
    pub checks: Vec<Check>,
}

/// Parses a phase name (`write-only` or `read-write`).
pub fn parse_phase(text: &str) -> Option<Phase> {
    Phase::parse(text)
}

/// Loads every `*.toml` in `dir` (sorted) and keeps the checks of `phase`; `only` keeps the checks
/// whose name contains it.
pub fn load_dir(dir: &Path, phase: Phase, only: Option<&str>) -> Result<Plan, PlanError> {
    let read_err = |source| PlanError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut checks = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| PlanError::Read {
            path: file.clone(),
            source,
        })?;
        for check in parse_file(&file, &text, phase)? {
            if only.is_none_or(|o| check.name.contains(o)) {
                checks.push(check);
            }
        }
    }
    Ok(Plan { phase, checks })
}

/// The checklist files shipped in the binary (`scenarios/smoke/*.toml` at build time), so the
/// gate runs the seed's checklist from any working directory.
const BUILTIN: [(&str, &str); 7] = [
    (
        "scenarios/smoke/1-write-path.toml",
        include_str!("../../scenarios/smoke/1-write-path.toml"),
    ),
    (
        "scenarios/smoke/2-sticky-follow-up.toml",
        include_str!("../../scenarios/smoke/2-sticky-follow-up.toml"),
    ),
    (
        "scenarios/smoke/3-cross-agent.toml",
        include_str!("../../scenarios/smoke/3-cross-agent.toml"),
    ),
    (
        "scenarios/smoke/4-circuit-breaker.toml",
        include_str!("../../scenarios/smoke/4-circuit-breaker.toml"),
    ),
    (
        "scenarios/smoke/5-429-handling.toml",
        include_str!("../../scenarios/smoke/5-429-handling.toml"),
    ),
    (
        "scenarios/smoke/6-read-path.toml",
        include_str!("../../scenarios/smoke/6-read-path.toml"),
    ),
    (
        "scenarios/smoke/7-downgrade.toml",
        include_str!("../../scenarios/smoke/7-downgrade.toml"),
    ),
];

/// The seed's checklist for `phase`, from the files built into the binary.
pub fn builtin(phase: Phase) -> Result<Plan, PlanError> {
    let mut checks = Vec::new();
    for (path, text) in BUILTIN {
        checks.extend(parse_file(Path::new(path), text, phase)?);
    }
    Ok(Plan { phase, checks })
}

/// Parses one smoke file; returns its checks if the file applies to `phase`, else none.
pub fn parse_file(path: &Path, text: &str, phase: Phase) -> Result<Vec<Check>, PlanError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| PlanError::Toml {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let invalid = |check: &str, message: String| PlanError::Invalid {
        path: path.to_path_buf(),
        check: check.to_string(),
        message,
    };
    let mut phases = Vec::new();
    for p in &raw.phases {
        phases.push(Phase::parse(p).ok_or_else(|| {
            invalid(
                "",
                format!("field `phases`: unknown phase {p:?} (write-only, read-write)"),
            )
        })?);
    }
    let mut checks = Vec::new();
    for c in raw.checks {
        let mut steps = Vec::new();
        for (i, s) in c.steps.into_iter().enumerate() {
            let set = [s.chat.is_some(), s.faults.is_some(), s.wait_ms.is_some()];
            if set.iter().filter(|b| **b).count() != 1 {
                return Err(invalid(
                    &c.name,
                    format!("step {}: exactly one of `chat`, `faults`, `wait_ms`", i + 1),
                ));
            }
            steps.push(match (s.chat, s.faults, s.wait_ms) {
                (Some(chat), _, _) => Step::Chat {
                    thread: chat.thread,
                    message: chat.message,
                },
                (_, Some(f), _) => Step::Faults(f),
                (_, _, Some(ms)) => Step::Wait(std::time::Duration::from_millis(ms)),
                _ => unreachable!("exactly one is set"),
            });
        }
        let mut expects = Vec::new();
        for (i, e) in c.expects.into_iter().enumerate() {
            let n = i + 1;
            expects.push(match (e.response, e.metric) {
                (Some(path), None) => {
                    let value = e.equals.ok_or_else(|| {
                        invalid(&c.name, format!("expect {n}: `response` needs `equals`"))
                    })?;
                    let equals = serde_json::to_value(value).map_err(|err| {
                        invalid(&c.name, format!("expect {n}: field `equals`: {err}"))
                    })?;
                    Expect::Response { path, equals }
                }
                (None, Some(metric)) => {
                    let min = e.min_delta.unwrap_or(f64::NEG_INFINITY);
                    let max = e.max_delta.unwrap_or(f64::INFINITY);
                    if e.min_delta.is_none() && e.max_delta.is_none() {
                        return Err(invalid(
                            &c.name,
                            format!("expect {n}: `metric` needs `min_delta` or `max_delta`"),
                        ));
                    }
                    Expect::MetricDelta {
                        metric,
                        min,
                        max,
                        within: std::time::Duration::from_millis(e.within_ms.unwrap_or(0)),
                    }
                }
                _ => {
                    return Err(invalid(
                        &c.name,
                        format!("expect {n}: exactly one of `response`, `metric`"),
                    ))
                }
            });
        }
        checks.push(Check {
            group: raw.group.clone(),
            name: c.name,
            steps,
            expects,
            file: path.to_path_buf(),
        });
    }
    Ok(if phases.contains(&phase) {
        checks
    } else {
        Vec::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_checklist_is_every_file_in_scenarios_smoke() {
        for phase in [Phase::WriteOnly, Phase::ReadWrite] {
            let on_disk = load_dir(Path::new("scenarios/smoke"), phase, None).expect("smoke files");
            let built_in = builtin(phase).expect("builtin smoke files");
            let names = |plan: &Plan| -> Vec<String> {
                plan.checks.iter().map(|c| c.name.clone()).collect()
            };
            assert!(!on_disk.checks.is_empty());
            assert_eq!(names(&built_in), names(&on_disk), "{phase:?}");
        }
    }
}
