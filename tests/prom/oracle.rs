//! prometheus-parse as a differential oracle for rollgate's own exposition parser.
//!
//! rollgate does not parse with prometheus-parse 0.2 (it drops unmatched lines silently, cuts label
//! values at `}` or `,` and ignores escapes; see `src/prom/exposition.rs`), but on the inputs it does
//! handle (label values without `\`, `"`, `}`, `,` or newlines) the two must agree on every sample:
//! same series, same value bits, same timestamp. This checks real bodies (the reference assistant's
//! and the fake Zep's live `/metrics` after traffic, the recorded fixtures) and 20,000 seeded random
//! bodies in that common subset.

use std::collections::BTreeMap;

use prometheus_parse::{Scrape, Value};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rollgate::prom::exposition::{parse, Format};
use rollgate::prom::labels::Labels;
use rollgate::prom::store::{exposition_series, format_value};

/// (series as `name{a="x",...}` with labels sorted, le normalised) -> (value bits, timestamp ms).
type Flat = BTreeMap<String, (u64, Option<i64>)>;

fn key(name: &str, mut labels: Vec<(String, String)>) -> String {
    labels.sort();
    let body: Vec<String> = labels
        .into_iter()
        .map(|(k, v)| {
            // `le` and `quantile` are numbers: compare them as numbers, not as spellings.
            if k == "le" || k == "quantile" {
                let f = rollgate::prom::exposition::parse_float(&v).unwrap_or(f64::NAN);
                format!("{k}={}", format_value(f))
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    format!("{name}{{{}}}", body.join(","))
}

fn bits(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else {
        v.to_bits()
    }
}

fn ours(body: &str) -> Flat {
    let parsed = parse(body, Format::Text);
    assert!(parsed.errors.is_empty(), "rollgate: {:?}", parsed.errors);
    parsed
        .samples
        .iter()
        .map(|s| {
            let labels = s
                .labels
                .iter()
                .filter(|l| &*l.name != "__name__")
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect();
            (
                key(s.labels.metric_name(), labels),
                (bits(s.value), s.timestamp_ms),
            )
        })
        .collect()
}

/// prometheus-parse folds histogram buckets and summary quantiles into one sample per family and
/// stamps a line without a timestamp with the scrape time; unfold them so they compare line by line.
fn oracle(body: &str) -> BTreeMap<String, (u64, i64)> {
    let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("oracle");
    let mut flat = BTreeMap::new();
    for s in scrape.samples {
        let ts = s.timestamp.timestamp_millis();
        let base: Vec<(String, String)> = s
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut put = |name: String, labels: Vec<(String, String)>, v: f64| {
            assert!(
                flat.insert(key(&name, labels), (bits(v), ts)).is_none(),
                "duplicate series {name}"
            );
        };
        match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => put(s.metric, base, v),
            Value::Histogram(buckets) => {
                for b in buckets {
                    let mut labels = base.clone();
                    labels.push(("le".into(), format_value(b.less_than)));
                    put(format!("{}_bucket", s.metric), labels, b.count);
                }
            }
            Value::Summary(quantiles) => {
                for q in quantiles {
                    let mut labels = base.clone();
                    labels.push(("quantile".into(), format_value(q.quantile)));
                    put(s.metric.clone(), labels, q.count);
                }
            }
        }
    }
    flat
}

/// Whether prometheus-parse 0.2 can read this sample line: no escapes, and no `{`, `}` or `,`
/// inside a label value (its regex cuts the label set at the first `}`, values at `,`).
fn in_subset(line: &str) -> bool {
    let mut in_value = false;
    for c in line.chars() {
        match c {
            '\\' => return false,
            '"' => in_value = !in_value,
            '{' | '}' | ',' if in_value => return false,
            _ => {}
        }
    }
    !in_value
}

fn assert_agree(what: &str, body: &str) {
    for (n, line) in body.lines().enumerate() {
        assert!(
            line.starts_with('#') || in_subset(line),
            "{what} line {}: outside the subset prometheus-parse handles: {line}",
            n + 1
        );
    }
    let (a, b) = (ours(body), oracle(body));
    assert!(!a.is_empty(), "{what}: no samples");
    for (k, (value, ts)) in &a {
        let Some((their_value, their_ts)) = b.get(k) else {
            panic!("{what}: prometheus-parse has no {k}");
        };
        assert_eq!(value, their_value, "{what}: value of {k} differs");
        if let Some(ts) = ts {
            assert_eq!(ts, their_ts, "{what}: timestamp of {k} differs");
        }
    }
    assert_eq!(a.len(), b.len(), "{what}: sample counts differ");
}

#[test]
fn agrees_on_the_recorded_fixture() {
    assert_agree(
        "fixtures/scrapes/target-sample.prom",
        include_str!("../../fixtures/scrapes/target-sample.prom"),
    );
}

#[tokio::test]
async fn agrees_on_live_assistant_and_fake_zep_metrics() {
    let zep = rollgate::fake_zep::FakeZep::start(rollgate::fake_zep::Config::default())
        .await
        .expect("fake zep");
    let mut config =
        crate::assistant::support::config(&zep.url(), rollgate::assistant::mode::Mode::ReadWrite);
    config.variant = rollgate::variant::Variant::Canary;
    let assistant = rollgate::assistant::Assistant::start(config)
        .await
        .expect("assistant");
    let http = reqwest::Client::new();
    for (i, message) in ["2BR in Girne", "show me", "nearest pharmacy"]
        .iter()
        .enumerate()
    {
        let answer = http
            .post(format!("{}/api/chat", assistant.url()))
            .json(&serde_json::json!({
                "thread_id": "oracle-1", "user_id": "u1",
                "message": message, "client_msg_id": format!("m{i}")
            }))
            .send()
            .await
            .expect("chat");
        assert!(answer.status().is_success());
    }
    for (what, url) in [
        ("assistant /metrics", format!("{}/metrics", assistant.url())),
        ("fake Zep /metrics", format!("{}/metrics", zep.url())),
    ] {
        let body = http.get(&url).send().await.unwrap().text().await.unwrap();
        // The fake Zep's route labels are patterns such as `GET /api/v2/threads/{id}/context`,
        // which prometheus-parse cannot read: compare the rest, and make sure the rest is most.
        let kept: Vec<&str> = body
            .lines()
            .filter(|l| l.starts_with('#') || in_subset(l))
            .collect();
        // Every line left out is one whose label values hold a brace, nothing else.
        for line in body
            .lines()
            .filter(|l| !l.starts_with('#') && !in_subset(l))
        {
            let labels = line
                .split_once('{')
                .and_then(|(_, rest)| rest.rsplit_once('}'));
            let (labels, _) = labels.unwrap_or_else(|| panic!("{what}: unparsed line {line:?}"));
            assert!(
                labels.contains('{') || labels.contains('}'),
                "{what}: line left out without a reason: {line:?}"
            );
        }
        let samples = kept.iter().filter(|l| !l.starts_with('#')).count();
        assert!(samples > 20, "{what}: only {samples} samples compared");
        assert_agree(what, &kept.join("\n"));
    }
}

/// Random bodies in the common subset: families of every type, simple label values, explicit
/// timestamps on some lines, values drawn from every float class.
#[test]
fn agrees_on_20000_random_bodies() {
    let mut rng = StdRng::seed_from_u64(0x0_7ac1e);
    let specials = [f64::INFINITY, f64::NEG_INFINITY, 0.0, 1e-300, 1.5e300];
    for case in 0..20_000 {
        let mut body = String::new();
        for family in 0..rng.random_range(1..4) {
            let name = format!("fam_{case}_{family}");
            let kind = ["counter", "gauge", "untyped", "histogram"][rng.random_range(0..4)];
            body.push_str(&format!("# HELP {name} A family.\n# TYPE {name} {kind}\n"));
            let mut pairs = vec![("__name__".to_string(), name.clone())];
            for l in 0..rng.random_range(0..3) {
                let value: String = (0..rng.random_range(0..8))
                    .map(|_| ['a', 'Z', '0', '_', ' ', '.', '-', '/', 'é'][rng.random_range(0..9)])
                    .collect();
                pairs.push((format!("l{l}"), value));
            }
            let ts = rng
                .random_bool(0.5)
                .then(|| rng.random_range(1..4_000_000_000_000i64));
            let mut line = |labels: &Labels, value: f64| {
                body.push_str(&exposition_series(labels));
                body.push(' ');
                body.push_str(&format_value(value));
                if let Some(ts) = ts {
                    body.push_str(&format!(" {ts}"));
                }
                body.push('\n');
            };
            let value = |rng: &mut StdRng| {
                if rng.random_bool(0.1) {
                    specials[rng.random_range(0..specials.len())]
                } else {
                    rng.random_range(-1e6..1e9)
                }
            };
            if kind == "histogram" {
                let base = Labels::from_pairs(pairs.clone());
                let mut count = 0.0;
                for le in ["0.005", "0.15", "0.25", "1", "+Inf"] {
                    count += f64::from(rng.random_range(0..50u32));
                    let bucket = base
                        .with("__name__", &format!("{name}_bucket"))
                        .with("le", le);
                    line(&bucket, count);
                }
                line(&base.with("__name__", &format!("{name}_count")), count);
                line(
                    &base.with("__name__", &format!("{name}_sum")),
                    value(&mut rng),
                );
            } else {
                line(&Labels::from_pairs(pairs), value(&mut rng));
            }
        }
        assert_agree(&format!("random body {case}"), &body);
    }
}
