//! `rollgate gate`: one rollout phase judged end to end, into one run directory.
//!
//! smoke checklist for the phase → load at the scenario's rate with the canary split, scraping
//! throughout → analysis with the phase's gates → the gate's own findings
//! ([`decision::combine`]) → `verdict.json` → report. The decision is the exit code.
//!
//! With no target, the system under test is embedded ([`crate::stack`]): a fake Zep, a baseline
//! and a canary reference assistant on loopback, in the memory modes of the phase, the canary
//! optionally given a defect (`--regression`). With `--baseline/--canary` it is an external
//! deployment, optionally judged from a Prometheus server instead of rollgate's own scrapes.
//!
//! Every stage leaves its files as it goes, and `gate.json` records the stages; a Ctrl-C
//! ([`interrupt`]) or a failed stage still ends in `verdict.json` and a report, never PROMOTE.
//!
//! For: running and recording the stages. Not for: what each stage does (smoke, load, analysis
//! and report are their own modules).

pub mod decision;
pub mod interrupt;
pub mod profile;

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use serde::Serialize;
use thiserror::Error;

use crate::analysis::evaluate::Span;
use crate::analysis::gates::{Gates, Phase};
use crate::analysis::verdict::{self, Verdict};
use crate::assistant::mode::Mode;
use crate::assistant::regression::Regression;
use crate::load::pacer::Ending;
use crate::load::run::{RunOptions, RunSummary};
use crate::load::scenario::Scenario;
use crate::prom::api_client::{ApiClient, ApiConfig};
use crate::prom::eval::Semantics;
use crate::prom::source::Source;
use crate::prom::store::Store;
use crate::report::ReportSummary;
use crate::run_dir::{self, RunDir, RunDirError};
use crate::smoke::{self, SmokeReport, Status};
use crate::stack::{Stack, StackConfig};
use crate::variant::Variant;

pub use decision::Findings;
pub use profile::Profile;

/// `gate.json`'s schema.
pub const SCHEMA: &str = "rollgate.gate/v1";
/// The gate's own record in the run directory.
pub use crate::run_dir::GATE_JSON;

/// What the gate judges.
#[derive(Debug, Clone)]
pub enum Target {
    /// A fake Zep, a baseline and a canary reference assistant in this process.
    Embedded {
        /// The canary's defect (default: none).
        regression: Regression,
        /// The file it came from, for the record.
        regression_file: Option<PathBuf>,
    },
    /// A deployment already running.
    External {
        /// Baseline assistant URL.
        baseline: String,
        /// Canary assistant URL.
        canary: String,
        /// Judge from this Prometheus server instead of rollgate's own scrapes.
        prometheus: Option<ApiConfig>,
        /// Allow targets outside 127.0.0.0/8.
        allow_remote: bool,
    },
}

/// How to run a gate.
#[derive(Debug, Clone)]
pub struct GateConfig {
    /// The rollout phase judged.
    pub phase: Phase,
    /// Durations and time scale.
    pub profile: Profile,
    /// The system under test.
    pub target: Target,
    /// The gates (the seed's by default).
    pub gates: Gates,
    /// A load scenario instead of the profile's built-in one.
    pub scenario: Option<PathBuf>,
    /// Where the run directory is created.
    pub out_base: PathBuf,
    /// Stage lines and the load's progress bar on stderr.
    pub progress: bool,
}

/// Why the gate could not even start a run directory (every later failure is an ERROR verdict
/// inside the run directory instead).
#[derive(Debug, Error)]
pub enum GateError {
    /// The run directory could not be created or written.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
}

/// What a gate produced.
#[derive(Debug)]
pub struct GateOutcome {
    /// The run directory.
    pub dir: PathBuf,
    /// The final verdict (also in `verdict.json`).
    pub verdict: Verdict,
    /// The report, or why it could not be written.
    pub report: Result<ReportSummary, String>,
}

/// How a stage ended, in `gate.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StageStatus {
    /// Ran, and what it found is good.
    Pass,
    /// Ran, and found a problem (the verdict says what).
    Fail,
    /// Could not run.
    Error,
    /// Stopped by Ctrl-C.
    Interrupted,
    /// Not run (an earlier stage stopped the gate).
    Skipped,
}

