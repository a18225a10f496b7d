//! The simulated model: how long "thinking" takes before the first token of an answer.
//!
//! The reference assistant has no language model; its time to first byte comes from a latency
//! distribution sampled per turn with a seeded RNG (default lognormal, median 120 ms), so the TTFB
//! that rollgate measures looks like a real assistant's and is reproducible. A regression file can
//! add a fixed delay or scale every sample to model a slower canary.
//!
//! Not for: the answer's words (see [`super::routing`]).

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, LogNormal, Uniform};
use thiserror::Error;

/// Longest sampled model time: a lognormal tail is unbounded, a turn must not be.
pub const MAX_SAMPLE: Duration = Duration::from_secs(30);

/// A latency distribution, written on the command line as:
/// `0` (no model time), `fixed:80ms`, `uniform:50ms:200ms` or `lognormal:120ms:0.5`
/// (median, then sigma of the underlying normal).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LatencyDist {
    /// Every turn takes exactly this long.
    Fixed(Duration),
    /// Uniform between two bounds (inclusive of the lower).
    Uniform {
        /// Lower bound.
        low: Duration,
        /// Upper bound.
        high: Duration,
    },
    /// Lognormal with this median and shape.
    LogNormal {
        /// Median (e^mu).
        median: Duration,
        /// Standard deviation of the underlying normal.
        sigma: f64,
    },
}

impl Default for LatencyDist {
    fn default() -> Self {
        LatencyDist::LogNormal {
            median: Duration::from_millis(120),
            sigma: 0.4,
        }
    }
}

/// Why a latency distribution could not be parsed.
#[derive(Debug, Error, PartialEq)]
pub enum BrainError {
    /// The text is not one of the accepted forms.
    #[error("invalid latency distribution `{text}`: {reason} (expected 0, fixed:80ms, uniform:50ms:200ms or lognormal:120ms:0.5)")]
    Parse {
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl FromStr for LatencyDist {
    type Err = BrainError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason: String| BrainError::Parse {
            text: text.to_string(),
            reason,
        };
        let duration = |part: &str| {
            humantime::parse_duration(part.trim()).map_err(|err| fail(format!("`{part}`: {err}")))
        };
        let parts: Vec<&str> = text.trim().split(':').collect();
        match parts.as_slice() {
            ["0"] | ["none"] => Ok(LatencyDist::Fixed(Duration::ZERO)),
            ["fixed", d] => Ok(LatencyDist::Fixed(duration(d)?)),
            ["uniform", low, high] => {
                let (low, high) = (duration(low)?, duration(high)?);
                if low > high {
                    return Err(fail("the lower bound is above the upper bound".into()));
                }
                Ok(LatencyDist::Uniform { low, high })
            }
            ["lognormal", median, sigma] => {
                let median = duration(median)?;
                let sigma: f64 = sigma
                    .trim()
                    .parse()
                    .map_err(|err| fail(format!("sigma `{sigma}`: {err}")))?;
                if !(sigma.is_finite() && sigma >= 0.0) {
                    return Err(fail("sigma must be a finite number >= 0".into()));
                }
                if median.is_zero() {
                    return Err(fail(
                        "the median must be above 0 (use `0` for no model time)".into(),
                    ));
                }
                Ok(LatencyDist::LogNormal { median, sigma })
            }
            _ => Err(fail("unknown form".into())),
        }
    }
}

impl fmt::Display for LatencyDist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LatencyDist::Fixed(d) if d.is_zero() => write!(f, "0"),
            LatencyDist::Fixed(d) => write!(f, "fixed:{}", humantime::format_duration(*d)),
            LatencyDist::Uniform { low, high } => write!(
                f,
                "uniform:{}:{}",
                humantime::format_duration(*low),
                humantime::format_duration(*high)
            ),
            LatencyDist::LogNormal { median, sigma } => {
                write!(
                    f,
                    "lognormal:{}:{sigma}",
                    humantime::format_duration(*median)
                )
            }
        }
    }
}

/// A regression's effect on model time: `sample * factor + extra`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slowdown {
    /// Multiplier on every sample (1.0 = none).
    pub factor: f64,
    /// Added to every sample.
    pub extra: Duration,
}

impl Default for Slowdown {
    fn default() -> Self {
        Slowdown {
            factor: 1.0,
            extra: Duration::ZERO,
        }
    }
}

/// The simulated model: samples a per-turn model time.
#[derive(Debug)]
pub struct Brain {
    dist: LatencyDist,
    slowdown: Slowdown,
    rng: Mutex<StdRng>,
}

impl Brain {
    /// A brain sampling `dist` with a seeded RNG, slowed by `slowdown`.
    pub fn new(dist: LatencyDist, slowdown: Slowdown, seed: u64) -> Brain {
        Brain {
            dist,
            slowdown,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    /// The model time for one turn.
    pub fn sample(&self) -> Duration {
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let seconds = match self.dist {
            LatencyDist::Fixed(d) => d.as_secs_f64(),
            LatencyDist::Uniform { low, high } => {
                match Uniform::new_inclusive(low.as_secs_f64(), high.as_secs_f64()) {
                    Ok(uniform) => uniform.sample(&mut *rng),
                    Err(_) => low.as_secs_f64(),
                }
            }
            LatencyDist::LogNormal { median, sigma } => {
                match LogNormal::new(median.as_secs_f64().ln(), sigma) {
                    Ok(lognormal) => lognormal.sample(&mut *rng),
                    Err(_) => median.as_secs_f64(),
                }
            }
        };
        let slowed = seconds * self.slowdown.factor + self.slowdown.extra.as_secs_f64();
        Duration::try_from_secs_f64(slowed.max(0.0))
            .unwrap_or(MAX_SAMPLE)
            .min(MAX_SAMPLE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_parse_and_print_back() {
        for text in [
            "0",
            "fixed:80ms",
            "uniform:50ms:200ms",
            "lognormal:120ms:0.5",
        ] {
            let dist: LatencyDist = text.parse().expect(text);
            assert_eq!(dist.to_string(), text);
        }
    }

    #[test]
    fn bad_distributions_say_what_is_wrong() {
        let err = "lognormal:120ms:-1"
            .parse::<LatencyDist>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("sigma must be"), "{err}");
        let err = "uniform:2s:1s"
            .parse::<LatencyDist>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("lower bound"), "{err}");
        let err = "gamma:1s".parse::<LatencyDist>().unwrap_err().to_string();
        assert!(err.contains("unknown form"), "{err}");
    }

    #[test]
    fn lognormal_median_is_close_to_the_configured_one_and_seeded() {
        let brain = Brain::new(LatencyDist::default(), Slowdown::default(), 7);
        let mut samples: Vec<f64> = (0..2001).map(|_| brain.sample().as_secs_f64()).collect();
        samples.sort_by(f64::total_cmp);
        let median = samples[1000];
        assert!((0.110..0.130).contains(&median), "median {median}");

        let again = Brain::new(LatencyDist::default(), Slowdown::default(), 7);
        let first: Vec<Duration> = (0..5).map(|_| again.sample()).collect();
        let replay = Brain::new(LatencyDist::default(), Slowdown::default(), 7);
        assert_eq!(first, (0..5).map(|_| replay.sample()).collect::<Vec<_>>());
    }

    #[test]
    fn slowdown_scales_then_adds() {
        let slow = Slowdown {
            factor: 2.0,
            extra: Duration::from_millis(100),
        };
        let brain = Brain::new(LatencyDist::Fixed(Duration::from_millis(50)), slow, 1);
        assert_eq!(brain.sample(), Duration::from_millis(200));
    }
}
