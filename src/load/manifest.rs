//! What a load run leaves in its run directory: `manifest.json` (schema `rollgate.run/v1`),
//! `load/seconds.json`, and one HDR interval log per (kind, variant, metric) under
//! `load/histograms/`, as `reports/README.md` lays out.
//!
//! For: turning a [`Recorder`] and the run's facts into those files, and reading the histograms
//! back (so runs can be merged and analysed). Not for: running the load.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::pacer::Ending;
use super::recorder::{ErrorKind, Recorder, Second, Series};
use super::scenario::Scenario;
use super::sparse_hdr::{self, Sparse};
use super::split::Variant;
use crate::run_dir::{self, RunDir, RunDirError};

/// The manifest's schema name.
pub const SCHEMA: &str = "rollgate.run/v1";

/// Why a run's files could not be written or read.
#[derive(Debug, Error)]
pub enum ManifestError {
    /// A file could not be written.
    #[error(transparent)]
    Write(#[from] RunDirError),
    /// A histogram could not be encoded.
    #[error("cannot encode histogram {file}: {message}")]
    Encode {
        /// The log file.
        file: String,
        /// What failed.
        message: String,
    },
    /// A histogram log could not be read or decoded.
    #[error("{path}: {message}")]
    Read {
        /// The log file.
        path: std::path::PathBuf,
        /// What failed.
        message: String,
    },
}

/// Latency quantiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Quantiles {
    /// Quantiles of a microsecond histogram (all zero when it is empty).
    pub fn of(h: &Histogram<u64>) -> Quantiles {
        if h.is_empty() {
            return Quantiles::default();
        }
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Quantiles {
            p50: ms(0.5),
            p90: ms(0.9),
            p95: ms(0.95),
            p99: ms(0.99),
            max: h.max() as f64 / 1000.0,
        }
    }
}

/// Results of one (kind, variant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindResult {
    /// Request kind (`write`, `read`).
    pub kind: String,
    /// Baseline or canary.
    pub variant: Variant,
    /// Requests recorded.
    pub count: u64,
    /// Failures by kind.
    pub errors: BTreeMap<ErrorKind, u64>,
    /// Time to first byte from the intended send time.
    pub ttfb_corrected_ms: Quantiles,
    /// Time to first byte from the actual send.
    pub ttfb_raw_ms: Quantiles,
    /// Time to last byte from the intended send time.
    pub total_corrected_ms: Quantiles,
    /// Time to last byte from the actual send.
    pub total_raw_ms: Quantiles,
}

/// Intended and achieved request rates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// What the schedule asked for, over the time it covered, requests per second.
    pub intended: f64,
    /// What was sent over the same time.
    pub achieved: f64,
}

/// The run manifest (`rollgate.run/v1`).
#[derive(Debug, Clone, Serialize)]
pub struct Manifest<'a> {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// `complete`, `interrupted` or `aborted`.
    pub status: &'static str,
    /// Why an aborted run stopped.
    pub abort_reason: Option<String>,
    /// Name and file of the scenario.
    pub scenario: ScenarioRef<'a>,
    /// The resolved scenario (no secrets: the API key is never serialized).
    pub config: &'a Scenario,
    /// The scenario's seed.
    pub seed: u64,
    /// Versions of rollgate and its load generator.
    pub versions: BTreeMap<&'static str, &'static str>,
    /// The machine the run was on.
    pub machine: Machine,
    /// Shard `K/N` of a shared schedule (`0/1` for a single runner).
    pub shard: String,
    /// Start (slot 0) and end, RFC 3339 UTC.
    pub started_at: String,
    /// End of the run.
    pub ended_at: String,
    /// Seconds from slot 0 to the last answer.
    pub duration_s: f64,
    /// Requests the schedule planned for this runner, and those sent.
    pub planned: u64,
    /// Requests sent and answered (or failed).
    pub sent: u64,
    /// Rates.
    pub rate: Rate,
    /// Send lag (actual − intended send time), milliseconds.
    pub send_lag_ms: Quantiles,
    /// False when the send lag p99 passed the scenario's bound: the generator, not only the
    /// target, was saturated, and latencies are suspect.
    pub trustworthy: bool,
    /// Why the run is not trustworthy.
    pub untrustworthy_reason: Option<String>,
    /// Latencies above one hour, recorded as one hour.
    pub saturated: u64,
    /// Per (kind, variant) results.
    pub results: Vec<KindResult>,
}

