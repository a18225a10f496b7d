//! Fault programs: the TOML files under `fixtures/faults/` (and the body of `PUT /__rollgate/faults`)
//! parsed into a validated [`Program`]. Parsing happens once; the engine in [`super::faults`] only
//! ever sees resolved values.
//!
//! ```toml
//! description = "5xx and 429 bursts on writes"
//! seed = 7                                    # optional: makes rates, latency and garbage reproducible
//!
//! [[rule]]
//! name = "one write in ten fails"
//! routes = ["writes"]                         # groups or route patterns; default: all Zep routes
//! window = { from = "30s", until = "90s" }    # optional, measured from when the program was loaded
//! when = { every = 10 }                       # or { rate = 0.05 } or { burst = 5, period = 50 }
//! fault = { kind = "status", status = 503 }
//! ```
//!
//! Fault kinds: `status`, `rate_limit`, `token_bucket`, `auth`, `latency`, `connection` (see [`Fault`]).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

use super::routes::{ApiVersion, Route, RouteKind};
use super::AuthBody;

/// Why a fault program could not be loaded.
#[derive(Debug, Error)]
pub enum ProgramError {
    /// The file could not be read.
    #[error("cannot read fault program {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The TOML is malformed, a field is unknown, or a value has the wrong type.
    #[error("{origin}:{line}:{column}: {message}")]
    Syntax {
        /// File name or other origin of the text.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong and, where the parser knows them, the allowed values.
        message: String,
    },
    /// A field has a value that parses but makes no sense.
    #[error("{origin}:{line}: rule {rule}: `{field}`: {message}")]
    Invalid {
        /// File name or other origin of the text.
        origin: String,
        /// 1-based line of the rule's offending table.
        line: usize,
        /// The rule's name, or its 1-based index.
        rule: String,
        /// The offending field.
        field: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
}

/// A validated fault program.
#[derive(Debug, Clone, Default)]
pub struct Program {
    /// Free text describing the program.
    pub description: Option<String>,
    /// Seed for the program's random choices; the server's seed when absent.
    pub seed: Option<u64>,
    /// The rules, in file order.
    pub rules: Vec<Rule>,
    /// The TOML the program was parsed from (served back by `GET /__rollgate/faults`).
    pub source: String,
}

/// One rule: which requests, when, and what fault.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Name used in the journal and in errors.
    pub name: String,
    /// Which routes the rule applies to.
    pub routes: RouteSet,
    /// Time window, measured from when the program was loaded.
    pub window: Window,
    /// Which of the matching requests get the fault.
    pub when: When,
    /// The fault.
    pub fault: Fault,
}

/// A set of routes, as a bit per entry of [`Route::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSet(u32);

impl RouteSet {
    /// Every Zep route.
    pub const ALL: RouteSet = RouteSet((1 << Route::ALL.len()) - 1);

    /// Whether `route` is in the set.
    pub fn contains(self, route: Route) -> bool {
        let index = Route::ALL.iter().position(|r| *r == route).unwrap_or(0);
        self.0 & (1 << index) != 0
    }

    fn of(predicate: impl Fn(Route) -> bool) -> RouteSet {
        let bits = Route::ALL
            .iter()
            .enumerate()
            .filter(|(_, r)| predicate(**r))
            .fold(0, |bits, (i, _)| bits | (1 << i));
        RouteSet(bits)
    }

    /// Resolves one selector: a group name or a route pattern.
    fn parse(selector: &str) -> Option<RouteSet> {
        let set = match selector {
            "all" => RouteSet::ALL,
            "writes" => RouteSet::of(|r| r.kind() == RouteKind::Write),
            "reads" => RouteSet::of(|r| r.kind() == RouteKind::Read),
            "users" => RouteSet::of(|r| r.kind() == RouteKind::User),
            "threads" => RouteSet::of(|r| r.kind() == RouteKind::Thread),
            "v2" => RouteSet::of(|r| r.version() == ApiVersion::V2),
            "v3" => RouteSet::of(|r| r.version() == ApiVersion::V3),
            "v4" => RouteSet::of(|r| r.version() == ApiVersion::V4),
            pattern => {
                let route = Route::ALL.iter().find(|r| r.pattern() == pattern)?;
                RouteSet::of(|r| r == *route)
            }
        };
        Some(set)
    }
}

