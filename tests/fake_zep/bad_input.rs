//! Bad input: malformed fault programs (library, admin API and CLI), malformed HTTP, refused or taken
//! addresses, unreadable files. Each gets one clear error; nothing panics, nothing hangs.

use std::process::Stdio;
use std::time::Duration;

use rollgate::fake_zep::{Config, FakeZep, Program, ProgramError};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::support::start;

fn parse_error(text: &str) -> String {
    Program::parse(text, "faults.toml")
        .expect_err("program is rejected")
        .to_string()
}

#[test]
fn program_errors_name_file_line_field_and_allowed_values() {
    let cases = [
        (
            "description = \"x\"\n\n[[rule]]\nfault = { kind = \"status\", status = 404 }\n",
            "faults.toml:4: rule #1: `status`: 404 is not allowed; use 500, 502, 503 or 504",
        ),
        (
            "[[rule]]\nfault = { kind = \"staus\" }\n",
            "faults.toml:2:18: `kind`: unknown variant `staus`, expected one of `status`, `rate_limit`, `token_bucket`, `auth`, `latency`, `connection`",
        ),
        (
            "[[rule]]\nfualt = { kind = \"status\", status = 503 }\n",
            "faults.toml:2:1: unknown field `fualt`, expected one of `name`, `routes`, `window`, `when`, `fault`",
        ),
        (
            "[[rule]]\nname = \"w\"\nroutes = [\"wrtes\"]\nfault = { kind = \"status\", status = 503 }\n",
            "faults.toml:3: rule w: `routes`: unknown route \"wrtes\"; use a group (all, writes, reads, users, threads, v2, v3, v4)",
        ),
        (
            "[[rule]]\nfault = { kind = \"latency\", distribution = \"lognormal\", median = \"1x\" }\n",
            "faults.toml:2:66: `median`: invalid value: string \"1x\", expected a duration",
        ),
        (
            "[[rule]]\nfault = { kind = \"latency\", distribution = \"lognormal\", median = \"100ms\" }\n",
            "faults.toml:2: rule #1: `p95`: is required for distribution = \"lognormal\"",
        ),
        (
            "[[rule]]\nfault = { kind = \"latency\", distribution = \"lognormal\", median = \"100ms\", p95 = \"50ms\" }\n",
            "`p95`: need 0 < median < p95",
        ),
        (
            "[[rule]]\nwhen = { every = 3, rate = 0.1 }\nfault = { kind = \"status\", status = 503 }\n",
            "faults.toml:2: rule #1: `when`: use one of { rate = 0.05 }, { every = 10 }",
        ),
        (
            "[[rule]]\nwhen = { rate = 1.5 }\nfault = { kind = \"status\", status = 503 }\n",
            "`when.rate`: 1.5 is not a probability; use 0.0 to 1.0",
        ),
        (
            "[[rule]]\nfault = { kind = \"connection\", mode = \"explode\" }\n",
            "`mode`: unknown variant `explode`, expected one of `hang`, `close`, `reset`",
        ),
        (
            "[[rule]]\nfault = { kind = \"status\", status = 503, limit = 3 }\n",
            "`fault`: `limit` does not apply to kind = \"status\"; its fields are: status, message",
        ),
        (
            "[[rule]]\nwhen = { every = 2 }\nfault = { kind = \"token_bucket\", per_minute = 60 }\n",
            "`when`: a token_bucket applies to every matching request; remove `when`",
        ),
        (
            "[[rule]]\nwindow = { from = \"10s\", until = \"5s\" }\nfault = { kind = \"status\", status = 503 }\n",
            "`window`: `until` must be later than `from`",
        ),
        ("[[rule]]\nfault = { kind = \"auth\", status = 500 }\n", "`status`: 500 is not allowed; use 401 or 403"),
        ("seed = \"x\"\n", "faults.toml:1:8: `seed`: invalid type: string \"x\", expected u64"),
        ("[[rule]\n", "faults.toml:1:"),
    ];
    for (text, expected) in cases {
        let error = parse_error(text);
        assert!(
            error.contains(expected),
            "for {text:?}\n  got:  {error}\n  want: {expected}"
        );
    }
}

#[test]
fn every_shipped_fault_program_loads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/faults");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let program = Program::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            program.description.is_some(),
            "{} has a description",
            path.display()
        );
        names.push(path.file_stem().unwrap().to_string_lossy().into_owned());
    }
    names.sort();
    for required in [
        "auth-revoked",
        "canary-storm",
        "flaky-network",
        "none",
        "rate-limited",
        "slow-reads",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "fixtures/faults/{required}.toml ships"
        );
    }
}

#[test]
fn unreadable_program_file_is_named() {
    let err = Program::load(std::path::Path::new("/nonexistent/faults.toml")).unwrap_err();
    assert!(matches!(err, ProgramError::Read { .. }));
    assert_eq!(
        err.to_string(),
        "cannot read fault program /nonexistent/faults.toml: No such file or directory (os error 2)"
    );
}

