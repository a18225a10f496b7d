//! The command line: clap derive types only. Values parse into typed fields (durations, socket
//! addresses, paths); the commands in [`crate::commands`] resolve them into configs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// rollgate: load testing and canary analysis that gates each phase of a rollout.
#[derive(Debug, Parser)]
#[command(name = "rollgate", version, about, long_about = None)]
pub struct Cli {
    /// More diagnostics on stderr (-v debug for rollgate, -vv everything). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// rollgate's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Judge one rollout phase end to end: smoke checklist, load, analysis, report; exit code = verdict.
    #[command(after_help = GATE_EXAMPLES)]
    Gate(GateArgs),
    /// Run a fake Zep server that speaks Zep's HTTP API and injects faults.
    #[command(after_help = FAKE_ZEP_EXAMPLES)]
    FakeZep(FakeZepArgs),
    /// Evaluate a PromQL query on scraped targets, a saved run, or a real Prometheus.
    #[command(after_help = QUERY_EXAMPLES)]
    Query(QueryArgs),
    /// Run the seed's smoke checklist (Phase 1 write-only or Phase 2 read-write) as checks.
    Smoke(SmokeArgs),
    /// Run the reference assistant: a chat service with the seed's Zep memory layer and metrics.
    #[command(after_help = ASSISTANT_EXAMPLES)]
    Assistant(Box<AssistantArgs>),
    /// Drive load from a scenario file at an exact arrival rate and write a run directory.
    #[command(after_help = LOAD_EXAMPLES)]
    Load(LoadArgs),
    /// Merge the run directories of the N shards of one load run into one run directory.
    #[command(after_help = MERGE_EXAMPLES)]
    Merge(MergeArgs),
    /// Judge canary against baseline with the rollout plan's gates: PROMOTE, HOLD, DOWNGRADE or ROLLBACK.
    #[command(after_help = ANALYZE_EXAMPLES)]
    Analyze(AnalyzeArgs),
    /// Write the reviewer's report (report.html, summary.md, junit.xml) from a run directory.
    Report(ReportArgs),
    /// Simulate the canary datasets of a datasets file into timestamped scrapes, and judge each.
    #[command(after_help = SYNTH_EXAMPLES)]
    Synth(SynthArgs),
    /// Judge the release against itself (A/A) several times: each gate's false-positive rate.
    #[command(after_help = CALIBRATE_EXAMPLES)]
    Calibrate(CalibrateArgs),
    /// Export a phase's gates as Prometheus alerting rules (the same checks, in production monitoring).
    #[command(after_help = RULES_EXAMPLES)]
    Rules(RulesArgs),
    /// Serve the verdict over HTTP for Argo Rollouts (web metric) and Flagger (webhooks).
    #[command(after_help = SERVE_VERDICT_EXAMPLES)]
    ServeVerdict(ServeVerdictArgs),
}

const ASSISTANT_EXAMPLES: &str = "\
Examples:
  # A baseline in write-only mode against a local fake Zep (first stdout line is the URL):
  rollgate assistant --listen 127.0.0.1:0 --zep-url http://127.0.0.1:8600 --mode write_only

  # A bad canary reading context, slowed down by a regression file, for ten minutes:
  rollgate assistant --variant canary --mode read_write --regression fixtures/regressions/slow-canary.toml --for 10m

  # No model time (capacity runs), per-turn log lines to a file:
  rollgate assistant --brain-latency 0 --turn-log /tmp/turns.jsonl

  # Talk to it:
  curl -d '{\"thread_id\":\"t1\",\"user_id\":\"u1\",\"message\":\"2BR in Girne\",\"client_msg_id\":\"m1\"}' \\
       -H 'content-type: application/json' http://127.0.0.1:8700/api/chat
  curl http://127.0.0.1:8700/metrics";

/// `rollgate assistant [backfill]`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AssistantArgs {
    /// A maintenance job instead of serving.
    #[command(subcommand)]
    pub action: Option<AssistantAction>,
    /// Serving options.
    #[command(flatten)]
    pub serve: AssistantServeArgs,
}

/// Maintenance jobs of the assistant.
#[derive(Debug, Subcommand)]
pub enum AssistantAction {
    /// Replay stored conversation history (JSONL) into Zep, resumable, never writing a message twice.
    #[command(after_help = BACKFILL_EXAMPLES)]
    Backfill(BackfillArgs),
}