/// The groups a `routes` entry may name besides a route pattern.
const ROUTE_GROUPS: &str = "all, writes, reads, users, threads, v2, v3, v4";

/// A time window relative to when the program was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    /// Start (inclusive).
    pub from: Duration,
    /// End (exclusive); open-ended when `None`.
    pub until: Option<Duration>,
}

impl Window {
    /// Whether `elapsed` (time since the program was loaded) is inside the window.
    pub fn contains(&self, elapsed: Duration) -> bool {
        elapsed >= self.from && self.until.is_none_or(|until| elapsed < until)
    }
}

/// Which of the requests matching a rule's routes and window get its fault.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum When {
    /// Every one.
    Always,
    /// Each independently with this probability (seeded).
    Rate(f64),
    /// The `n`th, `2n`th, ... (counting from 1), shifted by `offset`.
    Every {
        /// Period.
        n: u64,
        /// Shift: with offset 2 and n 10, the 2nd, 12th, 22nd...
        offset: u64,
    },
    /// The first `length` of every `period` matching requests.
    Burst {
        /// Requests faulted in a row.
        length: u64,
        /// Cycle length.
        period: u64,
    },
}

/// A fault a rule injects.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// A server error (500, 502, 503, 504) with Zep's error body.
    Status {
        /// The status.
        status: u16,
        /// The body's message.
        message: String,
    },
    /// A 429 with `Retry-After` and `X-RateLimit-*` headers.
    RateLimit {
        /// Value of `Retry-After`.
        retry_after: Duration,
        /// Seconds or HTTP-date.
        format: RetryAfterFormat,
        /// Value of `X-RateLimit-Limit`.
        limit: u32,
    },
    /// A real token bucket: requests beyond `per_minute` (with `burst` headroom) get 429s.
    TokenBucket {
        /// Sustained rate.
        per_minute: u32,
        /// Bucket size.
        burst: u32,
    },
    /// A 401 or 403.
    Auth {
        /// 401 or 403.
        status: u16,
        /// JSON or text body.
        body: AuthBody,
    },
    /// Added latency, sampled per request.
    Latency {
        /// The distribution.
        distribution: Latency,
        /// Before the headers (TTFB) or between headers and body.
        phase: Phase,
    },
    /// A transport-level fault.
    Connection(ConnectionFault),
}

/// How `Retry-After` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryAfterFormat {
    /// Whole seconds, rounded up (`Retry-After: 2`).
    #[default]
    Seconds,
    /// An HTTP-date (`Retry-After: Wed, 25 Nov 2026 16:00:02 GMT`).
    HttpDate,
}

/// A latency distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    /// Always this delay.
    Fixed(Duration),
    /// Uniform between the two bounds.
    Uniform(Duration, Duration),
    /// Lognormal with this median and 95th percentile.
    LogNormal {
        /// Median.
        median: Duration,
        /// 95th percentile (greater than the median).
        p95: Duration,
    },
}

/// Where added latency goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Before the status line: time to first byte grows.
    #[default]
    Headers,
    /// After the headers, before the body.
    Body,
}

/// Transport-level faults, which wiremock cannot produce; the fake's own TCP front does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionMode {
    /// Read the request, never answer; hold the connection until the client or the server gives up.
    Hang,
    /// Close the connection (FIN) without a response.
    Close,
    /// Reset the connection (RST) without a response.
    Reset,
    /// Send the status line and headers, then reset.
    ResetAfterHeaders,
    /// Send the headers and half the body, then reset.
    ResetMidBody,
    /// Send the headers on time, then the body a few bytes at a time.
    Dribble,
    /// Send random bytes instead of HTTP, then close.
    Garbage,
}

