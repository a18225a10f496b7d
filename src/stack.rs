//! The embedded system under test: a fake Zep and two reference assistants, a baseline and a
//! canary, all in this process on loopback. It is what `rollgate gate` judges when no external
//! target is given, so the whole pipeline runs on a machine with nothing else installed.
//!
//! For: starting and stopping the three servers with the modes, faults and regression a rollout
//! phase calls for, and telling their URLs. Not for: deciding which modes a phase uses (the gate
//! does) or driving traffic (the load engine does).

use std::time::Duration;

use thiserror::Error;

use crate::assistant::brain::LatencyDist;
use crate::assistant::mode::Mode;
use crate::assistant::regression::Regression;
use crate::assistant::turn_log::TurnLogTarget;
use crate::assistant::{Assistant, AssistantError, Config as AssistantConfig};
use crate::fake_zep::program::Program;
use crate::fake_zep::{Config as ZepConfig, FakeZep, StartError};
use crate::variant::Variant;

/// How long the assistants get to finish their queued writes when the stack stops.
const DRAIN: Duration = Duration::from_secs(5);

/// What to start.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Memory mode of the baseline assistant.
    pub baseline_mode: Mode,
    /// Memory mode of the canary assistant.
    pub canary_mode: Mode,
    /// What makes the canary bad (default: nothing, a healthy canary).
    pub canary_regression: Regression,
    /// Fault program of the fake Zep (default: none).
    pub zep_faults: Program,
    /// Model time per turn of both assistants.
    pub brain_latency: LatencyDist,
    /// Seed of both assistants (the canary gets `seed + 1`, so the two do not draw the same
    /// samples) and of the fake Zep.
    pub seed: u64,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            baseline_mode: Mode::WriteOnly,
            canary_mode: Mode::ReadWrite,
            canary_regression: Regression::default(),
            zep_faults: Program::default(),
            brain_latency: LatencyDist::default(),
            seed: 1,
        }
    }
}

/// Why the stack could not start.
#[derive(Debug, Error)]
pub enum StackError {
    /// The fake Zep did not start.
    #[error("embedded fake Zep: {0}")]
    Zep(#[from] StartError),
    /// An assistant did not start.
    #[error("embedded {variant} assistant: {source}")]
    Assistant {
        /// Which one.
        variant: Variant,
        /// Why.
        source: AssistantError,
    },
}

/// The running stack.
pub struct Stack {
    zep: FakeZep,
    baseline: Assistant,
    canary: Assistant,
}

impl Stack {
    /// Starts the fake Zep, then the baseline and the canary against it, each on 127.0.0.1:0.
    pub async fn start(config: &StackConfig) -> Result<Stack, StackError> {
        let zep = FakeZep::start(ZepConfig {
            program: config.zep_faults.clone(),
            seed: config.seed,
            ..ZepConfig::default()
        })
        .await?;
        let assistant =
            |variant: Variant, mode: Mode, regression: Regression, seed: u64| AssistantConfig {
                zep_url: zep.url(),
                zep_key: zep.api_key().to_string(),
                mode,
                variant,
                brain_latency: config.brain_latency,
                seed,
                regression,
                turn_log: TurnLogTarget::Off,
                ..AssistantConfig::default()
            };
        let baseline = Assistant::start(assistant(
            Variant::Baseline,
            config.baseline_mode,
            Regression::default(),
            config.seed,
        ))
        .await
        .map_err(|source| StackError::Assistant {
            variant: Variant::Baseline,
            source,
        })?;
        let canary = match Assistant::start(assistant(
            Variant::Canary,
            config.canary_mode,
            config.canary_regression.clone(),
            config.seed.wrapping_add(1),
        ))
        .await
        {
            Ok(canary) => canary,
            Err(source) => {
                baseline.shutdown(DRAIN).await;
                zep.shutdown().await;
                return Err(StackError::Assistant {
                    variant: Variant::Canary,
                    source,
                });
            }
        };
        Ok(Stack {
            zep,
            baseline,
            canary,
        })
    }

    /// The fake Zep (its URL is also its admin API's base).
    pub fn zep(&self) -> &FakeZep {
        &self.zep
    }

    /// The assistant of a variant.
    pub fn assistant(&self, variant: Variant) -> &Assistant {
        match variant {
            Variant::Baseline => &self.baseline,
            Variant::Canary => &self.canary,
        }
    }

    /// Stops the assistants (letting queued writes finish, up to a few seconds), then the fake Zep.
    pub async fn shutdown(self) {
        self.canary.shutdown(DRAIN).await;
        self.baseline.shutdown(DRAIN).await;
        self.zep.shutdown().await;
    }
}