/// One stage in `gate.json`.
#[derive(Debug, Clone, Serialize)]
pub struct StageRecord {
    /// `start`, `smoke`, `load`, `analysis` or `report`.
    pub name: &'static str,
    /// How it ended.
    pub status: StageStatus,
    /// One line on what it did.
    pub summary: String,
    /// Wall time.
    pub duration_ms: u64,
}

/// `gate.json`: the gate's configuration and stages, rewritten after every stage.
#[derive(Debug, Clone, Serialize)]
struct GateRecord {
    schema: &'static str,
    phase: Phase,
    profile: Profile,
    time_scale: f64,
    target: String,
    baseline_mode: Option<&'static str>,
    canary_mode: Option<&'static str>,
    regression: Option<String>,
    started_at: String,
    ended_at: Option<String>,
    stages: Vec<StageRecord>,
    verdict: Option<&'static str>,
    exit_code: Option<u8>,
}

/// The memory modes of the embedded baseline and canary in `phase`: write-only staging turns
/// writes on (baseline off); later phases turn reads on (baseline write-only).
pub fn modes(phase: Phase) -> (Mode, Mode) {
    match phase {
        Phase::WriteOnly => (Mode::Off, Mode::WriteOnly),
        Phase::ReadWrite | Phase::Canary | Phase::Full => (Mode::WriteOnly, Mode::ReadWrite),
    }
}

/// The smoke checklist of `phase` (the seed has two: write-only, and read-write for the rest).
pub fn smoke_phase(phase: Phase) -> smoke::Phase {
    match phase {
        Phase::WriteOnly => smoke::Phase::WriteOnly,
        _ => smoke::Phase::ReadWrite,
    }
}

/// Runs the gate. Only a run directory that cannot be created is an `Err`; everything else ends
/// in a verdict (ERROR for a stage that could not run) and a report.
pub async fn run(config: &GateConfig) -> Result<GateOutcome, GateError> {
    interrupt::install();
    let dir = RunDir::create_new(&config.out_base, &format!("gate-{}", config.phase.as_str()))?;
    let mut gate = Gate::new(config, dir);
    gate.save()?;
    let mut findings = Findings::default();
    let analysis = gate.stages(&mut findings).await;
    let base = analysis.unwrap_or_else(|| {
        decision::without_analysis(&config.gates, config.phase, config.profile.time_scale())
    });
    let verdict = decision::combine(base, &findings);
    gate.dir.write_json(run_dir::VERDICT, &verdict)?;
    let started = Instant::now();
    let report = crate::report::write(gate.dir.path()).map_err(|e| e.to_string());
    let (status, summary) = match &report {
        Ok(r) => (
            StageStatus::Pass,
            format!("{} ({} files)", run_dir::REPORT_HTML, r.files.len()),
        ),
        Err(e) => (StageStatus::Error, e.clone()),
    };
    gate.stage("report", status, summary, started);
    gate.record.ended_at = Some(run_dir::rfc3339(SystemTime::now()));
    gate.record.verdict = Some(verdict.verdict.as_str());
    gate.record.exit_code = Some(verdict.verdict.exit_code());
    gate.save()?;
    Ok(GateOutcome {
        dir: gate.dir.path().to_path_buf(),
        verdict,
        report,
    })
}

/// A gate in progress.
struct Gate<'a> {
    config: &'a GateConfig,
    dir: RunDir,
    record: GateRecord,
}

