//! Benchmarks of the analyzer's statistics (issue 8, "Speed"): printed figures, no assertions.
//!
//! Run: `cargo bench --bench analysis_stats` (release build). It measures
//! 1. Mann-Whitney U, the p95 interval and the bucket conversion on two HDR histograms holding
//!    1,000,000 requests (900,000 baseline, 100,000 canary; 3 significant digits);
//! 2. a 24-hour run's per-second TTFB log (86,400 seconds × 2 variants, 11 + 1 requests a second,
//!    1,036,800 requests) written as the load engine writes it, read back with
//!    `LatencySamples::read`, then windowed over the whole day and tested, with the process's peak
//!    resident memory before and after;
//! 3. the whole analysis of that run directory as `rollgate analyze --source run:DIR --phase
//!    canary` does it, with 24 hours of scrapes added (the `healthy` canary dataset of
//!    `fixtures/canary/datasets.toml` stretched to 24 h at 6 turns/s per side, 1.04 M turns,
//!    scraped every 30 s): reading the scrapes and the log, and judging all 14 checks; median of
//!    3, with the peak resident memory.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2Serializer;
use hdrhistogram::Histogram;
use rollgate::analysis::evaluate::Span;
use rollgate::analysis::evidence::LatencySamples;
use rollgate::analysis::gates::{Gates, Phase};
use rollgate::analysis::stats;
use rollgate::analysis::verdict;
use rollgate::load::manifest::schedule_span;
use rollgate::prom::eval::Semantics;
use rollgate::prom::source::Source;
use rollgate::prom::store::Store;

/// A deterministic stream of latencies in µs: log-uniform-ish around `centre_us`.
struct Latencies(u64);

impl Latencies {
    fn next(&mut self, centre_us: f64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let r = (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
        (centre_us * (2.0 * r - 1.0).exp2().powi(2)).max(1.0) as u64
    }
}

fn histogram(sigfig: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, sigfig).expect("bounds")
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn million() {
    let mut gen = Latencies(0x9E37_79B9_7F4A_7C15);
    let (mut base, mut canary) = (histogram(3), histogram(3));
    for i in 0..1_000_000u32 {
        if i % 10 == 0 {
            canary.record(gen.next(180_000.0)).expect("record");
        } else {
            base.record(gen.next(170_000.0)).expect("record");
        }
    }
    let start = Instant::now();
    let (b, c) = (stats::hdr_buckets(&base), stats::hdr_buckets(&canary));
    let convert = start.elapsed();
    let start = Instant::now();
    let mw = stats::mann_whitney(&c, &b).expect("data");
    let test = start.elapsed();
    let start = Instant::now();
    let ci = stats::quantile_interval(&c, 0.95, 0.95).expect("data");
    let interval = start.elapsed();
    println!(
        "1M requests in HDR histograms ({} + {} buckets): convert {convert:.2?}, Mann-Whitney {test:.2?} (p = {:.3e}, effect {:.3}), p95 interval {interval:.2?} ([{:.4}, {:.4}] s)",
        b.len(),
        c.len(),
        mw.p_greater,
        mw.cles,
        ci.0,
        ci.1
    );
}

fn day(dir: &Path) -> SystemTime {
    let started = SystemTime::now();
    let seconds = 86_400u64;
    let manifest = serde_json::json!({
        "schema": "rollgate.run/v1",
        "started_at": humantime::format_rfc3339_millis(started).to_string(),
        "duration_s": seconds as f64,
        "config": { "stages": [ { "duration": "24h" } ] },
    });
    std::fs::create_dir_all(dir.join("load/histograms")).expect("dirs");
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).expect("manifest");
    let mut gen = Latencies(7);
    let mut buf = Vec::new();
    let mut serializer = V2Serializer::new();
    let mut requests = 0u64;
    {
        let mut writer = IntervalLogWriterBuilder::new()
            .with_start_time(started)
            .begin_log_with(&mut buf, &mut serializer)
            .expect("log");
        for s in 0..seconds {
            for (tag, n, centre) in [("baseline", 11, 170_000.0), ("canary", 1, 175_000.0)] {
                let mut h = histogram(2);
                for _ in 0..n {
                    h.record(gen.next(centre)).expect("record");
                }
                requests += n;
                writer
                    .write_histogram(
                        &h,
                        Duration::from_secs(s),
                        Duration::from_secs(1),
                        Tag::new(tag),
                    )
                    .expect("write");
            }
        }
    }
    std::fs::write(
        dir.join("load/histograms/seconds.ttfb_corrected.hlog"),
        &buf,
    )
    .expect("log");
    let before = peak_rss_mb();
    let start = Instant::now();
    let samples = LatencySamples::read(dir)
        .expect("read")
        .expect("a load run");
    let read = start.elapsed();
    let after_read = peak_rss_mb();
    let start = Instant::now();
    let window = |side| {
        samples
            .window("assistant_ttfb_seconds", side, i64::MIN, i64::MAX)
            .expect("data")
    };
    let (b, c) = (window("baseline"), window("canary"));
    let mw = stats::mann_whitney(&c, &b).expect("data");
    let test = start.elapsed();
    println!(
        "24 h per-second log, {requests} requests ({:.1} MB on disk): read {read:.2?}, window + Mann-Whitney {test:.2?} (p = {:.3e}); peak RSS {before:.0} MB before reading, {after_read:.0} MB after, {:.0} MB at the end",
        buf.len() as f64 / 1e6,
        mw.p_greater,
        peak_rss_mb()
    );
    started
}

