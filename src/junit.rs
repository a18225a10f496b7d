//! JUnit XML, the one format every CI system shows test by test: used for the smoke checklist (one
//! testcase per box) and for the gate (one testcase per check and per box).
//!
//! For: rendering suites of cases with pass / failure / error / skipped outcomes in the shape CI
//! tools read (`testsuites > testsuite > testcase > failure|error|skipped`, with `tests`,
//! `failures`, `errors`, `skipped` and `time` counts). Not for: deciding outcomes.

use std::fmt::Write as _;

/// What happened to one case.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseOutcome {
    /// It passed.
    Pass,
    /// It ran and its expectation did not hold (`<failure>`).
    Failure {
        /// One-line reason (the `message` attribute).
        message: String,
        /// Evidence (the element's text).
        details: String,
    },
    /// It could not run or could not be judged (`<error>`).
    Error {
        /// One-line reason.
        message: String,
        /// Evidence.
        details: String,
    },
    /// It was not run (`<skipped>`).
    Skipped {
        /// Why.
        message: String,
    },
}

/// One testcase.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The case's name (a checklist box's wording, a check's name).
    pub name: String,
    /// Its group (`classname`), for example `smoke.write-only.circuit-breaker`.
    pub classname: String,
    /// Seconds it took.
    pub seconds: f64,
    /// Outcome.
    pub outcome: CaseOutcome,
    /// Extra text for `<system-out>` (may be empty).
    pub output: String,
}

/// One testsuite.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    /// Suite name, for example `rollgate smoke write-only`.
    pub name: String,
    /// RFC 3339 start time (may be empty).
    pub timestamp: String,
    /// Its cases, in order.
    pub cases: Vec<Case>,
}

impl Suite {
    fn count(&self, f: impl Fn(&CaseOutcome) -> bool) -> usize {
        self.cases.iter().filter(|c| f(&c.outcome)).count()
    }

    fn seconds(&self) -> f64 {
        self.cases.iter().map(|c| c.seconds).sum()
    }
}

/// Renders suites as one JUnit XML document.
pub fn render(suites: &[Suite]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let all = |f: fn(&CaseOutcome) -> bool| suites.iter().map(|s| s.count(f)).sum::<usize>();
    let _ = writeln!(
        out,
        "<testsuites name=\"rollgate\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        suites.iter().map(|s| s.cases.len()).sum::<usize>(),
        all(is_failure),
        all(is_error),
        all(is_skipped),
        suites.iter().map(Suite::seconds).sum::<f64>(),
    );
    for suite in suites {
        let _ = write!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\"",
            escape(&suite.name),
            suite.cases.len(),
            suite.count(is_failure),
            suite.count(is_error),
            suite.count(is_skipped),
            suite.seconds(),
        );
        if !suite.timestamp.is_empty() {
            let _ = write!(out, " timestamp=\"{}\"", escape(&suite.timestamp));
        }
        out.push_str(">\n");
        for case in &suite.cases {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
                escape(&case.name),
                escape(&case.classname),
                case.seconds
            );
            if case.outcome == CaseOutcome::Pass && case.output.is_empty() {
                out.push_str("/>\n");
                continue;
            }
            out.push_str(">\n");
            match &case.outcome {
                CaseOutcome::Pass => {}
                CaseOutcome::Failure { message, details } => {
                    element(&mut out, "failure", message, details)
                }
                CaseOutcome::Error { message, details } => {
                    element(&mut out, "error", message, details)
                }
                CaseOutcome::Skipped { message } => {
                    let _ = writeln!(out, "      <skipped message=\"{}\"/>", escape(message));
                }
            }
            if !case.output.is_empty() {
                let _ = writeln!(
                    out,
                    "      <system-out>{}</system-out>",
                    escape(&case.output)
                );
            }
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn element(out: &mut String, tag: &str, message: &str, details: &str) {
    let _ = writeln!(
        out,
        "      <{tag} message=\"{}\" type=\"{tag}\">{}</{tag}>",
        escape(message),
        escape(details)
    );
}

fn is_failure(o: &CaseOutcome) -> bool {
    matches!(o, CaseOutcome::Failure { .. })
}

fn is_error(o: &CaseOutcome) -> bool {
    matches!(o, CaseOutcome::Error { .. })
}

fn is_skipped(o: &CaseOutcome) -> bool {
    matches!(o, CaseOutcome::Skipped { .. })
}

/// Escapes text for an XML attribute or element; drops characters XML 1.0 cannot carry.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_outcomes_and_escapes() {
        let suite = Suite {
            name: "rollgate smoke write-only".into(),
            timestamp: "2026-12-03T08:45:00Z".into(),
            cases: vec![
                Case {
                    name: "Send message → attempts increment".into(),
                    classname: "smoke.write-only".into(),
                    seconds: 0.25,
                    outcome: CaseOutcome::Pass,
                    output: String::new(),
                },
                Case {
                    name: "Force Zep 5xx → breaker opens".into(),
                    classname: "smoke.write-only".into(),
                    seconds: 1.0,
                    outcome: CaseOutcome::Failure {
                        message: "expected memory.reason == \"breaker_open\"".into(),
                        details: "seen <none>\nopens 0 -> 0 & more".into(),
                    },
                    output: String::new(),
                },
                Case {
                    name: "Timeout fallback".into(),
                    classname: "smoke.read-write".into(),
                    seconds: 0.0,
                    outcome: CaseOutcome::Skipped {
                        message: "needs --zep-admin".into(),
                    },
                    output: String::new(),
                },
            ],
        };
        let xml = render(&[suite]);
        assert!(xml.contains("<testsuites name=\"rollgate\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\" time=\"1.250\">"));
        assert!(xml.contains("message=\"expected memory.reason == &quot;breaker_open&quot;\""));
        assert!(xml.contains("seen &lt;none&gt;&#10;opens 0 -&gt; 0 &amp; more"));
        assert!(xml.contains("<skipped message=\"needs --zep-admin\"/>"));
        assert!(xml.contains("timestamp=\"2026-12-03T08:45:00Z\""));
        assert_eq!(escape("a\u{1}b"), "ab");
    }
}
