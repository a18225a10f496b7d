//! The raw TOML shapes of a fault program and their resolution into validated types. Errors name
//! the rule, the field and what is allowed, at the line of the offending table.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{
    AuthBody, ConnectionFault, ConnectionMode, Fault, Latency, Phase, ProgramError,
    RetryAfterFormat, Route, RouteSet, Rule, When, Window, ROUTE_GROUPS,
};

pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The key whose value starts at `offset` (`median` in `median = "1x"`), if the text says so.
pub(super) fn key_before(text: &str, offset: usize) -> Option<&str> {
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
pub(super) struct RawProgram {
    pub(super) description: Option<String>,
    pub(super) seed: Option<u64>,
    #[serde(default)]
    pub(super) rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
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
    pub(super) fn resolve(
        self,
        index: usize,
        text: &str,
        origin: &str,
    ) -> Result<Rule, ProgramError> {
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
