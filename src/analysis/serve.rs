//! `rollgate serve-verdict`: the verdict over HTTP, in the shapes the rollout controllers expect,
//! so rollgate can be the judge inside Argo Rollouts (web metric provider: a GET returning JSON,
//! read with `jsonPath` and judged by `successCondition`/`failureCondition`) and Flagger
//! (webhooks: a POST whose HTTP status says go on, halt or roll back).
//!
//! Every request judges afresh: a run directory is re-read, a Prometheus is queried over the
//! trailing `range`. The body is `verdict.json` (`rollgate.verdict/v1`) plus flat fields for
//! `jsonPath`: `verdict`, `exit_code`, `promote`, `rollback`, `downgrade`, `hold`, `decided_by`,
//! `reason`, `source`, `error`, `hook`. A source that cannot be judged answers 503 with
//! `verdict: "ERROR"` and an `error` naming the source: never a promote.
//!
//! | endpoint                          | 200 when              | otherwise                               |
//! |-----------------------------------|-----------------------|-----------------------------------------|
//! | `GET/POST /verdict` (Argo)        | any verdict           | 503 on ERROR (Argo: measurement Error)  |
//! | `POST /flagger/rollout`           | PROMOTE, HOLD         | 412 DOWNGRADE/ROLLBACK (a failed check), 503 ERROR |
//! | `POST /flagger/confirm-promotion` | PROMOTE               | 412 (Flagger waits), 503 ERROR          |
//! | `POST /flagger/rollback`          | ROLLBACK, DOWNGRADE   | 412 (no rollback now), 503 ERROR        |
//!
//! For: judging on request and the HTTP mapping. Not for: the judgement itself (see
//! [`super::verdict`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use serde_json::Value;
use thiserror::Error;

use super::evaluate::Span;
use super::evidence::LatencySamples;
use super::gates::{Gates, Phase};
use super::verdict::{self, Decision, Verdict};
use crate::load::manifest::{self, ManifestError};
use crate::net::{self, ListenError};
use crate::prom::api_client::{ApiClient, ApiConfig, ApiError};
use crate::prom::eval::Semantics;
use crate::prom::scrape::now_ms;
use crate::prom::source::{Source, SourceSpec};
use crate::prom::store::{Store, StoreError};

/// Why the server could not start.
#[derive(Debug, Error)]
pub enum ServeError {
    /// A source kind that cannot be judged on request.
    #[error("--source {0}: serve-verdict judges run:DIR, fixture:PATH or prometheus:URL (scrape the targets with `rollgate load` and serve its run directory)")]
    UnsupportedSource(String),
    /// The Prometheus URL is unusable.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The time scale is out of range.
    #[error("--time-scale {0} must be above 0 and at most 10")]
    TimeScale(f64),
    /// The listening address.
    #[error(transparent)]
    Listen(#[from] ListenError),
}

/// Why one request could not be judged (the answer is 503, verdict ERROR).
#[derive(Debug, Error)]
pub enum JudgeError {
    /// The run directory's or fixture's samples could not be read.
    #[error("source {spec}: cannot read its scraped metrics: {error}")]
    Store {
        /// The source as given.
        spec: String,
        /// What failed (names the file).
        error: StoreError,
    },
    /// The run directory's load histograms could not be read.
    #[error("source {spec}: cannot read its load histograms: {error}")]
    Latency {
        /// The source as given.
        spec: String,
        /// What failed.
        error: ManifestError,
    },
    /// Nothing to judge.
    #[error("source {spec}: holds no samples at all: nothing to judge")]
    Empty {
        /// The source as given.
        spec: String,
    },
}

/// Where the series come from, opened once.
#[derive(Debug)]
enum Origin {
    Run(PathBuf),
    Fixture(PathBuf),
    Prometheus(ApiClient),
}

/// A resolved judge: the gates, the phase and the source, judged on each request.
#[derive(Debug)]
pub struct Judge {
    gates: Gates,
    phase: Phase,
    origin: Origin,
    spec: String,
    time_scale: f64,
    range: Duration,
}

impl Judge {
    /// Resolves the source; `api` carries credentials for a `prometheus:` source.
    pub fn new(
        gates: Gates,
        phase: Phase,
        source: &SourceSpec,
        time_scale: f64,
        range: Duration,
        api: impl FnOnce(&str) -> ApiConfig,
    ) -> Result<Judge, ServeError> {
        if !(time_scale.is_finite() && time_scale > 0.0 && time_scale <= 10.0) {
            return Err(ServeError::TimeScale(time_scale));
        }
        let (origin, spec) = match source {
            SourceSpec::Run(dir) => (Origin::Run(dir.clone()), format!("run:{}", dir.display())),
            SourceSpec::Fixture(path) => (
                Origin::Fixture(path.clone()),
                format!("fixture:{}", path.display()),
            ),
            SourceSpec::Prometheus(url) => (
                Origin::Prometheus(ApiClient::new(api(url))?),
                format!("prometheus:{url}"),
            ),
            SourceSpec::Scrape(url) => {
                return Err(ServeError::UnsupportedSource(format!("scrape:{url}")))
            }
            SourceSpec::Live(_) => {
                return Err(ServeError::UnsupportedSource(
                    "live:baseline=URL,canary=URL".to_string(),
                ))
            }
        };
        Ok(Judge {
            gates,
            phase,
            origin,
            spec,
            time_scale,
            range,
        })
    }

