//! A client for Prometheus's HTTP query API (`/api/v1/query`, `/api/v1/query_range`), which
//! Thanos and Mimir speak too: how rollgate evaluates the same queries where the data lives in
//! the user's Prometheus instead of its own store.
//!
//! For: sending a query with bearer or basic auth and custom headers, a timeout, and turning the
//! answer into the evaluator's [`Value`] types with Prometheus's `warnings`/`infos` as
//! [`Warning`]s. Errors name the URL and the query: transport failures, non-2xx answers, and
//! `status: "error"` bodies (with Prometheus's `errorType` and message).
//!
//! Not for: deciding what an empty result means. An empty vector is returned as an empty vector;
//! callers report it as "no data", never as zero.

use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use crate::prom::eval::{Evaluated, RangeSeries, Sample, Value, Warning, WarningLevel};
use crate::prom::exposition::parse_float;
use crate::prom::labels::Labels;
use crate::prom::scrape::error_chain;

/// How to authenticate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// HTTP basic auth.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
}

/// Where and how to query.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Base URL, e.g. `http://127.0.0.1:9090` (a path prefix such as `/prometheus` is kept).
    pub base_url: String,
    /// Credentials.
    pub auth: Auth,
    /// Extra headers (e.g. `X-Scope-OrgID` for Mimir).
    pub headers: Vec<(String, String)>,
    /// Timeout of one request.
    pub timeout: Duration,
}

