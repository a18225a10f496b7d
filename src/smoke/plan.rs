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
    ws: Option<RawChat>,
    faults: Option<String>,
    wait_ms: Option<u64>,
    chat_until: Option<RawChatUntil>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChatUntil {
    thread: String,
    message: String,
    metric: String,
    equals: f64,
    max_turns: u32,
    within_ms: Option<u64>,
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
    ws_trace: Option<String>,
    equals: Option<toml::Value>,
    at_most: Option<f64>,
    at_least: Option<f64>,
    metric: Option<String>,
    min_delta: Option<f64>,
    max_delta: Option<f64>,
    histogram: Option<String>,
    quantile: Option<f64>,
    below_ms: Option<f64>,
    min_samples: Option<u64>,
    journal: Option<String>,
    within_ms: Option<u64>,
    why: Option<String>,
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
    /// Send a turn over the WebSocket `/ws/chat` and keep its trace frame.
    WsChat {
        /// Thread name within the check.
        thread: String,
        /// The user's message.
        message: String,
    },
    /// Load a fault program (TOML) on the fake Zep.
    Faults(String),
    /// Sleep.
    Wait(std::time::Duration),
    /// Send HTTP turns on a thread, one at a time, until a metric of the target (summed over its
    /// series) equals a value, at most `max_turns` turns; after each turn the metric is polled for
    /// up to `per_turn`. It drives, it does not judge: a condition never met is recorded in the
    /// evidence and the check's expectations decide (so a threshold of the target, such as the
    /// breaker's failure count, is never written into the file).
    ChatUntil {
        /// Thread name within the check.
        thread: String,
        /// The user's message.
        message: String,
        /// Metric name (a gauge such as `memory_zep_breaker_state`).
        metric: String,
        /// The value that ends the step.
        equals: f64,
        /// Most turns sent.
        max_turns: u32,
        /// How long the metric is polled after each turn.
        per_turn: std::time::Duration,
    },
}

/// Where a field expectation looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldSource {
    /// The last HTTP `/api/chat` answer (plus `http_status`).
    Response,
    /// The trace frame of the last WebSocket turn.
    WsTrace,
}

impl FieldSource {
    /// The name used in files and evidence.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldSource::Response => "response",
            FieldSource::WsTrace => "ws_trace",
        }
    }
}

/// How a field is compared.
#[derive(Debug, Clone, PartialEq)]
pub enum Compare {
    /// Equal to a JSON value.
    Equals(serde_json::Value),
    /// A number at most this.
    AtMost(f64),
    /// A number at least this.
    AtLeast(f64),
}

/// What the fake Zep's journal must show for the check's threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalCheck {
    /// Every thread of the check has a stored write (`journal = "arrived"`).
    Arrived,
    /// No write of the check's threads was stored twice (`journal = "no_duplicate"`).
    NoDuplicate,
    /// Every attempt answered with `Retry-After` was retried no sooner (`journal = "retry_after_spacing"`).
    RetryAfterSpacing,
    /// No request of the check's threads carried personal data (`journal = "no_pii"`).
    NoPii,
}

impl JournalCheck {
    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            JournalCheck::Arrived => "arrived",
            JournalCheck::NoDuplicate => "no_duplicate",
            JournalCheck::RetryAfterSpacing => "retry_after_spacing",
            JournalCheck::NoPii => "no_pii",
        }
    }

    fn parse(text: &str) -> Option<JournalCheck> {
        [
            JournalCheck::Arrived,
            JournalCheck::NoDuplicate,
            JournalCheck::RetryAfterSpacing,
            JournalCheck::NoPii,
        ]
        .into_iter()
        .find(|c| c.as_str() == text)
    }
}