impl<'a> Gate<'a> {
    fn new(config: &'a GateConfig, dir: RunDir) -> Gate<'a> {
        let (target, baseline_mode, canary_mode, regression) = match &config.target {
            Target::Embedded {
                regression_file, ..
            } => {
                let (b, c) = modes(config.phase);
                (
                    "embedded".to_string(),
                    Some(b.as_str()),
                    Some(c.as_str()),
                    regression_file.as_ref().map(|p| p.display().to_string()),
                )
            }
            Target::External {
                baseline, canary, ..
            } => (
                format!("baseline {baseline}, canary {canary}"),
                None,
                None,
                None,
            ),
        };
        let record = GateRecord {
            schema: SCHEMA,
            phase: config.phase,
            profile: config.profile,
            time_scale: config.profile.time_scale(),
            target,
            baseline_mode,
            canary_mode,
            regression,
            started_at: run_dir::rfc3339(SystemTime::now()),
            ended_at: None,
            stages: Vec::new(),
            verdict: None,
            exit_code: None,
        };
        Gate {
            config,
            dir,
            record,
        }
    }

    fn save(&self) -> Result<(), RunDirError> {
        self.dir.write_json(GATE_JSON, &self.record).map(|_| ())
    }

    /// Records a stage (and says it on stderr); a failed save is only logged, the stage's own
    /// files are already on disk.
    fn stage(
        &mut self,
        name: &'static str,
        status: StageStatus,
        summary: String,
        started: Instant,
    ) {
        if self.config.progress {
            eprintln!("rollgate gate: {name}: {status:?}: {summary}");
        }
        self.record.stages.push(StageRecord {
            name,
            status,
            summary,
            duration_ms: started.elapsed().as_millis() as u64,
        });
        if let Err(err) = self.save() {
            tracing::warn!("cannot update {GATE_JSON}: {err}");
        }
    }

    /// Marks the stages that did not run.
    fn skip(&mut self, names: &[&'static str], why: &str) {
        for name in names {
            self.stage(name, StageStatus::Skipped, why.to_string(), Instant::now());
        }
    }

    /// Runs start, smoke, load and analysis; returns the analyzer's verdict when it ran.
    async fn stages(&mut self, findings: &mut Findings) -> Option<Verdict> {
        let started = Instant::now();
        let stack = match &self.config.target {
            Target::Embedded { regression, .. } => {
                let (baseline_mode, canary_mode) = modes(self.config.phase);
                match Stack::start(&StackConfig {
                    baseline_mode,
                    canary_mode,
                    canary_regression: regression.clone(),
                    ..StackConfig::default()
                })
                .await
                {
                    Ok(stack) => {
                        let summary = format!(
                            "fake Zep {}, baseline {} ({}), canary {} ({})",
                            stack.zep().url(),
                            stack.assistant(Variant::Baseline).url(),
                            baseline_mode.as_str(),
                            stack.assistant(Variant::Canary).url(),
                            canary_mode.as_str()
                        );
                        self.stage("start", StageStatus::Pass, summary, started);
                        Some(stack)
                    }
                    Err(err) => {
                        self.stage("start", StageStatus::Error, err.to_string(), started);
                        findings.error = Some(("start".into(), err.to_string()));
                        self.skip(
                            &["smoke", "load", "analysis"],
                            "the system under test did not start",
                        );
                        return None;
                    }
                }
            }
            Target::External {
                baseline,
                canary,
                allow_remote,
                ..
            } => {
                // Refused before any stage sends a request: off loopback needs --allow-remote.
                for url in [baseline, canary] {
                    if let Err(err) = crate::load::run::check_url(url, *allow_remote) {
                        self.stage("start", StageStatus::Error, err.to_string(), started);
                        findings.error = Some(("start".into(), err.to_string()));
                        self.skip(&["smoke", "load", "analysis"], "the targets were refused");
                        return None;
                    }
                }
                let summary = format!("external baseline {baseline}, canary {canary}");
                self.stage("start", StageStatus::Pass, summary, started);
                None
            }
        };
        let analysis = self.after_start(stack.as_ref(), findings).await;
        if let Some(stack) = stack {
            stack.shutdown().await;
        }
        analysis
    }

    async fn after_start(
        &mut self,
        stack: Option<&Stack>,
        findings: &mut Findings,
    ) -> Option<Verdict> {
        let urls = match (&self.config.target, stack) {
            (_, Some(stack)) => (
                stack.assistant(Variant::Baseline).url(),
                stack.assistant(Variant::Canary).url(),
            ),
            (
                Target::External {
                    baseline, canary, ..
                },
                None,
            ) => (baseline.clone(), canary.clone()),
            (Target::Embedded { .. }, None) => return None,
        };
        self.smoke(&urls.1, findings).await;
        if findings.interrupted.is_some() || findings.error.is_some() {
            self.skip(&["load", "analysis"], "the smoke stage did not finish");
            return None;
        }
        let summary = self.load(&urls, findings).await?;
        if findings.interrupted.is_some() && summary.sent == 0 {
            self.skip(&["analysis"], "no request was sent");
            return None;
        }
        self.analysis(findings).await
    }

    async fn smoke(&mut self, canary_url: &str, findings: &mut Findings) {
        let started = Instant::now();
        let plan = match smoke::plan::builtin(smoke_phase(self.config.phase)) {
            Ok(plan) => plan,
            Err(err) => {
                self.stage("smoke", StageStatus::Error, err.to_string(), started);
                findings.error = Some(("smoke".into(), err.to_string()));
                return;
            }
        };
        let run = async {
            match &self.config.target {
                Target::Embedded { regression, .. } => {
                    let regression = regression.clone();
                    smoke::run_embedded(&plan, &self.dir, move |assistant| {
                        assistant.variant = Variant::Canary;
                        assistant.regression = regression.clone();
                    })
                    .await
                }
                Target::External { .. } => {
                    let target = smoke::Target {
                        url: canary_url.trim_end_matches('/').to_string(),
                        zep_admin: None,
                        label: canary_url.to_string(),
                    };
                    smoke::run(&plan, &target, &self.dir).await
                }
            }
        };
        let result = tokio::select! {
            result = run => Some(result),
            _ = interrupt::wait() => None,
        };
        match result {
            None => {
                findings.interrupted = Some("smoke".into());
                self.stage(
                    "smoke",
                    StageStatus::Interrupted,
                    "interrupted; the boxes that completed are in smoke/smoke.json".into(),
                    started,
                );
            }
            Some(Err(err)) => {
                self.stage("smoke", StageStatus::Error, err.to_string(), started);
                findings.error = Some(("smoke".into(), err.to_string()));
            }
            Some(Ok(report)) => {
                let (status, summary) = smoke_findings(&report, findings);
                self.stage("smoke", status, summary, started);
            }
        }
    }

    async fn load(
        &mut self,
        (baseline, canary): &(String, String),
        findings: &mut Findings,
    ) -> Option<RunSummary> {
        let started = Instant::now();
        let scenario = match self.scenario(baseline, canary) {
            Ok(scenario) => scenario,
            Err(why) => {
                self.stage("load", StageStatus::Error, why.clone(), started);
                findings.error = Some(("load".into(), why));
                self.skip(&["analysis"], "the load did not run");
                return None;
            }
        };
        if self.config.progress {
            eprintln!(
                "rollgate gate: load: {} for {} at the scenario's rate, {}% of threads on the canary",
                scenario.name,
                humantime::format_duration(scenario.duration()),
                scenario.conversations.canary_percent
            );
        }
        let allow_remote = matches!(
            self.config.target,
            Target::External {
                allow_remote: true,
                ..
            }
        );
        let options = RunOptions {
            dir: Some(self.dir.path().to_path_buf()),
            allow_remote,
            progress: self.config.progress && std::io::IsTerminal::is_terminal(&std::io::stderr()),
            ..RunOptions::default()
        };
        // Goose clears its killswitch when its attack starts: a Ctrl-C that came just before
        // would be lost, so keep pulling it until the load returns.
        let watcher = tokio::spawn(async {
            interrupt::wait().await;
            loop {
                goose::trigger_killswitch("SIGINT received");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        });
        let result = crate::load::run::run(&scenario, &options).await;
        watcher.abort();
        let summary = match result {
            Ok(summary) => summary,
            Err(err) => {
                self.stage("load", StageStatus::Error, err.to_string(), started);
                findings.error = Some(("load".into(), err.to_string()));
                self.skip(&["analysis"], "the load did not run");
                return None;
            }
        };
        let line = format!(
            "{} of {} requests sent, {} failed; {:.2} req/s intended, {:.2} achieved",
            summary.sent,
            summary.planned,
            summary.errors,
            summary.rate.intended,
            summary.rate.achieved
        );
        if !summary.trustworthy {
            findings.load_problems.push(
                "the load generator fell behind its schedule (see manifest.json send_lag_ms)"
                    .into(),
            );
        }
        if summary.failed_scrapes > 0 {
            findings
                .load_problems
                .push(format!("{} metric scrapes failed", summary.failed_scrapes));
        }
        let status = match &summary.ending {
            _ if interrupt::interrupted() => {
                findings.interrupted = Some("load".into());
                StageStatus::Interrupted
            }
            Ending::Complete if findings.load_problems.is_empty() => StageStatus::Pass,
            Ending::Complete => StageStatus::Fail,
            Ending::Interrupted => {
                findings.interrupted = Some("load".into());
                StageStatus::Interrupted
            }
            Ending::Aborted(reason) => {
                findings
                    .load_problems
                    .push(format!("the load was aborted: {reason}"));
                StageStatus::Fail
            }
        };
        self.stage("load", status, line, started);
        Some(summary)
    }

    /// The profile's scenario (or `--scenario`), aimed at the targets, as long as the phase's
    /// windows need.
    fn scenario(&self, baseline: &str, canary: &str) -> Result<Scenario, String> {
        let scenario = self.config.profile.load_scenario(
            self.config.scenario.as_deref(),
            &self.config.gates,
            self.config.phase,
            (baseline, canary),
        )?;
        let path = &scenario.path;
        let prometheus = matches!(
            self.config.target,
            Target::External {
                prometheus: Some(_),
                ..
            }
        );
        if scenario.scrape_interval.is_none() && !prometheus {
            return Err(format!(
                "{}: the scenario has no [scrape] section and no --prometheus is given: the \
                 analysis would have no metrics to judge",
                path.display()
            ));
        }
        Ok(scenario)
    }

    async fn analysis(&mut self, findings: &mut Findings) -> Option<Verdict> {
        let started = Instant::now();
        let scale = self.config.profile.time_scale();
        let schedule = crate::load::manifest::schedule_span(self.dir.path());
        let prometheus = match &self.config.target {
            Target::External { prometheus, .. } => prometheus.clone(),
            Target::Embedded { .. } => None,
        };
        let prepared = match prometheus {
            Some(api) => remote(api, schedule, scale),
            None => local(self.dir.path(), schedule, scale),
        };
        let (source, span) = match prepared {
            Ok(prepared) => prepared,
            Err(why) => {
                self.stage("analysis", StageStatus::Error, why.clone(), started);
                findings.error = Some(("analysis".into(), why));
                return None;
            }
        };
        // Latency comparisons test the run's own per-request TTFB when it has them.
        let latency = match crate::analysis::evidence::LatencySamples::read(self.dir.path()) {
            Ok(latency) => latency,
            Err(err) => {
                findings
                    .load_problems
                    .push(format!("the load's TTFB histograms cannot be read: {err}"));
                None
            }
        };
        let verdict = verdict::analyze_with(
            &self.config.gates,
            self.config.phase,
            &source,
            &span,
            latency.as_ref(),
        )
        .await;
        let status = match verdict.verdict {
            verdict::Decision::Promote => StageStatus::Pass,
            verdict::Decision::Error => StageStatus::Error,
            _ => StageStatus::Fail,
        };
        let summary = format!("{}: {}", verdict.verdict.as_str(), verdict.reason);
        self.stage("analysis", status, summary, started);
        Some(verdict)
    }
}

/// The smoke report's failures into `findings`; the stage's status and summary line.
fn smoke_findings(report: &SmokeReport, findings: &mut Findings) -> (StageStatus, String) {
    findings.smoke_total = report.checks.len();
    for check in &report.checks {
        if matches!(check.status, Status::Fail | Status::Error) {
            findings.smoke_failures.push(format!(
                "{}: {}: {:?}: {}",
                check.group, check.name, check.status, check.seen
            ));
        }
    }
    let passed = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Pass)
        .count();
    let status = match findings.smoke_failures.is_empty() {
        true => StageStatus::Pass,
        false => StageStatus::Fail,
    };
    (
        status,
        format!(
            "{} checklist: {passed} of {} boxes passed",
            report.phase,
            report.checks.len()
        ),
    )
}

/// The run directory's own scrapes, judged over the load's schedule.
pub fn local(
    dir: &Path,
    schedule: Option<(i64, i64)>,
    scale: f64,
) -> Result<(Source, Span), String> {
    let store = Store::read_run_dir(dir)
        .map_err(|e| format!("cannot read the scraped metrics of {}: {e}", dir.display()))?;
    let span = Span::of_samples(&store, schedule, scale)
        .ok_or_else(|| format!("{}: no metric was scraped during the load", dir.display()))?;
    Ok((
        Source::Local {
            store,
            semantics: Semantics::Prometheus3,
        },
        span,
    ))
}

/// A Prometheus server, judged over the load's schedule.
fn remote(
    api: ApiConfig,
    schedule: Option<(i64, i64)>,
    scale: f64,
) -> Result<(Source, Span), String> {
    let url = api.base_url.clone();
    let (start_ms, end_ms) = schedule
        .ok_or("the load run left no schedule in manifest.json to query Prometheus over")?;
    let client = ApiClient::new(api).map_err(|e| format!("Prometheus {url}: {e}"))?;
    Ok((
        Source::Remote(client),
        Span {
            start_ms,
            end_ms,
            time_scale: scale,
        },
    ))
}
