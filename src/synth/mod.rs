//! Synthetic canary datasets: a baseline and a canary assistant simulated turn by turn from
//! the models in a datasets file (`fixtures/canary/datasets.toml`), scraped every interval into
//! timestamped exposition files, and judged with the seed's gates so each file is known to lead
//! to the verdict its story calls for. `rollgate synth` is the command; the test suite
//! regenerates every file and compares.
//!
//! For: fixtures with a documented origin. Not for: load (see [`crate::load`]) or judging real
//! runs.

pub mod simulate;
pub mod spec;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use simulate::simulate;
pub use spec::{Dataset, Expect};

use crate::analysis::evaluate::{Outcome, Span};
use crate::analysis::gates::{Gates, Phase};
use crate::analysis::verdict::{self, Verdict};
use crate::prom::eval::Semantics;
use crate::prom::source::Source;
use crate::prom::store::{Store, StoreError};

/// Why a dataset could not be produced.
#[derive(Debug, Error)]
pub enum SynthError {
    /// The assistant's metrics could not be set up, rendered or stored.
    #[error("simulating the assistant's metrics: {0}")]
    Metrics(String),
    /// The output could not be written.
    #[error(transparent)]
    Write(#[from] StoreError),
}

/// The file a dataset is written to.
pub fn file_name(dataset: &Dataset) -> String {
    format!("{}.prom.gz", dataset.name)
}

/// Simulates `dataset` and writes it to `dir/<name>.prom.gz`; returns the path and the store.
pub fn write(dataset: &Dataset, dir: &Path) -> Result<(PathBuf, Store), SynthError> {
    let store = simulate(dataset)?;
    let path = dir.join(file_name(dataset));
    store.write_file(&path)?;
    Ok((path, store))
}

/// Judges a simulated dataset with `gates` for `phase`, over all its samples.
pub async fn judge(gates: &Gates, phase: Phase, store: Store) -> Option<Verdict> {
    let span = Span::of_samples(&store, None, 1.0)?;
    let source = Source::Local {
        store,
        semantics: Semantics::Prometheus3,
    };
    Some(verdict::analyze(gates, phase, &source, &span).await)
}

/// How a verdict compares with a dataset's expectation: `None` when it matches, else why not.
pub fn mismatch(dataset: &Dataset, verdict: &Verdict) -> Option<String> {
    let got = verdict.verdict.as_str();
    let wrong = match &dataset.expect {
        Expect::Is(want) if want != got => Some(format!("expected {want}, got {got}")),
        Expect::IsNot(unwanted) if unwanted == got => Some(format!("expected anything but {got}")),
        _ => None,
    };
    let said = |words: &str| {
        verdict.reason.contains(words) || verdict.decided_by.iter().any(|d| d.contains(words))
    };
    wrong
        .or_else(|| {
            dataset
                .decided_by
                .as_deref()
                .filter(|w| !said(w))
                .map(|w| format!("{w:?} is not in the decision"))
        })
        .or_else(|| {
            dataset
                .not_decided_by
                .as_deref()
                .filter(|w| {
                    verdict
                        .checks
                        .iter()
                        .any(|c| c.name.contains(w) && c.outcome == Outcome::Breach)
                })
                .map(|w| format!("{w:?} breached, and must not"))
        })
        .map(|why| format!("{why} ({}: {})", got, verdict.reason))
}
