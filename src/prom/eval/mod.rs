//! PromQL evaluation over a [`Store`], for the subset the seed's queries and the gates need.
//!
//! For: instant queries (one timestamp) and range queries (start, end, step) giving the numbers
//! Prometheus 3 gives on the same samples: left-open windows, 5-minute lookback, staleness
//! markers, `extrapolatedRate`, `BucketQuantile`, Kahan–Neumaier sums, Prometheus's label rules
//! for functions, aggregations and vector matching, and its annotations as [`Warning`]s.
//!
//! Supported: selectors with `=`, `!=`, `=~`, `!~` and `offset`; `rate`, `increase`, `irate`,
//! `histogram_quantile` (classic buckets), `clamp_min`, `abs`, `time`; `sum`/`avg`/`max`/`min`/
//! `count` with `by`/`without`; arithmetic and comparison (with `bool`) between scalars and vectors
//! with `on`/`ignoring`/`group_left`/`group_right`; unary minus; parentheses.
//!
//! Not for: anything else. Other functions, aggregations (`topk`, `quantile`...), set operators,
//! subqueries and `@` get [`EvalError::Unsupported`] naming the feature and its column in the
//! query — never a wrong answer. Native histograms are not stored, so never evaluated.

mod aggregate;
mod binary;
mod functions;
pub mod quantile;
pub mod resolution;
mod selector;

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;

use promql_parser::parser::{self, Expr};
use thiserror::Error;

use crate::prom::labels::Labels;
use crate::prom::store::{Series, Store};

/// Default lookback of instant vector selectors (Prometheus's `--query.lookback-delta`).
pub const DEFAULT_LOOKBACK_MS: i64 = 5 * 60 * 1000;
/// Most points a range query may return per series (Prometheus's limit).
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Why a query could not be evaluated. Every variant names the query.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvalError {
    /// The query does not parse.
    #[error("cannot parse query {query:?}: {message}")]
    Parse {
        /// The query.
        query: String,
        /// The parser's message.
        message: String,
    },
    /// The query uses a feature this evaluator does not implement.
    #[error("query {query:?}: {feature} at column {column} is not supported by rollgate's evaluator (use --source prometheus:URL to evaluate it on a real Prometheus)")]
    Unsupported {
        /// The query.
        query: String,
        /// What is unsupported, e.g. "function label_replace".
        feature: String,
        /// 1-based column of the feature in the query (0 when it cannot be located).
        column: usize,
    },
    /// The query is valid PromQL but failed on this data (as it would in Prometheus).
    #[error("query {query:?}: {message}")]
    Execution {
        /// The query.
        query: String,
        /// What went wrong.
        message: String,
    },
    /// Bad start/end/step of a range query.
    #[error("query {query:?}: {message}")]
    BadRange {
        /// The query.
        query: String,
        /// What is wrong.
        message: String,
    },
}

/// How serious an annotation is (Prometheus's two levels, plus rollgate's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningLevel {
    /// Prometheus "PromQL info" annotation.
    Info,
    /// Prometheus "PromQL warning" annotation.
    Warning,
    /// rollgate: a threshold falls inside a histogram bucket (see [`resolution`]).
    BucketResolution,
}

/// An annotation attached to a result.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Warning {
    /// Its level.
    pub level: WarningLevel,
    /// The message, worded like Prometheus's.
    pub message: String,
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sample {
    /// The series' labels.
    #[serde(serialize_with = "serialize_labels")]
    pub labels: Labels,
    /// The value.
    pub value: f64,
}

/// One series of a range result (or of a range-vector instant result).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RangeSeries {
    /// The series' labels.
    #[serde(serialize_with = "serialize_labels")]
    pub labels: Labels,
    /// `(timestamp_ms, value)` points in time order.
    pub points: Vec<(i64, f64)>,
}

/// The value of an expression.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "type", content = "result", rename_all = "snake_case")]
pub enum Value {
    /// A number.
    Scalar(f64),
    /// An instant vector, sorted by labels.
    Vector(Vec<Sample>),
    /// A range vector (only as the result of an instant query of a range selector).
    Matrix(Vec<RangeSeries>),
}

/// A result and the annotations evaluation produced.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Evaluated<T> {
    /// The result.
    pub value: T,
    /// Annotations, deduplicated, in a stable order.
    pub warnings: Vec<Warning>,
}

fn serialize_labels<S: serde::Serializer>(labels: &Labels, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(labels.len()))?;
    for l in labels.iter() {
        map.serialize_entry(l.name.as_ref(), l.value.as_ref())?;
    }
    map.end()
}

