//! Backfill: replay stored conversation history (a JSONL file, one message per line) into Zep,
//! the seed's `zep_backfill --since=30d --dry-run` command.
//!
//! Input lines: `{"thread_id", "user_id", "role", "content", "created_at" (RFC 3339),
//! "message_id"}`. The whole file is validated first (an error names file, line and field, and
//! nothing is written); then consecutive messages of a thread are written in batches of up to 30
//! (Zep's limit), PII-redacted, with retries (backoff, `Retry-After`). After each batch a
//! checkpoint records the last line written, atomically; an interrupted or failed run resumes
//! after it. Before retrying a batch whose outcome is unknown (timeout, reset, 5xx) Zep is asked
//! whether it landed, so no message is written twice. `--dry-run` only validates and counts.
//! With a metrics file, progress is also written after every batch as Prometheus text (the
//! node_exporter textfile-collector format), so a long backfill can be watched and alerted on.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::pii;
use super::zep_client::{ApiVersion, OutMessage, ZepClient, ZepError};

/// Zep's largest batch.
pub const MAX_BATCH: usize = 30;

/// Roles Zep accepts.
const ROLES: &[&str] = &["user", "assistant", "system", "tool", "function", "norole"];

/// What to backfill, and how.
#[derive(Debug, Clone)]
pub struct BackfillConfig {
    /// History file (JSONL).
    pub input: PathBuf,
    /// Checkpoint file (created, updated after every batch).
    pub checkpoint: PathBuf,
    /// Only messages newer than this (from `now`).
    pub since: Option<Duration>,
    /// "Now" for `since` (tests pin it).
    pub now: SystemTime,
    /// Validate and count only.
    pub dry_run: bool,
    /// Zep base URL.
    pub zep_url: String,
    /// Zep API key.
    pub zep_key: String,
    /// Zep API version.
    pub zep_api: ApiVersion,
    /// Attempts per batch, the first included.
    pub max_attempts: u32,
    /// First backoff, doubled per attempt.
    pub backoff_base: Duration,
    /// Timeout of one HTTP attempt.
    pub attempt_timeout: Duration,
    /// Draw a progress bar on stderr (only drawn on a terminal).
    pub progress: bool,
    /// Write progress as Prometheus text to this file after every batch (atomically).
    pub metrics_file: Option<PathBuf>,
}

/// Why a backfill stopped.
#[derive(Debug, Error)]
pub enum BackfillError {
    /// The input or checkpoint could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line is not a valid message.
    #[error("{path}:{line}: {message}")]
    Line {
        /// The input file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong (names the field).
        message: String,
    },
    /// The checkpoint file is not one this command wrote.
    #[error("{path}: not a backfill checkpoint ({reason}); delete it to start over")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A batch failed after every retry; the checkpoint is at the last written line.
    #[error("{path}:{line}: writing the batch starting here failed after {attempts} attempts ({source}); {written} messages written so far, rerun to resume from line {line}")]
    Write {
        /// The input file.
        path: PathBuf,
        /// First line of the failed batch.
        line: u64,
        /// Attempts made.
        attempts: u32,
        /// Messages written before (this run and earlier ones).
        written: u64,
        /// The last failure.
        source: Box<ZepError>,
    },
    /// The Zep client could not be built.
    #[error(transparent)]
    Client(#[from] ZepError),
    /// The metrics file could not be written.
    #[error("metrics file: {0}")]
    Metrics(crate::run_dir::RunDirError),
}

/// Counts of a backfill run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Lines in the file.
    pub lines: u64,
    /// Messages older than `--since`, not written.
    pub too_old: u64,
    /// Lines already written by an earlier run (before the checkpoint).
    pub already_done: u64,
    /// Messages written by this run (or that would be, with `--dry-run`).
    pub written: u64,
    /// Batches written (or that would be).
    pub batches: u64,
    /// Distinct threads written to.
    pub threads: u64,
    /// Batches found already stored after an ambiguous failure.
    pub recovered: u64,
    /// Emails and phone numbers redacted.
    pub redactions: u64,
}

/// Where a backfill stands, for its metrics file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Batches are being written.
    Running,
    /// Every pending message was written.
    Done,
    /// A batch failed after every retry; the checkpoint is at the last written line.
    Failed,
}

