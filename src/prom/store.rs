//! The in-memory time-series store: what the scraper writes and the PromQL evaluator reads.
//!
//! For: holding every sample of a run (or of fixture files) compactly, selecting series by name,
//! and saving/loading a run directory so a run can be re-judged later. Label sets are interned
//! (each distinct string stored once); a sample costs 12 bytes (a `u32` millisecond offset from
//! the series' first timestamp and an `f64`), plus vector slack until [`Store::shrink_to_fit`].
//!
//! Not for: query semantics (lookback, windows: [`crate::prom::eval`]) or long-term storage; a
//! store holds one run, at most ~49 days per series.
//!
//! # Run-directory format, version 1
//!
//! `DIR/prom/samples.v1.prom` is Prometheus text exposition (0.0.4) with extra rules:
//! - the first line is `# rollgate-prom-store 1`;
//! - every sample line has a timestamp in milliseconds; lines of one series are contiguous and in
//!   time order; the value `stale` is a staleness marker (written when a series disappears);
//! - the last line is `# END series=<n> samples=<m>`, so a truncated file is detected.
//!
//! Values are written in Rust's shortest round-trip form, so reading gives back the same bits.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

use crate::prom::exposition::{self, Format};
use crate::prom::labels::{Interner, Labels};

/// Bit pattern of Prometheus's staleness marker (`value.StaleNaN`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// True for the staleness marker (and only for it, not for an ordinary NaN).
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// File name of the store inside a run directory.
pub const RUN_FILE: &str = "prom/samples.v1.prom";
const HEADER: &str = "# rollgate-prom-store 1";

/// What went wrong appending, loading or saving.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A sample older than the newest one of its series.
    #[error("out-of-order sample for {series} at {timestamp_ms} ms (newest is {newest_ms} ms)")]
    OutOfOrder {
        /// The series.
        series: String,
        /// The rejected timestamp.
        timestamp_ms: i64,
        /// The newest timestamp already stored.
        newest_ms: i64,
    },
    /// Same timestamp, different value.
    #[error("duplicate sample for {series} at {timestamp_ms} ms with a different value")]
    Duplicate {
        /// The series.
        series: String,
        /// The timestamp.
        timestamp_ms: i64,
    },
    /// The series spans more than a `u32` of milliseconds (~49.7 days).
    #[error("series {series} would span more than 49 days; start a new store")]
    SpanTooLong {
        /// The series.
        series: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A fixture or run file has a bad line.
    #[error("{path}:{line}: {reason}: {text:?} (fix or remove the line; run files are written by rollgate, so re-record the run)")]
    BadLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The line's text.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// A run file that is not version 1 of the format or was cut short.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// One series: its labels and its samples in time order.
#[derive(Debug, Clone)]
pub struct Series {
    labels: Labels,
    base_ms: i64,
    offsets: Vec<u32>,
    values: Vec<f64>,
}

impl Series {
    /// The series' labels (with `__name__`).
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Number of samples (staleness markers included).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the series has no samples.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Timestamp of sample `i` in ms.
    pub fn timestamp(&self, i: usize) -> i64 {
        self.base_ms + i64::from(self.offsets[i])
    }

    /// Value of sample `i`.
    pub fn value(&self, i: usize) -> f64 {
        self.values[i]
    }

    /// Index range of the samples with `after_ms < t <= until_ms` (a left-open window).
    pub fn window(&self, after_ms: i64, until_ms: i64) -> std::ops::Range<usize> {
        let lo = self.partition(after_ms);
        let hi = self.partition(until_ms);
        lo..hi.max(lo)
    }

    /// Number of samples with timestamp <= `t`.
    fn partition(&self, t: i64) -> usize {
        if t < self.base_ms {
            return 0;
        }
        let off = t - self.base_ms;
        if off >= i64::from(u32::MAX) {
            return self.offsets.len();
        }
        let off = off as u32;
        self.offsets.partition_point(|&o| o <= off)
    }

    /// All samples as `(timestamp_ms, value)`.
    pub fn samples(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        self.offsets
            .iter()
            .zip(&self.values)
            .map(|(&o, &v)| (self.base_ms + i64::from(o), v))
    }

    fn append(&mut self, t: i64, v: f64) -> Result<bool, StoreError> {
        if let Some(&last) = self.offsets.last() {
            let newest = self.base_ms + i64::from(last);
            if t < newest {
                return Err(StoreError::OutOfOrder {
                    series: self.labels.to_string(),
                    timestamp_ms: t,
                    newest_ms: newest,
                });
            }
            if t == newest {
                let old = self.values[self.values.len() - 1];
                if old.to_bits() == v.to_bits() || (is_stale(v) && !is_stale(old)) {
                    return Ok(false);
                }
                return Err(StoreError::Duplicate {
                    series: self.labels.to_string(),
                    timestamp_ms: t,
                });
            }
        } else {
            self.base_ms = t;
        }
        let off = u32::try_from(t - self.base_ms).map_err(|_| StoreError::SpanTooLong {
            series: self.labels.to_string(),
        })?;
        self.offsets.push(off);
        self.values.push(v);
        Ok(true)
    }
}

/// Figures about a store's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    /// Number of series.
    pub series: usize,
    /// Number of samples (staleness markers included).
    pub samples: usize,
    /// Bytes allocated for samples (timestamps and values, capacity included).
    pub sample_bytes: usize,
    /// Bytes for label sets and interned strings (approximate: no hash-table overhead).
    pub label_bytes: usize,
}