const BACKFILL_EXAMPLES: &str = "\
Input: one message per line,
  {\"thread_id\":\"t1\",\"user_id\":\"u1\",\"role\":\"user\",\"content\":\"2BR in Girne\",
   \"created_at\":\"2026-11-01T10:00:00Z\",\"message_id\":\"m1\"}

Examples:
  # What would be written from the last 30 days:
  rollgate assistant backfill --input history.jsonl --since 30d --dry-run

  # Write it; after an interruption or a failure, the same command resumes from the checkpoint:
  rollgate assistant backfill --input history.jsonl --since 30d --zep-url http://127.0.0.1:8600";

/// Options of `rollgate assistant backfill`.
#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// History file: JSONL, one message per line.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Only messages newer than this (for example 30d). Default: all.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub since: Option<Duration>,
    /// Validate and count, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Checkpoint file. Default: the input path with `.checkpoint` appended.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Where Zep is and how to talk to it.
    #[command(flatten)]
    pub zep: ZepArgs,
    /// Attempts per batch, the first included.
    #[arg(long, default_value_t = 5)]
    pub attempts: u32,
    /// Write progress as Prometheus text to FILE after every batch (for node_exporter's textfile
    /// collector: messages written/pending/already done/too old, batches, failed).
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
}

/// How the assistant and its backfill reach Zep.
#[derive(Debug, Args)]
pub struct ZepArgs {
    /// Zep base URL (the v3 threads API is under /api/v2 of it).
    #[arg(
        long,
        env = "ROLLGATE_ZEP_URL",
        default_value = "http://127.0.0.1:8600"
    )]
    pub zep_url: String,
    /// Zep API key, sent as `Authorization: Api-Key <key>`.
    #[arg(
        long,
        env = "ROLLGATE_ZEP_KEY",
        default_value = "rollgate-dev-key",
        hide_env_values = true
    )]
    pub zep_key: String,
    /// Zep API: v3 (threads under /api/v2, app-side dedupe) or v4 (/api/v4, Idempotency-Key).
    #[arg(long, value_enum, default_value_t = crate::assistant::zep_client::ApiVersion::V3)]
    pub zep_api: crate::assistant::zep_client::ApiVersion,
}

/// Options of `rollgate assistant` (serving).
#[derive(Debug, Args)]
pub struct AssistantServeArgs {
    /// Address to listen on. Port 0 picks a free port; the URL is printed on stdout's first line.
    #[arg(long, default_value = "127.0.0.1:8700")]
    pub listen: SocketAddr,
    /// Allow a non-loopback --listen address.
    #[arg(long)]
    pub allow_remote: bool,
    /// Where Zep is and how to talk to it.
    #[command(flatten)]
    pub zep: ZepArgs,
    /// Memory mode: off, write_only (write every message) or read_write (also read context).
    #[arg(long, value_enum, default_value_t = crate::assistant::mode::Mode::WriteOnly)]
    pub mode: crate::assistant::mode::Mode,
    /// Value of the `variant` label on every metric.
    #[arg(long, value_enum, default_value_t = crate::assistant::Variant::Baseline)]
    pub variant: crate::assistant::Variant,
    /// Model time per turn: 0, fixed:80ms, uniform:50ms:200ms or lognormal:MEDIAN:SIGMA.
    #[arg(long, value_name = "DIST", default_value = "lognormal:120ms:0.4")]
    pub brain_latency: crate::assistant::brain::LatencyDist,
    /// Regression file (TOML) that makes this assistant a bad canary; see the README.
    #[arg(long, value_name = "FILE")]
    pub regression: Option<PathBuf>,
    /// Seed of the model-time and injected-error RNGs.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where the per-turn JSON log line goes: stderr, off, or a file path (appended).
    #[arg(long, value_name = "TARGET", default_value = "stderr")]
    pub turn_log: crate::assistant::turn_log::TurnLogTarget,
    /// Total deadline of a context read (connect + headers + body).
    #[arg(long, value_name = "DURATION", default_value = "250ms", value_parser = humantime::parse_duration)]
    pub read_deadline: Duration,
    /// How long a context read is reused for the same thread.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub cache_ttl: Duration,
    /// Consecutive Zep failures (5xx, connection, timeout) that open the breaker.
    #[arg(long, default_value_t = 5)]
    pub breaker_threshold: u32,
    /// How long the breaker stays open before a half-open probe.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub breaker_open_for: Duration,
    /// Consecutive 401/403 answers that downgrade read_write to write_only.
    #[arg(long, default_value_t = 3)]
    pub downgrade_after: u32,
    /// How long an auth downgrade lasts.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub downgrade_for: Duration,
    /// Attempts per message write, the first included.
    #[arg(long, default_value_t = 4)]
    pub write_attempts: u32,
    /// Stop by itself after this long. Default: serve until Ctrl-C.
    #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub run_for: Option<Duration>,
}