impl Summary {
    /// The progress as Prometheus text format 0.0.4: messages by state (`pending` is what this
    /// run has still to write), batches, recoveries, redactions, whether the run is running or
    /// failed, and when the file was written.
    pub fn exposition(&self, pending: u64, stage: Stage, now: SystemTime) -> String {
        let unix = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut out = String::from(
            "# HELP zep_backfill_messages Messages of the history file by state.\n\
             # TYPE zep_backfill_messages gauge\n",
        );
        for (state, value) in [
            ("written", self.written),
            ("pending", pending),
            ("already_done", self.already_done),
            ("too_old", self.too_old),
        ] {
            out.push_str(&format!(
                "zep_backfill_messages{{state=\"{state}\"}} {value}\n"
            ));
        }
        for (name, help, kind, value) in [
            (
                "zep_backfill_batches_total",
                "Batches written by this run.",
                "counter",
                self.batches as f64,
            ),
            (
                "zep_backfill_recovered_batches_total",
                "Batches found already stored after an ambiguous failure.",
                "counter",
                self.recovered as f64,
            ),
            (
                "zep_backfill_redactions_total",
                "Emails and phone numbers redacted.",
                "counter",
                self.redactions as f64,
            ),
            (
                "zep_backfill_running",
                "1 while batches are being written.",
                "gauge",
                f64::from(u8::from(stage == Stage::Running)),
            ),
            (
                "zep_backfill_failed",
                "1 when the run stopped on a batch that failed after every retry.",
                "gauge",
                f64::from(u8::from(stage == Stage::Failed)),
            ),
            (
                "zep_backfill_last_update_timestamp_seconds",
                "When this file was written.",
                "gauge",
                unix,
            ),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        }
        out
    }
}

/// Writes the metrics file, if one is configured.
fn write_metrics(
    config: &BackfillConfig,
    summary: &Summary,
    pending: u64,
    stage: Stage,
) -> Result<(), BackfillError> {
    let Some(path) = &config.metrics_file else {
        return Ok(());
    };
    let text = summary.exposition(pending, stage, SystemTime::now());
    crate::run_dir::write_atomic(path, text.as_bytes()).map_err(BackfillError::Metrics)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    thread_id: String,
    user_id: String,
    role: String,
    content: String,
    created_at: String,
    message_id: String,
}

/// A validated line.
#[derive(Debug, Clone)]
struct Item {
    line: u64,
    thread_id: String,
    user_id: String,
    message: OutMessage,
    recent: bool,
}

/// The checkpoint file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Checkpoint {
    /// Every line up to this one (1-based) is done.
    line: u64,
    /// Messages written so far, over every run.
    written: u64,
}

fn parse_line(
    path: &Path,
    line: u64,
    text: &str,
    cutoff: Option<SystemTime>,
) -> Result<Item, BackfillError> {
    let fail = |message: String| BackfillError::Line {
        path: path.to_path_buf(),
        line,
        message,
    };
    let record: Record = serde_json::from_str(text).map_err(|err| {
        let said = err.to_string();
        let what = said.split(" at line ").next().unwrap_or(&said).to_string();
        fail(format!("{what} (column {})", err.column()))
    })?;
    for (field, value) in [
        ("thread_id", &record.thread_id),
        ("user_id", &record.user_id),
        ("message_id", &record.message_id),
    ] {
        if value.is_empty()
            || !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        {
            return Err(fail(format!(
                "field `{field}`: `{value}` must be non-empty letters, digits, `-`, `_`, `.` or `:`"
            )));
        }
    }
    if !ROLES.contains(&record.role.as_str()) {
        return Err(fail(format!(
            "field `role`: `{}` is not one of {}",
            record.role,
            ROLES.join(", ")
        )));
    }
    if record.content.trim().is_empty() {
        return Err(fail("field `content` must not be empty".into()));
    }
    let created = humantime::parse_rfc3339_weak(&record.created_at).map_err(|err| {
        fail(format!(
            "field `created_at`: `{}` is not an RFC 3339 time ({err})",
            record.created_at
        ))
    })?;
    Ok(Item {
        line,
        thread_id: record.thread_id,
        user_id: record.user_id,
        message: OutMessage {
            role: record.role,
            content: record.content,
            message_id: record.message_id,
        },
        recent: cutoff.is_none_or(|cutoff| created >= cutoff),
    })
}

