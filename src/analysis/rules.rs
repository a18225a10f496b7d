//! Exporting a phase's gates as a Prometheus rule file, so the checks that gate a rollout in CI
//! also watch it in production: every check that can be an alert becomes an alerting rule built
//! from the SAME gate file and the SAME per-side rewriting ([`super::select`]) the analyzer uses.
//!
//! The expression mirrors [`super::evaluate`]'s comparison: an absolute check is
//! `(<canary>) > threshold`; `delta_above` is `max(<canary>) - max(<baseline>) > threshold`;
//! `ratio_above` is `max(<canary>) / clamp_min(max(<baseline>), floor) > threshold and
//! max(<canary>) > floor`. `max()` is the analyzer's "worst series" (and makes the two sides
//! match whatever other labels they carry). A window (`for = "10m"`) becomes `for: 10m`.
//! Checks an alert cannot express (minimum-duration promote gates, data sufficiency) are left out
//! with a comment in the file saying why.
//!
//! For: rendering the YAML text. Not for: evaluating anything, or writing files.

use std::fmt::Write as _;
use std::time::Duration;

use thiserror::Error;

use super::gates::{Action, Check, Compare, Gates, Phase};
use super::{evaluate, select};

/// Why a rule file could not be rendered.
#[derive(Debug, Error)]
pub enum RulesError {
    /// A check's query could not be rewritten for one side.
    #[error("gate file {origin}: check `{check}`: the {side} query does not parse: {error}")]
    Query {
        /// The gate file.
        origin: String,
        /// The check's name.
        check: String,
        /// `canary` or `baseline`.
        side: &'static str,
        /// What the parser said.
        error: String,
    },
    /// The built expression is not valid PromQL (a bug, or a side label that breaks it).
    #[error("gate file {origin}: check `{check}`: the alert expression `{expr}` does not parse: {error}")]
    Expr {
        /// The gate file.
        origin: String,
        /// The check's name.
        check: String,
        /// The expression.
        expr: String,
        /// What the parser said.
        error: String,
    },
    /// `time_scale` is not a positive finite number.
    #[error("time scale {0} must be above 0 and at most 10")]
    TimeScale(f64),
}

/// How to render.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// The phase whose checks are exported.
    pub phase: Phase,
    /// Multiplies every window, step and query range (1.0: as written), as `rollgate analyze
    /// --time-scale` does; for trying the rules on a compressed run.
    pub time_scale: f64,
}

/// One exported alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The alert's name (`RollgateBreakerOpen5For10m`).
    pub name: String,
    /// The check it comes from.
    pub check: String,
    /// What firing means.
    pub action: Action,
    /// The PromQL expression.
    pub expr: String,
    /// How long it must hold before firing.
    pub hold_for: Duration,
    /// How often its group is evaluated (the check's step, at least 1 s).
    pub interval: Duration,
    /// The threshold with its unit, for the annotation.
    pub threshold: String,
    /// The comparison in words.
    pub comparison: String,
}

/// A check left out, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Omitted {
    /// What was left out.
    pub what: String,
    /// Why.
    pub why: String,
}

/// The alerts of a phase and what could not be exported.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// The gate file.
    pub origin: String,
    /// The phase.
    pub phase: Phase,
    /// The time scale applied.
    pub time_scale: f64,
    /// Exported alerts, in gate file order.
    pub alerts: Vec<Alert>,
    /// Left out, in gate file order (data sufficiency first).
    pub omitted: Vec<Omitted>,
}

/// Builds the alerts of `options.phase` from `gates`.
pub fn export(gates: &Gates, options: Options) -> Result<Export, RulesError> {
    let scale = options.time_scale;
    if !(scale.is_finite() && scale > 0.0 && scale <= 10.0) {
        return Err(RulesError::TimeScale(scale));
    }
    let mut omitted = vec![Omitted {
        what: format!(
            "data sufficiency ([data] min_requests = {} of {})",
            gates.sufficiency.min_requests, gates.sufficiency.requests
        ),
        why:
            "an alert fires on a breach; it cannot say \"too little traffic to judge\". A missing \
              series makes these alerts silent, not red: rollgate analyze holds on no data"
                .into(),
    }];
    let mut alerts: Vec<Alert> = Vec::new();
    for check in gates.for_phase(options.phase) {
        if !check.min_duration.is_zero() {
            omitted.push(Omitted {
                what: format!(
                    "\"{}\" (min_duration = {})",
                    check.name,
                    prom_duration(check.min_duration)
                ),
                why:
                    "a minimum-duration gate promotes once the condition has held long enough; an \
                      alert can only say that it is breached now. rollgate analyze judges it"
                        .into(),
            });
            continue;
        }
        let mut alert = alert(gates, check, scale)?;
        let base = alert.name.clone();
        let mut n = 2;
        while alerts.iter().any(|a| a.name == alert.name) {
            alert.name = format!("{base}{n}");
            n += 1;
        }
        alerts.push(alert);
    }
    Ok(Export {
        origin: gates.origin.clone(),
        phase: options.phase,
        time_scale: scale,
        alerts,
        omitted,
    })
}

