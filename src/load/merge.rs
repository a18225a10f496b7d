//! Merging the run directories of N shards of one schedule (`rollgate load --shard K/N`) into the
//! run directory one runner would have written: counts, errors, histograms and per-second series
//! are added exactly (HDR histograms add without loss).
//!
//! For: checking that the directories are the shards of one run, and adding them. Not for: the
//! scraped metrics (each shard scraped on its own; they are not merged).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use thiserror::Error;

use super::manifest::{self, ManifestError, RunFacts, SCHEMA};
use super::pacer::Ending;
use super::plan::KINDS;
use super::recorder::Recorder;
use super::scenario::Scenario;
use crate::run_dir::{self, RunDir, RunDirError};

/// Why shards could not be merged.
#[derive(Debug, Error)]
pub enum MergeError {
    /// A manifest could not be read or is not a load manifest.
    #[error("{path}: {reason}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The directories are not the N shards of one run.
    #[error("not the shards of one run: {0}")]
    Mismatch(String),
    /// A histogram or series could not be read.
    #[error(transparent)]
    Read(#[from] ManifestError),
    /// The merged directory could not be written.
    #[error(transparent)]
    Write(#[from] RunDirError),
}

/// One shard's manifest facts.
struct Shard {
    dir: PathBuf,
    manifest: Value,
    scenario: Scenario,
    k: u64,
    n: u64,
}

/// Merges the shards in `dirs` into a new run directory under `out_base`; returns its path.
pub fn merge(dirs: &[PathBuf], out_base: &Path) -> Result<PathBuf, MergeError> {
    let shards = dirs
        .iter()
        .map(|d| read_shard(d))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(first) = shards.first() else {
        return Err(MergeError::Mismatch("no run directories given".into()));
    };
    let n = first.n;
    let mut seen: Vec<u64> = shards.iter().map(|s| s.k).collect();
    seen.sort_unstable();
    if shards.iter().any(|s| s.n != n) || seen != (0..n).collect::<Vec<_>>() {
        let got: Vec<String> = shards
            .iter()
            .map(|s| format!("{} is {}/{}", s.dir.display(), s.k, s.n))
            .collect();
        return Err(MergeError::Mismatch(format!(
            "need exactly the shards 0/{n} .. {}/{n}, got: {}",
            n.saturating_sub(1),
            got.join(", ")
        )));
    }
    for s in &shards {
        for field in ["started_at"] {
            if s.manifest[field] != first.manifest[field] {
                return Err(MergeError::Mismatch(format!(
                    "{} has {field} {} but {} has {}: shards of one run share --start-at",
                    s.dir.display(),
                    s.manifest[field],
                    first.dir.display(),
                    first.manifest[field]
                )));
            }
        }
        if s.scenario.name != first.scenario.name || s.scenario.stages != first.scenario.stages {
            return Err(MergeError::Mismatch(format!(
                "{} ran another scenario or rate profile than {}",
                s.dir.display(),
                first.dir.display()
            )));
        }
    }
    let mut recorder = Recorder::new();
    for s in &shards {
        recorder.merge(&manifest::read_recorder(&s.dir, &s.manifest, &KINDS)?);
    }
    let ending = shards
        .iter()
        .map(|s| match s.manifest["status"].as_str() {
            Some("complete") => Ending::Complete,
            Some("aborted") => Ending::Aborted(
                s.manifest["abort_reason"]
                    .as_str()
                    .unwrap_or("aborted")
                    .to_string(),
            ),
            _ => Ending::Interrupted,
        })
        .fold(Ending::Complete, |worst, e| match (worst, e) {
            (Ending::Aborted(r), _) | (_, Ending::Aborted(r)) => Ending::Aborted(r),
            (Ending::Interrupted, _) | (_, Ending::Interrupted) => Ending::Interrupted,
            _ => Ending::Complete,
        });
    let started = first.manifest["started_at"]
        .as_str()
        .and_then(|t| humantime::parse_rfc3339(t).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let number = |s: &Shard, field: &str| s.manifest[field].as_f64().unwrap_or(0.0);
    let elapsed = shards
        .iter()
        .map(|s| number(s, "duration_s"))
        .fold(0.0, f64::max);
    let scenario = &first.scenario;
    let dir = RunDir::create_new(out_base, &format!("{}-merged", scenario.name))?;
    let facts = RunFacts {
        scenario,
        kinds: &KINDS,
        recorder: &recorder,
        ending: &ending,
        shard: (0, 1),
        started,
        elapsed: Duration::from_secs_f64(elapsed),
        planned: shards.iter().map(|s| number(s, "planned") as u64).sum(),
        sent: shards.iter().map(|s| number(s, "sent") as u64).sum(),
        intended_per_second: super::run::per_second(scenario, (0, 1)),
    };
    manifest::write(&dir, &facts)?;
    Ok(dir.path().to_path_buf())
}

fn read_shard(dir: &Path) -> Result<Shard, MergeError> {
    let path = dir.join(run_dir::MANIFEST);
    let bad = |reason: String| MergeError::Manifest {
        path: path.clone(),
        reason,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
    let manifest: Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    if manifest["schema"] != SCHEMA {
        return Err(bad(format!(
            "schema {} is not {SCHEMA}",
            manifest["schema"]
        )));
    }
    let scenario: Scenario = serde_json::from_value(manifest["config"].clone())
        .map_err(|e| bad(format!("field `config`: {e}")))?;
    let shard = manifest["shard"].as_str().unwrap_or("0/1");
    let (k, n) = shard
        .split_once('/')
        .and_then(|(k, n)| Some((k.parse().ok()?, n.parse().ok()?)))
        .ok_or_else(|| bad(format!("field `shard`: `{shard}` is not K/N")))?;
    Ok(Shard {
        dir: dir.to_path_buf(),
        manifest,
        scenario,
        k,
        n,
    })
}
