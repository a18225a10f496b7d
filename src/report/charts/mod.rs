//! The report's PNG charts: p95 TTFB over time, Zep write/read latency p95, write error and
//! breaker-open ratios, achieved vs intended rate and the TTFB distribution, baseline vs canary,
//! with the seed's thresholds as dashed lines and the verdict's breach windows shaded.
//!
//! For: deciding which charts a run directory has data for, rendering them (900x360, bundled
//! font, so a bare CI container draws the same pixels) and saying why the others were skipped.
//! Not for: writing files or HTML (see [`crate::report::write`] and the HTML format).

pub mod plot;
pub mod sources;

use std::path::Path;

use serde::Serialize;

use super::model::RunInputs;
use plot::Plot;
use sources::{PromQuery, Sources};

/// A rendered chart.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    /// Its file, relative to the run directory (`charts/<name>.png`).
    pub file: String,
    /// Its title.
    pub title: String,
    /// The caption shown under it.
    pub caption: String,
    /// The image's alternative text.
    pub alt: String,
    /// The PNG bytes.
    #[serde(skip)]
    pub png: Vec<u8>,
}

/// Every chart a run directory had data for, and why the others were skipped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChartSet {
    /// The charts drawn, in report order.
    pub charts: Vec<Chart>,
    /// The charts not drawn, and why.
    pub skipped: Vec<Skipped>,
}

/// A chart not drawn.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// The file it would have been (`charts/<name>.png`).
    pub file: String,
    /// Why, naming the file that lacked data.
    pub why: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "chart {} skipped: {}", self.file, self.why)
    }
}

/// Where a chart's data comes from.
enum Data {
    /// p95 TTFB per second from `load/seconds.json`.
    TtfbOverTime,
    /// Intended and sent per second from `load/seconds.json`.
    Rate,
    /// The run's HDR histograms.
    Distribution,
    /// A seed query over the scraped store.
    Prom(PromQuery),
}

/// One chart of the report: its file, words, data and which checks' breaches it shades.
struct Spec {
    name: &'static str,
    caption: &'static str,
    alt: &'static str,
    data: Data,
    /// A verdict check is shaded here when its query contains one of these.
    breach_keywords: &'static [&'static str],
}

