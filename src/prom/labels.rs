//! Label sets: the identity of a series.
//!
//! A [`Labels`] value is an immutable, sorted list of `name="value"` pairs (the metric name is the
//! `__name__` label), cheap to clone and hash. Strings are shared through an [`Interner`] so that a
//! store holding thousands of series with the same label names and values keeps one copy of each.
//! The sort order and comparison match Prometheus's `labels.Compare` (byte-wise, name then value),
//! because aggregation input order affects the last bits of Kahan sums.
//!
//! Not for: label matching (see [`crate::prom::eval`]) or validation of names (see
//! [`crate::prom::exposition`]).

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

/// The reserved label that carries the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One `name="value"` pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    /// Label name.
    pub name: Arc<str>,
    /// Label value (never empty in a stored series: an empty value means "label absent").
    pub value: Arc<str>,
}

/// An immutable, sorted set of labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Labels(Arc<[Label]>);

impl Labels {
    /// Builds a label set from pairs; sorts by name, drops empty values, and keeps the last of
    /// duplicated names (callers that must reject duplicates check before).
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let labels = pairs
            .into_iter()
            .map(|(n, v)| Label {
                name: Arc::from(n.as_ref()),
                value: Arc::from(v.as_ref()),
            })
            .collect();
        Self::from_vec(labels)
    }

    /// Builds a label set from owned labels (sorted here, empty values dropped).
    pub fn from_vec(mut labels: Vec<Label>) -> Self {
        labels.retain(|l| !l.value.is_empty());
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        labels.dedup_by(|later, earlier| {
            if later.name == earlier.name {
                std::mem::swap(later, earlier);
                true
            } else {
                false
            }
        });
        Labels(labels.into())
    }

    /// The labels, sorted by name.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of label `name`, or "" when absent (Prometheus's convention).
    pub fn get(&self, name: &str) -> &str {
        self.0
            .binary_search_by(|l| l.name.as_ref().cmp(name))
            .map(|i| self.0[i].value.as_ref())
            .unwrap_or("")
    }

    /// The metric name, or "" when absent.
    pub fn metric_name(&self) -> &str {
        self.get(METRIC_NAME)
    }

    /// A copy without the metric name.
    pub fn without_name(&self) -> Labels {
        self.filtered(|name| name != METRIC_NAME)
    }

    /// A copy keeping only the labels for which `keep(name)` is true.
    pub fn filtered(&self, mut keep: impl FnMut(&str) -> bool) -> Labels {
        if self.0.iter().all(|l| keep(&l.name)) {
            return self.clone();
        }
        Labels(self.0.iter().filter(|l| keep(&l.name)).cloned().collect())
    }

    /// A copy with `name` set to `value` (removed when `value` is empty).
    pub fn with(&self, name: &str, value: &str) -> Labels {
        let mut labels: Vec<Label> = self
            .0
            .iter()
            .filter(|l| l.name.as_ref() != name)
            .cloned()
            .collect();
        labels.push(Label {
            name: Arc::from(name),
            value: Arc::from(value),
        });
        Labels::from_vec(labels)
    }

    /// Identity of this label set's allocation: equal ids mean the very same set (while both are
    /// alive). Used to memoise per-query work keyed by label sets.
    pub fn allocation_id(&self) -> usize {
        Arc::as_ptr(&self.0) as *const () as usize
    }

    /// Bytes held by this label set's own allocation (not the shared strings).
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Label>() * self.0.len()
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // labels.Compare: pairwise by name, then value; a prefix sorts first.
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            let ord = a.name.cmp(&b.name).then_with(|| a.value.cmp(&b.value));
            if ord.is_ne() {
                return ord;
            }
        }
        self.0.len().cmp(&other.0.len())
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Labels {
    /// Prometheus notation: `name{a="b", c="d"}`, or `{a="b"}` without a name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name();
        write!(f, "{name}")?;
        let rest: Vec<&Label> = self
            .0
            .iter()
            .filter(|l| l.name.as_ref() != METRIC_NAME)
            .collect();
        if rest.is_empty() && !name.is_empty() {
            return Ok(());
        }
        write!(f, "{{")?;
        for (i, l) in rest.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{}=\"{}\"", l.name, escape_value(&l.value))?;
        }
        write!(f, "}}")
    }
}

/// Escapes a label value for the text exposition format (`\\`, `\"`, `\n`).
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Shares equal strings and equal label sets so each is stored once.
#[derive(Debug, Default)]
pub struct Interner {
    strings: HashSet<Arc<str>>,
}

impl Interner {
    /// The shared copy of `s`.
    pub fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(existing) = self.strings.get(s) {
            return existing.clone();
        }
        let shared: Arc<str> = Arc::from(s);
        self.strings.insert(shared.clone());
        shared
    }

    /// `labels` rebuilt from shared strings.
    pub fn intern_labels(&mut self, labels: &Labels) -> Labels {
        Labels(
            labels
                .iter()
                .map(|l| Label {
                    name: self.intern(&l.name),
                    value: self.intern(&l.value),
                })
                .collect(),
        )
    }

    /// Number of distinct strings and their total length in bytes.
    pub fn stats(&self) -> (usize, usize) {
        (
            self.strings.len(),
            self.strings.iter().map(|s| s.len()).sum(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_deduplicated_and_displayed_like_prometheus() {
        let l = Labels::from_pairs([
            ("job", "a"),
            (METRIC_NAME, "up"),
            ("empty", ""),
            ("job", "b"),
        ]);
        assert_eq!(l.to_string(), "up{job=\"b\"}");
        assert_eq!(l.get("missing"), "");
        assert_eq!(
            Labels::from_pairs([("a", "x\"y")]).to_string(),
            "{a=\"x\\\"y\"}"
        );
    }

    #[test]
    fn compare_matches_labels_compare() {
        let a = Labels::from_pairs([("a", "1")]);
        let b = Labels::from_pairs([("a", "1"), ("b", "0")]);
        let c = Labels::from_pairs([("a", "2")]);
        assert!(a < b && b < c);
    }
}
