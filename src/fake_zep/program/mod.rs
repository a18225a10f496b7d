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

use raw::{key_before, line_column, RawProgram};

mod raw;

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
