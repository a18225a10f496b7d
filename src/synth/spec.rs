//! The datasets file (`fixtures/canary/datasets.toml`): defaults, then one `[[dataset]]` per
//! canary story, each with the verdict the seed's gates must reach on it. Raw TOML shape, then
//! the resolved [`Dataset`]s the simulator runs.
//!
//! For: reading and validating the file. Not for: simulating (see [`super::simulate`]).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config_file::{self, FileError, Source};

const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// How one side behaves: the parameters of its simulated turns.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Chat turns per second (Poisson arrivals).
    pub turns_per_second: f64,
    /// Median time to first token (lognormal).
    pub ttfb_median: Duration,
    /// Lognormal sigma of the time to first token.
    pub ttfb_sigma: f64,
    /// Added to every time to first token.
    pub ttfb_extra: Duration,
    /// Share of turns answered with a 5xx.
    pub error_ratio: f64,
    /// Median write attempt latency.
    pub write_median: Duration,
    /// Lognormal sigma of the write latency.
    pub write_sigma: f64,
    /// Share of sent writes that fail after every retry.
    pub write_failure_ratio: f64,
    /// Share of logical writes skipped because the breaker is open.
    pub breaker_open_ratio: f64,
    /// Context reads per turn (a fraction is the chance of one more).
    pub reads_per_turn: f64,
    /// Median context read latency.
    pub read_median: Duration,
    /// Lognormal sigma of the read latency.
    pub read_sigma: f64,
    /// Share of context reads that fall back.
    pub context_failure_ratio: f64,
}

/// A change to a side's model for a while.
#[derive(Debug, Clone)]
pub struct Episode {
    /// Offset from the start.
    pub from: Duration,
    /// How long it lasts.
    pub length: Duration,
    /// The changes.
    pub set: Patch,
}

/// Counts added to a side at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// Offset from the start.
    pub at: Duration,
    /// Extra turns that fail.
    pub errors: u64,
    /// Automatic downgrades for auth failures.
    pub auth_downgrades: u64,
}

/// One side of a dataset.
#[derive(Debug, Clone)]
pub struct Side {
    /// The model outside episodes.
    pub model: Model,
    /// Episodes, in file order (a later one wins where they overlap).
    pub episodes: Vec<Episode>,
    /// One-off events.
    pub events: Vec<Event>,
}

impl Side {
    /// The model in force at offset `t`.
    pub fn model_at(&self, t: Duration) -> Model {
        let mut model = self.model.clone();
        for e in &self.episodes {
            if t >= e.from && t < e.from + e.length {
                e.set.apply(&mut model);
            }
        }
        model
    }
}

/// What the seed's gates must decide on a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Exactly this verdict.
    Is(String),
    /// Anything but this verdict.
    IsNot(String),
}

/// One resolved dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// File stem of its output.
    pub name: String,
    /// What happens in it.
    pub about: String,
    /// The verdict the seed's canary gates must reach.
    pub expect: Expect,
    /// Words that must appear in the decision (a deciding check's name, or the reason).
    pub decided_by: Option<String>,
    /// A check that must not be among the deciding ones.
    pub not_decided_by: Option<String>,
    /// First scrape, ms since the epoch.
    pub start_ms: i64,
    /// Scraped time.
    pub duration: Duration,
    /// Time between scrapes.
    pub scrape_interval: Duration,
    /// Random seed.
    pub seed: u64,
    /// The baseline.
    pub baseline: Side,
    /// The canary.
    pub canary: Side,
}

/// Overrides of a [`Model`]; unset fields keep their value.
#[derive(Debug, Clone, Default)]
pub struct Patch {
    turns_per_second: Option<f64>,
    ttfb_median: Option<Duration>,
    ttfb_sigma: Option<f64>,
    ttfb_extra: Option<Duration>,
    error_ratio: Option<f64>,
    write_median: Option<Duration>,
    write_sigma: Option<f64>,
    write_failure_ratio: Option<f64>,
    breaker_open_ratio: Option<f64>,
    reads_per_turn: Option<f64>,
    read_median: Option<Duration>,
    read_sigma: Option<f64>,
    context_failure_ratio: Option<f64>,
}

