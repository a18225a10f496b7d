//! A scrape target for tests: serves whatever body/status the test sets, on 127.0.0.1:0.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

/// What the target answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
}

/// A running target; stops when dropped.
pub struct TestTarget {
    pub url: String,
    reply: Arc<Mutex<Reply>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestTarget {
    pub async fn start(body: &str) -> TestTarget {
        let reply = Arc::new(Mutex::new(Reply {
            status: 200,
            body: body.to_string(),
            delay: Duration::ZERO,
        }));
        let app = axum::Router::new()
            .route("/metrics", get(serve))
            .with_state(reply.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestTarget {
            url: format!("http://{addr}/metrics"),
            reply,
            task,
        }
    }

    pub fn set(&self, f: impl FnOnce(&mut Reply)) {
        f(&mut self.reply.lock().expect("lock"));
    }
}

impl Drop for TestTarget {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(State(reply): State<Arc<Mutex<Reply>>>) -> impl IntoResponse {
    let r = reply.lock().expect("lock").clone();
    if !r.delay.is_zero() {
        tokio::time::sleep(r.delay).await;
    }
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [("content-type", "text/plain; version=0.0.4")],
        r.body,
    )
}