const QUERY_EXAMPLES: &str = "\
Sources:
  scrape:URL       scrape the target for --for (every --interval), then evaluate in rollgate
  prometheus:URL   send the query to a Prometheus/Thanos/Mimir query API
  run:DIR          a run directory saved with --save (or by a load run)
  fixture:PATH     timestamped exposition file(s), e.g. fixtures/scrapes/seed-canary.prom

Exit codes: 0 the query returned data, 1 it returned no data (never shown as zero), 2 error.

Examples:
  # Scrape a target for 30 s at 1 s intervals and evaluate the seed's write-failure ratio:
  rollgate query 'rate(memory_zep_write_failures_total[5m]) / rate(memory_zep_write_requests_total[5m])' \\
      --source scrape:http://127.0.0.1:8000/metrics --for 30s --interval 1s --save runs/r1

  # The same query later, on the saved run, as JSON:
  rollgate query 'rate(memory_zep_write_failures_total[5m])' --source run:runs/r1 --json

  # p95 read latency over the last hour from a real Prometheus, one point per minute:
  rollgate query 'histogram_quantile(0.95, sum by (le) (rate(memory_zep_read_latency_seconds_bucket[5m])))' \\
      --source prometheus:http://127.0.0.1:9090 --range 1h --step 1m --bearer-token \"$TOKEN\"

  # The fixture shipped with rollgate, at its last sample:
  rollgate query 'rate(memory_zep_context_failures_total[5m])' --source fixture:fixtures/scrapes/seed-canary.prom";

/// Which Prometheus version's arithmetic rollgate's evaluator reproduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SemanticsArg {
    /// Prometheus 3.x (default).
    Prometheus3,
    /// Prometheus 2.x before 2.51 (e.g. Debian 12's 2.42).
    Prometheus2,
}

/// Options of `rollgate query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The PromQL expression.
    pub query: String,
    /// Where the series come from: scrape:URL, prometheus:URL, run:DIR or fixture:PATH.
    #[arg(long, value_name = "KIND:WHERE", value_parser = clap::value_parser!(crate::prom::source::SourceSpec))]
    pub source: crate::prom::source::SourceSpec,
    /// Evaluation time: RFC 3339 (2026-01-02T03:04:05Z) or Unix seconds. Default: now for
    /// prometheus:, the newest sample otherwise.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Make it a range query over this long, ending at --at (for example 10m, 1h).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub range: Option<Duration>,
    /// Step of a range query.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "1m")]
    pub step: Duration,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// scrape: how long to scrape before evaluating (for example 30s).
    #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub scrape_for: Option<Duration>,
    /// scrape: interval between scrapes (at least 250ms).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "15s")]
    pub interval: Duration,
    /// scrape: timeout of one scrape (default: the interval, at most 10s).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub scrape_timeout: Option<Duration>,
    /// scrape: the `job` label of scraped series.
    #[arg(long, default_value = "rollgate")]
    pub job: String,
    /// scrape: save the scraped series to this run directory.
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
    /// prometheus: bearer token.
    #[arg(long, env = "ROLLGATE_PROMETHEUS_TOKEN", hide_env_values = true)]
    pub bearer_token: Option<String>,
    /// prometheus: basic auth as USER:PASSWORD.
    #[arg(long, value_name = "USER:PASSWORD")]
    pub basic_auth: Option<String>,
    /// prometheus: extra header, 'Name: value' (repeatable), e.g. 'X-Scope-OrgID: team-a'.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// prometheus: request timeout.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "30s")]
    pub timeout: Duration,
    /// Arithmetic of rollgate's evaluator (ignored for prometheus:).
    #[arg(long, value_enum, default_value_t = SemanticsArg::Prometheus3)]
    pub semantics: SemanticsArg,
}

