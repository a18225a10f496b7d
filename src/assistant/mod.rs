//! The reference assistant: a small, honest system under test that implements the seed's memory
//! contract (write every message to Zep, read context within 250 ms, breaker, Retry-After, PII
//! redaction, auth downgrade, per-turn cache) and its metrics, talking to any Zep-compatible URL.
//!
//! It is a test double for the user's Django service: rollgate drives load at it and judges it
//! from its `/metrics`, and a `--regression` file turns it into a bad canary so gates can be shown
//! to fire for the right reason. [`Assistant::start`] runs it in-process (tests, and the gate
//! pipeline running a baseline and a canary side by side on loopback).
//!
//! Layout: [`turn`] is the pipeline, [`routing`] the supervisor and agents, [`brain`] the model
//! time, [`read_path`] and [`write_worker`] the two directions of memory, [`breaker`] and
//! [`mode`] what switches memory down, [`metrics`] and [`turn_log`] what it reports, [`http`] the
//! transports.

pub mod backfill;
pub mod brain;
pub mod breaker;
pub mod http;
pub mod metrics;
pub mod mode;
pub mod pii;
pub mod read_path;
pub mod regression;
pub mod routing;
pub mod turn;
pub mod turn_log;
pub mod write_worker;
pub mod zep_client;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use brain::{Brain, LatencyDist};
use breaker::{Breaker, BreakerConfig};
use metrics::{Metrics, MetricsError};
use mode::{DowngradeConfig, Mode, ModeController};
use read_path::{ReadConfig, ReadPath};
use regression::Regression;
use turn::Engine;
use turn_log::{TurnLog, TurnLogError, TurnLogTarget};
use write_worker::{WriteConfig, WritePath};
use zep_client::{ApiVersion, ZepClient, ZepError};

pub use crate::variant::Variant;

/// A resolved, validated assistant configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (port 0 picks one).
    pub listen: SocketAddr,
    /// Allow a non-loopback `listen`.
    pub allow_remote: bool,
    /// Zep base URL (`http://host:port`; `/api/v2` is added).
    pub zep_url: String,
    /// Zep API key.
    pub zep_key: String,
    /// Zep API version (v3 threads under `/api/v2`, or v4).
    pub zep_api: ApiVersion,
    /// Configured memory mode.
    pub mode: Mode,
    /// `variant` label.
    pub variant: Variant,
    /// Model time per turn.
    pub brain_latency: LatencyDist,
    /// Seed of the brain and of injected errors.
    pub seed: u64,
    /// What makes this assistant a bad canary (default: nothing).
    pub regression: Regression,
    /// Read path settings (the regression's read changes are applied on top).
    pub read: ReadConfig,
    /// Write path settings (the regression's write changes are applied on top).
    pub write: WriteConfig,
    /// Breaker thresholds.
    pub breaker: BreakerConfig,
    /// Auth downgrade thresholds.
    pub downgrade: DowngradeConfig,
    /// Where per-turn log lines go.
    pub turn_log: TurnLogTarget,
    /// How often an unreachable Zep is probed again.
    pub probe_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            allow_remote: false,
            zep_url: "http://127.0.0.1:8600".into(),
            zep_key: "rollgate-dev-key".into(),
            zep_api: ApiVersion::V3,
            mode: Mode::WriteOnly,
            variant: Variant::Baseline,
            brain_latency: LatencyDist::default(),
            seed: 1,
            regression: Regression::default(),
            read: ReadConfig::default(),
            write: WriteConfig::default(),
            breaker: BreakerConfig::default(),
            downgrade: DowngradeConfig::default(),
            turn_log: TurnLogTarget::Stderr,
            probe_interval: Duration::from_secs(5),
        }
    }
}

