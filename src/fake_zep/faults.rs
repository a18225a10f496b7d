//! The fault engine: given a request's route and arrival time, decides what the loaded [`Program`]
//! does to it. It keeps each rule's counters, random generator and token bucket, so decisions are
//! reproducible for a given seed and request order.
//!
//! Composition: latency rules add up (each that fires adds its sample to its phase); of the other
//! rules, the first in file order that fires decides the response. Every rule sees every request on
//! its routes inside its window, fired or not, so one rule's counters never depend on another's.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};
use serde::{Deserialize, Serialize};

use super::program::{ConnectionFault, Fault, Latency, Phase, Program, RetryAfterFormat, When};
use super::routes::Route;
use super::AuthBody;

/// z-score of the 95th percentile of the standard normal distribution.
const Z95: f64 = 1.644_853_626_951_472_2;

/// What to do with one request.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    /// Sleep this long before the status line.
    pub headers_delay: Duration,
    /// Sleep this long between the headers and the body.
    pub body_delay: Duration,
    /// How to answer.
    pub action: Action,
    /// `X-RateLimit-*` values to add to whatever response goes out.
    pub rate_limit: Option<RateLimitHeaders>,
    /// Labels of the faults applied (for the journal and metrics), e.g. `status`, `latency`.
    pub applied: Vec<&'static str>,
}

/// How a request is answered.
#[derive(Debug, Clone, Default)]
pub enum Action {
    /// Let Zep's route handler answer.
    #[default]
    Forward,
    /// Answer with an error instead of running the route.
    Respond(FaultResponse),
    /// A transport fault.
    Connection(ConnectionFault),
}

/// An error response decided by the engine, rendered by the wiremock backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultResponse {
    /// HTTP status.
    pub status: u16,
    /// Message in the body.
    pub message: String,
    /// `Retry-After` header value, already formatted.
    pub retry_after: Option<String>,
    /// Text body (Zep CE's 401) rather than JSON.
    pub text_body: bool,
}

/// `X-RateLimit-*` header values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitHeaders {
    /// `X-RateLimit-Limit`: requests per minute.
    pub limit: u32,
    /// `X-RateLimit-Remaining`.
    pub remaining: u32,
    /// `X-RateLimit-Reset`: unix seconds.
    pub reset: u64,
}

/// The loaded program and its running state.
#[derive(Debug)]
pub struct Engine {
    program: Program,
    loaded_at: Instant,
    rules: Vec<RuleState>,
}

#[derive(Debug)]
struct RuleState {
    matched: u64,
    rng: StdRng,
    tokens: f64,
    refilled_at: Instant,
}

impl Engine {
    /// Loads `program` now; `default_seed` is used when the program has none.
    pub fn new(program: Program, default_seed: u64) -> Engine {
        let seed = program.seed.unwrap_or(default_seed);
        let now = Instant::now();
        let rules = program
            .rules
            .iter()
            .enumerate()
            .map(|(index, rule)| RuleState {
                matched: 0,
                rng: StdRng::seed_from_u64(
                    seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                ),
                tokens: match rule.fault {
                    Fault::TokenBucket { burst, .. } => f64::from(burst),
                    _ => 0.0,
                },
                refilled_at: now,
            })
            .collect();
        Engine {
            program,
            loaded_at: now,
            rules,
        }
    }

