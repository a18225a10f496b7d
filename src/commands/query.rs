//! `rollgate query`: glue between the command line and [`crate::prom`]: build the source, run
//! the query, print a table or JSON. No query semantics live here.

use anyhow::{bail, Context};

use crate::cli::{QueryArgs, SemanticsArg};
use crate::commands::Outcome;
use crate::prom::api_client::{ApiClient, ApiConfig, Auth};
use crate::prom::eval::{Evaluated, RangeSeries, Semantics, Value, Warning};
use crate::prom::scrape::{now_ms, ScrapeConfig, Scraper};
use crate::prom::source::{Source, SourceSpec};
use crate::prom::store::{format_value, Store};

/// What was asked and where, for the output.
struct Answer {
    time_ms: i64,
    result: Result<Evaluated<Value>, Evaluated<Vec<RangeSeries>>>,
}

/// Runs `rollgate query`.
pub async fn run(args: QueryArgs) -> anyhow::Result<Outcome> {
    let semantics = match args.semantics {
        SemanticsArg::Prometheus3 => Semantics::Prometheus3,
        SemanticsArg::Prometheus2 => Semantics::Prometheus2,
    };
    let local = |store: Store| Source::Local { store, semantics };
    let source = match &args.source {
        SourceSpec::Prometheus(url) => Source::Remote(api_client(&args, url)?),
        SourceSpec::Scrape(url) => local(scrape(&args, url).await?),
        SourceSpec::Live(_) => bail!(
            "--source live: is for rollgate analyze (it labels baseline and canary); query one target with scrape:URL"
        ),
        SourceSpec::Run(dir) => local(
            Store::read_run_dir(dir)
                .with_context(|| format!("cannot read run directory {}", dir.display()))?,
        ),
        SourceSpec::Fixture(path) => {
            let mut store = Store::new();
            store
                .load_fixtures(path)
                .with_context(|| format!("cannot load fixture {}", path.display()))?;
            local(store)
        }
    };
    let default_end = match (&source, source.newest_sample_ms()) {
        (Source::Remote(_), _) => now_ms(),
        (Source::Local { .. }, Some(newest)) => newest,
        (Source::Local { .. }, None) => {
            bail!(
                "the source holds no samples at all; nothing to evaluate {:?} on",
                args.query
            )
        }
    };
    let (end, range) = window(&args, default_end)?;
    let result = match range {
        None => Ok(source.instant(&args.query, end).await?),
        Some((start, step)) => Err(source.range(&args.query, start, end, step).await?),
    };
    let answer = Answer {
        time_ms: end,
        result,
    };
    let no_data = match &answer.result {
        Ok(e) => {
            matches!(&e.value, Value::Vector(v) if v.is_empty())
                || matches!(&e.value, Value::Matrix(m) if m.is_empty())
        }
        Err(e) => e.value.is_empty(),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json(&args, &answer, no_data))?
        );
    } else {
        print_table(&answer, no_data);
    }
    Ok(if no_data {
        Outcome::Failed
    } else {
        Outcome::Success
    })
}

fn parse_time(text: &str) -> anyhow::Result<i64> {
    if let Ok(seconds) = text.parse::<f64>() {
        return Ok((seconds * 1000.0).round() as i64);
    }
    let t = humantime::parse_rfc3339_weak(text).with_context(|| {
        format!("--at {text:?} is neither RFC 3339 (2026-01-02T03:04:05Z) nor Unix seconds")
    })?;
    let since = t
        .duration_since(std::time::UNIX_EPOCH)
        .context("--at is before 1970")?;
    Ok(since.as_millis() as i64)
}

fn window(args: &QueryArgs, default_end: i64) -> anyhow::Result<(i64, Option<(i64, i64)>)> {
    let end = match &args.at {
        Some(at) => parse_time(at)?,
        None => default_end,
    };
    let range = args
        .range
        .map(|r| (end - r.as_millis() as i64, args.step.as_millis() as i64));
    Ok((end, range))
}

fn api_client(args: &QueryArgs, url: &str) -> anyhow::Result<ApiClient> {
    let mut config = ApiConfig::new(url);
    config.timeout = args.timeout;
    config.auth = match (&args.bearer_token, &args.basic_auth) {
        (Some(_), Some(_)) => bail!("give --bearer-token or --basic-auth, not both"),
        (Some(token), None) => Auth::Bearer(token.clone()),
        (None, Some(pair)) => {
            let (username, password) = pair
                .split_once(':')
                .context("--basic-auth must be USER:PASSWORD")?;
            Auth::Basic {
                username: username.to_string(),
                password: password.to_string(),
            }
        }
        (None, None) => Auth::None,
    };
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .with_context(|| format!("--header {h:?} must be 'Name: value'"))?;
        config
            .headers
            .push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(ApiClient::new(config)?)
}

