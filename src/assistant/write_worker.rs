//! The write path: every turn's user and assistant messages go to Zep from background workers,
//! never on the answer's critical path.
//!
//! - **Bounded queues**, one per worker; a thread always hashes to the same worker, so its
//!   messages are written in order. A full queue skips the write (`reason="queue_full"`).
//! - **Lanes**: a worker writes up to [`WriteConfig::concurrency`] threads at once, one write in
//!   flight per thread, so a slow or retrying thread does not hold up the others and a thread's
//!   writes still land in the order they were submitted.
//! - **Retries** on 5xx, 429, timeouts and connection errors, with exponential backoff and jitter;
//!   a `Retry-After` is honoured exactly and its seconds are added to
//!   `memory_zep_retry_after_seconds_total`.
//! - **Idempotency**: a dedupe record of `(thread, client_msg_id)` skips a repeated turn
//!   (`reason="duplicate"`); the `Idempotency-Key` header carries `{thread}:{client_msg_id}` on
//!   every attempt;
//!   and before retrying a write whose outcome is unknown (timeout, reset, 5xx) the worker asks Zep
//!   whether the message already landed (Zep v3 has no server-side idempotency).
//! - **Breaker**: while it is open, writes are skipped (`reason="circuit_open"`).
//!
//! Not for: redaction (done before submitting, see [`super::pii`]) or choosing the mode.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use rand::Rng;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::breaker::{Breaker, BreakerState, CallResult};
use super::metrics::Metrics;
use super::mode::ModeController;
use super::zep_client::{FailureClass, OutMessage, ZepClient};

/// Write worker settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteConfig {
    /// Workers (and queues). A thread always goes to the same one.
    pub workers: usize,
    /// Capacity of each worker's queue.
    pub queue_capacity: usize,
    /// Threads each worker writes at once (one write in flight per thread).
    pub concurrency: usize,
    /// Attempts per logical write, the first included.
    pub max_attempts: u32,
    /// First backoff; doubled per attempt, with jitter between 50% and 100%.
    pub backoff_base: Duration,
    /// Longest backoff (not applied to `Retry-After`).
    pub backoff_cap: Duration,
    /// Timeout of one HTTP attempt.
    pub attempt_timeout: Duration,
    /// `(thread, client_msg_id)` pairs remembered for deduplication.
    pub dedupe_capacity: usize,
    /// Whether the dedupe record is used (a regression can turn it off).
    pub idempotency: bool,
    /// Delay added before each attempt (a regression's slower write path).
    pub extra_latency: Duration,
    /// Whether a `Retry-After` is waited out (a regression can ignore it: plain backoff instead).
    pub honour_retry_after: bool,
}

impl Default for WriteConfig {
    fn default() -> Self {
        WriteConfig {
            workers: 4,
            queue_capacity: 1024,
            concurrency: 32,
            max_attempts: 4,
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(2),
            dedupe_capacity: 200_000,
            idempotency: true,
            extra_latency: Duration::ZERO,
            honour_retry_after: true,
        }
    }
}

/// One logical write: a turn's messages, already redacted.
#[derive(Debug, Clone)]
pub struct WriteJob {
    /// Zep thread id.
    pub thread_id: String,
    /// Zep user id.
    pub user_id: String,
    /// The client's id of the turn.
    pub client_msg_id: String,
    /// User message then assistant message.
    pub messages: Vec<OutMessage>,
}

/// What the last finished write of a thread looked like (for the per-turn log line).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LastWrite {
    /// Milliseconds of the last attempt.
    pub write_ms: Option<u64>,
    /// Seconds of `Retry-After` waited for that write.
    pub retry_after_s: f64,
}

/// Whether a write was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// A worker will write it.
    Queued,
    /// Not written, for this reason (a `memory_zep_write_skipped_total` label).
    Skipped(&'static str),
}

/// Remembers recent `(thread, client_msg_id)` pairs, oldest forgotten first.
#[derive(Debug, Default)]
struct Dedupe {
    seen: HashSet<(String, String)>,
    order: VecDeque<(String, String)>,
}

