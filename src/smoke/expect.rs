//! Judges a check's expectations on what its steps left: fields of the last HTTP answer or
//! WebSocket trace frame, metric deltas and histogram quantiles between the scrape before the
//! steps and one after, and the fake Zep's journal (see [`super::journal`]).
//!
//! A quantile is computed from the bucket DELTA between the two scrapes with the toolkit's
//! `histogram_quantile` arithmetic ([`crate::prom::eval::quantile::bucket_quantile`]); no
//! observation between the scrapes is a failure, never a pass. Not for running steps.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::plan::{Compare, Expect, FieldSource};
use super::runner::{error, fail, scrape, Failure, Observed, Target};
use crate::fake_zep::admin::AdminClient;
use crate::prom::eval::quantile::{bucket_quantile, Bucket};
use crate::prom::eval::Semantics;
use crate::prom::exposition::{self, parse_float};

/// How often polled expectations look again.
const POLL: Duration = Duration::from_millis(50);

/// Everything an expectation may look at.
pub(crate) struct Judge<'a> {
    pub http: &'a reqwest::Client,
    pub target: &'a Target,
    pub admin: Option<&'a AdminClient>,
    pub observed: &'a Observed,
}

impl Judge<'_> {
    /// Checks one expectation, adding what it saw to `evidence`.
    pub async fn check(&self, expect: &Expect, evidence: &mut Vec<String>) -> Result<(), Failure> {
        match expect {
            Expect::Field {
                source,
                path,
                compare,
            } => {
                let value = match source {
                    FieldSource::Response => &self.observed.response,
                    FieldSource::WsTrace => &self.observed.ws_trace,
                };
                field(source.as_str(), value, path, compare)
            }
            Expect::MetricDelta {
                metric,
                min,
                max,
                within,
            } => {
                self.metric_delta(metric, *min, *max, *within, evidence)
                    .await
            }
            Expect::Quantile {
                histogram,
                quantile,
                below_ms,
                min_samples,
                within,
            } => {
                self.quantile(
                    histogram,
                    *quantile,
                    *below_ms,
                    *min_samples,
                    *within,
                    evidence,
                )
                .await
            }
            Expect::Journal { check, within } => {
                let admin = self
                    .admin
                    .ok_or_else(|| error("a fake Zep admin API", "none (--zep-admin)"))?;
                super::journal::check(admin, *check, &self.observed.threads, *within, evidence)
                    .await
            }
        }
    }

    async fn metric_delta(
        &self,
        metric: &str,
        min: f64,
        max: f64,
        within: Duration,
        evidence: &mut Vec<String>,
    ) -> Result<(), Failure> {
        let url = &self.target.url;
        let old = sum(&self.observed.before, metric).ok_or_else(|| {
            error(
                format!("metric {metric} on {url}/metrics"),
                format!("{metric} is not exposed by {url}/metrics"),
            )
        })?;
        let deadline = Instant::now() + within;
        let delta = loop {
            let now = scrape(self.http, url).await?;
            let delta = sum(&now, metric).unwrap_or(0.0) - old;
            if (min..=max).contains(&delta) || Instant::now() >= deadline {
                break delta;
            }
            tokio::time::sleep(POLL).await;
        };
        evidence.push(format!("{metric}: {old} -> {}", old + delta));
        if !(min..=max).contains(&delta) {
            return Err(fail(
                format!("{metric} delta in [{min}, {max}]"),
                format!("{metric} delta {delta}"),
            ));
        }
        Ok(())
    }

    async fn quantile(
        &self,
        histogram: &str,
        q: f64,
        below_ms: f64,
        min_samples: u64,
        within: Duration,
        evidence: &mut Vec<String>,
    ) -> Result<(), Failure> {
        let url = &self.target.url;
        let before = buckets(&self.observed.before, histogram);
        if before.is_empty() {
            return Err(error(
                format!("histogram {histogram} on {url}/metrics"),
                format!("{histogram}_bucket is not exposed by {url}/metrics"),
            ));
        }
        let expected = format!(
            "p{} of {histogram} between the scrapes below {below_ms} ms (at least {min_samples} sample(s))",
            q * 100.0
        );
        let deadline = Instant::now() + within;
        let delta = loop {
            let now = scrape(self.http, url).await?;
            let delta: Vec<Bucket> = buckets(&now, histogram)
                .into_iter()
                .map(|(le, count)| Bucket {
                    upper_bound: le.0,
                    count: count - before.get(&le).copied().unwrap_or(0.0),
                })
                .collect();
            if samples(&delta) >= min_samples as f64 || Instant::now() >= deadline {
                break delta;
            }
            tokio::time::sleep(POLL).await;
        };
        let n = samples(&delta);
        // Observations per bucket (not cumulative), for the evidence.
        let mut below = 0.0;
        let mut bounds = Vec::new();
        for b in &delta {
            if b.count > below {
                bounds.push(format!("le={}: {}", b.upper_bound, b.count - below));
            }
            below = below.max(b.count);
        }
        if n < min_samples as f64 {
            evidence.push(format!(
                "{histogram}: {n} observation(s) between the scrapes"
            ));
            return Err(fail(
                expected,
                format!("no samples: {n} observation(s) of {histogram} between the scrapes"),
            ));
        }
        let mut for_quantile = delta;
        let value = bucket_quantile(q, &mut for_quantile, Semantics::default()).value;
        let ms = value * 1000.0;
        evidence.push(format!(
            "{histogram}: p{} = {ms:.1} ms over {n} sample(s) (observations per bucket between the scrapes: {})",
            q * 100.0,
            bounds.join(", ")
        ));
        if ms.is_nan() || ms >= below_ms {
            return Err(fail(
                expected,
                format!("p{} = {ms:.1} ms over {n} sample(s)", q * 100.0),
            ));
        }
        Ok(())
    }
}

