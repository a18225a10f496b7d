//! A runner for Prometheus's PromQL test-script format (`promql/promqltest`), so test cases ported
//! as data from Prometheus (fixtures/promql/*.test) run against rollgate's evaluator.
//!
//! Supported: `load <interval>` with the expanding notation (`a+bxn`, `a-bxn`, `axn`, `_`, `_xn`,
//! `stale`), `clear`, `eval instant at T` and `eval range from A to B step S` with expected series
//! and `expect fail|warn|info|no_warn|no_info` lines. Values compare with Prometheus's test
//! tolerance (`almost.Equal`, 1e-6 relative).

use std::collections::BTreeMap;
use std::time::Duration;

use rollgate::prom::eval::quantile::almost_equal;
use rollgate::prom::eval::{Engine, EvalError, Value, WarningLevel};
use rollgate::prom::exposition::{self, Format};
use rollgate::prom::labels::Labels;
use rollgate::prom::store::{stale_nan, Store};

const EPSILON: f64 = 0.000001;

/// One failed expectation.
#[derive(Debug)]
pub struct Failure {
    pub line: usize,
    pub query: String,
    pub message: String,
}

/// Outcome of a script.
#[derive(Debug, Default)]
pub struct Report {
    pub evals: usize,
    pub failures: Vec<Failure>,
}

fn duration_ms(text: &str) -> i64 {
    if text == "0" {
        return 0;
    }
    let d: Duration =
        humantime::parse_duration(text).unwrap_or_else(|e| panic!("bad duration {text:?}: {e}"));
    d.as_millis() as i64
}

/// Splits `metric{a="b"} 1 2+3x4` into labels and the value tokens.
fn series_and_values(line: &str) -> (Labels, Vec<String>) {
    let line = line.trim();
    let mut end = 0;
    let bytes = line.as_bytes();
    let mut in_braces = false;
    let mut in_quotes = false;
    while end < bytes.len() {
        let c = bytes[end];
        if in_quotes {
            if c == b'\\' {
                end += 1;
            } else if c == b'"' {
                in_quotes = false;
            }
        } else if c == b'"' {
            in_quotes = true;
        } else if c == b'{' {
            in_braces = true;
        } else if c == b'}' {
            in_braces = false;
        } else if (c == b' ' || c == b'\t') && !in_braces {
            break;
        }
        end += 1;
    }
    let series = &line[..end];
    // Expected results have no metric name: parse them under a placeholder name.
    let nameless = series.starts_with('{') && !series.contains("__name__");
    let text = if nameless {
        format!("placeholder{series} 0")
    } else {
        format!("{series} 0")
    };
    let parsed = exposition::parse(&text, Format::Text);
    assert!(
        parsed.errors.is_empty(),
        "bad series {series:?}: {:?}",
        parsed.errors
    );
    let mut labels = parsed.samples[0].labels.clone();
    if nameless {
        labels = labels.without_name();
    }
    let values = line[end..].split_whitespace().map(str::to_string).collect();
    (labels, values)
}

fn number(text: &str) -> f64 {
    exposition::parse_float(text).unwrap_or_else(|| panic!("bad number {text:?}"))
}

/// Expands value tokens into per-step optional values (`None` = no sample).
fn expand(tokens: &[String]) -> Vec<Option<f64>> {
    let mut out = Vec::new();
    for tok in tokens {
        if tok == "_" {
            out.push(None);
        } else if let Some(n) = tok.strip_prefix("_x") {
            out.extend(std::iter::repeat_n(
                None,
                n.parse::<usize>().expect("count"),
            ));
        } else if tok == "stale" {
            out.push(Some(stale_nan()));
        } else if let Some((head, n)) = tok.rsplit_once('x') {
            let n: usize = n.parse().unwrap_or_else(|_| panic!("bad token {tok:?}"));
            // head is `a`, `a+b` or `a-b`; the operator is the first +/- after the first char that
            // is not part of an exponent.
            let b = head.as_bytes();
            let mut split = None;
            for i in 1..b.len() {
                if (b[i] == b'+' || b[i] == b'-') && b[i - 1] != b'e' && b[i - 1] != b'E' {
                    split = Some(i);
                    break;
                }
            }
            let (start, delta) = match split {
                Some(i) => {
                    let d = number(&head[i + 1..]);
                    (number(&head[..i]), if b[i] == b'-' { -d } else { d })
                }
                None => (number(head), 0.0),
            };
            let mut v = start;
            for _ in 0..=n {
                out.push(Some(v));
                v += delta;
            }
        } else {
            out.push(Some(number(tok)));
        }
    }
    out
}

struct Expect {
    fail: bool,
    warn: Option<bool>,
    info: Option<bool>,
}

/// Runs one script; never panics on an evaluator mismatch, returns them all.
pub fn run(script: &str) -> Report {
    let lines: Vec<&str> = script.lines().collect();
    let mut store = Store::new();
    let mut report = Report::default();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        let start = i + 1;
        i += 1;
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let mut body = Vec::new();
        while i < lines.len() && lines[i].starts_with([' ', '\t']) && !lines[i].trim().is_empty() {
            body.push(lines[i].trim());
            i += 1;
        }
        if line == "clear" {
            store = Store::new();
        } else if let Some(interval) = line.strip_prefix("load ") {
            let step = duration_ms(interval.trim());
            // A later line for the same series and time replaces the earlier value, as in promqltest.
            let mut samples: BTreeMap<(Labels, i64), f64> = BTreeMap::new();
            for s in &body {
                let (labels, tokens) = series_and_values(s);
                for (k, v) in expand(&tokens).into_iter().enumerate() {
                    if let Some(v) = v {
                        samples.insert((labels.clone(), k as i64 * step), v);
                    }
                }
            }
            for ((labels, t), v) in samples {
                store.append(&labels, t, v).expect("load");
            }
        } else if let Some(rest) = line.strip_prefix("eval ") {
            report.evals += 1;
            if let Some(f) = eval(&store, rest, &body, start) {
                report.failures.push(f);
            }
        } else {
            panic!("line {start}: unknown command {line:?}");
        }
    }
    report
}

