//! One chat turn over the assistant's WebSocket (`/ws/chat`): connect, send the turn as a text
//! frame, and read frames until the trace. Time to first byte is the first token frame, as the seed
//! measures TTFB; the last byte is the trace frame.
//!
//! For: the timings and the failure kind of one turn. Not for: pacing or recording.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::recorder::ErrorKind;

/// What one WebSocket turn did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exchange {
    /// When the first token frame arrived.
    pub first_token: Option<Instant>,
    /// The failure, if any.
    pub error: Option<ErrorKind>,
}

/// Runs one turn against `url` (`ws://host:port/ws/chat`) within `timeout`.
pub async fn exchange(url: &str, text: &str, timeout: Duration) -> Exchange {
    let mut first_token = None;
    let turn = async {
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|_| ErrorKind::Connect)?;
        socket
            .send(Message::text(text))
            .await
            .map_err(|_| ErrorKind::Transport)?;
        loop {
            let frame = match socket.next().await {
                Some(Ok(Message::Text(frame))) => frame,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    return Err(ErrorKind::Transport)
                }
                Some(Ok(_)) => continue,
            };
            let value: serde_json::Value =
                serde_json::from_str(frame.as_str()).map_err(|_| ErrorKind::Transport)?;
            match value["type"].as_str() {
                Some("token") => {
                    first_token.get_or_insert_with(Instant::now);
                }
                Some("trace") => {
                    let _ = socket.close(None).await;
                    return Ok(());
                }
                Some("error") => {
                    let status = value["status"].as_u64().unwrap_or(500);
                    return Err(if status >= 500 {
                        ErrorKind::Status5xx
                    } else {
                        ErrorKind::Status4xx
                    });
                }
                _ => {}
            }
        }
    };
    let error = match tokio::time::timeout(timeout, turn).await {
        Ok(Ok(())) => None,
        Ok(Err(kind)) => Some(kind),
        Err(_) => Some(ErrorKind::Timeout),
    };
    Exchange { first_token, error }
}
