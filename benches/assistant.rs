//! Capacity of the reference assistant against the fake Zep, all in one process on this machine.
//!
//! For the brain latency `0` and the default (lognormal, median 120 ms), it prints:
//! - the closed-loop capacity (a fixed number of clients sending back to back),
//! - whether a paced 2,000 chat req/s (20x the seed's 100 req/s) is sustained, with 10% of turns
//!   reading context from Zep (each thread gets 10 turns within the 30 s cache TTL, so one turn in
//!   ten misses the cache and reads), and the latency quantiles and error counts of that run;
//! - for each phase, how the memory writes kept up: the writes Zep stored (counted by the fake
//!   Zep), the writes per second, and how long the queues took to drain after the last turn.
//!
//! Run: `cargo bench --bench assistant` (options: `-- --duration 10s --rate 2000`). Everything is
//! bounded: each phase runs for a fixed time and sends a fixed number of requests.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rollgate::assistant::brain::LatencyDist;
use rollgate::assistant::mode::Mode;
use rollgate::assistant::turn_log::TurnLogTarget;
use rollgate::assistant::{Assistant, Config};
use rollgate::fake_zep::FakeZep;
use tokio::sync::Semaphore;

/// Turns per thread (one context read per thread: 10% reads).
const TURNS_PER_THREAD: u64 = 10;
/// Most requests in flight in the paced run.
const MAX_IN_FLIGHT: usize = 4096;

struct Options {
    duration: Duration,
    rate: u64,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        duration: Duration::from_secs(10),
        rate: 2000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--duration" => {
                let value = args.next().ok_or("--duration needs a value")?;
                options.duration =
                    humantime::parse_duration(&value).map_err(|e| format!("--duration: {e}"))?;
            }
            "--rate" => {
                let value = args.next().ok_or("--rate needs a value")?;
                options.rate = value.parse().map_err(|e| format!("--rate: {e}"))?;
            }
            // cargo bench passes --bench; ignore it and any filter.
            _ => {}
        }
    }
    Ok(options)
}

/// Latencies and counts of one phase.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    latencies_us: std::sync::Mutex<Vec<u64>>,
}

impl Tally {
    fn record(&self, ok: bool, took: Duration) {
        if ok {
            self.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        let mut latencies = self.latencies_us.lock().unwrap_or_else(|p| p.into_inner());
        latencies.push(took.as_micros().try_into().unwrap_or(u64::MAX));
    }

    fn quantile_ms(&self, q: f64) -> f64 {
        let mut latencies = self
            .latencies_us
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if latencies.is_empty() {
            return f64::NAN;
        }
        latencies.sort_unstable();
        let index = ((latencies.len() - 1) as f64 * q).round() as usize;
        latencies[index] as f64 / 1000.0
    }
}

fn body(thread: u64, n: u64) -> String {
    format!(
        r#"{{"thread_id":"bench-{thread}","user_id":"u{thread}","message":"2BR in Girne under 150k","client_msg_id":"c{n}"}}"#
    )
}

async fn one(client: &reqwest::Client, url: &str, body: String) -> bool {
    match client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
        Err(_) => false,
    }
}

