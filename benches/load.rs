//! The load generator side by side with stock Goose's throttle and with wrk/oha, against one
//! target: a `rollgate fake-zep` in its own process on loopback (so the generator's CPU time is
//! this process's alone), serving context reads of one thread. Rates are counted by the server
//! (the fake Zep's `fake_zep_requests_total`), not by the generator.
//!
//! Prints, for 100 and 2,000 req/s, the achieved rate of rollgate's open-model pacer and of
//! Goose's `--throttle-requests` (and their error against the target); the CPU seconds per 1,000
//! requests paced at 2,000 req/s of rollgate and of `oha -q 2000` when installed; then the
//! closed-loop ceiling and CPU per 1,000 requests of rollgate, of a bare Goose loop (metrics on and
//! off), of a plain reqwest loop without Goose (what reqwest alone costs) and of
//! oha/wrk when installed, with ratios.
//!
//! Run: `cargo bench --bench load` (`-- --duration 10s` to change each run's length, `--only
//! rates|paced|closed` for one part; 3 runs per setting, median [min..max]). Every load is bounded in time and goes to 127.0.0.1 only.

use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::config::GooseConfiguration;
use goose::prelude::*;
use rollgate::fake_zep::DEFAULT_API_KEY;
use rollgate::load::mix::Mix;
use rollgate::load::pacer::{self, Pacing, Plan, Request};
use rollgate::load::schedule::Schedule;
use rollgate::load::split::Variant;

const THREAD: &str = "bench-thread";
const RUNS: usize = 3;

fn context_path() -> String {
    format!("/api/v2/threads/{THREAD}/context")
}

