//! The evaluator on the seed's own queries, one test per annotation/warning, and bad queries.

use rollgate::prom::eval::{Engine, EvalError, Value, WarningLevel};
use rollgate::prom::labels::Labels;
use rollgate::prom::store::Store;

const T0: i64 = 1_700_000_000_000;
const END: i64 = T0 + 600_000;

fn seed_store() -> Store {
    let mut store = Store::new();
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/scrapes/seed-canary.prom");
    store.load_fixtures(&path).expect("fixture");
    store
}

fn single(value: &Value) -> f64 {
    match value {
        Value::Vector(v) if v.len() == 1 => v[0].value,
        Value::Scalar(s) => *s,
        other => panic!("expected one sample, got {other:?}"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1e-300)
}

#[test]
fn seed_context_failure_rate_is_hand_computed() {
    let store = seed_store();
    // Window (END-5m, END]: 20 samples 66..123 (Δ 57) 15 s apart; 15 s to the window start
    // (< 16.5 s threshold), zero-clamp 285*66/57 s is longer, 0 s to the end.
    // rate = 57 * (285 + 15) / 285 / 300 = 0.2 per second.
    let r = Engine::new(&store)
        .instant("rate(memory_zep_context_failures_total[5m]) < 5", END)
        .expect("eval");
    assert!(close(single(&r.value), 0.2), "{:?}", r.value);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn seed_write_failure_ratio_survives_the_counter_reset() {
    let store = seed_store();
    // Writes: 20 samples in the window, a reset from 250 to 0 at scrape 25. Increase of the
    // samples: (150 - 220) + 250 = 180 → rate 180*300/285/300. Failures: 10 - 5 = 5, zero clamp
    // 285*5/5 = 285 s > 15 s → 5*300/285/300. Ratio 5/180 = 0.02777…, above the 1% gate: filtered.
    let engine = Engine::new(&store);
    let ratio = engine
        .instant(
            "rate(memory_zep_write_failures_total[5m]) / rate(memory_zep_write_requests_total[5m])",
            END,
        )
        .expect("eval");
    assert!(
        close(single(&ratio.value), 5.0 / 180.0),
        "{:?}",
        ratio.value
    );
    let gate = engine
        .instant(
            "rate(memory_zep_write_failures_total[5m]) / rate(memory_zep_write_requests_total[5m]) < 0.01",
            END,
        )
        .expect("eval");
    assert_eq!(gate.value, Value::Vector(vec![]));
}

#[test]
fn seed_latency_gate_warns_that_250ms_is_inside_a_bucket() {
    let store = seed_store();
    let r = Engine::new(&store)
        .instant(
            "histogram_quantile(0.95, rate(memory_zep_read_latency_seconds_bucket[5m])) < 0.250",
            END,
        )
        .expect("eval");
    let w: Vec<_> = r
        .warnings
        .iter()
        .filter(|w| w.level == WarningLevel::BucketResolution)
        .collect();
    assert_eq!(w.len(), 1, "{:?}", r.warnings);
    assert!(w[0].message.contains("(0.2, 0.3]"), "{}", w[0].message);
    assert!(
        w[0].message.contains("off by up to 0.09999999999999998"),
        "{}",
        w[0].message
    );
    // p95 of this histogram is in (0.3, 0.5], above the gate: the comparison filters it out.
    assert_eq!(r.value, Value::Vector(vec![]));
    let on_boundary = Engine::new(&store)
        .instant(
            "histogram_quantile(0.95, rate(memory_zep_read_latency_seconds_bucket[5m])) < 0.5",
            END,
        )
        .expect("eval");
    assert!(
        on_boundary.warnings.is_empty(),
        "{:?}",
        on_boundary.warnings
    );
    let p95 = single(&on_boundary.value);
    assert!(p95 > 0.3 && p95 <= 0.5, "{p95}");
}

#[test]
fn range_query_matches_instant_queries_at_each_step() {
    let store = seed_store();
    let engine = Engine::new(&store);
    let q = "sum by (le) (rate(memory_zep_read_latency_seconds_bucket[2m]))";
    let range = engine.range(q, T0 + 120_000, END, 60_000).expect("range");
    assert_eq!(range.value.len(), 7);
    for series in &range.value {
        assert_eq!(series.points.len(), 9);
        for &(t, v) in &series.points {
            let Value::Vector(inst) = engine.instant(q, t).expect("instant").value else {
                panic!("vector");
            };
            let s = inst
                .iter()
                .find(|s| s.labels == series.labels)
                .expect("series");
            assert_eq!(s.value.to_bits(), v.to_bits());
        }
    }
}

/// A series as label pairs and one value per minute from t=0.
type SeriesSpec<'a> = (&'a [(&'a str, &'a str)], &'a [f64]);

fn store_with(series: &[SeriesSpec<'_>]) -> Store {
    let mut store = Store::new();
    for (labels, values) in series {
        let labels = Labels::from_pairs(labels.iter().copied());
        for (i, v) in values.iter().enumerate() {
            store
                .append(&labels, i as i64 * 60_000, *v)
                .expect("append");
        }
    }
    store
}

#[test]
fn warning_monotonicity_fixed() {
    let store = store_with(&[
        (&[("__name__", "h_bucket"), ("le", "1")], &[10.0]),
        (&[("__name__", "h_bucket"), ("le", "2")], &[8.0]),
        (&[("__name__", "h_bucket"), ("le", "+Inf")], &[12.0]),
    ]);
    let r = Engine::new(&store)
        .instant("histogram_quantile(0.5, h_bucket)", 0)
        .expect("eval");
    assert_eq!(r.warnings.len(), 1);
    assert_eq!(r.warnings[0].level, WarningLevel::Info);
    assert!(r.warnings[0]
        .message
        .contains("needed to be fixed for monotonicity"));
    // Counts become 10, 10, 12: rank 6 lies in the first bucket → 1 * 6/10.
    assert_eq!(single(&r.value), 0.6);
}

#[test]
fn warning_le_unparseable() {
    let store = store_with(&[
        (&[("__name__", "h_bucket"), ("le", "abc")], &[1.0]),
        (&[("__name__", "h_bucket"), ("le", "+Inf")], &[2.0]),
    ]);
    let r = Engine::new(&store)
        .instant("histogram_quantile(0.5, h_bucket)", 0)
        .expect("eval");
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert_eq!(r.warnings[0].level, WarningLevel::Warning);
    assert_eq!(
        r.warnings[0].message,
        "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"abc\" for metric name \"h_bucket\""
    );
    // Only the +Inf bucket is left: fewer than two buckets → NaN.
    assert!(single(&r.value).is_nan());
}

#[test]
fn warning_quantile_out_of_range() {
    let store = store_with(&[(&[("__name__", "h_bucket"), ("le", "+Inf")], &[2.0])]);
    let r = Engine::new(&store)
        .instant("histogram_quantile(1.5, h_bucket)", 0)
        .expect("eval");
    assert_eq!(
        r.warnings[0].message,
        "PromQL warning: quantile value should be between 0 and 1, got 1.5"
    );
    assert_eq!(single(&r.value), f64::INFINITY);
}

#[test]
fn info_rate_of_a_non_counter() {
    let store = store_with(&[(&[("__name__", "temperature")], &[1.0, 2.0, 3.0])]);
    let r = Engine::new(&store)
        .instant("rate(temperature[5m])", 120_000)
        .expect("eval");
    assert_eq!(r.warnings.len(), 1);
    assert!(r.warnings[0]
        .message
        .contains("metric might not be a counter"));
}

#[test]
fn unsupported_function_names_function_and_column() {
    let store = Store::new();
    let err = Engine::new(&store)
        .instant(
            "sum(rate(x_total[5m])) / label_replace(y, \"a\", \"b\", \"c\", \"d\")",
            0,
        )
        .expect_err("unsupported");
    match &err {
        EvalError::Unsupported {
            feature, column, ..
        } => {
            assert_eq!(feature, "function label_replace");
            assert_eq!(*column, 26);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("--source prometheus:URL"));
    for (q, feature) in [
        ("topk(3, x)", "aggregation topk"),
        ("x and y", "set operator and"),
        ("rate(x[5m])[10m:1m]", "subquery"),
        ("x @ 100", "the @ modifier"),
        ("delta(x[5m])", "function delta"),
    ] {
        match Engine::new(&store).instant(q, 0) {
            Err(EvalError::Unsupported { feature: f, .. }) => assert_eq!(f, feature, "{q}"),
            other => panic!("{q}: {other:?}"),
        }
    }
}

#[test]
fn parse_errors_and_bad_ranges_name_the_query() {
    let store = Store::new();
    let err = Engine::new(&store)
        .instant("rate(x[5m]", 0)
        .expect_err("parse");
    assert!(matches!(err, EvalError::Parse { .. }));
    assert!(err.to_string().contains("rate(x[5m]"));
    let err = Engine::new(&store).range("x", 10, 0, 1).expect_err("range");
    assert!(matches!(err, EvalError::BadRange { .. }));
    let err = Engine::new(&store)
        .range("x", 0, 1_000_000_000, 1)
        .expect_err("too many points");
    assert!(err.to_string().contains("11,000"));
}

#[test]
fn many_to_many_matching_is_an_error_not_a_guess() {
    let store = store_with(&[
        (&[("__name__", "a"), ("job", "x"), ("i", "1")], &[1.0]),
        (&[("__name__", "b"), ("job", "x"), ("i", "1")], &[1.0]),
        (&[("__name__", "b"), ("job", "x"), ("i", "2")], &[1.0]),
    ]);
    let err = Engine::new(&store)
        .instant("a / on(job) b", 0)
        .expect_err("duplicate");
    assert!(
        err.to_string()
            .contains("many-to-many matching not allowed"),
        "{err}"
    );
    let ok = Engine::new(&store)
        .instant("b / on(job) group_left a", 0)
        .expect("group_left");
    assert!(matches!(ok.value, Value::Vector(ref v) if v.len() == 2));
}
