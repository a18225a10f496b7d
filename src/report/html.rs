//! `report.html`: one self-contained, printable page (inline CSS, no scripts, no external
//! resources): verdict banner, checks, smoke, load summary, charts (PNG as `data:` URIs, which
//! the CSP's `img-src data:` allows), run facts and warnings.
//!
//! For: the reviewer reading a run offline. Not for: interactivity (there is none by design).

use std::fmt::Write as _;

use base64::Engine as _;

use super::context::{num, ReportContext};
use super::Format;
use crate::run_dir;

/// The HTML format.
pub(super) struct Html;

const CSS: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:4px 8px;\
text-align:left;vertical-align:top}th{background:#eee}code{font-size:90%}\
.banner{padding:1em;border-radius:6px;color:#fff;font-size:130%}\
.PROMOTE{background:#2e7d32}.HOLD{background:#f9a825;color:#000}.DOWNGRADE{background:#ef6c00}\
.ROLLBACK,.ERROR{background:#c62828}.NONE{background:#555}\
.pass{color:#2e7d32}.breach,.fail,.error{color:#c62828;font-weight:bold}\
.warn{background:#fff8e1;border-left:4px solid #f9a825;padding:.5em 1em}\
figure{margin:1em 0;break-inside:avoid}figure img{max-width:100%;height:auto;border:1px solid #ddd}\
figcaption{font-size:90%;color:#444;max-width:900px}\
@media print{.banner{-webkit-print-color-adjust:exact;print-color-adjust:exact}}";

/// Escapes text for HTML element content and quoted attributes.
pub(super) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A class name from a fixed set, so untrusted words never reach an attribute unescaped.
fn class_of(word: &str) -> &'static str {
    match word {
        "PROMOTE" => "PROMOTE",
        "HOLD" => "HOLD",
        "DOWNGRADE" => "DOWNGRADE",
        "ROLLBACK" => "ROLLBACK",
        "ERROR" => "ERROR",
        "pass" => "pass",
        "breach" => "breach",
        "fail" => "fail",
        "error" => "error",
        _ => "NONE",
    }
}

fn row(s: &mut String, cells: &[String]) {
    s.push_str("<tr>");
    for c in cells {
        let _ = write!(s, "<td>{c}</td>");
    }
    s.push_str("</tr>\n");
}

fn head(s: &mut String, cells: &[&str]) {
    s.push_str("<table><tr>");
    for c in cells {
        let _ = write!(s, "<th>{}</th>", esc(c));
    }
    s.push_str("</tr>\n");
}

impl Format for Html {
    fn file(&self) -> &'static str {
        run_dir::REPORT_HTML
    }

    fn render(&self, ctx: &ReportContext) -> String {
        let mut s = String::new();
        let phase = ctx.verdict.as_ref().map(|v| v.phase.as_str()).unwrap_or("");
        let _ = write!(
            s,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
             img-src data:; style-src 'unsafe-inline'\">\
             <title>rollgate report {}</title><style>{CSS}</style></head><body>\n",
            esc(&ctx.run_name)
        );
        let _ = writeln!(
            s,
            "<div class=\"banner {}\"><b>{}</b> {}<br>{}</div>",
            class_of(&ctx.verdict_label),
            esc(&ctx.verdict_label),
            esc(phase),
            esc(&ctx.reason)
        );
        if !ctx.warnings.is_empty() {
            s.push_str("<h2>Warnings</h2><div class=\"warn\"><ul>\n");
            for w in &ctx.warnings {
                let _ = writeln!(s, "<li>{}</li>", esc(w));
            }
            s.push_str("</ul></div>\n");
        }
        if let Some(v) = &ctx.verdict {
            s.push_str("<h2>Checks</h2>\n");
            head(
                &mut s,
                &[
                    "check",
                    "query",
                    "value",
                    "threshold",
                    "window",
                    "samples",
                    "statistic",
                    "outcome",
                    "decision",
                ],
            );
            for c in &v.checks {
                let stat = c.statistic.as_ref().map_or("-".into(), statistic);
                row(
                    &mut s,
                    &[
                        esc(&c.name),
                        format!("<code>{}</code>", esc(&c.query)),
                        format!("{} {}", esc(&num(c.value)), esc(&c.unit)),
                        format!("{} ({})", esc(&num(c.threshold)), esc(&c.comparison)),
                        esc(&c.window),
                        c.samples.map_or("-".into(), |n| n.to_string()),
                        esc(&stat),
                        format!(
                            "<span class=\"{}\">{}</span>",
                            class_of(&c.outcome),
                            esc(&c.outcome)
                        ),
                        esc(&c.decision),
                    ],
                );
            }
            s.push_str("</table>\n");
        }
        if let Some(g) = &ctx.gate {
            let _ = writeln!(
                s,
                "<h2>Gate: {} phase, {} profile, target {}</h2>",
                esc(&g.phase),
                esc(&g.profile),
                esc(&g.target)
            );
            if let (Some(b), Some(c)) = (&g.baseline_mode, &g.canary_mode) {
                let _ = writeln!(
                    s,
                    "<p>Memory modes: baseline <code>{}</code>, canary <code>{}</code>{}.</p>",
                    esc(b),
                    esc(c),
                    g.regression.as_ref().map_or(String::new(), |r| format!(
                        "; canary regression <code>{}</code>",
                        esc(r)
                    ))
                );
            }
            head(&mut s, &["stage", "status", "what it did", "seconds"]);
            for st in &g.stages {
                row(
                    &mut s,
                    &[
                        esc(&st.name),
                        format!(
                            "<span class=\"{}\">{}</span>",
                            class_of(&st.status),
                            esc(&st.status)
                        ),
                        esc(&st.summary),
                        st.duration_ms
                            .map_or("-".into(), |ms| format!("{:.1}", ms as f64 / 1000.0)),
                    ],
                );
            }
            s.push_str("</table>\n");
        }
        if let Some(sm) = &ctx.smoke {
            let _ = writeln!(
                s,
                "<h2>Smoke checklist ({}, target {})</h2>",
                esc(&sm.phase),
                esc(&sm.target)
            );
            head(&mut s, &["group", "box", "status", "expected", "seen"]);
            for c in &sm.checks {
                row(
                    &mut s,
                    &[
                        esc(&c.group),
                        esc(&c.name),
                        format!(
                            "<span class=\"{}\">{}</span>",
                            class_of(&c.status),
                            esc(&c.status)
                        ),
                        esc(&c.expected),
                        esc(&c.seen),
                    ],
                );
            }
            s.push_str("</table>\n");
        }
        if !ctx.load.is_empty() {
            s.push_str("<h2>Load</h2>\n");
            head(
                &mut s,
                &[
                    "variant",
                    "seconds",
                    "intended",
                    "sent",
                    "errors",
                    "worst p95 TTFB (ms)",
                ],
            );
            for l in &ctx.load {
                row(
                    &mut s,
                    &[
                        esc(&l.variant),
                        l.seconds.to_string(),
                        num(Some(l.intended)),
                        num(Some(l.sent)),
                        num(Some(l.errors)),
                        num(l.worst_ttfb_p95_ms),
                    ],
                );
            }
            s.push_str("</table>\n");
        }
        charts(&mut s, ctx);
        if let Some(m) = &ctx.manifest {
            s.push_str("<h2>Run facts</h2>\n");
            head(&mut s, &["fact", "value"]);
            let versions = m
                .versions
                .iter()
                .map(|(k, v)| format!("{k} {}", v.as_str().map_or(v.to_string(), str::to_string)))
                .collect::<Vec<_>>()
                .join(", ");
            let lag = m
                .send_lag_ms
                .iter()
                .map(|(k, v)| format!("{k} {}", num(Some(*v))))
                .collect::<Vec<_>>()
                .join(", ");
            let facts = [
                ("status", m.status.clone()),
                ("started", m.started_at.clone()),
                ("ended", m.ended_at.clone()),
                ("duration (s)", num(m.duration_s)),
                ("seed", m.seed.map_or("-".into(), |n| n.to_string())),
                ("intended rate (/s)", num(m.rate.intended)),
                ("achieved rate (/s)", num(m.rate.achieved)),
                ("send lag (ms)", lag),
                ("versions", versions),
                ("scenario", m.scenario.to_string()),
            ];
            for (k, v) in facts {
                row(&mut s, &[esc(k), esc(&v)]);
            }
            s.push_str("</table>\n<h3>Config (secrets redacted)</h3>\n<pre>");
            let config = serde_json::to_string_pretty(&m.config).unwrap_or_default();
            s.push_str(&esc(&config));
            s.push_str("</pre>\n");
        }
        s.push_str("</body></html>\n");
        s
    }
}

/// The charts as embedded images with captions, then the list of skipped ones.
fn charts(s: &mut String, ctx: &ReportContext) {
    let set = &ctx.charts;
    if set.charts.is_empty() && set.skipped.is_empty() {
        return;
    }
    s.push_str("<h2>Charts</h2>\n");
    for c in &set.charts {
        let _ = writeln!(
            s,
            "<figure><img src=\"data:image/png;base64,{}\" width=\"{}\" height=\"{}\" alt=\"{}\">\
             <figcaption><b>{}</b> ({}). {}</figcaption></figure>",
            base64::engine::general_purpose::STANDARD.encode(&c.png),
            super::charts::plot::WIDTH,
            super::charts::plot::HEIGHT,
            esc(&c.alt),
            esc(&c.title),
            esc(&c.file),
            esc(&c.caption)
        );
    }
    if !set.skipped.is_empty() {
        s.push_str("<div class=\"warn\"><ul>\n");
        for w in &set.skipped {
            let _ = writeln!(s, "<li>{}</li>", esc(&w.to_string()));
        }
        s.push_str("</ul></div>\n");
    }
}

/// A check's statistic in a few words: the test, its p-value and the interval, for the table
/// (the whole object is in `verdict.json`).
fn statistic(v: &serde_json::Value) -> String {
    let test = v["test"].as_str().unwrap_or("?");
    let mut out = test.to_string();
    if let Some(p) = v["p_value"].as_f64() {
        out.push_str(&format!(", p = {p:.2e}"));
    }
    if let Some(ci) = v["ci"].as_array() {
        let end = |i: usize| {
            ci.get(i)
                .and_then(|x| x.as_f64())
                .map_or("∞".into(), |x| format!("{x:.4}"))
        };
        let confidence = v["confidence"]
            .as_f64()
            .map_or(String::new(), |c| format!("{:.0}% ", c * 100.0));
        out.push_str(&format!(", {confidence}CI [{}, {}]", end(0), end(1)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>\"a\"&'b'</script>"),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;"
        );
        assert_eq!(class_of("x\" onload=\""), "NONE");
    }
}