/// Which Prometheus arithmetic to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Semantics {
    /// Prometheus 3.x (the default): left-open windows and lookback, the zero clamp of
    /// `extrapolatedRate` after the average/2 clamp, Kahan–Neumaier `sum`/`avg`,
    /// `almost.Equal` in the monotonicity fix.
    #[default]
    Prometheus3,
    /// Prometheus 2.x up to 2.50 (Debian 12 ships 2.42): closed windows `[t − range, t]`, the zero
    /// clamp before the threshold test, plain `sum`, incremental-mean `avg`, a plain running
    /// maximum as the monotonicity fix. For comparing with such servers.
    Prometheus2,
}

/// Evaluates queries against one store.
#[derive(Debug, Clone, Copy)]
pub struct Engine<'a> {
    store: &'a Store,
    lookback_ms: i64,
    semantics: Semantics,
}

impl<'a> Engine<'a> {
    /// An engine with the default 5-minute lookback.
    pub fn new(store: &'a Store) -> Self {
        Engine {
            store,
            lookback_ms: DEFAULT_LOOKBACK_MS,
            semantics: Semantics::Prometheus3,
        }
    }

    /// Reproduces another Prometheus version's arithmetic.
    pub fn with_semantics(mut self, semantics: Semantics) -> Self {
        self.semantics = semantics;
        self
    }

    /// Changes the lookback of instant vector selectors.
    pub fn with_lookback_ms(mut self, lookback_ms: i64) -> Self {
        self.lookback_ms = lookback_ms;
        self
    }

    /// Evaluates `query` at `time_ms`.
    pub fn instant(&self, query: &str, time_ms: i64) -> Result<Evaluated<Value>, EvalError> {
        let expr = parse(query)?;
        let mut ctx = Ctx::new(self, query, &expr)?;
        let value = ctx.eval(&expr, time_ms)?;
        let value = match value {
            Val::Scalar(v) => Value::Scalar(v),
            Val::Vector(v) => {
                ctx.check_unique(&v)?;
                let mut v: Vec<Sample> = v
                    .into_iter()
                    .map(|(labels, value)| Sample { labels, value })
                    .collect();
                v.sort_by(|a, b| a.labels.cmp(&b.labels));
                Value::Vector(v)
            }
            Val::Matrix(m) => Value::Matrix(
                m.into_iter()
                    .map(|(labels, points)| RangeSeries { labels, points })
                    .collect(),
            ),
            Val::String => return Err(ctx.unsupported("string result", "\"")),
        };
        Ok(Evaluated {
            value,
            warnings: ctx.finish_warnings(),
        })
    }

    /// Evaluates `query` at every `step_ms` from `start_ms` to `end_ms` inclusive. Scalars become a
    /// series with no labels. Series are sorted by labels.
    pub fn range(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Evaluated<Vec<RangeSeries>>, EvalError> {
        let bad = |message: String| EvalError::BadRange {
            query: query.to_string(),
            message,
        };
        if step_ms <= 0 {
            return Err(bad(format!("step must be positive, got {step_ms} ms")));
        }
        if end_ms < start_ms {
            return Err(bad(
                "end timestamp must not be before start time".to_string()
            ));
        }
        if (end_ms - start_ms) / step_ms >= MAX_POINTS_PER_SERIES {
            return Err(bad(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
                    .to_string(),
            ));
        }
        let expr = parse(query)?;
        let mut ctx = Ctx::new(self, query, &expr)?;
        let mut out: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
        let mut t = start_ms;
        while t <= end_ms {
            match ctx.eval(&expr, t)? {
                Val::Scalar(v) => out.entry(Labels::default()).or_default().push((t, v)),
                Val::Vector(v) => {
                    ctx.check_unique(&v)?;
                    for (labels, value) in v {
                        out.entry(labels).or_default().push((t, value));
                    }
                }
                Val::Matrix(_) | Val::String => {
                    return Err(bad(
                        "invalid expression type for range query, must be scalar or instant vector"
                            .to_string(),
                    ))
                }
            }
            t += step_ms;
        }
        Ok(Evaluated {
            value: out
                .into_iter()
                .map(|(labels, points)| RangeSeries { labels, points })
                .collect(),
            warnings: ctx.finish_warnings(),
        })
    }
}

fn parse(query: &str) -> Result<Expr, EvalError> {
    parser::parse(query).map_err(|message| EvalError::Parse {
        query: query.to_string(),
        message,
    })
}

/// Internal values: vectors are `(labels, value)` pairs in evaluation order.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Scalar(f64),
    Vector(Vec<(Labels, f64)>),
    Matrix(Vec<(Labels, Vec<(i64, f64)>)>),
    String,
}

