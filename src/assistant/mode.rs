//! The memory mode (`off`, `write_only`, `read_write`) and what changes it at run time.
//!
//! The configured mode is the operator's flag. The effective mode can be lower: sustained
//! 401/403 answers from Zep downgrade `read_write` to `write_only` for a while (ten minutes by
//! default, `memory_zep_downgrades_total{reason="auth"}`), and an unreachable Zep at start-up turns
//! memory off until a probe reaches it. `memory_mode_gauge` always shows the effective mode.
//!
//! Not for: the breaker, which skips calls without changing the mode (see [`super::breaker`]).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus::{IntCounterVec, IntGauge};
use serde::Serialize;

/// How much the memory layer does.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// No Zep calls.
    Off,
    /// Every message is written; context is never read.
    #[value(alias = "write_only")]
    WriteOnly,
    /// Messages are written and context is read before answering.
    #[value(alias = "read_write")]
    ReadWrite,
}

impl Mode {
    /// Name used in traces, logs and cache keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::WriteOnly => "write_only",
            Mode::ReadWrite => "read_write",
        }
    }

    /// Value of `memory_mode_gauge` (the seed's 0=off, 1=write_only, 2=read_write).
    pub fn gauge_value(self) -> i64 {
        match self {
            Mode::Off => 0,
            Mode::WriteOnly => 1,
            Mode::ReadWrite => 2,
        }
    }
}

/// When auth failures downgrade the mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DowngradeConfig {
    /// Consecutive 401/403 answers that count as "sustained".
    pub auth_failures: u32,
    /// How long the downgrade lasts.
    pub duration: Duration,
}

impl Default for DowngradeConfig {
    fn default() -> Self {
        DowngradeConfig {
            auth_failures: 3,
            duration: Duration::from_secs(600),
        }
    }
}

#[derive(Debug)]
struct Inner {
    consecutive_auth: u32,
    downgraded_until: Option<Instant>,
    unreachable: bool,
}

/// The effective mode, shared by every component.
#[derive(Debug)]
pub struct ModeController {
    configured: Mode,
    config: DowngradeConfig,
    inner: Mutex<Inner>,
    gauge: IntGauge,
    downgrades: IntCounterVec,
    downgrade_disabled: bool,
}

impl ModeController {
    /// A controller for the operator's mode.
    pub fn new(
        configured: Mode,
        config: DowngradeConfig,
        gauge: IntGauge,
        downgrades: IntCounterVec,
    ) -> Self {
        gauge.set(configured.gauge_value());
        ModeController {
            configured,
            config,
            inner: Mutex::new(Inner {
                consecutive_auth: 0,
                downgraded_until: None,
                unreachable: false,
            }),
            gauge,
            downgrades,
            downgrade_disabled: false,
        }
    }