const FAKE_ZEP_EXAMPLES: &str = "\
Examples:
  # Serve on the default loopback port with 5xx and 429 bursts on writes, for ten minutes:
  rollgate fake-zep --faults fixtures/faults/canary-storm.toml --for 10m

  # Any free port (the first stdout line is the URL), no faults:
  rollgate fake-zep --listen 127.0.0.1:0

  # Talk to it:
  curl -H 'Authorization: Api-Key rollgate-dev-key' -H 'content-type: application/json' \\
       -d '{\"thread_id\":\"t1\",\"user_id\":\"u1\"}' http://127.0.0.1:8600/api/v2/threads
  curl http://127.0.0.1:8600/__rollgate/journal";

/// Options of `rollgate fake-zep`.
#[derive(Debug, Args)]
pub struct FakeZepArgs {
    /// Address to listen on. Port 0 picks a free port; the URL is printed on stdout's first line.
    #[arg(long, default_value = "127.0.0.1:8600")]
    pub listen: SocketAddr,
    /// Allow a non-loopback --listen address. Off by default: a fault injector is a test tool.
    #[arg(long)]
    pub allow_remote: bool,
    /// Fault program (TOML) to start with; see fixtures/faults/. Default: no faults.
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,
    /// Stop by itself after this long (for example 90s, 10m). Default: serve until Ctrl-C.
    #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub run_for: Option<Duration>,
    /// API key clients must send as `Authorization: Api-Key <key>` (repeat for several).
    #[arg(
        long = "api-key",
        value_name = "KEY",
        default_value = "rollgate-dev-key"
    )]
    pub api_keys: Vec<String>,
    /// Body of a 401 for a wrong key: `json` (Zep Cloud, {"message": ...}) or `text` (Zep CE).
    #[arg(long, value_enum, default_value_t = crate::fake_zep::AuthBody::Json)]
    pub auth_body: crate::fake_zep::AuthBody,
    /// Longest message content accepted, in characters (Zep: 2500 on the free plan, 14000 paid).
    #[arg(long, default_value_t = 2500)]
    pub max_message_chars: usize,
    /// How many requests the journal keeps (oldest dropped first, and counted).
    #[arg(long, default_value_t = 100_000)]
    pub journal_size: usize,
    /// Seed for fault programs that do not set their own (random rates, latency, garbage bytes).
    #[arg(long)]
    pub seed: Option<u64>,
}

const LOAD_EXAMPLES: &str = "\
Examples:
  # The seed's load target (100 req/s, 10% reads, 10 minutes) against an assistant on 8700:
  rollgate load --scenario scenarios/seed-load.toml

  # 40 s against an embedded fake Zep + baseline + canary, the canary 250 ms slower:
  rollgate load --scenario scenarios/seed-load-short.toml --embedded \\
      --regression fixtures/regressions/ttfb-plus-250ms.toml

  # A baseline and a canary (10% of threads), 20 s at 50 req/s:
  rollgate load --scenario scenarios/seed-load-short.toml --target http://127.0.0.1:8700 \\
      --canary-target http://127.0.0.1:8701 --rate 50 --duration 20s

  # Two machines sharing one schedule (run the same command with --shard 1/2 on the other):
  rollgate load --scenario scenarios/seed-load.toml --shard 0/2 --start-at 2026-12-05T14:00:00Z

The last line on stdout is the run directory (Goose prints a line of its own before it).
Exit status: 0 when the schedule completed, 1 when it was interrupted (Ctrl-C) or aborted by a
guard (the partial run directory is written either way), 2 when the run could not start.";