/// A fake Zep in a child process; its URL is its first stdout line.
struct Target {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Target {
    async fn start() -> Result<Target, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rollgate"))
            .args([
                "fake-zep",
                "--listen",
                "127.0.0.1:0",
                "--for",
                "30m",
                "--journal-size",
                "1000",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start rollgate fake-zep: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let url = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
                .map(|_| line)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?
        .trim()
        .to_string();
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        let auth = format!("Api-Key {DEFAULT_API_KEY}");
        for (path, body) in [
            ("/api/v2/users", serde_json::json!({ "user_id": "bench" })),
            (
                "/api/v2/threads",
                serde_json::json!({ "thread_id": THREAD, "user_id": "bench" }),
            ),
        ] {
            http.post(format!("{url}{path}"))
                .header("authorization", &auth)
                .json(&body)
                .send()
                .await
                .map_err(|e| format!("setting up the fake Zep: {e}"))?;
        }
        Ok(Target { child, url, http })
    }

    /// Requests the server has answered so far.
    async fn served(&self) -> Result<f64, String> {
        let text = self
            .http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with("fake_zep_requests_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User + system CPU seconds of this process (`self`) or of its waited-for children.
fn cpu_seconds(children: bool) -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which is in parentheses and may hold spaces).
    let Some(rest) = stat.rsplit(')').next() else {
        return f64::NAN;
    };
    let fields: Vec<f64> = rest
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // utime, stime, cutime, cstime are fields 14..17 of stat; here 11..14 after the state field.
    let ticks = 100.0;
    let at = |i: usize| fields.get(i).copied().unwrap_or(f64::NAN);
    if children {
        (at(12) + at(13)) / ticks
    } else {
        (at(10) + at(11)) / ticks
    }
}

/// Context reads of the bench thread.
struct Reads {
    url: http::Uri,
    auth: http::HeaderValue,
}

impl Plan for Reads {
    fn kind_name(&self, _kind: usize) -> &str {
        "GET context"
    }

    fn request(&self, _slot: u64, _kind: usize) -> Result<(Variant, Request), String> {
        let mut request = http::Request::get(self.url.clone())
            .body(Default::default())
            .map_err(|e| e.to_string())?;
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, self.auth.clone());
        Ok((Variant::Baseline, Request::Http(request)))
    }
}

/// One measurement: requests the server counted, per second of the run, and CPU per 1,000.
#[derive(Clone, Copy)]
struct Measure {
    rate: f64,
    cpu_per_1000: f64,
}

async fn rollgate_run(
    target: &Target,
    rate: f64,
    duration: Duration,
    users: usize,
) -> Result<Measure, String> {
    let before = target.served().await?;
    let cpu = cpu_seconds(false);
    let url = format!("{}{}", target.url, context_path());
    let plan = Arc::new(Reads {
        url: url.parse().map_err(|e| format!("{url}: {e}"))?,
        auth: http::HeaderValue::from_str(&format!("Api-Key {DEFAULT_API_KEY}"))
            .map_err(|e| e.to_string())?,
    });
    let pacing = Pacing {
        schedule: Schedule::constant(rate, duration).map_err(|e| e.to_string())?,
        mix: Mix::new(&[1], 0).map_err(|e| e.to_string())?,
        users,
        timeout: Duration::from_secs(1),
        shard: (0, 1),
        start_delay: Duration::from_millis(300),
        error_guard: None,
        max_slots: None,
    };
    let started = Instant::now();
    let outcome = pacer::run(&target.url, plan, pacing)
        .await
        .map_err(|e| e.to_string())?;
    let wall = started.elapsed().saturating_sub(Duration::from_millis(300));
    let used = cpu_seconds(false) - cpu;
    let served = target.served().await? - before;
    // A paced run is counted over its schedule; a closed loop (a rate nothing can reach), which
    // Goose's run time ends, over the wall time it ran.
    let span = if outcome.sent == outcome.planned {
        duration
    } else {
        wall
    };
    Ok(Measure {
        rate: served / span.as_secs_f64(),
        cpu_per_1000: used / served.max(1.0) * 1000.0,
    })
}

/// Stock Goose: `users` users each looping one GET, capped by `--throttle-requests` when `rate` is
/// given (Goose's own way to ask for a rate), a bare closed loop otherwise; with Goose's metrics on
/// or off (`--no-metrics`), to show what its per-request accounting costs.
async fn goose_run(
    target: &Target,
    rate: Option<usize>,
    users: usize,
    metrics: bool,
    duration: Duration,
) -> Result<Measure, String> {
    let before = target.served().await?;
    let path = context_path();
    let transaction: TransactionFunction = Arc::new(move |user: &mut GooseUser| {
        let path = path.clone();
        Box::pin(async move {
            let request = GooseRequest::builder()
                .path(path.as_str())
                .set_request_builder(
                    user.get_request_builder(&GooseMethod::Get, &path)?
                        .header("authorization", format!("Api-Key {DEFAULT_API_KEY}")),
                )
                .build();
            user.request(request).await?;
            Ok(())
        })
    });
    let mut config = GooseConfiguration::default();
    config.host = Some(target.url.clone());
    config.users = Some(users);
    config.increase_rate = Some("1000".into());
    config.throttle_requests = rate;
    config.run_time = Some(format!("{}s", duration.as_secs()));
    config.no_telnet = true;
    config.no_print_metrics = true;
    config.no_error_summary = true;
    config.no_reset_metrics = true;
    config.no_metrics = !metrics;
    config.quiet = 1;
    let cpu = cpu_seconds(false);
    let started = Instant::now();
    GooseAttack::initialize_with_config(config)
        .map_err(|e| e.to_string())?
        .register_scenario(scenario!("stock").register_transaction(Transaction::new(transaction)))
        .execute()
        .await
        .map_err(|e| e.to_string())?;
    let used = cpu_seconds(false) - cpu;
    let served = target.served().await? - before;
    // A throttled run is counted over its run time; a closed loop over the wall time it ran.
    let span = match rate {
        Some(_) => duration,
        None => started.elapsed(),
    };
    Ok(Measure {
        rate: served / span.as_secs_f64(),
        cpu_per_1000: used / served.max(1.0) * 1000.0,
    })
}

/// No load tool at all: `tasks` tokio tasks looping one GET through a reqwest client set up as
/// the pacer's is. The floor under anything built on reqwest and hyper in this process.
async fn reqwest_run(target: &Target, tasks: usize, duration: Duration) -> Result<Measure, String> {
    let before = target.served().await?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .no_gzip()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(tasks)
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{}{}", target.url, context_path());
    let auth = format!("Api-Key {DEFAULT_API_KEY}");
    let cpu = cpu_seconds(false);
    let started = Instant::now();
    let end = started + duration;
    let workers: Vec<_> = (0..tasks)
        .map(|_| {
            let (client, url, auth) = (client.clone(), url.clone(), auth.clone());
            tokio::spawn(async move {
                while Instant::now() < end {
                    if let Ok(response) =
                        client.get(&url).header("authorization", &auth).send().await
                    {
                        let _ = response.bytes().await;
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.map_err(|e| e.to_string())?;
    }
    let wall = started.elapsed();
    let used = cpu_seconds(false) - cpu;
    let served = target.served().await? - before;
    Ok(Measure {
        rate: served / wall.as_secs_f64(),
        cpu_per_1000: used / served.max(1.0) * 1000.0,
    })
}

/// wrk or oha with 64 connections for `duration`, if installed: a closed loop, or (oha only, with
/// `-q` and latency correction) paced at `rate`. `None` when the tool is not installed.
async fn external_run(
    tool: &str,
    target: &Target,
    duration: Duration,
    rate: Option<usize>,
) -> Result<Option<Measure>, String> {
    let url = format!("{}{}", target.url, context_path());
    let header = format!("Authorization: Api-Key {DEFAULT_API_KEY}");
    let secs = format!("{}s", duration.as_secs());
    let mut args: Vec<String> = match tool {
        "wrk" => vec![
            "-t2".into(),
            "-c64".into(),
            format!("-d{secs}"),
            "-H".into(),
            header,
            url,
        ],
        _ => vec![
            "--no-tui".into(),
            "-z".into(),
            secs,
            "-c".into(),
            "64".into(),
            "-H".into(),
            header,
            url,
        ],
    };
    if let Some(rate) = rate {
        args.extend(["-q".into(), rate.to_string(), "--latency-correction".into()]);
    }
    let before = target.served().await?;
    let cpu = cpu_seconds(true);
    let tool_name = tool.to_string();
    let status = tokio::task::spawn_blocking(move || {
        Command::new(&tool_name)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
    })
    .await
    .map_err(|e| e.to_string())?;
    let Ok(status) = status else {
        return Ok(None);
    };
    if !status.success() {
        return Err(format!("{tool} exited with {status}"));
    }
    let used = cpu_seconds(true) - cpu;
    let served = target.served().await? - before;
    Ok(Some(Measure {
        rate: served / duration.as_secs_f64(),
        cpu_per_1000: used / served.max(1.0) * 1000.0,
    }))
}

fn median(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[xs.len() / 2], xs[0], xs[xs.len() - 1])
}

fn show(label: &str, values: Vec<f64>, unit: &str) -> f64 {
    let (mid, lo, hi) = median(values);
    println!("  {label:<52} {mid:>10.2} {unit} [{lo:.2}..{hi:.2}]");
    mid
}

/// Which parts to run, and how long each run lasts.
struct Options {
    duration: Duration,
    only: Option<String>,
}

async fn run(options: Options) -> Result<(), String> {
    let target = Target::start().await?;
    let duration = options.duration;
    println!(
        "target: rollgate fake-zep (own process) at {}, GET context; {RUNS} runs of {}s each, median [min..max]",
        target.url,
        duration.as_secs()
    );
    let wanted = |part: &str| options.only.as_deref().is_none_or(|only| only == part);
    if wanted("rates") {
        rates(&target, duration).await?;
    }
    if wanted("paced") {
        paced(&target, duration).await?;
    }
    if wanted("closed") {
        closed(&target, duration).await?;
    }
    Ok(())
}

/// Achieved rate at 100 and 2,000 req/s: rollgate's pacer against Goose's throttle.
async fn rates(target: &Target, duration: Duration) -> Result<(), String> {
    for rate in [100usize, 2000] {
        println!("== {rate} req/s (server-counted)");
        let mut ours = Vec::new();
        let mut goose = Vec::new();
        for _ in 0..RUNS {
            ours.push(
                rollgate_run(target, rate as f64, duration, (rate / 10).clamp(8, 256))
                    .await?
                    .rate,
            );
            let users = (rate / 10).clamp(8, 256);
            goose.push(
                goose_run(target, Some(rate), users, true, duration)
                    .await?
                    .rate,
            );
        }
        let r = show("rollgate open-model pacer", ours, "req/s");
        let g = show("goose --throttle-requests", goose, "req/s");
        println!(
            "  error vs target: rollgate {:+.2}%, goose throttle {:+.2}%",
            100.0 * (r / rate as f64 - 1.0),
            100.0 * (g / rate as f64 - 1.0)
        );
    }
    Ok(())
}

/// CPU per 1,000 requests paced at 2,000 req/s: rollgate against `oha -q`. The runs alternate
/// (rollgate, oha, rollgate, ...) so that a slow spell of a shared machine weighs on both, and the
/// ratio is the median of each pair's.
async fn paced(target: &Target, duration: Duration) -> Result<(), String> {
    println!("== paced at 2,000 req/s: CPU per 1,000 requests (server-counted), runs alternating");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        ours.push(rollgate_run(target, 2000.0, duration, 200).await?);
        match external_run("oha", target, duration, Some(2000)).await? {
            Some(m) => theirs.push(m),
            None => break,
        }
    }
    show(
        "rollgate achieved (200 users)",
        ours.iter().map(|m| m.rate).collect(),
        "req/s",
    );
    show(
        "rollgate CPU per 1,000 (200 users)",
        ours.iter().map(|m| m.cpu_per_1000).collect(),
        "s",
    );
    if theirs.is_empty() {
        println!("  oha: not installed, skipped");
        return Ok(());
    }
    show(
        "oha -q 2000 achieved",
        theirs.iter().map(|m| m.rate).collect(),
        "req/s",
    );
    show(
        "oha -q 2000 CPU per 1,000",
        theirs.iter().map(|m| m.cpu_per_1000).collect(),
        "s",
    );
    let ratios = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| a.cpu_per_1000 / b.cpu_per_1000)
        .collect();
    let (ratio, low, high) = median(ratios);
    println!(
        "  ratio: rollgate/oha CPU per request at 2,000 req/s {ratio:.2} [{low:.2}..{high:.2}] (goal <= 1.00)"
    );
    Ok(())
}

async fn closed(target: &Target, duration: Duration) -> Result<(), String> {
    println!("== closed loop (64 in flight), ceiling and CPU per 1,000 requests");
    let mut rows: Vec<(String, f64, f64)> = Vec::new();
    let mut collect = |label: &str, measures: Vec<Measure>| {
        let rate = show(
            &format!("{label} ceiling"),
            measures.iter().map(|m| m.rate).collect(),
            "req/s",
        );
        let cpu = show(
            &format!("{label} CPU per 1,000"),
            measures.iter().map(|m| m.cpu_per_1000).collect(),
            "s",
        );
        rows.push((label.to_string(), rate, cpu));
    };
    let mut ours = Vec::new();
    for _ in 0..RUNS {
        ours.push(rollgate_run(target, 1_000_000.0, duration, 64).await?);
    }
    collect("rollgate", ours);
    for metrics in [true, false] {
        let mut bare = Vec::new();
        for _ in 0..RUNS {
            bare.push(goose_run(target, None, 64, metrics, duration).await?);
        }
        let label = if metrics {
            "bare goose (metrics on)"
        } else {
            "bare goose (--no-metrics)"
        };
        collect(label, bare);
    }
    let mut plain = Vec::new();
    for _ in 0..RUNS {
        plain.push(reqwest_run(target, 64, duration).await?);
    }
    collect("reqwest loop, no goose", plain);
    for tool in ["oha", "wrk"] {
        let mut theirs = Vec::new();
        for _ in 0..RUNS {
            match external_run(tool, target, duration, None).await? {
                Some(m) => theirs.push(m),
                None => break,
            }
        }
        if theirs.is_empty() {
            println!("  {tool}: not installed, skipped");
            continue;
        }
        collect(tool, theirs);
    }
    let (_, our_rate, our_cpu) = rows[0].clone();
    for (label, rate, cpu) in &rows[1..] {
        println!(
            "  ratios: rollgate/{label}: ceiling {:.2}, CPU per request {:.2}",
            our_rate / rate,
            our_cpu / cpu
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let mut options = Options {
        duration: Duration::from_secs(10),
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--duration" => match args.next().map(|v| humantime::parse_duration(&v)) {
                Some(Ok(d)) if d >= Duration::from_secs(1) => options.duration = d,
                _ => {
                    eprintln!("bench: --duration needs a value of at least 1s");
                    return ExitCode::from(2);
                }
            },
            "--only" => match args.next() {
                Some(part) if ["rates", "paced", "closed"].contains(&part.as_str()) => {
                    options.only = Some(part)
                }
                _ => {
                    eprintln!("bench: --only needs one of rates, paced, closed");
                    return ExitCode::from(2);
                }
            },
            // cargo bench passes --bench; anything else is ignored as before.
            _ => {}
        }
    }
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
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench: {err}");
            ExitCode::from(2)
        }
    }
}