    /// The loaded program.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Decides what happens to a request for `route` that arrived at `now`.
    pub fn decide(&mut self, route: Route, now: Instant) -> Decision {
        let elapsed = now.saturating_duration_since(self.loaded_at);
        let mut decision = Decision::default();
        let mut decided = false;
        for (rule, state) in self.program.rules.iter().zip(&mut self.rules) {
            if !rule.routes.contains(route) || !rule.window.contains(elapsed) {
                continue;
            }
            state.matched += 1;
            if let Fault::TokenBucket { per_minute, burst } = rule.fault {
                let (headers, wait) = state.take_token(per_minute, burst, now);
                decision.rate_limit = Some(headers);
                if let (Some(wait), false) = (wait, decided) {
                    decided = true;
                    decision.applied.push("token_bucket");
                    decision.action =
                        Action::Respond(rate_limited(wait, RetryAfterFormat::Seconds));
                }
                continue;
            }
            if !state.fires(rule.when) {
                continue;
            }
            match &rule.fault {
                Fault::Latency {
                    distribution,
                    phase,
                } => {
                    let delay = state.sample(*distribution);
                    match phase {
                        Phase::Headers => decision.headers_delay += delay,
                        Phase::Body => decision.body_delay += delay,
                    }
                    decision.applied.push("latency");
                }
                _ if decided => {}
                Fault::Status { status, message } => {
                    decided = true;
                    decision.applied.push("status");
                    decision.action = Action::Respond(FaultResponse {
                        status: *status,
                        message: message.clone(),
                        retry_after: None,
                        text_body: false,
                    });
                }
                Fault::RateLimit {
                    retry_after,
                    format,
                    limit,
                } => {
                    decided = true;
                    decision.applied.push("rate_limit");
                    decision.action = Action::Respond(rate_limited(*retry_after, *format));
                    decision.rate_limit = Some(RateLimitHeaders {
                        limit: *limit,
                        remaining: 0,
                        reset: unix_now().saturating_add(retry_after.as_secs_f64().ceil() as u64),
                    });
                }
                Fault::Auth { status, body } => {
                    decided = true;
                    decision.applied.push("auth");
                    decision.action = Action::Respond(FaultResponse {
                        status: *status,
                        message: if *status == 401 {
                            "unauthorized"
                        } else {
                            "forbidden"
                        }
                        .to_string(),
                        retry_after: None,
                        text_body: *body == AuthBody::Text,
                    });
                }
                Fault::Connection(connection) => {
                    decided = true;
                    decision.applied.push(connection_label(connection));
                    decision.action = Action::Connection(*connection);
                }
                Fault::TokenBucket { .. } => {}
            }
        }
        decision
    }

    /// Random bytes for a `garbage` fault, from the engine's first rule generator (or a fixed seed).
    pub fn garbage(&mut self, len: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; len];
        match self.rules.first_mut() {
            Some(state) => state.rng.fill(&mut bytes[..]),
            None => StdRng::seed_from_u64(0).fill(&mut bytes[..]),
        }
        bytes
    }
}

fn rate_limited(wait: Duration, format: RetryAfterFormat) -> FaultResponse {
    let retry_after = match format {
        RetryAfterFormat::Seconds => (wait.as_secs_f64().ceil() as u64).to_string(),
        RetryAfterFormat::HttpDate => {
            // HTTP-dates have whole seconds: round up so the client never retries too early.
            let at = SystemTime::now() + wait + Duration::from_millis(999);
            httpdate::fmt_http_date(at)
        }
    };
    FaultResponse {
        status: 429,
        message: "rate limit exceeded".to_string(),
        retry_after: Some(retry_after),
        text_body: false,
    }
}

