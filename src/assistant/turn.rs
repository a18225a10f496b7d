//! One chat turn, shared by the HTTP and WebSocket transports: validate, route, read context
//! (read_write), think (the brain's model time), queue the write, log the turn, build the trace.
//!
//! The thread's local state (routing state and the last messages, as the app's own database would
//! keep them) lives here, bounded in size. Not for: transport details or timing of tokens.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::brain::Brain;
use super::breaker::{Breaker, BreakerState};
use super::metrics::Metrics;
use super::mode::{Mode, ModeController};
use super::pii;
use super::read_path::{Context, HistoryMessage, MemoryTrace, ReadPath};
use super::routing::{self, Routed, Slots, ThreadRouting};
use super::turn_log::{TurnLine, TurnLog, ZepLine};
use super::write_worker::{Submitted, WriteJob, WritePath};
use super::zep_client::OutMessage;

/// Longest accepted message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// Longest accepted id.
pub const MAX_ID_CHARS: usize = 128;
/// Messages of local history kept per thread.
const HISTORY: usize = 8;

/// A chat turn as posted to `/api/chat` or sent as a WebSocket text frame.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// Conversation id (also the Zep thread id).
    pub thread_id: String,
    /// User id (also the Zep user id).
    pub user_id: String,
    /// What the user said.
    pub message: String,
    /// The client's id for this turn; a repeat is answered again but never stored twice.
    pub client_msg_id: String,
}

/// Why a turn was not answered.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TurnError {
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// The regression file's `error_rate` failed this turn (500).
    #[error("injected failure (regression error_rate)")]
    Injected,
}

impl ChatRequest {
    /// Checks lengths and id characters (ids go into Zep URLs).
    pub fn validate(&self) -> Result<(), TurnError> {
        for (field, value) in [
            ("thread_id", &self.thread_id),
            ("user_id", &self.user_id),
            ("client_msg_id", &self.client_msg_id),
        ] {
            if value.is_empty() || value.chars().count() > MAX_ID_CHARS {
                return Err(TurnError::BadRequest(format!(
                    "field `{field}` must have 1 to {MAX_ID_CHARS} characters"
                )));
            }
            if !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
            {
                return Err(TurnError::BadRequest(format!(
                    "field `{field}` may only contain letters, digits, `-`, `_`, `.` and `:`"
                )));
            }
        }
        if self.message.trim().is_empty() {
            return Err(TurnError::BadRequest(
                "field `message` must not be empty".into(),
            ));
        }
        if self.message.chars().count() > MAX_MESSAGE_CHARS {
            return Err(TurnError::BadRequest(format!(
                "field `message` is longer than {MAX_MESSAGE_CHARS} characters"
            )));
        }
        Ok(())
    }
}

/// A turn's trace: the seed's `memory` object plus what the supervisor decided.
#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    /// The seed's `{used, mode, source, strategy, took_ms, reason}`.
    pub memory: MemoryTrace,
    /// Supervisor routing.
    pub routing: Routed,
    /// The context used, when read_write.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<ContextInfo>,
    /// `queued`, or the reason the write was skipped.
    pub write: &'static str,
    /// `baseline` or `canary`.
    pub variant: &'static str,
}

/// Size of the context a turn answered with.
#[derive(Debug, Clone, Serialize)]
pub struct ContextInfo {
    /// Tokens used.
    pub tokens: usize,
    /// Whether the budget cut something.
    pub truncated: bool,
    /// Messages included.
    pub messages: usize,
}

/// An answered turn.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// The reply text.
    pub reply: String,
    /// The agent that answered.
    pub agent: &'static str,
    /// The trace.
    pub trace: Trace,
}

#[derive(Debug, Clone, Default)]
struct ThreadState {
    routing: ThreadRouting,
    history: VecDeque<HistoryMessage>,
}

/// Everything a turn needs; one per assistant.
pub struct Engine {
    /// Simulated model.
    pub brain: Brain,
    /// Context reads.
    pub read: ReadPath,
    /// Message writes.
    pub write: WritePath,
    /// Effective mode.
    pub mode: Arc<ModeController>,
    /// Zep breaker.
    pub breaker: Arc<Breaker>,
    /// Metrics.
    pub metrics: Metrics,
    /// Per-turn log.
    pub turn_log: TurnLog,
    /// Regression: fraction of turns failed.
    pub error_rate: f64,
    /// Regression switch: redact PII before writes.
    pub redaction: bool,
    /// `baseline` or `canary`.
    pub variant: &'static str,
    /// Most threads kept in memory (all forgotten at once past this).
    pub thread_capacity: usize,
    threads: Mutex<HashMap<String, ThreadState>>,
    rng: Mutex<StdRng>,
}

