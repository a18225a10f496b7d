//! Binary operators between scalars and instant vectors, ported from Prometheus's
//! `VectorBinop`/`VectorscalarBinop`/`resultMetric`: one-to-one matching on all labels but the
//! name (or `on`/`ignoring`), `group_left`/`group_right` copying labels from the "one" side,
//! comparisons filtering unless `bool`, arithmetic dropping the metric name.
//!
//! Also where bucket-resolution warnings are raised: a comparison of `histogram_quantile(...)`
//! with a number checks the number against the buckets the quantile was computed from.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use promql_parser::parser::token::{self, TokenId};
use promql_parser::parser::{BinModifier, BinaryExpr, Expr, LabelModifier, VectorMatchCardinality};

use super::{resolution, Ctx, EvalError, Val, WarningLevel};
use crate::prom::labels::{Labels, METRIC_NAME};

pub(super) fn binary(ctx: &mut Ctx<'_>, b: &BinaryExpr, t: i64) -> Result<Val, EvalError> {
    let lhs = ctx.eval(&b.lhs, t)?;
    let rhs = ctx.eval(&b.rhs, t)?;
    let op = b.op.id();
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    if b.op.is_comparison_operator() {
        resolution_warning(ctx, &b.lhs, &b.rhs);
        resolution_warning(ctx, &b.rhs, &b.lhs);
    }
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => {
            let (v, keep) = elem(op, l, r);
            Ok(Val::Scalar(if b.op.is_comparison_operator() {
                f64::from(u8::from(keep))
            } else {
                v
            }))
        }
        (Val::Vector(v), Val::Scalar(s)) => {
            Ok(Val::Vector(vector_scalar(op, v, s, false, return_bool, b)))
        }
        (Val::Scalar(s), Val::Vector(v)) => {
            Ok(Val::Vector(vector_scalar(op, v, s, true, return_bool, b)))
        }
        (Val::Vector(l), Val::Vector(r)) => {
            vector_vector(ctx, b, l, r, return_bool).map(Val::Vector)
        }
        _ => Err(ctx.execution(format!(
            "binary operator {} needs scalars or instant vectors on both sides",
            b.op
        ))),
    }
}

/// `vectorElemBinop` for floats: the value and, for comparisons, whether the comparison holds.
fn elem(op: TokenId, l: f64, r: f64) -> (f64, bool) {
    match op {
        token::T_ADD => (l + r, true),
        token::T_SUB => (l - r, true),
        token::T_MUL => (l * r, true),
        token::T_DIV => (l / r, true),
        token::T_POW => (l.powf(r), true),
        token::T_MOD => (l % r, true),
        token::T_EQLC => (l, l == r),
        token::T_NEQ => (l, l != r),
        token::T_GTR => (l, l > r),
        token::T_LSS => (l, l < r),
        token::T_GTE => (l, l >= r),
        token::T_LTE => (l, l <= r),
        _ => (f64::NAN, false),
    }
}

fn is_comparison(op: TokenId) -> bool {
    [
        token::T_EQLC,
        token::T_NEQ,
        token::T_GTR,
        token::T_LSS,
        token::T_GTE,
        token::T_LTE,
    ]
    .contains(&op)
}

fn vector_scalar(
    op: TokenId,
    v: Vec<(Labels, f64)>,
    s: f64,
    swap: bool,
    return_bool: bool,
    _b: &BinaryExpr,
) -> Vec<(Labels, f64)> {
    let mut out = Vec::with_capacity(v.len());
    for (labels, x) in v {
        let (l, r) = if swap { (s, x) } else { (x, s) };
        let (mut value, mut keep) = elem(op, l, r);
        if is_comparison(op) && swap {
            value = r;
        }
        if return_bool {
            value = f64::from(u8::from(keep));
            keep = true;
        }
        if keep {
            let labels = if !is_comparison(op) || return_bool {
                labels.without_name()
            } else {
                labels
            };
            out.push((labels, value));
        }
    }
    out
}

fn signature(labels: &Labels, modifier: Option<&BinModifier>) -> Labels {
    match modifier.and_then(|m| m.matching.as_ref()) {
        Some(LabelModifier::Include(on)) => labels.filtered(|n| on.labels.iter().any(|o| o == n)),
        Some(LabelModifier::Exclude(ign)) => {
            labels.filtered(|n| n != METRIC_NAME && !ign.labels.iter().any(|o| o == n))
        }
        None => labels.without_name(),
    }
}