/// `rollgate load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Scenario file (see scenarios/README.md).
    #[arg(long, value_name = "FILE")]
    pub scenario: PathBuf,
    /// Constant rate (requests/s) instead of the scenario's profile.
    #[arg(long, value_name = "REQ_PER_S")]
    pub rate: Option<f64>,
    /// Duration instead of the scenario's.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Base URL of the target (the baseline, when there is a canary).
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Base URL of the canary; the scenario's canary share of threads goes there.
    #[arg(long, value_name = "URL")]
    pub canary_target: Option<String>,
    /// Zep API key, for scenarios that load Zep directly.
    #[arg(
        long,
        value_name = "KEY",
        env = "ROLLGATE_ZEP_KEY",
        hide_env_values = true
    )]
    pub zep_key: Option<String>,
    /// Where run directories go.
    #[arg(long, value_name = "DIR", default_value = "reports/runs")]
    pub out: PathBuf,
    /// Allow targets outside 127.0.0.0/8 and ::1.
    #[arg(long)]
    pub allow_remote: bool,
    /// This runner's share of a schedule shared by N runners: it sends slots K, K+N, K+2N...
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// When slot 0 is due (RFC 3339); every shard of one run must be given the same time.
    #[arg(long, value_name = "TIME", value_parser = humantime::parse_rfc3339_weak)]
    pub start_at: Option<std::time::SystemTime>,
    /// Run against an embedded system in this process: a fake Zep, a baseline assistant
    /// (write_only) and a canary assistant (read_write), all on 127.0.0.1.
    #[arg(long, conflicts_with_all = ["target", "canary_target"])]
    pub embedded: bool,
    /// With --embedded: a regression file that makes the canary worse (see fixtures/regressions/).
    #[arg(long, value_name = "FILE", requires = "embedded")]
    pub regression: Option<PathBuf>,
}

const MERGE_EXAMPLES: &str = "\
Examples:
  # Two runners shared one schedule (--shard 0/2 and 1/2, the same --start-at):
  rollgate merge runs-a/20261205T140000Z-seed-load runs-b/20261205T140000Z-seed-load

The merged directory has exactly the counts, errors and histograms one runner would have
written; its path is the last line on stdout. Scraped metrics are not merged.";

/// `rollgate merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' run directories.
    #[arg(required = true, value_name = "RUN_DIR")]
    pub dirs: Vec<PathBuf>,
    /// Where the merged run directory goes.
    #[arg(long, value_name = "DIR", default_value = "reports/runs")]
    pub out: PathBuf,
}

const ANALYZE_EXAMPLES: &str = "\
Examples:
  # Judge a load run (its scraped metrics) for the canary phase with the seed's plan:
  rollgate analyze --phase canary --source run:reports/runs/20261205T140000Z-seed-load

  # A 40 s run judged with the plan's windows compressed 1:60 (10m -> 10s):
  rollgate analyze --phase canary --source run:DIR --time-scale 0.0167

  # The last hour of a real Prometheus, canary pods labelled deployment=\"assistant-canary\":
  rollgate analyze --phase canary --gates rollgate.toml --source prometheus:http://127.0.0.1:9090 --range 1h

  # Scrape a running baseline and canary for 45 minutes, then judge (Ctrl-C judges what was scraped):
  rollgate analyze --phase canary --source live:baseline=http://127.0.0.1:8700/metrics,canary=http://127.0.0.1:8701/metrics --for 45m

  # One of the generated canary datasets (see rollgate synth):
  rollgate analyze --phase canary --source fixture:fixtures/canary/breaker-6pct-11m.prom.gz

Exit status (the verdict): 0 PROMOTE, 1 HOLD, 2 ERROR (bad gate file, unreachable source, a
query that cannot be evaluated), 3 DOWNGRADE, 4 ROLLBACK. No data is never a PROMOTE.";

