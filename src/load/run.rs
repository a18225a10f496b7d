//! One load run, end to end: check the targets, prepare them, scrape their metrics while the
//! paced attack runs, and leave everything in a run directory, even when the run is interrupted or
//! aborted.
//!
//! For: the order of those steps and their failure modes. Not for: pacing (see [`super::pacer`]),
//! what is sent ([`super::plan`]) or the file formats ([`super::manifest`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use thiserror::Error;
use tokio::sync::watch;

use super::manifest::{self, ManifestError, Rate, RunFacts};
use super::pacer::{self, Ending, ErrorGuard, Live, PacerError, Pacing};
use super::plan::{ScenarioPlan, KINDS};
use super::scenario::{Scenario, TargetKind};
use crate::prom::scrape::{ScrapeConfig, ScrapeError, Scraper};
use crate::prom::store::{Store, StoreError};
use crate::run_dir::{RunDir, RunDirError};

/// How to run a scenario, beyond the scenario itself.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where run directories go (`reports/runs` by default).
    pub out_base: PathBuf,
    /// Write into this existing run directory instead of a new one under `out_base` (the gate
    /// keeps smoke, load, verdict and report in one directory).
    pub dir: Option<PathBuf>,
    /// Allow targets outside 127.0.0.0/8 and ::1.
    pub allow_remote: bool,
    /// This runner's share of the schedule: slots ≡ K mod N.
    pub shard: (u64, u64),
    /// When slot 0 is due (shards of one run must agree on it); default: now plus a moment.
    pub start_at: Option<SystemTime>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            out_base: PathBuf::from("reports/runs"),
            dir: None,
            allow_remote: false,
            shard: (0, 1),
            start_at: None,
            progress: false,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The run directory.
    pub dir: PathBuf,
    /// How it ended.
    pub ending: Ending,
    /// Requests planned and sent.
    pub planned: u64,
    /// Requests sent (and answered or failed).
    pub sent: u64,
    /// Failed requests.
    pub errors: u64,
    /// Intended and achieved rates.
    pub rate: Rate,
    /// Whether the send lag stayed within the scenario's bound.
    pub trustworthy: bool,
    /// Scrapes that failed (a target down or not exposing `/metrics`).
    pub failed_scrapes: usize,
}