fn whole_run(dir: &Path, started: SystemTime) {
    let mut dataset = rollgate::synth::spec::load(Path::new("fixtures/canary/datasets.toml"))
        .expect("datasets")
        .into_iter()
        .find(|d| d.name == "healthy")
        .expect("healthy dataset");
    dataset.duration = Duration::from_secs(86_400);
    dataset.start_ms = started
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis() as i64;
    for side in [&mut dataset.baseline, &mut dataset.canary] {
        side.model.turns_per_second = 6.0;
    }
    let start = Instant::now();
    let store = rollgate::synth::simulate(&dataset).expect("simulate");
    let simulated = start.elapsed();
    let stats = store.stats();
    store.write_run_dir(dir).expect("write scrapes");
    drop(store);
    let on_disk = std::fs::metadata(dir.join("prom/samples.v1.prom"))
        .map(|m| m.len())
        .unwrap_or(0);
    let gates = Gates::seed().expect("gates");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut times = Vec::new();
    let mut parts = Vec::new();
    let mut verdict = String::new();
    for _ in 0..3 {
        let start = Instant::now();
        let store = Store::read_run_dir(dir).expect("read scrapes");
        let read_store = start.elapsed();
        let span = Span::of_samples(&store, schedule_span(dir), 1.0).expect("span");
        let latency = LatencySamples::read(dir).expect("read log");
        let read_log = start.elapsed() - read_store;
        let source = Source::Local {
            store,
            semantics: Semantics::Prometheus3,
        };
        let v = runtime.block_on(verdict::analyze_with(
            &gates,
            Phase::Canary,
            &source,
            &span,
            latency.as_ref(),
        ));
        times.push(start.elapsed());
        parts.push((
            read_store,
            read_log,
            start.elapsed() - read_store - read_log,
        ));
        verdict = format!("{} ({})", v.verdict.as_str(), v.reason);
    }
    times.sort();
    for (store, log, judge) in &parts {
        println!(
            "  read scrapes {store:.2?}, read TTFB log {log:.2?}, judge 14 checks {judge:.2?}"
        );
    }
    println!(
        "whole analysis of a 24 h run directory ({} series, {} samples, {:.1} MB of scrapes; simulated in {simulated:.2?}): median {:.2?} [{:.2?}..{:.2?}] of 3, peak RSS {:.0} MB; {verdict}",
        stats.series,
        stats.samples,
        on_disk as f64 / 1e6,
        times[1],
        times[0],
        times[2],
        peak_rss_mb()
    );
}

fn main() {
    million();
    let dir = tempfile::tempdir().expect("temp dir");
    // ROLLGATE_BENCH_KEEP=DIR keeps the 24 h run directory there, for timing the CLI on it
    // (`rollgate analyze --phase canary --source run:DIR`).
    let path = match std::env::var_os("ROLLGATE_BENCH_KEEP") {
        Some(keep) => std::path::PathBuf::from(keep),
        None => dir.path().to_path_buf(),
    };
    std::fs::create_dir_all(&path).expect("bench directory");
    let started = day(&path);
    whole_run(&path, started);
}
