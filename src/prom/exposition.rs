//! Parsing Prometheus exposition text (format 0.0.4) and the OpenMetrics text a target sends.
//!
//! For: turning one scrape body or one fixture file into samples, keeping every good line when
//! some lines are malformed. Each malformed line becomes a [`LineError`] naming the line number
//! and its text; the caller counts and reports them, so a scrape is never silently dropped.
//!
//! Not for: storing samples ([`crate::prom::store`]) or fetching them ([`crate::prom::scrape`]).
//!
//! Why not `prometheus-parse` for the sample lines: version 0.2 matches sample lines with the regex
//! `^(\w+)(\{([^}]+)\})?\s+(\S+)(\s+(\S+))?` and silently ignores lines it does not match, so a
//! malformed line vanishes without an error; it also cuts label values at the first `}` or `,`,
//! ignores escapes (`\"`, `\\`, `\n`), and accepts trailing garbage after the timestamp. Those are
//! exactly the cases this module must report, so the line grammar is implemented here (it is small)
//! and follows Prometheus's `textparse` lexer: names `[a-zA-Z_:][a-zA-Z0-9_:]*`, quoted label
//! values with escapes, an optional trailing comma in the label set, a Go-`ParseFloat` value
//! (`NaN`, `+Inf`, `-Inf`), an optional integer timestamp in milliseconds (text 0.0.4) or a float
//! in seconds (OpenMetrics), and in OpenMetrics an exemplar after ` # ` which is ignored.

use std::collections::HashMap;

use thiserror::Error;

use crate::prom::labels::{Label, Labels, METRIC_NAME};

/// Which text format a body is in; it decides the timestamp unit and what `# EOF` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`: timestamps are integer milliseconds.
    Text,
    /// `application/openmetrics-text`: timestamps are float seconds, `# EOF` ends the body,
    /// exemplars and `_created` series are ignored.
    OpenMetrics,
}

impl Format {
    /// The format a `Content-Type` header announces (text 0.0.4 when absent or unknown).
    pub fn from_content_type(content_type: Option<&str>) -> Format {
        match content_type {
            Some(ct) if ct.trim_start().starts_with("application/openmetrics-text") => {
                Format::OpenMetrics
            }
            _ => Format::Text,
        }
    }
}

/// The declared type of a metric family (`# TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// A monotonic counter.
    Counter,
    /// A gauge.
    Gauge,
    /// A classic histogram (`_bucket`, `_sum`, `_count`).
    Histogram,
    /// A summary.
    Summary,
    /// Anything else (`untyped`, `unknown`, `info`, `stateset`, `gaugehistogram`).
    Other,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series, including `__name__`.
    pub labels: Labels,
    /// The value.
    pub value: f64,
    /// The explicit timestamp in milliseconds since the epoch, if the line had one.
    pub timestamp_ms: Option<i64>,
}

/// A malformed line: its 1-based number, its text and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {reason}: {text:?}")]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// The line's text (cut to 200 characters).
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

/// Everything one body yielded: the good samples and an error per malformed line.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// Samples in the order of the body.
    pub samples: Vec<Sample>,
    /// One entry per line that could not be parsed (the rest of the body is still used).
    pub errors: Vec<LineError>,
    /// `# TYPE` declarations by family name.
    pub types: HashMap<String, MetricType>,
}

/// Parses a whole body. Never fails: malformed lines are collected in [`Parsed::errors`].
pub fn parse(body: &str, format: Format) -> Parsed {
    let mut parsed = Parsed::default();
    let mut seen_eof = false;
    for (index, raw) in body.split('\n').enumerate() {
        let line_no = index + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        if seen_eof {
            parsed
                .errors
                .push(line_error(line_no, line, "content after # EOF"));
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            match parse_comment(comment) {
                Comment::Type(name, kind) => {
                    parsed.types.insert(name, kind);
                }
                Comment::Eof => seen_eof = format == Format::OpenMetrics,
                Comment::Other => {}
            }
            continue;
        }
        match parse_sample(line, format) {
            Ok(sample) => {
                if format == Format::OpenMetrics && is_created_series(&sample, &parsed.types) {
                    continue;
                }
                parsed.samples.push(sample);
            }
            Err(reason) => parsed.errors.push(line_error(line_no, line, &reason)),
        }
    }
    if format == Format::OpenMetrics && !seen_eof {
        // Prometheus rejects such a body; here the samples are kept and the cut is reported.
        let last = body.split('\n').count();
        parsed.errors.push(line_error(
            last,
            "",
            "OpenMetrics body does not end with '# EOF' (it may have been cut short)",
        ));
    }
    parsed
}