/// `rollgate analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The phase whose gates apply.
    #[arg(long, value_enum)]
    pub phase: crate::analysis::gates::Phase,
    /// Gate file. Default: the seed's plan (fixtures/rollgate.toml, built in).
    #[arg(long, value_name = "FILE")]
    pub gates: Option<PathBuf>,
    /// Where the series come from: run:DIR, fixture:PATH, prometheus:URL, or
    /// live:baseline=URL,canary=URL (scrape both for --for, each sample labelled with its side).
    #[arg(long, value_name = "KIND:WHERE", value_parser = clap::value_parser!(crate::prom::source::SourceSpec))]
    pub source: crate::prom::source::SourceSpec,
    /// live: how long to scrape before judging (for example 45m; Ctrl-C judges what was scraped).
    #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub scrape_for: Option<Duration>,
    /// live: time between scrapes (at least 250ms).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "15s")]
    pub interval: Duration,
    /// Multiplies every window, step, minimum duration and query range (a compressed run).
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    pub time_scale: f64,
    /// For a Prometheus source: how far back from now to analyse.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "1h")]
    pub range: Duration,
    /// Where verdict.json goes. Default: the run directory for run:DIR, else reports/runs/<time>-analyze.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print verdict.json on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// `rollgate report RUN_DIR`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run directory to write `report.html`, `summary.md` and `junit.xml` into.
    pub run_dir: std::path::PathBuf,
}

/// Options of `rollgate smoke`.
#[derive(Debug, Args)]
pub struct SmokeArgs {
    /// Which checklist: write-only (Phase 1) or read-write (Phase 2).
    #[arg(long, value_parser = ["write-only", "read-write"])]
    pub phase: String,
    /// An external assistant's base URL; default: an embedded fake Zep + reference assistant.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// The base URL of a fake Zep the external target uses (enables fault-injection checks).
    #[arg(long, value_name = "URL")]
    pub zep_admin: Option<String>,
    /// Run only the checks whose name contains this text.
    #[arg(long, value_name = "NAME")]
    pub only: Option<String>,
    /// A directory of smoke files instead of the built-in checklist (scenarios/smoke, compiled in).
    #[arg(long, value_name = "DIR")]
    pub scenarios: Option<std::path::PathBuf>,
    /// The run directory (default: a new one under reports/runs/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<std::path::PathBuf>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// A regression file (TOML, see the README) for the embedded assistant, for example one of
    /// `fixtures/defects/*.toml`; not with --target.
    #[arg(long, value_name = "FILE", conflicts_with = "target")]
    pub regression: Option<std::path::PathBuf>,
    /// With --target and --zep-admin: before each check, reset the fake Zep's faults and wait up
    /// to this long for the target to settle (memory_zep_breaker_state 0, i.e. closed, and
    /// memory_mode_gauge at the phase's mode), sending a probe turn on a throw-away thread every
    /// second so an open breaker can half-open and close. A target that does not settle in time
    /// makes the check an error. Set it above the target's breaker open interval.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub settle: std::time::Duration,
}

const GATE_EXAMPLES: &str = "\
Exit codes: 0 PROMOTE, 1 HOLD, 2 ERROR, 3 DOWNGRADE, 4 ROLLBACK.

Examples:
  # The whole pipeline on loopback (fake Zep, baseline and canary assistants built in), in about a minute:
  rollgate gate --phase canary

  # Watch it catch a bad canary (exit 4, ROLLBACK on \"p95 TTFB increase > 200ms\"):
  rollgate gate --phase canary --regression fixtures/regressions/ttfb-plus-250ms.toml

  # The seed's windows as written (36 minutes for the canary phase):
  rollgate gate --phase canary --profile full

  # A staging deployment, judged from its Prometheus (token from the environment):
  ROLLGATE_PROMETHEUS_TOKEN=... rollgate gate --phase read-write --profile full \\
      --baseline https://assistant-baseline.staging --canary https://assistant-canary.staging \\
      --prometheus https://prometheus.staging --allow-remote";

