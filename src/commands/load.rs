//! `rollgate load`: resolve the scenario with the command line's overrides, run it, print where
//! the run directory is and how the run went.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Context};

use crate::assistant::regression::Regression;
use crate::cli::LoadArgs;
use crate::load::pacer::Ending;
use crate::load::run::{self, RunOptions};
use crate::load::scenario::{Overrides, Scenario};
use crate::stack::{Stack, StackConfig};
use crate::variant::Variant;

use super::Outcome;

pub async fn run(args: LoadArgs) -> anyhow::Result<Outcome> {
    let stack = match args.embedded {
        true => Some(embedded(args.regression.as_deref()).await?),
        false => None,
    };
    let url = |variant| stack.as_ref().map(|s: &Stack| s.assistant(variant).url());
    let overrides = Overrides {
        rate: args.rate,
        duration: args.duration,
        target: url(Variant::Baseline).or(args.target.clone()),
        canary_target: url(Variant::Canary).or(args.canary_target.clone()),
        api_key: args.zep_key.clone(),
    };
    let result = load(&args, &overrides).await;
    if let Some(stack) = stack {
        stack.shutdown().await;
    }
    result
}

/// Starts the embedded system under test.
async fn embedded(regression: Option<&Path>) -> anyhow::Result<Stack> {
    let canary_regression = match regression {
        Some(path) => Regression::load(path)?,
        None => Regression::default(),
    };
    let stack = Stack::start(&StackConfig {
        canary_regression,
        ..StackConfig::default()
    })
    .await?;
    eprintln!(
        "embedded: fake Zep {}, baseline {} (write_only), canary {} (read_write)",
        stack.zep().url(),
        stack.assistant(Variant::Baseline).url(),
        stack.assistant(Variant::Canary).url()
    );
    Ok(stack)
}

async fn load(args: &LoadArgs, overrides: &Overrides) -> anyhow::Result<Outcome> {
    let scenario = Scenario::load(&args.scenario, overrides)?;
    let shard = match &args.shard {
        Some(text) => parse_shard(text)?,
        None => (0, 1),
    };
    let options = RunOptions {
        out_base: args.out.clone(),
        dir: None,
        allow_remote: args.allow_remote,
        shard,
        start_at: args.start_at,
        progress: std::io::stderr().is_terminal(),
    };
    let schedule = scenario.schedule();
    eprintln!(
        "rollgate load: {} → {}{}: {} requests over {} ({} users)",
        scenario.name,
        scenario.target.url,
        scenario
            .target
            .canary_url
            .as_ref()
            .map_or(String::new(), |c| format!(
                " (canary {c}, {}% of threads)",
                scenario.conversations.canary_percent
            )),
        schedule.total().min(scenario.max_requests),
        humantime::format_duration(scenario.duration()),
        scenario.users,
    );
    let summary = run::run(&scenario, &options)
        .await
        .with_context(|| format!("load run of {}", args.scenario.display()))?;
    println!("{}", summary.dir.display());
    let status = match &summary.ending {
        Ending::Complete => "complete".to_string(),
        Ending::Interrupted => "INTERRUPTED (partial results kept)".to_string(),
        Ending::Aborted(reason) => format!("ABORTED: {reason}"),
    };
    eprintln!(
        "run {status}: {} of {} requests sent, {} failed; rate {:.2} req/s intended, {:.2} achieved{}{}",
        summary.sent,
        summary.planned,
        summary.errors,
        summary.rate.intended,
        summary.rate.achieved,
        if summary.trustworthy {
            ""
        } else {
            "; NOT TRUSTWORTHY: the generator fell behind its schedule (see manifest.json)"
        },
        if summary.failed_scrapes > 0 {
            format!("; {} metric scrapes failed", summary.failed_scrapes)
        } else {
            String::new()
        }
    );
    Ok(match summary.ending {
        Ending::Complete => Outcome::Success,
        _ => Outcome::Failed,
    })
}

fn parse_shard(text: &str) -> anyhow::Result<(u64, u64)> {
    let Some((k, n)) = text.split_once('/') else {
        bail!("--shard {text}: use K/N, such as 0/2");
    };
    let (Ok(k), Ok(n)) = (k.trim().parse::<u64>(), n.trim().parse::<u64>()) else {
        bail!("--shard {text}: K and N must be whole numbers, such as 0/2");
    };
    if n == 0 || k >= n {
        bail!("--shard {text}: need 0 <= K < N");
    }
    Ok((k, n))
}