fn alert(gates: &Gates, check: &Check, scale: f64) -> Result<Alert, RulesError> {
    let side = |side: &'static str, value: &str| {
        select::for_gate_side(&check.query, &gates.sides, value, scale).map_err(|error| {
            RulesError::Query {
                origin: gates.origin.clone(),
                check: check.name.clone(),
                side,
                error: error.trim().to_string(),
            }
        })
    };
    let canary = side("canary", &gates.sides.canary)?;
    let t = number(check.threshold);
    let floor = number(check.floor);
    let expr = match check.compare {
        Compare::Above => format!("({canary}) > {t}"),
        Compare::Below => format!("({canary}) < {t}"),
        Compare::DeltaAbove => {
            let baseline = side("baseline", &gates.sides.baseline)?;
            format!("max({canary}) - max({baseline}) > {t}")
        }
        Compare::RatioAbove => {
            let baseline = side("baseline", &gates.sides.baseline)?;
            format!(
                "(max({canary}) / clamp_min(max({baseline}), {floor}) > {t}) and (max({canary}) > {floor})"
            )
        }
    };
    if let Err(error) = promql_parser::parser::parse(&expr) {
        return Err(RulesError::Expr {
            origin: gates.origin.clone(),
            check: check.name.clone(),
            expr,
            error: error.trim().to_string(),
        });
    }
    let scaled =
        |d: Duration| Duration::from_millis((d.as_secs_f64() * scale * 1000.0).round() as u64);
    let unit = if check.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", check.unit)
    };
    Ok(Alert {
        name: alert_name(&check.name),
        check: check.name.clone(),
        action: check.action,
        expr,
        hold_for: scaled(check.window),
        interval: scaled(check.step).max(Duration::from_secs(1)),
        threshold: format!("{t}{unit}"),
        comparison: evaluate::comparison(check),
    })
}

/// `Rollgate` and the check name's words, capitalised: `Breaker open > 5% for 10m` →
/// `RollgateBreakerOpen5For10m`.
pub fn alert_name(check: &str) -> String {
    let mut out = String::from("Rollgate");
    for word in check.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    out
}

/// A duration in Prometheus' notation (`1h30m`, `10m`, `500ms`, `0s`).
pub fn prom_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("h", 3_600_000u128), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if ms >= size {
            let _ = write!(out, "{}{unit}", ms / size);
            ms %= size;
        }
    }
    out
}

/// A threshold as PromQL and humans write it (`0.05`, `2`, not `5e-2`).
fn number(v: f64) -> String {
    format!("{v}")
}

fn severity(action: Action) -> &'static str {
    match action {
        Action::Rollback => "critical",
        Action::Downgrade => "warning",
        Action::Hold => "info",
    }
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Rollback => "rollback",
        Action::Downgrade => "downgrade",
        Action::Hold => "hold",
    }
}

/// A YAML double-quoted scalar (JSON's string syntax is one).
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// [`quoted`] for a label or annotation value (Prometheus expands both as Go templates): `{{` in
/// `text` stays literal, then the template `tail` follows as is.
fn annotation(text: &str, tail: &str) -> String {
    quoted(&format!("{}{tail}", text.replace("{{", "{{ \"{{\" }}")))
}

