//! The fake Zep's own `/metrics`, in Prometheus text format 0.0.4: requests by route and status,
//! faults injected by kind, and request duration by route. Label values are bounded: routes are
//! patterns, statuses are numbers or `none` (a connection fault sent no status).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// Metric name prefix.
const PREFIX: &str = "fake_zep";

/// The fake's metrics and their registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    faults: IntCounterVec,
    duration: HistogramVec,
}

impl Metrics {
    /// Registers the metrics.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "requests_total",
                "Zep API requests by route pattern and status sent",
            )
            .namespace(PREFIX),
            &["route", "status"],
        )
        .expect("valid metric definition");
        let faults = IntCounterVec::new(
            Opts::new("faults_injected_total", "Faults injected, by kind").namespace(PREFIX),
            &["kind"],
        )
        .expect("valid metric definition");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "request_duration_seconds",
                "Time from reading a request to finishing its answer, injected latency included",
            )
            .namespace(PREFIX)
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.3, 0.5, 1.0,
                2.5, 5.0, 10.0,
            ]),
            &["route"],
        )
        .expect("valid metric definition");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(faults.clone()),
            Box::new(duration.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Metrics {
            registry,
            requests,
            faults,
            duration,
        }
    }

    /// Counts one answered (or faulted) request.
    pub fn observe(&self, route: &str, status: Option<u16>, faults: &[&str], seconds: f64) {
        let status = status.map_or_else(|| "none".to_string(), |s| s.to_string());
        self.requests
            .with_label_values(&[route, status.as_str()])
            .inc();
        for kind in faults {
            self.faults.with_label_values(&[kind]).inc();
        }
        self.duration.with_label_values(&[route]).observe(seconds);
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8_lossy(&buffer).into_owned()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}
