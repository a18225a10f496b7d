//! `sum`, `avg`, `max`, `min`, `count` with `by`/`without`, ported from Prometheus's
//! `evaluator.aggregation`: `sum` and `avg` use Kahan–Neumaier compensation (`util/kahansum`),
//! `avg` switches to an incremental mean when the sum overflows, `max`/`min` let any number
//! replace NaN. Output labels: `by` keeps only the listed labels; `without` drops them and the
//! metric name. Input order is the input vector's order, which matters for the last bits.

use rustc_hash::FxHashMap as HashMap;

use promql_parser::parser::token::{self, TokenId};
use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::{Ctx, EvalError, Semantics, Val};
use crate::prom::labels::{Labels, METRIC_NAME};

pub(super) fn is_supported(op: TokenId) -> bool {
    [
        token::T_SUM,
        token::T_AVG,
        token::T_MAX,
        token::T_MIN,
        token::T_COUNT,
    ]
    .contains(&op)
}

/// Kahan–Neumaier increment (`kahansum.Inc`): returns the new sum and compensation.
pub fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

struct Group {
    labels: Labels,
    value: f64,
    mean: f64,
    kahan_c: f64,
    count: f64,
    incremental_mean: bool,
}

pub(super) fn aggregate(ctx: &mut Ctx<'_>, agg: &AggregateExpr, t: i64) -> Result<Val, EvalError> {
    let input = match ctx.eval(&agg.expr, t)? {
        Val::Vector(v) => v,
        _ => return Err(ctx.execution("aggregation expects an instant vector".to_string())),
    };
    let op = agg.op.id();
    let v2 = ctx.semantics == Semantics::Prometheus2;
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::default();
    let node = agg as *const AggregateExpr as usize;
    for (labels, f) in input {
        let key = ctx.memo_key(node, &labels, |l| group_labels(l, agg.modifier.as_ref()));
        let slot = match index.get(&key) {
            Some(&slot) => slot,
            None => {
                index.insert(key.clone(), groups.len());
                groups.push(Group {
                    labels: key,
                    value: f,
                    mean: f,
                    kahan_c: 0.0,
                    count: 1.0,
                    incremental_mean: false,
                });
                continue;
            }
        };
        let g = &mut groups[slot];
        match op {
            token::T_SUM if v2 => g.value += f,
            token::T_SUM => (g.value, g.kahan_c) = kahan_inc(f, g.value, g.kahan_c),
            token::T_AVG if v2 => {
                // Prometheus 2.42's incremental mean, with its infinity special cases.
                g.count += 1.0;
                g.incremental_mean = true;
                if g.mean.is_infinite() {
                    if f.is_infinite() && (g.mean > 0.0) == (f > 0.0) {
                        continue;
                    }
                    if !f.is_infinite() && !f.is_nan() {
                        continue;
                    }
                }
                g.mean += f / g.count - g.mean / g.count;
            }
            token::T_AVG => {
                g.count += 1.0;
                if !g.incremental_mean {
                    let (v, c) = kahan_inc(f, g.value, g.kahan_c);
                    if !v.is_infinite() {
                        (g.value, g.kahan_c) = (v, c);
                        continue;
                    }
                    g.incremental_mean = true;
                    g.mean = g.value / (g.count - 1.0);
                    g.kahan_c /= g.count - 1.0;
                }
                let q = (g.count - 1.0) / g.count;
                (g.mean, g.kahan_c) = kahan_inc(f / g.count, q * g.mean, q * g.kahan_c);
            }
            token::T_MAX => {
                if g.value < f || g.value.is_nan() {
                    g.value = f;
                }
            }
            token::T_MIN => {
                if g.value > f || g.value.is_nan() {
                    g.value = f;
                }
            }
            token::T_COUNT => g.count += 1.0,
            _ => {
                let name = agg.op.to_string();
                return Err(ctx.unsupported(&format!("aggregation {name}"), &name));
            }
        }
    }
    let out = groups
        .into_iter()
        .map(|g| {
            let value = match op {
                token::T_SUM => g.value + g.kahan_c,
                token::T_AVG if v2 => g.mean,
                token::T_AVG if g.incremental_mean => g.mean + g.kahan_c,
                token::T_AVG => g.value / g.count + g.kahan_c / g.count,
                token::T_COUNT => g.count,
                _ => g.value,
            };
            (g.labels, value)
        })
        .collect();
    Ok(Val::Vector(out))
}

fn group_labels(labels: &Labels, modifier: Option<&LabelModifier>) -> Labels {
    match modifier {
        None => Labels::default(),
        Some(LabelModifier::Include(by)) => labels.filtered(|n| by.labels.iter().any(|b| b == n)),
        Some(LabelModifier::Exclude(without)) => {
            labels.filtered(|n| n != METRIC_NAME && !without.labels.iter().any(|w| w == n))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::kahan_inc;

    #[test]
    fn kahan_neumaier_keeps_small_terms() {
        // 1 + 1e100 + 1 - 1e100 is 2 exactly with compensation, 0 naively.
        let (mut s, mut c) = (0.0, 0.0);
        for x in [1.0, 1e100, 1.0, -1e100] {
            (s, c) = kahan_inc(x, s, c);
        }
        assert_eq!(s + c, 2.0);
    }
}
