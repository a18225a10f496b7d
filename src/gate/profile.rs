//! `--profile short|full`: how long the gate's load runs and how the phase's windows are scaled.
//!
//! - `full` follows the seed's windows as written ("for 30-60 minutes", "for 10m"): the load runs
//!   as long as the phase's longest window plus its queries' look-back, at least the scenario's
//!   own duration, and the analysis judges at time scale 1.
//! - `short` compresses time sixty-fold (a minute of the seed's windows is a second), for CI and
//!   demos: the same checks, the same arithmetic, on a run of under a minute.
//!
//! For: the scenario, the time scale and the load duration. Not for: running anything.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ValueEnum;
use serde::Serialize;

use crate::analysis::gates::{Gates, Phase};
use crate::load::scenario::{Overrides, Scenario};

/// The built-in scenarios: `(path as shipped, text)`.
const SHORT: (&str, &str) = (
    "scenarios/seed-load-short.toml",
    include_str!("../../scenarios/seed-load-short.toml"),
);
const FULL: (&str, &str) = (
    "scenarios/seed-load.toml",
    include_str!("../../scenarios/seed-load.toml"),
);

/// Evaluations after the longest window, so a sustained breach has room to show.
const SLACK_STEPS: u32 = 2;

/// How long the gate runs (the seed's gates: 46 minutes for read-write and canary at full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Windows compressed 60× (1 minute → 1 second): under 2 minutes in all.
    Short,
    /// The seed's windows as written: 46 minutes for the read-write and canary phases.
    Full,
}

impl Profile {
    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Short => "short",
            Profile::Full => "full",
        }
    }

    /// Multiplies every window, step, minimum duration and range of the gates.
    pub fn time_scale(self) -> f64 {
        match self {
            Profile::Short => 1.0 / 60.0,
            Profile::Full => 1.0,
        }
    }

    /// The built-in load scenario `(path, text)`.
    pub fn scenario(self) -> (&'static str, &'static str) {
        match self {
            Profile::Short => SHORT,
            Profile::Full => FULL,
        }
    }

    /// How long the load must run for every check of `phase` to have its whole window and
    /// look-back, at this profile's scale; never shorter than `scenario` (the scenario's own
    /// duration).
    pub fn load_duration(self, gates: &Gates, phase: Phase, scenario: Duration) -> Duration {
        let needed = needed_span(gates, phase).mul_f64(self.time_scale());
        // Whole seconds: the schedule is per second.
        let needed = Duration::from_secs(needed.as_secs_f64().ceil() as u64);
        needed.max(scenario)
    }
}

impl Profile {
    /// The profile's built-in scenario (or the one at `path`), aimed at `baseline` and `canary`
    /// and stretched to [`Profile::load_duration`]; the error names the file.
    pub fn load_scenario(
        self,
        path: Option<&Path>,
        gates: &Gates,
        phase: Phase,
        (baseline, canary): (&str, &str),
    ) -> Result<Scenario, String> {
        let (path, text) = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read scenario {}: {e}", path.display()))?;
                (path.to_path_buf(), text)
            }
            None => {
                let (path, text) = self.scenario();
                (PathBuf::from(path), text.to_string())
            }
        };
        let targets = Overrides {
            target: Some(baseline.to_string()),
            canary_target: Some(canary.to_string()),
            ..Overrides::default()
        };
        let as_written = Scenario::parse(&path, &text, &targets).map_err(|e| e.to_string())?;
        let duration = self.load_duration(gates, phase, as_written.duration());
        Scenario::parse(
            &path,
            &text,
            &Overrides {
                duration: Some(duration),
                ..targets
            },
        )
        .map_err(|e| e.to_string())
    }
}

/// The unscaled span `phase`'s checks need: the warm-up, the longest window or minimum duration,
/// the longest range in any query (`[5m]`), and a few steps.
pub fn needed_span(gates: &Gates, phase: Phase) -> Duration {
    let mut window = Duration::ZERO;
    let mut step = Duration::ZERO;
    for check in gates.for_phase(phase) {
        window = window.max(check.window).max(check.min_duration);
        step = step.max(check.step);
    }
    gates.sufficiency.warmup + gates.look_back(phase) + window + step * SLACK_STEPS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_gates_need_46_minutes_for_canary_and_46_seconds_scaled() {
        let gates = Gates::seed().expect("seed gates");
        // Warm-up 5m + increase(...[10m]) + "for 30-60 minutes" + 2 × 30 s.
        assert_eq!(
            needed_span(&gates, Phase::Canary),
            Duration::from_secs(46 * 60)
        );
        // Warm-up 5m + "Breaker open > 5% for 10m" + increase(...[10m]) + 2 × 30 s.
        assert_eq!(
            needed_span(&gates, Phase::WriteOnly),
            Duration::from_secs(26 * 60)
        );
        let scenario = Duration::from_secs(40);
        assert_eq!(
            Profile::Short.load_duration(&gates, Phase::Canary, scenario),
            Duration::from_secs(46)
        );
        assert_eq!(
            Profile::Full.load_duration(&gates, Phase::Canary, Duration::from_secs(600)),
            Duration::from_secs(46 * 60)
        );
    }
}