/// The store. Series are kept in insertion order; [`Store::series_sorted`] gives Prometheus's order.
#[derive(Debug, Default)]
pub struct Store {
    interner: Interner,
    index: HashMap<Labels, u32>,
    by_name: HashMap<Arc<str>, Vec<u32>>,
    series: Vec<Series>,
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one sample. Returns false when it repeats the newest sample (ignored, like
    /// Prometheus); errors for out-of-order and conflicting duplicates leave the store unchanged.
    pub fn append(
        &mut self,
        labels: &Labels,
        timestamp_ms: i64,
        value: f64,
    ) -> Result<bool, StoreError> {
        self.append_id(labels, timestamp_ms, value)
            .map(|(_, added)| added)
    }

    /// [`Store::append`], also saying which series (by position) took the sample.
    fn append_id(
        &mut self,
        labels: &Labels,
        timestamp_ms: i64,
        value: f64,
    ) -> Result<(u32, bool), StoreError> {
        let id = match self.index.get(labels) {
            Some(&id) => id,
            None => {
                let labels = self.interner.intern_labels(labels);
                let id = self.series.len() as u32;
                let name = self.interner.intern(labels.metric_name());
                self.by_name.entry(name).or_default().push(id);
                self.index.insert(labels.clone(), id);
                self.series.push(Series {
                    labels,
                    base_ms: timestamp_ms,
                    offsets: Vec::new(),
                    values: Vec::new(),
                });
                id
            }
        };
        let added = self.series[id as usize].append(timestamp_ms, value)?;
        Ok((id, added))
    }

    /// The series with this metric name (all series when `name` is None), sorted like Prometheus.
    pub fn series_sorted(&self, name: Option<&str>) -> Vec<&Series> {
        let mut out: Vec<&Series> = match name {
            Some(name) => self
                .by_name
                .get(name)
                .map(|ids| ids.iter().map(|&id| &self.series[id as usize]).collect())
                .unwrap_or_default(),
            None => self.series.iter().collect(),
        };
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// The series with exactly these labels.
    pub fn get(&self, labels: &Labels) -> Option<&Series> {
        self.index.get(labels).map(|&id| &self.series[id as usize])
    }

    /// All series in insertion order.
    pub fn series(&self) -> &[Series] {
        &self.series
    }

    /// Newest timestamp of any sample, if any.
    pub fn max_timestamp(&self) -> Option<i64> {
        self.series
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.timestamp(s.len() - 1))
            .max()
    }

    /// Oldest timestamp of any sample, if any.
    pub fn min_timestamp(&self) -> Option<i64> {
        self.series
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.base_ms)
            .min()
    }

    /// Gives back vector slack (call after loading, before measuring memory).
    pub fn shrink_to_fit(&mut self) {
        for s in &mut self.series {
            s.offsets.shrink_to_fit();
            s.values.shrink_to_fit();
        }
    }