fn field(source: &str, value: &Value, path: &str, compare: &Compare) -> Result<(), Failure> {
    let seen = lookup(value, path);
    let (holds, wanted) = match compare {
        Compare::Equals(want) => (&seen == want, format!("== {want}")),
        Compare::AtMost(max) => (
            seen.as_f64().is_some_and(|v| v <= *max),
            format!("<= {max}"),
        ),
        Compare::AtLeast(min) => (
            seen.as_f64().is_some_and(|v| v >= *min),
            format!(">= {min}"),
        ),
    };
    if holds {
        Ok(())
    } else {
        Err(fail(
            format!("{source} {path} {wanted}"),
            format!("{source} {path} == {seen}"),
        ))
    }
}

fn lookup(value: &Value, path: &str) -> Value {
    path.split('.')
        .try_fold(value, |v, key| v.get(key))
        .cloned()
        .unwrap_or(Value::Null)
}

/// A metric's value summed over its series, or `None` when the scrape has no series of it.
pub(crate) fn sum(parsed: &exposition::Parsed, metric: &str) -> Option<f64> {
    let mut found = None;
    for s in &parsed.samples {
        if s.labels.metric_name() == metric {
            *found.get_or_insert(0.0) += s.value;
        }
    }
    found
}

/// An `le` bound that sorts as a number (`+Inf` last).
#[derive(Debug, Clone, Copy)]
struct Le(f64);

impl PartialEq for Le {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Le {}

impl PartialOrd for Le {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Le {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// `sum by (le) (histogram_bucket)` of one scrape.
fn buckets(parsed: &exposition::Parsed, histogram: &str) -> BTreeMap<Le, f64> {
    let name = format!("{histogram}_bucket");
    let mut out = BTreeMap::new();
    for s in &parsed.samples {
        if s.labels.metric_name() == name {
            if let Some(le) = parse_float(s.labels.get("le")) {
                *out.entry(Le(le)).or_insert(0.0) += s.value;
            }
        }
    }
    out
}

/// Observations in a set of cumulative bucket deltas: the `+Inf` bucket's count.
fn samples(buckets: &[Bucket]) -> f64 {
    buckets
        .iter()
        .find(|b| b.upper_bound == f64::INFINITY)
        .map_or(0.0, |b| b.count)
}
