//! The `--regression` file: a TOML description of what makes a canary bad, so rollgate's gates
//! can be shown to fire for the right reason.
//!
//! ```toml
//! [brain]
//! extra_latency = "150ms"      # added to every model-time sample (TTFB regression)
//! latency_factor = 1.5         # multiplies every sample
//! error_rate = 0.02            # fraction of turns answered with HTTP 500
//!
//! [memory]
//! read_deadline = "400ms"      # replaces the 250 ms context-read deadline
//! cache = false                # no per-turn context cache: every turn reads Zep
//! reads_per_turn = 2           # context reads per turn (a multi-agent turn without the cache)
//! idempotency = false          # a repeated client_msg_id is written again
//! redaction = false            # PII goes to Zep unredacted
//! extra_write_latency = "80ms" # added before every write attempt
//! extra_read_latency = "350ms" # added to every context read, inside its deadline
//!
//! [defects]                    # safeguards switched off (the smoke checklist's mutation tests)
//! breaker = false              # the circuit breaker never opens
//! retry_after = false          # a 429's Retry-After is ignored: plain backoff, not counted
//! downgrade = false            # sustained 401/403 never downgrade read_write
//! read_deadline = false        # no 250 ms deadline around context reads
//! ```
//!
//! Every key is optional; unknown keys are errors. Errors name the file, the line and the field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

use super::brain::Slowdown;

/// Why a regression file was refused.
#[derive(Debug, Error)]
pub enum RegressionError {
    /// The file could not be read.
    #[error("cannot read regression file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not valid TOML, an unknown key or a value of the wrong type.
    #[error("{path}:{line}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem (0 if unknown).
        line: usize,
        /// What the TOML parser said (it names the field).
        message: String,
    },
    /// A well-typed value out of its range.
    #[error("{path}:{line}: field `{field}`: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the value.
        line: usize,
        /// Dotted field name, such as `brain.error_rate`.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// A resolved regression: what the canary does worse. `Default` is no regression.
#[derive(Debug, Clone, PartialEq)]
pub struct Regression {
    /// Slower model time.
    pub slowdown: Slowdown,
    /// Fraction of turns answered with a 500.
    pub error_rate: f64,
    /// Replacement for the context-read deadline.
    pub read_deadline: Option<Duration>,
    /// Whether the per-turn context cache is used.
    pub cache: bool,
    /// Context reads per turn (1 normally).
    pub reads_per_turn: u32,
    /// Whether a repeated `client_msg_id` is deduplicated.
    pub idempotency: bool,
    /// Whether PII is redacted before writes.
    pub redaction: bool,
    /// Added before every write attempt.
    pub extra_write_latency: Duration,
    /// Added to every context read, inside the read deadline.
    pub extra_read_latency: Duration,
    /// Safeguards switched off (`[defects]`).
    pub defects: Defects,
}

/// Safeguards a regression file switches off (`[defects]`, each `false` there); all `false` here
/// by default: a working assistant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Defects {
    /// `breaker = false`: the circuit breaker never opens.
    pub breaker_disabled: bool,
    /// `retry_after = false`: a `Retry-After` is ignored (plain backoff, nothing counted).
    pub retry_after_ignored: bool,
    /// `downgrade = false`: sustained 401/403 never downgrade `read_write`.
    pub downgrade_disabled: bool,
    /// `read_deadline = false`: no deadline around context reads (only the client's timeout).
    pub read_deadline_off: bool,
}