    /// Size figures.
    pub fn stats(&self) -> StoreStats {
        let (_, string_bytes) = self.interner.stats();
        StoreStats {
            series: self.series.len(),
            samples: self.series.iter().map(Series::len).sum(),
            sample_bytes: self
                .series
                .iter()
                .map(|s| s.offsets.capacity() * 4 + s.values.capacity() * 8)
                .sum(),
            label_bytes: string_bytes
                + self
                    .series
                    .iter()
                    .map(|s| s.labels.heap_bytes() + std::mem::size_of::<Series>())
                    .sum::<usize>(),
        }
    }

    /// Loads fixture exposition files (text 0.0.4, every sample with a timestamp in ms, gzipped
    /// when the name ends in `.gz`); a directory loads every `*.prom` and `*.prom.gz` file in it,
    /// in name order.
    pub fn load_fixtures(&mut self, path: &Path) -> Result<(), StoreError> {
        let io = |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(io)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let name = p.file_name().unwrap_or_default().to_string_lossy();
                    name.ends_with(".prom") || name.ends_with(".prom.gz")
                })
                .collect();
            files.sort();
            for file in files {
                self.load_file(&file, Format::Text)?;
            }
            Ok(())
        } else {
            self.load_file(path, Format::Text)
        }
    }

    fn load_file(&mut self, path: &Path, format: Format) -> Result<(), StoreError> {
        let text = read_text(path).map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let parsed = exposition::parse(&text, format);
        if let Some(err) = parsed.errors.into_iter().next() {
            return Err(StoreError::BadLine {
                path: path.to_path_buf(),
                line: err.line,
                text: err.text,
                reason: err.reason,
            });
        }
        for sample in parsed.samples {
            let Some(t) = sample.timestamp_ms else {
                return Err(StoreError::Corrupt {
                    path: path.to_path_buf(),
                    reason: format!(
                        "sample {} has no timestamp (fixture lines need one, in ms)",
                        sample.labels
                    ),
                });
            };
            self.append(&sample.labels, t, sample.value)
                .map_err(|e| StoreError::Corrupt {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })?;
        }
        Ok(())
    }

    /// Writes the store to `dir/prom/samples.v1.prom` (see the module docs for the format).
    pub fn write_run_dir(&self, dir: &Path) -> Result<PathBuf, StoreError> {
        let path = dir.join(RUN_FILE);
        self.write_file(&path)?;
        Ok(path)
    }

    /// Writes the store to `path` in the run-directory format (see [`Store::write_to`]),
    /// gzip-compressed when the name ends in `.gz`.
    pub fn write_file(&self, path: &Path) -> Result<(), StoreError> {
        let io = |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        // Written beside and renamed over: a save cut short never replaces a good file.
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = BufWriter::new(std::fs::File::create(&partial).map_err(io)?);
        if is_gzip(path) {
            let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
            self.write_to(&mut gz).map_err(io)?;
            gz.finish().and_then(|mut f| f.flush()).map_err(io)?;
        } else {
            let mut file = file;
            self.write_to(&mut file).map_err(io)?;
            file.flush().map_err(io)?;
        }
        std::fs::rename(&partial, path).map_err(io)
    }

    /// Writes the store as text: text exposition, every sample with its timestamp in ms, series
    /// after series, between a header and an `# END` line. Without staleness markers it is also
    /// a fixture file [`Store::load_fixtures`] reads.
    pub fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut samples = 0usize;
        writeln!(out, "{HEADER}")?;
        for series in self.series_sorted(None) {
            let name = exposition_series(series.labels());
            for (t, v) in series.samples() {
                samples += 1;
                if is_stale(v) {
                    writeln!(out, "{name} stale {t}")?;
                } else {
                    writeln!(out, "{name} {} {t}", format_value(v))?;
                }
            }
        }
        writeln!(out, "# END series={} samples={samples}", self.series.len())
    }

    /// Reads a store written by [`Store::write_run_dir`].
    pub fn read_run_dir(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(RUN_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        let corrupt = |reason: String| StoreError::Corrupt {
            path: path.clone(),
            reason,
        };
        let mut lines = text.lines();
        match lines.next() {
            Some(HEADER) => {}
            Some(other) if other.starts_with("# rollgate-prom-store ") => {
                return Err(corrupt(format!(
                    "format {other:?} is not supported by this rollgate (it reads version 1)"
                )))
            }
            _ => {
                return Err(corrupt(format!(
                    "not a rollgate store: the first line must be {HEADER:?}"
                )))
            }
        }
        let trailer = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| l.strip_prefix("# END "))
            .ok_or_else(|| corrupt("the file was cut short: no '# END' line".to_string()))?;
        let mut store = Store::new();
        // Samples come series after series: a line naming the series of the line before only
        // needs its value and timestamp read (the common case, and the fast one).
        let mut current: Option<(&str, u32)> = None;
        for (i, line) in text.lines().enumerate().skip(1) {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let bad = |reason: String| StoreError::BadLine {
                path: path.clone(),
                line: i + 1,
                text: line.chars().take(200).collect(),
                reason,
            };
            // Every line ends with `VALUE TIMESTAMP`; the value `stale` is a staleness marker,
            // which exposition text cannot express, so it is parsed as NaN and mapped back.
            let mut parts = line.rsplitn(3, ' ');
            let (ts, value, series) = (parts.next(), parts.next(), parts.next());
            let stale = value == Some("stale");
            if let (Some((text, id)), Some(series), Some(value), Some(ts)) =
                (current, series, value, ts)
            {
                let v = match stale {
                    true => Some(stale_nan()),
                    false => exposition::parse_float(value),
                };
                if let (true, Some(v), Ok(t)) = (series == text, v, ts.parse::<i64>()) {
                    store.series[id as usize]
                        .append(t, v)
                        .map_err(|e| bad(e.to_string()))?;
                    continue;
                }
            }
            let line_text = match (stale, series, ts) {
                (true, Some(series), Some(ts)) => format!("{series} NaN {ts}"),
                _ => line.to_string(),
            };
            let parsed = exposition::parse(&line_text, Format::Text);
            if let Some(err) = parsed.errors.first() {
                return Err(bad(err.reason.clone()));
            }
            let [sample] = parsed.samples.as_slice() else {
                return Err(bad("expected one sample".to_string()));
            };
            let t = sample
                .timestamp_ms
                .ok_or_else(|| bad("no timestamp".to_string()))?;
            let v = if stale { stale_nan() } else { sample.value };
            let (id, _) = store
                .append_id(&sample.labels, t, v)
                .map_err(|e| bad(e.to_string()))?;
            current = series.map(|text| (text, id));
        }
        let expected = format!(
            "series={} samples={}",
            store.series.len(),
            store.stats().samples
        );
        if trailer.trim() != expected {
            return Err(corrupt(format!(
                "the '# END' line says {trailer:?} but the file holds {expected}"
            )));
        }
        store.shrink_to_fit();
        Ok(store)
    }
}