fn vector_vector(
    ctx: &mut Ctx<'_>,
    b: &BinaryExpr,
    lhs: Vec<(Labels, f64)>,
    rhs: Vec<(Labels, f64)>,
    return_bool: bool,
) -> Result<Vec<(Labels, f64)>, EvalError> {
    let op = b.op.id();
    let modifier = b.modifier.as_ref();
    let card = modifier
        .map(|m| m.card.clone())
        .unwrap_or(VectorMatchCardinality::OneToOne);
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    let one_to_many = matches!(card, VectorMatchCardinality::OneToMany(_));
    let (lhs, rhs) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let mut right: HashMap<Labels, (Labels, f64)> = HashMap::default();
    for (labels, v) in rhs {
        let sig = signature(&labels, modifier);
        if let Some((dup, _)) = right.get(&sig) {
            if matches!(card, VectorMatchCardinality::OneToOne) {
                return Err(ctx.execution(format!(
                    "found duplicate series for the match group {sig} on the right hand-side of the operation: [{dup}, {labels}];many-to-many matching not allowed: matching labels must be unique on one side"
                )));
            }
            let side = if one_to_many { "left" } else { "right" };
            return Err(ctx.execution(format!(
                "found duplicate series for the match group {sig} on the {side} hand-side of the operation: [{dup}, {labels}];many-to-many matching not allowed: matching labels must be unique on one side"
            )));
        }
        right.insert(sig, (labels, v));
    }
    let include: Vec<String> = match &card {
        VectorMatchCardinality::ManyToOne(l) | VectorMatchCardinality::OneToMany(l) => {
            l.labels.clone()
        }
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    let mut seen: HashSet<Labels> = HashSet::default();
    let mut seen_many: HashSet<(Labels, Labels)> = HashSet::default();
    for (labels, lv) in lhs {
        let sig = signature(&labels, modifier);
        let Some((rlabels, rv)) = right.get(&sig) else {
            continue;
        };
        let (fl, fr) = if one_to_many { (*rv, lv) } else { (lv, *rv) };
        let (mut value, keep) = elem(op, fl, fr);
        if return_bool {
            value = f64::from(u8::from(keep));
        }
        let mut metric = labels.clone();
        if !is_comparison(op) || return_bool {
            metric = metric.without_name();
        }
        if matches!(card, VectorMatchCardinality::OneToOne) {
            metric = match modifier.and_then(|m| m.matching.as_ref()) {
                Some(LabelModifier::Include(on)) => {
                    metric.filtered(|n| on.labels.iter().any(|o| o == n))
                }
                Some(LabelModifier::Exclude(ign)) => {
                    metric.filtered(|n| !ign.labels.iter().any(|o| o == n))
                }
                None => metric,
            };
        }
        for name in &include {
            metric = metric.with(name, rlabels.get(name));
        }
        // Duplicate matches are errors whether or not a comparison keeps the sample.
        if matches!(card, VectorMatchCardinality::OneToOne) {
            if !seen.insert(sig.clone()) {
                return Err(ctx.execution(format!(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right) (match group {sig})"
                )));
            }
        } else if !seen_many.insert((sig.clone(), metric.clone())) {
            return Err(ctx.execution(format!(
                "multiple matches for labels: grouping labels must ensure unique matches (match group {sig})"
            )));
        }
        if !keep && !return_bool {
            continue;
        }
        out.push((metric, value));
    }
    Ok(out)
}

/// When `quantile_side` is a `histogram_quantile(...)` call and `other` a number, warns if the
/// number is not a bucket boundary of the buckets the quantile was computed from.
fn resolution_warning(ctx: &mut Ctx<'_>, quantile_side: &Expr, other: &Expr) {
    let (Some(call), Some(threshold)) = (quantile_call(quantile_side), number(other)) else {
        return;
    };
    let Some(bounds) = ctx.quantile_bounds.get(&(call as *const _ as usize)) else {
        return;
    };
    if let Some(w) = resolution::check(threshold, bounds) {
        ctx.warn(WarningLevel::BucketResolution, w.to_string());
    }
}

fn quantile_call(e: &Expr) -> Option<&promql_parser::parser::Call> {
    match e {
        Expr::Paren(p) => quantile_call(&p.expr),
        Expr::Call(c) if c.func.name == "histogram_quantile" => Some(c),
        _ => None,
    }
}

fn number(e: &Expr) -> Option<f64> {
    match e {
        Expr::Paren(p) => number(&p.expr),
        Expr::NumberLiteral(n) => Some(n.val),
        Expr::Unary(u) => number(&u.expr).map(|v| -v),
        _ => None,
    }
}
