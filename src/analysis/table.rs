//! The verdict as a terminal table (`rollgate analyze`, `rollgate gate`). Not for files: the
//! report renders `verdict.json` itself.

use super::evaluate::Outcome as CheckOutcome;
use super::verdict::{Decision, Verdict};

/// The verdict as a table: a banner with the reason, one line per check, the warnings;
/// `colour` paints outcomes with ANSI codes (for a terminal).
pub fn render(v: &Verdict, colour: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let paint = |text: &str, code: &str| {
        if colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    };
    let banner = match v.verdict {
        Decision::Promote => paint("PROMOTE", "1;32"),
        Decision::Hold => paint("HOLD", "1;33"),
        Decision::Downgrade => paint("DOWNGRADE", "1;35"),
        Decision::Rollback => paint("ROLLBACK", "1;31"),
        Decision::Error => paint("ERROR", "1;31"),
    };
    let _ = writeln!(out, "{banner} ({} phase): {}", v.phase.as_str(), v.reason);
    let _ = writeln!(
        out,
        "{:<46} {:<9} {:<12} {:>12} {:>8} {:>6} {:>8} {:>9}  decision",
        "check", "action", "outcome", "value", "window", "evals", "samples", "p"
    );
    for c in &v.checks {
        let outcome = match c.outcome {
            CheckOutcome::Pass => paint("pass", "32"),
            CheckOutcome::Breach => paint("BREACH", "31"),
            CheckOutcome::Inconclusive => paint("inconclusive", "33"),
            CheckOutcome::Error => paint("ERROR", "31"),
        };
        let pad = if colour { 21 } else { 12 };
        let _ = writeln!(
            out,
            "{:<46} {:<9} {:<pad$} {:>12} {:>8} {:>6} {:>8} {:>9}  {}",
            truncate(&c.name, 46),
            format!("{:?}", c.action).to_lowercase(),
            outcome,
            c.value.map_or("-".into(), |x| format!("{x:.4}")),
            c.window,
            c.evaluations,
            c.samples.map_or("-".into(), |n| n.to_string()),
            c.statistic
                .as_ref()
                .and_then(|s| s.p_value)
                .map_or("-".into(), |p| format!("{p:.2e}")),
            c.decision
        );
    }
    for w in &v.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

fn truncate(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(n - 1).collect::<String>())
    }
}