/// The scenario's name and file.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioRef<'a> {
    /// Name.
    pub name: &'a str,
    /// File.
    pub path: &'a Path,
}

/// Facts about the machine.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPUs available.
    pub cpus: usize,
    /// Operating system.
    pub os: &'static str,
    /// CPU architecture.
    pub arch: &'static str,
}

impl Machine {
    /// This machine.
    pub fn this() -> Machine {
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
        }
    }
}

/// One second of the run, per variant (`load/seconds.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecondRow {
    /// Second of the schedule, from 0.
    pub second: u64,
    /// Baseline or canary.
    pub variant: Variant,
    /// Requests the schedule asked for in this second (all variants; this runner's shard).
    pub intended: u64,
    /// Requests of this variant due in this second that were sent.
    pub count: u64,
    /// Of which failed.
    pub errors: u64,
    /// Corrected time to first byte of the successful ones.
    pub ttfb_p50_ms: Option<f64>,
    /// 95th percentile.
    pub ttfb_p95_ms: Option<f64>,
    /// 99th percentile.
    pub ttfb_p99_ms: Option<f64>,
}

/// Reads one of a series' histograms.
type Pick = fn(&Series) -> &Histogram<u64>;

/// The names of a series' four histograms, with accessors.
const METRICS: [(&str, Pick); 4] = [
    ("ttfb_corrected", |s| &s.ttfb_corrected),
    ("ttfb_raw", |s| &s.ttfb_raw),
    ("total_corrected", |s| &s.total_corrected),
    ("total_raw", |s| &s.total_raw),
];

/// Everything about a finished (or stopped) run that goes into its files.
pub struct RunFacts<'a> {
    /// The scenario.
    pub scenario: &'a Scenario,
    /// Kind names by mix index.
    pub kinds: &'a [&'a str],
    /// What was measured.
    pub recorder: &'a Recorder,
    /// How it ended.
    pub ending: &'a Ending,
    /// Shard of the schedule.
    pub shard: (u64, u64),
    /// Wall-clock time of slot 0.
    pub started: SystemTime,
    /// Seconds from slot 0 to the last answer.
    pub elapsed: Duration,
    /// Slots planned and sent.
    pub planned: u64,
    /// Requests recorded.
    pub sent: u64,
    /// Slots the schedule had due in each second (this shard), for the per-second rows.
    pub intended_per_second: Vec<u64>,
}

/// Writes `manifest.json`, `load/seconds.json` and the histograms; returns the manifest's
/// summary figures.
pub fn write(dir: &RunDir, facts: &RunFacts) -> Result<(Rate, bool), ManifestError> {
    let scenario = facts.scenario;
    let covered = match facts.ending {
        Ending::Complete => scenario.duration(),
        _ => facts.elapsed.min(scenario.duration()),
    };
    let covered_s = covered.as_secs_f64().max(1e-9);
    let due_in_covered: u64 = {
        let schedule = scenario.schedule();
        let (k, n) = facts.shard;
        (0..schedule.total())
            .filter(|slot| slot % n == k)
            .take_while(|slot| schedule.due(*slot).is_some_and(|due| due <= covered))
            .count() as u64
    };
    let rate = Rate {
        intended: due_in_covered as f64 / covered_s,
        achieved: facts.sent as f64 / covered_s,
    };
    let send_lag = Quantiles::of(facts.recorder.send_lag());
    let bound_ms = scenario.guards.max_send_lag_p99.as_secs_f64() * 1000.0;
    let trustworthy = send_lag.p99 <= bound_ms;
    let results: Vec<KindResult> = facts
        .recorder
        .keys()
        .filter_map(|(kind, variant)| {
            let series = facts.recorder.series(kind, variant)?;
            Some(KindResult {
                kind: facts
                    .kinds
                    .get(kind)
                    .map_or_else(|| kind.to_string(), |k| k.to_string()),
                variant,
                count: series.count,
                errors: series.errors.clone(),
                ttfb_corrected_ms: Quantiles::of(&series.ttfb_corrected),
                ttfb_raw_ms: Quantiles::of(&series.ttfb_raw),
                total_corrected_ms: Quantiles::of(&series.total_corrected),
                total_raw_ms: Quantiles::of(&series.total_raw),
            })
        })
        .collect();
    let (status, abort_reason) = match facts.ending {
        Ending::Complete => ("complete", None),
        Ending::Interrupted => ("interrupted", None),
        Ending::Aborted(reason) => ("aborted", Some(reason.clone())),
    };
    let manifest = Manifest {
        schema: SCHEMA,
        status,
        abort_reason,
        scenario: ScenarioRef {
            name: &scenario.name,
            path: &scenario.path,
        },
        config: scenario,
        seed: scenario.seed,
        versions: BTreeMap::from([("rollgate", env!("CARGO_PKG_VERSION")), ("goose", "0.19")]),
        machine: Machine::this(),
        shard: format!("{}/{}", facts.shard.0, facts.shard.1),
        started_at: run_dir::rfc3339(facts.started),
        ended_at: run_dir::rfc3339(facts.started + facts.elapsed),
        duration_s: facts.elapsed.as_secs_f64(),
        planned: facts.planned,
        sent: facts.sent,
        rate,
        send_lag_ms: send_lag,
        trustworthy,
        untrustworthy_reason: (!trustworthy).then(|| {
            format!(
                "send lag p99 {:.1} ms is above the scenario's bound of {bound_ms:.1} ms: the load generator was saturated",
                send_lag.p99
            )
        }),
        saturated: facts.recorder.saturated(),
        results,
    };
    write_histograms(dir, facts)?;
    dir.write_json(run_dir::LOAD_SECONDS, &seconds(facts))?;
    dir.write_json(run_dir::MANIFEST, &manifest)?;
    Ok((rate, trustworthy))
}