/// Closed loop: `clients` tasks send back to back for `duration`, over `threads` conversation
/// threads; returns completed req/s and failures.
async fn capacity(
    client: &reqwest::Client,
    url: &str,
    clients: u64,
    threads: u64,
    duration: Duration,
) -> (f64, u64) {
    let counter = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url) = (client.clone(), url.to_string());
        let (counter, failed) = (counter.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            while started.elapsed() < duration {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                if !one(&client, &url, body(n % threads.max(1), n)).await {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let sent = counter.load(Ordering::Relaxed);
    (
        sent as f64 / started.elapsed().as_secs_f64(),
        failed.load(Ordering::Relaxed),
    )
}

/// What a paced run measured.
struct Paced {
    tally: Arc<Tally>,
    /// Answers per second over the send window.
    answered: f64,
    /// Requests not sent because [`MAX_IN_FLIGHT`] were in flight.
    dropped: u64,
    /// How long sending took (the schedule says `duration`).
    send_time: Duration,
}

/// Open loop: `rate` req/s for `duration`, paced in 5 ms ticks, at most [`MAX_IN_FLIGHT`] in
/// flight. Thread ids do not overlap those of the capacity phase.
async fn paced(client: &reqwest::Client, url: &str, rate: u64, duration: Duration) -> Paced {
    let tally = Arc::new(Tally::default());
    let gate = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let total = rate * duration.as_millis() as u64 / 1000;
    let threads = (total / TURNS_PER_THREAD).max(1);
    let offset = 1_000_000_000;
    let started = Instant::now();
    let mut dropped = 0;
    let mut tasks = Vec::with_capacity(total as usize);
    let mut ticker = tokio::time::interval(Duration::from_millis(5));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = 0;
    while sent < total {
        ticker.tick().await;
        let due = (rate as f64 * started.elapsed().as_secs_f64()).ceil() as u64;
        while sent < due.min(total) {
            let n = sent;
            sent += 1;
            let Ok(permit) = gate.clone().try_acquire_owned() else {
                dropped += 1;
                continue;
            };
            let (client, url, tally) = (client.clone(), url.to_string(), tally.clone());
            tasks.push(tokio::spawn(async move {
                let t = Instant::now();
                let ok = one(&client, &url, body(offset + n % threads, offset + n)).await;
                tally.record(ok, t.elapsed());
                drop(permit);
            }));
        }
    }
    let send_time = started.elapsed();
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
    }
    let answered = tally.ok.load(Ordering::Relaxed) as f64 / send_time.as_secs_f64();
    Paced {
        tally,
        answered,
        dropped,
        send_time,
    }
}

/// Counters read from the assistant's exposition.
#[derive(Clone, Copy)]
struct Counts {
    turns: f64,
    reads: f64,
    write_requests: f64,
    write_attempts: f64,
    write_failures: f64,
    queue_full: f64,
    circuit_open: f64,
    duplicate: f64,
    mode_off: f64,
}

impl Counts {
    /// Logical writes that were queued and have not finished (stored or failed) yet, given how
    /// many message writes Zep has stored so far.
    fn unfinished(&self, stored: f64) -> f64 {
        self.write_requests
            - self.queue_full
            - self.circuit_open
            - self.duplicate
            - self.mode_off
            - self.write_failures
            - stored
    }

    fn of(assistant: &Assistant) -> Result<Counts, String> {
        let text = assistant.metrics_text().map_err(|e| e.to_string())?;
        Ok(Counts {
            turns: series(&text, "assistant_requests_total"),
            reads: series(&text, "memory_zep_read_latency_seconds_count"),
            write_requests: series(&text, "memory_zep_write_requests_total"),
            write_attempts: series(&text, "memory_zep_write_attempts_total"),
            write_failures: series(&text, "memory_zep_write_failures_total"),
            queue_full: series(
                &text,
                "memory_zep_write_skipped_total{reason=\"queue_full\"",
            ),
            circuit_open: series(
                &text,
                "memory_zep_write_skipped_total{reason=\"circuit_open\"",
            ),
            duplicate: series(&text, "memory_zep_write_skipped_total{reason=\"duplicate\""),
            mode_off: series(&text, "memory_zep_write_skipped_total{reason=\"mode_off\""),
        })
    }

    fn since(&self, before: &Counts) -> Counts {
        Counts {
            turns: self.turns - before.turns,
            reads: self.reads - before.reads,
            write_requests: self.write_requests - before.write_requests,
            write_attempts: self.write_attempts - before.write_attempts,
            write_failures: self.write_failures - before.write_failures,
            queue_full: self.queue_full - before.queue_full,
            circuit_open: self.circuit_open - before.circuit_open,
            duplicate: self.duplicate - before.duplicate,
            mode_off: self.mode_off - before.mode_off,
        }
    }

    fn print(&self) {
        println!(
            "    {:.0} turns, {:.1}% read Zep context; writes: {:.0} requested, {:.0} attempts, \
             {:.0} failed, skipped {:.0} queue_full + {:.0} circuit_open + {:.0} duplicate",
            self.turns,
            100.0 * self.reads / self.turns.max(1.0),
            self.write_requests,
            self.write_attempts,
            self.write_failures,
            self.queue_full,
            self.circuit_open,
            self.duplicate
        );
    }
}

/// Message writes the fake Zep answered with 200 (stored), from its own `/metrics`.
async fn stored_writes(client: &reqwest::Client, zep: &FakeZep) -> Result<f64, String> {
    let text = client
        .get(format!("{}/metrics", zep.url()))
        .send()
        .await
        .map_err(|e| format!("fake Zep /metrics: {e}"))?
        .text()
        .await
        .map_err(|e| format!("fake Zep /metrics: {e}"))?;
    Ok(series(
        &text,
        "fake_zep_requests_total{route=\"POST /api/v2/threads/{id}/messages\",status=\"200\"",
    ))
}

/// How the write path kept up with one phase.
struct Drain {
    /// Writes stored by Zep during the phase.
    stored: f64,
    /// Time from the last turn sent until every queued write finished (or the bound passed).
    drain: Duration,
    /// Queued writes still unfinished when the bound passed.
    left: f64,
}

/// Waits (at most 60 s) until every write queued so far has finished; `stored_before` is the
/// stored count when the phase started.
async fn drain(
    client: &reqwest::Client,
    zep: &FakeZep,
    assistant: &Assistant,
    stored_before: f64,
) -> Result<Drain, String> {
    let started = Instant::now();
    loop {
        let counts = Counts::of(assistant)?;
        let stored = stored_writes(client, zep).await?;
        let left = counts.unfinished(stored);
        if left <= 0.0 || started.elapsed() > Duration::from_secs(60) {
            return Ok(Drain {
                stored: stored - stored_before,
                drain: started.elapsed(),
                left: left.max(0.0),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drain {
    fn print(&self, sending: Duration) {
        println!(
            "    writes stored by Zep: {:.0}, {:.0}/s over the phase; queues drained {:.2} s after the \
             last turn{}",
            self.stored,
            self.stored / (sending + self.drain).as_secs_f64(),
            self.drain.as_secs_f64(),
            if self.left > 0.0 {
                format!(", {:.0} STILL QUEUED after 60 s", self.left)
            } else {
                String::new()
            }
        );
    }
}

fn series(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(name) && !line.starts_with('#'))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn run(options: &Options) -> Result<bool, String> {
    let mut all_ok = true;
    // Thread pools sized so that each thread gets about 10 turns in the capacity phase.
    let setups = [
        ("brain 0", "0", 64, 2000),
        (
            "brain default (lognormal:120ms:0.4)",
            "lognormal:120ms:0.4",
            512,
            1000,
        ),
    ];
    for (label, brain, clients, threads) in setups {
        let zep_config = rollgate::fake_zep::Config {
            journal_size: 1000,
            ..Default::default()
        };
        let zep = FakeZep::start(zep_config)
            .await
            .map_err(|e| e.to_string())?;
        let config = Config {
            zep_url: zep.url(),
            mode: Mode::ReadWrite,
            brain_latency: brain.parse::<LatencyDist>().map_err(|e| e.to_string())?,
            turn_log: TurnLogTarget::Off,
            ..Config::default()
        };
        let assistant = Assistant::start(config).await.map_err(|e| e.to_string())?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(MAX_IN_FLIGHT)
            .build()
            .map_err(|e| e.to_string())?;
        let url = format!("{}/api/chat", assistant.url());

        println!("== {label}");
        let before = Counts::of(&assistant)?;
        let stored_before = stored_writes(&client, &zep).await?;
        let (cap, cap_failed) =
            capacity(&client, &url, clients, threads, Duration::from_secs(5)).await;
        let cap_drain = drain(&client, &zep, &assistant, stored_before).await?;
        let after_capacity = Counts::of(&assistant)?;
        println!(
            "  capacity (closed loop, {clients} clients, 5 s): {cap:.0} req/s, {cap_failed} failed"
        );
        after_capacity.since(&before).print();
        cap_drain.print(Duration::from_secs(5));

        let stored_before = stored_writes(&client, &zep).await?;
        let run = paced(&client, &url, options.rate, options.duration).await;
        let paced_drain = drain(&client, &zep, &assistant, stored_before).await?;
        let after_paced = Counts::of(&assistant)?;
        let failed = run.tally.failed.load(Ordering::Relaxed);
        let p99 = run.tally.quantile_ms(0.99);
        // Sustained: every request sent on schedule, every answer a success, no queueing collapse,
        // and the memory writes kept up: none skipped for a full queue, queues empty within 2 s.
        let on_schedule = run.send_time.as_secs_f64() <= options.duration.as_secs_f64() * 1.02;
        let paced_counts = after_paced.since(&after_capacity);
        let writes_kept_up = paced_counts.queue_full == 0.0
            && paced_drain.left == 0.0
            && paced_drain.drain <= Duration::from_secs(2);
        let sustained =
            on_schedule && failed == 0 && run.dropped == 0 && p99 < 1000.0 && writes_kept_up;
        all_ok &= sustained;
        println!(
            "  paced {} req/s for {}: sent in {:.2} s, {:.0} req/s answered, {} failed, {} not sent, \
             p50 {:.1} ms, p99 {:.1} ms -> {}",
            options.rate,
            humantime::format_duration(options.duration),
            run.send_time.as_secs_f64(),
            run.answered,
            failed,
            run.dropped,
            run.tally.quantile_ms(0.5),
            p99,
            if sustained { "SUSTAINED" } else { "NOT SUSTAINED" }
        );
        paced_counts.print();
        paced_drain.print(run.send_time);
        assistant.shutdown(Duration::from_secs(5)).await;
        zep.shutdown().await;
    }
    Ok(all_ok)
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(err) => {
            eprintln!("bench: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bench: cannot start the runtime: {err}");
            return ExitCode::from(2);
        }
    };
    println!(
        "reference assistant vs fake Zep, one process, {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    match runtime.block_on(run(&options)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            eprintln!("bench: {err}");
            ExitCode::from(2)
        }
    }
}
