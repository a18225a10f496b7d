//! `rollgate smoke`: take the checklist of a phase (built in, or `--scenarios DIR`), run them against the embedded stack (one
//! fresh fake Zep + assistant per check) or an external target, print a table or JSON, and leave
//! `smoke/smoke.json` and `smoke/junit.xml` in the run directory.

use anyhow::Context;

use crate::assistant::regression::Regression;
use crate::cli::SmokeArgs;
use crate::run_dir::RunDir;
use crate::smoke::{self, plan, Target};

use super::Outcome;

pub async fn run(args: SmokeArgs) -> anyhow::Result<Outcome> {
    let phase = plan::parse_phase(&args.phase).with_context(|| {
        format!(
            "--phase {:?}: expected write-only or read-write",
            args.phase
        )
    })?;
    let (plan, origin) = match &args.scenarios {
        Some(dir) => (
            smoke::load_dir(dir, phase, args.only.as_deref())?,
            dir.display().to_string(),
        ),
        None => {
            let mut plan = plan::builtin(phase)?;
            if let Some(only) = &args.only {
                plan.checks.retain(|c| c.name.contains(only.as_str()));
            }
            (plan, "the built-in checklist".to_string())
        }
    };
    anyhow::ensure!(
        !plan.checks.is_empty(),
        "{origin}: no check of phase {} matches{}",
        phase.as_str(),
        args.only
            .as_deref()
            .map(|o| format!(" --only {o:?}"))
            .unwrap_or_default()
    );
    let run_dir = match &args.out {
        Some(dir) => RunDir::at(dir)?,
        None => RunDir::create_new(
            std::path::Path::new("reports/runs"),
            &format!("smoke-{}", phase.as_str()),
        )?,
    };
    let report = match &args.target {
        Some(url) => {
            let target = Target {
                url: url.trim_end_matches('/').to_string(),
                zep_admin: args.zep_admin.clone(),
                label: url.clone(),
            };
            let settle = smoke::Settle {
                deadline: args.settle,
                ..smoke::Settle::default()
            };
            smoke::run_settled(&plan, &target, &settle, &run_dir).await?
        }
        None => {
            let regression = match &args.regression {
                Some(path) => Regression::load(path)?,
                None => Regression::default(),
            };
            smoke::run_embedded(&plan, &run_dir, |assistant| {
                assistant.regression = regression.clone();
            })
            .await?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", smoke::table(&report));
        println!("run directory: {}", run_dir.path().display());
    }
    Ok(if report.passed {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}