fn seconds(facts: &RunFacts) -> Vec<SecondRow> {
    let mut rows = Vec::new();
    for variant in [Variant::Baseline, Variant::Canary] {
        for (second, data) in facts.recorder.seconds(variant) {
            let q = |q: f64| {
                (!data.ttfb_corrected.is_empty())
                    .then(|| data.ttfb_corrected.value_at_quantile(q) as f64 / 1000.0)
            };
            rows.push(SecondRow {
                second,
                variant,
                intended: facts
                    .intended_per_second
                    .get(second as usize)
                    .copied()
                    .unwrap_or(0),
                count: data.count,
                errors: data.errors,
                ttfb_p50_ms: q(0.5),
                ttfb_p95_ms: q(0.95),
                ttfb_p99_ms: q(0.99),
            });
        }
    }
    rows.sort_by_key(|r| (r.second, r.variant));
    rows
}

/// The file name of one histogram log.
pub fn histogram_file(kind: &str, variant: Variant, metric: &str) -> String {
    format!(
        "{}/{kind}.{variant}.{metric}.hlog",
        run_dir::LOAD_HISTOGRAMS
    )
}

/// Send lag of the whole run.
pub const SEND_LAG_FILE: &str = "load/histograms/send_lag.hlog";
/// Corrected TTFB per second: one interval per second and variant (tag = variant).
pub const SECONDS_FILE: &str = "load/histograms/seconds.ttfb_corrected.hlog";

fn write_histograms(dir: &RunDir, facts: &RunFacts) -> Result<(), ManifestError> {
    let lag = encode(
        facts.recorder.send_lag(),
        facts.started,
        facts.elapsed,
        SEND_LAG_FILE,
    )?;
    dir.write(SEND_LAG_FILE, &lag)?;
    let mut seconds = Vec::new();
    for variant in [Variant::Baseline, Variant::Canary] {
        for (second, data) in facts.recorder.seconds(variant) {
            seconds.push((second, variant, &data.ttfb_corrected));
        }
    }
    let bytes = encode_intervals(facts.started, &seconds, SECONDS_FILE)?;
    dir.write(SECONDS_FILE, &bytes)?;
    for (kind, variant) in facts.recorder.keys() {
        let Some(series) = facts.recorder.series(kind, variant) else {
            continue;
        };
        let name = facts
            .kinds
            .get(kind)
            .map_or_else(|| kind.to_string(), |k| k.to_string());
        for (metric, get) in METRICS {
            let file = histogram_file(&name, variant, metric);
            let bytes = encode(get(series), facts.started, facts.elapsed, &file)?;
            dir.write(&file, &bytes)?;
        }
    }
    Ok(())
}

