//! Scraping targets into a [`Store`] the way Prometheus does, for short runs on one machine.
//!
//! For: fetching `/metrics` from one or more targets every `interval` (default 15 s, down to
//! 250 ms) with a timeout, adding `job`/`instance` labels, timestamping samples with the scrape
//! start (explicit timestamps are honoured), recording `up`, `scrape_duration_seconds` and
//! `scrape_samples_scraped`, and writing staleness markers when a series disappears or a target
//! goes down. Unlike Prometheus, a body with malformed lines is not thrown away: the good lines
//! are stored, the bad ones counted in `rollgate_scrape_parse_errors` and kept in the log, so a
//! scrape is never silently dropped.
//!
//! Not for: service discovery, relabelling, TLS client certificates, or long-term operation: past
//! one machine, point rollgate at a real Prometheus ([`crate::prom::api_client`]).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use thiserror::Error;

use crate::prom::exposition::{self, Format, LineError};
use crate::prom::labels::Labels;
use crate::prom::store::{stale_nan, Store};

/// Default scrape interval (Prometheus's default).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
/// Shortest interval allowed.
pub const MIN_INTERVAL: Duration = Duration::from_millis(250);
/// Largest body read from a target.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
const ACCEPT: &str =
    "text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1";

/// Why a scrape, or the scraper's configuration, failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScrapeError {
    /// The configuration is invalid.
    #[error("scrape configuration: {0}")]
    Config(String),
    /// The target URL does not parse or is not http(s).
    #[error("target {url}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No connection or an I/O error while reading.
    #[error("target {url} is unreachable: {reason} (is it running and listening there?)")]
    Unreachable {
        /// The target.
        url: String,
        /// The client's message.
        reason: String,
    },
    /// The scrape took longer than the timeout.
    #[error("target {url} did not answer within {timeout:?} (raise --scrape-timeout or check the target)")]
    Timeout {
        /// The target.
        url: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The target answered with a non-2xx status.
    #[error("target {url} answered HTTP {status}; expected 200 with metrics text")]
    Status {
        /// The target.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The body is larger than [`MAX_BODY_BYTES`].
    #[error("target {url} sent more than {limit} bytes")]
    TooLarge {
        /// The target.
        url: String,
        /// The limit.
        limit: usize,
    },
}

/// The scraper's settings, resolved and validated by [`ScrapeConfig::new`].
#[derive(Debug, Clone)]
pub struct ScrapeConfig {
    targets: Vec<Target>,
    interval: Duration,
    timeout: Duration,
}

/// One target: its URL and the `job`/`instance` labels its samples get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The metrics URL.
    pub url: String,
    /// `job` label.
    pub job: String,
    /// `instance` label (`host:port` of the URL).
    pub instance: String,
    /// More target labels (Prometheus's `static_configs` `labels`), added like `job`.
    pub labels: Vec<(String, String)>,
}

