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
    /// Run a fake Zep server that speaks Zep's HTTP API and injects faults.
    #[command(after_help = FAKE_ZEP_EXAMPLES)]
    FakeZep(FakeZepArgs),
    /// Evaluate a PromQL query on scraped targets, a saved run, or a real Prometheus.
    #[command(after_help = QUERY_EXAMPLES)]
    Query(QueryArgs),
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