fn encode(
    h: &Histogram<u64>,
    start: SystemTime,
    elapsed: Duration,
    file: &str,
) -> Result<Vec<u8>, ManifestError> {
    let failed = |message: String| ManifestError::Encode {
        file: file.to_string(),
        message,
    };
    let mut buf = Vec::new();
    let mut serializer = V2Serializer::new();
    {
        let mut writer = IntervalLogWriterBuilder::new()
            .add_comment("rollgate load histogram: microseconds, one interval covering the run")
            .with_start_time(start)
            .begin_log_with(&mut buf, &mut serializer)
            .map_err(|e| failed(e.to_string()))?;
        writer
            .write_histogram(h, Duration::ZERO, elapsed, Tag::new("run"))
            .map_err(|e| failed(e.to_string()))?;
    }
    Ok(buf)
}

fn encode_intervals(
    start: SystemTime,
    seconds: &[(u64, Variant, &Histogram<u64>)],
    file: &str,
) -> Result<Vec<u8>, ManifestError> {
    let failed = |message: String| ManifestError::Encode {
        file: file.to_string(),
        message,
    };
    let mut buf = Vec::new();
    let mut serializer = V2Serializer::new();
    {
        let mut writer = IntervalLogWriterBuilder::new()
            .add_comment("rollgate per-second corrected TTFB: microseconds, one interval per second and variant")
            .with_start_time(start)
            .begin_log_with(&mut buf, &mut serializer)
            .map_err(|e| failed(e.to_string()))?;
        for (second, variant, h) in seconds {
            writer
                .write_histogram(
                    h,
                    Duration::from_secs(*second),
                    Duration::from_secs(1),
                    Tag::new(variant.as_str()),
                )
                .map_err(|e| failed(e.to_string()))?;
        }
    }
    Ok(buf)
}

/// Every interval of a histogram log: its start (from the log's start), its tag, its histogram.
pub fn read_intervals(
    path: &Path,
) -> Result<Vec<(Duration, String, Histogram<u64>)>, ManifestError> {
    let mut out = Vec::new();
    for_each_interval(path, |start, tag, h| out.push((start, tag, h)))?;
    Ok(out)
}

/// Calls `f` with every interval of a histogram log in turn (start from the log's start, tag,
/// histogram), so a long log is read with one histogram in memory at a time.
pub fn for_each_interval(
    path: &Path,
    mut f: impl FnMut(Duration, String, Histogram<u64>),
) -> Result<(), ManifestError> {
    let mut deserializer = Deserializer::new();
    each_encoded(path, |start, tag, raw| {
        let h: Histogram<u64> = deserializer
            .deserialize(&mut &raw[..])
            .map_err(|e| format!("bad histogram: {e:?}"))?;
        f(start, tag.to_string(), h);
        Ok(())
    })
}

/// Like [`for_each_interval`], with each histogram as its recorded counters only (see
/// [`sparse_hdr`]): the fast way to read a long log.
pub fn for_each_sparse_interval(
    path: &Path,
    mut f: impl FnMut(Duration, &str, Sparse),
) -> Result<(), ManifestError> {
    let mut decoder = sparse_hdr::Decoder::default();
    each_encoded(path, |start, tag, raw| {
        let sparse = decoder
            .decode(raw, None)
            .map_err(|e| format!("bad histogram: {e}"))?;
        f(start, tag, sparse);
        Ok(())
    })
}

