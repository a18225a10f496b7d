//! Exposition parsing: bad lines reported with number and text, the rest kept; a seeded fuzz
//! loop (arbitrary bytes and mutated real bodies, 120k cases) that must never panic; round trips.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rollgate::prom::exposition::{parse, Format};
use rollgate::prom::labels::Labels;
use rollgate::prom::store::{exposition_series, format_value};

const REAL_BODY: &str = include_str!("../../fixtures/scrapes/target-sample.prom");

#[test]
fn real_prometheus_text_parses_without_errors() {
    let parsed = parse(REAL_BODY, Format::Text);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    assert!(parsed.samples.len() > 20);
    let bucket = parsed
        .samples
        .iter()
        .find(|s| {
            s.labels.metric_name() == "memory_zep_read_latency_seconds_bucket"
                && s.labels.get("le") == "+Inf"
        })
        .expect("+Inf bucket");
    assert_eq!(bucket.value, 7.0);
}

#[test]
fn each_malformed_line_is_named_and_the_rest_kept() {
    let body = "ok_total 1\nbroken{le=\"0.1\" 2\n# a comment\nok2 2 123\nok3 abc\nok4{a=\"b\"} 4 12 extra\nok5 5\n";
    let parsed = parse(body, Format::Text);
    let names: Vec<&str> = parsed
        .samples
        .iter()
        .map(|s| s.labels.metric_name())
        .collect();
    assert_eq!(names, ["ok_total", "ok2", "ok5"]);
    let errs: Vec<(usize, &str)> = parsed
        .errors
        .iter()
        .map(|e| (e.line, e.text.as_str()))
        .collect();
    assert_eq!(
        errs,
        [
            (2, "broken{le=\"0.1\" 2"),
            (5, "ok3 abc"),
            (6, "ok4{a=\"b\"} 4 12 extra")
        ]
    );
    assert!(parsed.errors[1]
        .to_string()
        .starts_with("line 5: invalid value \"abc\""));
}

#[test]
fn openmetrics_body_from_a_target() {
    let body = "# TYPE req counter\n# HELP req Requests.\nreq_total{code=\"200\"} 10 # {trace_id=\"abc\"} 1 1700000000.1\nreq_created{code=\"200\"} 1700000000\n# TYPE lat histogram\nlat_bucket{le=\"0.1\"} 1\nlat_bucket{le=\"+Inf\"} 2\nlat_count 2\nlat_sum 0.3\nlat_created 1700000000\n# EOF\n";
    let parsed = parse(body, Format::OpenMetrics);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let names: Vec<&str> = parsed
        .samples
        .iter()
        .map(|s| s.labels.metric_name())
        .collect();
    assert_eq!(
        names,
        [
            "req_total",
            "lat_bucket",
            "lat_bucket",
            "lat_count",
            "lat_sum"
        ]
    );
}

fn check_invariants(body: &str, format: Format) {
    let parsed = parse(body, format);
    let lines = body.split('\n').count();
    let content_lines = body.split('\n').filter(|l| !l.trim().is_empty()).count();
    // OpenMetrics adds one error for a missing `# EOF`.
    let extra = usize::from(format == Format::OpenMetrics);
    assert!(parsed.samples.len() + parsed.errors.len() <= content_lines + extra);
    for e in &parsed.errors {
        assert!(e.line >= 1 && e.line <= lines, "line {} of {lines}", e.line);
        assert!(e.text.chars().count() <= 200);
    }
}

/// 60k arbitrary byte strings and 60k mutations of a real body, in both formats: no panic, and
/// every reported line number is a line of the input.
#[test]
fn fuzz_arbitrary_bytes_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0004);
    const ALPHABET: &[u8] = b"{}\",=\n #\\_abcxyz019.+-eEInfNa \t\r\xff";
    let mut cases = 0;
    for _ in 0..60_000 {
        let len = rng.random_range(0..160);
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                if rng.random_bool(0.7) {
                    ALPHABET[rng.random_range(0..ALPHABET.len())]
                } else {
                    rng.random()
                }
            })
            .collect();
        let body = String::from_utf8_lossy(&bytes);
        check_invariants(&body, Format::Text);
        check_invariants(&body, Format::OpenMetrics);
        cases += 1;
    }
    let base = REAL_BODY.as_bytes();
    for _ in 0..60_000 {
        let mut bytes = base.to_vec();
        for _ in 0..rng.random_range(1..6) {
            let pos = rng.random_range(0..bytes.len());
            match rng.random_range(0..3) {
                0 => bytes[pos] = ALPHABET[rng.random_range(0..ALPHABET.len())],
                1 => {
                    bytes.remove(pos);
                }
                _ => bytes.insert(pos, ALPHABET[rng.random_range(0..ALPHABET.len())]),
            }
        }
        let body = String::from_utf8_lossy(&bytes);
        check_invariants(&body, Format::Text);
        cases += 1;
    }
    assert_eq!(cases, 120_000);
}

/// Any label set and value written by the store's writer parses back to the same labels and bits.
#[test]
fn property_write_then_parse_round_trips() {
    let mut rng = StdRng::seed_from_u64(7);
    let specials = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        1e-300,
        f64::MAX,
    ];
    for _ in 0..10_000 {
        let n = rng.random_range(0..4);
        let mut pairs = vec![(
            "__name__".to_string(),
            format!("m_{}", rng.random_range(0..100)),
        )];
        for i in 0..n {
            let value: String = (0..rng.random_range(1..12))
                .map(|_| {
                    ['a', '"', '\\', '\n', '}', ',', '=', ' ', 'é', '#'][rng.random_range(0..10)]
                })
                .collect();
            pairs.push((format!("l{i}"), value));
        }
        let labels = Labels::from_pairs(pairs);
        let value = if rng.random_bool(0.2) {
            specials[rng.random_range(0..specials.len())]
        } else {
            f64::from_bits(rng.random::<u64>() >> 2)
        };
        let ts: i64 = rng.random_range(0..4_000_000_000_000);
        let line = format!(
            "{} {} {ts}\n",
            exposition_series(&labels),
            format_value(value)
        );
        let parsed = parse(&line, Format::Text);
        assert!(parsed.errors.is_empty(), "{line:?}: {:?}", parsed.errors);
        assert_eq!(parsed.samples[0].labels, labels);
        let got = parsed.samples[0].value;
        assert!(
            got.to_bits() == value.to_bits() || (got.is_nan() && value.is_nan()),
            "{line:?}"
        );
        assert_eq!(parsed.samples[0].timestamp_ms, Some(ts));
    }
}
