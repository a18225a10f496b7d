//! `rollgate fake-zep`: start a fake Zep, print its URL on stdout's first line, serve until Ctrl-C
//! or `--for` elapses.

use std::io::Write;

use anyhow::Context;

use crate::cli::FakeZepArgs;
use crate::fake_zep::{Config, FakeZep, Program};

use super::Outcome;

pub async fn run(args: FakeZepArgs) -> anyhow::Result<Outcome> {
    let program = match &args.faults {
        Some(path) => Program::load(path)?,
        None => Program::default(),
    };
    let described = program
        .description
        .clone()
        .unwrap_or_else(|| format!("{} rule(s)", program.rules.len()));
    let config = Config {
        listen: args.listen,
        allow_remote: args.allow_remote,
        program,
        api_keys: args.api_keys,
        auth_body: args.auth_body,
        max_message_chars: args.max_message_chars,
        journal_size: args.journal_size,
        seed: args.seed.unwrap_or(0),
    };
    let zep = FakeZep::start(config).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", zep.url()).context("cannot write to stdout")?;
    stdout.flush().context("cannot write to stdout")?;
    drop(stdout);
    eprintln!(
        "fake zep on {url} (API key {key:?}); faults: {described}\n  Zep API: {url}/api/v2 (v2, v3) and {url}/api/v4\n  admin:   {url}/__rollgate/faults | /reset | /journal, metrics: {url}/metrics",
        url = zep.url(),
        key = zep.api_key(),
    );
    let stop = async {
        match args.run_for {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = stop => eprintln!("fake zep: --for elapsed, stopping"),
        _ = tokio::signal::ctrl_c() => eprintln!("fake zep: interrupted, stopping"),
    }
    zep.shutdown().await;
    Ok(Outcome::Success)
}
