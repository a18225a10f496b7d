//! The Prometheus API client against a fake API on loopback: auth and headers, answers, errors.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use rollgate::prom::api_client::{ApiClient, ApiConfig, ApiError, Auth};
use rollgate::prom::eval::{Value, WarningLevel};

async fn fake_api(
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let tenant = headers
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != "Bearer s3cret" || tenant != "team-a" {
        return (StatusCode::UNAUTHORIZED, "unauthorized\n".to_string());
    }
    let query = params.get("query").cloned().unwrap_or_default();
    let body = match query.as_str() {
        "up" => r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"up","job":"a"},"value":[1700000000.5,"1"]},
            {"metric":{"__name__":"up","job":"b"},"value":[1700000000.5,"NaN"]}]},
            "warnings":["PromQL warning: something"],"infos":["PromQL info: metric might not be a counter"]}"#,
        "empty" => r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
        "1+1" => r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"2"]}}"#,
        "range" => r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"job":"a"},"values":[[1700000000,"1"],[1700000060,"+Inf"]]}]}}"#,
        "garbage" => return (StatusCode::BAD_GATEWAY, "<html>bad gateway</html>".to_string()),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#
        }
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error"}"#
                    .to_string(),
            )
        }
    };
    (StatusCode::OK, body.to_string())
}

pub(super) async fn start() -> String {
    let addr = super::real_prometheus::serve_app(
        axum::Router::new()
            .route("/prom/api/v1/query", get(fake_api))
            .route("/prom/api/v1/query_range", get(fake_api)),
    )
    .await;
    format!("http://{addr}/prom")
}

fn client(base: &str) -> ApiClient {
    let mut config = ApiConfig::new(base);
    config.auth = Auth::Bearer("s3cret".to_string());
    config.headers = vec![("X-Scope-OrgID".to_string(), "team-a".to_string())];
    config.timeout = Duration::from_secs(5);
    ApiClient::new(config).expect("client")
}

#[tokio::test]
async fn instant_vector_with_auth_headers_nan_and_annotations() {
    let base = start().await;
    let r = client(&base)
        .instant("up", 1_700_000_000_500)
        .await
        .expect("query");
    let Value::Vector(v) = &r.value else {
        panic!("{:?}", r.value)
    };
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].value, 1.0);
    assert!(v[1].value.is_nan());
    assert_eq!(r.warnings.len(), 2);
    assert!(r.warnings.iter().any(|w| w.level == WarningLevel::Info));
}

#[tokio::test]
async fn empty_result_is_empty_not_zero() {
    let base = start().await;
    let r = client(&base).instant("empty", 0).await.expect("query");
    assert_eq!(r.value, Value::Vector(vec![]));
}

#[tokio::test]
async fn scalar_and_range_results() {
    let base = start().await;
    let api = client(&base);
    assert_eq!(
        api.instant("1+1", 0).await.expect("scalar").value,
        Value::Scalar(2.0)
    );
    let r = api
        .range("range", 1_700_000_000_000, 1_700_000_060_000, 60_000)
        .await
        .expect("range");
    assert_eq!(
        r.value[0].points,
        vec![(1_700_000_000_000, 1.0), (1_700_000_060_000, f64::INFINITY)]
    );
}

#[tokio::test]
async fn query_errors_name_url_query_and_prometheus_message() {
    let base = start().await;
    let err = client(&base)
        .instant("rate(x[5m]", 0)
        .await
        .expect_err("bad query");
    match &err {
        ApiError::Query {
            error_type,
            query,
            url,
            ..
        } => {
            assert_eq!(error_type, "bad_data");
            assert_eq!(query, "rate(x[5m]");
            assert!(url.ends_with("/prom/api/v1/query"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("parse error"));
}

#[tokio::test]
async fn wrong_credentials_and_non_json_answers_are_http_errors() {
    let base = start().await;
    let err = ApiClient::new(ApiConfig::new(&base))
        .expect("client")
        .instant("up", 0)
        .await
        .expect_err("401");
    assert!(matches!(err, ApiError::Http { status: 401, .. }), "{err}");
    let err = client(&base).instant("garbage", 0).await.expect_err("502");
    assert!(matches!(err, ApiError::Http { status: 502, .. }), "{err}");
}

#[tokio::test]
async fn unreachable_and_bad_urls() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let err = client(&url)
        .instant("up", 0)
        .await
        .expect_err("unreachable");
    assert!(matches!(err, ApiError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains(&url));
    let err = ApiClient::new(ApiConfig::new("localhost:9090")).expect_err("scheme");
    assert!(matches!(err, ApiError::Config { .. }), "{err}");
}

#[tokio::test]
async fn slow_answers_time_out() {
    let base = start().await;
    let mut config = ApiConfig::new(&base);
    config.auth = Auth::Bearer("s3cret".to_string());
    config.headers = vec![("X-Scope-OrgID".to_string(), "team-a".to_string())];
    config.timeout = Duration::from_millis(300);
    let err = ApiClient::new(config)
        .expect("client")
        .instant("slow", 0)
        .await
        .expect_err("timeout");
    assert!(matches!(err, ApiError::Timeout { .. }), "{err}");
}