/// Why the assistant could not start.
#[derive(Debug, Error)]
pub enum AssistantError {
    /// The listening address was refused or could not be bound.
    #[error(transparent)]
    Listen(#[from] crate::net::ListenError),
    /// The bound address could not be read back.
    #[error("cannot read the listening address: {0}")]
    LocalAddr(#[source] std::io::Error),
    /// Metrics could not be registered.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// The per-turn log could not be opened.
    #[error(transparent)]
    TurnLog(#[from] TurnLogError),
    /// The Zep URL is not usable.
    #[error("invalid --zep-url `{url}`: {reason}")]
    ZepUrl {
        /// The URL given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] ZepError),
}

/// A running assistant.
pub struct Assistant {
    addr: SocketAddr,
    engine: Arc<Engine>,
    stop: oneshot::Sender<()>,
    server: JoinHandle<()>,
    prober: Option<JoinHandle<()>>,
}

impl Assistant {
    /// Starts the assistant: binds, probes Zep (an unreachable Zep turns memory off until a probe
    /// succeeds; the assistant still starts), starts the write workers and serves.
    pub async fn start(config: Config) -> Result<Assistant, AssistantError> {
        let url = reqwest::Url::parse(&config.zep_url).map_err(|err| AssistantError::ZepUrl {
            url: config.zep_url.clone(),
            reason: err.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(AssistantError::ZepUrl {
                url: config.zep_url.clone(),
                reason: "use http:// or https://".into(),
            });
        }
        let listener = crate::net::bind(config.listen, config.allow_remote).await?;
        let addr = listener.local_addr().map_err(AssistantError::LocalAddr)?;

        let regression = &config.regression;
        let metrics = Metrics::new(config.variant)?;
        let defects = regression.defects;
        let breaker = Arc::new(
            Breaker::new(
                config.breaker,
                metrics.breaker_state.clone(),
                metrics.breaker_opens.clone(),
            )
            .with_disabled(defects.breaker_disabled),
        );
        let mode = Arc::new(
            ModeController::new(
                config.mode,
                config.downgrade,
                metrics.mode.clone(),
                metrics.downgrades.clone(),
            )
            .with_downgrade_disabled(defects.downgrade_disabled),
        );
        let write_config = WriteConfig {
            idempotency: config.write.idempotency && regression.idempotency,
            extra_latency: config.write.extra_latency + regression.extra_write_latency,
            honour_retry_after: config.write.honour_retry_after && !defects.retry_after_ignored,
            ..config.write.clone()
        };
        let read_config = ReadConfig {
            deadline: regression.read_deadline.unwrap_or(config.read.deadline),
            cache: config.read.cache && regression.cache,
            reads_per_turn: config.read.reads_per_turn.max(regression.reads_per_turn),
            extra_latency: config.read.extra_latency + regression.extra_read_latency,
            enforce_deadline: config.read.enforce_deadline && !defects.read_deadline_off,
            ..config.read.clone()
        };
        let write_client = ZepClient::new(
            &config.zep_url,
            &config.zep_key,
            config.zep_api,
            write_config.attempt_timeout,
        )?;
        // The read deadline is enforced around the whole call; the client timeout is a backstop
        // (without the deadline, a defect, only the write attempt's timeout is left).
        let read_client = if read_config.enforce_deadline {
            write_client.with_timeout(read_config.deadline * 4)?
        } else {
            write_client.with_timeout(write_config.attempt_timeout)?
        };

        let prober = if config.mode == Mode::Off {
            None
        } else {
            match write_client.probe().await {
                Ok(()) => None,
                Err(err) => {
                    tracing::warn!(error = %err, "Zep is unreachable at start-up: memory is off until it answers");
                    mode.set_unreachable(true);
                    Some(tokio::spawn(reprobe(
                        write_client.clone(),
                        Arc::clone(&mode),
                        config.probe_interval,
                    )))
                }
            }
        };

        let write = WritePath::start(
            write_client,
            Arc::clone(&breaker),
            Arc::clone(&mode),
            metrics.clone(),
            write_config,
        );
        let read = ReadPath::new(
            read_client,
            Arc::clone(&breaker),
            Arc::clone(&mode),
            metrics.clone(),
            read_config,
        );
        let engine = Arc::new(Engine::new(
            Brain::new(config.brain_latency, regression.slowdown, config.seed),
            read,
            write,
            mode,
            breaker,
            metrics,
            TurnLog::open(&config.turn_log)?,
            regression.error_rate,
            regression.redaction,
            config.variant.as_str(),
            config.seed,
        ));

        let (stop, stopped) = oneshot::channel::<()>();
        let app = http::router(Arc::clone(&engine));
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(err) = serve.await {
                tracing::error!(error = %err, "assistant server stopped");
            }
        });
        tracing::info!(%addr, variant = config.variant.as_str(), mode = config.mode.as_str(), "assistant listening");
        Ok(Assistant {
            addr,
            engine,
            stop,
            server,
            prober,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL, such as `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The current `/metrics` exposition (the same text the endpoint serves).
    pub fn metrics_text(&self) -> Result<String, MetricsError> {
        let _ = self.engine.mode.effective();
        self.engine.metrics.render()
    }

    /// Stops serving (open WebSocket connections are closed after at most `grace`) and drains
    /// queued writes for up to `grace`.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(());
        if let Some(prober) = self.prober {
            prober.abort();
        }
        let mut server = self.server;
        if tokio::time::timeout(grace, &mut server).await.is_err() {
            server.abort();
        }
        self.engine.write.shutdown(grace).await;
    }
}

async fn reprobe(client: ZepClient, mode: Arc<ModeController>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match client.probe().await {
            Ok(()) => {
                tracing::info!("Zep answers again: memory is back to its configured mode");
                mode.set_unreachable(false);
                return;
            }
            Err(err) => tracing::debug!(error = %err, "Zep still unreachable"),
        }
    }
}
