//! The analyzer's statistics: sample counts and the tests behind each check, on counters written
//! into a store (significance and sufficiency) and on real load runs (Mann-Whitney U on the run's
//! per-request TTFB).

use std::path::Path;

use rollgate::analysis::evaluate::{self, Outcome, Span};
use rollgate::analysis::gates::Gates;
use rollgate::analysis::significance::{self, Inputs};
use rollgate::analysis::verdict::{Decision, Verdict};
use rollgate::assistant::mode::Mode;
use rollgate::prom::eval::Semantics;
use rollgate::prom::labels::Labels;
use rollgate::prom::source::Source;
use rollgate::prom::store::Store;
use rollgate::stack::StackConfig;

use super::{judged, judged_on, GOOSE, MINUTE, T0};

/// Counters `events_total` and `trials_total` per side, scraped every 15 s for 30 minutes: each
/// side gets `trials` trials per scrape; the canary's events are `high` of them during minutes
/// `[from, from + lasting)` and none otherwise; the baseline's are `baseline` of them throughout.
fn counters(trials: f64, from: i64, lasting: i64, high: f64, baseline: f64) -> Source {
    let mut store = Store::new();
    let series =
        |name: &str, side: &str| Labels::from_pairs([("__name__", name), ("variant", side)]);
    let (mut events, mut base_events, mut total) = (0.0, 0.0, 0.0);
    let mut t = T0;
    while t <= T0 + 30 * MINUTE {
        let m = (t - T0) as f64 / MINUTE as f64;
        if t > T0 {
            total += trials;
            base_events += trials * baseline;
            if m > from as f64 && m <= (from + lasting) as f64 {
                events += trials * high;
            }
        }
        for side in ["canary", "baseline"] {
            store
                .append(&series("trials_total", side), t, total)
                .expect("append");
        }
        store
            .append(&series("events_total", "canary"), t, events)
            .expect("append");
        store
            .append(&series("events_total", "baseline"), t, base_events)
            .expect("append");
        t += 15_000;
    }
    Source::Local {
        store,
        semantics: Semantics::Prometheus3,
    }
}

fn gates(check: &str) -> Gates {
    gates_on(
        "sum(rate(events_total[1m])) / sum(rate(trials_total[1m]))",
        check,
    )
}

fn gates_on(query: &str, check: &str) -> Gates {
    let text = format!(
        "[data]\nmin_requests = 0\nrequests = \"vector(0)\"\n[[check]]\nname = \"c\"\nquery = '{query}'\n{check}\n"
    );
    Gates::parse(Path::new("test.toml"), &text).expect("gate file")
}

async fn assessed(gates: &Gates, source: &Source) -> evaluate::CheckResult {
    let span = Span {
        start_ms: T0,
        end_ms: T0 + 30 * MINUTE,
        time_scale: 1.0,
    };
    let mut result = evaluate::check(
        gates,
        &gates.checks[0],
        &evaluate::Ranges::new(source),
        &span,
        None,
    )
    .await;
    let inputs = Inputs {
        gates,
        source,
        span: &span,
        latency: None,
    };
    significance::assess(&inputs, &gates.checks[0], &mut result).await;
    result
}

#[tokio::test]
async fn a_breach_on_few_trials_is_not_significant_and_on_many_it_is() {
    let g = gates("action = \"rollback\"\ncompare = \"above\"\nthreshold = 0.05\nfor = \"10m\"");
    // 6% for 11 minutes, 1 trial per scrape: ~48 trials behind the breach, ~3 events.
    // P(X >= 3 | n = 48, p = 0.05) is about 0.43: not evidence of a ratio above 5%.
    let few = assessed(&g, &counters(1.0, 5, 11, 0.06, 0.0)).await;
    assert_eq!(few.outcome, Outcome::Inconclusive, "{}", few.decision);
    assert!(
        few.decision.starts_with("breach not significant: n="),
        "{}",
        few.decision
    );
    let stat = few.statistic.as_ref().expect("a statistic");
    assert_eq!(stat.test, "binomial");
    assert!(stat.p_value.expect("p") > 0.1, "{stat:?}");
    assert!(few.samples.expect("samples") < 100, "{:?}", few.samples);
    // The same shape at 500 trials per scrape: ~24000 trials, 6% vs 5% is far beyond chance.
    let many = assessed(&g, &counters(500.0, 5, 11, 0.06, 0.0)).await;
    assert_eq!(many.outcome, Outcome::Breach, "{}", many.decision);
    let stat = many.statistic.as_ref().expect("a statistic");
    assert!(stat.p_value.expect("p") < 1e-6, "{stat:?}");
    assert!(
        many.samples.expect("samples") > 10_000,
        "{:?}",
        many.samples
    );
}

#[tokio::test]
async fn a_clean_ratio_passes_only_when_the_rule_of_three_clears_the_threshold() {
    let g = gates("action = \"hold\"\ncompare = \"above\"\nthreshold = 0.01");
    // No event in 120 trials: the 95% upper bound is about 3/120 = 2.5%, above 1%.
    let thin = assessed(&g, &counters(1.0, 0, 0, 0.0, 0.0)).await;
    assert_eq!(thin.outcome, Outcome::Inconclusive, "{}", thin.decision);
    assert!(
        thin.decision.starts_with("insufficient data: 0 of 120"),
        "{}",
        thin.decision
    );
    let stat = thin.statistic.as_ref().expect("a statistic");
    assert_eq!(stat.ci_method, "rule of three");
    // No event in 1200 trials: about 0.25%, below 1%.
    let thick = assessed(&g, &counters(10.0, 0, 0, 0.0, 0.0)).await;
    assert_eq!(thick.outcome, Outcome::Pass, "{}", thick.decision);
    assert_eq!(thick.samples, Some(1200));
}

