//! The report's PNG charts: drawn from a real load run on loopback (scraped store, HDR logs),
//! valid 900x360 PNGs with pixels of the series' colours across the plot, breach windows shaded,
//! embedded in report.html; charts without data are skipped with a warning naming the file.

use std::collections::BTreeSet;
use std::path::Path;

use rollgate::assistant::mode::Mode;
use rollgate::load::run::{self, RunOptions};
use rollgate::load::scenario::{Overrides, Scenario};
use rollgate::prom::labels::Labels;
use rollgate::prom::store::Store;
use rollgate::report;
use rollgate::report::charts::plot::{self, BASELINE, BREACH, CANARY, THRESHOLDS};
use rollgate::run_dir::{self, RunDir};
use rollgate::stack::{Stack, StackConfig};
use rollgate::variant::Variant;
use serde_json::json;

use super::{read, synthetic_run};
use crate::load::GOOSE;

/// A decoded RGB image.
struct Image {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

fn decode(path: &Path) -> Image {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap_or_else(|e| panic!("{} is not a PNG: {e}", path.display()));
    let mut rgb = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut rgb).expect("PNG frame");
    assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
    rgb.truncate(info.buffer_size());
    Image {
        width: info.width,
        height: info.height,
        rgb,
    }
}

impl Image {
    /// The columns that hold at least one pixel of exactly `color`.
    fn columns_with(&self, color: plotters::style::RGBColor) -> usize {
        self.columns_with_in_rows(color, 0..self.height)
    }

    /// The columns that hold a pixel of exactly `color` in `rows`.
    fn columns_with_in_rows(
        &self,
        color: plotters::style::RGBColor,
        rows: std::ops::Range<u32>,
    ) -> usize {
        let want = [color.0, color.1, color.2];
        let mut cols = BTreeSet::new();
        for (i, px) in self.rgb.chunks_exact(3).enumerate() {
            let (x, y) = (i as u32 % self.width, i as u32 / self.width);
            if px == want && rows.contains(&y) {
                cols.insert(x);
            }
        }
        cols.len()
    }
}

/// A plotted series crosses a good part of the plot area (a legend swatch is ~18 columns; scraped
/// series start once the first writes are counted, so not at the left edge).
const SERIES_COLUMNS: usize = 100;

/// The charts drawn from the scraped store.
const PROM_CHARTS: [&str; 4] = [
    "write_latency_p95",
    "read_latency_p95",
    "write_error_ratio",
    "breaker_open_ratio",
];

const SCENARIO: &str = r#"
name = "charts"
[target]
kind = "assistant"
[load]
rate = 50
duration = "4s"
[conversations]
threads = 40
turns = 4
canary_percent = 30
[scrape]
interval = "500ms"
"#;

