//! The structured log line written once per turn, the seed's
//! `{thread, user, agent, zep: {mode, read_ms, write_ms, breaker, retry_after}}`, as one JSON
//! object per line on stderr or appended to a file.
//!
//! `write_ms` and `retry_after` describe the thread's last *finished* write: writes are
//! asynchronous, so the current turn's write has usually not happened when its line is written.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use thiserror::Error;

/// Where per-turn lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnLogTarget {
    /// Standard error.
    Stderr,
    /// Appended to this file.
    File(PathBuf),
    /// Nowhere.
    Off,
}

impl std::str::FromStr for TurnLogTarget {
    type Err = std::convert::Infallible;

    /// `stderr`, `off`, or a file path.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text {
            "stderr" | "-" => TurnLogTarget::Stderr,
            "off" | "none" => TurnLogTarget::Off,
            path => TurnLogTarget::File(PathBuf::from(path)),
        })
    }
}

/// Why the per-turn log could not be opened.
#[derive(Debug, Error)]
pub enum TurnLogError {
    /// The file could not be opened for appending.
    #[error("cannot open turn log {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The `zep` part of a line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZepLine {
    /// Effective memory mode of the turn.
    pub mode: &'static str,
    /// Milliseconds of the context read, `null` when none was made.
    pub read_ms: Option<u64>,
    /// Milliseconds of the thread's last finished write attempt.
    pub write_ms: Option<u64>,
    /// Breaker state.
    pub breaker: &'static str,
    /// Seconds of `Retry-After` waited by the thread's last finished write.
    pub retry_after: f64,
}

/// One per-turn line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TurnLine<'a> {
    /// Thread id.
    pub thread: &'a str,
    /// User id.
    pub user: &'a str,
    /// Agent that answered.
    pub agent: &'static str,
    /// Memory layer figures.
    pub zep: ZepLine,
}

/// The per-turn log sink.
pub struct TurnLog {
    sink: Option<Mutex<Box<dyn Write + Send>>>,
}

impl TurnLog {
    /// Opens the target (a file is created or appended to).
    pub fn open(target: &TurnLogTarget) -> Result<TurnLog, TurnLogError> {
        let sink: Option<Box<dyn Write + Send>> = match target {
            TurnLogTarget::Off => None,
            TurnLogTarget::Stderr => Some(Box::new(std::io::stderr())),
            TurnLogTarget::File(path) => Some(Box::new(BufWriter::new(open_append(path)?))),
        };
        Ok(TurnLog {
            sink: sink.map(Mutex::new),
        })
    }

    /// Writes one line; an I/O error is reported once per occurrence on the tracing log and
    /// otherwise ignored (a full disk must not fail chat turns).
    pub fn write(&self, line: &TurnLine<'_>) {
        let Some(sink) = &self.sink else { return };
        let Ok(mut json) = serde_json::to_vec(line) else {
            return;
        };
        json.push(b'\n');
        let mut sink = sink.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(err) = sink.write_all(&json).and_then(|()| sink.flush()) {
            tracing::warn!(error = %err, "cannot write the per-turn log line");
        }
    }
}

fn open_append(path: &Path) -> Result<File, TurnLogError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| TurnLogError::Open {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_the_seed_shape() {
        let line = TurnLine {
            thread: "t1",
            user: "u1",
            agent: "real_estate",
            zep: ZepLine {
                mode: "write_only",
                read_ms: None,
                write_ms: Some(12),
                breaker: "closed",
                retry_after: 0.0,
            },
        };
        assert_eq!(
            serde_json::to_string(&line).expect("json"),
            r#"{"thread":"t1","user":"u1","agent":"real_estate","zep":{"mode":"write_only","read_ms":null,"write_ms":12,"breaker":"closed","retry_after":0.0}}"#
        );
    }
}