/// The rule file: one group per action (rollback, downgrade, hold), evaluated at the smallest step
/// of its checks.
pub fn render(export: &Export) -> String {
    let phase = export.phase.as_str();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Prometheus alerting rules for the {phase} phase, written by `rollgate rules` from the gate file\n# {} (time scale {}). Do not edit: change the gate file and export again.\n#\n# Each alert is one rollgate check, its query rewritten per side with the gate file's [sides]\n# label exactly as `rollgate analyze` runs it; labels.rollgate_action says what firing means.",
        export.origin,
        number(export.time_scale)
    );
    if !export.omitted.is_empty() {
        out.push_str("#\n# Not exported:\n");
        for o in &export.omitted {
            let _ = writeln!(out, "#   - {}: {}.", o.what, o.why);
        }
    }
    out.push_str("groups:");
    if export.alerts.is_empty() {
        out.push_str(" []\n");
        return out;
    }
    out.push('\n');
    for action in [Action::Rollback, Action::Downgrade, Action::Hold] {
        let alerts: Vec<&Alert> = export
            .alerts
            .iter()
            .filter(|a| a.action == action)
            .collect();
        let Some(interval) = alerts.iter().map(|a| a.interval).min() else {
            continue;
        };
        let _ = writeln!(
            out,
            "  - name: rollgate-{phase}-{}\n    interval: {}\n    rules:",
            action_name(action),
            prom_duration(interval)
        );
        for a in alerts {
            let _ = writeln!(
                out,
                "      - alert: {name}\n        expr: {expr}\n        for: {hold_for}\n        labels:\n          severity: {severity}\n          rollgate_action: {action}\n          phase: {phase}\n          rollgate_check: {check}\n        annotations:\n          summary: {summary}\n          threshold: {threshold}\n          description: {description}",
                name = a.name,
                expr = quoted(&a.expr),
                hold_for = prom_duration(a.hold_for),
                severity = severity(a.action),
                action = action_name(a.action),
                check = annotation(&a.check, ""),
                summary = annotation(&a.check, ""),
                threshold = annotation(&a.threshold, ""),
                description = annotation(
                    &format!(
                        "rollgate check \"{}\" breached ({}){}: {}. Value: ",
                        a.check,
                        a.comparison,
                        match a.hold_for.is_zero() {
                            true => String::new(),
                            false => format!(" for {}", prom_duration(a.hold_for)),
                        },
                        evaluate::action_words(a.action)
                    ),
                    "{{ $value }}"
                ),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_names_read_like_prometheus() {
        assert_eq!(prom_duration(Duration::from_secs(600)), "10m");
        assert_eq!(prom_duration(Duration::from_secs(5430)), "1h30m30s");
        assert_eq!(prom_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(prom_duration(Duration::ZERO), "0s");
        assert_eq!(
            alert_name("Breaker open > 5% for 10m"),
            "RollgateBreakerOpen5For10m"
        );
    }

    #[test]
    fn names_stay_unique_and_templates_literal() {
        let text = "[[check]]\nname = \"low {{ hits }}\"\naction = \"hold\"\nquery = \"x\"\ncompare = \"below\"\nthreshold = 2\n[[check]]\nname = \"low -- hits\"\naction = \"hold\"\nquery = \"x\"\ncompare = \"below\"\nthreshold = 2\n";
        let gates = Gates::parse(std::path::Path::new("g.toml"), text).expect("gates");
        let options = Options {
            phase: Phase::Canary,
            time_scale: 1.0,
        };
        let export = export(&gates, options).expect("export");
        let names: Vec<&str> = export.alerts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["RollgateLowHits", "RollgateLowHits2"]);
        assert_eq!(export.alerts[0].expr, "(x{variant=\"canary\"}) < 2");
        let yaml = render(&export);
        assert!(
            yaml.contains("summary: \"low {{ \\\"{{\\\" }} hits }}\""),
            "{yaml}"
        );
        assert!(
            yaml.contains("rollgate_check: \"low {{ \\\"{{\\\" }} hits }}\""),
            "{yaml}"
        );
    }

    #[test]
    fn each_comparison_has_its_expression() {
        let gates = Gates::seed().expect("seed");
        let export = export(
            &gates,
            Options {
                phase: Phase::Canary,
                time_scale: 1.0,
            },
        )
        .expect("export");
        let by_check = |name: &str| {
            export
                .alerts
                .iter()
                .find(|a| a.check == name)
                .unwrap_or_else(|| panic!("{name} exported"))
        };
        let breaker = by_check("Breaker open > 5% for 10m");
        assert!(breaker.expr.ends_with(") > 0.05"), "{}", breaker.expr);
        assert!(
            breaker.expr.contains("variant=\"canary\""),
            "{}",
            breaker.expr
        );
        assert_eq!(breaker.hold_for, Duration::from_secs(600));
        let ttfb = by_check("p95 TTFB increase > 200ms");
        assert!(ttfb.expr.contains(") - max(") && ttfb.expr.ends_with("> 0.2"));
        let errors = by_check("Error rate increase > 2x baseline");
        assert!(errors.expr.contains("clamp_min(max("), "{}", errors.expr);
        assert!(export
            .omitted
            .iter()
            .any(|o| o.what.contains("p95 write latency < 150ms")));
        assert!(export.alerts.iter().all(|a| !a.check.contains("30-60")));
    }
}