/// A transport-level fault with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionFault {
    /// What happens.
    pub mode: ConnectionMode,
    /// Dribble: bytes per write.
    pub chunk_bytes: usize,
    /// Dribble: pause between writes.
    pub interval: Duration,
}

impl Program {
    /// Reads and validates a program file.
    pub fn load(path: &Path) -> Result<Program, ProgramError> {
        let text = std::fs::read_to_string(path).map_err(|error| ProgramError::Read {
            path: path.display().to_string(),
            error,
        })?;
        Program::parse(&text, &path.display().to_string())
    }

    /// Parses and validates program text; `origin` names it in errors (a path, or `PUT /__rollgate/faults`).
    pub fn parse(text: &str, origin: &str) -> Result<Program, ProgramError> {
        let raw: RawProgram = toml::from_str(text).map_err(|err| {
            let offset = err.span().map(|span| span.start).unwrap_or(0);
            let (line, column) = line_column(text, offset);
            let message = err.message().trim();
            let message = match key_before(text, offset) {
                Some(key) if !message.starts_with("unknown field") => format!("`{key}`: {message}"),
                _ => message.to_string(),
            };
            ProgramError::Syntax {
                origin: origin.to_string(),
                line,
                column,
                message,
            }
        })?;
        let rules = raw
            .rule
            .into_iter()
            .enumerate()
            .map(|(index, rule)| rule.resolve(index, text, origin))
            .collect::<Result<_, _>>()?;
        Ok(Program {
            description: raw.description,
            seed: raw.seed,
            rules,
            source: text.to_string(),
        })
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The key whose value starts at `offset` (`median` in `median = "1x"`), if the text says so.
fn key_before(text: &str, offset: usize) -> Option<&str> {
    let line = text[..offset.min(text.len())].rsplit('\n').next()?;
    let before_value = line.trim_end().strip_suffix('=')?;
    let key = before_value
        .trim_end()
        .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
        .next()?;
    (!key.is_empty()).then_some(key)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProgram {
    description: Option<String>,
    seed: Option<u64>,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    routes: Option<Spanned<Vec<String>>>,
    window: Option<Spanned<RawWindow>>,
    when: Option<Spanned<RawWhen>>,
    fault: Spanned<RawFault>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    #[serde(default, with = "humantime_serde")]
    from: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    until: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWhen {
    rate: Option<f64>,
    every: Option<u64>,
    offset: Option<u64>,
    burst: Option<u64>,
    period: Option<u64>,
}

/// A fault table: `kind` plus the fields of that kind (checked in [`resolve_fault`]). Flat rather
/// than a tagged enum so that a bad value's error points at the value and names its key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    kind: FaultKind,
    status: Option<u16>,
    message: Option<String>,
    #[serde(default, with = "humantime_serde")]
    retry_after: Option<Duration>,
    retry_after_format: Option<RetryAfterFormat>,
    limit: Option<u32>,
    per_minute: Option<u32>,
    burst: Option<u32>,
    body: Option<AuthBody>,
    distribution: Option<RawDistribution>,
    #[serde(default, with = "humantime_serde")]
    delay: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    min: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    max: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    median: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    p95: Option<Duration>,
    phase: Option<Phase>,
    mode: Option<ConnectionMode>,
    chunk_bytes: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    interval: Option<Duration>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
enum FaultKind {
    Status,
    RateLimit,
    TokenBucket,
    Auth,
    Latency,
    Connection,
}

impl FaultKind {
    fn name(self) -> &'static str {
        match self {
            FaultKind::Status => "status",
            FaultKind::RateLimit => "rate_limit",
            FaultKind::TokenBucket => "token_bucket",
            FaultKind::Auth => "auth",
            FaultKind::Latency => "latency",
            FaultKind::Connection => "connection",
        }
    }

    /// The fields a fault of this kind may set.
    fn fields(self) -> &'static [&'static str] {
        match self {
            FaultKind::Status => &["status", "message"],
            FaultKind::RateLimit => &["retry_after", "retry_after_format", "limit"],
            FaultKind::TokenBucket => &["per_minute", "burst"],
            FaultKind::Auth => &["status", "body"],
            FaultKind::Latency => &[
                "distribution",
                "delay",
                "min",
                "max",
                "median",
                "p95",
                "phase",
            ],
            FaultKind::Connection => &["mode", "chunk_bytes", "interval"],
        }
    }
}

impl RawFault {
    /// Names of the fields that are set.
    fn present(&self) -> Vec<&'static str> {
        [
            ("status", self.status.is_some()),
            ("message", self.message.is_some()),
            ("retry_after", self.retry_after.is_some()),
            ("retry_after_format", self.retry_after_format.is_some()),
            ("limit", self.limit.is_some()),
            ("per_minute", self.per_minute.is_some()),
            ("burst", self.burst.is_some()),
            ("body", self.body.is_some()),
            ("distribution", self.distribution.is_some()),
            ("delay", self.delay.is_some()),
            ("min", self.min.is_some()),
            ("max", self.max.is_some()),
            ("median", self.median.is_some()),
            ("p95", self.p95.is_some()),
            ("phase", self.phase.is_some()),
            ("mode", self.mode.is_some()),
            ("chunk_bytes", self.chunk_bytes.is_some()),
            ("interval", self.interval.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum RawDistribution {
    Fixed,
    Uniform,
    Lognormal,
}

/// Context for validation errors: where the rule is and what it is called.
struct RuleSite<'a> {
    origin: &'a str,
    text: &'a str,
    rule: String,
}

impl RuleSite<'_> {
    fn require<T>(
        &self,
        value: Option<T>,
        span: &std::ops::Range<usize>,
        field: &'static str,
        context: &str,
    ) -> Result<T, ProgramError> {
        value.ok_or_else(|| self.error(span.clone(), field, format!("is required for {context}")))
    }

    fn error(
        &self,
        span: std::ops::Range<usize>,
        field: &'static str,
        message: impl Into<String>,
    ) -> ProgramError {
        ProgramError::Invalid {
            origin: self.origin.to_string(),
            line: line_column(self.text, span.start).0,
            rule: self.rule.clone(),
            field,
            message: message.into(),
        }
    }
}

impl RawRule {
    fn resolve(self, index: usize, text: &str, origin: &str) -> Result<Rule, ProgramError> {
        let name = self.name.unwrap_or_else(|| format!("#{}", index + 1));
        let site = RuleSite {
            origin,
            text,
            rule: name.clone(),
        };
        let routes = match self.routes {
            None => RouteSet::ALL,
            Some(spanned) => {
                let span = spanned.span();
                let selectors = spanned.into_inner();
                if selectors.is_empty() {
                    return Err(site.error(
                        span,
                        "routes",
                        "is empty; leave it out to mean every route",
                    ));
                }
                let mut bits = 0;
                for selector in &selectors {
                    let set = RouteSet::parse(selector).ok_or_else(|| {
                        site.error(
                            span.clone(),
                            "routes",
                            format!(
                                "unknown route {selector:?}; use a group ({ROUTE_GROUPS}) or a pattern such as {:?}",
                                Route::AddMessages.pattern()
                            ),
                        )
                    })?;
                    bits |= set.0;
                }
                RouteSet(bits)
            }
        };
        let window = match self.window {
            None => Window::default(),
            Some(spanned) => {
                let span = spanned.span();
                let raw = spanned.into_inner();
                let window = Window {
                    from: raw.from.unwrap_or_default(),
                    until: raw.until,
                };
                if window.until.is_some_and(|until| until <= window.from) {
                    return Err(site.error(span, "window", "`until` must be later than `from`"));
                }
                window
            }
        };
        let fault_span = self.fault.span();
        let fault = resolve_fault(self.fault.into_inner(), &site, fault_span)?;
        let when = match self.when {
            None => When::Always,
            Some(spanned) => {
                let span = spanned.span();
                if matches!(fault, Fault::TokenBucket { .. }) {
                    return Err(site.error(
                        span,
                        "when",
                        "a token_bucket applies to every matching request; remove `when`",
                    ));
                }
                resolve_when(spanned.into_inner(), &site, span)?
            }
        };
        Ok(Rule {
            name,
            routes,
            window,
            when,
            fault,
        })
    }
}

fn resolve_when(
    raw: RawWhen,
    site: &RuleSite,
    span: std::ops::Range<usize>,
) -> Result<When, ProgramError> {
    const SHAPES: &str = "use one of { rate = 0.05 }, { every = 10 } (optionally with offset), { burst = 5, period = 50 }";
    match raw {
        RawWhen {
            rate: Some(rate),
            every: None,
            offset: None,
            burst: None,
            period: None,
        } => {
            if !(0.0..=1.0).contains(&rate) {
                return Err(site.error(
                    span,
                    "when.rate",
                    format!("{rate} is not a probability; use 0.0 to 1.0"),
                ));
            }
            Ok(When::Rate(rate))
        }
        RawWhen {
            rate: None,
            every: Some(n),
            offset,
            burst: None,
            period: None,
        } => {
            if n == 0 {
                return Err(site.error(span, "when.every", "must be at least 1"));
            }
            let offset = offset.unwrap_or(0);
            if offset >= n {
                return Err(site.error(
                    span,
                    "when.offset",
                    format!("must be below `every` ({n})"),
                ));
            }
            Ok(When::Every { n, offset })
        }
        RawWhen {
            rate: None,
            every: None,
            offset: None,
            burst: Some(length),
            period: Some(period),
        } => {
            if length == 0 || period < length {
                return Err(site.error(
                    span,
                    "when.burst",
                    format!("need 1 <= burst <= period, got burst {length}, period {period}"),
                ));
            }
            Ok(When::Burst { length, period })
        }
        _ => Err(site.error(span, "when", SHAPES)),
    }
}

fn resolve_fault(
    raw: RawFault,
    site: &RuleSite,
    span: std::ops::Range<usize>,
) -> Result<Fault, ProgramError> {
    let kind = raw.kind;
    if let Some(field) = raw
        .present()
        .into_iter()
        .find(|f| !kind.fields().contains(f))
    {
        return Err(site.error(
            span,
            "fault",
            format!(
                "`{field}` does not apply to kind = \"{}\"; its fields are: {}",
                kind.name(),
                kind.fields().join(", ")
            ),
        ));
    }
    let fault = match kind {
        FaultKind::Status => {
            let status = site.require(
                raw.status,
                &span,
                "status",
                "kind = \"status\" (500, 502, 503 or 504)",
            )?;
            if ![500, 502, 503, 504].contains(&status) {
                return Err(site.error(
                    span,
                    "status",
                    format!("{status} is not allowed; use 500, 502, 503 or 504"),
                ));
            }
            let message = raw
                .message
                .unwrap_or_else(|| default_status_message(status).to_string());
            Fault::Status { status, message }
        }
        FaultKind::RateLimit => Fault::RateLimit {
            retry_after: raw.retry_after.unwrap_or(Duration::from_secs(1)),
            format: raw.retry_after_format.unwrap_or_default(),
            limit: raw.limit.unwrap_or(600),
        },
        FaultKind::TokenBucket => {
            let per_minute = site.require(
                raw.per_minute,
                &span,
                "per_minute",
                "kind = \"token_bucket\"",
            )?;
            if per_minute == 0 {
                return Err(site.error(span, "per_minute", "must be at least 1"));
            }
            let burst = raw.burst.unwrap_or_else(|| (per_minute / 60).max(1));
            if burst == 0 {
                return Err(site.error(span, "burst", "must be at least 1"));
            }
            Fault::TokenBucket { per_minute, burst }
        }
        FaultKind::Auth => {
            let status =
                site.require(raw.status, &span, "status", "kind = \"auth\" (401 or 403)")?;
            if status != 401 && status != 403 {
                return Err(site.error(
                    span,
                    "status",
                    format!("{status} is not allowed; use 401 or 403"),
                ));
            }
            Fault::Auth {
                status,
                body: raw.body.unwrap_or(AuthBody::Json),
            }
        }
        FaultKind::Latency => {
            let distribution = site.require(
                raw.distribution,
                &span,
                "distribution",
                "kind = \"latency\" (fixed, uniform or lognormal)",
            )?;
            let distribution = match distribution {
                RawDistribution::Fixed => Latency::Fixed(site.require(
                    raw.delay,
                    &span,
                    "delay",
                    "distribution = \"fixed\"",
                )?),
                RawDistribution::Uniform => {
                    let min = site.require(raw.min, &span, "min", "distribution = \"uniform\"")?;
                    let max = site.require(raw.max, &span, "max", "distribution = \"uniform\"")?;
                    if max < min {
                        return Err(site.error(span, "max", "must not be below `min`"));
                    }
                    Latency::Uniform(min, max)
                }
                RawDistribution::Lognormal => {
                    let median =
                        site.require(raw.median, &span, "median", "distribution = \"lognormal\"")?;
                    let p95 =
                        site.require(raw.p95, &span, "p95", "distribution = \"lognormal\"")?;
                    if median.is_zero() || p95 <= median {
                        return Err(site.error(span, "p95", "need 0 < median < p95"));
                    }
                    Latency::LogNormal { median, p95 }
                }
            };
            Fault::Latency {
                distribution,
                phase: raw.phase.unwrap_or_default(),
            }
        }
        FaultKind::Connection => {
            let mode = site.require(raw.mode, &span, "mode", "kind = \"connection\" (hang, close, reset, reset_after_headers, reset_mid_body, dribble, garbage)",
            )?;
            if mode != ConnectionMode::Dribble
                && (raw.chunk_bytes.is_some() || raw.interval.is_some())
            {
                return Err(site.error(
                    span,
                    "chunk_bytes",
                    "`chunk_bytes` and `interval` only apply to mode = \"dribble\"",
                ));
            }
            let chunk_bytes = raw.chunk_bytes.unwrap_or(1);
            if chunk_bytes == 0 {
                return Err(site.error(span, "chunk_bytes", "must be at least 1"));
            }
            Fault::Connection(ConnectionFault {
                mode,
                chunk_bytes,
                interval: raw.interval.unwrap_or(Duration::from_millis(100)),
            })
        }
    };
    Ok(fault)
}

fn default_status_message(status: u16) -> &'static str {
    match status {
        500 => "internal server error",
        502 => "bad gateway",
        503 => "service unavailable",
        _ => "gateway timeout",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_cover_the_routes_they_name() {
        let writes = RouteSet::parse("writes").unwrap();
        assert!(writes.contains(Route::AddMessages));
        assert!(writes.contains(Route::V4AddMessages));
        assert!(!writes.contains(Route::GetContext));
        let one = RouteSet::parse("GET /api/v2/threads/{id}/context").unwrap();
        assert!(one.contains(Route::GetContext));
        assert!(!one.contains(Route::GetMessages));
        assert!(RouteSet::parse("bogus").is_none());
    }

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column("a\nbc\n", 3), (2, 2));
        assert_eq!(line_column("", 0), (1, 1));
    }
}
