//! Quantile expectations on a real assistant: computed from the bucket delta between the check's
//! two scrapes (earlier slow writes do not count), failing when slow, failing with "no samples"
//! when nothing was observed, and an error for a histogram the target does not expose.

use std::path::Path;

use rollgate::run_dir::RunDir;
use rollgate::smoke::{self, Embedded, Phase, Status};

const PLAN: &str = r#"
group = "Quantiles"
phases = ["write-only"]

[[check]]
name = "slow writes"
step = [
  { faults = "[[rule]]\nroutes = [\"writes\"]\nfault = { kind = \"latency\", distribution = \"fixed\", delay = \"400ms\" }\n" },
  { chat = { thread = "a", message = "2BR in Girne" } },
  { chat = { thread = "b", message = "2BR in Girne" } },
]
expect = [{ histogram = "memory_zep_write_latency_seconds", quantile = 0.95, below_ms = 150, min_samples = 2, within_ms = 15000 }]

[[check]]
name = "fast writes after slow ones"
step = [
  { chat = { thread = "a", message = "2BR in Girne" } },
  { chat = { thread = "b", message = "2BR in Girne" } },
]
expect = [{ histogram = "memory_zep_write_latency_seconds", quantile = 0.95, below_ms = 150, min_samples = 2, within_ms = 15000 }]

[[check]]
name = "no writes"
step = [{ wait_ms = 10 }]
expect = [{ histogram = "memory_zep_write_latency_seconds", quantile = 0.95, below_ms = 150, within_ms = 300 }]

[[check]]
name = "unknown histogram"
step = [{ wait_ms = 10 }]
expect = [{ histogram = "memory_zep_no_such_seconds", quantile = 0.95, below_ms = 150 }]
"#;

#[tokio::test]
async fn quantiles_come_from_the_bucket_delta_and_no_samples_is_a_failure() {
    let checks =
        smoke::plan::parse_file(Path::new("quantiles.toml"), PLAN, Phase::WriteOnly).expect("plan");
    let plan = smoke::Plan {
        phase: Phase::WriteOnly,
        checks,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let run_dir = RunDir::at(dir.path()).expect("run dir");
    // One stack for every check, so the histogram keeps the slow writes of the first check.
    let embedded = Embedded::start(Phase::WriteOnly, |_| {})
        .await
        .expect("stack");
    let report = smoke::run(&plan, &embedded.target(), &run_dir)
        .await
        .expect("report");
    embedded.shutdown().await;
    let table = smoke::table(&report);
    let [slow, fast, none, unknown] = &report.checks[..] else {
        panic!("four checks\n{table}");
    };

    assert_eq!(slow.status, Status::Fail, "{table}");
    let p95: f64 = slow
        .seen
        .strip_prefix("p95 = ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("{}", slow.seen));
    assert!(p95 >= 300.0, "{table}");
    assert!(slow.seen.ends_with("over 2 sample(s)"), "{table}");

    // The cumulative histogram still holds the slow writes; the delta does not.
    assert_eq!(fast.status, Status::Pass, "{table}");
    assert!(
        fast.evidence
            .iter()
            .any(|e| e.starts_with("memory_zep_write_latency_seconds: p95 =")
                && e.contains("over 2 sample(s)")),
        "{table}"
    );

    assert_eq!(none.status, Status::Fail, "{table}");
    assert!(none.seen.starts_with("no samples"), "{table}");

    assert_eq!(unknown.status, Status::Error, "{table}");
    assert!(
        unknown
            .seen
            .contains("memory_zep_no_such_seconds_bucket is not exposed by http://127.0.0.1:"),
        "{table}"
    );
}
