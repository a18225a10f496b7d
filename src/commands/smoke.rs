//! `rollgate smoke`: load the checklist files of a phase, run them against the embedded stack (one
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
    let plan = smoke::load_dir(&args.scenarios, phase, args.only.as_deref())?;
    anyhow::ensure!(
        !plan.checks.is_empty(),
        "{}: no check of phase {} matches",
        args.scenarios.display(),
        phase.as_str()
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
            smoke::run(&plan, &target, &run_dir).await?
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
