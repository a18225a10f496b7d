//! `rollgate rules`: the exported rule file for the built-in gates (golden), `promtool check
//! rules` on it, bad gate files, and the rules loaded into a real Prometheus ([`real_prometheus`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{CommandFactory, Parser};
use rollgate::analysis::gates::{Gates, Phase};
use rollgate::analysis::rules::{self, Options};
use rollgate::cli::Cli;
use rollgate::commands::{run, Outcome};

mod real_prometheus;

async fn rules_cmd(args: &[&str]) -> anyhow::Result<Outcome> {
    let mut argv = vec!["rollgate", "rules"];
    argv.extend_from_slice(args);
    run(Cli::try_parse_from(argv)?).await
}

/// A Debian `prometheus` package binary (`promtool`, `prometheus`): `None` (the test skips, saying
/// so) when it is not installed, a panic when CI=true, where ci/test.sh installs it.
pub(crate) fn debian_tool(name: &str, env: &str) -> Option<PathBuf> {
    let binary = PathBuf::from(std::env::var(env).unwrap_or_else(|_| name.to_string()));
    match Command::new(&binary).arg("--version").output() {
        Ok(_) => Some(binary),
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but {binary:?} cannot run ({e}): ci/test.sh installs the Debian `prometheus` package"
            );
            eprintln!("skipped: {binary:?} cannot run ({e}); apt-get install prometheus");
            None
        }
    }
}

/// `promtool check rules FILE`: Ok with its output, or Err with it.
pub(crate) fn promtool_check_rules(promtool: &Path, file: &Path) -> Result<String, String> {
    let out = Command::new(promtool)
        .args(["check", "rules"])
        .arg(file)
        .output()
        .expect("promtool runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(said)
    } else {
        Err(said)
    }
}

fn seed_rules(phase: Phase, time_scale: f64) -> String {
    let gates = Gates::seed().expect("seed gates");
    let export = rules::export(&gates, Options { phase, time_scale }).expect("export");
    rules::render(&export)
}

#[test]
fn the_built_in_gates_export_as_this_rule_file() {
    insta::assert_snapshot!("rules_canary_seed", seed_rules(Phase::Canary, 1.0));
}

#[tokio::test]
async fn promtool_accepts_the_exported_rule_files() {
    let Some(promtool) = debian_tool("promtool", "ROLLGATE_PROMTOOL") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // Through the command, for every phase and a compressed scale.
    for (phase, scale) in [
        ("canary", "1"),
        ("write-only", "1"),
        ("read-write", "1"),
        ("full", "1"),
        ("canary", "0.0083"),
    ] {
        let file = dir.path().join(format!("{phase}-{scale}.rules.yml"));
        let outcome = rules_cmd(&[
            "--phase",
            phase,
            "--time-scale",
            scale,
            "--out",
            file.to_str().expect("utf-8"),
        ])
        .await
        .expect("rules");
        assert_eq!(outcome, Outcome::Success);
        let said = promtool_check_rules(&promtool, &file)
            .unwrap_or_else(|e| panic!("promtool rejects {}:\n{e}", file.display()));
        assert!(said.contains("SUCCESS"), "{said}");
    }
    // A gate file of its own: every comparison, a name with template braces (labels and
    // annotations are Go templates in Prometheus), a phase with nothing but a min_duration gate.
    let gates = dir.path().join("gates.toml");
    std::fs::write(
        &gates,
        "[sides]\nlabel = \"deployment\"\nbaseline = \"assistant-primary\"\ncanary = \"assistant\"\n\
         [[check]]\nname = \"hits {{ low }}\"\nphases = [\"canary\"]\naction = \"hold\"\nquery = \"sum(rate(hits_total[1m]))\"\ncompare = \"below\"\nthreshold = 2\n\
         [[check]]\nname = \"slower\"\nphases = [\"canary\"]\naction = \"rollback\"\nquery = \"histogram_quantile(0.9, rate(t_bucket[5m]))\"\ncompare = \"delta_above\"\nthreshold = 0.1\nfor = \"90s\"\n\
         [[check]]\nname = \"errors\"\nphases = [\"canary\"]\naction = \"downgrade\"\nquery = \"sum(rate(e_total[5m]))\"\ncompare = \"ratio_above\"\nthreshold = 3\nfloor = 0.5\n\
         [[check]]\nname = \"soak\"\nphases = [\"full\"]\naction = \"hold\"\nquery = \"x\"\ncompare = \"above\"\nthreshold = 1\nmin_duration = \"1h\"\n",
    )
    .expect("gate file");
    for (phase, expected) in [
        ("canary", "SUCCESS: 3 rules found"),
        ("full", "SUCCESS: 0 rules found"),
    ] {
        let file = dir.path().join(format!("own-{phase}.rules.yml"));
        rules_cmd(&[
            "--gates",
            gates.to_str().expect("utf-8"),
            "--phase",
            phase,
            "--out",
            file.to_str().expect("utf-8"),
        ])
        .await
        .expect("rules");
        let said = promtool_check_rules(&promtool, &file)
            .unwrap_or_else(|e| panic!("promtool rejects {}:\n{e}", file.display()));
        assert!(said.contains(expected), "{phase}: {said}");
    }
    let canary =
        promtool_check_rules(&promtool, &dir.path().join("canary-1.rules.yml")).expect("promtool");
    assert!(canary.contains("SUCCESS: 11 rules found"), "{canary}");
}

#[tokio::test]
async fn a_bad_gate_file_is_an_error_naming_file_line_and_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gates = dir.path().join("gates.toml");
    std::fs::write(
        &gates,
        "[[check]]\nname = \"slow reads\"\naction = \"rollback\"\nquery = \"rate(x[5m]\"\ncompare = \"above\"\nthreshold = 1\n",
    )
    .expect("write");
    let out = dir.path().join("out.yml");
    let err = rules_cmd(&[
        "--gates",
        gates.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ])
    .await
    .expect_err("a syntax error in a query");
    let text = format!("{err:#}");
    assert!(
        text.contains("gates.toml:4:")
            && text.contains("slow reads")
            && text.contains("not valid PromQL"),
        "{text}"
    );
    assert!(!out.exists(), "no rule file from a bad gate file");

    std::fs::write(
        &gates,
        "[[check]]\nname = \"slow reads\"\naction = \"rollback\"\nquery = \"x\"\ncompare = \"above\"\nthreshold = 1\nfor = \"often\"\n",
    )
    .expect("write");
    let err = rules_cmd(&["--gates", gates.to_str().expect("utf-8")])
        .await
        .expect_err("a bad duration");
    let text = format!("{err:#}");
    assert!(
        text.contains("gates.toml:7:") && text.contains("slow reads"),
        "{text}"
    );

    let missing = dir.path().join("missing.toml");
    let err = rules_cmd(&["--gates", missing.to_str().expect("utf-8")])
        .await
        .expect_err("a missing file");
    assert!(format!("{err:#}").contains("missing.toml"), "{err:#}");

    let err = rules_cmd(&["--time-scale", "0"])
        .await
        .expect_err("scale 0");
    assert!(format!("{err:#}").contains("time scale 0"), "{err:#}");
}

#[test]
fn help_explains_the_export() {
    let mut cli = Cli::command();
    let help = cli
        .find_subcommand_mut("rules")
        .expect("rules subcommand")
        .render_long_help()
        .to_string();
    for needle in [
        "--gates",
        "--phase",
        "--out",
        "--time-scale",
        "promtool check rules",
        "rollgate_action",
    ] {
        assert!(help.contains(needle), "{needle} missing in:\n{help}");
    }
}
