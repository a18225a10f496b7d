//! The open-model pacer on Goose: Goose supplies the users, their HTTP clients and the run loop;
//! rollgate decides *when* each request goes and *what* it is.
//!
//! Every transaction claims the next slot from a shared counter, sleeps until the slot's intended
//! time `t0 + schedule.due(slot)` (an absolute deadline), asks the [`Plan`] for the slot's request
//! (its kind comes from the [`Mix`], by slot number), sends it, and records intended, sent, first-byte
//! and last-byte times in the [`Recorder`]. With enough users in the pool (rate × latency budget),
//! a slow target never delays the schedule; when the pool is exhausted, sends go out late and the
//! send lag shows it, while corrected latency still counts from the intended time.
//!
//! Stopping: Goose's killswitch ends the attack, whoever pulls it: the pacer when the schedule is
//! complete, the error guard when too many requests fail, or Goose's Ctrl-C handler. A slot whose
//! time comes after the killswitch is not sent; requests in flight finish (bounded by their
//! timeout) and are recorded, so an interrupted run keeps everything it measured.
//!
//! Cost per request (the generator must stay cheaper than what it measures): a user waiting for its
//! slot sleeps once, until the slot's deadline, and is woken early only when the attack stops (one
//! watcher task polls Goose's killswitch for all of them); requests, built whole by the plan, go
//! through one shared pooled HTTP/1 client (the [`Sender`]) rather than through
//! `GooseUser::request`, and Goose's own metrics are off (the [`Recorder`] is the only account).
//!
//! Goose's attack state is process-global (its killswitch, its Ctrl-C handler): run one attack at a
//! time per process.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use goose::client::GooseClientBuilder;
use goose::config::GooseConfiguration;
use goose::goose::{GooseUser, Scenario, Transaction, TransactionFunction, TransactionResult};
use goose::GooseAttack;
use thiserror::Error;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::mix::Mix;
use super::recorder::{Recorder, Sample};
use super::schedule::Schedule;
use super::sender::{HttpRequest, Sender};
use super::split::Variant;

/// One slot's request. Built and consumed once per slot, never stored, so the size difference
/// between the variants costs nothing (boxing would add an allocation per request).
#[allow(clippy::large_enum_variant)]
pub enum Request {
    /// An HTTP request, complete (the [`Sender`] adds only a `user-agent` when it has none).
    Http(HttpRequest),
    /// A chat turn over a WebSocket: the URL and the text frame (see [`super::ws`]).
    WebSocket {
        /// `ws://host:port/ws/chat`.
        url: String,
        /// The turn, as JSON text.
        text: String,
    },
}

/// What each slot sends: the scenario side of the pacer.
pub trait Plan: Send + Sync + 'static {
    /// Name of request kind `kind` (for Goose's request names and reports).
    fn kind_name(&self, kind: usize) -> &str;

    /// Builds the request of `slot`, of kind `kind`; says which variant it goes to. An error (a
    /// request that cannot be built) stops the attack with it as the reason.
    fn request(&self, slot: u64, kind: usize) -> Result<(Variant, Request), String>;
}

/// How to run one paced attack.
#[derive(Debug, Clone)]
pub struct Pacing {
    /// When each slot is due.
    pub schedule: Schedule,
    /// Which kind each slot sends.
    pub mix: Mix,
    /// Goose users (concurrent requests at most): rate × latency budget.
    pub users: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// This runner's share of the schedule: slots ≡ `shard.0` mod `shard.1`.
    pub shard: (u64, u64),
    /// Delay between the start of the attack and slot 0, so every user is up before it.
    pub start_delay: Duration,
    /// Stop early when too many requests fail.
    pub error_guard: Option<ErrorGuard>,
    /// Most slots of the schedule sent (all runners together), whatever its length.
    pub max_slots: Option<u64>,
}

/// Stops an attack whose error ratio passes a bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrorGuard {
    /// Largest tolerated share of failed requests.
    pub max_error_ratio: f64,
    /// Requests recorded before the ratio is judged.
    pub min_requests: u64,
    /// Stop when a request goes out this much later than its intended time: the generator has
    /// fallen so far behind that the run no longer measures the target.
    pub max_send_lag: Option<Duration>,
}

