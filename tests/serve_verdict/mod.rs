//! `rollgate serve-verdict` over real HTTP on loopback: a run judged PROMOTE, one judged ROLLBACK,
//! a broken source, a run directory re-read on each request, and the command's errors.

use std::path::Path;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use rollgate::analysis::gates::{Gates, Phase};
use rollgate::analysis::serve::{Judge, Server};
use rollgate::cli::Cli;
use rollgate::commands::run;
use rollgate::prom::api_client::ApiConfig;
use rollgate::prom::source::SourceSpec;
use serde_json::Value;

mod fixture;

use fixture::Canary;

/// A Flagger webhook's request body (`flagger/pkg/controller/webhook.go`'s payload).
const FLAGGER_BODY: &str = r#"{"name":"assistant","namespace":"prod","phase":"Progressing","checksum":"abc","metadata":{}}"#;

async fn serve(source: &str) -> Server {
    let spec: SourceSpec = source.parse().expect("source");
    let judge = Judge::new(
        Gates::seed().expect("seed gates"),
        Phase::Canary,
        &spec,
        1.0,
        Duration::from_secs(3600),
        ApiConfig::new,
    )
    .expect("judge");
    Server::start(judge, "127.0.0.1:0".parse().expect("addr"), false)
        .await
        .expect("server")
}

/// `(status, body)` of a GET (`body: None`) or a Flagger-style POST.
async fn call(server: &Server, path: &str, post: bool) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", server.url());
    let request = match post {
        true => client
            .post(url)
            .header("content-type", "application/json")
            .body(FLAGGER_BODY),
        false => client.get(url),
    };
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

fn run_source(dir: &Path) -> String {
    format!("run:{}", dir.display())
}

#[tokio::test]
async fn a_run_judged_promote_answers_200_with_promote_true() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixture::write_run(dir.path(), Canary::Healthy);
    let server = serve(&run_source(dir.path())).await;
    let (status, body) = call(&server, "/verdict", false).await;
    assert_eq!(body["verdict"], "PROMOTE", "{}", body["reason"]);
    assert_eq!(status, 200);
    assert_eq!(body["promote"], true);
    assert_eq!(body["rollback"], false);
    assert_eq!(body["exit_code"], 0);
    assert_eq!(body["schema"], "rollgate.verdict/v1");
    assert_eq!(body["hook"], "argo");
    assert!(body["error"].is_null(), "{}", body["error"]);
    assert!(
        body["checks"].as_array().is_some_and(|c| c.len() == 14),
        "the verdict JSON is all there"
    );
    assert_eq!(body["decided_by"].as_array().map(Vec::len), Some(14));
    for (path, expected) in [
        ("/flagger/rollout", 200),
        ("/flagger/confirm-promotion", 200),
        ("/flagger/rollback", 412),
    ] {
        let (status, body) = call(&server, path, true).await;
        assert_eq!(status, expected, "{path}: {body}");
        assert_eq!(body["promote"], true, "{path}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_run_judged_rollback_fails_the_flagger_webhook_with_rollback_true() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixture::write_run(dir.path(), Canary::TtfbPlus250ms);
    let server = serve(&run_source(dir.path())).await;
    let (status, body) = call(&server, "/flagger/rollout", true).await;
    assert_eq!(body["verdict"], "ROLLBACK", "{}", body["reason"]);
    assert_eq!(status, 412, "a non-2xx counts a failed check in Flagger");
    assert_eq!(body["rollback"], true);
    assert_eq!(body["promote"], false);
    assert_eq!(body["exit_code"], 4);
    assert!(
        body["decided_by"]
            .as_array()
            .is_some_and(|d| d.iter().any(|c| c == "p95 TTFB increase > 200ms")),
        "{}",
        body["decided_by"]
    );
    let (status, _) = call(&server, "/flagger/confirm-promotion", true).await;
    assert_eq!(status, 412);
    let (status, _) = call(&server, "/flagger/rollback", true).await;
    assert_eq!(status, 200, "the rollback hook says roll back now");
    // Argo reads the verdict with 200 and judges `result.rollback` in its failureCondition.
    let (status, body) = call(&server, "/verdict", false).await;
    assert_eq!((status, &body["rollback"]), (200, &Value::Bool(true)));
    server.shutdown().await;
}

#[tokio::test]
async fn a_broken_source_answers_an_error_naming_it_never_a_promote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-run");
    let server = serve(&run_source(&missing)).await;
    for (path, post) in [
        ("/verdict", false),
        ("/flagger/rollout", true),
        ("/flagger/confirm-promotion", true),
        ("/flagger/rollback", true),
    ] {
        let (status, body) = call(&server, path, post).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert_eq!(body["verdict"], "ERROR", "{path}");
        assert_eq!(body["promote"], false, "{path}");
        assert_eq!(body["exit_code"], 2, "{path}");
        let error = body["error"].as_str().expect("an error");
        assert!(error.contains("no-such-run"), "{path}: {error}");
    }
    server.shutdown().await;

    // A Prometheus that does not answer: every check errors, the answer is ERROR naming the URL.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let url = format!("http://{closed}");
    let server = serve(&format!("prometheus:{url}")).await;
    let (status, body) = call(&server, "/flagger/rollout", true).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["verdict"], "ERROR");
    assert_eq!(body["promote"], false);
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains(&url)),
        "{}",
        body["error"]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_run_directory_is_re_read_on_each_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixture::write_run(dir.path(), Canary::Healthy);
    let server = serve(&run_source(dir.path())).await;
    let (_, before) = call(&server, "/verdict", false).await;
    assert_eq!(before["verdict"], "PROMOTE", "{}", before["reason"]);
    fixture::write_run(dir.path(), Canary::TtfbPlus250ms);
    let (_, after) = call(&server, "/verdict", false).await;
    assert_eq!(after["verdict"], "ROLLBACK", "{}", after["reason"]);
    let health = reqwest::get(format!("{}/healthz", server.url()))
        .await
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
    server.shutdown().await;
}

