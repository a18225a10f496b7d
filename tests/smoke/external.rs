//! The checklist against an EXTERNAL target: a fake Zep and a reference assistant configured
//! like `rollgate assistant`'s defaults (breaker: 5 failures, not the embedded 3; a cooldown cut
//! to a few seconds so the test is not slow), started once and kept running, reached over
//! loopback HTTP the way `rollgate smoke --target URL --zep-admin URL` reaches them. Shows that
//! the breaker boxes do not depend on the target's threshold and that no state leaks from one
//! check (or run) into the next: the runner settles the target before each check.

use std::time::Duration;

use rollgate::assistant::{Assistant, Config as AssistantConfig};
use rollgate::fake_zep::{Config as ZepConfig, FakeZep};
use rollgate::run_dir::RunDir;
use rollgate::smoke::{self, Phase, Settle, SmokeReport, Status, Target};

/// A long-lived external target: a fake Zep and an assistant with the CLI's defaults except a
/// breaker open interval of `open_for`.
struct External {
    zep: FakeZep,
    assistant: Assistant,
}

impl External {
    async fn start(open_for: Duration) -> External {
        let zep = FakeZep::start(ZepConfig::default())
            .await
            .expect("fake Zep");
        let mut config = AssistantConfig {
            zep_url: zep.url(),
            zep_key: zep.api_key().to_string(),
            turn_log: rollgate::assistant::turn_log::TurnLogTarget::Off,
            ..AssistantConfig::default()
        };
        // `rollgate assistant`'s default threshold, not the embedded checklist's 3.
        assert_eq!(config.breaker.failure_threshold, 5);
        config.breaker.open_for = open_for;
        let assistant = Assistant::start(config).await.expect("assistant");
        External { zep, assistant }
    }

    fn target(&self) -> Target {
        Target {
            url: self.assistant.url(),
            zep_admin: Some(self.zep.url()),
            label: self.assistant.url(),
        }
    }

    async fn shutdown(self) {
        self.assistant.shutdown(Duration::from_secs(2)).await;
        self.zep.shutdown().await;
    }
}

/// `rollgate smoke --phase write-only --target URL --zep-admin URL --out DIR --json` through the
/// command-line code path; returns the exit code and the report it wrote.
async fn smoke_cli(external: &External) -> (u8, SmokeReport, serde_json::Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("run");
    let target = external.target();
    let admin = target.zep_admin.clone().expect("admin");
    let cli = <rollgate::cli::Cli as clap::Parser>::try_parse_from([
        "rollgate",
        "smoke",
        "--phase",
        "write-only",
        "--target",
        &target.url,
        "--zep-admin",
        &admin,
        "--out",
        out.to_str().expect("utf-8 path"),
        "--json",
    ])
    .expect("command line");
    let code = rollgate::commands::run(cli)
        .await
        .expect("smoke ran")
        .exit_code();
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("smoke/smoke.json")).expect("smoke.json"),
    )
    .expect("JSON");
    let report = SmokeReport {
        schema: "rollgate.smoke/v1",
        phase: "write-only",
        target: json["target"].as_str().unwrap_or_default().to_string(),
        passed: json["passed"] == true,
        checks: serde_json::from_value(json["checks"].clone()).expect("checks"),
    };
    (code, report, json)
}

fn settled_an_open_breaker(report: &SmokeReport) -> bool {
    report.checks.iter().any(|c| {
        c.evidence
            .iter()
            .any(|e| e.starts_with("settle: memory_zep_breaker_state 2"))
    })
}

#[tokio::test]
async fn the_write_only_checklist_passes_twice_on_a_long_lived_external_target() {
    let external = External::start(Duration::from_secs(3)).await;
    for run in 1..=2 {
        let (code, report, json) = smoke_cli(&external).await;
        let table = smoke::table(&report);
        assert_eq!(code, rollgate::EXIT_OK, "run {run}\n{table}");
        super::assert_all_pass(&report);
        super::assert_every_box_listed(&report, Phase::WriteOnly);
        assert_eq!(json["target"], external.target().url, "run {run}");
        // Every fault-injection box ran (none skipped), and the breaker the breaker boxes
        // opened was waited out before the following check.
        assert!(
            report.checks.iter().all(|c| c.status == Status::Pass),
            "run {run}\n{table}"
        );
        assert!(settled_an_open_breaker(&report), "run {run}\n{json:#}");
        // chat_until reached the open breaker, whatever turn it took with 5 failures.
        let opens = super::check_named(&report.checks, "Force Zep 5xx");
        assert!(
            opens
                .evidence
                .iter()
                .any(|e| e.starts_with("chat_until: memory_zep_breaker_state == 2 after ")),
            "{opens:?}"
        );
    }
    external.shutdown().await;
}

#[tokio::test]
async fn breaker_boxes_first_then_the_write_path_boxes_still_pass() {
    let external = External::start(Duration::from_secs(3)).await;
    let mut plan = smoke::plan::builtin(Phase::WriteOnly).expect("plan");
    // The breaker boxes first (they leave the breaker open), then every other box in file order.
    plan.checks
        .sort_by_key(|c| if c.group == "Circuit Breaker" { 0 } else { 1 });
    assert_eq!(plan.checks[0].name, "Force Zep 5xx → breaker opens");
    assert_eq!(plan.checks[3].group, "Write Path Smoke");
    let dir = tempfile::tempdir().expect("tempdir");
    let run_dir = RunDir::at(dir.path()).expect("run dir");
    let report = smoke::run(&plan, &external.target(), &run_dir)
        .await
        .expect("report");
    super::assert_all_pass(&report);
    super::assert_every_box_listed(&report, Phase::WriteOnly);
    // The first write-path box came right after the breaker boxes and had to wait.
    assert!(
        report.checks[3]
            .evidence
            .iter()
            .any(|e| e.starts_with("settle: memory_zep_breaker_state 2")),
        "{:?}",
        report.checks[3]
    );
    external.shutdown().await;
}

#[tokio::test]
async fn a_breaker_that_does_not_close_within_the_settle_deadline_is_an_error() {
    let external = External::start(Duration::from_secs(3600)).await;
    let target = external.target();
    let mut plan = smoke::plan::builtin(Phase::WriteOnly).expect("plan");
    plan.checks.retain(|c| {
        c.name.starts_with("Force Zep 5xx") || c.name.starts_with("Send message → memory_zep")
    });
    assert_eq!(plan.checks.len(), 2);
    plan.checks
        .sort_by_key(|c| if c.group == "Circuit Breaker" { 0 } else { 1 });
    let dir = tempfile::tempdir().expect("tempdir");
    let run_dir = RunDir::at(dir.path()).expect("run dir");
    let settle = Settle {
        deadline: Duration::from_secs(3),
        ..Settle::default()
    };
    let report = smoke::run_settled(&plan, &target, &settle, &run_dir)
        .await
        .expect("report");
    let table = smoke::table(&report);
    assert_eq!(report.checks[0].status, Status::Pass, "{table}");
    let stuck = &report.checks[1];
    assert_eq!(stuck.status, Status::Error, "{table}");
    assert_eq!(
        stuck.expected,
        format!(
            "memory_zep_breaker_state on {}/metrics to read 0 (breaker closed) within the settle deadline 3s (--settle)",
            target.url
        ),
        "{table}"
    );
    assert!(
        stuck
            .seen
            .starts_with("memory_zep_breaker_state still 2 after "),
        "{table}"
    );
    assert!(!report.passed);
    external.shutdown().await;
}
