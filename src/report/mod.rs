//! The reviewer's report, written from a run directory alone: `report.html`, `summary.md` and
//! `junit.xml`, all rendered from one [`ReportContext`].
//!
//! For: reading what the producers left (leniently, see [`model`]), deciding what the reviewer
//! must be warned about, and rendering it in each format. Not for: judging the run (the
//! analyzer's verdict is shown as written) or producing load, smoke or verdict files.

pub mod charts;
pub mod context;
mod html;
mod junit_out;
mod markdown;
pub mod model;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use context::ReportContext;

use crate::run_dir::{RunDir, RunDirError};

/// Why a report could not be written (unreadable inputs are not errors: they become warnings).
#[derive(Debug, Error)]
pub enum ReportError {
    /// The run directory does not exist or is not a directory.
    #[error("run directory {0} does not exist or is not a directory")]
    NoRunDir(PathBuf),
    /// An output file could not be written.
    #[error(transparent)]
    Write(#[from] RunDirError),
}

/// What [`write`] produced.
#[derive(Debug, Clone)]
pub struct ReportSummary {
    /// The verdict shown (`NO VERDICT` when `verdict.json` is missing or damaged).
    pub verdict: String,
    /// Files written, absolute.
    pub files: Vec<PathBuf>,
    /// Warnings shown in the report, then one per skipped chart.
    pub warnings: Vec<String>,
}

/// One output format: a file name in the run directory and a rendering of the context.
trait Format {
    /// The file it writes (a [`crate::run_dir`] name).
    fn file(&self) -> &'static str;
    /// The file's content.
    fn render(&self, ctx: &ReportContext) -> String;
}

/// Writes `charts/*.png`, `report.html` (charts embedded), `summary.md` and `junit.xml` into
/// `run_dir` from the files in it.
pub fn write(run_dir: &Path) -> Result<ReportSummary, ReportError> {
    if !run_dir.is_dir() {
        return Err(ReportError::NoRunDir(run_dir.to_path_buf()));
    }
    let ctx = ReportContext::from_run_dir(run_dir);
    let dir = RunDir::at(run_dir)?;
    let formats: [&dyn Format; 3] = [&html::Html, &markdown::Markdown, &junit_out::Junit];
    let mut files = Vec::new();
    for c in &ctx.charts.charts {
        files.push(dir.write(&c.file, &c.png)?);
    }
    for s in &ctx.charts.skipped {
        // A chart drawn by an earlier report of this directory must not outlive its data.
        let _ = std::fs::remove_file(dir.join(&s.file));
    }
    for f in formats {
        files.push(dir.write(f.file(), f.render(&ctx).as_bytes())?);
    }
    Ok(ReportSummary {
        verdict: ctx.verdict_label.clone(),
        files,
        warnings: ctx
            .warnings
            .iter()
            .cloned()
            .chain(ctx.charts.skipped.iter().map(ToString::to_string))
            .collect(),
    })
}
