//! The circuit breaker in front of Zep: after a run of consecutive failures (5xx, connection
//! errors, timeouts) it opens for a fixed interval, during which reads and writes are skipped and the
//! app answers without memory; then one half-open probe decides between closing and re-opening.
//!
//! A 429 or another 4xx is not a failure of Zep's health: it never counts toward opening (the seed's
//! "429 never opens it"). Times are passed in explicitly so the state machine is tested without
//! sleeping; the breaker updates its two metrics itself on every transition.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntGauge};

/// Breaker thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// How long it stays open before allowing one half-open probe.
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            open_for: Duration::from_secs(30),
        }
    }
}

/// The breaker's state as exported (`memory_zep_breaker_state`) and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// The open interval is over; one probe call is allowed.
    HalfOpen,
    /// Calls are refused until the open interval ends.
    Open,
}

impl BreakerState {
    /// Name used in traces and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::HalfOpen => "half_open",
            BreakerState::Open => "open",
        }
    }

    fn gauge_value(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        }
    }
}

/// How a call to Zep ended, as far as the breaker cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallResult {
    /// Zep answered 2xx (or a 404 for an unknown thread): it is healthy.
    Success,
    /// 5xx, connection failure or timeout: counts toward opening.
    Failure,
    /// 429, 401/403 and other 4xx: Zep is up; neither resets nor counts.
    Neutral,
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    probe_in_flight: bool,
}

/// A consecutive-failure circuit breaker, shared by the read and write paths.
#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
    state_gauge: IntGauge,
    opens: IntCounter,
    disabled: bool,
}

impl Breaker {
    /// A closed breaker reporting to the given metric handles.
    pub fn new(config: BreakerConfig, state_gauge: IntGauge, opens: IntCounter) -> Breaker {
        state_gauge.set(BreakerState::Closed.gauge_value());
        Breaker {
            config,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                consecutive_failures: 0,
                opened_at: None,
                probe_in_flight: false,
            }),
            state_gauge,
            opens,
            disabled: false,
        }
    }

    /// A breaker that never opens when `disabled` (the regression file's `defects.breaker = false`,
    /// for showing that the smoke checklist catches it).
    pub fn with_disabled(mut self, disabled: bool) -> Breaker {
        self.disabled = disabled;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The state stays consistent under every early return, so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn set_state(&self, inner: &mut Inner, state: BreakerState) {
        inner.state = state;
        self.state_gauge.set(state.gauge_value());
    }

    /// Whether a call may go to Zep now. While half-open only one probe is let through at a time.
    pub fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    /// [`Breaker::allow`] at a given time.
    pub fn allow_at(&self, now: Instant) -> bool {
        let mut inner = self.lock();
        match inner.state {
            BreakerState::Closed => true,
            BreakerState::Open => {
                let elapsed = inner
                    .opened_at
                    .map_or(Duration::MAX, |at| now.saturating_duration_since(at));
                if elapsed >= self.config.open_for {
                    self.set_state(&mut inner, BreakerState::HalfOpen);
                    inner.probe_in_flight = true;
                    true
                } else {
                    false
                }
            }
            BreakerState::HalfOpen => {
                if inner.probe_in_flight {
                    false
                } else {
                    inner.probe_in_flight = true;
                    true
                }
            }
        }
    }

    /// The current state, without starting a probe (an elapsed open interval reads as half-open).
    pub fn state(&self) -> BreakerState {
        self.state_at(Instant::now())
    }

    /// [`Breaker::state`] at a given time.
    pub fn state_at(&self, now: Instant) -> BreakerState {
        let inner = self.lock();
        match (inner.state, inner.opened_at) {
            (BreakerState::Open, Some(at))
                if now.saturating_duration_since(at) >= self.config.open_for =>
            {
                BreakerState::HalfOpen
            }
            (state, _) => state,
        }
    }

    /// Records how a call that [`Breaker::allow`] let through ended.
    pub fn record(&self, result: CallResult) {
        self.record_at(result, Instant::now());
    }

    /// [`Breaker::record`] at a given time.
    pub fn record_at(&self, result: CallResult, now: Instant) {
        let mut inner = self.lock();
        let was_probe = inner.state == BreakerState::HalfOpen;
        match result {
            CallResult::Success => {
                inner.consecutive_failures = 0;
                inner.probe_in_flight = false;
                if inner.state != BreakerState::Closed {
                    inner.opened_at = None;
                    self.set_state(&mut inner, BreakerState::Closed);
                }
            }
            CallResult::Failure if self.disabled => {}
            CallResult::Failure => {
                inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
                inner.probe_in_flight = false;
                let trips = inner.state == BreakerState::Closed
                    && inner.consecutive_failures >= self.config.failure_threshold;
                if was_probe || trips {
                    inner.opened_at = Some(now);
                    self.set_state(&mut inner, BreakerState::Open);
                    self.opens.inc();
                }
            }
            CallResult::Neutral => {
                if was_probe {
                    // Zep answered, so the next call may probe again.
                    inner.probe_in_flight = false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32, open_for_ms: u64) -> Breaker {
        let gauge = IntGauge::new("state", "state").expect("gauge");
        let opens = IntCounter::new("opens", "opens").expect("counter");
        Breaker::new(
            BreakerConfig {
                failure_threshold: threshold,
                open_for: Duration::from_millis(open_for_ms),
            },
            gauge,
            opens,
        )
    }

    #[test]
    fn opens_after_threshold_consecutive_failures_and_refuses_calls() {
        let b = breaker(3, 1000);
        let t0 = Instant::now();
        for _ in 0..2 {
            assert!(b.allow_at(t0));
            b.record_at(CallResult::Failure, t0);
        }
        assert_eq!(b.state_at(t0), BreakerState::Closed);
        assert!(b.allow_at(t0));
        b.record_at(CallResult::Failure, t0);
        assert_eq!(b.state_at(t0), BreakerState::Open);
        assert!(!b.allow_at(t0 + Duration::from_millis(999)));
        assert_eq!(b.opens.get(), 1);
        assert_eq!(b.state_gauge.get(), 2);
    }

    #[test]
    fn success_resets_the_run_and_neutral_results_never_open() {
        let b = breaker(2, 1000);
        let t0 = Instant::now();
        b.record_at(CallResult::Failure, t0);
        b.record_at(CallResult::Success, t0);
        b.record_at(CallResult::Failure, t0);
        assert_eq!(b.state_at(t0), BreakerState::Closed);
        for _ in 0..100 {
            b.record_at(CallResult::Neutral, t0);
        }
        assert_eq!(b.state_at(t0), BreakerState::Closed);
        assert_eq!(b.opens.get(), 0);
    }

    #[test]
    fn half_open_lets_one_probe_through_then_closes_or_reopens() {
        let b = breaker(1, 100);
        let t0 = Instant::now();
        b.record_at(CallResult::Failure, t0);
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(b.state_at(t1), BreakerState::HalfOpen);
        assert!(b.allow_at(t1), "the probe");
        assert!(
            !b.allow_at(t1),
            "a second call while the probe is in flight"
        );
        b.record_at(CallResult::Failure, t1);
        assert_eq!(b.state_at(t1), BreakerState::Open);
        assert_eq!(b.opens.get(), 2);

        let t2 = t1 + Duration::from_millis(100);
        assert!(b.allow_at(t2));
        b.record_at(CallResult::Success, t2);
        assert_eq!(b.state_at(t2), BreakerState::Closed);
        assert!(b.allow_at(t2) && b.allow_at(t2));
        assert_eq!(b.state_gauge.get(), 0);
    }
}
