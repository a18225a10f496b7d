//! The gate file (`rollgate.toml`): per rollout phase, the checks that decide whether the rollout
//! may go on, each a PromQL query with a comparison, a window and the action a breach leads to.
//! `fixtures/rollgate.toml` is the seed's plan and the default.
//!
//! For: reading and validating the file once (queries parsed up front, so a syntax error is a
//! load-time error naming the file, line and check). Not for: evaluating.

use std::path::Path;
use std::time::Duration;

use promql_parser::label::MatchOp;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::config_file::{self, FileError, Source};

/// The seed's plan, used when no gate file is given.
pub const DEFAULT_GATES: &str = include_str!("../../fixtures/rollgate.toml");
/// The name the default gate file is reported under.
pub const DEFAULT_GATES_NAME: &str = "fixtures/rollgate.toml (built in)";

/// A rollout phase, gated before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Writes to Zep only (staging).
    WriteOnly,
    /// Writes and context reads (staging).
    ReadWrite,
    /// 10% of threads on the new memory layer.
    Canary,
    /// Everything.
    Full,
}

impl Phase {
    /// The name used in files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::WriteOnly => "write-only",
            Phase::ReadWrite => "read-write",
            Phase::Canary => "canary",
            Phase::Full => "full",
        }
    }
}

/// What a breach of a check leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Hold the rollout where it is (a phase gate not met yet).
    Hold,
    /// Switch memory to write-only.
    Downgrade,
    /// Roll back at once.
    Rollback,
}

/// How a check's value is compared.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    /// Breach when the canary's value is above the threshold.
    Above,
    /// Breach when the canary's value is below the threshold.
    Below,
    /// Breach when canary − baseline is above the threshold.
    DeltaAbove,
    /// Breach when canary / max(baseline, floor) is above the threshold.
    RatioAbove,
}

/// One resolved check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Name (the seed's wording).
    pub name: String,
    /// Phases it applies to.
    pub phases: Vec<Phase>,
    /// What a breach leads to.
    pub action: Action,
    /// The query as written (no side matcher).
    pub query: String,
    /// How its value is compared.
    pub compare: Compare,
    /// The threshold, in the query's unit.
    pub threshold: f64,
    /// For `ratio_above`: the smallest baseline value used, so a zero baseline does not make
    /// every canary value an infinite ratio. For `delta_above`/`ratio_above`, canary values at or
    /// below it never breach either.
    pub floor: f64,
    /// A breach is every evaluation in this trailing window, both ends included, breaching, as
    /// Prometheus's `for:` (zero: any one evaluation).
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Time between evaluations.
    #[serde(with = "humantime_serde")]
    pub step: Duration,
    /// Data needed before the check can pass (a "for 30-60 minutes" gate): with less, HOLD.
    #[serde(with = "humantime_serde")]
    pub min_duration: Duration,
    /// The unit of the value, for output.
    pub unit: String,
}

/// How baseline and canary series are told apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sides {
    /// The label.
    pub label: String,
    /// Its value on baseline series.
    pub baseline: String,
    /// Its value on canary series.
    pub canary: String,
    /// The values are regular expressions (`deployment=~".*-canary"`), fully anchored as in
    /// PromQL.
    #[serde(default)]
    pub regex: bool,
}

impl Sides {
    /// Why the two sides could select the same series, if they could: equal values, or with
    /// `regex`, one side's value matched by the other side's expression (`assistant.*` against
    /// `assistant-canary.*`), which would compare the canary with itself.
    pub fn overlap(&self) -> Option<String> {
        if self.baseline == self.canary {
            return Some(format!("baseline and canary are both {:?}", self.baseline));
        }
        if !self.regex {
            return None;
        }
        let matches = |re: &str, text: &str| {
            regex::Regex::new(&format!("^(?:{re})$")).is_ok_and(|r| r.is_match(text))
        };
        [(&self.baseline, &self.canary), (&self.canary, &self.baseline)]
            .into_iter()
            .find(|(re, other)| matches(re, other))
            .map(|(re, other)| {
                format!(
                    "the sides overlap: {re:?} also matches {other:?}, so one side's series would be judged as the other's"
                )
            })
    }

    /// The matcher operator for a side's value: `=`, or `=~` with `regex`.
    pub fn op(&self, value: &str) -> Result<MatchOp, String> {
        match self.regex {
            false => Ok(MatchOp::Equal),
            true => regex::Regex::new(&format!("^(?:{value})$"))
                .map(MatchOp::Re)
                .map_err(|e| format!("[sides] value {value:?} is not a regular expression: {e}")),
        }
    }
}

/// How much traffic a side needs before any check can pass.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sufficiency {
    /// A counter of requests (summed), such as `sum(assistant_requests_total)`.
    pub requests: String,
    /// Fewest requests each side must have had in the analysed span.
    pub min_requests: f64,
    /// The start of a run whose data is not judged (caches are cold): the first evaluation is at
    /// the warm-up plus the phase's longest query range, so no window reaches into it (scaled like
    /// every window).
    #[serde(with = "humantime_serde")]
    pub warmup: Duration,
    /// Confidence of the statistics (intervals at this level, significance at 1 − it).
    pub confidence: f64,
}

