//! Golden tests: PromQL cases ported as data from Prometheus's own test scripts
//! (fixtures/promql/*.test, produced by fixtures/promql/port.py) run against rollgate's evaluator.

use super::promqltest;

fn run_file(name: &str) {
    let path = format!("{}/fixtures/promql/{name}", env!("CARGO_MANIFEST_DIR"));
    let script = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let report = promqltest::run(&script);
    let failures: Vec<String> = report
        .failures
        .iter()
        .map(|f| format!("{path}:{} {}\n    {}", f.line, f.query, f.message))
        .collect();
    assert!(report.evals > 0, "{path}: no eval blocks");
    assert!(
        failures.is_empty(),
        "{} of {} evals failed:\n{}",
        failures.len(),
        report.evals,
        failures.join("\n")
    );
}

#[test]
fn golden_histograms() {
    run_file("histograms.test");
}

#[test]
fn golden_functions() {
    run_file("functions.test");
}

#[test]
fn golden_operators() {
    run_file("operators.test");
}

#[test]
fn golden_aggregators() {
    run_file("aggregators.test");
}

#[test]
fn golden_selectors() {
    run_file("selectors.test");
}

#[test]
fn golden_staleness() {
    run_file("staleness.test");
}

#[test]
fn golden_range_queries() {
    run_file("range_queries.test");
}

#[test]
fn golden_literals() {
    run_file("literals.test");
}
