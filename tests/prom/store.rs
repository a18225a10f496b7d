//! The series store: fixture loading, the run-directory format (round trip, corruption), memory.

use rollgate::prom::labels::Labels;
use rollgate::prom::store::{stale_nan, Store, StoreError, RUN_FILE};

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/scrapes")
        .join(name)
}

#[test]
fn loads_timestamped_fixture_expositions() {
    let mut store = Store::new();
    store
        .load_fixtures(&fixture("seed-canary.prom"))
        .expect("load");
    let stats = store.stats();
    assert_eq!(stats.series, 12);
    assert_eq!(stats.samples, 12 * 41);
    assert_eq!(store.min_timestamp(), Some(1_700_000_000_000));
    assert_eq!(store.max_timestamp(), Some(1_700_000_600_000));
}

#[test]
fn run_directory_round_trip_keeps_every_bit_and_stale_markers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::new();
    store
        .load_fixtures(&fixture("seed-canary.prom"))
        .expect("load");
    let odd = Labels::from_pairs([
        ("__name__", "odd"),
        ("v", "a \"quoted\" \\ value\nwith newline"),
    ]);
    for (t, v) in [
        (1, f64::NAN),
        (2, 0.1 + 0.2),
        (3, f64::NEG_INFINITY),
        (4, stale_nan()),
        (5, -0.0),
    ] {
        store.append(&odd, t, v).expect("append");
    }
    store.write_run_dir(dir.path()).expect("write");
    let back = Store::read_run_dir(dir.path()).expect("read");
    assert_eq!(back.stats().samples, store.stats().samples);
    for series in store.series() {
        let other = back.get(series.labels()).expect("series present");
        let a: Vec<(i64, u64)> = series.samples().map(|(t, v)| (t, v.to_bits())).collect();
        let b: Vec<(i64, u64)> = other.samples().map(|(t, v)| (t, v.to_bits())).collect();
        assert_eq!(a, b, "{}", series.labels());
    }
}

#[test]
fn corrupt_run_directories_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::new();
    store
        .load_fixtures(&fixture("seed-canary.prom"))
        .expect("load");
    let path = store.write_run_dir(dir.path()).expect("write");
    let good = std::fs::read_to_string(&path).expect("read");

    // Cut short: the END line is missing.
    std::fs::write(&path, &good[..good.len() / 2]).expect("write");
    let err = Store::read_run_dir(dir.path()).expect_err("truncated");
    assert!(err.to_string().contains("cut short"), "{err}");
    assert!(err.to_string().contains(RUN_FILE), "{err}");

    // A garbled line: named by number.
    let garbled = good.replacen(
        "memory_zep_context_failures_total 3.0 ",
        "memory_zep_context_failures_total x3 ",
        1,
    );
    std::fs::write(&path, garbled).expect("write");
    match Store::read_run_dir(dir.path()) {
        Err(StoreError::BadLine { line, text, .. }) => {
            assert!(line > 1);
            assert!(text.contains("x3"));
        }
        other => panic!("expected BadLine, got {other:?}"),
    }

    // Another version of the format.
    std::fs::write(
        &path,
        good.replacen("# rollgate-prom-store 1", "# rollgate-prom-store 9", 1),
    )
    .expect("write");
    let err = Store::read_run_dir(dir.path()).expect_err("version");
    assert!(err.to_string().contains("version 1"), "{err}");

    // Lines lost from the middle: the END counts disagree.
    let fewer: String = good
        .lines()
        .filter(|l| !l.contains("write_failures"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&path, fewer).expect("write");
    let err = Store::read_run_dir(dir.path()).expect_err("counts");
    assert!(err.to_string().contains("'# END' line says"), "{err}");

    // No store at all.
    let empty = tempfile::tempdir().expect("tempdir");
    let err = Store::read_run_dir(empty.path()).expect_err("missing");
    assert!(matches!(err, StoreError::Io { .. }));
}

#[test]
fn bad_fixture_line_names_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.prom");
    std::fs::write(&file, "x_total 1 1000\nx_total{ 2 2000\n").expect("write");
    let err = Store::new().load_fixtures(&file).expect_err("bad line");
    let msg = err.to_string();
    assert!(msg.contains("bad.prom:2"), "{msg}");
    assert!(msg.contains("x_total{ 2 2000"), "{msg}");
    std::fs::write(&file, "x_total 1\n").expect("write");
    let err = Store::new().load_fixtures(&file).expect_err("no timestamp");
    assert!(err.to_string().contains("no timestamp"), "{err}");
}

#[test]
fn samples_cost_at_most_16_bytes() {
    let mut store = Store::new();
    for s in 0..200 {
        let labels = Labels::from_pairs([("__name__", "x_bucket"), ("le", &s.to_string())]);
        for i in 0..5_760i64 {
            store.append(&labels, i * 15_000, i as f64).expect("append");
        }
    }
    store.shrink_to_fit();
    let stats = store.stats();
    assert_eq!(stats.sample_bytes / stats.samples, 12);
    assert!((stats.sample_bytes + stats.label_bytes) as f64 / (stats.samples as f64) <= 16.0);
}
