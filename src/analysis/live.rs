//! The live source: scrape the baseline and canary targets for a while, each sample labelled with
//! its side as the gate file's `[sides]` names it, and save the scrapes to the run directory as
//! they come, so an interrupted analysis leaves what it scraped on disk (`run:DIR` reads it).
//!
//! For: `rollgate analyze --source live:baseline=URL,canary=URL`. Not for: scraping during a load
//! run (see [`crate::load::run`]) or judging (see [`super::verdict`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use thiserror::Error;

use super::gates::Sides;
use crate::prom::scrape::{now_ms, ScrapeConfig, ScrapeError, Scraper};
use crate::prom::source::Side;
use crate::prom::store::{Store, StoreError};

/// How long and how often to scrape.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// How long to scrape.
    pub duration: Duration,
    /// Time between scrape rounds.
    pub interval: Duration,
    /// How often the scrapes so far are saved.
    pub save_every: Duration,
}

/// What a live scrape gathered.
#[derive(Debug)]
pub struct Scraped {
    /// Every sample, both sides.
    pub store: Store,
    /// First and last scrape round, ms since the epoch.
    pub span_ms: (i64, i64),
    /// Scrape rounds done.
    pub rounds: usize,
    /// Failed scrapes per target URL (only targets with failures).
    pub failures: Vec<(String, usize)>,
    /// Stopped early by Ctrl-C.
    pub interrupted: bool,
    /// Where the scrapes were saved.
    pub saved: PathBuf,
}

/// Why a live scrape could not give data to judge.
#[derive(Debug, Error)]
pub enum LiveError {
    /// A target URL or the interval is unusable.
    #[error(transparent)]
    Config(#[from] ScrapeError),
    /// Every scrape of a target failed.
    #[error("live source: every one of {rounds} scrapes of the {side} target {url} failed; the last: {reason}")]
    Unreachable {
        /// Which side.
        side: &'static str,
        /// The target.
        url: String,
        /// Scrape rounds.
        rounds: usize,
        /// The last failure.
        reason: String,
    },
    /// The scrapes could not be saved.
    #[error("saving the live scrapes: {0}")]
    Save(#[from] StoreError),
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Baseline => "baseline",
        Side::Canary => "canary",
    }
}

/// Scrapes `targets` every `options.interval` for `options.duration` (or until Ctrl-C),
/// labelling each target's samples `sides.label = sides.baseline|canary`, and saves the store to
/// `run_dir/prom/samples.v1.prom` every `save_every` and at the end. `progress` gets a line
/// now and then.
pub async fn scrape(
    targets: &[(Side, String)],
    sides: &Sides,
    options: &LiveOptions,
    run_dir: &Path,
    progress: &mut dyn FnMut(String),
) -> Result<Scraped, LiveError> {
    let urls: Vec<String> = targets.iter().map(|(_, url)| url.clone()).collect();
    let mut config = ScrapeConfig::new(&urls, "rollgate-live", options.interval, None)?;
    for (i, (side, _)) in targets.iter().enumerate() {
        let value = match side {
            Side::Baseline => &sides.baseline,
            Side::Canary => &sides.canary,
        };
        config = config.with_label(i, &sides.label, value);
    }
    let mut scraper = Scraper::new(config)?;
    let started = Instant::now();
    let first = now_ms();
    let mut ticks = tokio::time::interval(options.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_save = Instant::now();
    let mut rounds = 0usize;
    let mut interrupted = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    while started.elapsed() < options.duration {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = &mut ctrl_c => {
                interrupted = true;
                progress("interrupted: judging what was scraped so far".to_string());
                break;
            }
        }
        scraper.scrape_round().await;
        rounds += 1;
        if last_save.elapsed() >= options.save_every {
            scraper.store().write_run_dir(run_dir)?;
            last_save = Instant::now();
            progress(format!(
                "scraped {rounds} rounds in {}s of {}s",
                started.elapsed().as_secs(),
                options.duration.as_secs()
            ));
        }
    }
    let last = now_ms();
    let mut failures = Vec::new();
    for (side, url) in targets {
        let tries: Vec<_> = scraper.log().iter().filter(|o| &o.url == url).collect();
        let failed: Vec<_> = tries.iter().filter(|o| o.error.is_some()).collect();
        if !failed.is_empty() && failed.len() == tries.len() {
            let reason = failed
                .last()
                .and_then(|o| o.error.as_ref())
                .map(|e| e.to_string())
                .unwrap_or_default();
            // What was tried is still saved before giving up.
            scraper.store().write_run_dir(run_dir)?;
            return Err(LiveError::Unreachable {
                side: side_name(*side),
                url: url.clone(),
                rounds: tries.len(),
                reason,
            });
        }
        if !failed.is_empty() {
            failures.push((url.clone(), failed.len()));
        }
    }
    let store = scraper.into_store();
    let saved = store.write_run_dir(run_dir)?;
    Ok(Scraped {
        store,
        span_ms: (first, last),
        rounds,
        failures,
        interrupted,
        saved,
    })
}