fn connection_label(fault: &ConnectionFault) -> &'static str {
    use super::program::ConnectionMode::*;
    match fault.mode {
        Hang => "hang",
        Close => "close",
        Reset => "reset",
        ResetAfterHeaders => "reset_after_headers",
        ResetMidBody => "reset_mid_body",
        Dribble => "dribble",
        Garbage => "garbage",
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl RuleState {
    fn fires(&mut self, when: When) -> bool {
        match when {
            When::Always => true,
            When::Rate(p) => self.rng.random_bool(p),
            When::Every { n, offset } => self.matched % n == offset % n,
            When::Burst { length, period } => (self.matched - 1) % period < length,
        }
    }

    fn sample(&mut self, latency: Latency) -> Duration {
        match latency {
            Latency::Fixed(delay) => delay,
            Latency::Uniform(min, max) if min == max => min,
            Latency::Uniform(min, max) => Duration::from_secs_f64(
                self.rng.random_range(min.as_secs_f64()..=max.as_secs_f64()),
            ),
            Latency::LogNormal { median, p95 } => {
                let mu = median.as_secs_f64().ln();
                let sigma = (p95.as_secs_f64().ln() - mu) / Z95;
                match LogNormal::new(mu, sigma) {
                    Ok(dist) => Duration::from_secs_f64(dist.sample(&mut self.rng).min(3600.0)),
                    Err(_) => median,
                }
            }
        }
    }

    /// Refills and takes one token; returns the headers and, when the bucket is empty, how long
    /// until a token is available.
    fn take_token(
        &mut self,
        per_minute: u32,
        burst: u32,
        now: Instant,
    ) -> (RateLimitHeaders, Option<Duration>) {
        let per_second = f64::from(per_minute) / 60.0;
        let refill = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64()
            * per_second;
        self.tokens = (self.tokens + refill).min(f64::from(burst));
        self.refilled_at = now;
        let wait = if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - self.tokens) / per_second))
        };
        let to_full = (f64::from(burst) - self.tokens) / per_second;
        let headers = RateLimitHeaders {
            limit: per_minute,
            remaining: self.tokens.floor() as u32,
            reset: unix_now().saturating_add(to_full.ceil() as u64),
        };
        (headers, wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(toml: &str) -> Engine {
        Engine::new(Program::parse(toml, "test").unwrap(), 1)
    }

    fn statuses(engine: &mut Engine, n: usize) -> Vec<u16> {
        let now = Instant::now();
        (0..n)
            .map(|_| match engine.decide(Route::AddMessages, now).action {
                Action::Respond(r) => r.status,
                _ => 200,
            })
            .collect()
    }

    #[test]
    fn every_nth_and_bursts_follow_the_count() {
        let mut e =
            engine("[[rule]]\nwhen = { every = 3 }\nfault = { kind = \"status\", status = 503 }\n");
        assert_eq!(statuses(&mut e, 6), [200, 200, 503, 200, 200, 503]);
        let mut e = engine("[[rule]]\nwhen = { burst = 2, period = 4 }\nfault = { kind = \"status\", status = 500 }\n");
        assert_eq!(
            statuses(&mut e, 8),
            [500, 500, 200, 200, 500, 500, 200, 200]
        );
    }

    #[test]
    fn first_deciding_rule_wins_and_latency_adds_up() {
        let mut e = engine(
            "[[rule]]\nfault = { kind = \"latency\", distribution = \"fixed\", delay = \"10ms\" }\n\
             [[rule]]\nfault = { kind = \"latency\", distribution = \"fixed\", delay = \"5ms\", phase = \"body\" }\n\
             [[rule]]\nfault = { kind = \"auth\", status = 403 }\n\
             [[rule]]\nfault = { kind = \"status\", status = 503 }\n",
        );
        let d = e.decide(Route::GetContext, Instant::now());
        assert_eq!(d.headers_delay, Duration::from_millis(10));
        assert_eq!(d.body_delay, Duration::from_millis(5));
        assert!(matches!(
            d.action,
            Action::Respond(FaultResponse { status: 403, .. })
        ));
        assert_eq!(d.applied, ["latency", "latency", "auth"]);
    }

    #[test]
    fn token_bucket_runs_dry_then_refills() {
        let mut e =
            engine("[[rule]]\nfault = { kind = \"token_bucket\", per_minute = 60, burst = 2 }\n");
        let t0 = Instant::now();
        let got: Vec<bool> = (0..3)
            .map(|_| matches!(e.decide(Route::AddMessages, t0).action, Action::Respond(_)))
            .collect();
        assert_eq!(got, [false, false, true]);
        let later = t0 + Duration::from_millis(1100);
        let d = e.decide(Route::AddMessages, later);
        assert!(matches!(d.action, Action::Forward));
        assert_eq!(d.rate_limit.map(|h| h.limit), Some(60));
    }

    #[test]
    fn windows_are_relative_to_loading() {
        let mut e = engine(
            "[[rule]]\nwindow = { from = \"1s\", until = \"2s\" }\nfault = { kind = \"status\", status = 502 }\n",
        );
        let t0 = e.loaded_at;
        let at = |e: &mut Engine, ms| {
            matches!(
                e.decide(Route::AddMessages, t0 + Duration::from_millis(ms))
                    .action,
                Action::Respond(_)
            )
        };
        assert!(!at(&mut e, 500));
        assert!(at(&mut e, 1500));
        assert!(!at(&mut e, 2000));
    }

    #[test]
    fn seeded_rates_are_reproducible() {
        let toml = "seed = 9\n[[rule]]\nwhen = { rate = 0.3 }\nfault = { kind = \"status\", status = 500 }\n";
        let a = statuses(&mut engine(toml), 200);
        let b = statuses(&mut engine(toml), 200);
        assert_eq!(a, b);
        let failures = a.iter().filter(|s| **s == 500).count();
        assert!(
            (30..=90).contains(&failures),
            "{failures} of 200 at rate 0.3"
        );
    }

    #[test]
    fn lognormal_sampler_hits_its_median_and_p95() {
        let mut e = engine(
            "seed = 17\n[[rule]]\nfault = { kind = \"latency\", distribution = \"lognormal\", median = \"100ms\", p95 = \"200ms\" }\n",
        );
        let mut v: Vec<f64> = (0..4000)
            .map(|_| {
                e.decide(Route::AddMessages, Instant::now())
                    .headers_delay
                    .as_secs_f64()
            })
            .collect();
        v.sort_by(|a, b| a.total_cmp(b));
        let (median, p95) = (v[1999], v[3799]);
        assert!((median / 0.100 - 1.0).abs() < 0.05, "median {median}");
        assert!((p95 / 0.200 - 1.0).abs() < 0.05, "p95 {p95}");
    }
}