/// `rollgate gate`.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// The rollout phase whose smoke checklist and gates apply.
    #[arg(long, value_enum)]
    pub phase: crate::analysis::gates::Phase,
    /// short: windows compressed 60x, about a minute (CI, demos); full: the seed's windows as written.
    #[arg(long, value_enum, default_value = "short")]
    pub profile: crate::gate::Profile,
    /// Give the embedded canary a defect (a regression file, such as fixtures/regressions/ttfb-plus-250ms.toml).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["baseline", "canary"])]
    pub regression: Option<PathBuf>,
    /// An external baseline assistant (with --canary) instead of the embedded one.
    #[arg(long, value_name = "URL", requires = "canary")]
    pub baseline: Option<String>,
    /// An external canary assistant (with --baseline).
    #[arg(long, value_name = "URL", requires = "baseline")]
    pub canary: Option<String>,
    /// Judge from this Prometheus server instead of rollgate's own scrapes (external mode).
    #[arg(long, value_name = "URL", requires = "baseline")]
    pub prometheus: Option<String>,
    /// Bearer token for --prometheus (never written to any output file).
    #[arg(long, env = "ROLLGATE_PROMETHEUS_TOKEN", hide_env_values = true)]
    pub prometheus_token: Option<String>,
    /// Allow targets outside 127.0.0.0/8 (external mode only).
    #[arg(long)]
    pub allow_remote: bool,
    /// Gate file. Default: the seed's plan (fixtures/rollgate.toml, built in).
    #[arg(long, value_name = "FILE")]
    pub gates: Option<PathBuf>,
    /// Load scenario instead of the profile's built-in one (its duration is stretched to what the gates need).
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Where the run directory is created.
    #[arg(long, value_name = "DIR", default_value = "reports/runs")]
    pub out: PathBuf,
    /// Print the final verdict.json on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

const SYNTH_EXAMPLES: &str = "\
Examples:
  # Regenerate fixtures/canary/*.prom from fixtures/canary/datasets.toml and judge each:
  rollgate synth

  # One dataset into a scratch directory, then look at its verdict table:
  rollgate synth --only breaker-6pct-11m --out /tmp/canary
  rollgate analyze --phase canary --source fixture:/tmp/canary/breaker-6pct-11m.prom

  # How often each dataset gets its verdict under 20 other random seeds:
  rollgate synth --out /tmp/canary --seeds 20";

/// `rollgate synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// The datasets file.
    #[arg(value_name = "FILE", default_value = "fixtures/canary/datasets.toml")]
    pub datasets: PathBuf,
    /// Where the `<name>.prom` files go. Default: the datasets file's directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Only the dataset with this name.
    #[arg(long, value_name = "NAME")]
    pub only: Option<String>,
    /// Gate file the datasets are judged with. Default: the seed's plan (built in).
    #[arg(long, value_name = "FILE")]
    pub gates: Option<PathBuf>,
    /// The phase whose gates judge them.
    #[arg(long, value_enum, default_value = "canary")]
    pub phase: crate::analysis::gates::Phase,
    /// Also run each dataset with this many other seeds (nothing written) and count how often
    /// it still gets its expected verdict: how robust the story is to chance.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seeds: u32,
}

const RULES_EXAMPLES: &str = "\
Examples:
  # The seed's canary alerts, downgrade and rollback triggers as a Prometheus rule file:
  rollgate rules --phase canary --out rollgate-canary.rules.yml
  promtool check rules rollgate-canary.rules.yml

  # From your own gate file, windows compressed 1:60 (10m -> 10s) to try them on a short run:
  rollgate rules --gates rollgate.toml --time-scale 0.0167

Each check becomes one alert built from the same query rewriting `rollgate analyze` uses
(labels: severity, rollgate_action rollback|downgrade|hold, phase, rollgate_check). Checks an
alert cannot express (minimum-duration promote gates, data sufficiency) are listed in a comment
at the top of the file. Exit status: 0 written, 2 bad gate file (named with its line and check).";

/// `rollgate rules`.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Gate file. Default: the seed's plan (fixtures/rollgate.toml, built in).
    #[arg(long, value_name = "FILE")]
    pub gates: Option<PathBuf>,
    /// The phase whose checks are exported.
    #[arg(long, value_enum, default_value = "canary")]
    pub phase: crate::analysis::gates::Phase,
    /// Multiplies every window, step and query range (as `rollgate analyze --time-scale`).
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    pub time_scale: f64,
    /// Write the rule file here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

const SERVE_VERDICT_EXAMPLES: &str = "\
Endpoints (every request judges afresh; the body is verdict.json plus flat fields verdict,
exit_code, promote, rollback, downgrade, hold, decided_by, reason, source, error, hook):
  GET  /verdict                    Argo Rollouts web metric: 200 for any verdict, 503 on ERROR
  POST /flagger/rollout            200 PROMOTE or HOLD; 412 DOWNGRADE or ROLLBACK; 503 ERROR
  POST /flagger/confirm-promotion  200 PROMOTE only; 412 otherwise; 503 ERROR
  POST /flagger/rollback           200 ROLLBACK or DOWNGRADE (Flagger rolls back); 412 otherwise
  GET  /healthz                    200 (does not judge)
