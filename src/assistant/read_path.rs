//! The read path (read_write mode): Zep's context for a thread, within a **total** deadline.
//!
//! - The deadline (250 ms by default) covers connect, headers and body together: a slow drip of
//!   bytes is cut as surely as a hang. On timeout or error the turn falls back to the thread's last
//!   4 messages, the trace says `{used: false, reason: ...}`, a `zep_context_slow` warning is logged
//!   for timeouts, and `memory_zep_context_failures_total{reason}` counts it.
//! - Token budget: the context is Zep's summary plus the last 4 messages; when over budget the
//!   summary is cut from its end, and if the messages alone are over, the oldest go first.
//! - Per-turn cache: a context read is reused for 30 s under the key `zep_context:{thread}:{mode}`,
//!   so a multi-agent turn or a quick follow-up does not read twice.
//!
//! Not for: writing, or the local history itself (the turn pipeline owns it and passes it in).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::breaker::{Breaker, CallResult};
use super::metrics::Metrics;
use super::mode::{Mode, ModeController};
use super::zep_client::{FailureClass, ZepClient};

/// How many recent messages the context carries, and the fallback serves.
pub const LAST_MESSAGES: usize = 4;

/// Read path settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadConfig {
    /// Total deadline of one context read.
    pub deadline: Duration,
    /// How long a cached context is reused.
    pub cache_ttl: Duration,
    /// Whether the cache is used at all (a regression can turn it off).
    pub cache: bool,
    /// Most cached threads; the cache is emptied of expired entries, then cleared, past this.
    pub cache_capacity: usize,
    /// Largest context, in tokens (whitespace-separated words).
    pub token_budget: usize,
    /// Context reads per turn (1; a regression can model a multi-agent turn without the cache).
    pub reads_per_turn: u32,
    /// Added to every Zep context read, inside the deadline (a regression: a slower read path).
    pub extra_latency: Duration,
    /// Whether `deadline` is enforced around the read (a regression can leave only the HTTP
    /// client's own timeout).
    pub enforce_deadline: bool,
}

impl Default for ReadConfig {
    fn default() -> Self {
        ReadConfig {
            deadline: Duration::from_millis(250),
            cache_ttl: Duration::from_secs(30),
            cache: true,
            cache_capacity: 100_000,
            token_budget: 512,
            reads_per_turn: 1,
            extra_latency: Duration::ZERO,
            enforce_deadline: true,
        }
    }
}

/// The `memory` object of a turn's trace, exactly the seed's fields; absent fields are omitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryTrace {
    /// Whether memory was used for this turn.
    pub used: bool,
    /// The effective mode (`off` while the breaker is open).
    pub mode: &'static str,
    /// `zep`, `cache` or `local`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'static str>,
    /// `summary` (Zep's context) or `last_messages` (the fallback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<&'static str>,
    /// Milliseconds the context read took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub took_ms: Option<u64>,
    /// Why memory was not used (or why a mode differs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// One message of the local history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryMessage {
    /// `user` or `assistant`.
    pub role: &'static str,
    /// The text.
    pub content: String,
}

/// The context a turn answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Context {
    /// Zep's summary (empty on fallback).
    pub summary: String,
    /// The most recent messages kept.
    pub messages: Vec<HistoryMessage>,
    /// Tokens in summary + messages.
    pub tokens: usize,
    /// Whether the budget cut something.
    pub truncated: bool,
}

/// A context read's outcome.
#[derive(Debug, Clone)]
pub struct ReadOutcome {
    /// For the trace.
    pub memory: MemoryTrace,
    /// What the turn answers with.
    pub context: Context,
    /// Milliseconds spent reading (for the log line), `None` if no read was made.
    pub read_ms: Option<u64>,
}

/// The read path's handle.
pub struct ReadPath {
    client: ZepClient,
    breaker: Arc<Breaker>,
    mode: Arc<ModeController>,
    metrics: Metrics,
    config: ReadConfig,
    cache: Mutex<HashMap<String, (Instant, String)>>,
}

