//! `rollgate calibrate`: A/A runs of the embedded system judged with the seed's gates, counted
//! per check into `calibration.json`; bad targets refused before any load.

use std::process::Command;

use rollgate::analysis::gates::{Gates, Phase};
use rollgate::calibrate::{self, CalibrateConfig, Twins};
use rollgate::gate::Profile;

use crate::load::GOOSE;

#[tokio::test]
async fn an_a_a_run_is_counted_per_check_and_saved() {
    let _turn = GOOSE.lock().await;
    let out = tempfile::tempdir().expect("temp dir");
    let gates = Gates::seed().expect("seed gates");
    let checks = gates.for_phase(Phase::Canary).count();
    let mut lines = Vec::new();
    let (dir, calibration) = calibrate::run(
        &CalibrateConfig {
            phase: Phase::Canary,
            profile: Profile::Short,
            gates,
            scenario: None,
            twins: Twins::Embedded,
            runs: 1,
            out_base: out.path().to_path_buf(),
        },
        &mut |l| lines.push(l),
    )
    .await
    .expect("calibration");
    assert_eq!(calibration.runs, 1);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(calibration.checks.len(), checks);
    for c in &calibration.checks {
        assert_eq!(
            c.breaches + c.inconclusive + c.passes + c.errors,
            1,
            "{c:?}"
        );
        assert!(c.false_positive_ci.0 <= c.false_positive_rate);
        assert!(c.false_positive_rate <= c.false_positive_ci.1);
    }
    // Whatever the machine made of the run, its verdict and files are there to look at.
    let run = &calibration.verdicts[0];
    assert!(run.dir.join("verdict.json").is_file());
    assert!(run.dir.join("manifest.json").is_file());
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(calibrate::CALIBRATION_JSON)).expect("file"),
    )
    .expect("json");
    assert_eq!(json["schema"], "rollgate.calibration/v1");
    assert_eq!(json["checks"].as_array().map(Vec::len), Some(checks));
}

#[test]
fn a_target_off_loopback_is_refused_before_any_load() {
    let out = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args([
            "calibrate",
            "--runs",
            "1",
            "--baseline",
            "http://192.0.2.1:8700",
            "--canary",
            "http://127.0.0.1:9",
            "--out",
        ])
        .arg(out.path())
        .output()
        .expect("run rollgate");
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("192.0.2.1"), "{err}");
    assert_eq!(std::fs::read_dir(out.path()).expect("dir").count(), 0);
}