A source that cannot be judged answers 503 with verdict ERROR and an error naming it: never a
promote. See README \"Inside Argo Rollouts and Flagger\" for the AnalysisTemplate and Canary YAML.

Examples:
  # Judge the canary phase from the cluster's Prometheus over the last hour, on every request:
  rollgate serve-verdict --phase canary --source prometheus:http://prometheus.monitoring:9090 \\
      --listen 0.0.0.0:8790 --allow-remote

  # A saved load run, re-read on each request (first stdout line is the URL):
  rollgate serve-verdict --source run:reports/runs/20261205T140000Z-seed-load --time-scale 0.0167
  curl -s http://127.0.0.1:8790/verdict | jq '{verdict, promote, rollback, decided_by}'";

/// `rollgate serve-verdict`.
#[derive(Debug, Args)]
pub struct ServeVerdictArgs {
    /// The phase whose gates apply.
    #[arg(long, value_enum, default_value = "canary")]
    pub phase: crate::analysis::gates::Phase,
    /// Gate file. Default: the seed's plan (fixtures/rollgate.toml, built in).
    #[arg(long, value_name = "FILE")]
    pub gates: Option<PathBuf>,
    /// Where the series come from, judged on each request: prometheus:URL, run:DIR or fixture:PATH.
    #[arg(long, value_name = "KIND:WHERE", value_parser = clap::value_parser!(crate::prom::source::SourceSpec))]
    pub source: crate::prom::source::SourceSpec,
    /// Multiplies every window, step, minimum duration and query range (a compressed run).
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    pub time_scale: f64,
    /// For a Prometheus source: how far back from the request to analyse.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "1h")]
    pub range: Duration,
    /// Bearer token for a prometheus: source (never written anywhere).
    #[arg(long, env = "ROLLGATE_PROMETHEUS_TOKEN", hide_env_values = true)]
    pub prometheus_token: Option<String>,
    /// Address to listen on (port 0: any free port; the URL is printed on stdout's first line).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8790")]
    pub listen: SocketAddr,
    /// Allow listening on a non-loopback address (inside a cluster).
    #[arg(long)]
    pub allow_remote: bool,
    /// Stop after this long (default: until Ctrl-C).
    #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub run_for: Option<Duration>,
}

const CALIBRATE_EXAMPLES: &str = "\
Examples:
  # Five A/A runs of the embedded system with the canary gates, windows compressed 1:60 (~1 min each):
  rollgate calibrate --phase canary --runs 5

  # Two deployments of the same release, the seed's windows as written (46 min per run):
  rollgate calibrate --phase canary --runs 3 --profile full --baseline http://127.0.0.1:8700 --canary http://127.0.0.1:8701

A check that breaches in A/A runs would hold or roll back a healthy canary that often. The exit
status is 0 when every run was judged (whatever the rates), 2 when a run could not be done.";

/// `rollgate calibrate`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// The phase whose gates are calibrated.
    #[arg(long, value_enum, default_value = "canary")]
    pub phase: crate::analysis::gates::Phase,
    /// How many A/A runs.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub runs: u32,
    /// short: windows compressed 1:60; full: the seed's windows as written.
    #[arg(long, value_enum, default_value = "short")]
    pub profile: crate::gate::Profile,
    /// Gate file. Default: the seed's plan (fixtures/rollgate.toml, built in).
    #[arg(long, value_name = "FILE")]
    pub gates: Option<PathBuf>,
    /// Load scenario instead of the profile's built-in one (stretched to what the gates need).
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// One deployment of the release (with --canary) instead of the embedded twins.
    #[arg(long, value_name = "URL", requires = "canary")]
    pub baseline: Option<String>,
    /// Another deployment of the same release (with --baseline).
    #[arg(long, value_name = "URL", requires = "baseline")]
    pub canary: Option<String>,
    /// Allow targets outside 127.0.0.0/8.
    #[arg(long)]
    pub allow_remote: bool,
    /// Where the run directory is created.
    #[arg(long, value_name = "DIR", default_value = "reports/runs")]
    pub out: PathBuf,
    /// Print calibration.json on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}