#[tokio::test]
async fn malformed_program_over_the_admin_api_is_rejected_and_the_old_one_kept() {
    let program = "[[rule]]\nfault = { kind = \"status\", status = 503 }\n";
    let zep = start(program).await;
    let admin = zep.server.admin();
    let err = admin
        .set_faults("[[rule]]\nfault = { kind = \"status\", status = 200 }\n")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HTTP 400")
            && err.contains("PUT /__rollgate/faults:2: rule #1: `status`: 200 is not allowed"),
        "{err}"
    );
    assert_eq!(admin.faults().await.unwrap(), program);
}

#[tokio::test]
async fn malformed_http_gets_a_400_not_a_hang() {
    let zep = start("").await;
    let mut stream = tokio::net::TcpStream::connect(zep.server.addr())
        .await
        .unwrap();
    stream.write_all(b"THIS IS NOT HTTP\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer))
        .await
        .expect("answers promptly")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request"), "{answer}");
    assert!(answer.contains("malformed HTTP request"), "{answer}");

    let mut stream = tokio::net::TcpStream::connect(zep.server.addr())
        .await
        .unwrap();
    stream
        .write_all(b"POST /api/v2/users HTTP/1.1\r\ncontent-length: nine\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.contains("400") && answer.contains("Content-Length is not a number"),
        "{answer}"
    );
}

#[tokio::test]
async fn taken_port_and_non_loopback_addresses_are_refused() {
    let first = FakeZep::start(Config::default()).await.unwrap();
    let taken = FakeZep::start(Config {
        listen: first.addr(),
        ..Config::default()
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(
        taken.starts_with(&format!("cannot listen on {}: ", first.addr()))
            && taken.contains("in use"),
        "{taken}"
    );
    let remote = FakeZep::start(Config {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..Config::default()
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(
        remote.contains("not a loopback address") && remote.contains("--allow-remote"),
        "{remote}"
    );
}

/// Runs the binary with `args`, returning (exit code, stdout, stderr).
async fn rollgate(args: &[&str]) -> (i32, String, String) {
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_rollgate"))
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("exits by itself")
    .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn cli_bad_input_is_one_line_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[rule]]\nfault = { kind = \"status\", status = 404 }\n",
    )
    .unwrap();
    let bad = bad.to_string_lossy().into_owned();
    let (code, stdout, stderr) =
        rollgate(&["fake-zep", "--listen", "127.0.0.1:0", "--faults", &bad]).await;
    assert_eq!(code, 2);
    assert!(stdout.is_empty(), "the server does not start: {stdout}");
    assert_eq!(
        stderr,
        format!("rollgate: error: {bad}:2: rule #1: `status`: 404 is not allowed; use 500, 502, 503 or 504\n")
    );

    let (code, _, stderr) = rollgate(&["fake-zep", "--faults", "/nonexistent.toml"]).await;
    assert_eq!((code, stderr.lines().count()), (2, 1), "{stderr}");
    assert!(stderr.contains("cannot read fault program /nonexistent.toml"));

    let (code, _, stderr) = rollgate(&["fake-zep", "--listen", "0.0.0.0:0"]).await;
    assert_eq!((code, stderr.lines().count()), (2, 1), "{stderr}");
    assert!(stderr.contains("not a loopback address"));

    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().to_string();
    let (code, _, stderr) = rollgate(&["fake-zep", "--listen", &port]).await;
    assert_eq!((code, stderr.lines().count()), (2, 1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {port}")),
        "{stderr}"
    );

    let (code, _, stderr) = rollgate(&["fake-zep", "--for", "soon"]).await;
    assert_eq!(code, 2, "clap rejects a bad duration: {stderr}");
    assert!(stderr.contains("--for"), "{stderr}");
}

/// The README's first command: start with a shipped program, then call it as the README shows.
#[tokio::test]
async fn cli_serves_the_readme_example() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .current_dir(root)
        .args([
            "fake-zep",
            "--listen",
            "127.0.0.1:0",
            "--faults",
            "fixtures/faults/canary-storm.toml",
            "--for",
            "20s",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("prints its URL")
        .unwrap()
        .expect("a first line");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let key = "Api-Key rollgate-dev-key";
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{url}{path}"))
            .header("authorization", key)
            .json(&body)
            .send()
    };
    assert_eq!(
        post("/api/v2/users", serde_json::json!({"user_id": "u1"}))
            .await
            .unwrap()
            .status(),
        201
    );
    let thread = post(
        "/api/v2/threads",
        serde_json::json!({"thread_id": "t1", "user_id": "u1"}),
    );
    assert_eq!(thread.await.unwrap().status(), 201);
    let faults = http
        .get(format!("{url}/__rollgate/faults"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(faults.contains("5xx and 429 bursts on writes"));
    let journal: serde_json::Value = http
        .get(format!("{url}/__rollgate/journal"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(journal["total"], 2);

    // Stopping by itself after --for is `cli_for_duration_stops_by_itself`; here it is killed.
    child.start_kill().unwrap();
    tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits once killed")
        .unwrap();
}

#[tokio::test]
async fn cli_for_duration_stops_by_itself() {
    let (code, stdout, stderr) =
        rollgate(&["fake-zep", "--listen", "127.0.0.1:0", "--for", "300ms"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("http://127.0.0.1:"));
    assert!(stderr.contains("--for elapsed"));
}
