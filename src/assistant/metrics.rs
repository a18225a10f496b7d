//! The assistant's Prometheus metrics, named exactly as the seed names them.
//!
//! Every metric and label name the assistant exports lives here (and nowhere else), so rollgate's
//! own queries and the reference system agree by construction. Each series carries a constant
//! `variant` label (`baseline` or `canary`) added by the registry, which is how a baseline and a
//! canary scraped into one Prometheus are told apart. Every known label value is created at start-up
//! so a counter that has not happened yet reads 0 instead of being absent. The exposition is the
//! Prometheus 0.0.4 text format (the one the Python client of the real app serves).
//!
//! Not for: deciding anything. Components update these handles; rollgate's analysis reads them
//! back through `/metrics`.

use std::collections::HashMap;

use prometheus::{
    Counter, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};
use thiserror::Error;

use super::Variant;

/// Histogram boundaries (seconds) shared by every latency histogram. They include the seed's
/// thresholds exactly (0.15 s write p95, 0.25 s read deadline and p95, 0.3 s downgrade trigger,
/// 0.5 s TTFB target) so `histogram_quantile` comparisons against them are exact, not interpolated.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
];

/// Reasons a logical write is skipped without reaching Zep (`memory_zep_write_skipped_total{reason}`).
pub const SKIP_REASONS: &[&str] = &["circuit_open", "queue_full", "duplicate", "mode_off"];

/// Reasons a context read failed (`memory_zep_context_failures_total{reason}`).
pub const CONTEXT_FAILURE_REASONS: &[&str] = &[
    "timeout",
    "connection",
    "server_error",
    "rate_limited",
    "auth",
    "client_error",
    "bad_response",
    "breaker_open",
];

/// Kinds of PII redacted before a write (`memory_zep_redactions_total{field_type}`).
pub const REDACTION_FIELDS: &[&str] = &["email", "phone"];

/// Reasons for an automatic mode downgrade (`memory_zep_downgrades_total{reason}`).
pub const DOWNGRADE_REASONS: &[&str] = &["auth"];

/// How a chat turn reached the assistant (`transport` label of the `assistant_*` series).
pub const TRANSPORTS: &[&str] = &["http", "ws"];

/// Outcomes of a per-turn context cache lookup (`memory_zep_context_cache_total{result}`).
pub const CACHE_RESULTS: &[&str] = &["hit", "miss"];

/// Why the metrics could not be set up or rendered.
#[derive(Debug, Error)]
pub enum MetricsError {
    /// A metric could not be created or registered (a bad name or a duplicate).
    #[error("cannot register metric {name}: {source}")]
    Register {
        /// The metric's name.
        name: &'static str,
        /// What the prometheus crate said.
        source: prometheus::Error,
    },
    /// The text exposition could not be encoded.
    #[error("cannot encode the metrics exposition: {0}")]
    Encode(#[source] prometheus::Error),
}

/// The assistant's metric handles, registered in a registry of their own.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `memory_mode_gauge`: the effective memory mode (0 off, 1 write_only, 2 read_write).
    pub mode: IntGauge,
    /// `memory_zep_write_attempts_total`: HTTP write attempts sent to Zep, retries included.
    pub write_attempts: IntCounter,
    /// `memory_zep_write_requests_total`: logical writes requested (one per turn), skipped ones included.
    pub write_requests: IntCounter,
    /// `memory_zep_write_failures_total`: logical writes that failed after every retry.
    pub write_failures: IntCounter,
    /// `memory_zep_write_skipped_total{reason}`: logical writes not sent, by reason.
    pub write_skipped: IntCounterVec,
    /// `memory_zep_write_latency_seconds`: latency of each write attempt.
    pub write_latency: Histogram,
    /// `memory_zep_read_latency_seconds`: latency of each context read, cut at the deadline.
    pub read_latency: Histogram,
    /// `memory_zep_context_failures_total{reason}`: context reads that fell back, by reason.
    pub context_failures: IntCounterVec,
    /// `memory_zep_context_cache_total{result}`: per-turn context cache lookups.
    pub context_cache: IntCounterVec,
    /// `memory_zep_redactions_total{field_type}`: PII values redacted before a write.
    pub redactions: IntCounterVec,
    /// `memory_zep_downgrades_total{reason}`: automatic downgrades to write_only.
    pub downgrades: IntCounterVec,
    /// `memory_zep_retry_after_seconds_total`: seconds spent waiting on Zep's `Retry-After` (the
    /// seed's `memory_zep_retry_after_seconds` counter, exposed with `_total` as the Python client
    /// the seed's service uses exposes every counter).
    pub retry_after_seconds: Counter,
    /// `memory_zep_breaker_state`: 0 closed, 1 half-open, 2 open.
    pub breaker_state: IntGauge,
    /// `memory_zep_breaker_opens_total`: transitions of the breaker to open.
    pub breaker_opens: IntCounter,
    /// `assistant_ttfb_seconds{transport}`: time to the first token of the answer.
    pub ttfb: HistogramVec,
    /// `assistant_requests_total{transport}`: chat turns received.
    pub requests: IntCounterVec,
    /// `assistant_errors_total{transport}`: chat turns answered with a 5xx (or a WS error frame).
    pub errors: IntCounterVec,
}