#[tokio::test]
async fn a_real_run_gets_every_chart_drawn_with_its_series_and_breach_windows() {
    let _turn = GOOSE.lock().await;
    let stack = Stack::start(&StackConfig {
        baseline_mode: Mode::ReadWrite,
        canary_mode: Mode::ReadWrite,
        brain_latency: "fixed:5ms".parse().expect("latency"),
        ..StackConfig::default()
    })
    .await
    .expect("stack");
    let out = tempfile::tempdir().expect("temp dir");
    let scenario = Scenario::parse(
        Path::new("charts.toml"),
        SCENARIO,
        &Overrides {
            target: Some(stack.assistant(Variant::Baseline).url()),
            canary_target: Some(stack.assistant(Variant::Canary).url()),
            ..Overrides::default()
        },
    )
    .expect("scenario");
    let summary = run::run(
        &scenario,
        &RunOptions {
            out_base: out.path().to_path_buf(),
            ..RunOptions::default()
        },
    )
    .await
    .expect("run");
    drop(stack);
    let dir = summary.dir;

    // A verdict whose TTFB check breached from second 1 to second 2 of the run.
    let manifest: serde_json::Value =
        serde_json::from_str(&read(&dir, run_dir::MANIFEST)).expect("manifest");
    let started = humantime::parse_rfc3339(manifest["started_at"].as_str().expect("started_at"))
        .expect("RFC 3339");
    let start_ms = started
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis() as i64;
    RunDir::at(&dir)
        .expect("run dir")
        .write_json(
            run_dir::VERDICT,
            &json!({"schema": "rollgate.verdict/v1", "phase": "canary", "verdict": "ROLLBACK",
                "reason": "test", "time_scale": 1.0,
                "checks": [{"name": "p95 TTFB increase > 200ms", "action": "rollback",
                    "query": "histogram_quantile(0.95, sum by (le) (rate(assistant_ttfb_seconds_bucket[5m])))",
                    "outcome": "breach", "breaches": [[start_ms + 1000, start_ms + 2000]]}]}),
        )
        .expect("verdict");

    let report = report::write(&dir).expect("report");
    // The load engine's own data is there for every run: these charts are always drawn.
    for name in ["ttfb_p95", "rate", "ttfb_distribution"] {
        let img = decode(&dir.join(format!("{}/{name}.png", run_dir::CHARTS_DIR)));
        assert_eq!(
            (img.width, img.height),
            (plot::WIDTH, plot::HEIGHT),
            "{name}"
        );
        let (b, c) = (img.columns_with(BASELINE), img.columns_with(CANARY));
        assert!(
            b > SERIES_COLUMNS && c > SERIES_COLUMNS,
            "{name}: series pixels in {b} baseline and {c} canary columns"
        );
    }
    // Scraped series depend on when the assistants counted their writes (a slow machine counts
    // late): each chart is drawn, or skipped naming the store; the pixels are checked on a
    // store written with known values (below).
    for name in PROM_CHARTS {
        let file = format!("{}/{name}.png", run_dir::CHARTS_DIR);
        if dir.join(&file).exists() {
            let img = decode(&dir.join(&file));
            assert_eq!(
                (img.width, img.height),
                (plot::WIDTH, plot::HEIGHT),
                "{name}"
            );
        } else {
            assert!(
                report
                    .warnings
                    .iter()
                    .any(|w| w.contains(&file) && w.contains("prom/samples.v1.prom")),
                "{name}: {:?}",
                report.warnings
            );
        }
    }
    // Shading, looked for in the lower half of the plot (the legend's swatch is at the top).
    let ttfb = decode(&dir.join("charts/ttfb_p95.png"));
    let lower = plot::HEIGHT / 2..plot::HEIGHT - 60;
    let shaded = ttfb.columns_with_in_rows(BREACH, lower.clone());
    assert!(
        shaded >= 10 && shaded < plot::WIDTH as usize / 2,
        "one second of the run is shaded: {shaded} columns"
    );
    assert_eq!(
        decode(&dir.join("charts/rate.png")).columns_with_in_rows(BREACH, lower),
        0,
        "the rate chart shades no check"
    );

    let html = read(&dir, run_dir::REPORT_HTML);
    assert!(html.matches("<img src=\"data:image/png;base64,").count() >= 3);
    assert!(html.contains("img-src data:"));
    assert!(html.contains("Shaded: breach windows of p95 TTFB increase &gt; 200ms"));
    assert!(!html.contains("src=\"http") && !html.contains("<script"));
}

#[test]
fn charts_without_data_are_skipped_with_a_warning_naming_the_file() {
    let tmp = tempfile::tempdir().expect("temp dir");
    synthetic_run(tmp.path());
    // Per-second rows for the whole 600 s the manifest says the run lasted.
    let rows: Vec<serde_json::Value> = (0..600)
        .flat_map(|s| {
            [("baseline", 180.0), ("canary", 420.0)].map(|(v, p95)| {
                json!({"second": s, "variant": v, "intended": 100, "count": 50, "errors": 0,
                       "ttfb_p95_ms": p95 + (s % 7) as f64})
            })
        })
        .collect();
    RunDir::at(tmp.path())
        .expect("run dir")
        .write_json(run_dir::LOAD_SECONDS, &rows)
        .expect("seconds");
    let summary = report::write(tmp.path()).expect("report");
    let skipped: Vec<&String> = summary
        .warnings
        .iter()
        .filter(|w| w.starts_with("chart "))
        .collect();
    assert_eq!(skipped.len(), 5, "{skipped:?}");
    for (chart, file) in [
        ("write_latency_p95", "prom/samples.v1.prom"),
        ("breaker_open_ratio", "prom/samples.v1.prom"),
        ("ttfb_distribution", "load/histograms"),
    ] {
        assert!(
            skipped
                .iter()
                .any(|w| w.contains(&format!("charts/{chart}.png")) && w.contains(file)),
            "{chart}: {skipped:?}"
        );
    }
    assert!(!tmp.path().join("charts/write_latency_p95.png").exists());
    assert!(tmp.path().join("charts/ttfb_p95.png").exists());
    for name in ["ttfb_p95", "rate"] {
        let img = decode(&tmp.path().join(format!("charts/{name}.png")));
        assert!(img.columns_with(CANARY) > SERIES_COLUMNS, "{name}");
    }
    let html = read(tmp.path(), run_dir::REPORT_HTML);
    assert_eq!(html.matches("<img src=\"data:image/png;base64,").count(), 2);
    assert!(html.contains("charts/read_latency_p95.png skipped"));

    // Rows without any p95: the TTFB chart is skipped too, never drawn empty.
    std::fs::write(
        tmp.path().join(run_dir::LOAD_SECONDS),
        r#"[{"second": 0, "variant": "baseline", "intended": 5, "count": 5, "errors": 0}]"#,
    )
    .expect("seconds");
    let summary = report::write(tmp.path()).expect("report");
    assert!(
        summary
            .warnings
            .iter()
            .any(|w| w.contains("charts/ttfb_p95.png skipped")
                && w.contains("load/seconds.json has no ttfb_p95_ms")),
        "{:?}",
        summary.warnings
    );
    assert!(
        !tmp.path().join("charts/ttfb_p95.png").exists(),
        "the chart of the earlier report is removed with its data"
    );
}

