//! End-to-end tests of `rollgate gate`: the real binary, the embedded stack on loopback, the short
//! profile, the exit code as the verdict.
//!
//! A test binary of its own: cargo runs test binaries one after another, so these minute-long
//! runs (each a 250 req/s load judged by latency gates) do not share the two cores with the rest
//! of the suite, and the mutex below runs them one at a time. They run the **release** binary
//! (built once by the first test, `cargo build --release --bin rollgate`): the gate judges
//! latency, and a debug build's latency is not what users run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const EXIT_PROMOTE: i32 = 0;
const EXIT_HOLD: i32 = 1;
const EXIT_ERROR: i32 = 2;
const EXIT_DOWNGRADE: i32 = 3;
const EXIT_ROLLBACK: i32 = 4;

/// The release binary, built on first use.
fn binary() -> &'static Path {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "--locked", "--bin", "rollgate"])
            .current_dir(root)
            .stdin(Stdio::null())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build --release failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        target.join("release").join("rollgate")
    })
}

fn rollgate() -> Command {
    let mut cmd = Command::new(binary());
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .env_remove("RUST_LOG");
    cmd
}

fn gate(out: &Path, extra: &[&str]) -> (Output, PathBuf) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let output = rollgate()
        .args(["gate", "--phase", "canary", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("rollgate runs");
    let dir = run_dir(out);
    (output, dir)
}

/// The one run directory under `out`.
fn run_dir(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .expect("out dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn said(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn assert_no_secret(dir: &Path) {
    let key = rollgate::fake_zep::DEFAULT_API_KEY.as_bytes();
    for file in files(dir) {
        let bytes = std::fs::read(&file).expect("read");
        assert!(
            !bytes.windows(key.len()).any(|w| w == key),
            "{} contains the Zep API key",
            file.display()
        );
    }
}

#[test]
fn a_healthy_canary_is_promoted_with_a_report_and_no_secret_in_any_file() {
    let out = tempfile::tempdir().expect("tempdir");
    let (output, dir) = gate(out.path(), &[]);
    let text = said(&output);
    assert_eq!(output.status.code(), Some(EXIT_PROMOTE), "{text}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("PROMOTE (canary phase)"), "{text}");
    // The last stdout line says where the report is.
    let last = stdout.lines().last().expect("a line");
    let report = last.strip_prefix("report: ").expect("report line");
    assert!(Path::new(report).is_file(), "{report}");
    for file in [
        "verdict.json",
        "gate.json",
        "manifest.json",
        "smoke/smoke.json",
        "report.html",
        "summary.md",
        "junit.xml",
        "prom/samples.v1.prom",
    ] {
        assert!(
            dir.join(file).is_file(),
            "{file} missing in {}",
            dir.display()
        );
    }
    let verdict = json(&dir.join("verdict.json"));
    assert_eq!(verdict["verdict"], "PROMOTE");
    let gate = json(&dir.join("gate.json"));
    assert_eq!(gate["schema"], "rollgate.gate/v1");
    assert_eq!(gate["exit_code"], 0);
    let stages: Vec<&str> = gate["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(stages, ["start", "smoke", "load", "analysis", "report"]);
    let smoke = json(&dir.join("smoke/smoke.json"));
    assert_eq!(smoke["phase"], "read-write");
    assert_eq!(smoke["passed"], true, "{smoke}");
    let manifest = json(&dir.join("manifest.json"));
    assert_eq!(manifest["status"], "complete");
    assert!(manifest["sent"].as_u64().expect("sent") >= 4_000);
    assert_no_secret(&dir);
}

#[test]
fn a_canary_250ms_slower_is_rolled_back_by_the_ttfb_trigger() {
    let out = tempfile::tempdir().expect("tempdir");
    let (output, dir) = gate(
        out.path(),
        &["--regression", "fixtures/regressions/ttfb-plus-250ms.toml"],
    );
    assert_eq!(
        output.status.code(),
        Some(EXIT_ROLLBACK),
        "{}",
        said(&output)
    );
    let verdict = json(&dir.join("verdict.json"));
    assert_eq!(verdict["verdict"], "ROLLBACK");
    let decided_by: Vec<&str> = verdict["decided_by"]
        .as_array()
        .expect("decided_by")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        decided_by.contains(&"p95 TTFB increase > 200ms"),
        "{decided_by:?}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).expect("report");
    assert!(html.contains("ROLLBACK"));
    assert_no_secret(&dir);
    renders_offline_in_chromium(&dir);
}

/// Opens `report.html` in headless Chromium with every http(s) request sent to a proxy on
/// loopback that records each request line; checks that the page loads with no network request
/// and no console message (CSP violations, errors), and leaves `report.png` in the run directory.
/// Chromium's own background calls to Google's services (a clock check) are not the page's and
/// are left out.
fn renders_offline_in_chromium(dir: &Path) {
    let chromium = std::env::var("ROLLGATE_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    if Command::new(&chromium).arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{chromium} is not installed; ci/test.sh installs the Debian package chromium"
        );
        eprintln!(
            "\n!!!!! SKIPPED: {chromium} is not installed: report.html was NOT opened !!!!!\n"
        );
        return;
    }
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy listener");
    proxy.set_nonblocking(true).expect("nonblocking");
    let port = proxy.local_addr().expect("addr").port();
    let requests = std::sync::Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let counter = {
        let (requests, stop) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                match proxy.accept() {
                    Ok((mut stream, _)) => {
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                        let mut buf = [0u8; 512];
                        let n = std::io::Read::read(&mut stream, &mut buf).unwrap_or(0);
                        let text = String::from_utf8_lossy(&buf[..n]);
                        let line = text.lines().next().unwrap_or("(nothing read)").to_string();
                        requests
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(line);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        })
    };
    let shot = dir.join("report.png");
    let page = format!("file://{}", dir.join("report.html").display());
    let output = Command::new(&chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,Translate,MediaRouter",
            "--proxy-bypass-list=<-loopback>",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,3000",
        ])
        .arg(format!("--proxy-server=http://127.0.0.1:{port}"))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&page)
        .stdin(Stdio::null())
        .output()
        .expect("chromium runs");
    stop.store(true, std::sync::atomic::Ordering::Release);
    counter.join().expect("proxy thread");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "chromium failed: {stderr}");
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    // Chromium's own services (clock, updates, hints): never a page's CDN such as fonts.googleapis.com.
    let google = [
        "clients1.google.com",
        "clients2.google.com",
        "update.googleapis.com",
        "optimizationguide-pa.googleapis.com",
        "redirector.gvt1.com",
        "safebrowsingohttpgateway.googleapis.com",
        "accounts.google.com",
    ];
    let from_page: Vec<String> = requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|line| !google.iter().any(|g| line.contains(g)))
        .cloned()
        .collect();
    assert!(
        from_page.is_empty(),
        "report.html made network requests: {from_page:#?}"
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 20_000,
        "a blank screenshot is smaller: {} bytes",
        png.len()
    );
}