/// Every interval's start, tag and encoded histogram bytes; an error names the log and the
/// interval's position in it.
fn each_encoded(
    path: &Path,
    mut f: impl FnMut(Duration, &str, &[u8]) -> Result<(), String>,
) -> Result<(), ManifestError> {
    let failed = |message: String| ManifestError::Read {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
    let mut raw = Vec::new();
    for (n, entry) in IntervalLogIterator::new(&bytes).enumerate() {
        let LogEntry::Interval(interval) = entry.map_err(|e| failed(format!("{e:?}")))? else {
            continue;
        };
        raw.clear();
        base64::engine::general_purpose::STANDARD
            .decode_vec(interval.encoded_histogram(), &mut raw)
            .map_err(|e| failed(format!("entry {}: bad base64: {e}", n + 1)))?;
        let tag = interval.tag().map(|t| t.as_str()).unwrap_or_default();
        f(interval.start_timestamp(), tag, &raw)
            .map_err(|e| failed(format!("entry {}: {e}", n + 1)))?;
    }
    Ok(())
}

/// Reads a histogram log written by [`write`] (every interval added into one histogram).
pub fn read_histogram(path: &Path) -> Result<Histogram<u64>, ManifestError> {
    let mut total: Option<Histogram<u64>> = None;
    for (_, _, h) in read_intervals(path)? {
        match &mut total {
            None => total = Some(h),
            Some(t) => t.add(&h).map_err(|e| ManifestError::Read {
                path: path.to_path_buf(),
                message: format!("cannot add intervals: {e:?}"),
            })?,
        }
    }
    total.ok_or_else(|| ManifestError::Read {
        path: path.to_path_buf(),
        message: "no histogram interval in the log".into(),
    })
}

/// Rebuilds the [`Recorder`] of a run directory from its manifest (`results`, `saturated`),
/// `load/seconds.json` and histogram logs; `kinds` are the kind names by mix index.
pub fn read_recorder(
    dir: &Path,
    manifest: &serde_json::Value,
    kinds: &[&str],
) -> Result<Recorder, ManifestError> {
    let bad = |file: &str, message: String| ManifestError::Read {
        path: dir.join(file),
        message,
    };
    let results: Vec<KindResult> = serde_json::from_value(manifest["results"].clone())
        .map_err(|e| bad(run_dir::MANIFEST, format!("field `results`: {e}")))?;
    let mut series = BTreeMap::new();
    for r in results {
        let kind = kinds.iter().position(|k| *k == r.kind).ok_or_else(|| {
            bad(
                run_dir::MANIFEST,
                format!("unknown request kind `{}`", r.kind),
            )
        })?;
        let mut s = Series::new();
        s.count = r.count;
        s.errors = r.errors;
        for (metric, _) in METRICS {
            let h = read_histogram(&dir.join(histogram_file(&r.kind, r.variant, metric)))?;
            let target = match metric {
                "ttfb_corrected" => &mut s.ttfb_corrected,
                "ttfb_raw" => &mut s.ttfb_raw,
                "total_corrected" => &mut s.total_corrected,
                _ => &mut s.total_raw,
            };
            target.add(&h).map_err(|e| {
                bad(
                    &histogram_file(&r.kind, r.variant, metric),
                    format!("{e:?}"),
                )
            })?;
        }
        series.insert((kind, r.variant), s);
    }
    let text = std::fs::read_to_string(dir.join(run_dir::LOAD_SECONDS))
        .map_err(|e| bad(run_dir::LOAD_SECONDS, e.to_string()))?;
    let rows: Vec<SecondRow> =
        serde_json::from_str(&text).map_err(|e| bad(run_dir::LOAD_SECONDS, e.to_string()))?;
    let mut seconds: BTreeMap<(u64, Variant), Second> = BTreeMap::new();
    for row in rows {
        let second = seconds.entry((row.second, row.variant)).or_default();
        second.count += row.count;
        second.errors += row.errors;
    }
    for (start, tag, h) in read_intervals(&dir.join(SECONDS_FILE))? {
        let variant = match tag.as_str() {
            "canary" => Variant::Canary,
            _ => Variant::Baseline,
        };
        let second = seconds
            .entry((start.as_secs_f64().round() as u64, variant))
            .or_default();
        second
            .ttfb_corrected
            .add(&h)
            .map_err(|e| bad(SECONDS_FILE, format!("{e:?}")))?;
    }
    let send_lag = read_histogram(&dir.join(SEND_LAG_FILE))?;
    let saturated = manifest["saturated"].as_u64().unwrap_or(0);
    Ok(Recorder::from_parts(series, seconds, send_lag, saturated))
}

/// The span a load run's schedule covered, `(start_ms, end_ms)` since the epoch, from its
/// manifest: from slot 0 to the end of the schedule (or of the run, when it stopped early).
/// `None` when the directory has no readable load manifest.
pub fn schedule_span(dir: &Path) -> Option<(i64, i64)> {
    let text = std::fs::read_to_string(dir.join(run_dir::MANIFEST)).ok()?;
    let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
    let started = humantime::parse_rfc3339(manifest["started_at"].as_str()?).ok()?;
    let start = started
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_millis() as i64;
    let seconds = manifest["config"]["stages"]
        .as_array()?
        .iter()
        .filter_map(|s| humantime::parse_duration(s["duration"].as_str()?).ok())
        .map(|d| d.as_secs_f64())
        .sum::<f64>()
        .min(manifest["duration_s"].as_f64()?);
    Some((start, start + (seconds * 1000.0) as i64))
}