impl Default for Regression {
    fn default() -> Self {
        Regression {
            slowdown: Slowdown::default(),
            error_rate: 0.0,
            read_deadline: None,
            cache: true,
            reads_per_turn: 1,
            idempotency: true,
            redaction: true,
            extra_write_latency: Duration::ZERO,
            extra_read_latency: Duration::ZERO,
            defects: Defects::default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    brain: RawBrain,
    #[serde(default)]
    memory: RawMemory,
    #[serde(default)]
    defects: RawDefects,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefects {
    breaker: Option<bool>,
    retry_after: Option<bool>,
    downgrade: Option<bool>,
    read_deadline: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBrain {
    extra_latency: Option<Spanned<String>>,
    latency_factor: Option<Spanned<f64>>,
    error_rate: Option<Spanned<f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMemory {
    read_deadline: Option<Spanned<String>>,
    cache: Option<bool>,
    reads_per_turn: Option<Spanned<u32>>,
    idempotency: Option<bool>,
    redaction: Option<bool>,
    extra_write_latency: Option<Spanned<String>>,
    extra_read_latency: Option<Spanned<String>>,
}

impl Regression {
    /// Reads and validates a regression file.
    pub fn load(path: &Path) -> Result<Regression, RegressionError> {
        let text = std::fs::read_to_string(path).map_err(|source| RegressionError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Regression::parse(path, &text)
    }

    /// Validates regression text; `path` is only used in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Regression, RegressionError> {
        let raw: RawFile = toml::from_str(text).map_err(|err| RegressionError::Syntax {
            path: path.to_path_buf(),
            line: err.span().map_or(0, |span| line_of(text, span.start)),
            message: err.message().trim().to_string(),
        })?;
        let check = Checker { path, text };
        let mut out = Regression::default();
        if let Some(extra) = &raw.brain.extra_latency {
            out.slowdown.extra = check.duration(extra, "brain.extra_latency")?;
        }
        if let Some(factor) = &raw.brain.latency_factor {
            out.slowdown.factor = check.range(factor, "brain.latency_factor", 0.0, 100.0)?;
        }
        if let Some(rate) = &raw.brain.error_rate {
            out.error_rate = check.range(rate, "brain.error_rate", 0.0, 1.0)?;
        }
        if let Some(deadline) = &raw.memory.read_deadline {
            let deadline_value = check.duration(deadline, "memory.read_deadline")?;
            if deadline_value.is_zero() {
                return Err(check.invalid(
                    deadline.span().start,
                    "memory.read_deadline",
                    "must be above 0",
                ));
            }
            out.read_deadline = Some(deadline_value);
        }
        if let Some(reads) = &raw.memory.reads_per_turn {
            if !(1..=10).contains(reads.get_ref()) {
                return Err(check.invalid(
                    reads.span().start,
                    "memory.reads_per_turn",
                    "must be between 1 and 10",
                ));
            }
            out.reads_per_turn = *reads.get_ref();
        }
        if let Some(extra) = &raw.memory.extra_write_latency {
            out.extra_write_latency = check.duration(extra, "memory.extra_write_latency")?;
        }
        if let Some(extra) = &raw.memory.extra_read_latency {
            out.extra_read_latency = check.duration(extra, "memory.extra_read_latency")?;
        }
        out.cache = raw.memory.cache.unwrap_or(true);
        out.idempotency = raw.memory.idempotency.unwrap_or(true);
        out.redaction = raw.memory.redaction.unwrap_or(true);
        let off = |on: Option<bool>| on == Some(false);
        out.defects = Defects {
            breaker_disabled: off(raw.defects.breaker),
            retry_after_ignored: off(raw.defects.retry_after),
            downgrade_disabled: off(raw.defects.downgrade),
            read_deadline_off: off(raw.defects.read_deadline),
        };
        Ok(out)
    }
}

struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Checker<'_> {
    fn invalid(&self, offset: usize, field: &'static str, reason: &str) -> RegressionError {
        RegressionError::Invalid {
            path: self.path.to_path_buf(),
            line: line_of(self.text, offset),
            field,
            reason: reason.to_string(),
        }
    }

    fn duration(
        &self,
        value: &Spanned<String>,
        field: &'static str,
    ) -> Result<Duration, RegressionError> {
        let d = humantime::parse_duration(value.get_ref()).map_err(|err| {
            self.invalid(
                value.span().start,
                field,
                &format!("`{}` is not a duration ({err})", value.get_ref()),
            )
        })?;
        if d > Duration::from_secs(60) {
            return Err(self.invalid(value.span().start, field, "must be at most 60s"));
        }
        Ok(d)
    }

    fn range(
        &self,
        value: &Spanned<f64>,
        field: &'static str,
        low: f64,
        high: f64,
    ) -> Result<f64, RegressionError> {
        let v = *value.get_ref();
        if !(v.is_finite() && (low..=high).contains(&v)) {
            return Err(self.invalid(
                value.span().start,
                field,
                &format!("{v} is outside {low}..={high}"),
            ));
        }
        Ok(v)
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |before| before.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Regression, RegressionError> {
        Regression::parse(Path::new("bad-canary.toml"), text)
    }

    #[test]
    fn a_full_file_resolves() {
        let r = parse(
            "[brain]\nextra_latency = \"150ms\"\nlatency_factor = 1.5\nerror_rate = 0.02\n\n[memory]\n\
             read_deadline = \"400ms\"\ncache = false\nreads_per_turn = 2\nidempotency = false\nredaction = false\n\
             extra_write_latency = \"80ms\"\n",
        )
        .expect("valid");
        assert_eq!(
            r.slowdown,
            Slowdown {
                factor: 1.5,
                extra: Duration::from_millis(150)
            }
        );
        assert_eq!(r.error_rate, 0.02);
        assert_eq!(r.read_deadline, Some(Duration::from_millis(400)));
        assert!(!r.cache && !r.idempotency && !r.redaction);
        assert_eq!(r.reads_per_turn, 2);
        assert_eq!(r.extra_write_latency, Duration::from_millis(80));
        assert_eq!(r.defects, Defects::default());
        let r = parse("[defects]\nbreaker = false\nretry_after = false\ndowngrade = true\nread_deadline = false\n")
            .expect("valid");
        assert_eq!(
            r.defects,
            Defects {
                breaker_disabled: true,
                retry_after_ignored: true,
                downgrade_disabled: false,
                read_deadline_off: true,
            }
        );
        assert_eq!(
            parse("").expect("empty is no regression"),
            Regression::default()
        );
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let err = parse("[brain]\n\nerror_rate = 1.5\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "bad-canary.toml:3: field `brain.error_rate`: 1.5 is outside 0..=1"
        );

        let err = parse("[memory]\nread_deadline = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "bad-canary.toml:2: field `memory.read_deadline`: `soon` is not a duration"
            ),
            "{err}"
        );

        let err = parse("[brain]\nextra_latency = \"1ms\"\nerror_ratio = 0.1\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("bad-canary.toml:3: unknown field `error_ratio`"),
            "{err}"
        );

        let err = parse("[memory]\ncache = \"no\"\n").unwrap_err().to_string();
        assert!(
            err.starts_with("bad-canary.toml:2:") && err.contains("invalid type"),
            "{err}"
        );
    }
}