#[tokio::test]
async fn a_ratio_against_the_baseline_uses_a_two_proportion_test() {
    let g = gates("action = \"rollback\"\ncompare = \"ratio_above\"\nthreshold = 2\nfloor = 0.01\nfor = \"1m\"");
    // Canary 5% for the whole run vs baseline 2%, 100 trials per scrape: 2.5x, and with ~12000
    // trials a side the difference is far beyond chance.
    let loud = assessed(&g, &counters(100.0, 0, 30, 0.05, 0.02)).await;
    assert_eq!(loud.outcome, Outcome::Breach, "{}", loud.decision);
    let stat = loud.statistic.as_ref().expect("a statistic");
    assert_eq!(stat.test, "two-proportion-z");
    assert!(stat.p_value.expect("p") < 1e-6, "{stat:?}");
    let effect = stat.effect_size.expect("effect");
    assert!((effect - 0.03).abs() < 0.005, "{stat:?}");
}

#[tokio::test]
async fn any_event_against_a_zero_threshold_is_certain_and_none_passes() {
    let g = gates_on(
        "sum(increase(events_total[10m]))",
        "action = \"downgrade\"\ncompare = \"above\"\nthreshold = 0",
    );
    // One event per scrape for 3 minutes.
    let seen = assessed(&g, &counters(1.0, 5, 3, 1.0, 0.0)).await;
    assert_eq!(seen.outcome, Outcome::Breach, "{}", seen.decision);
    let stat = seen.statistic.as_ref().expect("a statistic");
    assert_eq!(
        (stat.test, stat.p_value),
        ("poisson", Some(0.0)),
        "{stat:?}"
    );
    assert!(seen.samples.expect("samples") >= 12, "{:?}", seen.samples);
    // None: nothing to estimate, every event would have been seen.
    let none = assessed(&g, &counters(1.0, 0, 0, 0.0, 0.0)).await;
    assert_eq!(none.outcome, Outcome::Pass, "{}", none.decision);
    assert_eq!(none.samples, Some(0));
    assert!(none.statistic.as_ref().is_some_and(|s| s.sufficient));
}

/// The verdict's JSON for one check.
fn check_json<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {json}"))
}

fn json(v: &Verdict) -> serde_json::Value {
    serde_json::to_value(v).expect("json")
}

#[tokio::test]
async fn mann_whitney_on_the_runs_ttfb_flags_a_250ms_canary_and_not_a_healthy_one() {
    let _turn = GOOSE.lock().await;
    let slow = judged(Some("[brain]\nextra_latency = \"250ms\"\n"), true).await;
    assert_eq!(slow.verdict, Decision::Rollback, "{}", slow.reason);
    let slow = json(&slow);
    let ttfb = check_json(&slow, "p95 TTFB increase > 200ms");
    assert_eq!(ttfb["outcome"], "breach", "{ttfb}");
    assert!(ttfb["samples"].as_u64().expect("samples") > 0, "{ttfb}");
    let stat = &ttfb["statistic"];
    assert_eq!(stat["test"], "mann-whitney", "{stat}");
    assert!(stat["p_value"].as_f64().expect("p") < 0.01, "{stat}");
    // The canary is slower in most pairs (0.5 would be no difference).
    assert!(
        stat["effect_size"].as_f64().expect("effect") > 0.7,
        "{stat}"
    );
    assert!(
        stat["data"]
            .as_str()
            .expect("data")
            .starts_with("load engine HDR"),
        "{stat}"
    );
    eprintln!(
        "250ms canary, {}: samples {}, {stat}",
        ttfb["name"], ttfb["samples"]
    );
    for check in slow["checks"].as_array().expect("checks") {
        assert!(check["samples"].is_u64(), "samples missing in {check}");
    }

    // A healthy canary on the same memory mode as its baseline (the default baseline is
    // write-only, whose turns skip the context read and are genuinely faster).
    let healthy = judged_on(
        &StackConfig {
            baseline_mode: Mode::ReadWrite,
            ..StackConfig::default()
        },
        true,
    )
    .await;
    // The verdict itself is not asserted: on a starved 2-core machine a few slow seconds can
    // breach a short window for real. The whole-span comparison is what must show no difference.
    let healthy = json(&healthy);
    let whole = [
        healthy["window"]["start_ms"].clone(),
        healthy["window"]["end_ms"].clone(),
    ];
    let tests: Vec<&serde_json::Value> = healthy["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| &c["statistic"])
        .filter(|s| {
            s["test"] == "mann-whitney"
                && s["range_ms"].as_array().is_some_and(|r| r[..] == whole[..])
        })
        .collect();
    assert!(
        !tests.is_empty(),
        "no Mann-Whitney over the whole span: {healthy}"
    );
    for stat in tests {
        eprintln!("healthy canary (same memory mode): {stat}");
        // Under no difference p is uniform: 0.001 leaves a 1-in-1000 chance of a false alarm.
        assert!(stat["p_value"].as_f64().expect("p") > 0.001, "{stat}");
        let cles = stat["effect_size"].as_f64().expect("effect");
        assert!((0.3..0.7).contains(&cles), "{stat}");
    }
}