impl ApiConfig {
    /// No auth, no headers, a 30 s timeout.
    pub fn new(base_url: &str) -> Self {
        ApiConfig {
            base_url: base_url.to_string(),
            auth: Auth::None,
            headers: Vec::new(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Why a query through the API failed. Every variant names the URL.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApiError {
    /// The base URL or a header is invalid.
    #[error("Prometheus API {url}: {reason}")]
    Config {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// No answer (connection refused, DNS, reset).
    #[error("Prometheus API {url} is unreachable: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// The client's message.
        reason: String,
    },
    /// No answer within the timeout.
    #[error("Prometheus API {url} did not answer within {timeout:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// The timeout.
        timeout: Duration,
    },
    /// A non-2xx answer that is not a Prometheus error body (proxy, auth...).
    #[error("Prometheus API {url} answered HTTP {status}: {body}")]
    Http {
        /// The URL.
        url: String,
        /// Status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// Prometheus refused or failed the query (`status: "error"`).
    #[error("Prometheus at {url} rejected query {query:?}: {error_type}: {error}")]
    Query {
        /// The URL.
        url: String,
        /// The query.
        query: String,
        /// Prometheus's `errorType` (`bad_data`, `execution`, `timeout`...).
        error_type: String,
        /// Prometheus's message.
        error: String,
    },
    /// The body is not the API's JSON.
    #[error("Prometheus API {url} sent an unexpected body: {reason}")]
    BadResponse {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
}

/// The client.
#[derive(Debug, Clone)]
pub struct ApiClient {
    client: reqwest::Client,
    config: ApiConfig,
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    data: Option<Data>,
    #[serde(rename = "errorType", default)]
    error_type: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    infos: Vec<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct JsonSeries {
    metric: std::collections::BTreeMap<String, String>,
    value: Option<(f64, String)>,
    values: Option<Vec<(f64, String)>>,
}

impl ApiClient {
    /// A client for `config`.
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        let bad = |reason: String| ApiError::Config {
            url: config.base_url.clone(),
            reason,
        };
        let url = reqwest::Url::parse(&config.base_url).map_err(|e| bad(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(
                "the URL must start with http:// or https://".to_string()
            ));
        }
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &config.headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| bad(format!("header name {name:?}: {e}")))?;
            let value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|e| bad(format!("header {name}: {e}")))?;
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .default_headers(headers)
            .build()
            .map_err(|e| bad(format!("cannot build the HTTP client: {e}")))?;
        Ok(ApiClient { client, config })
    }

    /// `/api/v1/query` at `time_ms`.
    pub async fn instant(&self, query: &str, time_ms: i64) -> Result<Evaluated<Value>, ApiError> {
        let params = [("query", query.to_string()), ("time", seconds(time_ms))];
        let (data, warnings, url) = self.get("api/v1/query", query, &params).await?;
        let bad = |reason: String| ApiError::BadResponse {
            url: url.clone(),
            reason,
        };
        let value = match data.result_type.as_str() {
            "scalar" => {
                let (_, v): (f64, String) =
                    serde_json::from_value(data.result).map_err(|e| bad(e.to_string()))?;
                Value::Scalar(value(&v).map_err(bad)?)
            }
            "vector" => {
                let series: Vec<JsonSeries> =
                    serde_json::from_value(data.result).map_err(|e| bad(e.to_string()))?;
                let mut out = Vec::with_capacity(series.len());
                for s in series {
                    let (_, v) = s
                        .value
                        .ok_or_else(|| bad("vector element without value".to_string()))?;
                    out.push(Sample {
                        labels: Labels::from_pairs(s.metric),
                        value: value(&v).map_err(bad)?,
                    });
                }
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
                Value::Vector(out)
            }
            "matrix" => Value::Matrix(matrix(data.result).map_err(bad)?),
            other => return Err(bad(format!("result type {other:?} is not supported"))),
        };
        Ok(Evaluated { value, warnings })
    }

    /// `/api/v1/query_range` from `start_ms` to `end_ms` every `step_ms`.
    pub async fn range(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Evaluated<Vec<RangeSeries>>, ApiError> {
        let params = [
            ("query", query.to_string()),
            ("start", seconds(start_ms)),
            ("end", seconds(end_ms)),
            ("step", seconds(step_ms)),
        ];
        let (data, warnings, url) = self.get("api/v1/query_range", query, &params).await?;
        let bad = |reason: String| ApiError::BadResponse {
            url: url.clone(),
            reason,
        };
        if data.result_type != "matrix" {
            return Err(bad(format!(
                "expected a matrix, got {:?}",
                data.result_type
            )));
        }
        Ok(Evaluated {
            value: matrix(data.result).map_err(bad)?,
            warnings,
        })
    }

    async fn get(
        &self,
        path: &str,
        query: &str,
        params: &[(&str, String)],
    ) -> Result<(Data, Vec<Warning>, String), ApiError> {
        let base = self.config.base_url.trim_end_matches('/');
        let mut url =
            reqwest::Url::parse(&format!("{base}/{path}")).map_err(|e| ApiError::Config {
                url: base.to_string(),
                reason: e.to_string(),
            })?;
        url.query_pairs_mut()
            .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
        let shown = format!("{base}/{path}");
        let mut request = self.client.get(url);
        request = match &self.config.auth {
            Auth::None => request,
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::Basic { username, password } => request.basic_auth(username, Some(password)),
        };
        let response = request
            .send()
            .await
            .map_err(|e| self.transport(&shown, &e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport(&shown, &e))?;
        let envelope: Option<Envelope> = serde_json::from_slice(&body).ok();
        match envelope {
            Some(env) if env.status == "error" => Err(ApiError::Query {
                url: shown,
                query: query.to_string(),
                error_type: env.error_type,
                error: env.error,
            }),
            _ if !status.is_success() => Err(ApiError::Http {
                url: shown,
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).chars().take(300).collect(),
            }),
            Some(env) if env.status == "success" => {
                let data = env.data.ok_or_else(|| ApiError::BadResponse {
                    url: shown.clone(),
                    reason: "no data field".to_string(),
                })?;
                let mut warnings: Vec<Warning> = env
                    .warnings
                    .into_iter()
                    .map(|message| Warning {
                        level: WarningLevel::Warning,
                        message,
                    })
                    .chain(env.infos.into_iter().map(|message| Warning {
                        level: WarningLevel::Info,
                        message,
                    }))
                    .collect();
                warnings.sort();
                warnings.dedup();
                Ok((data, warnings, shown))
            }
            _ => Err(ApiError::BadResponse {
                url: shown,
                reason: format!(
                    "not Prometheus API JSON: {}",
                    String::from_utf8_lossy(&body)
                        .chars()
                        .take(200)
                        .collect::<String>()
                ),
            }),
        }
    }

    fn transport(&self, url: &str, e: &reqwest::Error) -> ApiError {
        if e.is_timeout() {
            ApiError::Timeout {
                url: url.to_string(),
                timeout: self.config.timeout,
            }
        } else {
            ApiError::Unreachable {
                url: url.to_string(),
                reason: error_chain(e),
            }
        }
    }
}

/// Milliseconds as the API's decimal seconds.
fn seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    format!("{sign}{}.{:03}", abs / 1000, abs % 1000)
}

fn value(text: &str) -> Result<f64, String> {
    parse_float(text).ok_or_else(|| format!("value {text:?} is not a number"))
}

fn matrix(result: serde_json::Value) -> Result<Vec<RangeSeries>, String> {
    let series: Vec<JsonSeries> = serde_json::from_value(result).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(series.len());
    for s in series {
        let mut points = Vec::new();
        for (t, v) in s.values.unwrap_or_default() {
            points.push(((t * 1000.0).round() as i64, value(&v)?));
        }
        out.push(RangeSeries {
            labels: Labels::from_pairs(s.metric),
            points,
        });
    }
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::seconds;

    #[test]
    fn seconds_keep_milliseconds() {
        assert_eq!(seconds(1_700_000_000_123), "1700000000.123");
        assert_eq!(seconds(-1_500), "-1.500");
        assert_eq!(seconds(5), "0.005");
    }
}