fn eval(store: &Store, head: &str, body: &[&str], line: usize) -> Option<Failure> {
    let engine = Engine::new(store);
    let mut expect = Expect {
        fail: false,
        warn: None,
        info: None,
    };
    let mut expected = Vec::new();
    for b in body {
        match b.split_whitespace().take(2).collect::<Vec<_>>().as_slice() {
            ["expect", "fail", ..] => expect.fail = true,
            ["expect", "warn", ..] => expect.warn = Some(true),
            ["expect", "no_warn", ..] => expect.warn = Some(false),
            ["expect", "info", ..] => expect.info = Some(true),
            ["expect", "no_info", ..] => expect.info = Some(false),
            ["expect", ..] => {}
            _ => expected.push(*b),
        }
    }
    let (query, result) = if let Some(rest) = head.strip_prefix("instant at ") {
        let (t, query) = rest.split_once(' ').expect("instant at T QUERY");
        (
            query.trim(),
            engine
                .instant(query.trim(), duration_ms(t))
                .map(|r| (Ok(r.value), r.warnings)),
        )
    } else if let Some(rest) = head.strip_prefix("range from ") {
        let parts: Vec<&str> = rest.splitn(6, ' ').collect();
        let [from, "to", to, "step", step, query] = parts.as_slice() else {
            panic!("line {line}: bad range eval {head:?}");
        };
        let (s, e, st) = (duration_ms(from), duration_ms(to), duration_ms(step));
        (
            query.trim(),
            engine
                .range(query.trim(), s, e, st)
                .map(|r| (Err((r.value, s, st)), r.warnings)),
        )
    } else {
        panic!("line {line}: bad eval {head:?}");
    };
    let fail = |message: String| {
        Some(Failure {
            line,
            query: query.to_string(),
            message,
        })
    };
    let (value, warnings) = match result {
        Err(EvalError::Unsupported { feature, .. }) => {
            return fail(format!("unsupported: {feature}"))
        }
        Err(e) if expect.fail => {
            let _ = e;
            return None;
        }
        Err(e) => return fail(format!("unexpected error: {e}")),
        Ok(_) if expect.fail => return fail("expected an error, got a result".to_string()),
        Ok(r) => r,
    };
    let has = |level| warnings.iter().any(|w| w.level == level);
    if let Some(want) = expect.warn {
        if want != has(WarningLevel::Warning) {
            return fail(format!("expected warn={want}, got {warnings:?}"));
        }
    }
    if let Some(want) = expect.info {
        if want != has(WarningLevel::Info) {
            return fail(format!("expected info={want}, got {warnings:?}"));
        }
    }
    let mut got: BTreeMap<Labels, Vec<Option<f64>>> = BTreeMap::new();
    let mut expect_map: BTreeMap<Labels, Vec<Option<f64>>> = BTreeMap::new();
    match value {
        Ok(Value::Scalar(v)) => {
            got.insert(Labels::default(), vec![Some(v)]);
        }
        Ok(Value::Vector(v)) => {
            for s in v {
                got.insert(s.labels, vec![Some(s.value)]);
            }
        }
        Ok(Value::Matrix(_)) => {
            return fail("range-vector results are not compared by this runner".to_string())
        }
        Err((series, start, step)) => {
            for s in series {
                let mut vals = Vec::new();
                for (t, v) in s.points {
                    let k = ((t - start) / step) as usize;
                    vals.resize(k, None);
                    vals.push(Some(v));
                }
                got.insert(s.labels, vals);
            }
        }
    }
    for e in expected {
        if e.starts_with(|c: char| {
            c.is_ascii_digit() || c == '-' || c == '+' || c == 'N' || c == 'I'
        }) && !e.contains('{')
            && e.split_whitespace().count() == 1
        {
            expect_map.insert(Labels::default(), vec![Some(number(e))]);
        } else {
            let (labels, tokens) = series_and_values(e);
            expect_map.insert(labels, expand(&tokens));
        }
    }
    for vals in got.values_mut() {
        while vals.last() == Some(&None) {
            vals.pop();
        }
    }
    for vals in expect_map.values_mut() {
        while vals.last() == Some(&None) {
            vals.pop();
        }
    }
    if got.len() != expect_map.len() || got.keys().zip(expect_map.keys()).any(|(a, b)| a != b) {
        return fail(format!(
            "series differ: expected {:?}, got {:?}",
            expect_map
                .iter()
                .map(|(k, v)| format!("{k} {v:?}"))
                .collect::<Vec<_>>(),
            got.iter()
                .map(|(k, v)| format!("{k} {v:?}"))
                .collect::<Vec<_>>()
        ));
    }
    for ((labels, want), got_vals) in expect_map.iter().zip(got.values()) {
        let equal = want.len() == got_vals.len()
            && want.iter().zip(got_vals).all(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => almost_equal(*a, *b, EPSILON),
                (None, None) => true,
                _ => false,
            });
        if !equal {
            return fail(format!("{labels}: expected {want:?}, got {got_vals:?}"));
        }
    }
    None
}