fn read_items(config: &BackfillConfig) -> Result<Vec<Item>, BackfillError> {
    let io = |source| BackfillError::Io {
        path: config.input.clone(),
        source,
    };
    let file = std::fs::File::open(&config.input).map_err(io)?;
    let cutoff = config.since.and_then(|since| config.now.checked_sub(since));
    let mut items = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let text = line.map_err(io)?;
        let number = index as u64 + 1;
        if text.trim().is_empty() {
            continue;
        }
        items.push(parse_line(&config.input, number, &text, cutoff)?);
    }
    Ok(items)
}

fn load_checkpoint(path: &Path) -> Result<Checkpoint, BackfillError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|err| BackfillError::Checkpoint {
            path: path.to_path_buf(),
            reason: err.to_string(),
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Checkpoint::default()),
        Err(source) => Err(BackfillError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn save_checkpoint(path: &Path, checkpoint: &Checkpoint) -> Result<(), BackfillError> {
    let io = |source| BackfillError::Io {
        path: path.to_path_buf(),
        source,
    };
    let json = serde_json::to_string(checkpoint).map_err(|err| BackfillError::Checkpoint {
        path: path.to_path_buf(),
        reason: err.to_string(),
    })?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, json).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Consecutive items of one thread, at most [`MAX_BATCH`].
fn batches(items: &[Item]) -> Vec<&[Item]> {
    let mut out = Vec::new();
    let mut start = 0;
    for end in 1..=items.len() {
        let split = end == items.len()
            || items[end].thread_id != items[start].thread_id
            || end - start == MAX_BATCH;
        if split {
            out.push(&items[start..end]);
            start = end;
        }
    }
    out
}

/// Runs a backfill (or a dry run) and returns its counts.
pub async fn run(config: &BackfillConfig) -> Result<Summary, BackfillError> {
    let items = read_items(config)?;
    let mut checkpoint = load_checkpoint(&config.checkpoint)?;
    let mut summary = Summary {
        lines: items.last().map_or(0, |i| i.line),
        ..Summary::default()
    };
    let pending: Vec<Item> = items
        .into_iter()
        .filter(|item| {
            let done = item.line <= checkpoint.line;
            summary.already_done += u64::from(done);
            summary.too_old += u64::from(!done && !item.recent);
            !done && item.recent
        })
        .collect();
    let groups = batches(&pending);
    if config.dry_run {
        summary.written = pending.len() as u64;
        summary.batches = groups.len() as u64;
        summary.threads = pending
            .iter()
            .map(|i| &i.thread_id)
            .collect::<HashSet<_>>()
            .len() as u64;
        return Ok(summary);
    }

    let client = ZepClient::new(
        &config.zep_url,
        &config.zep_key,
        config.zep_api,
        config.attempt_timeout,
    )?;
    let bar = if config.progress {
        ProgressBar::new(pending.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} messages ({per_sec}, eta {eta}) {msg}")
    {
        bar.set_style(style);
    }
    let mut known: HashSet<String> = HashSet::new();
    let mut left = pending.len() as u64;
    write_metrics(config, &summary, left, Stage::Running)?;
    for batch in groups {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            continue;
        };
        let mut messages = Vec::with_capacity(batch.len());
        for item in batch {
            let (content, counts) = pii::redact(&item.message.content);
            summary.redactions += counts.email + counts.phone;
            messages.push(OutMessage {
                content,
                ..item.message.clone()
            });
        }
        let recovered = write_batch(config, &client, &mut known, first, &messages)
            .await
            .map_err(|(attempts, source)| {
                bar.abandon_with_message("stopped");
                // The write error is the one to report; a metrics file that cannot be written
                // as well is secondary.
                let _ = write_metrics(config, &summary, left, Stage::Failed);
                BackfillError::Write {
                    path: config.input.clone(),
                    line: first.line,
                    attempts,
                    written: checkpoint.written,
                    source: Box::new(source),
                }
            })?;
        summary.recovered += u64::from(recovered);
        summary.written += batch.len() as u64;
        summary.batches += 1;
        checkpoint.line = last.line;
        checkpoint.written += batch.len() as u64;
        save_checkpoint(&config.checkpoint, &checkpoint)?;
        left -= batch.len() as u64;
        write_metrics(config, &summary, left, Stage::Running)?;
        bar.inc(batch.len() as u64);
    }
    // Lines after the last pending one (too old) are done too.
    checkpoint.line = checkpoint.line.max(summary.lines);
    save_checkpoint(&config.checkpoint, &checkpoint)?;
    bar.finish_and_clear();
    summary.threads = known.len() as u64;
    write_metrics(config, &summary, 0, Stage::Done)?;
    Ok(summary)
}

/// Writes one batch with retries; `Ok(true)` when an ambiguous failure had in fact stored it.
async fn write_batch(
    config: &BackfillConfig,
    client: &ZepClient,
    known: &mut HashSet<String>,
    first: &Item,
    messages: &[OutMessage],
) -> Result<bool, (u32, ZepError)> {
    let last_id = messages
        .last()
        .map(|m| m.message_id.as_str())
        .unwrap_or_default();
    let key = format!("backfill:{}:{}", first.thread_id, first.message.message_id);
    let attempts = config.max_attempts.max(1);
    let mut unsure = false;
    for attempt in 1..=attempts {
        if unsure {
            if let Ok(true) = client
                .has_message(&first.thread_id, last_id, messages.len() + 5)
                .await
            {
                return Ok(true);
            }
        }
        let result = if known.contains(&first.thread_id) {
            Ok(())
        } else {
            client.ensure_thread(&first.thread_id, &first.user_id).await
        };
        let result = match result {
            Ok(()) => {
                known.insert(first.thread_id.clone());
                client.add_messages(&first.thread_id, messages, &key).await
            }
            Err(err) => Err(err),
        };
        let err = match result {
            Ok(()) => return Ok(false),
            Err(err) => err,
        };
        let class = err.class();
        if !class.retryable() || attempt == attempts {
            return Err((attempt, err));
        }
        unsure = unsure || class.ambiguous();
        let wait = err.retry_after().unwrap_or_else(|| {
            config
                .backoff_base
                .saturating_mul(2u32.saturating_pow(attempt - 1))
                .min(Duration::from_secs(30))
        });
        tracing::debug!(line = first.line, attempt, ?wait, error = %err, "backfill batch retry");
        tokio::time::sleep(wait).await;
    }
    Err((
        attempts,
        ZepError::Body {
            method: "POST",
            url: client.api_url().to_string(),
            reason: "no attempt made".into(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(thread: &str, id: &str, created: &str) -> String {
        format!(
            r#"{{"thread_id":"{thread}","user_id":"u1","role":"user","content":"hi","created_at":"{created}","message_id":"{id}"}}"#
        )
    }

    #[test]
    fn lines_are_validated_with_file_line_and_field() {
        let path = Path::new("history.jsonl");
        let ok =
            parse_line(path, 1, &line("t1", "m1", "2026-11-01T10:00:00Z"), None).expect("valid");
        assert_eq!(
            (ok.thread_id.as_str(), ok.message.role.as_str()),
            ("t1", "user")
        );

        let err = parse_line(path, 7, &line("t1", "m1", "yesterday"), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("history.jsonl:7: field `created_at`: `yesterday`"),
            "{err}"
        );
        let err = parse_line(path, 2, r#"{"thread_id":"t1"}"#, None)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "history.jsonl:2: missing field `user_id` (column 18)");
        let bad_role = line("t1", "m1", "2026-11-01T10:00:00Z").replace("\"user\",", "\"bot\",");
        let err = parse_line(path, 3, &bad_role, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("field `role`: `bot` is not one of"), "{err}");
    }

    #[test]
    fn since_marks_old_messages() {
        let now = humantime::parse_rfc3339("2026-11-25T00:00:00Z").expect("time");
        let cutoff = now.checked_sub(Duration::from_secs(30 * 86_400));
        let path = Path::new("h");
        assert!(
            parse_line(path, 1, &line("t", "a", "2026-11-01T00:00:00Z"), cutoff)
                .expect("ok")
                .recent
        );
        assert!(
            !parse_line(path, 1, &line("t", "a", "2026-10-01T00:00:00Z"), cutoff)
                .expect("ok")
                .recent
        );
    }

    #[test]
    fn batches_split_on_thread_change_and_at_thirty() {
        let path = Path::new("h");
        let mut items = Vec::new();
        for n in 0..35 {
            items.push(
                parse_line(
                    path,
                    n + 1,
                    &line("a", &format!("m{n}"), "2026-11-01T00:00:00Z"),
                    None,
                )
                .expect("ok"),
            );
        }
        items
            .push(parse_line(path, 36, &line("b", "x", "2026-11-01T00:00:00Z"), None).expect("ok"));
        let sizes: Vec<usize> = batches(&items).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [30, 5, 1]);
        assert!(batches(&[]).is_empty());
    }
}
