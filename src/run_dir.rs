//! The run directory: where one `load`, `smoke`, `analyze` or `gate` run leaves everything it
//! produced, so a report can be regenerated later from the directory alone.
//!
//! For: naming run directories, the file names inside them (one list, shared by every producer and
//! by the report), and writing files so a reader never sees half a file (write to a temporary name,
//! then rename). Not for: what goes into each file (each producer owns its schema; see
//! `reports/README.md` for the layout and the schema names).

use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

/// `manifest.json`: the load engine's run manifest (schema `rollgate.run/v1`).
pub const MANIFEST: &str = "manifest.json";
/// `verdict.json`: the analyzer's verdict (schema `rollgate.verdict/v1`).
pub const VERDICT: &str = "verdict.json";
/// The gate's record of its stages (`rollgate.gate/v1`).
pub const GATE_JSON: &str = "gate.json";
/// `smoke/`: the smoke checklist's results.
pub const SMOKE_DIR: &str = "smoke";
/// `smoke/smoke.json`: the smoke results (schema `rollgate.smoke/v1`).
pub const SMOKE_JSON: &str = "smoke/smoke.json";
/// `smoke/junit.xml`: one testcase per smoke box.
pub const SMOKE_JUNIT: &str = "smoke/junit.xml";
/// `load/`: the load engine's histograms and per-second series.
pub const LOAD_DIR: &str = "load";
/// `load/seconds.json`: per-second series of the load run.
pub const LOAD_SECONDS: &str = "load/seconds.json";
/// `load/histograms/`: HDR interval logs, one per (kind, variant, metric).
pub const LOAD_HISTOGRAMS: &str = "load/histograms";
/// `prom/`: scraped series (written by [`crate::prom::store::Store::write_run_dir`]).
pub const PROM_DIR: &str = "prom";
/// `report.html`: the reviewer's report.
pub const REPORT_HTML: &str = "report.html";
/// `summary.md`: the report as Markdown, for a pull-request comment.
pub const SUMMARY_MD: &str = "summary.md";
/// `junit.xml`: one testcase per check and per smoke box.
pub const JUNIT: &str = "junit.xml";
/// `charts/`: the report's PNG charts.
pub const CHARTS_DIR: &str = "charts";

/// Why a run directory or a file in it could not be written.
#[derive(Debug, Error)]
pub enum RunDirError {
    /// A directory could not be created.
    #[error("cannot create run directory {path}: {source}")]
    Create {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A value could not be serialised to JSON.
    #[error("cannot serialise {path} as JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The serialiser's error.
        source: serde_json::Error,
    },
}

/// One run directory on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Creates `<base>/<UTC time>-<name>/` (for example `reports/runs/20261203T084500Z-seed-load`),
    /// adding `-2`, `-3`, ... when two runs start in the same second.
    pub fn create_new(base: &Path, name: &str) -> Result<RunDir, RunDirError> {
        let stamp = utc_stamp(std::time::SystemTime::now());
        let name = sanitize(name);
        std::fs::create_dir_all(base).map_err(|source| RunDirError::Create {
            path: base.to_path_buf(),
            source,
        })?;
        for n in 1u32.. {
            let leaf = if n == 1 {
                format!("{stamp}-{name}")
            } else {
                format!("{stamp}-{name}-{n}")
            };
            let path = base.join(leaf);
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(RunDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(RunDirError::Create { path, source }),
            }
        }
        unreachable!("u32 range of suffixes exhausted")
    }

    /// Uses an existing (or new) directory as the run directory, creating it if needed.
    pub fn at(path: impl Into<PathBuf>) -> Result<RunDir, RunDirError> {
        let path = path.into();
        std::fs::create_dir_all(&path).map_err(|source| RunDirError::Create {
            path: path.clone(),
            source,
        })?;
        Ok(RunDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the run directory (`rel` is one of this module's constants or below one).
    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }

    /// Writes `bytes` to `rel` atomically (temporary file, then rename), creating parent folders.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<PathBuf, RunDirError> {
        let path = self.join(rel);
        write_atomic(&path, bytes)?;
        Ok(path)
    }

    /// Writes `value` as pretty JSON to `rel` atomically.
    pub fn write_json<T: Serialize + ?Sized>(
        &self,
        rel: &str,
        value: &T,
    ) -> Result<PathBuf, RunDirError> {
        let path = self.join(rel);
        let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| RunDirError::Json {
            path: path.clone(),
            source,
        })?;
        bytes.push(b'\n');
        write_atomic(&path, &bytes)?;
        Ok(path)
    }
}

/// Writes a file so that readers see either the old content or the whole new content.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RunDirError> {
    let err = |source| RunDirError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// `20261203T084500Z` for a time (UTC, whole seconds).
pub fn utc_stamp(time: std::time::SystemTime) -> String {
    let rfc = httpdate_free_rfc3339(time);
    // 2026-12-03T08:45:00Z -> 20261203T084500Z
    rfc.chars().filter(|c| *c != '-' && *c != ':').collect()
}

/// RFC 3339 UTC with whole seconds (`2026-12-03T08:45:00Z`).
pub fn rfc3339(time: std::time::SystemTime) -> String {
    httpdate_free_rfc3339(time)
}

fn httpdate_free_rfc3339(time: std::time::SystemTime) -> String {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Keeps a name usable as a path component: letters, digits, `-`, `_`, `.`; others become `-`.
fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("run{s}")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn stamps_are_utc_and_sortable() {
        let t = UNIX_EPOCH + Duration::from_secs(1_796_287_500); // 2026-12-03T08:45:00Z
        assert_eq!(rfc3339(t), "2026-12-03T08:45:00Z");
        assert_eq!(utc_stamp(t), "20261203T084500Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn same_second_runs_get_distinct_directories() {
        let base = tempfile::tempdir().unwrap();
        let a = RunDir::create_new(base.path(), "seed load").unwrap();
        let b = RunDir::create_new(base.path(), "seed load").unwrap();
        assert_ne!(a, b);
        assert!(a
            .path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("-seed-load"));
        a.write_json(VERDICT, &serde_json::json!({"ok": true}))
            .unwrap();
        a.write(SMOKE_JUNIT, b"<testsuites/>").unwrap();
        assert!(a.join(SMOKE_JUNIT).is_file());
        assert!(!a.join("smoke/junit.xml.tmp").exists());
    }
}
