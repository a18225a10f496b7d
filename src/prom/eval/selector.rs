//! Vector and matrix selectors: which series match, and which of their samples a query sees.
//!
//! Instant selectors take the newest sample in the left-open lookback window `(t − o − 5m, t − o]`
//! and drop the series when that sample is a staleness marker; range selectors take every sample
//! in `(t − o − range, t − o]` except staleness markers (Prometheus 3 semantics).

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{MatrixSelector, Offset, VectorSelector};

use super::Ctx;
use crate::prom::labels::{Labels, METRIC_NAME};
use crate::prom::store::{is_stale, Series, Store};

/// The series matching a selector, sorted by labels (Prometheus's order).
pub(super) fn select<'a>(store: &'a Store, vs: &VectorSelector) -> Vec<&'a Series> {
    let name_eq = vs.name.clone().or_else(|| {
        vs.matchers
            .matchers
            .iter()
            .find(|m| m.name == METRIC_NAME && matches!(m.op, MatchOp::Equal))
            .map(|m| m.value.clone())
    });
    store
        .series_sorted(name_eq.as_deref())
        .into_iter()
        .filter(|s| matches(s.labels(), vs))
        .collect()
}

fn matches(labels: &Labels, vs: &VectorSelector) -> bool {
    if let Some(name) = &vs.name {
        if labels.metric_name() != name {
            return false;
        }
    }
    let all = |ms: &[Matcher]| ms.iter().all(|m| m.is_match(labels.get(&m.name)));
    if vs.matchers.or_matchers.is_empty() {
        all(&vs.matchers.matchers)
    } else {
        all(&vs.matchers.matchers) && vs.matchers.or_matchers.iter().any(|group| all(group))
    }
}

/// The offset in ms (negative offsets look forward).
pub(super) fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
        None => 0,
    }
}

pub(super) fn instant(ctx: &Ctx<'_>, vs: &VectorSelector, t: i64) -> Vec<(Labels, f64)> {
    let at = t - offset_ms(&vs.offset);
    let mut out = Vec::new();
    for series in ctx.selection(vs) {
        let window = series.window(ctx.window_start(at, ctx.lookback_ms), at);
        if window.is_empty() {
            continue;
        }
        let v = series.value(window.end - 1);
        if !is_stale(v) {
            out.push((series.labels().clone(), v));
        }
    }
    out
}

pub(super) fn range(ctx: &Ctx<'_>, ms: &MatrixSelector, t: i64) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let at = t - offset_ms(&ms.vs.offset);
    let range_ms = ms.range.as_millis() as i64;
    let mut out = Vec::new();
    for series in ctx.selection(&ms.vs) {
        let points: Vec<(i64, f64)> = series
            .window(ctx.window_start(at, range_ms), at)
            .map(|i| (series.timestamp(i), series.value(i)))
            .filter(|&(_, v)| !is_stale(v))
            .collect();
        if !points.is_empty() {
            out.push((series.labels().clone(), points));
        }
    }
    out
}