/// `name{labels}` in exposition syntax (labels sorted, metric name outside the braces).
pub fn exposition_series(labels: &Labels) -> String {
    let rest = labels.without_name();
    let mut s = labels.metric_name().to_string();
    if !rest.is_empty() {
        s.push('{');
        for (i, l) in rest.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&format!(
                "{}=\"{}\"",
                l.name,
                crate::prom::labels::escape_value(&l.value)
            ));
        }
        s.push('}');
    }
    s
}

/// A value in exposition syntax that parses back to the same bits (`NaN`, `+Inf`, `-Inf` included).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v:?}")
    }
}

fn is_gzip(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

/// A text file, decompressed when its name ends in `.gz`.
pub fn read_text(path: &Path) -> std::io::Result<String> {
    if !is_gzip(path) {
        return std::fs::read_to_string(path);
    }
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(path)?),
        &mut text,
    )?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(name: &str) -> Labels {
        Labels::from_pairs([("__name__", name), ("job", "j")])
    }

    #[test]
    fn windows_are_left_open() {
        let mut s = Store::new();
        for t in [0, 10, 20, 30] {
            s.append(&l("x"), t, t as f64).expect("append");
        }
        let series = s.get(&l("x")).expect("series");
        assert_eq!(series.window(10, 30), 2..4);
        assert_eq!(series.window(-5, 0), 0..1);
        assert_eq!(series.window(30, 100), 4..4);
    }

    #[test]
    fn out_of_order_and_duplicates() {
        let mut s = Store::new();
        s.append(&l("x"), 10, 1.0).expect("append");
        assert!(!s.append(&l("x"), 10, 1.0).expect("same sample ignored"));
        assert!(matches!(
            s.append(&l("x"), 10, 2.0),
            Err(StoreError::Duplicate { .. })
        ));
        assert!(matches!(
            s.append(&l("x"), 5, 2.0),
            Err(StoreError::OutOfOrder { .. })
        ));
    }
}
