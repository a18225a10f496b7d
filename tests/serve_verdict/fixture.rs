//! Run directories built from a model rather than a load run (a load run long enough for the
//! seed's 30-minute gates would take half an hour): 55 minutes of scrapes every 15 s of a
//! baseline and a canary serving 20 requests/s, with latencies drawn from a fixed deterministic
//! spread, so the analyzer has enough data to PROMOTE a healthy canary and to judge a bad one.
//! Only `prom/samples.v1.prom` is written (no manifest: the whole span is judged).

use std::path::Path;

use rollgate::prom::labels::Labels;
use rollgate::prom::store::Store;

const T0: i64 = 1_764_000_000_000;
const SCRAPES: i64 = 221; // 55 minutes at 15 s
const PER_SCRAPE: u64 = 300; // 20 requests/s
const LATENCY_BOUNDS: [f64; 14] = [
    0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.5,
];

/// A counter's name, its extra label and its value.
type Counter<'a> = (&'a str, Option<(&'a str, &'a str)>, f64);

/// What the canary does differently.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Canary {
    /// Like the baseline.
    Healthy,
    /// Every turn 250 ms slower to its first byte (the seed's "p95 TTFB increase > 200ms").
    TtfbPlus250ms,
}

/// A cumulative histogram: `counts[i]` observations at or below `LATENCY_BOUNDS[i]`, then +Inf.
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            counts: vec![0; LATENCY_BOUNDS.len() + 1],
            sum: 0.0,
        }
    }

    /// `n` observations spread evenly over `[low, low + spread)` (a stand-in for a latency
    /// distribution, the same at every scrape).
    fn observe(&mut self, n: u64, low: f64, spread: f64) {
        for i in 0..n {
            let v = low + spread * (i as f64 + 0.5) / n as f64;
            self.sum += v;
            for (c, le) in self.counts.iter_mut().zip(LATENCY_BOUNDS) {
                if v <= le {
                    *c += 1;
                }
            }
            self.counts[LATENCY_BOUNDS.len()] += 1;
        }
    }

    fn append(&self, store: &mut Store, name: &str, variant: &str, t: i64) {
        let les = LATENCY_BOUNDS
            .iter()
            .map(|b| format!("{b}"))
            .chain(["+Inf".to_string()]);
        for (le, c) in les.zip(&self.counts) {
            let labels = Labels::from_pairs([
                ("__name__", format!("{name}_bucket").as_str()),
                ("variant", variant),
                ("le", le.as_str()),
            ]);
            store.append(&labels, t, *c as f64).expect("append");
        }
        let total = self.counts[LATENCY_BOUNDS.len()] as f64;
        for (suffix, v) in [("_count", total), ("_sum", self.sum)] {
            let labels = Labels::from_pairs([
                ("__name__", format!("{name}{suffix}").as_str()),
                ("variant", variant),
            ]);
            store.append(&labels, t, v).expect("append");
        }
    }
}

/// Writes the run directory `dir` (its `prom/` store) for a canary that behaves as `canary`.
pub fn write_run(dir: &Path, canary: Canary) {
    let mut store = Store::new();
    for variant in ["baseline", "canary"] {
        let extra_ttfb = match (variant, canary) {
            ("canary", Canary::TtfbPlus250ms) => 0.25,
            _ => 0.0,
        };
        let (mut ttfb, mut write, mut read) =
            (Histogram::new(), Histogram::new(), Histogram::new());
        let mut requests = 0u64;
        for k in 0..SCRAPES {
            let t = T0 + k * 15_000;
            if k > 0 {
                requests += PER_SCRAPE;
                ttfb.observe(PER_SCRAPE, 0.3 + extra_ttfb, 0.4);
                write.observe(PER_SCRAPE, 0.02, 0.08);
                read.observe(PER_SCRAPE, 0.03, 0.1);
            }
            let counters: [Counter; 9] = [
                ("assistant_requests_total", None, requests as f64),
                ("assistant_errors_total", None, (requests / 500) as f64),
                ("memory_zep_write_requests_total", None, requests as f64),
                ("memory_zep_write_attempts_total", None, requests as f64),
                ("memory_zep_write_failures_total", None, 0.0),
                (
                    "memory_zep_write_skipped_total",
                    Some(("reason", "circuit_open")),
                    0.0,
                ),
                ("memory_zep_context_failures_total", None, 0.0),
                ("memory_zep_downgrades_total", Some(("reason", "auth")), 0.0),
                ("up", None, 1.0),
            ];
            for (name, extra, v) in counters {
                let mut pairs = vec![("__name__", name), ("variant", variant)];
                pairs.extend(extra);
                store
                    .append(&Labels::from_pairs(pairs), t, v)
                    .expect("append");
            }
            ttfb.append(&mut store, "assistant_ttfb_seconds", variant, t);
            write.append(&mut store, "memory_zep_write_latency_seconds", variant, t);
            read.append(&mut store, "memory_zep_read_latency_seconds", variant, t);
        }
    }
    store.write_run_dir(dir).expect("write the run directory");
}
