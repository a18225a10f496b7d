//! `rollgate gate`: resolve the target and gates, run the gate with stage lines on stderr, print
//! the verdict table and where the report is, exit with the verdict's code.

use std::io::{IsTerminal, Write};

use anyhow::Context;

use crate::analysis::gates::Gates;
use crate::assistant::regression::Regression;
use crate::cli::GateArgs;
use crate::gate::{self, GateConfig, Target};
use crate::prom::api_client::{ApiConfig, Auth};

use super::Outcome;

pub async fn run(args: GateArgs) -> anyhow::Result<Outcome> {
    let gates = match &args.gates {
        Some(path) => Gates::load(path)?,
        None => Gates::seed()?,
    };
    let target = match (&args.baseline, &args.canary) {
        (Some(baseline), Some(canary)) => Target::External {
            baseline: baseline.trim_end_matches('/').to_string(),
            canary: canary.trim_end_matches('/').to_string(),
            prometheus: args.prometheus.as_deref().map(|url| ApiConfig {
                auth: args
                    .prometheus_token
                    .clone()
                    .map_or(Auth::None, Auth::Bearer),
                ..ApiConfig::new(url)
            }),
            allow_remote: args.allow_remote,
        },
        _ => Target::Embedded {
            regression: match &args.regression {
                Some(path) => Regression::load(path)?,
                None => Regression::default(),
            },
            regression_file: args.regression.clone(),
        },
    };
    if let Some(path) = &args.scenario {
        anyhow::ensure!(
            path.is_file(),
            "--scenario {}: no such file",
            path.display()
        );
    }
    let config = GateConfig {
        phase: args.phase,
        profile: args.profile,
        target,
        gates,
        scenario: args.scenario.clone(),
        out_base: args.out.clone(),
        progress: true,
    };
    eprintln!(
        "rollgate gate: phase {}, profile {} (time scale {}), {}",
        args.phase.as_str(),
        args.profile.as_str(),
        match args.profile {
            gate::Profile::Short => "1/60",
            gate::Profile::Full => "1",
        },
        match &config.target {
            Target::Embedded { .. } =>
                "embedded fake Zep + baseline + canary on loopback".to_string(),
            Target::External {
                baseline, canary, ..
            } => format!("baseline {baseline}, canary {canary}"),
        }
    );
    let outcome = gate::run(&config)
        .await
        .context("cannot create the gate's run directory")?;
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth more than the verdict's exit code.
    let _ = match args.json {
        true => writeln!(out, "{}", serde_json::to_string_pretty(&outcome.verdict)?),
        false => write!(
            out,
            "{}",
            crate::analysis::table::render(&outcome.verdict, std::io::stdout().is_terminal())
        ),
    };
    match &outcome.report {
        Ok(_) => {
            let report = outcome.dir.join(crate::run_dir::REPORT_HTML);
            // With --json, stdout is the verdict alone.
            let _ = match args.json {
                true => writeln!(std::io::stderr(), "report: {}", report.display()),
                false => writeln!(out, "report: {}", report.display()),
            };
        }
        Err(err) => eprintln!(
            "rollgate gate: the report could not be written ({err}); the run directory is {}",
            outcome.dir.display()
        ),
    }
    Ok(Outcome::Code(outcome.verdict.verdict.exit_code()))
}
