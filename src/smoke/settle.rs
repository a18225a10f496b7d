//! Settling a long-lived external target before each check, so a breaker opened (or a mode
//! downgraded) by one check does not leak into the next: the fake Zep's faults are reset (by the
//! runner), then the target's gauges are scraped until they read healthy, with probe turns on
//! throw-away threads at a modest pace so an open breaker can half-open and close. Bounded by a
//! deadline; a target that does not settle makes the check an error naming the target, the gauge
//! and the deadline. The embedded default needs none of this (a fresh stack per check).
//!
//! Not for: resetting faults or judging expectations (see `super::runner`, `super::expect`).

use std::time::{Duration, Instant};

use super::expect::sum;
use super::plan::Phase;
use super::runner::{error, http_turn, scrape, turn_body, Failure, Target};

/// How an external target is settled before each check (`rollgate smoke --settle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settle {
    /// Longest wait for the target to read healthy; past it the check is an error.
    pub deadline: Duration,
    /// Time between scrapes, and so between probe turns.
    pub pace: Duration,
}

impl Default for Settle {
    fn default() -> Self {
        Settle {
            deadline: Duration::from_secs(60),
            pace: Duration::from_secs(1),
        }
    }
}

/// A gauge the target must show before a check starts.
struct Healthy {
    /// The gauge.
    metric: &'static str,
    /// The lowest and highest healthy value.
    range: (f64, f64),
    /// What healthy means, for notes and errors.
    wanted: &'static str,
}

/// What a settled target shows in `phase`: the breaker closed (`memory_zep_breaker_state` 0;
/// 1 is half-open, 2 open) and the memory mode not below the phase's (`memory_mode_gauge`:
/// 0 off, 1 write_only, 2 read_write; an auth downgrade or an unreachable Zep lowers it).
fn healthy(phase: Phase) -> [Healthy; 2] {
    let mode = match phase {
        Phase::WriteOnly => Healthy {
            metric: "memory_mode_gauge",
            range: (1.0, f64::INFINITY),
            wanted: ">= 1 (memory on)",
        },
        Phase::ReadWrite => Healthy {
            metric: "memory_mode_gauge",
            range: (2.0, f64::INFINITY),
            wanted: "2 (read_write, no auth downgrade in force)",
        },
    };
    [
        Healthy {
            metric: "memory_zep_breaker_state",
            range: (0.0, 0.0),
            wanted: "0 (breaker closed)",
        },
        mode,
    ]
}

/// The write counter whose standstill shows the probes' writes are over.
const WRITES: &str = "memory_zep_write_attempts_total";

/// Waits until `target` reads healthy for `phase`. Probe turns go to fresh threads named
/// `smoke-{run_id}-settle-N`, which no check looks at. When probes were sent, the target must
/// also be quiet (the write counter unchanged over one more `pace`), so no probe write lands
/// after the check's "before" scrape. A gauge the target does not expose is not waited for; a
/// note in `evidence` says so.
pub(crate) async fn settle(
    http: &reqwest::Client,
    target: &Target,
    phase: Phase,
    settle: &Settle,
    run_id: &str,
    evidence: &mut Vec<String>,
) -> Result<(), Failure> {
    let started = Instant::now();
    let url = &target.url;
    let healthy = healthy(phase);
    let mut probes = 0u32;
    let mut first: Option<Vec<String>> = None;
    let mut quiet_since: Option<f64> = None;
    let mut noted_missing = false;
    loop {
        let now = scrape(http, url).await?;
        let mut missing = Vec::new();
        let mut unhealthy = Vec::new();
        let mut readings = Vec::new();
        for h in &healthy {
            match sum(&now, h.metric) {
                None => missing.push(h.metric),
                Some(v) => {
                    readings.push(format!("{} {v}", h.metric));
                    if !(h.range.0..=h.range.1).contains(&v) {
                        unhealthy.push((h, v));
                    }
                }
            }
        }
        if !noted_missing && !missing.is_empty() {
            noted_missing = true;
            evidence.push(format!(
                "settle: {} not exposed by {url}/metrics; not waited for",
                missing.join(", ")
            ));
        }
        first.get_or_insert_with(|| readings.clone());
        let writes = sum(&now, WRITES);
        let quiet =
            probes == 0 || writes.is_none() || (quiet_since.is_some() && quiet_since == writes);
        if unhealthy.is_empty() && quiet {
            if probes > 0 {
                evidence.push(format!(
                    "settle: {} -> {} after {probes} probe turn(s), {:.1} s",
                    first.unwrap_or_default().join(", "),
                    readings.join(", "),
                    started.elapsed().as_secs_f64()
                ));
            }
            return Ok(());
        }
        if started.elapsed() >= settle.deadline {
            let (expected, seen) = match unhealthy.first() {
                Some((h, v)) => (
                    format!(
                        "{} on {url}/metrics to read {} within the settle deadline {} (--settle)",
                        h.metric,
                        h.wanted,
                        humantime::format_duration(settle.deadline)
                    ),
                    format!(
                        "{} still {v} after {probes} probe turn(s) over {:.1} s",
                        h.metric,
                        started.elapsed().as_secs_f64()
                    ),
                ),
                None => (
                    format!(
                        "{WRITES} on {url}/metrics to stand still within the settle deadline {} (--settle)",
                        humantime::format_duration(settle.deadline)
                    ),
                    format!(
                        "{WRITES} still moving after {probes} probe turn(s) over {:.1} s",
                        started.elapsed().as_secs_f64()
                    ),
                ),
            };
            return Err(error(expected, seen));
        }
        if unhealthy.is_empty() {
            // Healthy; wait one more pace to see the probes' writes are over.
            quiet_since = writes;
        } else {
            let thread = format!("settle-{probes}");
            let body = turn_body(run_id, &thread, "2BR in Girne", &thread);
            let mut scratch = Vec::new();
            http_turn(http, url, &body, &mut scratch).await?;
            probes += 1;
            quiet_since = None;
        }
        tokio::time::sleep(settle.pace).await;
    }
}