async fn serve_cmd(args: &[&str]) -> anyhow::Result<rollgate::commands::Outcome> {
    let mut argv = vec!["rollgate", "serve-verdict"];
    argv.extend_from_slice(args);
    run(Cli::try_parse_from(argv)?).await
}

#[tokio::test]
async fn the_command_refuses_bad_input_with_errors_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gates = dir.path().join("gates.toml");
    std::fs::write(
        &gates,
        "[[check]]\nname = \"slow reads\"\naction = \"rollback\"\nquery = \"x\"\ncompare = \"sideways\"\nthreshold = 1\n",
    )
    .expect("write");
    let source = run_source(dir.path());
    let err = serve_cmd(&[
        "--gates",
        gates.to_str().expect("utf-8"),
        "--source",
        &source,
    ])
    .await
    .expect_err("a bad comparison");
    let text = format!("{err:#}");
    assert!(
        text.contains("gates.toml:5:") && text.contains("sideways"),
        "{text}"
    );

    let err = serve_cmd(&[
        "--source",
        "scrape:http://127.0.0.1:1/metrics",
        "--listen",
        "127.0.0.1:0",
    ])
    .await
    .expect_err("scrape sources are not judged on request");
    assert!(
        format!("{err:#}").contains("scrape:http://127.0.0.1:1/metrics"),
        "{err:#}"
    );

    let err = serve_cmd(&["--source", &source, "--listen", "0.0.0.0:0"])
        .await
        .expect_err("not loopback");
    assert!(
        format!("{err:#}").contains("not a loopback address"),
        "{err:#}"
    );

    let err = serve_cmd(&[
        "--source",
        &source,
        "--time-scale=-1",
        "--listen",
        "127.0.0.1:0",
    ])
    .await
    .expect_err("a negative scale");
    assert!(format!("{err:#}").contains("--time-scale -1"), "{err:#}");
}

#[tokio::test]
async fn the_command_serves_until_its_time_is_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixture::write_run(dir.path(), Canary::Healthy);
    let outcome = serve_cmd(&[
        "--source",
        &run_source(dir.path()),
        "--listen",
        "127.0.0.1:0",
        "--for",
        "200ms",
    ])
    .await
    .expect("serves then stops");
    assert_eq!(outcome, rollgate::commands::Outcome::Success);
}

#[test]
fn help_lists_the_endpoints_and_their_statuses() {
    let mut cli = Cli::command();
    let help = cli
        .find_subcommand_mut("serve-verdict")
        .expect("serve-verdict subcommand")
        .render_long_help()
        .to_string();
    for needle in [
        "--source",
        "--listen",
        "--gates",
        "--phase",
        "GET  /verdict",
        "/flagger/rollout",
        "/flagger/confirm-promotion",
        "/flagger/rollback",
        "never a\npromote",
    ] {
        assert!(help.contains(needle), "{needle} missing in:\n{help}");
    }
}
