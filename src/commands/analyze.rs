//! `rollgate analyze`: load the gates and the source, judge the phase, print the verdict table
//! (or JSON), write `verdict.json`, exit with the verdict's code.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::analysis::evaluate::Span;
use crate::analysis::evidence::LatencySamples;
use crate::analysis::gates::Gates;
use crate::analysis::live::{self, LiveOptions};
use crate::analysis::verdict;
use crate::cli::AnalyzeArgs;
use crate::prom::api_client::{ApiClient, ApiConfig};
use crate::prom::eval::Semantics;
use crate::prom::scrape::now_ms;
use crate::prom::source::{Source, SourceSpec};
use crate::prom::store::Store;
use crate::run_dir::{self, RunDir};

use super::Outcome;

pub async fn run(args: AnalyzeArgs) -> anyhow::Result<Outcome> {
    if !(args.time_scale.is_finite() && args.time_scale > 0.0 && args.time_scale <= 10.0) {
        bail!(
            "--time-scale {} must be above 0 and at most 10",
            args.time_scale
        );
    }
    let gates = match &args.gates {
        Some(path) => Gates::load(path)?,
        None => Gates::seed()?,
    };
    let local = |store: Store| Source::Local {
        store,
        semantics: Semantics::Prometheus3,
    };
    if args.scrape_for.is_some() && !matches!(args.source, SourceSpec::Live(_)) {
        bail!("--for is how long a live: source is scraped; this source is not live");
    }
    let out_dir = || -> anyhow::Result<RunDir> {
        Ok(match (&args.out, &args.source) {
            (Some(dir), _) => RunDir::at(dir.clone())?,
            (None, SourceSpec::Run(dir)) => RunDir::at(dir.clone())?,
            (None, _) => RunDir::create_new(&PathBuf::from("reports/runs"), "analyze")?,
        })
    };
    // A live source saves its scrapes as it goes, so its directory comes first; the others get
    // theirs once the source has been read.
    let mut out = match args.source {
        SourceSpec::Live(_) => Some(out_dir()?),
        _ => None,
    };
    let mut scraped_span = None;
    let source = match &args.source {
        SourceSpec::Live(targets) => {
            let Some(duration) = args.scrape_for else {
                bail!("--source live: needs --for DURATION (how long to scrape before judging)");
            };
            let options = LiveOptions {
                duration,
                interval: args.interval,
                save_every: Duration::from_secs(30),
            };
            let dir = out.as_ref().map(|o| o.path().to_path_buf()).unwrap_or_default();
            eprintln!(
                "scraping {} targets every {} for {} into {}",
                targets.len(),
                humantime::format_duration(args.interval),
                humantime::format_duration(duration),
                dir.display()
            );
            let scraped = live::scrape(targets, &gates.sides, &options, &dir, &mut |line| {
                eprintln!("{line}")
            })
            .await?;
            for (url, failed) in &scraped.failures {
                eprintln!("warning: {failed} of {} scrapes of {url} failed", scraped.rounds);
            }
            scraped_span = Some(scraped.span_ms);
            local(scraped.store)
        }
        SourceSpec::Run(dir) => local(
            Store::read_run_dir(dir)
                .with_context(|| format!("cannot read the scraped metrics of run directory {}", dir.display()))?,
        ),
        SourceSpec::Fixture(path) => {
            let mut store = Store::new();
            store
                .load_fixtures(path)
                .with_context(|| format!("cannot load fixture {}", path.display()))?;
            local(store)
        }
        SourceSpec::Prometheus(url) => Source::Remote(ApiClient::new(ApiConfig::new(url))?),
        SourceSpec::Scrape(url) => bail!(
            "--source scrape:{url} cannot tell baseline from canary: use live:baseline=URL,canary=URL"
        ),
    };
    let span = match &source {
        Source::Local { store, .. } => {
            let schedule = match &args.source {
                SourceSpec::Run(dir) => crate::load::manifest::schedule_span(dir),
                _ => scraped_span,
            };
            match Span::of_samples(store, schedule, args.time_scale) {
                Some(span) => span,
                None => bail!("the source holds no samples at all: nothing to judge"),
            }
        }
        Source::Remote(_) => {
            let end = now_ms();
            Span {
                start_ms: end - args.range.as_millis() as i64,
                end_ms: end,
                time_scale: args.time_scale,
            }
        }
    };
    let latency = match &args.source {
        SourceSpec::Run(dir) => LatencySamples::read(dir).with_context(|| {
            format!(
                "cannot read the load histograms of run directory {}",
                dir.display()
            )
        })?,
        _ => None,
    };
    let verdict = verdict::analyze_with(&gates, args.phase, &source, &span, latency.as_ref()).await;
    let out = match out.take() {
        Some(out) => out,
        None => out_dir()?,
    };
    let path = out.write_json(run_dir::VERDICT, &verdict)?;
    if args.json {
        let text = format!("{}\n", serde_json::to_string_pretty(&verdict)?);
        let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    } else {
        let table = crate::analysis::table::render(&verdict, std::io::stdout().is_terminal());
        // A closed pipe (`| head`) is not an error worth more than the verdict's exit code.
        let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), table.as_bytes());
        eprintln!("verdict written to {}", path.display());
    }
    Ok(Outcome::Code(verdict.verdict.exit_code()))
}