impl Patch {
    fn apply(&self, m: &mut Model) {
        fn set<T: Clone>(field: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *field = v.clone();
            }
        }
        set(&mut m.turns_per_second, &self.turns_per_second);
        set(&mut m.ttfb_median, &self.ttfb_median);
        set(&mut m.ttfb_sigma, &self.ttfb_sigma);
        set(&mut m.ttfb_extra, &self.ttfb_extra);
        set(&mut m.error_ratio, &self.error_ratio);
        set(&mut m.write_median, &self.write_median);
        set(&mut m.write_sigma, &self.write_sigma);
        set(&mut m.write_failure_ratio, &self.write_failure_ratio);
        set(&mut m.breaker_open_ratio, &self.breaker_open_ratio);
        set(&mut m.reads_per_turn, &self.reads_per_turn);
        set(&mut m.read_median, &self.read_median);
        set(&mut m.read_sigma, &self.read_sigma);
        set(&mut m.context_failure_ratio, &self.context_failure_ratio);
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    defaults: RawDefaults,
    #[serde(rename = "dataset", default)]
    datasets: Vec<RawDataset>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    start: Spanned<String>,
    duration: Spanned<String>,
    scrape_interval: Spanned<String>,
    seed: u64,
    model: RawPatch,
    #[serde(default)]
    baseline: RawPatch,
    #[serde(default)]
    canary: RawPatch,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataset {
    name: Spanned<String>,
    about: String,
    expect: Option<Spanned<String>>,
    expect_not: Option<Spanned<String>>,
    decided_by: Option<String>,
    not_decided_by: Option<String>,
    duration: Option<Spanned<String>>,
    #[serde(default)]
    baseline: RawPatch,
    #[serde(default)]
    canary: RawPatch,
    #[serde(default)]
    baseline_episodes: Vec<RawEpisode>,
    #[serde(default)]
    canary_episodes: Vec<RawEpisode>,
    #[serde(default)]
    baseline_events: Vec<RawEvent>,
    #[serde(default)]
    canary_events: Vec<RawEvent>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPatch {
    turns_per_second: Option<Spanned<f64>>,
    ttfb_median: Option<Spanned<String>>,
    ttfb_sigma: Option<Spanned<f64>>,
    ttfb_extra: Option<Spanned<String>>,
    error_ratio: Option<Spanned<f64>>,
    write_median: Option<Spanned<String>>,
    write_sigma: Option<Spanned<f64>>,
    write_failure_ratio: Option<Spanned<f64>>,
    breaker_open_ratio: Option<Spanned<f64>>,
    reads_per_turn: Option<Spanned<f64>>,
    read_median: Option<Spanned<String>>,
    read_sigma: Option<Spanned<f64>>,
    context_failure_ratio: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEpisode {
    from: Spanned<String>,
    #[serde(rename = "for")]
    length: Spanned<String>,
    set: RawPatch,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    at: Spanned<String>,
    #[serde(default)]
    errors: u64,
    #[serde(default)]
    auth_downgrades: u64,
}

const VERDICTS: &[&str] = &["PROMOTE", "HOLD", "DOWNGRADE", "ROLLBACK", "ERROR"];

/// Reads and validates a datasets file.
pub fn load(path: &Path) -> Result<Vec<Dataset>, FileError> {
    let text = config_file::read(path)?;
    parse(path, &text)
}

/// Parses a datasets file's text (`path` names it in errors).
pub fn parse(path: &Path, text: &str) -> Result<Vec<Dataset>, FileError> {
    let src = Source::new(path, text);
    let raw: RawFile = src.parse()?;
    let d = &raw.defaults;
    let start_ms = humantime::parse_rfc3339(d.start.get_ref())
        .map_err(|e| {
            src.invalid(
                d.start.span(),
                "defaults.start",
                format!("`{}` is not an RFC 3339 time ({e})", d.start.get_ref()),
            )
        })?
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_millis() as i64)
        .map_err(|_| src.invalid(d.start.span(), "defaults.start", "must be after 1970"))?;
    let duration = src.duration(&d.duration, "defaults.duration", MAX_DURATION)?;
    let scrape_interval = src.duration(&d.scrape_interval, "defaults.scrape_interval", duration)?;
    if scrape_interval < Duration::from_secs(1) {
        return Err(src.invalid(
            d.scrape_interval.span(),
            "defaults.scrape_interval",
            "must be at least 1s",
        ));
    }
    let mut model = Model {
        turns_per_second: 0.0,
        ttfb_median: Duration::from_millis(100),
        ttfb_sigma: 0.0,
        ttfb_extra: Duration::ZERO,
        error_ratio: 0.0,
        write_median: Duration::from_millis(50),
        write_sigma: 0.0,
        write_failure_ratio: 0.0,
        breaker_open_ratio: 0.0,
        reads_per_turn: 0.0,
        read_median: Duration::from_millis(50),
        read_sigma: 0.0,
        context_failure_ratio: 0.0,
    };
    patch(&src, &d.model, "defaults.model")?.apply(&mut model);
    let base_default = patch(&src, &d.baseline, "defaults.baseline")?;
    let canary_default = patch(&src, &d.canary, "defaults.canary")?;
    let mut names = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (i, raw) in raw.datasets.iter().enumerate() {
        let at = |field: &str| format!("dataset[{i}].{field}");
        let name = raw.name.get_ref().clone();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(src.invalid(
                raw.name.span(),
                &at("name"),
                "must be a file stem: letters, digits, '-', '_' and '.'",
            ));
        }
        if !names.insert(name.clone()) {
            return Err(src.invalid(
                raw.name.span(),
                &at("name"),
                format!("{name:?} is used twice"),
            ));
        }
        let verdict = |v: &Spanned<String>, field: &str| {
            let text = v.get_ref().to_ascii_uppercase();
            match VERDICTS.contains(&text.as_str()) {
                true => Ok(text),
                false => Err(src.invalid(
                    v.span(),
                    &at(field),
                    format!("`{}` is not one of {}", v.get_ref(), VERDICTS.join(", ")),
                )),
            }
        };
        let expect = match (&raw.expect, &raw.expect_not) {
            (Some(v), None) => Expect::Is(verdict(v, "expect")?),
            (None, Some(v)) => Expect::IsNot(verdict(v, "expect_not")?),
            _ => {
                return Err(src.invalid(
                    raw.name.span(),
                    &at("expect"),
                    "give exactly one of `expect` and `expect_not`",
                ))
            }
        };
        let duration = match &raw.duration {
            Some(d) => src.duration(d, &at("duration"), MAX_DURATION)?,
            None => duration,
        };
        let side = |defaults: &Patch,
                    own: &RawPatch,
                    episodes: &[RawEpisode],
                    events: &[RawEvent],
                    label: &str|
         -> Result<Side, FileError> {
            let mut m = model.clone();
            defaults.apply(&mut m);
            patch(&src, own, &at(label))?.apply(&mut m);
            let episodes = episodes
                .iter()
                .enumerate()
                .map(|(j, e)| {
                    let field = at(&format!("{label}_episodes[{j}]"));
                    Ok(Episode {
                        from: src.duration(&e.from, &format!("{field}.from"), duration)?,
                        length: src.duration(&e.length, &format!("{field}.for"), MAX_DURATION)?,
                        set: patch(&src, &e.set, &format!("{field}.set"))?,
                    })
                })
                .collect::<Result<Vec<_>, FileError>>()?;
            let events = events
                .iter()
                .enumerate()
                .map(|(j, e)| {
                    let field = at(&format!("{label}_events[{j}]"));
                    Ok(Event {
                        at: src.duration(&e.at, &format!("{field}.at"), duration)?,
                        errors: e.errors,
                        auth_downgrades: e.auth_downgrades,
                    })
                })
                .collect::<Result<Vec<_>, FileError>>()?;
            Ok(Side {
                model: m,
                episodes,
                events,
            })
        };
        out.push(Dataset {
            name,
            about: raw.about.clone(),
            expect,
            decided_by: raw.decided_by.clone(),
            not_decided_by: raw.not_decided_by.clone(),
            start_ms,
            duration,
            scrape_interval,
            seed: d.seed,
            baseline: side(
                &base_default,
                &raw.baseline,
                &raw.baseline_episodes,
                &raw.baseline_events,
                "baseline",
            )?,
            canary: side(
                &canary_default,
                &raw.canary,
                &raw.canary_episodes,
                &raw.canary_events,
                "canary",
            )?,
        });
    }
    Ok(out)
}

/// Validates a raw patch: ratios in 0..=1, sigmas in 0..=3, rates in 0..=100,000 per second.
fn patch(src: &Source, raw: &RawPatch, field: &str) -> Result<Patch, FileError> {
    let f = |name: &str| format!("{field}.{name}");
    let num = |v: &Option<Spanned<f64>>, name: &str, high: f64| {
        v.as_ref()
            .map(|v| src.range(v, &f(name), 0.0, high))
            .transpose()
    };
    let dur = |v: &Option<Spanned<String>>, name: &str| {
        v.as_ref()
            .map(|v| src.duration(v, &f(name), Duration::from_secs(60)))
            .transpose()
    };
    Ok(Patch {
        turns_per_second: num(&raw.turns_per_second, "turns_per_second", 100_000.0)?,
        ttfb_median: dur(&raw.ttfb_median, "ttfb_median")?,
        ttfb_sigma: num(&raw.ttfb_sigma, "ttfb_sigma", 3.0)?,
        ttfb_extra: dur(&raw.ttfb_extra, "ttfb_extra")?,
        error_ratio: num(&raw.error_ratio, "error_ratio", 1.0)?,
        write_median: dur(&raw.write_median, "write_median")?,
        write_sigma: num(&raw.write_sigma, "write_sigma", 3.0)?,
        write_failure_ratio: num(&raw.write_failure_ratio, "write_failure_ratio", 1.0)?,
        breaker_open_ratio: num(&raw.breaker_open_ratio, "breaker_open_ratio", 1.0)?,
        reads_per_turn: num(&raw.reads_per_turn, "reads_per_turn", 100.0)?,
        read_median: dur(&raw.read_median, "read_median")?,
        read_sigma: num(&raw.read_sigma, "read_sigma", 3.0)?,
        context_failure_ratio: num(&raw.context_failure_ratio, "context_failure_ratio", 1.0)?,
    })
}