impl ScrapeConfig {
    /// Validates target URLs, the interval (≥ 250 ms) and the timeout (default: the interval,
    /// capped at 10 s; never longer than the interval).
    pub fn new(
        urls: &[String],
        job: &str,
        interval: Duration,
        timeout: Option<Duration>,
    ) -> Result<Self, ScrapeError> {
        if urls.is_empty() {
            return Err(ScrapeError::Config("no targets to scrape".to_string()));
        }
        if interval < MIN_INTERVAL {
            return Err(ScrapeError::Config(format!(
                "interval {interval:?} is shorter than the minimum {MIN_INTERVAL:?}"
            )));
        }
        let timeout = timeout.unwrap_or_else(|| interval.min(Duration::from_secs(10)));
        if timeout > interval || timeout.is_zero() {
            return Err(ScrapeError::Config(format!(
                "timeout {timeout:?} must be positive and not longer than the interval {interval:?}"
            )));
        }
        let targets = urls
            .iter()
            .map(|url| {
                let parsed = reqwest::Url::parse(url).map_err(|e| ScrapeError::BadUrl {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(ScrapeError::BadUrl {
                        url: url.clone(),
                        reason: "only http:// and https:// targets can be scraped".to_string(),
                    });
                }
                let host = parsed.host_str().unwrap_or_default();
                let instance = match parsed.port_or_known_default() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_string(),
                };
                Ok(Target {
                    url: url.clone(),
                    job: job.to_string(),
                    instance,
                    labels: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ScrapeConfig {
            targets,
            interval,
            timeout,
        })
    }

    /// The scrape interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The targets.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// Adds a target label to the `index`th target's samples.
    pub fn with_label(mut self, index: usize, name: &str, value: &str) -> Self {
        if let Some(t) = self.targets.get_mut(index) {
            t.labels.push((name.to_string(), value.to_string()));
        }
        self
    }
}

/// What one scrape of one target gave.
#[derive(Debug, Clone)]
pub struct ScrapeOutcome {
    /// The target URL.
    pub url: String,
    /// Scrape start, ms since the epoch (the timestamp of its samples).
    pub timestamp_ms: i64,
    /// How long the scrape took.
    pub duration: Duration,
    /// Samples parsed from the body.
    pub samples: usize,
    /// Malformed lines (the rest of the body was stored).
    pub line_errors: Vec<LineError>,
    /// Why the scrape failed (then `up` is 0).
    pub error: Option<ScrapeError>,
    /// Samples the store refused (out of order, conflicting duplicates), with the reason.
    pub rejected: Vec<String>,
}

/// Scrapes targets into a store.
#[derive(Debug)]
pub struct Scraper {
    config: ScrapeConfig,
    client: reqwest::Client,
    store: Store,
    /// Series (without explicit timestamps) each target exposed in its last scrape.
    previous: HashMap<String, HashSet<Labels>>,
    log: Vec<ScrapeOutcome>,
}

impl Scraper {
    /// A scraper with an empty store.
    pub fn new(config: ScrapeConfig) -> Result<Self, ScrapeError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("rollgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ScrapeError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Scraper {
            config,
            client,
            store: Store::new(),
            previous: HashMap::new(),
            log: Vec::new(),
        })
    }

    /// Scrapes every target once now (concurrently) and stores the results.
    pub async fn scrape_round(&mut self) -> &[ScrapeOutcome] {
        let now = now_ms();
        let fetches = self
            .config
            .targets
            .iter()
            .map(|t| fetch(&self.client, t, self.config.timeout));
        let bodies = futures::future::join_all(fetches).await;
        let first_new = self.log.len();
        for (target, (result, duration)) in self.config.targets.clone().iter().zip(bodies) {
            let outcome = self.ingest(target, now, duration, result);
            self.log.push(outcome);
        }
        &self.log[first_new..]
    }

    /// Scrapes every `interval` for `duration` (the first round at once, then aligned to the
    /// interval; a round that overruns delays the next one).
    pub async fn run_for(&mut self, duration: Duration) {
        let deadline = Instant::now() + duration;
        let mut ticks = tokio::time::interval(self.config.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if Instant::now() >= deadline {
                break;
            }
            self.scrape_round().await;
        }
    }

    /// The store so far.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Every scrape so far, oldest first.
    pub fn log(&self) -> &[ScrapeOutcome] {
        &self.log
    }

    /// Ends scraping and hands over the store.
    pub fn into_store(self) -> Store {
        self.store
    }

    fn ingest(
        &mut self,
        target: &Target,
        now: i64,
        duration: Duration,
        result: Result<(String, Format), ScrapeError>,
    ) -> ScrapeOutcome {
        let mut outcome = ScrapeOutcome {
            url: target.url.clone(),
            timestamp_ms: now,
            duration,
            samples: 0,
            line_errors: Vec::new(),
            error: None,
            rejected: Vec::new(),
        };
        let mut current: HashSet<Labels> = HashSet::new();
        match result {
            Ok((body, format)) => {
                let parsed = exposition::parse(&body, format);
                outcome.samples = parsed.samples.len();
                outcome.line_errors = parsed.errors;
                for sample in parsed.samples {
                    let labels = target_labels(&sample.labels, target);
                    let t = match sample.timestamp_ms {
                        Some(t) => t,
                        None => {
                            current.insert(labels.clone());
                            now
                        }
                    };
                    if let Err(e) = self.store.append(&labels, t, sample.value) {
                        outcome.rejected.push(e.to_string());
                    }
                }
            }
            Err(e) => outcome.error = Some(e),
        }
        // Staleness: series of the previous scrape that are gone now get a marker.
        let previous = self
            .previous
            .insert(target.url.clone(), current.clone())
            .unwrap_or_default();
        for gone in previous.difference(&current) {
            // A marker that cannot be stored (newer explicit sample) is not worth reporting.
            let _ = self.store.append(gone, now, stale_nan());
        }
        let up = if outcome.error.is_none() { 1.0 } else { 0.0 };
        let reports = [
            ("up", up),
            ("scrape_duration_seconds", duration.as_secs_f64()),
            ("scrape_samples_scraped", outcome.samples as f64),
            (
                "rollgate_scrape_parse_errors",
                outcome.line_errors.len() as f64,
            ),
        ];
        for (name, value) in reports {
            // Like Prometheus, the target's labels (`job`, `instance` and its own) go on these too,
            // so `up{variant="canary"}` says which side a failed scrape was.
            let labels = target_labels(&Labels::from_pairs([("__name__", name)]), target);
            if let Err(e) = self.store.append(&labels, now, value) {
                outcome.rejected.push(e.to_string());
            }
        }
        outcome
    }
}

/// Adds `job`, `instance` and the target's own labels; a label the target already set moves to
/// `exported_<name>` (Prometheus's `honor_labels: false`).
fn target_labels(labels: &Labels, target: &Target) -> Labels {
    let mut out = labels.clone();
    let own = [("job", &target.job), ("instance", &target.instance)]
        .into_iter()
        .chain(target.labels.iter().map(|(n, v)| (n.as_str(), v)));
    for (name, value) in own {
        let existing = out.get(name).to_string();
        if !existing.is_empty() {
            out = out.with(&format!("exported_{name}"), &existing);
        }
        out = out.with(name, value);
    }
    out
}

async fn fetch(
    client: &reqwest::Client,
    target: &Target,
    timeout: Duration,
) -> (Result<(String, Format), ScrapeError>, Duration) {
    let start = Instant::now();
    let result = fetch_body(client, target, timeout).await;
    (result, start.elapsed())
}

async fn fetch_body(
    client: &reqwest::Client,
    target: &Target,
    timeout: Duration,
) -> Result<(String, Format), ScrapeError> {
    let url = target.url.clone();
    let classify = |e: reqwest::Error| {
        if e.is_timeout() {
            ScrapeError::Timeout {
                url: url.clone(),
                timeout,
            }
        } else {
            ScrapeError::Unreachable {
                url: url.clone(),
                reason: error_chain(&e),
            }
        }
    };
    let mut response = client
        .get(&target.url)
        .header(reqwest::header::ACCEPT, ACCEPT)
        .send()
        .await
        .map_err(classify)?;
    if !response.status().is_success() {
        return Err(ScrapeError::Status {
            url: url.clone(),
            status: response.status().as_u16(),
        });
    }
    let format = Format::from_content_type(
        response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    );
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ScrapeError::TooLarge {
                url,
                limit: MAX_BODY_BYTES,
            });
        }
        body.extend_from_slice(&chunk);
    }
    // Invalid UTF-8 becomes U+FFFD; the affected lines then fail to parse and are reported.
    Ok((String::from_utf8_lossy(&body).into_owned(), format))
}

/// The error and its sources, joined with ": ".
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