impl Metrics {
    /// Creates and registers every metric with the constant label `variant`, and every known label
    /// value at 0.
    pub fn new(variant: Variant) -> Result<Metrics, MetricsError> {
        let labels = HashMap::from([("variant".to_string(), variant.as_str().to_string())]);
        let registry =
            Registry::new_custom(None, Some(labels)).map_err(|source| MetricsError::Register {
                name: "registry",
                source,
            })?;
        let r = Reg(&registry);
        let metrics = Metrics {
            mode: r.gauge(
                "memory_mode_gauge",
                "Effective memory mode: 0=off, 1=write_only, 2=read_write.",
            )?,
            write_attempts: r.counter(
                "memory_zep_write_attempts_total",
                "HTTP write attempts sent to Zep, retries included.",
            )?,
            write_requests: r.counter(
                "memory_zep_write_requests_total",
                "Logical message writes requested (one per turn), skipped ones included.",
            )?,
            write_failures: r.counter(
                "memory_zep_write_failures_total",
                "Logical message writes that failed after every retry.",
            )?,
            write_skipped: r.counter_vec(
                "memory_zep_write_skipped_total",
                "Logical message writes not sent to Zep, by reason.",
                "reason",
                SKIP_REASONS,
            )?,
            write_latency: r.histogram(
                "memory_zep_write_latency_seconds",
                "Latency of each Zep write attempt.",
            )?,
            read_latency: r.histogram(
                "memory_zep_read_latency_seconds",
                "Latency of each Zep context read, cut at the read deadline.",
            )?,
            context_failures: r.counter_vec(
                "memory_zep_context_failures_total",
                "Context reads that fell back to recent messages, by reason.",
                "reason",
                CONTEXT_FAILURE_REASONS,
            )?,
            context_cache: r.counter_vec(
                "memory_zep_context_cache_total",
                "Per-turn context cache lookups, by result.",
                "result",
                CACHE_RESULTS,
            )?,
            redactions: r.counter_vec(
                "memory_zep_redactions_total",
                "PII values redacted before a Zep write, by field type.",
                "field_type",
                REDACTION_FIELDS,
            )?,
            downgrades: r.counter_vec(
                "memory_zep_downgrades_total",
                "Automatic memory mode downgrades to write_only, by reason.",
                "reason",
                DOWNGRADE_REASONS,
            )?,
            retry_after_seconds: r.float_counter(
                "memory_zep_retry_after_seconds_total",
                "Seconds spent waiting on Zep's Retry-After header.",
            )?,
            breaker_state: r.gauge(
                "memory_zep_breaker_state",
                "Zep circuit breaker state: 0=closed, 1=half_open, 2=open.",
            )?,
            breaker_opens: r.counter(
                "memory_zep_breaker_opens_total",
                "Transitions of the Zep circuit breaker to open.",
            )?,
            ttfb: r.histogram_vec(
                "assistant_ttfb_seconds",
                "Time from receiving a chat turn to its first answer token.",
                "transport",
                TRANSPORTS,
            )?,
            requests: r.counter_vec(
                "assistant_requests_total",
                "Chat turns received.",
                "transport",
                TRANSPORTS,
            )?,
            errors: r.counter_vec(
                "assistant_errors_total",
                "Chat turns answered with a 5xx status (HTTP) or an error frame (WebSocket).",
                "transport",
                TRANSPORTS,
            )?,
            registry,
        };
        Ok(metrics)
    }