    /// A controller that never downgrades when `disabled` (the regression file's
    /// `defects.downgrade = false`).
    pub fn with_downgrade_disabled(mut self, disabled: bool) -> Self {
        self.downgrade_disabled = disabled;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The operator's mode.
    pub fn configured(&self) -> Mode {
        self.configured
    }

    /// The mode in force now, and why it differs from the configured one (`auth_downgrade`,
    /// `zep_unreachable`). Also refreshes `memory_mode_gauge`, so an expired downgrade shows.
    pub fn effective(&self) -> (Mode, Option<&'static str>) {
        self.effective_at(Instant::now())
    }

    /// [`ModeController::effective`] at a given time.
    pub fn effective_at(&self, now: Instant) -> (Mode, Option<&'static str>) {
        let mut inner = self.lock();
        if inner.downgraded_until.is_some_and(|until| now >= until) {
            inner.downgraded_until = None;
            inner.consecutive_auth = 0;
        }
        let (mode, reason) = if inner.unreachable {
            (Mode::Off, Some("zep_unreachable"))
        } else if inner.downgraded_until.is_some() && self.configured > Mode::WriteOnly {
            (Mode::WriteOnly, Some("auth_downgrade"))
        } else {
            (self.configured, None)
        };
        self.gauge.set(mode.gauge_value());
        (mode, reason)
    }

    /// Records a 401/403 from Zep; the threshold-th in a row downgrades `read_write`.
    pub fn record_auth_failure(&self) {
        self.record_auth_failure_at(Instant::now());
    }

    /// [`ModeController::record_auth_failure`] at a given time.
    pub fn record_auth_failure_at(&self, now: Instant) {
        if self.downgrade_disabled {
            return;
        }
        let mut inner = self.lock();
        inner.consecutive_auth = inner.consecutive_auth.saturating_add(1);
        let active = inner.downgraded_until.is_some_and(|until| now < until);
        if !active && inner.consecutive_auth >= self.config.auth_failures {
            inner.downgraded_until = Some(now + self.config.duration);
            if self.configured > Mode::WriteOnly {
                self.downgrades.with_label_values(&["auth"]).inc();
                self.gauge.set(Mode::WriteOnly.gauge_value());
                tracing::warn!(
                    duration = %humantime::format_duration(self.config.duration),
                    "sustained 401/403 from Zep: memory mode downgraded to write_only"
                );
            }
        }
    }

    /// Records an answer from Zep that was not an auth failure: the run of 401/403 is broken.
    pub fn record_authorised(&self) {
        self.lock().consecutive_auth = 0;
    }

    /// Marks Zep unreachable (memory off) or reachable again.
    pub fn set_unreachable(&self, unreachable: bool) {
        self.lock().unreachable = unreachable;
        let _ = self.effective();
    }
}

#[cfg(test)]
mod tests {
    use prometheus::Opts;

    use super::*;

    fn controller(mode: Mode) -> ModeController {
        let gauge = IntGauge::new("mode", "mode").expect("gauge");
        let downgrades = IntCounterVec::new(Opts::new("d", "d"), &["reason"]).expect("vec");
        ModeController::new(
            mode,
            DowngradeConfig {
                auth_failures: 3,
                duration: Duration::from_secs(10),
            },
            gauge,
            downgrades,
        )
    }

    #[test]
    fn sustained_auth_failures_downgrade_for_the_configured_time_then_recover() {
        let c = controller(Mode::ReadWrite);
        let t0 = Instant::now();
        c.record_auth_failure_at(t0);
        c.record_auth_failure_at(t0);
        assert_eq!(c.effective_at(t0), (Mode::ReadWrite, None));
        c.record_auth_failure_at(t0);
        assert_eq!(
            c.effective_at(t0),
            (Mode::WriteOnly, Some("auth_downgrade"))
        );
        assert_eq!(c.gauge.get(), 1);
        // More failures during the downgrade do not count it twice.
        c.record_auth_failure_at(t0 + Duration::from_secs(1));
        assert_eq!(c.downgrades.with_label_values(&["auth"]).get(), 1);
        assert_eq!(
            c.effective_at(t0 + Duration::from_secs(10)),
            (Mode::ReadWrite, None)
        );
        assert_eq!(c.gauge.get(), 2);
    }

    #[test]
    fn an_answer_in_between_breaks_the_run() {
        let c = controller(Mode::ReadWrite);
        let t0 = Instant::now();
        for _ in 0..5 {
            c.record_auth_failure_at(t0);
            c.record_auth_failure_at(t0);
            c.record_authorised();
        }
        assert_eq!(c.effective_at(t0).0, Mode::ReadWrite);
    }

    #[test]
    fn write_only_is_not_downgraded_and_unreachable_means_off() {
        let c = controller(Mode::WriteOnly);
        for _ in 0..5 {
            c.record_auth_failure();
        }
        assert_eq!(c.effective().0, Mode::WriteOnly);
        assert_eq!(c.downgrades.with_label_values(&["auth"]).get(), 0);
        c.set_unreachable(true);
        assert_eq!(c.effective(), (Mode::Off, Some("zep_unreachable")));
        assert_eq!(c.gauge.get(), 0);
    }
}
