//! The recorder: honest timings per request, folded into HDR histograms as they arrive, so a run of
//! any length keeps a bounded amount of memory and no sample is ever stored.
//!
//! Every request has an intended send time (from the schedule), an actual send time, a first-byte
//! time (response headers, or the first token frame on a WebSocket) and a last-byte time. Latency is
//! kept twice: **corrected**, from the intended time (what a user arriving on schedule experiences,
//! free of coordinated omission), and **raw**, from the actual send. Their gap is the *send lag*
//! (actual − intended): when it grows, the generator, not the target, is saturated, and a run whose
//! send-lag p99 passes a bound is marked untrustworthy.
//!
//! Resolution: microseconds, three significant digits, up to one hour; longer values saturate at the
//! top and are counted. Per-second series use two significant digits.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::split::Variant;

/// Largest latency tracked exactly, in microseconds (one hour).
const MAX_US: u64 = 3_600_000_000;

/// How a request failed, when it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Could not connect.
    Connect,
    /// No answer within the request timeout.
    Timeout,
    /// The connection broke after sending (reset, early close, garbage).
    Transport,
    /// An HTTP status of 500 or above.
    Status5xx,
    /// An HTTP status from 400 to 499.
    Status4xx,
}

/// What happened to one request. Times are offsets from the start of the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Index of the request kind in the mix.
    pub kind: usize,
    /// Baseline or canary.
    pub variant: Variant,
    /// When the schedule wanted it sent.
    pub intended: Duration,
    /// When it was actually sent.
    pub sent: Duration,
    /// When the first byte (headers or first token) arrived, if it did.
    pub first_byte: Option<Duration>,
    /// When the request finished (last byte, or the error).
    pub done: Duration,
    /// The failure, if any.
    pub error: Option<ErrorKind>,
}

/// Histograms for one (kind, variant).
#[derive(Debug, Clone)]
pub struct Series {
    /// Time to first byte from the intended send time.
    pub ttfb_corrected: Histogram<u64>,
    /// Time to first byte from the actual send.
    pub ttfb_raw: Histogram<u64>,
    /// Time to last byte from the intended send time.
    pub total_corrected: Histogram<u64>,
    /// Time to last byte from the actual send.
    pub total_raw: Histogram<u64>,
    /// Requests recorded.
    pub count: u64,
    /// Failures by kind.
    pub errors: BTreeMap<ErrorKind, u64>,
}

/// One second of the run (by intended send time), per variant.
#[derive(Debug, Clone)]
pub struct Second {
    /// Requests due in this second.
    pub count: u64,
    /// Of which failed.
    pub errors: u64,
    /// Corrected time to first byte of the successful ones, two significant digits.
    pub ttfb_corrected: Histogram<u64>,
}

/// All of a run's timings.
#[derive(Debug, Clone)]
pub struct Recorder {
    series: BTreeMap<(usize, Variant), Series>,
    seconds: BTreeMap<(u64, Variant), Second>,
    send_lag: Histogram<u64>,
    saturated: u64,
}

fn histogram(sigfig: u8) -> Histogram<u64> {
    // Constant bounds (1 µs to 1 h, 2 or 3 digits) that hdrhistogram always accepts.
    Histogram::new_with_bounds(1, MAX_US, sigfig).expect("valid constant histogram bounds")
}

impl Series {
    /// An empty series.
    pub fn new() -> Series {
        Series {
            ttfb_corrected: histogram(3),
            ttfb_raw: histogram(3),
            total_corrected: histogram(3),
            total_raw: histogram(3),
            count: 0,
            errors: BTreeMap::new(),
        }
    }