fn tokens(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Builds summary + last messages within `budget` tokens: oldest messages dropped first, then
/// the summary cut to the words that fit.
pub fn budget_context(summary: &str, recent: &[HistoryMessage], budget: usize) -> Context {
    let start = recent.len().saturating_sub(LAST_MESSAGES);
    let mut messages: Vec<HistoryMessage> = recent[start..].to_vec();
    let mut truncated = false;
    let mut message_tokens: usize = messages.iter().map(|m| tokens(&m.content)).sum();
    while message_tokens > budget && !messages.is_empty() {
        let dropped = messages.remove(0);
        message_tokens -= tokens(&dropped.content);
        truncated = true;
    }
    let room = budget - message_tokens;
    let summary_words: Vec<&str> = summary.split_whitespace().collect();
    let summary = if summary_words.len() > room {
        truncated = true;
        summary_words[..room].join(" ")
    } else {
        summary.to_string()
    };
    let tokens = tokens(&summary) + message_tokens;
    Context {
        summary,
        messages,
        tokens,
        truncated,
    }
}

impl ReadPath {
    /// A read path over `client`.
    pub fn new(
        client: ZepClient,
        breaker: Arc<Breaker>,
        mode: Arc<ModeController>,
        metrics: Metrics,
        config: ReadConfig,
    ) -> ReadPath {
        ReadPath {
            client,
            breaker,
            mode,
            metrics,
            config,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cache_get(&self, key: &str, now: Instant) -> Option<String> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache
            .get(key)
            .filter(|(at, _)| now.saturating_duration_since(*at) < self.config.cache_ttl)
            .map(|(_, summary)| summary.clone())
    }

    fn cache_put(&self, key: String, summary: String, now: Instant) {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.len() >= self.config.cache_capacity {
            let ttl = self.config.cache_ttl;
            cache.retain(|_, (at, _)| now.saturating_duration_since(*at) < ttl);
            if cache.len() >= self.config.cache_capacity {
                cache.clear();
            }
        }
        cache.insert(key, (now, summary));
    }

    /// Reads the thread's context (or serves it from the cache), falling back to `recent`.
    pub async fn read(&self, thread_id: &str, recent: &[HistoryMessage]) -> ReadOutcome {
        let mode = Mode::ReadWrite;
        let key = format!("zep_context:{thread_id}:{}", mode.as_str());
        let budget = self.config.token_budget;
        if self.config.cache {
            if let Some(summary) = self.cache_get(&key, Instant::now()) {
                self.metrics.context_cache.with_label_values(&["hit"]).inc();
                return ReadOutcome {
                    memory: MemoryTrace {
                        used: true,
                        mode: mode.as_str(),
                        source: Some("cache"),
                        strategy: Some("summary"),
                        took_ms: Some(0),
                        reason: None,
                    },
                    context: budget_context(&summary, recent, budget),
                    read_ms: None,
                };
            }
            self.metrics
                .context_cache
                .with_label_values(&["miss"])
                .inc();
        }
        let mut outcome = None;
        for _ in 0..self.config.reads_per_turn.max(1) {
            outcome = Some(self.read_zep(thread_id, recent).await);
        }
        let (outcome, summary) = match outcome {
            Some(pair) => pair,
            None => return self.fallback("client_error", None, recent),
        };
        if let (true, Some(summary)) = (self.config.cache, summary) {
            self.cache_put(key, summary, Instant::now());
        }
        outcome
    }

    async fn read_zep(
        &self,
        thread_id: &str,
        recent: &[HistoryMessage],
    ) -> (ReadOutcome, Option<String>) {
        if !self.breaker.allow() {
            return (self.fallback("breaker_open", None, recent), None);
        }
        let started = Instant::now();
        let deadline = self.config.deadline;
        let extra = self.config.extra_latency;
        let read = async {
            if !extra.is_zero() {
                tokio::time::sleep(extra).await;
            }
            self.client.get_context(thread_id).await
        };
        let result = if self.config.enforce_deadline {
            tokio::time::timeout(deadline, read).await
        } else {
            Ok(read.await)
        };
        let took = started.elapsed();
        self.metrics.read_latency.observe(took.as_secs_f64());
        let took_ms: u64 = took.as_millis().try_into().unwrap_or(u64::MAX);
        let class = match result {
            Ok(Ok(summary)) => {
                self.breaker.record(CallResult::Success);
                self.mode.record_authorised();
                let outcome = ReadOutcome {
                    memory: MemoryTrace {
                        used: true,
                        mode: Mode::ReadWrite.as_str(),
                        source: Some("zep"),
                        strategy: Some("summary"),
                        took_ms: Some(took_ms),
                        reason: None,
                    },
                    context: budget_context(&summary, recent, self.config.token_budget),
                    read_ms: Some(took_ms),
                };
                return (outcome, Some(summary));
            }
            Ok(Err(err)) => {
                tracing::debug!(thread = %thread_id, error = %err, "zep context read failed");
                self.breaker.record(err.class().breaker_result());
                err.class()
            }
            // The turn's own latency budget ran out: Zep is slow, not failing. The deadline
            // already protects the turn, and slowness is what the seed's downgrade triggers judge
            // (read p95, context failure rate); the breaker counts Zep's failures (5xx, refused
            // or dropped connections, the client's own timeout).
            Err(_) => {
                self.breaker.record(CallResult::Neutral);
                FailureClass::Timeout
            }
        };
        if class == FailureClass::Auth {
            self.mode.record_auth_failure();
        } else {
            self.mode.record_authorised();
        }
        if class == FailureClass::Timeout {
            tracing::warn!(
                thread = %thread_id,
                took_ms,
                budget_ms = deadline.as_millis() as u64,
                "zep_context_slow"
            );
        }
        (self.fallback(class.as_str(), Some(took_ms), recent), None)
    }

    fn fallback(
        &self,
        reason: &'static str,
        took_ms: Option<u64>,
        recent: &[HistoryMessage],
    ) -> ReadOutcome {
        self.metrics
            .context_failures
            .with_label_values(&[reason])
            .inc();
        let mode = if reason == "breaker_open" {
            Mode::Off
        } else {
            Mode::ReadWrite
        };
        ReadOutcome {
            memory: MemoryTrace {
                used: false,
                mode: mode.as_str(),
                source: Some("local"),
                strategy: Some("last_messages"),
                took_ms,
                reason: Some(reason),
            },
            context: budget_context("", recent, self.config.token_budget),
            read_ms: took_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(role: &'static str, words: usize) -> HistoryMessage {
        HistoryMessage {
            role,
            content: vec!["w"; words].join(" "),
        }
    }

    #[test]
    fn summary_and_last_four_fit_untouched() {
        let recent: Vec<_> = (0..6).map(|_| msg("user", 3)).collect();
        let ctx = budget_context("user wants 2 bedrooms", &recent, 100);
        assert_eq!(ctx.messages.len(), 4);
        assert_eq!(ctx.tokens, 4 + 12);
        assert!(!ctx.truncated);
    }

    #[test]
    fn over_budget_cuts_the_summary_then_the_oldest_messages() {
        let recent = vec![
            msg("user", 5),
            msg("assistant", 5),
            msg("user", 5),
            msg("assistant", 5),
        ];
        let ctx = budget_context("a b c d e f g h i j", &recent, 23);
        assert_eq!(
            (ctx.summary.as_str(), ctx.messages.len(), ctx.tokens),
            ("a b c", 4, 23)
        );
        assert!(ctx.truncated);

        let ctx = budget_context("a b c", &recent, 12);
        assert_eq!(
            (ctx.summary.as_str(), ctx.messages.len(), ctx.tokens),
            ("a b", 2, 12)
        );
    }

    #[test]
    fn the_trace_serialises_only_the_fields_that_apply() {
        let trace = MemoryTrace {
            used: false,
            mode: "off",
            source: None,
            strategy: None,
            took_ms: None,
            reason: Some("breaker_open"),
        };
        assert_eq!(
            serde_json::to_string(&trace).expect("json"),
            r#"{"used":false,"mode":"off","reason":"breaker_open"}"#
        );
    }
}