#[test]
fn a_canary_with_slow_reads_is_downgraded_to_write_only() {
    let out = tempfile::tempdir().expect("tempdir");
    let (output, dir) = gate(
        out.path(),
        &["--regression", "fixtures/regressions/slow-reads.toml"],
    );
    assert_eq!(
        output.status.code(),
        Some(EXIT_DOWNGRADE),
        "{}",
        said(&output)
    );
    let verdict = json(&dir.join("verdict.json"));
    assert_eq!(verdict["verdict"], "DOWNGRADE");
    let decided_by = verdict["decided_by"].to_string();
    assert!(
        decided_by.contains("Context failure rate > 10%"),
        "{decided_by}"
    );
}

#[test]
fn ctrl_c_during_the_load_leaves_an_interrupted_report_and_holds() {
    let out = tempfile::tempdir().expect("tempdir");
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let child = rollgate()
        .args(["gate", "--phase", "canary", "--out"])
        .arg(out.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rollgate starts");
    // Wait for the load stage: gate.json records the smoke stage when the load begins.
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the load never began"
        );
        let recorded = std::fs::read_dir(out.path())
            .ok()
            .and_then(|mut dirs| dirs.next())
            .and_then(|d| d.ok())
            .and_then(|d| std::fs::read_to_string(d.path().join("gate.json")).ok())
            .is_some_and(|text| text.contains("\"smoke\""));
        if recorded {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(8));
    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let output = child.wait_with_output().expect("rollgate ends");
    assert_eq!(output.status.code(), Some(EXIT_HOLD), "{}", said(&output));
    let dir = run_dir(out.path());
    let verdict = json(&dir.join("verdict.json"));
    assert_eq!(verdict["verdict"], "HOLD");
    let reason = verdict["reason"].as_str().expect("reason");
    assert!(
        reason.contains("interrupted during the load stage"),
        "{reason}"
    );
    let manifest = json(&dir.join("manifest.json"));
    assert_eq!(manifest["status"], "interrupted");
    let gate = json(&dir.join("gate.json"));
    let load = gate["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .find(|s| s["name"] == "load")
        .expect("load stage")
        .clone();
    assert_eq!(load["status"], "interrupted");
    assert!(dir.join("report.html").is_file());
    let html = std::fs::read_to_string(dir.join("report.html")).expect("report");
    assert!(
        html.contains("interrupted"),
        "the report says the run was interrupted"
    );
}

#[test]
fn bad_input_is_an_error_that_names_what_to_fix() {
    let out = tempfile::tempdir().expect("tempdir");
    let output = rollgate()
        .args([
            "gate",
            "--phase",
            "canary",
            "--regression",
            "fixtures/regressions/no-such.toml",
            "--out",
        ])
        .arg(out.path())
        .output()
        .expect("rollgate runs");
    assert_eq!(output.status.code(), Some(EXIT_ERROR), "{}", said(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such.toml"));

    let output = rollgate()
        .args(["gate", "--phase", "everything"])
        .output()
        .expect("rollgate runs");
    assert_eq!(output.status.code(), Some(EXIT_ERROR), "{}", said(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("everything") && stderr.contains("canary"),
        "{stderr}"
    );

    // A canary URL off loopback needs --allow-remote; the gate still leaves a verdict and report.
    let output = rollgate()
        .args([
            "gate",
            "--phase",
            "canary",
            "--baseline",
            "http://10.255.255.1:8700",
            "--canary",
            "http://10.255.255.1:8701",
            "--out",
        ])
        .arg(out.path())
        .output()
        .expect("rollgate runs");
    assert_eq!(output.status.code(), Some(EXIT_ERROR), "{}", said(&output));
    let dir = run_dir(out.path());
    let verdict = json(&dir.join("verdict.json"));
    assert_eq!(verdict["verdict"], "ERROR");
    assert!(
        verdict["reason"]
            .as_str()
            .expect("reason")
            .contains("10.255.255.1"),
        "{verdict}"
    );
    assert!(dir.join("report.html").is_file());
}

/// A free loopback port (bound, read, released).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Stops the Prometheus server when the test ends, however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn external_targets_are_judged_from_a_real_prometheus() {
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "prometheus is not installed; ci/test.sh installs the Debian package prometheus"
        );
        eprintln!(
            "\n!!!!! SKIPPED: prometheus is not installed: external mode was NOT tested !!!!!\n"
        );
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The system under test, started by the test, not by rollgate.
    let stack = runtime
        .block_on(rollgate::stack::Stack::start(
            &rollgate::stack::StackConfig::default(),
        ))
        .expect("stack");
    let baseline = stack.assistant(rollgate::variant::Variant::Baseline).url();
    let canary = stack.assistant(rollgate::variant::Variant::Canary).url();
    let host = |url: &str| url.trim_start_matches("http://").to_string();
    let work = tempfile::tempdir().expect("tempdir");
    let config = work.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: assistant\n    static_configs:\n      - targets: ['{}', '{}']\n",
            host(&baseline),
            host(&canary)
        ),
    )
    .expect("config");
    let port = free_port();
    let prometheus = Server(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                work.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts"),
    );
    let ready = format!("http://127.0.0.1:{port}/-/ready");
    let started = Instant::now();
    while !Command::new("curl")
        .args(["-sf", "-o", "/dev/null", &ready])
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "prometheus never became ready"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = tempfile::tempdir().expect("tempdir");
    let output = rollgate()
        .args([
            "gate",
            "--phase",
            "canary",
            "--baseline",
            &baseline,
            "--canary",
            &canary,
        ])
        .arg("--prometheus")
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("rollgate runs");
    drop(prometheus);
    runtime.block_on(stack.shutdown());
    let text = said(&output);
    let dir = run_dir(out.path());
    let gate = json(&dir.join("gate.json"));
    assert_eq!(
        gate["target"],
        format!("baseline {baseline}, canary {canary}"),
        "{text}"
    );
    let smoke = json(&dir.join("smoke/smoke.json"));
    // No fake Zep admin API on an external target: the fault boxes are skipped, the rest pass.
    let statuses: Vec<&str> = smoke["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| c["status"].as_str().expect("status"))
        .collect();
    assert!(
        statuses.contains(&"skipped") && statuses.contains(&"pass"),
        "{statuses:?}"
    );
    assert!(!statuses.contains(&"fail"), "{smoke}");
    // Judged from Prometheus's data: the checks carry values, and a healthy canary is promoted.
    let verdict = json(&dir.join("verdict.json"));
    let evaluated = verdict["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["evaluations"].as_u64().unwrap_or(0) > 0)
        .count();
    assert!(evaluated >= 10, "{verdict}");
    // A healthy canary: nothing to roll back or downgrade. PROMOTE when every check has enough
    // data; Prometheus's own scrape timing can leave a check a few samples short of significance,
    // which is HOLD ("insufficient data"), never a breach.
    let severe: Vec<&serde_json::Value> = verdict["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["outcome"] == "breach" && c["action"] != "hold")
        .collect();
    assert!(severe.is_empty(), "{severe:#?}");
    assert!(
        matches!(output.status.code(), Some(EXIT_PROMOTE) | Some(EXIT_HOLD)),
        "{text}"
    );
    if output.status.code() == Some(EXIT_HOLD) {
        eprintln!("external gate held: {}", verdict["reason"]);
    }
}