/// Writes `prom/samples.v1.prom` with the real store writer: 600 s of scrapes every 10 s from the
/// synthetic run's start, per variant: latency histograms (canary slower), write failures
/// (canary 2%) and breaker-open skips (canary 1%).
fn scraped_store(dir: &Path) {
    let start = humantime::parse_rfc3339("2026-12-03T08:45:00Z").expect("time");
    let start_ms = start
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis() as i64;
    let les = ["0.05", "0.1", "0.15", "0.25", "0.5", "+Inf"];
    // Cumulative bucket counts added per scrape: baseline p95 ~0.15 s, canary p95 ~0.25 s.
    let per_scrape = [
        (
            "baseline",
            [50.0, 90.0, 96.0, 100.0, 100.0, 100.0],
            0.0,
            0.0,
        ),
        ("canary", [20.0, 60.0, 80.0, 96.0, 100.0, 100.0], 2.0, 1.0),
    ];
    let mut store = Store::new();
    let mut put = |name: &str, extra: &[(&str, &str)], variant: &str, t: i64, v: f64| {
        let mut pairs = vec![("__name__", name), ("variant", variant)];
        pairs.extend_from_slice(extra);
        store
            .append(&Labels::from_pairs(pairs), t, v)
            .expect("in order");
    };
    for i in 0..=60i64 {
        let t = start_ms + i * 10_000;
        let n = i as f64;
        for (variant, buckets, failures, skipped) in per_scrape {
            for hist in [
                "memory_zep_write_latency_seconds_bucket",
                "memory_zep_read_latency_seconds_bucket",
            ] {
                for (le, count) in les.iter().zip(buckets) {
                    put(hist, &[("le", le)], variant, t, n * count);
                }
            }
            put(
                "memory_zep_write_attempts_total",
                &[],
                variant,
                t,
                n * 100.0,
            );
            put(
                "memory_zep_write_requests_total",
                &[],
                variant,
                t,
                n * 100.0,
            );
            put(
                "memory_zep_write_failures_total",
                &[],
                variant,
                t,
                n * failures,
            );
            put(
                "memory_zep_write_skipped_total",
                &[("reason", "circuit_open")],
                variant,
                t,
                n * skipped,
            );
        }
    }
    store.write_run_dir(dir).expect("store written");
}

#[test]
fn scraped_series_are_drawn_per_variant_with_their_threshold_lines() {
    let tmp = tempfile::tempdir().expect("temp dir");
    synthetic_run(tmp.path());
    scraped_store(tmp.path());
    let summary = report::write(tmp.path()).expect("report");
    for name in PROM_CHARTS {
        let file = format!("{}/{name}.png", run_dir::CHARTS_DIR);
        assert!(
            !summary.warnings.iter().any(|w| w.contains(&file)),
            "{name}: {:?}",
            summary.warnings
        );
        let img = decode(&tmp.path().join(&file));
        assert_eq!(
            (img.width, img.height),
            (plot::WIDTH, plot::HEIGHT),
            "{name}"
        );
        let (b, c) = (img.columns_with(BASELINE), img.columns_with(CANARY));
        // Ten minutes of scrapes span the whole x axis.
        assert!(
            b > 500 && c > 500,
            "{name}: series pixels in {b} baseline and {c} canary columns"
        );
        // The harshest threshold line (every chart has one): dashed across the plot.
        let t = img.columns_with(THRESHOLDS[2]);
        assert!(t > 300, "{name}: threshold line in {t} columns");
    }
    let html = read(tmp.path(), run_dir::REPORT_HTML);
    assert!(html.contains("alt=\"Line chart of Zep write latency p95"));
    assert!(html.contains("the 150 ms gate"));
}