/// How an attack ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Every slot of the schedule was sent and answered.
    Complete,
    /// Stopped from outside (Ctrl-C, or Goose's run-time limit) before the schedule ended.
    Interrupted,
    /// Stopped by a guard; the reason says which and why.
    Aborted(String),
}

/// What an attack has measured so far, shared with whoever watches it (a progress bar).
#[derive(Debug, Default)]
pub struct Live {
    recorder: Mutex<Recorder>,
    recorded: AtomicU64,
    errors: AtomicU64,
    abort: Mutex<Option<String>>,
    complete: AtomicBool,
}

impl Live {
    /// A fresh, empty state.
    pub fn new() -> Live {
        Live::default()
    }

    /// Requests recorded so far.
    pub fn recorded(&self) -> u64 {
        self.recorded.load(Ordering::Relaxed)
    }

    /// Failed requests so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Runs `f` on the recorder (holds its lock: keep it short).
    pub fn with_recorder<T>(&self, f: impl FnOnce(&Recorder) -> T) -> T {
        f(&self.recorder.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn abort(&self, reason: String) {
        let mut abort = self.abort.lock().unwrap_or_else(|p| p.into_inner());
        if abort.is_none() {
            *abort = Some(reason);
        }
        goose::trigger_killswitch("rollgate: guard");
    }
}

/// Why an attack could not run (a bad outcome is data in the recorder, not an error).
#[derive(Debug, Error)]
pub enum PacerError {
    /// Goose refused the configuration or failed while running.
    #[error("load generator (goose) failed: {0}")]
    Goose(String),
    /// The shard is not `K/N` with `0 <= K < N`.
    #[error("shard {0}/{1} is invalid: use K/N with 0 <= K < N")]
    BadShard(u64, u64),
    /// The HTTP sender could not be built (its TLS setup failed).
    #[error("cannot build the load generator's HTTP client: {0}")]
    Client(String),
    /// The load's own thread or runtime could not be started, or ended without a result.
    #[error("load generator thread: {0}")]
    Thread(String),
}

/// Shared state of one attack.
struct Pacer {
    plan: Arc<dyn Plan>,
    pacing: Pacing,
    t0: OnceLock<Instant>,
    next: AtomicU64,
    finished: AtomicU64,
    slots: u64,
    live: Arc<Live>,
    done: Notify,
    /// Woken (all waiters at once) when Goose's killswitch is pulled.
    stop: Notify,
    /// What every HTTP request goes through.
    sender: Sender,
}

/// The result of an attack.
#[derive(Debug)]
pub struct Outcome {
    /// Every request's timings.
    pub recorder: Recorder,
    /// Requests sent by this runner.
    pub sent: u64,
    /// Wall time from slot 0 to the last answer.
    pub elapsed: Duration,
    /// Slots this runner was to send.
    pub planned: u64,
    /// How it ended.
    pub ending: Ending,
}

impl Pacer {
    fn slots_for(pacing: &Pacing) -> u64 {
        let (k, n) = pacing.shard;
        let total = pacing
            .schedule
            .total()
            .min(pacing.max_slots.unwrap_or(u64::MAX));
        if k >= total {
            0
        } else {
            (total - k).div_ceil(n)
        }
    }

    async fn transaction(&self) -> TransactionResult {
        let t0 = *self
            .t0
            .get_or_init(|| Instant::now() + self.pacing.start_delay);
        let local = self.next.fetch_add(1, Ordering::Relaxed);
        if local >= self.slots || goose::is_killswitch_triggered() {
            // Schedule exhausted (or stopping): wait until the last request is answered, then
            // pause before returning. Goose calls the transaction again at once, and a
            // transaction that never yields would starve Goose's own task, which must see the
            // killswitch to stop.
            while self.finished.load(Ordering::Acquire) < self.slots
                && !goose::is_killswitch_triggered()
            {
                tokio::select! {
                    _ = self.done.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            return Ok(());
        }
        let (k, n) = self.pacing.shard;
        let slot = k + local * n;
        let due = self.pacing.schedule.due(slot).unwrap_or_default();
        if !self.wait_until(t0 + due).await {
            // Stopping: pause so that Goose's own task gets to see the killswitch (see above).
            tokio::time::sleep(Duration::from_millis(50)).await;
            return Ok(());
        }
        let kind = self.pacing.mix.kind(slot);
        let (variant, request) = match self.plan.request(slot, kind) {
            Ok(built) => built,
            Err(reason) => {
                self.live.abort(format!(
                    "slot {slot}: its request cannot be built: {reason}"
                ));
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Ok(());
            }
        };
        let sent = Instant::now();
        let (first_byte, error) = match request {
            Request::Http(request) => self.sender.send(request).await,
            Request::WebSocket { url, text } => {
                let exchange = super::ws::exchange(&url, &text, self.pacing.timeout).await;
                (exchange.first_token, exchange.error)
            }
        };
        let done = Instant::now();
        let sample = Sample {
            kind,
            variant,
            intended: due,
            sent: sent.saturating_duration_since(t0),
            first_byte: first_byte.map(|at| at.saturating_duration_since(t0)),
            done: done.saturating_duration_since(t0),
            error,
        };
        self.live
            .recorder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(&sample);
        let recorded = self.live.recorded.fetch_add(1, Ordering::Relaxed) + 1;
        let errors = self
            .live
            .errors
            .fetch_add(u64::from(error.is_some()), Ordering::Relaxed)
            + u64::from(error.is_some());
        if let Some(guard) = self.pacing.error_guard {
            let lag = sample.sent.saturating_sub(sample.intended);
            if let Some(bound) = guard.max_send_lag.filter(|bound| lag > *bound) {
                self.live.abort(format!(
                    "slot {slot} went out {:.0} ms late, more than the guard's {:.0} ms: the load generator cannot keep the schedule",
                    lag.as_secs_f64() * 1000.0,
                    bound.as_secs_f64() * 1000.0
                ));
            }
            let ratio = errors as f64 / recorded as f64;
            if recorded >= guard.min_requests && ratio > guard.max_error_ratio {
                self.live.abort(format!(
                    "error ratio {:.1}% after {recorded} requests is above the guard's {:.1}%",
                    100.0 * ratio,
                    100.0 * guard.max_error_ratio
                ));
            }
        }
        if self.finished.fetch_add(1, Ordering::AcqRel) + 1 == self.slots {
            self.live.complete.store(true, Ordering::Release);
            goose::trigger_killswitch("rollgate: schedule complete");
            self.done.notify_waiters();
        }
        Ok(())
    }
}

impl Pacer {
    /// Sleeps until `deadline`; false when the attack is stopping, before or at the deadline.
    async fn wait_until(&self, deadline: Instant) -> bool {
        if Instant::now() < deadline {
            // Register for the stop signal before checking the flag, so a stop between the check
            // and the sleep still wakes this user.
            let stopped = self.stop.notified();
            tokio::pin!(stopped);
            stopped.as_mut().enable();
            if goose::is_killswitch_triggered() {
                return false;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = stopped => return false,
            }
        }
        !goose::is_killswitch_triggered()
    }
}

/// Wakes every waiting user once Goose's killswitch is pulled (Goose offers no notification, so
/// one task polls the flag for all users rather than each user polling it).
async fn wake_on_stop(pacer: Arc<Pacer>) {
    while !goose::is_killswitch_triggered() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pacer.stop.notify_waiters();
}

/// Runs one paced attack against `host` and returns every request's timings.
pub async fn run(host: &str, plan: Arc<dyn Plan>, pacing: Pacing) -> Result<Outcome, PacerError> {
    run_live(host, plan, pacing, Arc::new(Live::new())).await
}

/// [`run`], recording into `live` so that another task can watch the attack as it goes.
///
/// The attack runs on its own thread, on a single-threaded runtime. A request's own work is
/// small, and on a work-stealing runtime much of the load's CPU went to threads waking each
/// other (measured on 2 cores when the change was made, with a switch since removed from
/// `benches/load.rs`: the README has the figures).
///
/// The target under test keeps the other core. More than one core's worth of load is what
/// `--shard K/N` is for: N runners, on one machine or several.
pub async fn run_live(
    host: &str,
    plan: Arc<dyn Plan>,
    pacing: Pacing,
    live: Arc<Live>,
) -> Result<Outcome, PacerError> {
    let host = host.to_string();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("rollgate-load".to_string())
        .spawn(move || {
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| PacerError::Thread(format!("cannot start its runtime: {e}")))
                .and_then(|runtime| runtime.block_on(attack(&host, plan, pacing, live)));
            let _ = tx.send(result);
        })
        .map_err(|e| PacerError::Thread(format!("cannot start: {e}")))?;
    rx.await
        .unwrap_or_else(|_| Err(PacerError::Thread("it ended without a result".to_string())))
}

/// The attack itself, on the current (the load thread's) runtime.
async fn attack(
    host: &str,
    plan: Arc<dyn Plan>,
    pacing: Pacing,
    live: Arc<Live>,
) -> Result<Outcome, PacerError> {
    let (k, n) = pacing.shard;
    if n == 0 || k >= n {
        return Err(PacerError::BadShard(k, n));
    }
    let slots = Pacer::slots_for(&pacing);
    let run_time =
        pacing.start_delay + pacing.schedule.duration() + pacing.timeout + Duration::from_secs(2);
    let users = pacing.users.max(1);
    let sender = Sender::new(users, pacing.timeout).map_err(PacerError::Client)?;
    let pacer = Arc::new(Pacer {
        plan,
        t0: OnceLock::new(),
        next: AtomicU64::new(0),
        finished: AtomicU64::new(0),
        slots,
        live,
        done: Notify::new(),
        stop: Notify::new(),
        sender,
        pacing,
    });
    let for_goose = pacer.clone();
    let function: TransactionFunction = Arc::new(move |_user: &mut GooseUser| {
        let pacer = for_goose.clone();
        Box::pin(async move { pacer.transaction().await })
    });
    let mut config = GooseConfiguration::default();
    config.host = Some(host.to_string());
    config.users = Some(users);
    // Launch every user within about 100 ms: the schedule, not Goose's ramp, sets the load.
    config.increase_rate = Some(format!("{}", users * 10));
    config.run_time = Some(format!("{}s", run_time.as_secs() + 1));
    config.no_telnet = true;
    config.no_print_metrics = true;
    config.no_error_summary = true;
    config.no_reset_metrics = true;
    // The recorder keeps every timing; Goose's per-request metric messages would only cost CPU.
    config.no_metrics = true;
    config.no_transaction_metrics = true;
    config.no_scenario_metrics = true;
    config.quiet = 1;
    config.timeout = Some(format!(
        "{}",
        pacer.pacing.timeout.as_secs_f64().ceil().max(1.0)
    ));
    let scenario = Scenario::new("rollgate paced load")
        .register_transaction(Transaction::new(function).set_name("paced"));
    let started = Instant::now();
    // Goose still builds a client for its users; one shared client, not one per user (each
    // would set up TLS and a cookie jar), though requests go through `pacer.sender`.
    let attack = GooseAttack::initialize_with_config(config)
        .and_then(|a| {
            a.set_client_builder_without_cookies(GooseClientBuilder::new().without_cookies())
        })
        .map_err(|e| PacerError::Goose(e.to_string()))?
        .register_scenario(scenario);
    let watcher = tokio::spawn(wake_on_stop(pacer.clone()));
    let result = {
        let _quiet = super::stdout_guard::StdoutToStderr::new();
        attack.execute().await
    };
    watcher.abort();
    goose::reset_killswitch();
    if let Err(err) = result {
        return Err(PacerError::Goose(err.to_string()));
    }
    let t0 = pacer.t0.get().copied().unwrap_or(started);
    let recorder = pacer.live.with_recorder(Recorder::clone);
    let abort = pacer
        .live
        .abort
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let ending = match abort {
        Some(reason) => Ending::Aborted(reason),
        None if pacer.live.complete.load(Ordering::Acquire) => Ending::Complete,
        None => Ending::Interrupted,
    };
    Ok(Outcome {
        recorder,
        sent: pacer.finished.load(Ordering::Acquire),
        elapsed: Instant::now().saturating_duration_since(t0),
        planned: slots,
        ending,
    })
}
