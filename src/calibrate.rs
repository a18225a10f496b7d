//! A/A calibration: the release judged against itself several times, to learn how noisy each
//! gate is before it is enforced. Each run starts a fresh system (embedded: a fake Zep and two
//! identical reference assistants in the canary's memory mode, with different random seeds; or
//! two deployments of the same release given by URL), loads it with the gate's scenario, and
//! judges it with the phase's gates exactly as `rollgate gate` does. A breach in an A/A run is a
//! false positive; an inconclusive check is a run that could not decide.
//!
//! For: `rollgate calibrate` and `calibration.json` (schema `rollgate.calibration/v1`). Not for:
//! judging a real canary (see [`crate::gate`]).

use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use crate::analysis::evaluate::Outcome;
use crate::analysis::evidence::LatencySamples;
use crate::analysis::gates::{Action, Gates, Phase};
use crate::analysis::stats;
use crate::analysis::verdict::{self, Verdict};
use crate::gate::{self, Profile};
use crate::load::run::RunOptions;
use crate::run_dir::{RunDir, RunDirError};
use crate::stack::{Stack, StackConfig};
use crate::variant::Variant;

/// `calibration.json`'s schema.
pub const SCHEMA: &str = "rollgate.calibration/v1";
/// Its name in the run directory.
pub const CALIBRATION_JSON: &str = "calibration.json";

/// The two sides of each A/A run.
#[derive(Debug, Clone)]
pub enum Twins {
    /// Two identical reference assistants in this process.
    Embedded,
    /// Two deployments of the same release.
    External {
        /// One of them, in the baseline's place.
        baseline: String,
        /// The other, in the canary's place.
        canary: String,
        /// Allow targets outside 127.0.0.0/8.
        allow_remote: bool,
    },
}

/// How to calibrate.
#[derive(Debug, Clone)]
pub struct CalibrateConfig {
    /// The phase whose gates are calibrated.
    pub phase: Phase,
    /// Durations and time scale (as `rollgate gate`).
    pub profile: Profile,
    /// The gates.
    pub gates: Gates,
    /// A load scenario instead of the profile's built-in one.
    pub scenario: Option<PathBuf>,
    /// What is run against itself.
    pub twins: Twins,
    /// How many A/A runs.
    pub runs: u32,
    /// Where the run directory is created.
    pub out_base: PathBuf,
}

/// Why calibration stopped.
#[derive(Debug, Error)]
pub enum CalibrateError {
    /// The run directory could not be written.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// One A/A run could not be done.
    #[error("A/A run {run}: {message}")]
    Run {
        /// 1-based.
        run: u32,
        /// What failed.
        message: String,
    },
}

/// One check over all runs.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRate {
    /// The check's name.
    pub name: String,
    /// What a breach leads to.
    pub action: Action,
    /// Runs in which it breached (false positives).
    pub breaches: u32,
    /// Runs in which it could not decide.
    pub inconclusive: u32,
    /// Runs in which it passed.
    pub passes: u32,
    /// Runs in which its query failed.
    pub errors: u32,
    /// breaches / (breaches + passes): inconclusive runs decide nothing.
    pub false_positive_rate: f64,
    /// The 95% interval of that rate: two-sided Wilson, or with no breach the one-sided rule of
    /// three's bound.
    pub false_positive_ci: (f64, f64),
}

/// `calibration.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The phase.
    pub phase: Phase,
    /// The profile.
    pub profile: Profile,
    /// `embedded` or the two URLs.
    pub twins: String,
    /// Runs done.
    pub runs: u32,
    /// Each run's verdict and the checks that decided it.
    pub verdicts: Vec<RunVerdict>,
    /// Per check, in the gate file's order.
    pub checks: Vec<CheckRate>,
}

/// One A/A run's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct RunVerdict {
    /// Its run directory (load files, scrapes, `verdict.json`).
    pub dir: PathBuf,
    /// PROMOTE is the right answer for an A/A run.
    pub verdict: &'static str,
    /// The checks that decided it.
    pub decided_by: Vec<String>,
}

/// Runs `config.runs` A/A runs into one run directory (`aa-1/`, `aa-2/`, ...), writes
/// `calibration.json` after each run (an interrupted calibration keeps what it has), and
/// returns the result. `progress` gets a line per run.
pub async fn run(
    config: &CalibrateConfig,
    progress: &mut dyn FnMut(String),
) -> Result<(PathBuf, Calibration), CalibrateError> {
    let dir = RunDir::create_new(
        &config.out_base,
        &format!("calibrate-{}", config.phase.as_str()),
    )?;
    let mut calibration = Calibration {
        schema: SCHEMA,
        phase: config.phase,
        profile: config.profile,
        twins: match &config.twins {
            Twins::Embedded => "embedded".to_string(),
            Twins::External {
                baseline, canary, ..
            } => format!("{baseline} and {canary}"),
        },
        runs: 0,
        verdicts: Vec::new(),
        checks: Vec::new(),
    };
    for run in 1..=config.runs {
        let run_dir = dir.path().join(format!("aa-{run}"));
        let verdict = one_run(config, run, &run_dir).await?;
        progress(format!(
            "A/A run {run} of {}: {} ({})",
            config.runs,
            verdict.verdict.as_str(),
            verdict.reason
        ));
        RunDir::at(run_dir.clone())?.write_json(crate::run_dir::VERDICT, &verdict)?;
        calibration.runs = run;
        calibration.verdicts.push(RunVerdict {
            dir: run_dir,
            verdict: verdict.verdict.as_str(),
            decided_by: verdict.decided_by.clone(),
        });
        tally(&mut calibration.checks, &verdict);
        rates(&mut calibration.checks);
        dir.write_json(CALIBRATION_JSON, &calibration)?;
    }
    Ok((dir.path().to_path_buf(), calibration))
}

