//! The open-model schedule: when slot *i* should be sent.
//!
//! A rate profile is a list of stages, each a duration with a rate that goes linearly from `from` to
//! `to` requests per second (constant when equal; a stepped ramp is several constant stages). The
//! number of slots due by time *t* is the integral N(t) = ∫₀ᵗ r(s) ds, and slot *i* (counting from 0)
//! is due at the first *t* with N(t) = i. Send times come from this formula alone — never from
//! accumulated sleeps or from earlier responses — so the rate cannot drift and a slow target cannot
//! slow the schedule (no coordinated omission).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One stage of a rate profile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// How long the stage lasts.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// Rate at the start of the stage, requests per second.
    pub from: f64,
    /// Rate at the end of the stage, requests per second.
    pub to: f64,
}

/// A validated rate profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    stages: Vec<Stage>,
    /// Slots due before each stage starts.
    offsets: Vec<f64>,
    total: u64,
}

/// Why a profile was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    /// No stages, or all of zero length.
    #[error("the rate profile is empty: give it a duration and a rate")]
    Empty,
    /// A rate is negative or not a number.
    #[error("stage {stage}: rate {rate} is not a non-negative number of requests per second")]
    BadRate {
        /// 1-based stage.
        stage: usize,
        /// The rate.
        rate: f64,
    },
}

impl Schedule {
    /// A constant `rate` for `duration`.
    pub fn constant(rate: f64, duration: Duration) -> Result<Schedule, ScheduleError> {
        Schedule::new(vec![Stage {
            duration,
            from: rate,
            to: rate,
        }])
    }

    /// A stepped ramp from `from` to `to` in `steps` equal constant steps over `duration`.
    pub fn steps(
        from: f64,
        to: f64,
        steps: u32,
        duration: Duration,
    ) -> Result<Schedule, ScheduleError> {
        let steps = steps.max(1);
        let each = duration / steps;
        let stages = (0..steps)
            .map(|k| {
                let rate = if steps == 1 {
                    to
                } else {
                    from + (to - from) * f64::from(k) / f64::from(steps - 1)
                };
                Stage {
                    duration: each,
                    from: rate,
                    to: rate,
                }
            })
            .collect();
        Schedule::new(stages)
    }

    /// A profile from stages.
    pub fn new(stages: Vec<Stage>) -> Result<Schedule, ScheduleError> {
        for (i, stage) in stages.iter().enumerate() {
            for rate in [stage.from, stage.to] {
                if !(rate.is_finite() && rate >= 0.0) {
                    return Err(ScheduleError::BadRate { stage: i + 1, rate });
                }
            }
        }
        let mut offsets = Vec::with_capacity(stages.len());
        let mut due = 0.0;
        for stage in &stages {
            offsets.push(due);
            due += (stage.from + stage.to) / 2.0 * stage.duration.as_secs_f64();
        }
        // Slot i is sent when N(t) reaches i, for i = 0, 1, ...: slots 0..ceil(N(T)) fit in the run.
        let total = (due - 1e-9).ceil().max(0.0) as u64;
        if total == 0 {
            return Err(ScheduleError::Empty);
        }
        Ok(Schedule {
            stages,
            offsets,
            total,
        })
    }

    /// Number of slots in the whole profile.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Total length of the profile.
    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// The stages.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// When slot `slot` is due, from the start of the run; `None` past the end.
    pub fn due(&self, slot: u64) -> Option<Duration> {
        if slot >= self.total {
            return None;
        }
        let target = slot as f64;
        let mut start = 0.0;
        for (stage, &before) in self.stages.iter().zip(&self.offsets) {
            let length = stage.duration.as_secs_f64();
            let in_stage = (stage.from + stage.to) / 2.0 * length;
            if target < before + in_stage || std::ptr::eq(stage, self.stages.last()?) {
                let t = solve_linear(stage.from, stage.to, length, target - before);
                return Some(Duration::from_secs_f64(start + t.clamp(0.0, length)));
            }
            start += length;
        }
        None
    }
}

/// Time into a stage at which `n` slots have become due, for a rate going linearly from `r0` to `r1`
/// over `length` seconds: the root of r0·t + (r1 − r0)·t²/(2·length) = n.
fn solve_linear(r0: f64, r1: f64, length: f64, n: f64) -> f64 {
    if n <= 0.0 {
        return 0.0;
    }
    let a = (r1 - r0) / (2.0 * length);
    if a.abs() < 1e-12 {
        return if r0 > 0.0 { n / r0 } else { 0.0 };
    }
    // a·t² + r0·t − n = 0; the root in [0, length]. Written to avoid cancellation when a is small.
    let discriminant = (r0 * r0 + 4.0 * a * n).max(0.0);
    2.0 * n / (r0 + discriminant.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(d: Option<Duration>) -> f64 {
        d.expect("slot in range").as_secs_f64()
    }

    #[test]
    fn constant_rate_sends_slot_i_at_i_over_rate() {
        let s = Schedule::constant(100.0, Duration::from_secs(10)).unwrap();
        assert_eq!(s.total(), 1000);
        assert_eq!(secs(s.due(0)), 0.0);
        assert!((secs(s.due(1)) - 0.01).abs() < 1e-12);
        assert!((secs(s.due(999)) - 9.99).abs() < 1e-9);
        assert_eq!(s.due(1000), None);
    }

    #[test]
    fn linear_ramp_inverts_the_integral() {
        // 0 -> 100 req/s over 10 s: N(t) = 5 t², 500 slots in all.
        let s = Schedule::new(vec![Stage {
            duration: Duration::from_secs(10),
            from: 0.0,
            to: 100.0,
        }])
        .unwrap();
        assert_eq!(s.total(), 500);
        for slot in [1u64, 20, 125, 499] {
            let expected = (slot as f64 / 5.0).sqrt();
            assert!((secs(s.due(slot)) - expected).abs() < 1e-9, "slot {slot}");
        }
    }

    #[test]
    fn stages_chain_and_due_times_increase() {
        let s = Schedule::new(vec![
            Stage {
                duration: Duration::from_secs(2),
                from: 10.0,
                to: 10.0,
            },
            Stage {
                duration: Duration::from_secs(2),
                from: 10.0,
                to: 30.0,
            },
            Stage {
                duration: Duration::from_secs(1),
                from: 0.0,
                to: 0.0,
            },
            Stage {
                duration: Duration::from_secs(1),
                from: 50.0,
                to: 50.0,
            },
        ])
        .unwrap();
        assert_eq!(s.total(), 20 + 40 + 50);
        assert!((secs(s.due(20)) - 2.0).abs() < 1e-9);
        assert!(
            (secs(s.due(60)) - 5.0).abs() < 1e-9,
            "the idle stage is skipped: {:?}",
            s.due(60)
        );
        let mut last = 0.0;
        for slot in 0..s.total() {
            let t = secs(s.due(slot));
            assert!(t >= last, "slot {slot} at {t} before {last}");
            last = t;
        }
    }

    #[test]
    fn stepped_ramp_and_bad_profiles() {
        let s = Schedule::steps(10.0, 30.0, 3, Duration::from_secs(3)).unwrap();
        assert_eq!(s.total(), 10 + 20 + 30);
        assert_eq!(
            Schedule::constant(0.0, Duration::from_secs(5)),
            Err(ScheduleError::Empty)
        );
        assert!(matches!(
            Schedule::constant(-1.0, Duration::from_secs(5)),
            Err(ScheduleError::BadRate { stage: 1, .. })
        ));
    }
}