/// One expectation, checked after the steps.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// A field (dotted path, e.g. `trace.memory.used`) of the last HTTP answer or WebSocket trace
    /// frame compares to a value.
    Field {
        /// Which answer.
        source: FieldSource,
        /// Dotted path.
        path: String,
        /// The comparison.
        compare: Compare,
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
    /// A quantile of a histogram's observations between the two scrapes (bucket deltas, summed
    /// over every other label) is below a bound; polled up to `within` for `min_samples`.
    Quantile {
        /// Histogram name (without `_bucket`).
        histogram: String,
        /// The quantile, 0..=1.
        quantile: f64,
        /// Exclusive upper bound, in milliseconds (the histogram is in seconds).
        below_ms: f64,
        /// Observations needed; fewer is a failure ("no samples").
        min_samples: u64,
        /// How long to poll for them.
        within: std::time::Duration,
    },
    /// The fake Zep's journal, for the check's threads; polled up to `within` (writes are
    /// asynchronous).
    Journal {
        /// What it must show.
        check: JournalCheck,
        /// How long to poll.
        within: std::time::Duration,
    },
}

/// An expectation and, optionally, what it guards (`why`), quoted when it fails so the failure
/// names the cause.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// The expectation.
    pub expect: Expect,
    /// What it guards, e.g. `the 250 ms read deadline`.
    pub why: Option<String>,
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
    pub expects: Vec<Expectation>,
    /// The file it came from.
    pub file: PathBuf,
}

impl Check {
    /// Whether the check injects faults (needs the fake Zep's admin API).
    pub fn needs_faults(&self) -> bool {
        self.steps.iter().any(|s| matches!(s, Step::Faults(_)))
    }