/// Why a run could not be done (a bad outcome is data in the run directory, not an error).
#[derive(Debug, Error)]
pub enum LoadError {
    /// A target URL is not a URL.
    #[error("target {url}: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A target is not on this machine and `--allow-remote` was not given.
    #[error("refusing to send load to {url}: it is not a loopback address (127.0.0.0/8 or ::1); pass --allow-remote to load a remote target")]
    Remote {
        /// The URL.
        url: String,
    },
    /// The preflight request got no HTTP answer.
    #[error("target {url} is unreachable: {reason}; start it first, or point --target at it")]
    Unreachable {
        /// The URL.
        url: String,
        /// What the connection attempt said.
        reason: String,
    },
    /// Preparing Zep (users and threads) failed.
    #[error("preparing Zep at {url}: {reason}")]
    Setup {
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The shard is not K/N with 0 <= K < N.
    #[error("shard {0}/{1} is invalid: use K/N with 0 <= K < N")]
    BadShard(u64, u64),
    /// The run directory could not be made.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// The run's files could not be written.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The scraper could not be set up.
    #[error("metrics scraping: {0}")]
    Scrape(#[from] ScrapeError),
    /// The scraped samples could not be saved.
    #[error("saving scraped metrics: {0}")]
    Store(#[from] StoreError),
    /// The load generator failed.
    #[error(transparent)]
    Pacer(#[from] PacerError),
}

/// Runs `scenario` and writes its run directory.
pub async fn run(scenario: &Scenario, options: &RunOptions) -> Result<RunSummary, LoadError> {
    let (k, n) = options.shard;
    if n == 0 || k >= n {
        return Err(LoadError::BadShard(k, n));
    }
    let bases: Vec<String> = std::iter::once(&scenario.target.url)
        .chain(scenario.target.canary_url.as_ref())
        .cloned()
        .collect();
    for base in &bases {
        check_url(base, options.allow_remote)?;
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| LoadError::Setup {
            url: scenario.target.url.clone(),
            reason: e.to_string(),
        })?;
    for base in &bases {
        preflight(&client, base).await?;
    }
    let start_at = options
        .start_at
        .unwrap_or_else(|| SystemTime::now() + Duration::from_millis(500));
    let tag = run_tag(scenario, start_at);
    let plan = Arc::new(ScenarioPlan::new(scenario, &tag));
    let schedule = scenario.schedule();
    let total = schedule.total().min(scenario.max_requests);
    if scenario.target.kind == TargetKind::Zep {
        prepare_zep(&client, &plan, total).await?;
    }

    let dir = match &options.dir {
        Some(dir) => RunDir::at(dir.clone())?,
        None => RunDir::create_new(&options.out_base, &scenario.name)?,
    };
    let (stop_scraping, scraping) = match scenario.scrape_interval {
        Some(interval) => {
            let urls: Vec<String> = bases
                .iter()
                .map(|b| format!("{}/metrics", b.trim_end_matches('/')))
                .collect();
            let scraper = Scraper::new(ScrapeConfig::new(&urls, "rollgate-load", interval, None)?)?;
            let (tx, rx) = watch::channel(false);
            (
                Some(tx),
                Some(tokio::spawn(scrape_until(scraper, interval, rx))),
            )
        }
        None => (None, None),
    };

    let start_delay = start_at
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    let pacing = Pacing {
        schedule,
        mix: scenario.mix(),
        users: scenario.users,
        timeout: scenario.timeout,
        shard: options.shard,
        start_delay,
        error_guard: Some(ErrorGuard {
            max_error_ratio: scenario.guards.max_error_ratio,
            min_requests: scenario.guards.min_requests,
            max_send_lag: scenario.guards.abort_send_lag,
        }),
        max_slots: Some(scenario.max_requests),
    };
    let live = Arc::new(Live::new());
    let progress = options
        .progress
        .then(|| tokio::spawn(show_progress(live.clone(), total.div_ceil(n), start_at)));
    let result = pacer::run_live(&scenario.target.url, plan, pacing, live).await;
    if let Some(progress) = progress {
        progress.abort();
    }
    let mut failed_scrapes = 0;
    if let (Some(stop), Some(task)) = (stop_scraping, scraping) {
        let _ = stop.send(true);
        if let Ok((store, failed)) = task.await {
            failed_scrapes = failed;
            store.write_run_dir(dir.path())?;
        }
    }
    let outcome = result?;
    let intended_per_second = per_second(scenario, options.shard);
    let facts = RunFacts {
        scenario,
        kinds: &KINDS,
        recorder: &outcome.recorder,
        ending: &outcome.ending,
        shard: options.shard,
        started: start_at,
        elapsed: outcome.elapsed,
        planned: outcome.planned,
        sent: outcome.sent,
        intended_per_second,
    };
    let (rate, trustworthy) = manifest::write(&dir, &facts)?;
    let errors = outcome
        .recorder
        .keys()
        .filter_map(|(kind, variant)| outcome.recorder.series(kind, variant))
        .map(|s| s.error_count())
        .sum();
    Ok(RunSummary {
        dir: dir.path().to_path_buf(),
        ending: outcome.ending,
        planned: outcome.planned,
        sent: outcome.sent,
        errors,
        rate,
        trustworthy,
        failed_scrapes,
    })
}

/// Refuses anything that is not an http(s) URL on a loopback address, unless remote is allowed.
pub fn check_url(url: &str, allow_remote: bool) -> Result<(), LoadError> {
    let bad = |reason: &str| LoadError::BadUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&format!("not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("only http:// and https:// targets are supported"));
    }
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if !loopback && !allow_remote {
        return Err(LoadError::Remote {
            url: url.to_string(),
        });
    }
    Ok(())
}

/// One request to the target's base URL: any HTTP answer means it is there.
async fn preflight(client: &reqwest::Client, base: &str) -> Result<(), LoadError> {
    client
        .get(base)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| LoadError::Unreachable {
            url: base.to_string(),
            reason: describe(&e),
        })
}

fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}

/// A run's thread-id prefix: the scenario's name and the start time, the same on every shard.
fn run_tag(scenario: &Scenario, start_at: SystemTime) -> String {
    let ms = start_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{}-{}-{ms}", scenario.name, scenario.seed)
}

/// Creates the users and threads the run's messages go to (Zep refuses messages to a thread that
/// does not exist).
async fn prepare_zep(
    client: &reqwest::Client,
    plan: &ScenarioPlan,
    total: u64,
) -> Result<(), LoadError> {
    let turns = plan.threads_of(total);
    let mut users: Vec<(String, String)> = turns
        .iter()
        .map(|t| (plan.base_of(&t.thread).to_string(), t.user.clone()))
        .collect();
    users.sort();
    users.dedup();
    let auth = format!("Api-Key {}", plan.api_key());
    let calls = users
        .into_iter()
        .map(|(base, user)| {
            (
                format!("{base}/api/v2/users"),
                serde_json::json!({ "user_id": user }),
            )
        })
        .collect::<Vec<_>>();
    post_all(client, &auth, calls).await?;
    let calls = turns
        .iter()
        .map(|t| {
            (
                format!("{}/api/v2/threads", plan.base_of(&t.thread)),
                serde_json::json!({ "thread_id": t.thread, "user_id": t.user }),
            )
        })
        .collect::<Vec<_>>();
    post_all(client, &auth, calls).await
}

async fn post_all(
    client: &reqwest::Client,
    auth: &str,
    calls: Vec<(String, serde_json::Value)>,
) -> Result<(), LoadError> {
    let mut answers = futures::stream::iter(calls.into_iter().map(|(url, body)| async move {
        let result = client
            .post(&url)
            .header("authorization", auth)
            .json(&body)
            .send()
            .await;
        (url, result)
    }))
    .buffer_unordered(32);
    while let Some((url, result)) = answers.next().await {
        match result {
            // 400/409: it exists already (a rerun with the same tag); anything else is fatal.
            Ok(r) if r.status().is_success() || matches!(r.status().as_u16(), 400 | 409) => {}
            Ok(r) => {
                return Err(LoadError::Setup {
                    url,
                    reason: format!("answered {}", r.status()),
                })
            }
            Err(e) => {
                return Err(LoadError::Setup {
                    url,
                    reason: describe(&e),
                })
            }
        }
    }
    Ok(())
}

/// Scrapes every `interval` until told to stop, then once more; returns the store and how many
/// scrapes failed.
async fn scrape_until(
    mut scraper: Scraper,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) -> (Store, usize) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => { scraper.scrape_round().await; }
            _ = stop.changed() => break,
        }
    }
    scraper.scrape_round().await;
    let failed = scraper.log().iter().filter(|o| o.error.is_some()).count();
    (scraper.into_store(), failed)
}