impl Dedupe {
    fn insert(&mut self, key: (String, String), capacity: usize) -> bool {
        if self.seen.contains(&key) {
            return false;
        }
        while self.order.len() >= capacity.max(1) {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.order.push_back(key.clone());
        self.seen.insert(key);
        true
    }

    fn remove(&mut self, key: &(String, String)) {
        if self.seen.remove(key) {
            self.order.retain(|k| k != key);
        }
    }
}

struct Shared {
    client: ZepClient,
    breaker: Arc<Breaker>,
    mode: Arc<ModeController>,
    metrics: Metrics,
    config: WriteConfig,
    dedupe: Mutex<Dedupe>,
    known_threads: Mutex<HashSet<String>>,
    last: Mutex<HashMap<String, LastWrite>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The write path's handle: submit jobs; [`WritePath::shutdown`] drains the queues.
pub struct WritePath {
    /// Emptied at shutdown, which closes the queues.
    senders: RwLock<Vec<mpsc::Sender<WriteJob>>>,
    shared: Arc<Shared>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl WritePath {
    /// Starts the workers.
    pub fn start(
        client: ZepClient,
        breaker: Arc<Breaker>,
        mode: Arc<ModeController>,
        metrics: Metrics,
        config: WriteConfig,
    ) -> WritePath {
        let shared = Arc::new(Shared {
            client,
            breaker,
            mode,
            metrics,
            dedupe: Mutex::new(Dedupe::default()),
            known_threads: Mutex::new(HashSet::new()),
            last: Mutex::new(HashMap::new()),
            config,
        });
        let mut senders = Vec::new();
        let mut workers = Vec::new();
        for _ in 0..shared.config.workers.max(1) {
            let (tx, rx) = mpsc::channel::<WriteJob>(shared.config.queue_capacity.max(1));
            workers.push(tokio::spawn(run_worker(Arc::clone(&shared), rx)));
            senders.push(tx);
        }
        WritePath {
            senders: RwLock::new(senders),
            shared,
            workers: Mutex::new(workers),
        }
    }

    /// Counts a requested write that is skipped before reaching the queue (for example `mode_off`).
    pub fn skip(&self, reason: &'static str) -> Submitted {
        self.shared.metrics.write_requests.inc();
        self.shared
            .metrics
            .write_skipped
            .with_label_values(&[reason])
            .inc();
        Submitted::Skipped(reason)
    }

    /// Queues a write, unless it is a duplicate, the breaker is open or the queue is full.
    pub fn submit(&self, job: WriteJob) -> Submitted {
        let shared = &self.shared;
        if shared.breaker.state() == BreakerState::Open {
            return self.skip("circuit_open");
        }
        let key = (job.thread_id.clone(), job.client_msg_id.clone());
        if shared.config.idempotency
            && !lock(&shared.dedupe).insert(key.clone(), shared.config.dedupe_capacity)
        {
            return self.skip("duplicate");
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        job.thread_id.hash(&mut hasher);
        let senders = self
            .senders
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let index = (hasher.finish() % senders.len().max(1) as u64) as usize;
        let sent = match senders.get(index) {
            Some(sender) => sender.try_send(job).is_ok(),
            None => false,
        };
        drop(senders);
        if sent {
            shared.metrics.write_requests.inc();
            Submitted::Queued
        } else {
            lock(&shared.dedupe).remove(&key);
            self.skip("queue_full")
        }
    }

    /// The thread's last finished write.
    pub fn last_write(&self, thread_id: &str) -> LastWrite {
        lock(&self.shared.last)
            .get(thread_id)
            .copied()
            .unwrap_or_default()
    }

    /// Stops accepting writes and lets the workers finish their queues, up to `grace`; whatever
    /// is still running after that is cancelled.
    pub async fn shutdown(&self, grace: Duration) {
        self.senders
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
        let workers = std::mem::take(&mut *lock(&self.workers));
        let deadline = tokio::time::Instant::now() + grace;
        for mut worker in workers {
            if tokio::time::timeout_at(deadline, &mut worker)
                .await
                .is_err()
            {
                worker.abort();
            }
        }
    }
}

/// One worker: takes jobs from its queue and writes up to `concurrency` threads at once. Jobs of a
/// thread that is being written wait in its lane and go one after the other, in submission order.
/// Returns when the queue is closed and every job taken from it is finished.
async fn run_worker(shared: Arc<Shared>, mut queue: mpsc::Receiver<WriteJob>) {
    let limit = shared.config.concurrency.max(1);
    // Threads being written, each with the jobs waiting behind its write in flight.
    let mut lanes: HashMap<String, VecDeque<WriteJob>> = HashMap::new();
    let mut in_flight = FuturesUnordered::new();
    // Jobs taken from the queue and not finished yet (in flight or waiting in a lane).
    let mut held = 0usize;
    let mut open = true;
    loop {
        tokio::select! {
            job = queue.recv(), if open && held < limit => match job {
                Some(job) => {
                    held += 1;
                    match lanes.get_mut(&job.thread_id) {
                        Some(waiting) => waiting.push_back(job),
                        None => {
                            lanes.insert(job.thread_id.clone(), VecDeque::new());
                            in_flight.push(write_in_lane(Arc::clone(&shared), job));
                        }
                    }
                }
                None => open = false,
            },
            Some(thread) = in_flight.next(), if !in_flight.is_empty() => {
                held -= 1;
                match lanes.get_mut(&thread).and_then(VecDeque::pop_front) {
                    Some(next) => in_flight.push(write_in_lane(Arc::clone(&shared), next)),
                    None => {
                        lanes.remove(&thread);
                    }
                }
            },
            else => break,
        }
    }
}

/// Writes one job and gives back its thread, so the worker can start that thread's next job.
async fn write_in_lane(shared: Arc<Shared>, job: WriteJob) -> String {
    let thread = job.thread_id.clone();
    write_one(&shared, job).await;
    thread
}

fn backoff(config: &WriteConfig, attempt: u32) -> Duration {
    let exp = config
        .backoff_base
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
    let capped = exp.min(config.backoff_cap);
    capped.mul_f64(rand::rng().random_range(0.5..=1.0))
}

/// Writes one job with retries; every outcome is counted.
async fn write_one(shared: &Shared, job: WriteJob) {
    let metrics = &shared.metrics;
    let key = (job.thread_id.clone(), job.client_msg_id.clone());
    // One key per logical write, the same on every attempt; client_msg_id is unique per thread.
    let idempotency_key = format!("{}:{}", job.thread_id, job.client_msg_id);
    let last_id = job
        .messages
        .last()
        .map(|m| m.message_id.clone())
        .unwrap_or_default();
    let mut retry_after_total = 0.0;
    let mut unsure = false;
    for attempt in 1..=shared.config.max_attempts.max(1) {
        if !shared.breaker.allow() {
            metrics
                .write_skipped
                .with_label_values(&["circuit_open"])
                .inc();
            lock(&shared.dedupe).remove(&key);
            return;
        }
        if unsure && shared.config.idempotency {
            // The previous attempt may have been stored: ask before writing again.
            if let Ok(true) = shared
                .client
                .has_message(&job.thread_id, &last_id, 20)
                .await
            {
                shared.breaker.record(CallResult::Success);
                return;
            }
        }
        if !shared.config.extra_latency.is_zero() {
            tokio::time::sleep(shared.config.extra_latency).await;
        }
        let known = lock(&shared.known_threads).contains(&job.thread_id);
        let prepared = if known {
            Ok(())
        } else {
            shared
                .client
                .ensure_thread(&job.thread_id, &job.user_id)
                .await
        };
        metrics.write_attempts.inc();
        let started = Instant::now();
        let result = match prepared {
            Ok(()) => {
                if !known {
                    let mut threads = lock(&shared.known_threads);
                    if threads.len() >= shared.config.dedupe_capacity.max(1) {
                        threads.clear();
                    }
                    threads.insert(job.thread_id.clone());
                }
                shared
                    .client
                    .add_messages(&job.thread_id, &job.messages, &idempotency_key)
                    .await
            }
            Err(err) => Err(err),
        };
        let took = started.elapsed();
        metrics.write_latency.observe(took.as_secs_f64());
        let err = match result {
            Ok(()) => {
                shared.breaker.record(CallResult::Success);
                shared.mode.record_authorised();
                record_last(shared, &job.thread_id, took, retry_after_total);
                return;
            }
            Err(err) => err,
        };
        let class = err.class();
        shared.breaker.record(class.breaker_result());
        if class == FailureClass::Auth {
            shared.mode.record_auth_failure();
        } else {
            shared.mode.record_authorised();
        }
        if !class.retryable() || attempt == shared.config.max_attempts.max(1) {
            metrics.write_failures.inc();
            lock(&shared.dedupe).remove(&key);
            record_last(shared, &job.thread_id, took, retry_after_total);
            tracing::warn!(thread = %job.thread_id, attempts = attempt, error = %err, "zep write failed");
            return;
        }
        unsure = class.ambiguous();
        let retry_after = err
            .retry_after()
            .filter(|_| shared.config.honour_retry_after);
        let wait = match retry_after {
            Some(wait) => {
                metrics.retry_after_seconds.inc_by(wait.as_secs_f64());
                retry_after_total += wait.as_secs_f64();
                wait
            }
            None => backoff(&shared.config, attempt),
        };
        tracing::debug!(thread = %job.thread_id, attempt, ?wait, error = %err, "zep write retry");
        tokio::time::sleep(wait).await;
    }
}

fn record_last(shared: &Shared, thread_id: &str, took: Duration, retry_after_s: f64) {
    let mut last = lock(&shared.last);
    if last.len() >= shared.config.dedupe_capacity.max(1) {
        last.clear();
    }
    last.insert(
        thread_id.to_string(),
        LastWrite {
            write_ms: Some(took.as_millis().try_into().unwrap_or(u64::MAX)),
            retry_after_s,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_refuses_a_repeat_and_forgets_the_oldest() {
        let mut d = Dedupe::default();
        let key = |n: &str| ("t".to_string(), n.to_string());
        assert!(d.insert(key("a"), 2));
        assert!(!d.insert(key("a"), 2));
        assert!(d.insert(key("b"), 2));
        assert!(d.insert(key("c"), 2));
        assert!(d.insert(key("a"), 2), "a was forgotten");
        d.remove(&key("c"));
        assert!(d.insert(key("c"), 2));
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let config = WriteConfig {
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_millis(350),
            ..WriteConfig::default()
        };
        for _ in 0..50 {
            let first = backoff(&config, 1);
            assert!(
                first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
                "{first:?}"
            );
            let third = backoff(&config, 3);
            assert!(
                third >= Duration::from_millis(175) && third <= Duration::from_millis(350),
                "{third:?}"
            );
        }
    }
}
