//! `rollgate assistant`: resolve the flags into an assistant config, start it, print its URL on
//! the first stdout line, serve until Ctrl-C or `--for`. `rollgate assistant backfill` runs a
//! history backfill and prints its counts.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;

use crate::assistant::backfill::{self, BackfillConfig};
use crate::assistant::breaker::BreakerConfig;
use crate::assistant::mode::DowngradeConfig;
use crate::assistant::read_path::ReadConfig;
use crate::assistant::regression::Regression;
use crate::assistant::write_worker::WriteConfig;
use crate::assistant::{Assistant, Config};
use crate::cli::{AssistantAction, AssistantArgs, AssistantServeArgs, BackfillArgs};

use super::Outcome;

/// How long queued writes may drain at shutdown.
const DRAIN: Duration = Duration::from_secs(5);

/// Resolves the serving flags (and the regression file) into a config.
pub fn config(args: &AssistantServeArgs) -> anyhow::Result<Config> {
    let regression = match &args.regression {
        Some(path) => Regression::load(path)?,
        None => Regression::default(),
    };
    Ok(Config {
        listen: args.listen,
        allow_remote: args.allow_remote,
        zep_url: args.zep.zep_url.clone(),
        zep_key: args.zep.zep_key.clone(),
        zep_api: args.zep.zep_api,
        mode: args.mode,
        variant: args.variant,
        brain_latency: args.brain_latency,
        seed: args.seed,
        regression,
        read: ReadConfig {
            deadline: args.read_deadline,
            cache_ttl: args.cache_ttl,
            ..ReadConfig::default()
        },
        write: WriteConfig {
            max_attempts: args.write_attempts.max(1),
            ..WriteConfig::default()
        },
        breaker: BreakerConfig {
            failure_threshold: args.breaker_threshold.max(1),
            open_for: args.breaker_open_for,
        },
        downgrade: DowngradeConfig {
            auth_failures: args.downgrade_after.max(1),
            duration: args.downgrade_for,
        },
        turn_log: args.turn_log.clone(),
        ..Config::default()
    })
}

pub async fn run(args: AssistantArgs) -> anyhow::Result<Outcome> {
    match args.action {
        Some(AssistantAction::Backfill(backfill)) => run_backfill(backfill).await,
        None => serve(args.serve).await,
    }
}

async fn serve(args: AssistantServeArgs) -> anyhow::Result<Outcome> {
    let config = config(&args)?;
    let assistant = Assistant::start(config)
        .await
        .context("cannot start the assistant")?;
    println!("{}", assistant.url());
    match args.run_for {
        Some(limit) => {
            tokio::select! {
                _ = tokio::time::sleep(limit) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        None => tokio::signal::ctrl_c()
            .await
            .context("cannot wait for Ctrl-C")?,
    }
    assistant.shutdown(DRAIN).await;
    Ok(Outcome::Success)
}

async fn run_backfill(args: BackfillArgs) -> anyhow::Result<Outcome> {
    let checkpoint = args.checkpoint.clone().unwrap_or_else(|| {
        let mut path = args.input.clone().into_os_string();
        path.push(".checkpoint");
        PathBuf::from(path)
    });
    let config = BackfillConfig {
        input: args.input,
        checkpoint,
        since: args.since,
        now: SystemTime::now(),
        dry_run: args.dry_run,
        zep_url: args.zep.zep_url,
        zep_key: args.zep.zep_key,
        zep_api: args.zep.zep_api,
        max_attempts: args.attempts.max(1),
        backoff_base: Duration::from_millis(200),
        attempt_timeout: Duration::from_secs(5),
        progress: std::io::stderr().is_terminal(),
        metrics_file: args.metrics_file,
    };
    let summary = backfill::run(&config).await.context("backfill stopped")?;
    let verb = if config.dry_run {
        "would write"
    } else {
        "wrote"
    };
    println!(
        "{verb} {} messages in {} batches to {} threads; {} lines in the file, {} already done (checkpoint {}), \
         {} older than --since, {} recovered after ambiguous failures, {} PII values redacted",
        summary.written,
        summary.batches,
        summary.threads,
        summary.lines,
        summary.already_done,
        config.checkpoint.display(),
        summary.too_old,
        summary.recovered,
        summary.redactions,
    );
    Ok(Outcome::Success)
}