/// Per-query state: the query text (for errors), resolved selectors, collected warnings.
pub(crate) struct Ctx<'a> {
    query: String,
    lookback_ms: i64,
    semantics: Semantics,
    /// Series of each selector, keyed by the selector node's address (the AST outlives the Ctx).
    selections: HashMap<usize, Vec<&'a Series>>,
    warnings: Vec<Warning>,
    /// Bucket bounds seen by each `histogram_quantile` call node, for resolution warnings.
    quantile_bounds: HashMap<usize, Vec<f64>>,
    /// Each series' labels without the metric name, computed once per query (range queries
    /// would otherwise rebuild them at every step).
    name_dropped: HashMap<usize, Labels>,
    /// Aggregation group keys by (aggregation node, input label set allocation). The input label
    /// set is kept alive in the value, so its allocation id cannot be reused while cached.
    group_keys: HashMap<(usize, usize), (Labels, Labels)>,
}

impl<'a> Ctx<'a> {
    fn new(engine: &Engine<'a>, query: &str, expr: &Expr) -> Result<Self, EvalError> {
        let mut ctx = Ctx {
            query: query.to_string(),
            lookback_ms: engine.lookback_ms,
            semantics: engine.semantics,
            selections: HashMap::default(),
            warnings: Vec::new(),
            quantile_bounds: HashMap::default(),
            name_dropped: HashMap::default(),
            group_keys: HashMap::default(),
        };
        ctx.prepare(engine.store, expr)?;
        Ok(ctx)
    }

    /// Walks the AST once: rejects unsupported features before any work, resolves selectors.
    fn prepare(&mut self, store: &'a Store, expr: &Expr) -> Result<(), EvalError> {
        match expr {
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
            Expr::Paren(p) => self.prepare(store, &p.expr),
            Expr::Unary(u) => self.prepare(store, &u.expr),
            Expr::VectorSelector(vs) => {
                if vs.at.is_some() {
                    return Err(self.unsupported("the @ modifier", "@"));
                }
                let series = selector::select(store, vs);
                self.selections.insert(vs as *const _ as usize, series);
                Ok(())
            }
            Expr::MatrixSelector(ms) => {
                if ms.vs.at.is_some() {
                    return Err(self.unsupported("the @ modifier", "@"));
                }
                let series = selector::select(store, &ms.vs);
                self.selections.insert(&ms.vs as *const _ as usize, series);
                Ok(())
            }
            Expr::Call(call) => {
                if !functions::is_supported(call.func.name) {
                    return Err(
                        self.unsupported(&format!("function {}", call.func.name), call.func.name)
                    );
                }
                for arg in &call.args.args {
                    self.prepare(store, arg)?;
                }
                Ok(())
            }
            Expr::Aggregate(agg) => {
                let name = agg.op.to_string();
                if !aggregate::is_supported(agg.op.id()) {
                    return Err(self.unsupported(&format!("aggregation {name}"), &name));
                }
                self.prepare(store, &agg.expr)
            }
            Expr::Binary(b) => {
                if b.op.is_set_operator() {
                    let name = b.op.to_string();
                    return Err(self.unsupported(&format!("set operator {name}"), &name));
                }
                if b.op.id() == parser::token::T_ATAN2 {
                    return Err(self.unsupported("operator atan2", "atan2"));
                }
                if b.modifier
                    .as_ref()
                    .is_some_and(|m| m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some())
                {
                    return Err(self.unsupported("fill modifier", "fill"));
                }
                self.prepare(store, &b.lhs)?;
                self.prepare(store, &b.rhs)
            }
            Expr::Subquery(_) => Err(self.unsupported("subquery", ":")),
            Expr::Extension(_) => Err(self.unsupported("extension expression", "")),
        }
    }

    /// An `Unsupported` error, locating `token` in the query (first occurrence as a word).
    pub(crate) fn unsupported(&self, feature: &str, token: &str) -> EvalError {
        EvalError::Unsupported {
            query: self.query.clone(),
            feature: feature.to_string(),
            column: locate(&self.query, token),
        }
    }

    pub(crate) fn execution(&self, message: String) -> EvalError {
        EvalError::Execution {
            query: self.query.clone(),
            message,
        }
    }