fn line_error(line: usize, text: &str, reason: &str) -> LineError {
    LineError {
        line,
        text: text.chars().take(200).collect(),
        reason: reason.to_string(),
    }
}

enum Comment {
    Type(String, MetricType),
    Eof,
    Other,
}

fn parse_comment(comment: &str) -> Comment {
    let mut words = comment.split_whitespace();
    match words.next() {
        Some("EOF") if words.next().is_none() => Comment::Eof,
        Some("TYPE") => match (words.next(), words.next()) {
            (Some(name), Some(kind)) => Comment::Type(
                name.to_string(),
                match kind {
                    "counter" => MetricType::Counter,
                    "gauge" => MetricType::Gauge,
                    "histogram" => MetricType::Histogram,
                    "summary" => MetricType::Summary,
                    _ => MetricType::Other,
                },
            ),
            _ => Comment::Other,
        },
        _ => Comment::Other,
    }
}

/// OpenMetrics `foo_created` lines of counters, histograms and summaries carry a creation time, not
/// a sample; Prometheus without the created-timestamp feature does not need them, so they are dropped.
fn is_created_series(sample: &Sample, types: &HashMap<String, MetricType>) -> bool {
    let Some(family) = sample.labels.metric_name().strip_suffix("_created") else {
        return false;
    };
    matches!(
        types.get(family),
        Some(MetricType::Counter | MetricType::Histogram | MetricType::Summary)
    )
}

/// A cursor over one line.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn skip_blanks(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn take_while(&mut self, mut f: impl FnMut(u8, bool) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if !f(b, self.pos == start) {
                break;
            }
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    fn name(&mut self, allow_colon: bool) -> &'a str {
        self.take_while(|b, first| {
            b.is_ascii_alphabetic()
                || b == b'_'
                || (allow_colon && b == b':')
                || (!first && b.is_ascii_digit())
        })
    }

    fn token(&mut self) -> &'a str {
        self.take_while(|b, _| b != b' ' && b != b'\t')
    }

    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!(
                "expected '{}' at column {}",
                b as char,
                self.pos + 1
            ))
        }
    }

    /// A double-quoted string with `\\`, `\"` and `\n` escapes (the opening quote is next).
    fn quoted(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = String::new();
        let rest = &self.s[self.pos..];
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, '\\')) => out.push('\\'),
                    Some((_, '"')) => out.push('"'),
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, other)) => {
                        return Err(format!("invalid escape '\\{other}' in label value"))
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err("unterminated label value".to_string())
    }
}

fn parse_sample(line: &str, format: Format) -> Result<Sample, String> {
    let mut cur = Cursor { s: line, pos: 0 };
    let mut labels: Vec<Label> = Vec::new();
    let name = cur.name(true);
    if !name.is_empty() {
        labels.push(Label {
            name: METRIC_NAME.into(),
            value: name.into(),
        });
    }
    if cur.peek() == Some(b'{') {
        cur.pos += 1;
        parse_label_set(&mut cur, &mut labels)?;
    }
    if name.is_empty() && labels.iter().all(|l| l.name.as_ref() != METRIC_NAME) {
        return Err("expected a metric name".to_string());
    }
    if cur.skip_blanks() == 0 {
        return Err(format!(
            "expected a blank and a value at column {}",
            cur.pos + 1
        ));
    }
    let value_text = cur.token();
    let value = parse_float(value_text).ok_or_else(|| format!("invalid value {value_text:?}"))?;
    let mut timestamp_ms = None;
    let blanks = cur.skip_blanks();
    if blanks > 0 && cur.peek().is_some() && cur.peek() != Some(b'#') {
        let ts_text = cur.token();
        timestamp_ms = Some(parse_timestamp(ts_text, format)?);
        cur.skip_blanks();
    }
    match cur.peek() {
        None => {}
        Some(b'#') if format == Format::OpenMetrics => {} // exemplar: ignored
        Some(_) => {
            return Err(format!(
                "unexpected text after the sample at column {}",
                cur.pos + 1
            ))
        }
    }
    if value.is_nan() && value.to_bits() == crate::prom::store::STALE_NAN_BITS {
        return Err("the staleness marker value cannot be exposed".to_string());
    }
    Ok(Sample {
        labels: Labels::from_vec(labels),
        value,
        timestamp_ms,
    })
}

