//! The JUnit file of a real smoke run, parsed as XML and checked against the shape CI tools read:
//! `testsuites > testsuite[name, tests, failures, errors, skipped, time] > testcase[name,
//! classname, time]` with at most one `failure|error|skipped` child, counts consistent with the
//! cases, one testcase per box, and the evidence in the failure.

use std::path::Path;

use rollgate::run_dir::RunDir;
use rollgate::smoke::{self, Embedded, Phase, Status};

/// One check of each outcome: pass, fail, error (a metric the target does not expose), skipped
/// (fault injection, then the journal, without an admin API).
pub(super) const MIXED: &str = r#"
group = "Mixed <outcomes> & more"
phases = ["write-only"]

[[check]]
name = "passes: listings"
step = [{ chat = { thread = "a", message = "2BR in Girne" } }]
expect = [{ response = "agent", equals = "real_estate" }]

[[check]]
name = "fails: wrong agent"
step = [{ chat = { thread = "a", message = "2BR in Girne" } }]
expect = [{ response = "agent", equals = "local_info" }]

[[check]]
name = "errors: a metric the target does not expose"
step = [{ chat = { thread = "a", message = "2BR in Girne" } }]
expect = [{ metric = "memory_zep_no_such_metric_total", min_delta = 1 }]

[[check]]
name = "skipped: needs faults"
step = [{ faults = "" }, { chat = { thread = "a", message = "2BR in Girne" } }]
expect = [{ response = "agent", equals = "real_estate" }]

[[check]]
name = "skipped: needs the journal"
step = [{ chat = { thread = "a", message = "2BR in Girne" } }]
expect = [{ journal = "arrived" }]
"#;

/// Runs [`MIXED`] against an embedded assistant given as an external target without an admin
/// API; returns the report and the run directory.
pub(super) async fn run_mixed() -> (smoke::SmokeReport, tempfile::TempDir) {
    let checks =
        smoke::plan::parse_file(Path::new("mixed.toml"), MIXED, Phase::WriteOnly).expect("plan");
    let plan = smoke::Plan {
        phase: Phase::WriteOnly,
        checks,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let run_dir = RunDir::at(dir.path()).expect("run dir");
    let embedded = Embedded::start(Phase::WriteOnly, |_| {})
        .await
        .expect("stack");
    let target = smoke::Target {
        zep_admin: None,
        ..embedded.target()
    };
    let report = smoke::run(&plan, &target, &run_dir).await.expect("report");
    embedded.shutdown().await;
    (report, dir)
}

fn attr<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> &'a str {
    node.attribute(name)
        .unwrap_or_else(|| panic!("<{}> has no {name}", node.tag_name().name()))
}

fn count(node: roxmltree::Node<'_, '_>, name: &str) -> usize {
    attr(node, name)
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a count"))
}

#[tokio::test]
async fn the_junit_file_has_the_shape_ci_tools_read() {
    let (report, dir) = run_mixed().await;
    let statuses: Vec<Status> = report.checks.iter().map(|c| c.status).collect();
    assert_eq!(
        statuses,
        [
            Status::Pass,
            Status::Fail,
            Status::Error,
            Status::Skipped,
            Status::Skipped
        ],
        "{}",
        smoke::table(&report)
    );

    let text = std::fs::read_to_string(dir.path().join("smoke/junit.xml")).expect("junit.xml");
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(suites.len(), 1);
    let suite = suites[0];
    assert_eq!(suite.tag_name().name(), "testsuite");
    assert_eq!(attr(suite, "name"), "rollgate smoke write-only");
    attr(suite, "time").parse::<f64>().expect("time is seconds");

    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.is_element() && n.tag_name().name() == "testcase")
        .collect();
    // One testcase per box, in order, named by its wording.
    let names: Vec<&str> = cases.iter().map(|c| attr(*c, "name")).collect();
    let wanted: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, wanted);

    let mut outcomes = Vec::new();
    for case in &cases {
        assert_eq!(
            attr(*case, "classname"),
            "smoke.write-only.mixed--outcomes----more"
        );
        assert!(attr(*case, "time").parse::<f64>().expect("time") >= 0.0);
        let children: Vec<_> = case
            .children()
            .filter(|n| {
                n.is_element() && ["failure", "error", "skipped"].contains(&n.tag_name().name())
            })
            .collect();
        assert!(children.len() <= 1, "{}", attr(*case, "name"));
        outcomes.push(
            children
                .first()
                .map(|n| n.tag_name().name())
                .unwrap_or("pass"),
        );
    }
    assert_eq!(outcomes, ["pass", "failure", "error", "skipped", "skipped"]);

    // The suite's counts agree with its cases.
    assert_eq!(count(suite, "tests"), cases.len());
    assert_eq!(count(suite, "failures"), 1);
    assert_eq!(count(suite, "errors"), 1);
    assert_eq!(count(suite, "skipped"), 2);
    assert_eq!(count(root, "tests"), cases.len());

    // The failure carries the expectation, what was seen and the evidence.
    let failure = cases[1]
        .children()
        .find(|n| n.tag_name().name() == "failure")
        .expect("failure");
    let message = attr(failure, "message");
    assert!(
        message.contains("response agent == \"local_info\"")
            && message.contains("response agent == \"real_estate\""),
        "{message}"
    );
    let details = failure.text().unwrap_or_default();
    assert!(details.contains("evidence:"), "{details}");
    assert!(details.contains("POST http://127.0.0.1:"), "{details}");
    let skipped = cases[3]
        .children()
        .find(|n| n.tag_name().name() == "skipped")
        .expect("skipped");
    assert!(attr(skipped, "message").contains("needs fault injection; pass --zep-admin"));
    let skipped = cases[4]
        .children()
        .find(|n| n.tag_name().name() == "skipped")
        .expect("skipped");
    assert!(attr(skipped, "message").contains("needs the fake Zep's journal; pass --zep-admin"));
}
