//! Whole load runs: a scenario against a baseline and a canary assistant leaves a complete run
//! directory; Ctrl-C leaves a valid partial one; bad targets are refused before anything is sent.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rollgate::assistant::mode::Mode;
use rollgate::fake_zep::{Config, FakeZep};
use rollgate::load::manifest;
use rollgate::load::run::{self, LoadError, RunOptions};
use rollgate::load::scenario::{Overrides, Scenario};
use rollgate::prom::store::Store;
use rollgate::stack::{Stack, StackConfig};
use rollgate::variant::Variant;
use serde_json::Value;

use super::GOOSE;

fn scenario(text: &str, overrides: &Overrides) -> Scenario {
    Scenario::parse(Path::new("test.toml"), text, overrides).expect("valid scenario")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("file")).expect("JSON")
}

const ASSISTANT: &str = r#"
name = "pair"
[target]
kind = "assistant"
[load]
rate = 50
duration = "4s"
[conversations]
threads = 40
turns = 4
canary_percent = 25
[scrape]
interval = "500ms"
"#;

#[tokio::test]
async fn a_run_against_baseline_and_canary_writes_a_complete_run_directory() {
    let _turn = GOOSE.lock().await;
    let stack = Stack::start(&StackConfig {
        baseline_mode: Mode::WriteOnly,
        canary_mode: Mode::ReadWrite,
        brain_latency: "fixed:5ms".parse().expect("latency"),
        ..StackConfig::default()
    })
    .await
    .expect("stack");
    let out = tempfile::tempdir().expect("temp dir");
    let s = scenario(
        ASSISTANT,
        &Overrides {
            target: Some(stack.assistant(Variant::Baseline).url()),
            canary_target: Some(stack.assistant(Variant::Canary).url()),
            ..Overrides::default()
        },
    );
    let summary = run::run(
        &s,
        &RunOptions {
            out_base: out.path().to_path_buf(),
            ..RunOptions::default()
        },
    )
    .await
    .expect("run");
    assert_eq!(summary.ending, rollgate::load::pacer::Ending::Complete);
    assert_eq!(
        (summary.planned, summary.sent, summary.errors),
        (200, 200, 0)
    );

    let m = read_json(&summary.dir.join("manifest.json"));
    assert_eq!(m["schema"], "rollgate.run/v1");
    assert_eq!(m["status"], "complete");
    assert_eq!(m["config"]["target"]["kind"], "assistant");
    let results = m["results"].as_array().expect("results");
    let count = |variant: &str| -> u64 {
        results
            .iter()
            .filter(|r| r["variant"] == variant)
            .map(|r| r["count"].as_u64().expect("count"))
            .sum()
    };
    assert_eq!(count("baseline") + count("canary"), 200);
    assert!(
        count("canary") > 0 && count("baseline") > count("canary"),
        "{results:?}"
    );
    // 10% reads by slot: exactly 20 of 200.
    let reads: u64 = results
        .iter()
        .filter(|r| r["kind"] == "read")
        .map(|r| r["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(reads, 20);
    assert!(
        results
            .iter()
            .any(|r| r["kind"] == "read" && r["variant"] == "canary"),
        "reads reach the canary's threads too: {results:?}"
    );
    for r in results {
        let p95 = r["ttfb_corrected_ms"]["p95"].as_f64().expect("p95");
        assert!(p95 > 0.0 && p95 < 5000.0, "{r}");
    }

    // The histograms read back with the manifest's counts.
    for r in results {
        let variant = if r["variant"] == "canary" {
            Variant::Canary
        } else {
            Variant::Baseline
        };
        let file = manifest::histogram_file(
            r["kind"].as_str().expect("kind"),
            variant,
            "total_corrected",
        );
        let h = manifest::read_histogram(&summary.dir.join(file)).expect("hlog");
        assert_eq!(h.len(), r["count"].as_u64().expect("count"));
    }
    let seconds = read_json(&summary.dir.join("load/seconds.json"));
    let rows = seconds.as_array().expect("rows");
    let counted: u64 = rows
        .iter()
        .map(|r| r["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(counted, 200);

    // Both assistants were scraped during the run, each with its own variant label.
    let store = Store::read_run_dir(&summary.dir).expect("scraped samples");
    for (variant, mode) in [("baseline", 1.0), ("canary", 2.0)] {
        let gauge = store
            .series_sorted(Some("memory_mode_gauge"))
            .into_iter()
            .find(|s| s.labels().get("variant") == variant)
            .unwrap_or_else(|| panic!("no memory_mode_gauge for {variant}"));
        assert!(gauge.len() >= 3, "{variant}: {} scrapes", gauge.len());
        assert_eq!(gauge.samples().last().map(|(_, v)| v), Some(mode));
    }
    stack.shutdown().await;
}

#[tokio::test]
async fn bad_targets_are_refused_before_anything_is_sent() {
    let err = run::check_url("http://10.0.0.8:8700", false).expect_err("remote");
    assert!(matches!(err, LoadError::Remote { .. }), "{err}");
    assert!(err.to_string().contains("--allow-remote"), "{err}");
    run::check_url("http://10.0.0.8:8700", true).expect("allowed");
    run::check_url("http://[::1]:8700", false).expect("loopback v6");
    run::check_url("http://localhost:8700", false).expect("localhost");
    assert!(run::check_url("ftp://127.0.0.1/", false).is_err());

    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        format!("http://127.0.0.1:{port}")
    };
    let out = tempfile::tempdir().expect("temp dir");
    let s = scenario(
        ASSISTANT,
        &Overrides {
            target: Some(dead.clone()),
            ..Overrides::default()
        },
    );
    let started = Instant::now();
    let err = run::run(
        &s,
        &RunOptions {
            out_base: out.path().to_path_buf(),
            ..RunOptions::default()
        },
    )
    .await
    .expect_err("unreachable");
    assert!(matches!(err, LoadError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains(&dead), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "fails fast");
    assert_eq!(
        std::fs::read_dir(out.path()).expect("dir").count(),
        0,
        "no run directory"
    );
}

/// Ctrl-C (SIGINT) to a running `rollgate load` stops sending and leaves a valid partial run.
#[tokio::test]
async fn sigint_leaves_a_valid_partial_run_directory() {
    let zep = FakeZep::start(Config::default()).await.expect("fake zep");
    let out = tempfile::tempdir().expect("temp dir");
    let child = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args([
            "load",
            "--scenario",
            "scenarios/zep-direct.toml",
            "--rate",
            "20",
            "--duration",
            "60s",
        ])
        .arg("--target")
        .arg(zep.url())
        .arg("--out")
        .arg(out.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rollgate load starts");
    // Wait until requests have been sent, then interrupt.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let journal = zep
            .admin()
            .journal(&Default::default())
            .await
            .expect("journal");
        let paced = journal
            .entries
            .iter()
            .filter(|e| e.route.contains("/messages") || e.route.contains("/context"))
            .count();
        if paced >= 20 {
            break;
        }
        assert!(Instant::now() < deadline, "the run never got going");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("rollgate load exits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("INTERRUPTED"), "{stderr}");
    // Goose prints a line of its own on stdout; the run directory is the last line.
    let dir = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .expect("run dir line")
        .to_string();
    let m = read_json(&Path::new(&dir).join("manifest.json"));
    assert_eq!(m["status"], "interrupted");
    let sent = m["sent"].as_u64().expect("sent");
    assert!(
        sent >= 20 && sent < m["planned"].as_u64().expect("planned"),
        "{m}"
    );
    let recorded: u64 = m["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(recorded, sent);
    assert!(Path::new(&dir).join("load/seconds.json").exists());
    zep.shutdown().await;
}

/// Starts `rollgate load` on a shard of the zep-direct scenario (40 req/s for 5 s, no canary).
fn runner(zep: &str, out: &Path, shard: &str, start_at: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args([
            "load",
            "--scenario",
            "scenarios/zep-direct.toml",
            "--rate",
            "40",
            "--duration",
            "5s",
        ])
        .args(["--target", zep, "--shard", shard, "--start-at", start_at])
        .arg("--out")
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rollgate load starts")
}

fn finish(child: std::process::Child) -> std::path::PathBuf {
    let output = child.wait_with_output().expect("runner exits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    std::path::PathBuf::from(stdout.lines().last().expect("run dir line"))
}

fn counts(manifest: &Value) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = manifest["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                format!(
                    "{}.{}",
                    r["kind"].as_str().unwrap_or(""),
                    r["variant"].as_str().unwrap_or("")
                ),
                r["count"].as_u64().expect("count"),
            )
        })
        .collect();
    out.sort();
    out
}

/// Two runners sharing one schedule, merged, give the counts one runner gives, and the merged
/// histograms are the exact sum of the shards'.
#[tokio::test]
async fn two_shards_merged_match_one_runner() {
    let zep = FakeZep::start(Config::default()).await.expect("fake zep");
    let out = tempfile::tempdir().expect("temp dir");
    let stamp = |secs: u64| {
        humantime::format_rfc3339_millis(std::time::SystemTime::now() + Duration::from_secs(secs))
            .to_string()
    };
    // The fake Zep serves from this runtime: wait for the runners off it.
    let wait = |child| async move {
        tokio::task::spawn_blocking(move || finish(child))
            .await
            .expect("join")
    };
    let single = wait(runner(
        &zep.url(),
        &out.path().join("one"),
        "0/1",
        &stamp(2),
    ))
    .await;
    let start = stamp(3);
    let a = runner(&zep.url(), &out.path().join("a"), "0/2", &start);
    let b = runner(&zep.url(), &out.path().join("b"), "1/2", &start);
    let (a, b) = (wait(a).await, wait(b).await);
    let merged = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .arg("merge")
        .arg(&a)
        .arg(&b)
        .arg("--out")
        .arg(out.path().join("merged"))
        .output()
        .expect("merge runs");
    assert!(
        merged.status.success(),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    let merged = std::path::PathBuf::from(String::from_utf8_lossy(&merged.stdout).trim());

    let one = read_json(&single.join("manifest.json"));
    let both = read_json(&merged.join("manifest.json"));
    assert_eq!(both["status"], "complete");
    assert_eq!(both["shard"], "0/1");
    assert_eq!(
        (both["planned"].clone(), both["sent"].clone()),
        (one["planned"].clone(), one["sent"].clone())
    );
    assert_eq!(one["sent"], 200);
    assert_eq!(counts(&both), counts(&one));
    assert_eq!(
        counts(&one),
        [
            ("read.baseline".to_string(), 20),
            ("write.baseline".to_string(), 180)
        ]
    );
    for kind in ["write", "read"] {
        for metric in ["ttfb_corrected", "total_raw"] {
            let file = manifest::histogram_file(kind, Variant::Baseline, metric);
            // With a mix period of 10 and 2 shards, one shard may send no reads at all.
            let m = manifest::read_histogram(&merged.join(&file)).expect("merged");
            let mut sum = hdrhistogram::Histogram::<u64>::new_from(&m);
            for shard in [&a, &b] {
                if shard.join(&file).exists() {
                    sum.add(manifest::read_histogram(&shard.join(&file)).expect("shard"))
                        .expect("add");
                }
            }
            assert_eq!(m, sum, "{file}");
            assert_eq!(
                m.len(),
                manifest::read_histogram(&single.join(&file))
                    .expect("single")
                    .len()
            );
        }
    }
    let rows = |dir: &Path| -> u64 {
        read_json(&dir.join("load/seconds.json"))
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| r["count"].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(rows(&merged), 200);
    zep.shutdown().await;
}

/// A target failing every request trips the error guard: the run stops early, says why, and keeps
/// what it measured.
#[tokio::test]
async fn the_error_guard_aborts_a_failing_run_and_records_why() {
    let _turn = GOOSE.lock().await;
    let zep = FakeZep::start(Config {
        program: rollgate::fake_zep::Program::parse(
            "[[rule]]\nroutes = [\"POST /api/v2/threads/{id}/messages\", \"GET /api/v2/threads/{id}/context\"]\nfault = { kind = \"status\", status = 503 }\n",
            "test",
        )
        .expect("program"),
        ..Config::default()
    })
    .await
    .expect("fake zep");
    let out = tempfile::tempdir().expect("temp dir");
    let text = "[target]\nkind = \"zep\"\n[load]\nrate = 50\nduration = \"20s\"\n[conversations]\nthreads = 10\ncanary_percent = 0\n[guards]\nmax_error_ratio = 0.5\nmin_requests = 20\n";
    let s = scenario(
        text,
        &Overrides {
            target: Some(zep.url()),
            ..Overrides::default()
        },
    );
    let summary = run::run(
        &s,
        &RunOptions {
            out_base: out.path().to_path_buf(),
            ..RunOptions::default()
        },
    )
    .await
    .expect("run");
    let reason = match &summary.ending {
        rollgate::load::pacer::Ending::Aborted(reason) => reason.clone(),
        other => panic!("not aborted: {other:?}"),
    };
    assert!(
        reason.contains("error ratio 100.0% after 20 requests"),
        "{reason}"
    );
    assert!(summary.sent >= 20 && summary.sent < 200, "{}", summary.sent);
    let m = read_json(&summary.dir.join("manifest.json"));
    assert_eq!(m["status"], "aborted");
    assert_eq!(m["abort_reason"], reason.as_str());
    zep.shutdown().await;
}

/// Over the WebSocket, time to first byte is the first token frame (after the model's time), and
/// the last byte is the trace frame.
#[tokio::test]
async fn a_websocket_run_times_the_first_token_and_the_trace() {
    let _turn = GOOSE.lock().await;
    let stack = Stack::start(&StackConfig {
        brain_latency: "fixed:30ms".parse().expect("latency"),
        ..StackConfig::default()
    })
    .await
    .expect("stack");
    let out = tempfile::tempdir().expect("temp dir");
    let text = "[target]\nkind = \"assistant_ws\"\n[load]\nrate = 20\nduration = \"2s\"\n[conversations]\nthreads = 8\n";
    let s = scenario(
        text,
        &Overrides {
            target: Some(stack.assistant(Variant::Baseline).url()),
            ..Overrides::default()
        },
    );
    let summary = run::run(
        &s,
        &RunOptions {
            out_base: out.path().to_path_buf(),
            ..RunOptions::default()
        },
    )
    .await
    .expect("run");
    assert_eq!((summary.sent, summary.errors), (40, 0));
    let m = read_json(&summary.dir.join("manifest.json"));
    for r in m["results"].as_array().expect("results") {
        let ttfb = r["ttfb_raw_ms"]["p50"].as_f64().expect("ttfb");
        let total = r["total_raw_ms"]["p50"].as_f64().expect("total");
        assert!(ttfb >= 30.0, "first token before the model's 30 ms: {r}");
        assert!(total >= ttfb, "{r}");
    }
    stack.shutdown().await;
}
