//! `summary.md`: the report as Markdown for a pull-request or merge-request comment.
//!
//! For: a short, table-shaped summary (verdict, checks, smoke, load, warnings). Not for: charts
//! or the full run facts (those are in `report.html`).

use std::fmt::Write as _;

use super::context::{num, ReportContext};
use super::Format;
use crate::run_dir;

/// The Markdown format.
pub(super) struct Markdown;

/// Makes text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

impl Format for Markdown {
    fn file(&self) -> &'static str {
        run_dir::SUMMARY_MD
    }

    fn render(&self, ctx: &ReportContext) -> String {
        let mut s = String::new();
        let phase = ctx.verdict.as_ref().map(|v| v.phase.as_str()).unwrap_or("");
        let _ = writeln!(s, "## rollgate: {} {}", ctx.verdict_label, cell(phase));
        let _ = writeln!(s, "\n**{}**\n", cell(&ctx.reason));
        let _ = writeln!(s, "Run: `{}`\n", cell(&ctx.run_name));
        if let Some(v) = &ctx.verdict {
            let _ = writeln!(s, "### Checks\n");
            let _ = writeln!(
                s,
                "| check | value | threshold | window | samples | outcome |"
            );
            let _ = writeln!(s, "|---|---|---|---|---|---|");
            for c in &v.checks {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} |",
                    cell(&c.name),
                    num(c.value),
                    num(c.threshold),
                    cell(&c.window),
                    c.samples.map_or("-".into(), |n| n.to_string()),
                    cell(&c.outcome)
                );
            }
            s.push('\n');
        }
        if let Some(sm) = &ctx.smoke {
            let ok = sm.checks.iter().filter(|c| c.status == "pass").count();
            let _ = writeln!(s, "### Smoke: {ok}/{} passed\n", sm.checks.len());
            for c in sm.checks.iter().filter(|c| c.status != "pass") {
                let _ = writeln!(
                    s,
                    "- **{}** {}: {}",
                    cell(&c.status),
                    cell(&c.name),
                    cell(&c.seen)
                );
            }
            s.push('\n');
        }
        if !ctx.load.is_empty() {
            let _ = writeln!(s, "### Load\n");
            let _ = writeln!(
                s,
                "| variant | seconds | intended | sent | errors | worst p95 TTFB ms |"
            );
            let _ = writeln!(s, "|---|---|---|---|---|---|");
            for l in &ctx.load {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} |",
                    cell(&l.variant),
                    l.seconds,
                    num(Some(l.intended)),
                    num(Some(l.sent)),
                    num(Some(l.errors)),
                    num(l.worst_ttfb_p95_ms)
                );
            }
            s.push('\n');
        }
        if !ctx.warnings.is_empty() {
            let _ = writeln!(s, "### Warnings\n");
            for w in &ctx.warnings {
                let _ = writeln!(s, "- {}", cell(w));
            }
            s.push('\n');
        }
        let _ = writeln!(s, "Full report: `report.html` in the run directory.");
        s
    }
}