/// One A/A run: start the twins, load them, judge.
async fn one_run(
    config: &CalibrateConfig,
    run: u32,
    dir: &Path,
) -> Result<Verdict, CalibrateError> {
    let fail = |message: String| CalibrateError::Run { run, message };
    let (_, canary_mode) = gate::modes(config.phase);
    let stack = match &config.twins {
        Twins::Embedded => Some(
            Stack::start(&StackConfig {
                baseline_mode: canary_mode,
                canary_mode,
                // Fresh random draws each run, never the same on both sides.
                seed: u64::from(run) * 2 + 1,
                ..StackConfig::default()
            })
            .await
            .map_err(|e| fail(format!("the embedded system did not start: {e}")))?,
        ),
        Twins::External { .. } => None,
    };
    let (baseline, canary, allow_remote) = match (&config.twins, &stack) {
        (
            Twins::External {
                baseline,
                canary,
                allow_remote,
            },
            _,
        ) => (baseline.clone(), canary.clone(), *allow_remote),
        (Twins::Embedded, Some(stack)) => (
            stack.assistant(Variant::Baseline).url(),
            stack.assistant(Variant::Canary).url(),
            false,
        ),
        (Twins::Embedded, None) => return Err(fail("no embedded system".into())),
    };
    let judged = async {
        let scenario = config.profile.load_scenario(
            config.scenario.as_deref(),
            &config.gates,
            config.phase,
            (&baseline, &canary),
        )?;
        let options = RunOptions {
            dir: Some(dir.to_path_buf()),
            allow_remote,
            ..RunOptions::default()
        };
        crate::load::run::run(&scenario, &options)
            .await
            .map_err(|e| format!("the load failed: {e}"))?;
        let schedule = crate::load::manifest::schedule_span(dir);
        let (source, span) = gate::local(dir, schedule, config.profile.time_scale())?;
        let latency = LatencySamples::read(dir).map_err(|e| e.to_string())?;
        Ok::<_, String>(
            verdict::analyze_with(
                &config.gates,
                config.phase,
                &source,
                &span,
                latency.as_ref(),
            )
            .await,
        )
    }
    .await;
    if let Some(stack) = stack {
        stack.shutdown().await;
    }
    judged.map_err(fail)
}

/// Adds one run's check outcomes to the counts.
fn tally(checks: &mut Vec<CheckRate>, verdict: &Verdict) {
    for result in &verdict.checks {
        let i = match checks.iter().position(|c| c.name == result.name) {
            Some(i) => i,
            None => {
                checks.push(CheckRate {
                    name: result.name.clone(),
                    action: result.action,
                    breaches: 0,
                    inconclusive: 0,
                    passes: 0,
                    errors: 0,
                    false_positive_rate: 0.0,
                    false_positive_ci: (0.0, 1.0),
                });
                checks.len() - 1
            }
        };
        let c = &mut checks[i];
        match result.outcome {
            Outcome::Breach => c.breaches += 1,
            Outcome::Inconclusive => c.inconclusive += 1,
            Outcome::Pass => c.passes += 1,
            Outcome::Error => c.errors += 1,
        }
    }
}

/// The false-positive rate of each check over the runs that decided it (breached or passed; an
/// inconclusive run says nothing either way), with its 95% interval: two-sided Wilson, or with
/// no breach the one-sided rule of three. No decided run: rate 0 within (0, 1).
fn rates(checks: &mut [CheckRate]) {
    for c in checks {
        let decided = c.breaches + c.passes;
        c.false_positive_rate = f64::from(c.breaches) / f64::from(decided.max(1));
        c.false_positive_ci =
            stats::ratio_interval(u64::from(c.breaches), u64::from(decided), 0.95)
                .map_or((0.0, 1.0), |(ci, _)| ci);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_bound_zero_breaches_by_the_rule_of_three() {
        let mut checks = vec![CheckRate {
            name: "c".into(),
            action: Action::Rollback,
            breaches: 0,
            inconclusive: 0,
            passes: 10,
            errors: 0,
            false_positive_rate: 0.0,
            false_positive_ci: (0.0, 1.0),
        }];
        rates(&mut checks);
        assert_eq!(checks[0].false_positive_rate, 0.0);
        // The rule of three: -ln(0.05) / 10.
        assert!(
            (checks[0].false_positive_ci.1 - 0.2996).abs() < 0.001,
            "{:?}",
            checks[0]
        );
        (checks[0].breaches, checks[0].passes, checks[0].inconclusive) = (5, 5, 4);
        rates(&mut checks);
        assert_eq!(checks[0].false_positive_rate, 0.5);
        let (low, high) = checks[0].false_positive_ci;
        assert!(low < 0.5 && high > 0.5 && low > 0.0 && high < 1.0);
    }
}