    /// Renders the exposition in the Prometheus 0.0.4 text format.
    pub fn render(&self) -> Result<String, MetricsError> {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .map_err(MetricsError::Encode)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Content type of [`Metrics::render`]'s output.
    pub fn content_type() -> &'static str {
        prometheus::TEXT_FORMAT
    }
}

/// Registration helpers: create, register, and pre-create every known label value.
struct Reg<'a>(&'a Registry);

impl Reg<'_> {
    fn register<C: prometheus::core::Collector + Clone + 'static>(
        &self,
        name: &'static str,
        made: Result<C, prometheus::Error>,
    ) -> Result<C, MetricsError> {
        let metric = made.map_err(|source| MetricsError::Register { name, source })?;
        self.0
            .register(Box::new(metric.clone()))
            .map_err(|source| MetricsError::Register { name, source })?;
        Ok(metric)
    }

    fn counter(&self, name: &'static str, help: &str) -> Result<IntCounter, MetricsError> {
        self.register(name, IntCounter::new(name, help))
    }

    fn float_counter(&self, name: &'static str, help: &str) -> Result<Counter, MetricsError> {
        self.register(name, Counter::new(name, help))
    }

    fn gauge(&self, name: &'static str, help: &str) -> Result<IntGauge, MetricsError> {
        self.register(name, IntGauge::new(name, help))
    }

    fn histogram(&self, name: &'static str, help: &str) -> Result<Histogram, MetricsError> {
        let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
        self.register(name, Histogram::with_opts(opts))
    }

    fn counter_vec(
        &self,
        name: &'static str,
        help: &str,
        label: &str,
        values: &[&str],
    ) -> Result<IntCounterVec, MetricsError> {
        let vec = self.register(name, IntCounterVec::new(Opts::new(name, help), &[label]))?;
        for value in values {
            vec.with_label_values(&[*value]).reset();
        }
        Ok(vec)
    }

    fn histogram_vec(
        &self,
        name: &'static str,
        help: &str,
        label: &str,
        values: &[&str],
    ) -> Result<HistogramVec, MetricsError> {
        let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
        let vec = self.register(name, HistogramVec::new(opts, &[label]))?;
        for value in values {
            // Touching a child creates it with all buckets at 0.
            let _ = vec.with_label_values(&[*value]);
        }
        Ok(vec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_series_is_exported_at_zero_with_the_variant_label() {
        let metrics = Metrics::new(Variant::Canary).expect("metrics");
        let text = metrics.render().expect("render");
        for line in [
            "memory_mode_gauge{variant=\"canary\"} 0",
            "memory_zep_write_attempts_total{variant=\"canary\"} 0",
            "memory_zep_write_skipped_total{reason=\"circuit_open\",variant=\"canary\"} 0",
            "memory_zep_context_failures_total{reason=\"timeout\",variant=\"canary\"} 0",
            "memory_zep_redactions_total{field_type=\"phone\",variant=\"canary\"} 0",
            "memory_zep_downgrades_total{reason=\"auth\",variant=\"canary\"} 0",
            "memory_zep_retry_after_seconds_total{variant=\"canary\"} 0",
            "assistant_errors_total{transport=\"ws\",variant=\"canary\"} 0",
            "assistant_ttfb_seconds_bucket{transport=\"http\",variant=\"canary\",le=\"0.25\"} 0",
            "memory_zep_write_latency_seconds_bucket{variant=\"canary\",le=\"0.15\"} 0",
            "memory_zep_read_latency_seconds_bucket{variant=\"canary\",le=\"0.3\"} 0",
            "memory_zep_read_latency_seconds_bucket{variant=\"canary\",le=\"0.5\"} 0",
        ] {
            assert!(text.contains(line), "missing `{line}` in:\n{text}");
        }
        assert!(!text.contains("variant=\"baseline\""));
    }
}