    /// The source as given (`run:DIR`, `prometheus:URL`).
    pub fn source(&self) -> &str {
        &self.spec
    }

    /// Judges the phase on the source as it is now.
    pub async fn verdict(&self) -> Result<Verdict, JudgeError> {
        let store_err = |error| JudgeError::Store {
            spec: self.spec.clone(),
            error,
        };
        let local = |store| Source::Local {
            store,
            semantics: Semantics::Prometheus3,
        };
        let (source, span, latency) = match &self.origin {
            Origin::Prometheus(api) => {
                let end = now_ms();
                let span = Span {
                    start_ms: end - self.range.as_millis() as i64,
                    end_ms: end,
                    time_scale: self.time_scale,
                };
                (Source::Remote(api.clone()), span, None)
            }
            Origin::Run(dir) => {
                let store = Store::read_run_dir(dir).map_err(store_err)?;
                let span = Span::of_samples(&store, manifest::schedule_span(dir), self.time_scale);
                let latency = LatencySamples::read(dir).map_err(|error| JudgeError::Latency {
                    spec: self.spec.clone(),
                    error,
                })?;
                let span = span.ok_or_else(|| JudgeError::Empty {
                    spec: self.spec.clone(),
                })?;
                (local(store), span, latency)
            }
            Origin::Fixture(path) => {
                let mut store = Store::new();
                store.load_fixtures(path).map_err(store_err)?;
                let span = Span::of_samples(&store, None, self.time_scale).ok_or_else(|| {
                    JudgeError::Empty {
                        spec: self.spec.clone(),
                    }
                })?;
                (local(store), span, None)
            }
        };
        Ok(verdict::analyze_with(&self.gates, self.phase, &source, &span, latency.as_ref()).await)
    }
}

/// Which caller an endpoint serves, and so how a verdict maps to an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// Argo Rollouts' web metric provider: 200 with the JSON for any verdict.
    Argo,
    /// A Flagger `rollout` webhook: non-2xx counts a failed check (rollback at the threshold).
    FlaggerRollout,
    /// A Flagger `confirm-promotion` webhook: non-2xx holds the promotion.
    FlaggerConfirmPromotion,
    /// A Flagger `rollback` webhook: 2xx rolls back now.
    FlaggerRollback,
}

impl Hook {
    /// The name in the answer's `hook` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Argo => "argo",
            Hook::FlaggerRollout => "flagger-rollout",
            Hook::FlaggerConfirmPromotion => "flagger-confirm-promotion",
            Hook::FlaggerRollback => "flagger-rollback",
        }
    }

    /// The HTTP status for a decision (see the module's table). ERROR is 503 everywhere.
    pub fn status(self, decision: Decision) -> StatusCode {
        use Decision::*;
        let ok = match (self, decision) {
            (_, Error) => return StatusCode::SERVICE_UNAVAILABLE,
            (Hook::Argo, _) => true,
            (Hook::FlaggerRollout, d) => matches!(d, Promote | Hold),
            (Hook::FlaggerConfirmPromotion, d) => d == Promote,
            (Hook::FlaggerRollback, d) => matches!(d, Rollback | Downgrade),
        };
        match ok {
            true => StatusCode::OK,
            false => StatusCode::PRECONDITION_FAILED,
        }
    }
}