    /// Whether the check reads the fake Zep's journal (needs its admin API).
    pub fn needs_journal(&self) -> bool {
        self.expects
            .iter()
            .any(|e| matches!(e.expect, Expect::Journal { .. }))
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
        let invalid = |message: String| invalid(&c.name, message);
        let mut steps = Vec::new();
        for (i, s) in c.steps.into_iter().enumerate() {
            steps.push(resolve_step(s).map_err(|m| invalid(format!("step {}: {m}", i + 1)))?);
        }
        let has_ws = steps.iter().any(|s| matches!(s, Step::WsChat { .. }));
        let mut expects = Vec::new();
        for (i, mut e) in c.expects.into_iter().enumerate() {
            let why = e.why.take();
            let expect =
                resolve_expect(e).map_err(|m| invalid(format!("expect {}: {m}", i + 1)))?;
            if let (
                false,
                Expect::Field {
                    source: FieldSource::WsTrace,
                    ..
                },
            ) = (has_ws, &expect)
            {
                return Err(invalid(format!(
                    "expect {}: `ws_trace` needs a `ws` step in the check",
                    i + 1
                )));
            }
            expects.push(Expectation { expect, why });
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

/// The most turns a `chat_until` step may send (loads stay bounded).
const MAX_TURNS: u32 = 100;

/// The longest a `chat_until` step may poll its metric after one turn.
const MAX_PER_TURN_MS: u64 = 60_000;

fn resolve_step(s: RawStep) -> Result<Step, String> {
    match (s.chat, s.ws, s.faults, s.wait_ms, s.chat_until) {
        (Some(chat), None, None, None, None) => Ok(Step::Chat {
            thread: chat.thread,
            message: chat.message,
        }),
        (None, Some(ws), None, None, None) => Ok(Step::WsChat {
            thread: ws.thread,
            message: ws.message,
        }),
        (None, None, Some(f), None, None) => Ok(Step::Faults(f)),
        (None, None, None, Some(ms), None) => Ok(Step::Wait(std::time::Duration::from_millis(ms))),
        (None, None, None, None, Some(until)) => {
            if !(1..=MAX_TURNS).contains(&until.max_turns) {
                return Err(format!(
                    "`chat_until`: field `max_turns` between 1 and {MAX_TURNS}, not {}",
                    until.max_turns
                ));
            }
            let per_turn_ms = until.within_ms.unwrap_or(1000);
            if !(1..=MAX_PER_TURN_MS).contains(&per_turn_ms) {
                return Err(format!(
                    "`chat_until`: field `within_ms` between 1 and {MAX_PER_TURN_MS}, not {per_turn_ms}"
                ));
            }
            if !until.equals.is_finite() {
                return Err("`chat_until`: field `equals` must be a finite number".to_string());
            }
            Ok(Step::ChatUntil {
                thread: until.thread,
                message: until.message,
                metric: until.metric,
                equals: until.equals,
                max_turns: until.max_turns,
                per_turn: std::time::Duration::from_millis(per_turn_ms),
            })
        }
        _ => Err("exactly one of `chat`, `ws`, `faults`, `wait_ms`, `chat_until`".to_string()),
    }
}

fn resolve_expect(e: RawExpect) -> Result<Expect, String> {
    let within =
        |default_ms: u64| std::time::Duration::from_millis(e.within_ms.unwrap_or(default_ms));
    let kinds = [
        e.response.is_some(),
        e.ws_trace.is_some(),
        e.metric.is_some(),
        e.histogram.is_some(),
        e.journal.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err(
            "exactly one of `response`, `ws_trace`, `metric`, `histogram`, `journal`".to_string(),
        );
    }
    // A field that belongs to another kind of expectation is a mistake, not something to ignore.
    let allowed: &[&str] = if e.response.is_some() || e.ws_trace.is_some() {
        &["equals", "at_most", "at_least"]
    } else if e.metric.is_some() {
        &["min_delta", "max_delta", "within_ms"]
    } else if e.histogram.is_some() {
        &["quantile", "below_ms", "min_samples", "within_ms"]
    } else {
        &["within_ms"]
    };
    let set = [
        ("equals", e.equals.is_some()),
        ("at_most", e.at_most.is_some()),
        ("at_least", e.at_least.is_some()),
        ("min_delta", e.min_delta.is_some()),
        ("max_delta", e.max_delta.is_some()),
        ("quantile", e.quantile.is_some()),
        ("below_ms", e.below_ms.is_some()),
        ("min_samples", e.min_samples.is_some()),
        ("within_ms", e.within_ms.is_some()),
    ];
    if let Some((field, _)) = set.iter().find(|(f, on)| *on && !allowed.contains(f)) {
        return Err(format!(
            "field `{field}` does not apply here (this expectation takes {})",
            allowed
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(path) = e.response.clone().or(e.ws_trace.clone()) {
        let source = if e.response.is_some() {
            FieldSource::Response
        } else {
            FieldSource::WsTrace
        };
        let compare = match (e.equals, e.at_most, e.at_least) {
            (Some(value), None, None) => Compare::Equals(
                serde_json::to_value(value).map_err(|err| format!("field `equals`: {err}"))?,
            ),
            (None, Some(max), None) => Compare::AtMost(max),
            (None, None, Some(min)) => Compare::AtLeast(min),
            _ => {
                return Err(format!(
                    "`{}` needs exactly one of `equals`, `at_most`, `at_least`",
                    source.as_str()
                ))
            }
        };
        return Ok(Expect::Field {
            source,
            path,
            compare,
        });
    }
    if let Some(metric) = e.metric.clone() {
        if e.min_delta.is_none() && e.max_delta.is_none() {
            return Err("`metric` needs `min_delta` or `max_delta`".to_string());
        }
        return Ok(Expect::MetricDelta {
            metric,
            min: e.min_delta.unwrap_or(f64::NEG_INFINITY),
            max: e.max_delta.unwrap_or(f64::INFINITY),
            within: within(0),
        });
    }
    if let Some(histogram) = e.histogram.clone() {
        let quantile = e
            .quantile
            .filter(|q| (0.0..=1.0).contains(q))
            .ok_or("`histogram` needs `quantile` between 0 and 1")?;
        let below_ms = e
            .below_ms
            .filter(|b| b.is_finite() && *b > 0.0)
            .ok_or("`histogram` needs `below_ms` above 0")?;
        return Ok(Expect::Quantile {
            histogram,
            quantile,
            below_ms,
            min_samples: e.min_samples.unwrap_or(1).max(1),
            within: within(5000),
        });
    }
    let name = e.journal.unwrap_or_default();
    let check = JournalCheck::parse(&name).ok_or_else(|| {
        format!(
            "field `journal`: unknown {name:?} (arrived, no_duplicate, retry_after_spacing, no_pii)"
        )
    })?;
    Ok(Expect::Journal {
        check,
        within: within(5000),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(expect: &str) -> Result<Vec<Check>, PlanError> {
        let text = format!(
            "group = \"g\"\nphases = [\"write-only\"]\n[[check]]\nname = \"c\"\n\
             step = [{{ chat = {{ thread = \"a\", message = \"hi\" }} }}]\nexpect = [{expect}]\n"
        );
        parse_file(Path::new("x.toml"), &text, Phase::WriteOnly)
    }

    #[test]
    fn expectations_resolve_and_misplaced_fields_are_refused() {
        let checks = one(r#"{ histogram = "h", quantile = 0.95, below_ms = 150 }"#).expect("valid");
        assert_eq!(
            checks[0].expects[0].expect,
            Expect::Quantile {
                histogram: "h".into(),
                quantile: 0.95,
                below_ms: 150.0,
                min_samples: 1,
                within: std::time::Duration::from_millis(5000),
            }
        );
        for (expect, message) in [
            (
                r#"{ response = "agent", equals = "x", min_delta = 1 }"#,
                "field `min_delta` does not apply",
            ),
            (
                r#"{ response = "agent" }"#,
                "needs exactly one of `equals`, `at_most`, `at_least`",
            ),
            (
                r#"{ ws_trace = "memory.used", equals = true }"#,
                "`ws_trace` needs a `ws` step",
            ),
            (
                r#"{ histogram = "h", quantile = 1.5, below_ms = 150 }"#,
                "`quantile` between 0 and 1",
            ),
            (
                r#"{ journal = "arrivd" }"#,
                "field `journal`: unknown \"arrivd\"",
            ),
            (r#"{ metric = "m", journal = "arrived" }"#, "exactly one of"),
        ] {
            let err = one(expect).expect_err(expect).to_string();
            assert!(err.starts_with("x.toml: check \"c\": expect 1: "), "{err}");
            assert!(err.contains(message), "{expect}: {err}");
        }
    }

    fn with_step(step: &str) -> Result<Vec<Check>, PlanError> {
        let text = format!(
            "group = \"g\"\nphases = [\"write-only\"]\n[[check]]\nname = \"c\"\n\
             step = [\n  {step},\n]\nexpect = [{{ response = \"agent\", equals = \"x\" }}]\n"
        );
        parse_file(Path::new("x.toml"), &text, Phase::WriteOnly)
    }

    #[test]
    fn chat_until_resolves_and_bad_bounds_are_refused() {
        let checks = with_step(
            r#"{ chat_until = { thread = "a", message = "hi", metric = "memory_zep_breaker_state", equals = 2, max_turns = 10 } }"#,
        )
        .expect("valid");
        assert_eq!(
            checks[0].steps[0],
            Step::ChatUntil {
                thread: "a".into(),
                message: "hi".into(),
                metric: "memory_zep_breaker_state".into(),
                equals: 2.0,
                max_turns: 10,
                per_turn: std::time::Duration::from_millis(1000),
            }
        );
        for (step, message) in [
            (
                r#"{ chat_until = { thread = "a", message = "hi", metric = "m", equals = 2, max_turns = 0 } }"#,
                "step 1: `chat_until`: field `max_turns` between 1 and 100, not 0",
            ),
            (
                r#"{ chat_until = { thread = "a", message = "hi", metric = "m", equals = 2, max_turns = 5, within_ms = 0 } }"#,
                "field `within_ms` between 1 and 60000",
            ),
            (
                r#"{ chat_until = { thread = "a", message = "hi", metric = "m", equals = 2, max_turns = 5 }, wait_ms = 5 }"#,
                "step 1: exactly one of `chat`, `ws`, `faults`, `wait_ms`, `chat_until`",
            ),
        ] {
            let err = with_step(step).expect_err(step).to_string();
            assert!(err.starts_with("x.toml: check \"c\": "), "{err}");
            assert!(err.contains(message), "{step}: {err}");
        }
        // A misspelt field is the parser's error, with the line.
        let err = with_step(
            r#"{ chat_until = { thread = "a", message = "hi", metric = "m", equals = 2, max_turn = 5 } }"#,
        )
        .expect_err("unknown field")
        .to_string();
        assert!(
            err.contains("x.toml: TOML parse error at line 6") && err.contains("max_turn"),
            "{err}"
        );
    }

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