fn parse_label_set(cur: &mut Cursor<'_>, labels: &mut Vec<Label>) -> Result<(), String> {
    let mut names: Vec<String> = Vec::new();
    loop {
        cur.skip_blanks();
        if cur.peek() == Some(b'}') {
            cur.pos += 1;
            return Ok(());
        }
        let name = if cur.peek() == Some(b'"') {
            // UTF-8 quoted name, as OpenMetrics 2 / Prometheus 3 allow: {"my.metric"} or {"a.b"="c"}.
            cur.quoted()?
        } else {
            let n = cur.name(false);
            if n.is_empty() {
                return Err(format!("expected a label name at column {}", cur.pos + 1));
            }
            n.to_string()
        };
        cur.skip_blanks();
        if cur.peek() != Some(b'=') && labels.is_empty() {
            // A quoted metric name inside the braces.
            labels.push(Label {
                name: METRIC_NAME.into(),
                value: name.as_str().into(),
            });
        } else {
            cur.expect(b'=')?;
            cur.skip_blanks();
            let value = cur.quoted()?;
            if names.contains(&name)
                || (name == METRIC_NAME && labels.iter().any(|l| l.name.as_ref() == METRIC_NAME))
            {
                return Err(format!("duplicate label name {name:?}"));
            }
            names.push(name.clone());
            labels.push(Label {
                name: name.as_str().into(),
                value: value.as_str().into(),
            });
        }
        cur.skip_blanks();
        match cur.peek() {
            Some(b',') => cur.pos += 1,
            Some(b'}') => {}
            _ => return Err(format!("expected ',' or '}}' at column {}", cur.pos + 1)),
        }
    }
}

/// Go `strconv.ParseFloat` semantics for the forms exposition uses: decimal and exponent forms,
/// `NaN`, `Inf`/`+Inf`/`-Inf` in any case. Rust's parser agrees on these; it would also accept
/// "infinity", which Go accepts too.
pub fn parse_float(text: &str) -> Option<f64> {
    if text.is_empty() || text.contains('_') {
        return None;
    }
    text.parse::<f64>().ok()
}

fn parse_timestamp(text: &str, format: Format) -> Result<i64, String> {
    match format {
        Format::Text => text
            .parse::<i64>()
            .map_err(|_| format!("invalid timestamp {text:?}")),
        Format::OpenMetrics => {
            let seconds = parse_float(text)
                .filter(|s| s.is_finite())
                .ok_or_else(|| format!("invalid timestamp {text:?}"))?;
            let ms = (seconds * 1000.0).round();
            if ms.abs() > 9.0e15 {
                return Err(format!("timestamp out of range {text:?}"));
            }
            Ok(ms as i64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_text_format_with_escapes_and_timestamps() {
        let body = "# HELP x help\n# TYPE x counter\nx_total{a=\"q\\\"}\",b=\"2\",} 3.5 1700000000000\nup 1\n";
        let p = parse(body, Format::Text);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.samples[0].labels.get("a"), "q\"}");
        assert_eq!(p.samples[0].timestamp_ms, Some(1_700_000_000_000));
        assert_eq!(p.samples[1].value, 1.0);
        assert_eq!(p.types.get("x"), Some(&MetricType::Counter));
    }

    #[test]
    fn malformed_lines_are_reported_and_the_rest_kept() {
        let body = "good 1\nbad{a=\"1\" 2\nalso_good 2\nbad_value abc\ndup{a=\"1\",a=\"2\"} 1\n";
        let p = parse(body, Format::Text);
        assert_eq!(p.samples.len(), 2);
        let lines: Vec<usize> = p.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 4, 5]);
        assert!(p.errors[1].to_string().contains("bad_value abc"));
    }

    #[test]
    fn openmetrics_eof_exemplars_created_and_seconds() {
        let body = "# TYPE c counter\nc_total 5 1700000000.5 # {trace_id=\"x\"} 1\nc_created 1.7e9\n# EOF\n";
        let p = parse(body, Format::OpenMetrics);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.samples.len(), 1);
        assert_eq!(p.samples[0].timestamp_ms, Some(1_700_000_000_500));
        let after = parse("# EOF\nx 1\n", Format::OpenMetrics);
        assert_eq!(after.errors.len(), 1);
        let cut = parse("x 1\ny 2", Format::OpenMetrics);
        assert_eq!(cut.samples.len(), 2);
        assert_eq!(cut.errors.len(), 1);
        assert!(cut.errors[0].reason.contains("# EOF"));
    }
}