/// The answer's body: `verdict.json` plus the flat fields, or an ERROR naming the source.
pub fn answer(judged: &Result<Verdict, JudgeError>, source: &str, hook: Hook) -> Value {
    let (decision, mut body, error) = match judged {
        Ok(v) => match serde_json::to_value(v) {
            Ok(body) => {
                let error =
                    (v.verdict == Decision::Error).then(|| format!("{source}: {}", v.reason));
                (v.verdict, body, error)
            }
            Err(e) => (
                Decision::Error,
                Value::Object(Default::default()),
                Some(format!("{source}: cannot encode the verdict: {e}")),
            ),
        },
        Err(e) => (
            Decision::Error,
            Value::Object(Default::default()),
            Some(e.to_string()),
        ),
    };
    if let Value::Object(map) = &mut body {
        map.insert("schema".into(), verdict::SCHEMA.into());
        map.insert("verdict".into(), decision.as_str().into());
        map.insert("exit_code".into(), decision.exit_code().into());
        map.insert("promote".into(), (decision == Decision::Promote).into());
        map.insert("rollback".into(), (decision == Decision::Rollback).into());
        map.insert("downgrade".into(), (decision == Decision::Downgrade).into());
        map.insert("hold".into(), (decision == Decision::Hold).into());
        map.entry("decided_by")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(e) = &error {
            map.entry("reason").or_insert_with(|| e.clone().into());
        }
        map.insert("error".into(), error.map_or(Value::Null, Value::from));
        map.insert("source".into(), source.into());
        map.insert("hook".into(), hook.as_str().into());
    }
    body
}

struct AppState {
    judge: Judge,
    /// One analysis at a time: concurrent hooks wait rather than pile up on two cores.
    turn: tokio::sync::Mutex<()>,
}

async fn judged(state: Arc<AppState>, hook: Hook) -> Response {
    let _turn = state.turn.lock().await;
    let result = state.judge.verdict().await;
    let decision = result.as_ref().map_or(Decision::Error, |v| v.verdict);
    let body = answer(&result, state.judge.source(), hook);
    match &result {
        Ok(v) => tracing::info!(
            hook = hook.as_str(),
            verdict = v.verdict.as_str(),
            "{}",
            v.reason
        ),
        Err(e) => tracing::warn!(hook = hook.as_str(), "{e}"),
    }
    (hook.status(decision), Json(body)).into_response()
}

/// The HTTP routes over a judge.
pub fn router(judge: Judge) -> axum::Router {
    let state = Arc::new(AppState {
        judge,
        turn: tokio::sync::Mutex::new(()),
    });
    let hook = |hook: Hook| move |State(s): State<Arc<AppState>>| judged(s, hook);
    axum::Router::new()
        .route("/verdict", get(hook(Hook::Argo)).post(hook(Hook::Argo)))
        .route("/flagger/rollout", post(hook(Hook::FlaggerRollout)))
        .route(
            "/flagger/confirm-promotion",
            post(hook(Hook::FlaggerConfirmPromotion)),
        )
        .route("/flagger/rollback", post(hook(Hook::FlaggerRollback)))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(state)
}

/// A running verdict server.
pub struct Server {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Binds `listen` (loopback unless `allow_remote`) and serves `judge`.
    pub async fn start(
        judge: Judge,
        listen: SocketAddr,
        allow_remote: bool,
    ) -> Result<Server, ServeError> {
        let listener = net::bind(listen, allow_remote).await?;
        let addr = listener.local_addr().map_err(|error| ListenError::Bind {
            addr: listen,
            error,
        })?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = router(judge);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Server { addr, stop, task })
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits for open requests to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_table_and_error_never_passes() {
        use Decision::*;
        let all = [Promote, Hold, Downgrade, Rollback, Error];
        let codes = |hook: Hook| all.map(|d| hook.status(d).as_u16());
        assert_eq!(codes(Hook::Argo), [200, 200, 200, 200, 503]);
        assert_eq!(codes(Hook::FlaggerRollout), [200, 200, 412, 412, 503]);
        assert_eq!(
            codes(Hook::FlaggerConfirmPromotion),
            [200, 412, 412, 412, 503]
        );
        assert_eq!(codes(Hook::FlaggerRollback), [412, 412, 200, 200, 503]);
    }

    #[test]
    fn a_broken_source_answers_error_naming_it() {
        let broken: Result<Verdict, JudgeError> = Err(JudgeError::Empty {
            spec: "run:/nowhere".into(),
        });
        let body = answer(&broken, "run:/nowhere", Hook::FlaggerRollout);
        assert_eq!(body["verdict"], "ERROR");
        assert_eq!(body["promote"], false);
        assert_eq!(body["exit_code"], 2);
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("run:/nowhere")),
            "{body}"
        );
    }
}