    /// Total failures.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

impl Default for Series {
    fn default() -> Self {
        Series::new()
    }
}

impl Second {
    /// An empty second.
    pub fn new() -> Second {
        Second {
            count: 0,
            errors: 0,
            ttfb_corrected: histogram(2),
        }
    }
}

impl Default for Second {
    fn default() -> Self {
        Second::new()
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Recorder {
        Recorder {
            series: BTreeMap::new(),
            seconds: BTreeMap::new(),
            send_lag: histogram(3),
            saturated: 0,
        }
    }

    /// A recorder rebuilt from its parts (a run directory read back); [`Recorder::merge`] of
    /// rebuilt recorders is exactly the recorder one runner would have filled.
    pub fn from_parts(
        series: BTreeMap<(usize, Variant), Series>,
        seconds: BTreeMap<(u64, Variant), Second>,
        send_lag: Histogram<u64>,
        saturated: u64,
    ) -> Recorder {
        Recorder {
            series,
            seconds,
            send_lag,
            saturated,
        }
    }

    fn us(&mut self, d: Duration) -> u64 {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        if us > MAX_US {
            self.saturated += 1;
        }
        us.min(MAX_US)
    }

    /// Folds one request in.
    pub fn record(&mut self, s: &Sample) {
        let lag = self.us(s.sent.saturating_sub(s.intended));
        self.send_lag.saturating_record(lag);
        let total_corrected = self.us(s.done.saturating_sub(s.intended));
        let total_raw = self.us(s.done.saturating_sub(s.sent));
        let first = s.first_byte.map(|fb| {
            (
                self.us(fb.saturating_sub(s.intended)),
                self.us(fb.saturating_sub(s.sent)),
            )
        });
        let series = self.series.entry((s.kind, s.variant)).or_default();
        series.count += 1;
        series.total_corrected.saturating_record(total_corrected);
        series.total_raw.saturating_record(total_raw);
        if let Some((corrected, raw)) = first {
            series.ttfb_corrected.saturating_record(corrected);
            series.ttfb_raw.saturating_record(raw);
        }
        if let Some(error) = s.error {
            *series.errors.entry(error).or_insert(0) += 1;
        }
        let second = self
            .seconds
            .entry((s.intended.as_secs(), s.variant))
            .or_insert_with(|| Second {
                count: 0,
                errors: 0,
                ttfb_corrected: histogram(2),
            });
        second.count += 1;
        match (s.error, first) {
            (None, Some((corrected, _))) => second.ttfb_corrected.saturating_record(corrected),
            (Some(_), _) => second.errors += 1,
            (None, None) => {}
        }
    }

    /// Adds another recorder's data (another shard of the same schedule, or another worker).
    pub fn merge(&mut self, other: &Recorder) {
        for (key, theirs) in &other.series {
            let ours = self.series.entry(*key).or_default();
            for (mine, their) in [
                (&mut ours.ttfb_corrected, &theirs.ttfb_corrected),
                (&mut ours.ttfb_raw, &theirs.ttfb_raw),
                (&mut ours.total_corrected, &theirs.total_corrected),
                (&mut ours.total_raw, &theirs.total_raw),
            ] {
                // Same bounds and precision on both sides, so adding cannot fail.
                let _ = mine.add(their);
            }
            ours.count += theirs.count;
            for (kind, n) in &theirs.errors {
                *ours.errors.entry(*kind).or_insert(0) += n;
            }
        }
        for (key, theirs) in &other.seconds {
            let ours = self.seconds.entry(*key).or_insert_with(|| Second {
                count: 0,
                errors: 0,
                ttfb_corrected: histogram(2),
            });
            ours.count += theirs.count;
            ours.errors += theirs.errors;
            let _ = ours.ttfb_corrected.add(&theirs.ttfb_corrected);
        }
        let _ = self.send_lag.add(&other.send_lag);
        self.saturated += other.saturated;
    }

    /// The histograms of one (kind, variant), if any request of it was recorded.
    pub fn series(&self, kind: usize, variant: Variant) -> Option<&Series> {
        self.series.get(&(kind, variant))
    }

    /// Every (kind, variant) recorded.
    pub fn keys(&self) -> impl Iterator<Item = (usize, Variant)> + '_ {
        self.series.keys().copied()
    }