impl Engine {
    /// Builds an engine from its parts.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        brain: Brain,
        read: ReadPath,
        write: WritePath,
        mode: Arc<ModeController>,
        breaker: Arc<Breaker>,
        metrics: Metrics,
        turn_log: TurnLog,
        error_rate: f64,
        redaction: bool,
        variant: &'static str,
        seed: u64,
    ) -> Engine {
        Engine {
            brain,
            read,
            write,
            mode,
            breaker,
            metrics,
            turn_log,
            error_rate,
            redaction,
            variant,
            thread_capacity: 100_000,
            threads: Mutex::new(HashMap::new()),
            rng: Mutex::new(StdRng::seed_from_u64(seed ^ 0x5eed)),
        }
    }

    fn thread(&self, id: &str) -> ThreadState {
        let threads = self
            .threads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        threads.get(id).cloned().unwrap_or_default()
    }

    fn store_thread(&self, id: &str, state: ThreadState) {
        let mut threads = self
            .threads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if threads.len() >= self.thread_capacity && !threads.contains_key(id) {
            threads.clear();
        }
        threads.insert(id.to_string(), state);
    }

    /// Answers one turn. Returns after the model time, when the first token is ready.
    pub async fn turn(&self, request: &ChatRequest) -> Result<Answer, TurnError> {
        request.validate()?;
        let mut state = self.thread(&request.thread_id);
        let (mode, mode_reason) = self.mode.effective();
        let recent: Vec<HistoryMessage> = state.history.iter().cloned().collect();

        let (mut memory, context, read_ms) = match mode {
            Mode::ReadWrite => {
                let outcome = self.read.read(&request.thread_id, &recent).await;
                (outcome.memory, Some(outcome.context), outcome.read_ms)
            }
            Mode::WriteOnly => (
                MemoryTrace {
                    used: true,
                    mode: mode.as_str(),
                    source: Some("zep"),
                    strategy: None,
                    took_ms: None,
                    reason: mode_reason,
                },
                None,
                None,
            ),
            Mode::Off => (off_trace(mode_reason.unwrap_or("mode_off")), None, None),
        };
        if mode != Mode::Off && self.breaker.state() == BreakerState::Open {
            memory = off_trace("breaker_open");
        }

        let facts = context
            .as_ref()
            .map(|c: &Context| Slots::extract(&c.summary))
            .unwrap_or_default();
        let routed = routing::route(&mut state.routing, &request.message, &facts);

        tokio::time::sleep(self.brain.sample()).await;
        let failed = {
            let mut rng = self
                .rng
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            self.error_rate > 0.0 && rng.random::<f64>() < self.error_rate
        };
        if failed {
            return Err(TurnError::Injected);
        }

        let write = match mode {
            Mode::Off => self.write.skip("mode_off"),
            _ => self.write.submit(self.write_job(request, &routed.reply)),
        };
        for (role, content) in [
            ("user", request.message.clone()),
            ("assistant", routed.reply.clone()),
        ] {
            state.history.push_back(HistoryMessage { role, content });
            while state.history.len() > HISTORY {
                state.history.pop_front();
            }
        }
        let agent = routed.agent.as_str();
        self.store_thread(&request.thread_id, state);

        let last = self.write.last_write(&request.thread_id);
        self.turn_log.write(&TurnLine {
            thread: &request.thread_id,
            user: &request.user_id,
            agent,
            zep: ZepLine {
                mode: memory.mode,
                read_ms,
                write_ms: last.write_ms,
                breaker: self.breaker.state().as_str(),
                retry_after: last.retry_after_s,
            },
        });
        let context = context.map(|c| ContextInfo {
            tokens: c.tokens,
            truncated: c.truncated,
            messages: c.messages.len(),
        });
        Ok(Answer {
            reply: routed.reply.clone(),
            agent,
            trace: Trace {
                memory,
                routing: routed,
                context,
                write: match write {
                    Submitted::Queued => "queued",
                    Submitted::Skipped(reason) => reason,
                },
                variant: self.variant,
            },
        })
    }

    fn write_job(&self, request: &ChatRequest, reply: &str) -> WriteJob {
        let messages = [("user", request.message.as_str()), ("assistant", reply)]
            .into_iter()
            .map(|(role, text)| {
                let content = if self.redaction {
                    let (clean, counts) = pii::redact(text);
                    self.metrics
                        .redactions
                        .with_label_values(&["email"])
                        .inc_by(counts.email);
                    self.metrics
                        .redactions
                        .with_label_values(&["phone"])
                        .inc_by(counts.phone);
                    clean
                } else {
                    text.to_string()
                };
                OutMessage {
                    role: role.to_string(),
                    content,
                    message_id: format!("{}:{role}", request.client_msg_id),
                }
            })
            .collect();
        WriteJob {
            thread_id: request.thread_id.clone(),
            user_id: request.user_id.clone(),
            client_msg_id: request.client_msg_id.clone(),
            messages,
        }
    }
}

fn off_trace(reason: &'static str) -> MemoryTrace {
    MemoryTrace {
        used: false,
        mode: Mode::Off.as_str(),
        source: None,
        strategy: None,
        took_ms: None,
        reason: Some(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(thread: &str, message: &str) -> ChatRequest {
        ChatRequest {
            thread_id: thread.into(),
            user_id: "u1".into(),
            message: message.into(),
            client_msg_id: "m1".into(),
        }
    }

    #[test]
    fn requests_are_validated_field_by_field() {
        assert_eq!(request("t1", "hi").validate(), Ok(()));
        let err = request("t/1", "hi").validate().unwrap_err().to_string();
        assert!(err.contains("`thread_id` may only contain"), "{err}");
        let err = request("t1", "  ").validate().unwrap_err().to_string();
        assert!(err.contains("`message` must not be empty"), "{err}");
        let err = request("", "hi").validate().unwrap_err().to_string();
        assert!(err.contains("`thread_id` must have 1 to 128"), "{err}");
        let long = "x".repeat(MAX_MESSAGE_CHARS + 1);
        assert!(request("t1", &long).validate().is_err());
    }
}
