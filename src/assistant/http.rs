//! The assistant's HTTP surface (axum): `POST /api/chat`, the `/ws/chat` WebSocket, `/metrics`
//! and `/healthz`.
//!
//! WebSocket protocol: the client sends a text frame with the same JSON as `POST /api/chat`; the
//! server answers with one `{"type":"token","text":...}` frame per word (the first one is the
//! TTFB), then a trace frame `{"type":"trace","memory":{used, mode, source, strategy, took_ms,
//! reason}, "routing":..., ...}`. A bad frame gets `{"type":"error","status":400,"message":...}`
//! and the socket stays open for the next turn.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::JsonRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::turn::{Answer, ChatRequest, Engine, TurnError};

/// The axum router over an engine.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/api/chat", post(chat))
        .route("/ws/chat", get(ws_chat))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(engine)
}

fn error_body(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn chat(
    State(engine): State<Arc<Engine>>,
    body: Result<Json<ChatRequest>, JsonRejection>,
) -> Response {
    let started = Instant::now();
    engine.metrics.requests.with_label_values(&["http"]).inc();
    let request = match body {
        Ok(Json(request)) => request,
        Err(rejection) => return error_body(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    match engine.turn(&request).await {
        Ok(answer) => {
            engine
                .metrics
                .ttfb
                .with_label_values(&["http"])
                .observe(started.elapsed().as_secs_f64());
            Json(answer).into_response()
        }
        Err(TurnError::BadRequest(message)) => error_body(StatusCode::BAD_REQUEST, &message),
        Err(err @ TurnError::Injected) => {
            engine.metrics.errors.with_label_values(&["http"]).inc();
            error_body(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string())
        }
    }
}

async fn metrics(State(engine): State<Arc<Engine>>) -> Response {
    // Refreshes the mode gauge, so an expired downgrade shows without a turn.
    let _ = engine.mode.effective();
    match engine.metrics.render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                super::metrics::Metrics::content_type(),
            )],
            text,
        )
            .into_response(),
        Err(err) => error_body(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
    }
}

async fn ws_chat(State(engine): State<Arc<Engine>>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| serve_socket(engine, socket))
}

async fn serve_socket(engine: Arc<Engine>, mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => break,
            Message::Binary(_) => {
                engine.metrics.requests.with_label_values(&["ws"]).inc();
                if send_json(
                    &mut socket,
                    &ws_error(400, "send chat turns as JSON text frames"),
                )
                .await
                .is_err()
                {
                    break;
                }
                continue;
            }
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        if ws_turn(&engine, &mut socket, text.as_str()).await.is_err() {
            break;
        }
    }
}

/// One WebSocket turn; `Err` when the socket is gone.
async fn ws_turn(engine: &Engine, socket: &mut WebSocket, text: &str) -> Result<(), axum::Error> {
    let started = Instant::now();
    engine.metrics.requests.with_label_values(&["ws"]).inc();
    let request: ChatRequest = match serde_json::from_str(text) {
        Ok(request) => request,
        Err(err) => {
            return send_json(socket, &ws_error(400, &format!("invalid chat turn: {err}"))).await
        }
    };
    let answer: Answer = match engine.turn(&request).await {
        Ok(answer) => answer,
        Err(TurnError::BadRequest(message)) => {
            return send_json(socket, &ws_error(400, &message)).await
        }
        Err(err @ TurnError::Injected) => {
            engine.metrics.errors.with_label_values(&["ws"]).inc();
            return send_json(socket, &ws_error(500, &err.to_string())).await;
        }
    };
    let mut first = true;
    for word in answer.reply.split_inclusive(' ') {
        send_json(socket, &json!({ "type": "token", "text": word })).await?;
        if first {
            engine
                .metrics
                .ttfb
                .with_label_values(&["ws"])
                .observe(started.elapsed().as_secs_f64());
            first = false;
        }
    }
    let trace = &answer.trace;
    send_json(
        socket,
        &json!({
            "type": "trace",
            "memory": trace.memory,
            "agent": answer.agent,
            "routing": trace.routing,
            "context": trace.context,
            "write": trace.write,
            "variant": trace.variant,
        }),
    )
    .await
}

fn ws_error(status: u16, message: &str) -> serde_json::Value {
    json!({ "type": "error", "status": status, "message": message })
}

async fn send_json(socket: &mut WebSocket, value: &serde_json::Value) -> Result<(), axum::Error> {
    socket.send(Message::Text(value.to_string().into())).await
}
