//! `rollgate serve-verdict`: load the gates, resolve the source, serve the verdict until Ctrl-C
//! or `--for` elapses; the URL is stdout's first line.

use std::io::Write;

use anyhow::Context;

use crate::analysis::gates::Gates;
use crate::analysis::serve::{Judge, Server};
use crate::cli::ServeVerdictArgs;
use crate::prom::api_client::{ApiConfig, Auth};

use super::Outcome;

pub async fn run(args: ServeVerdictArgs) -> anyhow::Result<Outcome> {
    let gates = match &args.gates {
        Some(path) => Gates::load(path)?,
        None => Gates::seed()?,
    };
    let token = args.prometheus_token.clone();
    let judge = Judge::new(
        gates,
        args.phase,
        &args.source,
        args.time_scale,
        args.range,
        |url| ApiConfig {
            auth: token.map_or(Auth::None, Auth::Bearer),
            ..ApiConfig::new(url)
        },
    )?;
    let source = judge.source().to_string();
    let server = Server::start(judge, args.listen, args.allow_remote).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", server.url()).context("cannot write to stdout")?;
    stdout.flush().context("cannot write to stdout")?;
    drop(stdout);
    eprintln!(
        "serving the {} verdict of {source} on {url}\n  Argo Rollouts: GET {url}/verdict\n  Flagger: POST {url}/flagger/rollout | /flagger/confirm-promotion | /flagger/rollback",
        args.phase.as_str(),
        url = server.url()
    );
    let stop = async {
        match args.run_for {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = stop => eprintln!("serve-verdict: --for elapsed, stopping"),
        _ = tokio::signal::ctrl_c() => eprintln!("serve-verdict: interrupted, stopping"),
    }
    server.shutdown().await;
    Ok(Outcome::Success)
}
