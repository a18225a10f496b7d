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
