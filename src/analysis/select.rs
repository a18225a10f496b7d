//! Rewriting a query for one side of the comparison: every selector gets the side's label matcher
//! (`variant="canary"`), and with a time scale every range (`[5m]`) is scaled, so the seed's
//! queries can be written verbatim and still judge baseline and canary apart, on a compressed run.
//!
//! For: the rewrite of PromQL text. Not for: evaluating it.

use std::time::Duration;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self, Expr};

use super::gates::Sides;

/// Adds `label op value` to every selector of `query` and multiplies every range by `scale`
/// (ranges are kept at 1 s or more); returns the rewritten query text.
pub fn for_side(
    query: &str,
    label: &str,
    op: MatchOp,
    value: &str,
    scale: f64,
) -> Result<String, String> {
    let mut expr = parser::parse(query)?;
    rewrite(&mut expr, &Matcher::new(op, label, value), scale);
    Ok(expr.to_string())
}

/// [`for_side`] with the gate file's `[sides]`: its label, `=` or `=~`, and `value` (one of its
/// two values).
pub fn for_gate_side(
    query: &str,
    sides: &Sides,
    value: &str,
    scale: f64,
) -> Result<String, String> {
    for_side(query, &sides.label, sides.op(value)?, value, scale)
}

fn scaled(d: Duration, scale: f64) -> Duration {
    if (scale - 1.0).abs() < f64::EPSILON {
        return d;
    }
    Duration::from_secs_f64((d.as_secs_f64() * scale).max(1.0).round())
}

fn rewrite(expr: &mut Expr, matcher: &Matcher, scale: f64) {
    match expr {
        Expr::VectorSelector(vs) => {
            vs.matchers.matchers.retain(|m| m.name != matcher.name);
            vs.matchers.matchers.push(matcher.clone());
        }
        Expr::MatrixSelector(ms) => {
            ms.vs.matchers.matchers.retain(|m| m.name != matcher.name);
            ms.vs.matchers.matchers.push(matcher.clone());
            ms.range = scaled(ms.range, scale);
        }
        Expr::Aggregate(a) => {
            rewrite(&mut a.expr, matcher, scale);
            if let Some(param) = a.param.as_mut() {
                rewrite(param, matcher, scale);
            }
        }
        Expr::Unary(u) => rewrite(&mut u.expr, matcher, scale),
        Expr::Binary(b) => {
            rewrite(&mut b.lhs, matcher, scale);
            rewrite(&mut b.rhs, matcher, scale);
        }
        Expr::Paren(p) => rewrite(&mut p.expr, matcher, scale),
        Expr::Subquery(s) => rewrite(&mut s.expr, matcher, scale),
        Expr::Call(c) => {
            for arg in c.args.args.iter_mut() {
                rewrite(arg, matcher, scale);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_selector_gets_the_side_and_ranges_scale() {
        let q =
            "rate(memory_zep_write_failures_total[5m]) / rate(memory_zep_write_requests_total[5m])";
        let canary = for_side(q, "variant", MatchOp::Equal, "canary", 1.0).expect("rewrites");
        assert_eq!(
            canary,
            "rate(memory_zep_write_failures_total{variant=\"canary\"}[5m]) / rate(memory_zep_write_requests_total{variant=\"canary\"}[5m])"
        );
        let fast = for_side(q, "variant", MatchOp::Equal, "baseline", 0.1).expect("rewrites");
        assert!(
            fast.contains("[30s]") && fast.contains("variant=\"baseline\""),
            "{fast}"
        );
        // An existing matcher on the same label is replaced, not doubled.
        let q = "sum(assistant_requests_total{variant=\"x\",transport=\"ws\"})";
        let out = for_side(q, "variant", MatchOp::Equal, "canary", 1.0).expect("rewrites");
        assert_eq!(out.matches("variant").count(), 1, "{out}");
        assert!(out.contains("transport=\"ws\""), "{out}");
    }

    #[test]
    fn a_syntax_error_is_reported() {
        assert!(for_side("rate(x[5m]", "variant", MatchOp::Equal, "canary", 1.0).is_err());
    }
}
