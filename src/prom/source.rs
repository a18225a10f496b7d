//! One interface over the three places series come from: a store rollgate filled itself (by
//! scraping, or from fixture files), a run directory saved earlier, and a real Prometheus.
//!
//! For: answering instant and range queries the same way whichever the source, so the analysis
//! layer and `rollgate query` do not care where the numbers come from.
//! Not for: scheduling scrapes ([`crate::prom::scrape`]) or judging results.

use std::path::PathBuf;
use std::str::FromStr;

use thiserror::Error;

use crate::prom::api_client::{ApiClient, ApiError};
use crate::prom::eval::{Engine, EvalError, Evaluated, RangeSeries, Semantics, Value};
use crate::prom::scrape::ScrapeError;
use crate::prom::store::{Store, StoreError};

/// Where to get series, as written on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// `scrape:URL`: scrape a target for a while into a fresh store.
    Scrape(String),
    /// `prometheus:URL`: query a Prometheus-compatible API.
    Prometheus(String),
    /// `run:DIR`: a run directory written by rollgate.
    Run(PathBuf),
    /// `fixture:PATH`: timestamped exposition file(s).
    Fixture(PathBuf),
    /// `live:baseline=URL,canary=URL`: scrape the baseline and canary targets for a while, each
    /// sample labelled with its side (a side may have several targets).
    Live(Vec<(Side, String)>),
}

/// Which side of a canary comparison a live target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The current release.
    Baseline,
    /// The release being rolled out.
    Canary,
}

impl FromStr for SourceSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("source {s:?} must look like KIND:WHERE (scrape:URL, prometheus:URL, run:DIR, fixture:PATH, live:baseline=URL,canary=URL)"))?;
        if rest.is_empty() {
            return Err(format!("source {s:?} names no URL or path after '{kind}:'"));
        }
        match kind {
            "live" => live_targets(s, rest).map(SourceSpec::Live),
            "scrape" => Ok(SourceSpec::Scrape(rest.to_string())),
            "prometheus" => Ok(SourceSpec::Prometheus(rest.to_string())),
            "run" => Ok(SourceSpec::Run(PathBuf::from(rest))),
            "fixture" => Ok(SourceSpec::Fixture(PathBuf::from(rest))),
            other => Err(format!(
                "unknown source kind {other:?} in {s:?}: use scrape:URL, prometheus:URL, run:DIR, fixture:PATH or live:baseline=URL,canary=URL"
            )),
        }
    }
}

/// `baseline=URL,canary=URL[,...]`: at least one target per side.
fn live_targets(spec: &str, list: &str) -> Result<Vec<(Side, String)>, String> {
    let targets = list
        .split(',')
        .map(|item| match item.split_once('=') {
            Some(("baseline", url)) if !url.is_empty() => Ok((Side::Baseline, url.to_string())),
            Some(("canary", url)) if !url.is_empty() => Ok((Side::Canary, url.to_string())),
            _ => Err(format!(
                "{item:?} in {spec:?} must be baseline=URL or canary=URL"
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (i, (_, url)) in targets.iter().enumerate() {
        if targets[..i].iter().any(|(_, u)| u == url) {
            return Err(format!(
                "{url:?} is given twice in {spec:?}: each target is one side, once"
            ));
        }
    }
    for side in [Side::Baseline, Side::Canary] {
        if !targets.iter().any(|(s, _)| *s == side) {
            return Err(format!(
                "{spec:?} names no {} target: give baseline=URL and canary=URL",
                if side == Side::Baseline {
                    "baseline"
                } else {
                    "canary"
                }
            ));
        }
    }
    Ok(targets)
}

/// Why a source could not answer.
#[derive(Debug, Error)]
pub enum SourceError {
    /// rollgate's evaluator refused or failed the query.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// The Prometheus API failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A store could not be loaded.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Scraping could not start.
    #[error(transparent)]
    Scrape(#[from] ScrapeError),
}

/// A source that answers queries.
#[derive(Debug)]
pub enum Source {
    /// rollgate's own store, evaluated in process with the given arithmetic.
    Local {
        /// The samples.
        store: Store,
        /// Which Prometheus version's arithmetic to reproduce.
        semantics: Semantics,
    },
    /// A remote Prometheus-compatible API.
    Remote(ApiClient),
}

impl Source {
    /// An instant query at `time_ms`.
    pub async fn instant(
        &self,
        query: &str,
        time_ms: i64,
    ) -> Result<Evaluated<Value>, SourceError> {
        match self {
            Source::Local { store, semantics } => Ok(Engine::new(store)
                .with_semantics(*semantics)
                .instant(query, time_ms)?),
            Source::Remote(api) => Ok(api.instant(query, time_ms).await?),
        }
    }

    /// A range query.
    pub async fn range(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Evaluated<Vec<RangeSeries>>, SourceError> {
        match self {
            Source::Local { store, semantics } => Ok(Engine::new(store)
                .with_semantics(*semantics)
                .range(query, start_ms, end_ms, step_ms)?),
            Source::Remote(api) => Ok(api.range(query, start_ms, end_ms, step_ms).await?),
        }
    }

    /// The newest sample time of a local store (a sensible default evaluation time).
    pub fn newest_sample_ms(&self) -> Option<i64> {
        match self {
            Source::Local { store, .. } => store.max_timestamp(),
            Source::Remote(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs_and_explains_bad_ones() {
        assert_eq!(
            "scrape:http://127.0.0.1:9/metrics".parse::<SourceSpec>(),
            Ok(SourceSpec::Scrape("http://127.0.0.1:9/metrics".to_string()))
        );
        assert_eq!(
            "run:out/run1".parse::<SourceSpec>(),
            Ok(SourceSpec::Run("out/run1".into()))
        );
        assert_eq!(
            "live:baseline=http://127.0.0.1:1/metrics,canary=http://127.0.0.1:2/metrics"
                .parse::<SourceSpec>(),
            Ok(SourceSpec::Live(vec![
                (Side::Baseline, "http://127.0.0.1:1/metrics".to_string()),
                (Side::Canary, "http://127.0.0.1:2/metrics".to_string())
            ]))
        );
        let err = "live:baseline=http://127.0.0.1:1/metrics"
            .parse::<SourceSpec>()
            .unwrap_err();
        assert!(err.contains("no canary target"), "{err}");
        let err = "live:canary=http://x,base=http://y"
            .parse::<SourceSpec>()
            .unwrap_err();
        assert!(err.contains("\"base=http://y\""), "{err}");
        let err = "live:baseline=http://x/m,canary=http://x/m"
            .parse::<SourceSpec>()
            .unwrap_err();
        assert!(err.contains("given twice"), "{err}");
        assert!("nope"
            .parse::<SourceSpec>()
            .unwrap_err()
            .contains("KIND:WHERE"));
        assert!("ftp:x"
            .parse::<SourceSpec>()
            .unwrap_err()
            .contains("unknown source kind"));
    }
}
