//! Simulates a dataset turn by turn into the reference assistant's own metrics, one registry per
//! side, and records a scrape of each every interval into a [`Store`].
//!
//! For: producing series with the assistant's exact names, labels and buckets from a model.
//! Not for: reading the datasets file (see [`super::spec`]).

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal, Poisson};

use super::spec::{Dataset, Model, Side};
use super::SynthError;
use crate::assistant::metrics::Metrics;
use crate::prom::exposition::{self, Format};
use crate::prom::store::Store;
use crate::variant::Variant;

/// The metric families the seed's gate file queries; the rest of a scrape is left out of the
/// fixtures to keep them small.
pub const FAMILIES: &[&str] = &[
    "assistant_requests_total",
    "assistant_errors_total",
    "assistant_ttfb_seconds",
    "memory_zep_write_requests_total",
    "memory_zep_write_attempts_total",
    "memory_zep_write_failures_total",
    "memory_zep_write_skipped_total",
    "memory_zep_write_latency_seconds",
    "memory_zep_read_latency_seconds",
    "memory_zep_context_failures_total",
    "memory_zep_downgrades_total",
];

/// Runs `dataset` and returns every scrape of both sides, timestamped.
pub fn simulate(dataset: &Dataset) -> Result<Store, SynthError> {
    let mut sides = [
        Simulated::new(dataset, Variant::Baseline, &dataset.baseline)?,
        Simulated::new(dataset, Variant::Canary, &dataset.canary)?,
    ];
    let mut store = Store::new();
    let interval = dataset.scrape_interval;
    let scrapes = (dataset.duration.as_millis() / interval.as_millis()) as u32;
    for k in 0..=scrapes {
        let until = interval * k;
        if k > 0 {
            for side in &mut sides {
                side.advance(until - interval, until);
            }
        }
        let t = dataset.start_ms + until.as_millis() as i64;
        for side in &sides {
            side.scrape(&mut store, t)?;
        }
    }
    store.shrink_to_fit();
    Ok(store)
}

/// One side's metrics and random state.
struct Simulated<'a> {
    side: &'a Side,
    metrics: Metrics,
    rng: StdRng,
}

impl<'a> Simulated<'a> {
    fn new(dataset: &Dataset, variant: Variant, side: &'a Side) -> Result<Self, SynthError> {
        let metrics = Metrics::new(variant).map_err(|e| SynthError::Metrics(e.to_string()))?;
        metrics.mode.set(2);
        let seed =
            dataset.seed ^ fnv1a(dataset.name.as_bytes()) ^ fnv1a(variant.as_str().as_bytes());
        Ok(Simulated {
            side,
            metrics,
            rng: StdRng::seed_from_u64(seed),
        })
    }

    /// Every turn and event in `(from, until]`, with the model in force at the midpoint.
    fn advance(&mut self, from: Duration, until: Duration) {
        let model = self.side.model_at(from + (until - from) / 2);
        let expected = model.turns_per_second * (until - from).as_secs_f64();
        let turns = match Poisson::new(expected) {
            Ok(p) => p.sample(&mut self.rng) as u64,
            Err(_) => 0,
        };
        for _ in 0..turns {
            self.turn(&model);
        }
        for event in &self.side.events {
            if event.at > from && event.at <= until || (from.is_zero() && event.at.is_zero()) {
                let m = &self.metrics;
                m.requests.with_label_values(&["http"]).inc_by(event.errors);
                m.errors.with_label_values(&["http"]).inc_by(event.errors);
                m.downgrades
                    .with_label_values(&["auth"])
                    .inc_by(event.auth_downgrades);
            }
        }
    }

    /// One chat turn: the answer (or a 5xx), the memory write, and its context reads.
    fn turn(&mut self, model: &Model) {
        let m = &self.metrics;
        m.requests.with_label_values(&["http"]).inc();
        if self.rng.random_bool(model.error_ratio) {
            m.errors.with_label_values(&["http"]).inc();
            return;
        }
        let ttfb = lognormal(&mut self.rng, model.ttfb_median, model.ttfb_sigma)
            + model.ttfb_extra.as_secs_f64();
        m.ttfb.with_label_values(&["http"]).observe(ttfb);
        m.write_requests.inc();
        if self.rng.random_bool(model.breaker_open_ratio) {
            m.write_skipped.with_label_values(&["circuit_open"]).inc();
        } else {
            m.write_attempts.inc();
            m.write_latency.observe(lognormal(
                &mut self.rng,
                model.write_median,
                model.write_sigma,
            ));
            if self.rng.random_bool(model.write_failure_ratio) {
                m.write_failures.inc();
            }
        }
        let whole = model.reads_per_turn.floor();
        let reads = whole as u64 + u64::from(self.rng.random_bool(model.reads_per_turn - whole));
        for _ in 0..reads {
            m.read_latency.observe(lognormal(
                &mut self.rng,
                model.read_median,
                model.read_sigma,
            ));
            if self.rng.random_bool(model.context_failure_ratio) {
                m.context_failures.with_label_values(&["timeout"]).inc();
            }
        }
    }

    /// Renders the side's exposition, as a scrape at `t_ms` would read it, into `store`.
    fn scrape(&self, store: &mut Store, t_ms: i64) -> Result<(), SynthError> {
        let text = self
            .metrics
            .render()
            .map_err(|e| SynthError::Metrics(e.to_string()))?;
        let parsed = exposition::parse(&text, Format::Text);
        if let Some(err) = parsed.errors.first() {
            return Err(SynthError::Metrics(format!(
                "the assistant's exposition did not parse at line {}: {}",
                err.line, err.reason
            )));
        }
        for sample in parsed.samples {
            if !FAMILIES.contains(&family(sample.labels.metric_name())) {
                continue;
            }
            store
                .append(&sample.labels, t_ms, sample.value)
                .map_err(|e| SynthError::Metrics(e.to_string()))?;
        }
        Ok(())
    }
}

/// A histogram's family name from one of its series' names.
fn family(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| {
            name.strip_suffix(suffix)
                .filter(|f| FAMILIES.contains(f) && !f.ends_with("_total"))
        })
        .unwrap_or(name)
}

/// A lognormal draw in seconds with the given median.
fn lognormal(rng: &mut StdRng, median: Duration, sigma: f64) -> f64 {
    let median = median.as_secs_f64().max(1e-6);
    match LogNormal::new(median.ln(), sigma) {
        Ok(d) => d.sample(rng),
        Err(_) => median,
    }
}

/// FNV-1a, so a dataset's random stream depends on its name and side, stably across builds.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_series_belong_to_their_family() {
        assert_eq!(
            family("assistant_ttfb_seconds_bucket"),
            "assistant_ttfb_seconds"
        );
        assert_eq!(
            family("assistant_requests_total"),
            "assistant_requests_total"
        );
        assert_eq!(family("memory_mode_gauge"), "memory_mode_gauge");
    }

    #[test]
    fn the_random_stream_depends_on_the_name() {
        assert_ne!(fnv1a(b"healthy"), fnv1a(b"healthy2"));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }
}