    pub(crate) fn warn(&mut self, level: WarningLevel, message: String) {
        let w = Warning { level, message };
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    fn finish_warnings(&mut self) -> Vec<Warning> {
        let mut w = std::mem::take(&mut self.warnings);
        w.sort();
        w
    }

    /// Prometheus refuses a vector with two equal label sets (e.g. `rate({__name__=~"a|b"}[1m])`).
    fn check_unique(&self, v: &[(Labels, f64)]) -> Result<(), EvalError> {
        if v.len() < 2 {
            return Ok(());
        }
        let mut seen: Vec<&Labels> = v.iter().map(|(l, _)| l).collect();
        seen.sort();
        for pair in seen.windows(2) {
            if pair[0] == pair[1] {
                return Err(self.execution(
                    "vector cannot contain metrics with the same labelset".to_string(),
                ));
            }
        }
        Ok(())
    }

    /// The exclusive lower end of a window that ends at `end` and spans `range_ms`: Prometheus 3
    /// windows are left-open, Prometheus 2 windows include their start.
    pub(crate) fn window_start(&self, end: i64, range_ms: i64) -> i64 {
        match self.semantics {
            Semantics::Prometheus3 => end - range_ms,
            Semantics::Prometheus2 => end - range_ms - 1,
        }
    }

    /// `series.labels().without_name()`, memoised for the query.
    pub(crate) fn without_name(&mut self, series: &Series) -> Labels {
        self.name_dropped
            .entry(series as *const Series as usize)
            .or_insert_with(|| series.labels().without_name())
            .clone()
    }

    /// `compute(labels)` memoised per (node, label set allocation).
    pub(crate) fn memo_key(
        &mut self,
        node: usize,
        labels: &Labels,
        compute: impl FnOnce(&Labels) -> Labels,
    ) -> Labels {
        // Inputs built afresh at every step (e.g. binary-operator results) never hit; bound the
        // memory they can pin.
        if self.group_keys.len() > 100_000 {
            self.group_keys.clear();
        }
        let entry = self
            .group_keys
            .entry((node, labels.allocation_id()))
            .or_insert_with(|| (labels.clone(), compute(labels)));
        entry.1.clone()
    }

    pub(crate) fn selection(&self, vs: &parser::VectorSelector) -> &[&'a Series] {
        self.selections
            .get(&(vs as *const _ as usize))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub(crate) fn eval(&mut self, expr: &Expr, t: i64) -> Result<Val, EvalError> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(n.val)),
            Expr::StringLiteral(_) => Ok(Val::String),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => {
                match self.eval(&u.expr, t)? {
                    Val::Scalar(v) => Ok(Val::Scalar(-v)),
                    Val::Vector(v) => Ok(Val::Vector(
                        v.into_iter().map(|(l, x)| (l.without_name(), -x)).collect(),
                    )),
                    _ => Err(self
                        .execution("unary minus needs a scalar or an instant vector".to_string())),
                }
            }
            Expr::VectorSelector(vs) => Ok(Val::Vector(selector::instant(self, vs, t))),
            Expr::MatrixSelector(ms) => Ok(Val::Matrix(selector::range(self, ms, t))),
            Expr::Call(call) => functions::call(self, call, t),
            Expr::Aggregate(agg) => aggregate::aggregate(self, agg, t),
            Expr::Binary(b) => binary::binary(self, b, t),
            Expr::Subquery(_) => Err(self.unsupported("subquery", ":")),
            Expr::Extension(_) => Err(self.unsupported("extension expression", "")),
        }
    }
}

/// 1-based column of the first occurrence of `token` in `query` as a whole word (0 if absent).
fn locate(query: &str, token: &str) -> usize {
    if token.is_empty() {
        return 0;
    }
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let is_word_token = token.chars().all(word);
    let mut from = 0;
    while let Some(pos) = query[from..].find(token) {
        let start = from + pos;
        let end = start + token.len();
        let before_ok = !is_word_token || !query[..start].chars().next_back().is_some_and(word);
        let after_ok = !is_word_token || !query[end..].chars().next().is_some_and(word);
        if before_ok && after_ok {
            return query[..start].chars().count() + 1;
        }
        from = end;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::locate;

    #[test]
    fn locates_whole_words() {
        assert_eq!(locate("sum(x_delta) + delta(y[5m])", "delta"), 16);
        assert_eq!(locate("a and b", "and"), 3);
        assert_eq!(locate("x", "y"), 0);
    }
}