async fn scrape(args: &QueryArgs, url: &str) -> anyhow::Result<Store> {
    let Some(duration) = args.scrape_for else {
        bail!("--source scrape: needs --for DURATION (how long to scrape before evaluating)");
    };
    let config = ScrapeConfig::new(
        &[url.to_string()],
        &args.job,
        args.interval,
        args.scrape_timeout,
    )?;
    let mut scraper = Scraper::new(config)?;
    eprintln!(
        "rollgate: scraping {url} every {:?} for {:?}",
        args.interval, duration
    );
    scraper.run_for(duration).await;
    let log = scraper.log();
    let failed: Vec<_> = log.iter().filter(|o| o.error.is_some()).collect();
    let line_errors: usize = log.iter().map(|o| o.line_errors.len()).sum();
    eprintln!(
        "rollgate: {} scrapes, {} failed, {} malformed lines kept out",
        log.len(),
        failed.len(),
        line_errors
    );
    if let Some(last) = failed.last().and_then(|o| o.error.as_ref()) {
        eprintln!("rollgate: last scrape error: {last}");
    }
    if let Some(first) = log.iter().flat_map(|o| &o.line_errors).next() {
        eprintln!("rollgate: first malformed line: {first}");
    }
    let store = scraper.into_store();
    if let Some(dir) = &args.save {
        let path = store
            .write_run_dir(dir)
            .with_context(|| format!("cannot save the run to {}", dir.display()))?;
        eprintln!(
            "rollgate: saved {} samples to {}",
            store.stats().samples,
            path.display()
        );
    }
    Ok(store)
}

fn print_warnings(warnings: &[Warning]) {
    for w in warnings {
        eprintln!("{:?}: {}", w.level, w.message);
    }
}

fn print_table(answer: &Answer, no_data: bool) {
    match &answer.result {
        Ok(e) => {
            let rows: Vec<(String, String)> = match &e.value {
                Value::Scalar(v) => vec![("scalar".to_string(), format_value(*v))],
                Value::Vector(v) => v
                    .iter()
                    .map(|s| (s.labels.to_string(), format_value(s.value)))
                    .collect(),
                Value::Matrix(m) => m
                    .iter()
                    .map(|s| {
                        let pts: Vec<String> = s
                            .points
                            .iter()
                            .map(|(t, v)| format!("{} @{t}", format_value(*v)))
                            .collect();
                        (s.labels.to_string(), pts.join(", "))
                    })
                    .collect(),
            };
            if !rows.is_empty() {
                table(&["SERIES", "VALUE"], &rows);
            }
            print_warnings(&e.warnings);
        }
        Err(e) => {
            for s in &e.value {
                println!(
                    "{}",
                    if s.labels.is_empty() {
                        "{}".to_string()
                    } else {
                        s.labels.to_string()
                    }
                );
                for (t, v) in &s.points {
                    println!("  {t}  {}", format_value(*v));
                }
            }
            print_warnings(&e.warnings);
        }
    }
    if no_data {
        println!(
            "no data: the query matched no series at {} ms (this is not zero)",
            answer.time_ms
        );
    }
}

fn table(header: &[&str; 2], rows: &[(String, String)]) {
    let width = rows
        .iter()
        .map(|r| r.0.len())
        .chain([header[0].len()])
        .max()
        .unwrap_or(0);
    println!("{:width$}  {}", header[0], header[1]);
    for (series, value) in rows {
        let series = if series.is_empty() { "{}" } else { series };
        println!("{series:width$}  {value}");
    }
}

fn json(args: &QueryArgs, answer: &Answer, no_data: bool) -> serde_json::Value {
    let series = |s: &RangeSeries| {
        serde_json::json!({
            "metric": labels_json(&s.labels),
            "values": s.points.iter().map(|(t, v)| serde_json::json!([*t as f64 / 1000.0, format_value(*v)])).collect::<Vec<_>>(),
        })
    };
    let (result_type, result, warnings) = match &answer.result {
        Ok(e) => match &e.value {
            Value::Scalar(v) => ("scalar", serde_json::json!([answer.time_ms as f64 / 1000.0, format_value(*v)]), &e.warnings),
            Value::Vector(v) => (
                "vector",
                v.iter()
                    .map(|s| serde_json::json!({"metric": labels_json(&s.labels), "value": [answer.time_ms as f64 / 1000.0, format_value(s.value)]}))
                    .collect(),
                &e.warnings,
            ),
            Value::Matrix(m) => ("matrix", m.iter().map(series).collect(), &e.warnings),
        },
        Err(e) => ("matrix", e.value.iter().map(series).collect(), &e.warnings),
    };
    serde_json::json!({
        "query": args.query,
        "time": answer.time_ms as f64 / 1000.0,
        "resultType": result_type,
        "result": result,
        "noData": no_data,
        "warnings": warnings,
    })
}

fn labels_json(labels: &crate::prom::labels::Labels) -> serde_json::Value {
    labels
        .iter()
        .map(|l| {
            (
                l.name.to_string(),
                serde_json::Value::String(l.value.to_string()),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}