/// Slots this shard has due in each second of the schedule.
pub(crate) fn per_second(scenario: &Scenario, (k, n): (u64, u64)) -> Vec<u64> {
    let schedule = scenario.schedule();
    let mut out = vec![0u64; scenario.duration().as_secs() as usize + 1];
    let total = schedule.total().min(scenario.max_requests);
    let mut slot = k;
    while slot < total {
        if let Some(due) = schedule.due(slot) {
            if let Some(cell) = out.get_mut(due.as_secs() as usize) {
                *cell += 1;
            }
        }
        slot += n;
    }
    out
}

/// Elapsed time, requests, achieved rate, p95 so far and errors, twice a second.
async fn show_progress(live: Arc<Live>, planned: u64, start_at: SystemTime) {
    let bar = ProgressBar::new(planned);
    if let Ok(style) =
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} requests {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    let started = Instant::now()
        + start_at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let done = live.recorded();
        let secs = Instant::now()
            .saturating_duration_since(started)
            .as_secs_f64();
        let p95 = live.with_recorder(|r| {
            let mut all = None::<hdrhistogram::Histogram<u64>>;
            for (kind, variant) in r.keys() {
                if let Some(s) = r.series(kind, variant) {
                    match &mut all {
                        None => all = Some(s.ttfb_corrected.clone()),
                        Some(a) => {
                            let _ = a.add(&s.ttfb_corrected);
                        }
                    }
                }
            }
            all.filter(|h| !h.is_empty())
                .map(|h| h.value_at_quantile(0.95) as f64 / 1000.0)
        });
        bar.set_position(done);
        bar.set_message(format!(
            "{:.1} req/s, p95 TTFB {}, {} errors",
            done as f64 / secs.max(1e-3),
            p95.map_or("-".into(), |p| format!("{p:.1} ms")),
            live.errors()
        ));
    }
}

/// The default base for run directories, under the working directory.
pub fn default_out_base() -> &'static Path {
    Path::new("reports/runs")
}
