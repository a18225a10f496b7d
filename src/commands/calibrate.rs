//! `rollgate calibrate`: resolve the gates and the twins, run the A/A runs with a line per run,
//! print each check's false-positive rate (or calibration.json).

use crate::analysis::gates::Gates;
use crate::calibrate::{self, CalibrateConfig, Twins};
use crate::cli::CalibrateArgs;

use super::Outcome;

pub async fn run(args: CalibrateArgs) -> anyhow::Result<Outcome> {
    let gates = match &args.gates {
        Some(path) => Gates::load(path)?,
        None => Gates::seed()?,
    };
    let twins = match (&args.baseline, &args.canary) {
        (Some(baseline), Some(canary)) => {
            for url in [baseline, canary] {
                crate::load::run::check_url(url, args.allow_remote)?;
            }
            Twins::External {
                baseline: baseline.trim_end_matches('/').to_string(),
                canary: canary.trim_end_matches('/').to_string(),
                allow_remote: args.allow_remote,
            }
        }
        _ => Twins::Embedded,
    };
    let config = CalibrateConfig {
        phase: args.phase,
        profile: args.profile,
        gates,
        scenario: args.scenario.clone(),
        twins,
        runs: args.runs,
        out_base: args.out.clone(),
    };
    eprintln!(
        "rollgate calibrate: {} A/A runs, phase {}, profile {}",
        args.runs,
        args.phase.as_str(),
        args.profile.as_str()
    );
    let (dir, calibration) = calibrate::run(&config, &mut |line| eprintln!("{line}")).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&calibration)?);
    } else {
        println!(
            "{:<46} {:<9} {:>15} {:>13} {:>10}",
            "check", "action", "false positive", "inconclusive", "95% upper"
        );
        // The false-positive rate is over the runs that decided the check.
        for c in &calibration.checks {
            println!(
                "{:<46} {:<9} {:>15} {:>13} {:>10.2}",
                c.name,
                format!("{:?}", c.action).to_lowercase(),
                format!("{} of {}", c.breaches, c.breaches + c.passes),
                format!("{} of {}", c.inconclusive, calibration.runs),
                c.false_positive_ci.1
            );
        }
        let promoted = calibration
            .verdicts
            .iter()
            .filter(|v| v.verdict == "PROMOTE")
            .count();
        println!(
            "{promoted} of {} A/A runs promoted (the right answer for a release against itself)",
            calibration.runs
        );
    }
    eprintln!(
        "calibration written to {}",
        dir.join(calibrate::CALIBRATION_JSON).display()
    );
    Ok(Outcome::Success)
}