/// A resolved gate file.
#[derive(Debug, Clone, Serialize)]
pub struct Gates {
    /// Where it came from.
    pub origin: String,
    /// Side labels.
    pub sides: Sides,
    /// Data sufficiency.
    pub sufficiency: Sufficiency,
    /// Every check.
    pub checks: Vec<Check>,
}

impl Gates {
    /// Reads a gate file.
    pub fn load(path: &Path) -> Result<Gates, FileError> {
        let text = config_file::read(path)?;
        Gates::parse(path, &text)
    }

    /// The built-in seed plan.
    pub fn seed() -> Result<Gates, FileError> {
        Gates::parse(Path::new(DEFAULT_GATES_NAME), DEFAULT_GATES)
    }

    /// Resolves a gate file's text.
    pub fn parse(path: &Path, text: &str) -> Result<Gates, FileError> {
        let src = Source::new(path, text);
        let raw: RawGates = src.parse()?;
        let (sides_span, sides) = match raw.sides {
            Some(sides) => (sides.span(), sides.into_inner()),
            None => (
                0..0,
                Sides {
                    label: "variant".into(),
                    baseline: "baseline".into(),
                    canary: "canary".into(),
                    regex: false,
                },
            ),
        };
        for value in [&sides.baseline, &sides.canary] {
            sides
                .op(value)
                .map_err(|e| src.invalid(sides_span.clone(), "sides", e))?;
        }
        if let Some(overlap) = sides.overlap() {
            return Err(src.invalid(sides_span, "sides", overlap));
        }
        let (data_span, data) = match raw.data {
            Some(data) => (data.span(), data.into_inner()),
            None => (0..0, RawData::default()),
        };
        let sufficiency = Sufficiency {
            requests: data
                .requests
                .unwrap_or_else(|| "sum(assistant_requests_total)".into()),
            min_requests: data.min_requests.unwrap_or(100.0),
            warmup: match &data.warmup {
                Some(v) => src.duration(v, "data.warmup", Duration::from_secs(86_400))?,
                None => Duration::ZERO,
            },
            confidence: data.confidence.unwrap_or(0.95),
        };
        if !(sufficiency.confidence >= 0.5 && sufficiency.confidence < 1.0) {
            return Err(src.invalid(
                data_span.clone(),
                "data.confidence",
                format!(
                    "{} must be at least 0.5 and below 1",
                    sufficiency.confidence
                ),
            ));
        }
        promql_parser::parser::parse(&sufficiency.requests).map_err(|e| {
            src.invalid(data_span, "data.requests", format!("not valid PromQL: {e}"))
        })?;
        let mut checks = Vec::new();
        for raw_check in raw.check {
            checks.push(resolve(&src, raw_check)?);
        }
        if checks.is_empty() {
            return Err(src.invalid(0..0, "check", "the file has no [[check]]"));
        }
        Ok(Gates {
            origin: path.display().to_string(),
            sides,
            sufficiency,
            checks,
        })
    }