    /// Per-second data of one variant, by second of the run.
    pub fn seconds(&self, variant: Variant) -> impl Iterator<Item = (u64, &Second)> + '_ {
        self.seconds
            .iter()
            .filter(move |((_, v), _)| *v == variant)
            .map(|((second, _), data)| (*second, data))
    }

    /// Send lag (actual − intended), microseconds.
    pub fn send_lag(&self) -> &Histogram<u64> {
        &self.send_lag
    }

    /// Values above one hour, recorded as one hour.
    pub fn saturated(&self) -> u64 {
        self.saturated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn sample(intended: u64, sent: u64, first: u64, done: u64) -> Sample {
        Sample {
            kind: 0,
            variant: Variant::Baseline,
            intended: ms(intended),
            sent: ms(sent),
            first_byte: Some(ms(first)),
            done: ms(done),
            error: None,
        }
    }

    #[test]
    fn corrected_latency_counts_from_the_intended_time() {
        let mut r = Recorder::new();
        // Sent 2 s late (the generator stalled), answered 10 ms after sending.
        r.record(&sample(1_000, 3_000, 3_010, 3_020));
        let s = r.series(0, Variant::Baseline).unwrap();
        assert!((s.ttfb_corrected.max() as f64 / 2_010_000.0 - 1.0).abs() < 0.001);
        assert!((s.ttfb_raw.max() as f64 / 10_000.0 - 1.0).abs() < 0.001);
        assert!((s.total_raw.max() as f64 / 20_000.0 - 1.0).abs() < 0.001);
        assert!((r.send_lag().max() as f64 / 2_000_000.0 - 1.0).abs() < 0.001);
    }

    #[test]
    fn errors_and_seconds_are_counted() {
        let mut r = Recorder::new();
        r.record(&sample(100, 100, 110, 120));
        r.record(&Sample {
            error: Some(ErrorKind::Status5xx),
            ..sample(900, 900, 905, 906)
        });
        r.record(&Sample {
            error: Some(ErrorKind::Timeout),
            first_byte: None,
            ..sample(1_100, 1_100, 0, 2_100)
        });
        let s = r.series(0, Variant::Baseline).unwrap();
        assert_eq!((s.count, s.error_count()), (3, 2));
        let seconds: Vec<(u64, u64, u64)> = r
            .seconds(Variant::Baseline)
            .map(|(t, d)| (t, d.count, d.errors))
            .collect();
        assert_eq!(seconds, [(0, 2, 1), (1, 1, 1)]);
    }

    #[test]
    fn merging_two_halves_equals_recording_everything() {
        let samples: Vec<Sample> = (0..1000u64)
            .map(|i| {
                sample(
                    i * 10,
                    i * 10 + i % 7,
                    i * 10 + 20 + i % 50,
                    i * 10 + 30 + i % 90,
                )
            })
            .collect();
        let mut whole = Recorder::new();
        let (mut even, mut odd) = (Recorder::new(), Recorder::new());
        for (i, s) in samples.iter().enumerate() {
            whole.record(s);
            if i % 2 == 0 {
                even.record(s)
            } else {
                odd.record(s)
            }
        }
        even.merge(&odd);
        let (a, b) = (
            whole.series(0, Variant::Baseline).unwrap(),
            even.series(0, Variant::Baseline).unwrap(),
        );
        assert_eq!(a.ttfb_corrected, b.ttfb_corrected);
        assert_eq!(a.total_raw, b.total_raw);
        assert_eq!(whole.send_lag(), even.send_lag());
        let per_second = |r: &Recorder| {
            r.seconds(Variant::Baseline)
                .map(|(t, d)| (t, d.count, d.ttfb_corrected.len()))
                .collect::<Vec<_>>()
        };
        assert_eq!(per_second(&whole), per_second(&even));
    }
}