const SPECS: &[Spec] = &[
    Spec {
        name: "ttfb_p95",
        caption: "p95 time to first byte per second (corrected for coordinated omission), baseline \
                  vs canary; dashed: baseline +100 ms (hold) and +200 ms (rollback).",
        alt: "Line chart of p95 TTFB in ms per second for baseline and canary, with dashed \
              lines at baseline plus 100 ms and plus 200 ms.",
        data: Data::TtfbOverTime,
        breach_keywords: &["ttfb"],
    },
    Spec {
        name: "write_latency_p95",
        caption: "Zep write latency p95 (memory_zep_write_latency_seconds, scraped), baseline vs \
                  canary; dashed: the 150 ms gate.",
        alt: "Line chart of Zep write latency p95 in ms over time for baseline and canary, with a \
              dashed line at 150 ms.",
        data: Data::Prom(PromQuery {
            query: "histogram_quantile(0.95, sum by (le) (rate(memory_zep_write_latency_seconds_bucket[5m])))",
            metric: "memory_zep_write_latency_seconds_bucket",
            title: "Zep write latency p95",
            scale: 1000.0,
            y_desc: "p95 write latency (ms)",
            thresholds: &[(0.150, "150 ms gate")],
        }),
        breach_keywords: &["memory_zep_write_latency"],
    },
    Spec {
        name: "read_latency_p95",
        caption: "Zep read (context) latency p95 (memory_zep_read_latency_seconds, scraped), \
                  baseline vs canary; dashed: 250 ms (read path budget) and 300 ms (rollback).",
        alt: "Line chart of Zep read latency p95 in ms over time for baseline and canary, with \
              dashed lines at 250 ms and 300 ms.",
        data: Data::Prom(PromQuery {
            query: "histogram_quantile(0.95, sum by (le) (rate(memory_zep_read_latency_seconds_bucket[5m])))",
            metric: "memory_zep_read_latency_seconds_bucket",
            title: "Zep read latency p95",
            scale: 1000.0,
            y_desc: "p95 read latency (ms)",
            thresholds: &[(0.250, "250 ms budget"), (0.300, "300 ms rollback")],
        }),
        breach_keywords: &["memory_zep_read_latency_seconds_bucket"],
    },
    Spec {
        name: "write_error_ratio",
        caption: "Zep write failures / attempts, baseline vs canary; dashed: the 1% gate.",
        alt: "Line chart of the Zep write failure ratio in percent over time for baseline and \
              canary, with a dashed line at 1%.",
        data: Data::Prom(PromQuery {
            query: "sum(rate(memory_zep_write_failures_total[5m])) / sum(rate(memory_zep_write_attempts_total[5m]))",
            metric: "memory_zep_write_failures_total",
            title: "Zep write error ratio",
            scale: 100.0,
            y_desc: "failures / attempts (%)",
            thresholds: &[(0.01, "1% gate")],
        }),
        breach_keywords: &["memory_zep_write_failures_total"],
    },
    Spec {
        name: "breaker_open_ratio",
        caption: "Writes skipped because the breaker was open / writes requested, baseline vs \
                  canary; dashed: 0.1% (read-write gate), 1% (canary alert), 5% (rollback).",
        alt: "Line chart of the breaker-open ratio in percent over time for baseline and canary, \
              with dashed lines at 0.1%, 1% and 5%.",
        data: Data::Prom(PromQuery {
            query: "sum(rate(memory_zep_write_skipped_total{reason=\"circuit_open\"}[5m])) / sum(rate(memory_zep_write_requests_total[5m]))",
            metric: "memory_zep_write_skipped_total",
            title: "Breaker-open ratio",
            scale: 100.0,
            y_desc: "skipped (breaker open) / requested (%)",
            thresholds: &[(0.001, "0.1%"), (0.01, "1%"), (0.05, "5%")],
        }),
        breach_keywords: &["circuit_open"],
    },
    Spec {
        name: "rate",
        caption: "Requests per second the schedule intended (dashed) and the load generator sent, \
                  in total and per variant.",
        alt: "Line chart of intended and sent requests per second over the run, in total and for \
              baseline and canary.",
        data: Data::Rate,
        breach_keywords: &[],
    },
    Spec {
        name: "ttfb_distribution",
        caption: "Corrected TTFB distribution of the whole run, baseline vs canary (HDR percentile \
                  plot: the x axis stretches the tail).",
        alt: "Percentile plot of corrected TTFB in ms from p0 to the deepest percentile measured, \
              for baseline and canary.",
        data: Data::Distribution,
        breach_keywords: &[],
    },
];

impl Spec {
    fn plot(&self, src: &Sources) -> Result<Plot, String> {
        let mut plot = match &self.data {
            Data::TtfbOverTime => sources::ttfb_over_time(src),
            Data::Rate => sources::rate(src),
            Data::Distribution => sources::distribution(src),
            Data::Prom(q) => sources::prom(src, q),
        }?;
        if !plot.has_data() {
            return Err("no measured values".into());
        }
        plot.shaded = sources::breaches(src, self.breach_keywords).0;
        Ok(plot)
    }

    fn caption(&self, src: &Sources) -> String {
        let (spans, names) = sources::breaches(src, self.breach_keywords);
        if spans.is_empty() {
            self.caption.to_string()
        } else {
            format!(
                "{} Shaded: breach windows of {}.",
                self.caption,
                names.join(", ")
            )
        }
    }
}

/// Renders every chart `dir` has data for; never fails (a chart that cannot be drawn is skipped
/// with a sentence saying why).
pub fn render(dir: &Path, inputs: &RunInputs) -> ChartSet {
    let src = Sources::read(dir, inputs);
    let mut set = ChartSet::default();
    for spec in SPECS {
        let file = format!("{}/{}.png", crate::run_dir::CHARTS_DIR, spec.name);
        let drawn = spec
            .plot(&src)
            .and_then(|p| plot::draw(&p).map(|png| (p, png)));
        match drawn {
            Ok((p, png)) => set.charts.push(Chart {
                file,
                title: p.title,
                caption: spec.caption(&src),
                alt: spec.alt.to_string(),
                png,
            }),
            Err(why) => set.skipped.push(Skipped { file, why }),
        }
    }
    set
}