    /// The checks of a phase.
    pub fn for_phase(&self, phase: Phase) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(move |c| c.phases.contains(&phase))
    }

    /// The longest range selector (`[5m]`) in the queries of `phase`'s checks: how far back an
    /// evaluation reads.
    pub fn look_back(&self, phase: Phase) -> Duration {
        let ranges = regex::Regex::new(r"\[([0-9]+[smhd])\]").expect("a valid regex");
        self.for_phase(phase)
            .flat_map(|check| {
                ranges
                    .captures_iter(&check.query)
                    .filter_map(|c| humantime::parse_duration(&c[1]).ok())
                    .collect::<Vec<_>>()
            })
            .max()
            .unwrap_or(Duration::ZERO)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGates {
    sides: Option<Spanned<Sides>>,
    data: Option<Spanned<RawData>>,
    #[serde(default)]
    check: Vec<Spanned<RawCheck>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    requests: Option<String>,
    min_requests: Option<f64>,
    warmup: Option<Spanned<String>>,
    confidence: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    name: String,
    phases: Option<Vec<Phase>>,
    action: Action,
    query: Spanned<String>,
    compare: Compare,
    threshold: f64,
    floor: Option<f64>,
    #[serde(rename = "for")]
    window: Option<Spanned<String>>,
    step: Option<Spanned<String>>,
    min_duration: Option<Spanned<String>>,
    #[serde(default)]
    unit: String,
}

fn resolve(src: &Source, raw: Spanned<RawCheck>) -> Result<Check, FileError> {
    let span = raw.span();
    let raw = raw.into_inner();
    let field = |f: &str| format!("check `{}`: {f}", raw.name);
    if let Err(e) = promql_parser::parser::parse(raw.query.get_ref()) {
        return Err(src.invalid(
            raw.query.span(),
            &field("query"),
            format!("not valid PromQL: {}", e.trim()),
        ));
    }
    let day = Duration::from_secs(86_400);
    let duration = |value: &Option<Spanned<String>>, name: &str, default: Duration| match value {
        Some(v) => src.duration(v, &field(name), day),
        None => Ok(default),
    };
    let window = duration(&raw.window, "for", Duration::ZERO)?;
    let step = duration(&raw.step, "step", Duration::from_secs(30))?;
    if step.is_zero() {
        return Err(src.invalid(span, &field("step"), "must be above 0"));
    }
    if window.as_millis() % step.as_millis() != 0 {
        return Err(src.invalid(
            span,
            &field("for"),
            format!(
                "{} is not a whole number of steps of {}: a window breaches as Prometheus's `for:` fires only on whole steps",
                humantime::format_duration(window),
                humantime::format_duration(step)
            ),
        ));
    }
    if !raw.threshold.is_finite() {
        return Err(src.invalid(span, &field("threshold"), "must be a number"));
    }
    Ok(Check {
        phases: raw.phases.unwrap_or_else(|| {
            vec![
                Phase::WriteOnly,
                Phase::ReadWrite,
                Phase::Canary,
                Phase::Full,
            ]
        }),
        action: raw.action,
        query: raw.query.into_inner(),
        compare: raw.compare,
        threshold: raw.threshold,
        floor: raw.floor.unwrap_or(0.0),
        window,
        step,
        min_duration: duration(&raw.min_duration, "min_duration", Duration::ZERO)?,
        unit: raw.unit,
        name: raw.name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_plan_loads() {
        let gates = Gates::seed().expect("the built-in gate file is valid");
        assert!(gates
            .for_phase(Phase::Canary)
            .any(|c| c.name == "p95 TTFB increase > 200ms"));
        assert!(gates
            .for_phase(Phase::ReadWrite)
            .any(|c| c.min_duration >= Duration::from_secs(1800)));
    }

    #[test]
    fn errors_name_the_file_line_and_check() {
        let text = "[[check]]\nname = \"slow\"\naction = \"rollback\"\nquery = \"rate(x[5m]\"\ncompare = \"above\"\nthreshold = 1\n";
        let err = Gates::parse(Path::new("g.toml"), text).expect_err("bad query");
        assert!(
            err.to_string()
                .starts_with("g.toml:4: field `check `slow`: query`: not valid PromQL"),
            "{err}"
        );
        let text = "[[check]]\nname = \"slow\"\naction = \"explode\"\nquery = \"x\"\ncompare = \"above\"\nthreshold = 1\n";
        let err = Gates::parse(Path::new("g.toml"), text).expect_err("bad action");
        assert!(
            err.to_string()
                .starts_with("g.toml:3: unknown variant `explode`"),
            "{err}"
        );
        let text = "[[check]]\nname = \"slow\"\naction = \"hold\"\nquery = \"x\"\ncompare = \"above\"\nthreshold = 1\nfor = \"ten minutes\"\n";
        let err = Gates::parse(Path::new("g.toml"), text).expect_err("bad duration");
        assert!(
            err.to_string()
                .starts_with("g.toml:7: field `check `slow`: for`"),
            "{err}"
        );
    }

    #[test]
    fn a_window_of_part_steps_and_overlapping_sides_are_refused() {
        let text = "[[check]]\nname = \"slow\"\naction = \"hold\"\nquery = \"x\"\ncompare = \"above\"\nthreshold = 1\nfor = \"10m\"\nstep = \"45s\"\n";
        let err = Gates::parse(Path::new("g.toml"), text).expect_err("10m in 45s steps");
        assert!(
            err.to_string().contains("not a whole number of steps"),
            "{err}"
        );
        let text = "[sides]\nlabel = \"deployment\"\nbaseline = \"assistant.*\"\ncanary = \"assistant-canary.*\"\nregex = true\n";
        let err = Gates::parse(Path::new("g.toml"), text).expect_err("overlap");
        assert!(err.to_string().contains("the sides overlap"), "{err}");
        let text = "[sides]\nlabel = \"deployment\"\nbaseline = \"assistant-stable.*\"\ncanary = \"assistant-canary.*\"\nregex = true\n";
        if let Err(e) = Gates::parse(Path::new("g.toml"), text) {
            assert!(!e.to_string().contains("overlap"), "{e}");
        }
    }

    #[test]
    fn a_bad_sides_or_data_table_is_reported_at_its_line() {
        let check = "[[check]]\nname = \"slow\"\naction = \"hold\"\nquery = \"x\"\ncompare = \"above\"\nthreshold = 1\nfor = \"10m\"\n";
        let text = format!("{check}\n[sides]\nlabel = \"deployment\"\nbaseline = \"(unclosed\"\ncanary = \"c.*\"\nregex = true\n");
        let err = Gates::parse(Path::new("g.toml"), &text).expect_err("bad regex");
        assert!(
            err.to_string().starts_with("g.toml:9: field `sides`"),
            "{err}"
        );
        assert!(
            err.to_string().contains("not a regular expression"),
            "{err}"
        );
        let text = format!("{check}\n\n[data]\nrequests = \"sum(\"\n");
        let err = Gates::parse(Path::new("g.toml"), &text).expect_err("bad PromQL");
        assert!(
            err.to_string()
                .starts_with("g.toml:10: field `data.requests`"),
            "{err}"
        );
    }
}
