//! Scenario files: what a load run sends, to whom, how fast and for how long, as TOML a user edits
//! without recompiling (`scenarios/*.toml`, documented in `scenarios/README.md`).
//!
//! For: the raw file shape, and resolving it once into a validated [`Scenario`] (defaults < file <
//! command-line overrides). Not for: building requests (see [`super::plan`]) or running them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::mix::{Mix, MAX_PERIOD};
use super::schedule::{Schedule, Stage};
use crate::config_file::{self, FileError, Source};

/// Longest run a scenario may ask for.
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// Highest rate, requests per second.
const MAX_RATE: f64 = 100_000.0;

/// What the load is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// The assistant's chat API (`POST /api/chat`), such as `rollgate assistant`.
    Assistant,
    /// The assistant's WebSocket (`/ws/chat`): time to first byte is the first token frame.
    AssistantWs,
    /// Zep's v3 threads API under `/api/v2`, straight (message writes and context reads).
    Zep,
}

/// A resolved target. The API key is never serialized (it must not reach a run directory).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    /// Kind of API.
    pub kind: TargetKind,
    /// Base URL of the baseline (every thread, when there is no canary).
    pub url: String,
    /// Base URL of the canary, which gets the canary share of threads.
    pub canary_url: Option<String>,
    /// Zep API key (Zep targets).
    #[serde(skip)]
    pub api_key: String,
}

/// Conversations: how requests are spread over threads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversations {
    /// Threads talking at once.
    pub threads: u64,
    /// Turns of each conversation before its thread starts a new one.
    pub turns: u64,
    /// Share of threads (percent) sent to the canary, by a stable hash of the thread id.
    pub canary_percent: f64,
    /// Conversation scripts (user messages, in order); empty means the built-in ones.
    pub scripts: Vec<Vec<String>>,
}

/// When a run stops early or is marked untrustworthy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guards {
    /// Stop when more than this share of requests failed (after `min_requests`).
    pub max_error_ratio: f64,
    /// Requests before the error ratio is judged.
    pub min_requests: u64,
    /// A run whose send lag p99 is above this is marked untrustworthy.
    #[serde(with = "humantime_serde")]
    pub max_send_lag_p99: Duration,
    /// Stop when one request goes out this much later than intended.
    #[serde(with = "humantime_serde", default)]
    pub abort_send_lag: Option<Duration>,
}

/// A resolved, validated scenario (also as recorded in a run's manifest, without the API key).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scenario {
    /// Name (file stem unless given), used in the run directory's name.
    pub name: String,
    /// The file it came from.
    pub path: PathBuf,
    /// What it models.
    pub description: String,
    /// Seed of the mix rotation and the message choice.
    pub seed: u64,
    /// Where requests go.
    pub target: Target,
    /// Rate stages.
    pub stages: Vec<Stage>,
    /// Most requests sent.
    pub max_requests: u64,
    /// Mix weights: `write` then `read`.
    pub mix: [u32; 2],
    /// Concurrent requests at most (Goose users).
    pub users: usize,
    /// Per-request timeout.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Threads and turns.
    pub conversations: Conversations,
    /// Abort and trust bounds.
    pub guards: Guards,
    /// Interval of `/metrics` scrapes of the targets during the run; `None` for no scraping.
    #[serde(with = "humantime_serde", default)]
    pub scrape_interval: Option<Duration>,
}

/// Command-line overrides, applied after the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Constant rate instead of the file's profile.
    pub rate: Option<f64>,
    /// Duration instead of the file's (a constant profile keeps its rate; stages are cut or the
    /// last is extended).
    pub duration: Option<Duration>,
    /// Baseline URL.
    pub target: Option<String>,
    /// Canary URL.
    pub canary_target: Option<String>,
    /// Zep API key.
    pub api_key: Option<String>,
}

impl Scenario {
    /// Reads and resolves a scenario file.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Scenario, FileError> {
        let text = config_file::read(path)?;
        Scenario::parse(path, &text, overrides)
    }

    /// Resolves a scenario from its text.
    pub fn parse(path: &Path, text: &str, overrides: &Overrides) -> Result<Scenario, FileError> {
        let src = Source::new(path, text);
        let raw: RawScenario = src.parse()?;
        resolve(&src, raw, overrides)
    }

    /// The rate schedule.
    pub fn schedule(&self) -> Schedule {
        // Validated at resolution, so this cannot fail; an empty fallback keeps it total.
        Schedule::new(self.stages.clone()).unwrap_or_else(|_| {
            Schedule::constant(1.0, Duration::from_secs(1)).expect("constant schedule")
        })
    }

    /// The request mix.
    pub fn mix(&self) -> Mix {
        Mix::new(&self.mix, self.seed).unwrap_or_else(|_| Mix::new(&[1], 0).expect("one kind"))
    }

    /// Total duration of the rate profile.
    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default = "one")]
    seed: u64,
    target: RawTarget,
    load: Spanned<RawLoad>,
    #[serde(default)]
    mix: Option<Spanned<RawMix>>,
    #[serde(default)]
    conversations: RawConversations,
    #[serde(default)]
    guards: RawGuards,
    #[serde(default)]
    scrape: RawScrape,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    kind: TargetKind,
    url: Option<String>,
    canary_url: Option<String>,
    api_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoad {
    rate: Option<Spanned<f64>>,
    ramp: Option<Spanned<RawRamp>>,
    stages: Option<Vec<Spanned<RawStage>>>,
    duration: Option<Spanned<String>>,
    max_requests: Option<Spanned<u64>>,
    users: Option<Spanned<u64>>,
    timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRamp {
    from: f64,
    to: f64,
    steps: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    rate: f64,
    to: Option<f64>,
    duration: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMix {
    write: u32,
    read: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConversations {
    threads: Option<Spanned<u64>>,
    turns: Option<Spanned<u64>>,
    canary_percent: Option<Spanned<f64>>,
    scripts: Option<Spanned<Vec<Vec<String>>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGuards {
    max_error_ratio: Option<Spanned<f64>>,
    min_requests: Option<u64>,
    max_send_lag_p99: Option<Spanned<String>>,
    abort_send_lag: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScrape {
    interval: Option<Spanned<String>>,
}

fn resolve(src: &Source, raw: RawScenario, over: &Overrides) -> Result<Scenario, FileError> {
    let load_span = raw.load.span();
    let load = raw.load.into_inner();
    let stages = stages(src, &load, load_span.clone(), over)?;
    let duration: Duration = stages.iter().map(|s| s.duration).sum();
    if duration > MAX_DURATION {
        return Err(src.invalid(load_span, "load", "the run is longer than 24h"));
    }
    let schedule = Schedule::new(stages.clone())
        .map_err(|err| src.invalid(load_span.clone(), "load", err.to_string()))?;
    let max_requests = match &load.max_requests {
        Some(cap) if *cap.get_ref() == 0 => {
            return Err(src.invalid(cap.span(), "load.max_requests", "must be at least 1"))
        }
        Some(cap) => *cap.get_ref(),
        None => schedule.total(),
    };
    let timeout = match &load.timeout {
        Some(t) => src.duration(t, "load.timeout", Duration::from_secs(300))?,
        None => Duration::from_secs(10),
    };
    if timeout.is_zero() {
        return Err(src.invalid(
            load.timeout
                .as_ref()
                .map_or(load_span.clone(), Spanned::span),
            "load.timeout",
            "must be above 0",
        ));
    }
    let peak = stages.iter().map(|s| s.from.max(s.to)).fold(0.0, f64::max);
    let users = match &load.users {
        Some(u) if !(1..=20_000).contains(u.get_ref()) => {
            return Err(src.invalid(u.span(), "load.users", "must be between 1 and 20000"))
        }
        Some(u) => *u.get_ref() as usize,
        // Enough users for every request in flight when each takes a whole second: a target
        // slower than that shows up as send lag, not as a slower schedule.
        None => (peak.ceil() as usize).clamp(8, 20_000),
    };
    let mix = match &raw.mix {
        None => [9, 1],
        Some(m) => {
            let inner = m.get_ref();
            let total = u64::from(inner.write) + u64::from(inner.read);
            if total == 0 || total > MAX_PERIOD {
                return Err(src.invalid(
                    m.span(),
                    "mix",
                    format!("write + read must be between 1 and {MAX_PERIOD}"),
                ));
            }
            [inner.write, inner.read]
        }
    };
    let conversations = conversations(src, raw.conversations)?;
    let guards = guards(src, raw.guards)?;
    let scrape_interval = match &raw.scrape.interval {
        None => None,
        Some(i) => {
            let interval = src.duration(i, "scrape.interval", Duration::from_secs(3600))?;
            if interval < Duration::from_millis(250) {
                return Err(src.invalid(i.span(), "scrape.interval", "must be at least 250ms"));
            }
            Some(interval)
        }
    };
    let target = Target {
        kind: raw.target.kind,
        url: over
            .target
            .clone()
            .or(raw.target.url)
            .unwrap_or_else(|| default_url(raw.target.kind).to_string()),
        canary_url: over.canary_target.clone().or(raw.target.canary_url),
        api_key: over
            .api_key
            .clone()
            .or(raw.target.api_key)
            .unwrap_or_else(|| crate::fake_zep::DEFAULT_API_KEY.to_string()),
    };
    let name = raw.name.unwrap_or_else(|| {
        src.path()
            .file_stem()
            .map_or("load".into(), |s| s.to_string_lossy().into_owned())
    });
    Ok(Scenario {
        name,
        path: src.path().to_path_buf(),
        description: raw.description,
        seed: raw.seed,
        target,
        stages,
        max_requests,
        mix,
        users,
        timeout,
        conversations,
        guards,
        scrape_interval,
    })
}

fn default_url(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::Assistant | TargetKind::AssistantWs => "http://127.0.0.1:8700",
        TargetKind::Zep => "http://127.0.0.1:8600",
    }
}

fn stages(
    src: &Source,
    load: &RawLoad,
    span: std::ops::Range<usize>,
    over: &Overrides,
) -> Result<Vec<Stage>, FileError> {
    let rate_ok = |rate: f64, at: std::ops::Range<usize>, field: &str| {
        if rate.is_finite() && (0.0..=MAX_RATE).contains(&rate) {
            Ok(rate)
        } else {
            Err(src.invalid(
                at,
                field,
                format!("{rate} is outside 0..={MAX_RATE} requests/s"),
            ))
        }
    };
    let duration = match (&over.duration, &load.duration) {
        (Some(d), _) => Some(*d),
        (None, Some(d)) => Some(src.duration(d, "load.duration", MAX_DURATION)?),
        (None, None) => None,
    };
    let given = [
        load.rate.is_some(),
        load.ramp.is_some(),
        load.stages.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if given != 1 && over.rate.is_none() {
        return Err(src.invalid(
            span,
            "load",
            "give exactly one of `rate` (constant), `ramp` ({ from, to, steps }) or `stages`",
        ));
    }
    let need_duration = |span: std::ops::Range<usize>| {
        duration
            .ok_or_else(|| src.invalid(span, "load.duration", "is required with `rate` and `ramp`"))
    };
    if let Some(rate) = over.rate {
        let rate = rate_ok(rate, span.clone(), "--rate")?;
        let total = match (duration, &load.stages) {
            (Some(d), _) => d,
            (None, Some(stages)) => {
                let mut sum = Duration::ZERO;
                for s in stages {
                    sum +=
                        src.duration(&s.get_ref().duration, "load.stages.duration", MAX_DURATION)?;
                }
                sum
            }
            (None, None) => need_duration(span.clone())?,
        };
        return Ok(vec![Stage {
            duration: total,
            from: rate,
            to: rate,
        }]);
    }
    if let Some(rate) = &load.rate {
        let r = rate_ok(*rate.get_ref(), rate.span(), "load.rate")?;
        return Ok(vec![Stage {
            duration: need_duration(rate.span())?,
            from: r,
            to: r,
        }]);
    }
    if let Some(ramp) = &load.ramp {
        let r = ramp.get_ref();
        let from = rate_ok(r.from, ramp.span(), "load.ramp.from")?;
        let to = rate_ok(r.to, ramp.span(), "load.ramp.to")?;
        if !(1..=1000).contains(&r.steps) {
            return Err(src.invalid(ramp.span(), "load.ramp.steps", "must be between 1 and 1000"));
        }
        let schedule = Schedule::steps(from, to, r.steps, need_duration(ramp.span())?)
            .map_err(|err| src.invalid(ramp.span(), "load.ramp", err.to_string()))?;
        return Ok(schedule.stages().to_vec());
    }
    let mut out = Vec::new();
    for stage in load.stages.iter().flatten() {
        let s = stage.get_ref();
        let from = rate_ok(s.rate, stage.span(), "load.stages.rate")?;
        let to = rate_ok(s.to.unwrap_or(s.rate), stage.span(), "load.stages.to")?;
        let d = src.duration(&s.duration, "load.stages.duration", MAX_DURATION)?;
        out.push(Stage {
            duration: d,
            from,
            to,
        });
    }
    if let Some(d) = duration {
        // A --duration override cuts the stages, or stretches the last one.
        let mut left = d;
        let mut cut = Vec::new();
        for (i, stage) in out.iter().enumerate() {
            let last = i + 1 == out.len();
            let take = if last { left } else { stage.duration.min(left) };
            if take.is_zero() {
                break;
            }
            cut.push(Stage {
                duration: take,
                ..*stage
            });
            left -= take;
        }
        out = cut;
    }
    Ok(out)
}

fn conversations(src: &Source, raw: RawConversations) -> Result<Conversations, FileError> {
    let threads = match &raw.threads {
        Some(t) if !(1..=1_000_000).contains(t.get_ref()) => {
            return Err(src.invalid(
                t.span(),
                "conversations.threads",
                "must be between 1 and 1000000",
            ))
        }
        Some(t) => *t.get_ref(),
        None => 200,
    };
    let turns = match &raw.turns {
        Some(t) if !(1..=1000).contains(t.get_ref()) => {
            return Err(src.invalid(
                t.span(),
                "conversations.turns",
                "must be between 1 and 1000",
            ))
        }
        Some(t) => *t.get_ref(),
        None => 6,
    };
    let canary_percent = match &raw.canary_percent {
        Some(p) => src.range(p, "conversations.canary_percent", 0.0, 100.0)?,
        None => 10.0,
    };
    let scripts = match raw.scripts {
        None => Vec::new(),
        Some(s) => {
            let span = s.span();
            let scripts = s.into_inner();
            if scripts
                .iter()
                .any(|script| script.is_empty() || script.iter().any(String::is_empty))
            {
                return Err(src.invalid(
                    span,
                    "conversations.scripts",
                    "every script needs at least one message, and no message may be empty",
                ));
            }
            scripts
        }
    };
    Ok(Conversations {
        threads,
        turns,
        canary_percent,
        scripts,
    })
}

fn guards(src: &Source, raw: RawGuards) -> Result<Guards, FileError> {
    Ok(Guards {
        max_error_ratio: match &raw.max_error_ratio {
            Some(r) => src.range(r, "guards.max_error_ratio", 0.0, 1.0)?,
            None => 0.5,
        },
        min_requests: raw.min_requests.unwrap_or(100),
        max_send_lag_p99: match &raw.max_send_lag_p99 {
            Some(d) => src.duration(d, "guards.max_send_lag_p99", Duration::from_secs(3600))?,
            None => Duration::from_millis(100),
        },
        abort_send_lag: match &raw.abort_send_lag {
            Some(d) => Some(src.duration(d, "guards.abort_send_lag", Duration::from_secs(3600))?),
            None => Some(Duration::from_secs(5)),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, FileError> {
        Scenario::parse(Path::new("s.toml"), text, &Overrides::default())
    }

    #[test]
    fn a_constant_scenario_resolves_with_defaults() {
        let s = parse("[target]\nkind = \"assistant\"\n[load]\nrate = 100\nduration = \"10m\"\n")
            .expect("valid");
        assert_eq!(s.name, "s");
        assert_eq!(s.schedule().total(), 60_000);
        assert_eq!(s.max_requests, 60_000);
        assert_eq!(s.mix, [9, 1]);
        assert_eq!(s.users, 100);
        assert_eq!(s.target.url, "http://127.0.0.1:8700");
        assert_eq!(s.conversations.canary_percent, 10.0);
    }

    #[test]
    fn errors_name_the_file_line_and_field() {
        let err = parse("[target]\nkind = \"assistant\"\n[load]\nrate = -3\nduration = \"1m\"\n")
            .expect_err("negative rate");
        assert_eq!(
            err.to_string(),
            "s.toml:4: field `load.rate`: -3 is outside 0..=100000 requests/s"
        );
        let err =
            parse("[target]\nkind = \"assistant\"\n[load]\nrate = 3\nduration = \"1 fortnight\"\n")
                .expect_err("bad duration");
        assert!(
            err.to_string()
                .starts_with("s.toml:5: field `load.duration`: `1 fortnight` is not a duration"),
            "{err}"
        );
        let err = parse(
            "[target]\nkind = \"assistant\"\nspeed = 3\n[load]\nrate = 3\nduration = \"1m\"\n",
        )
        .expect_err("unknown field");
        assert!(
            err.to_string()
                .starts_with("s.toml:3: unknown field `speed`"),
            "{err}"
        );
        let err = parse("[target]\nkind = \"grpc\"\n[load]\nrate = 3\nduration = \"1m\"\n")
            .expect_err("unknown kind");
        assert!(
            err.to_string()
                .starts_with("s.toml:2: unknown variant `grpc`"),
            "{err}"
        );
        let err = parse("[target]\nkind = \"zep\"\n[load]\nrate = 3\n").expect_err("no duration");
        assert_eq!(
            err.to_string(),
            "s.toml:4: field `load.duration`: is required with `rate` and `ramp`"
        );
        let err = parse("[target]\nkind = \"zep\"\n[load]\nrate = 3\nduration = \"1m\"\n[mix]\nwrite = 0\nread = 0\n")
            .expect_err("empty mix");
        assert!(
            err.to_string().starts_with("s.toml:6: field `mix`"),
            "{err}"
        );
    }

    #[test]
    fn overrides_replace_rate_duration_and_targets() {
        let text = "[target]\nkind = \"assistant\"\n[load]\nstages = [{ rate = 10, duration = \"30s\" }, { rate = 50, duration = \"30s\" }]\n";
        let s = Scenario::parse(
            Path::new("s.toml"),
            text,
            &Overrides {
                duration: Some(Duration::from_secs(40)),
                target: Some("http://127.0.0.1:9".into()),
                ..Overrides::default()
            },
        )
        .expect("valid");
        assert_eq!(s.duration(), Duration::from_secs(40));
        assert_eq!(s.schedule().total(), 300 + 500);
        assert_eq!(s.target.url, "http://127.0.0.1:9");
        let s = Scenario::parse(
            Path::new("s.toml"),
            text,
            &Overrides {
                rate: Some(20.0),
                ..Overrides::default()
            },
        )
        .expect("valid");
        assert_eq!(s.schedule().total(), 1200);
    }

    #[test]
    fn the_api_key_never_serializes() {
        let s = parse("[target]\nkind = \"zep\"\napi_key = \"sekrit-key\"\n[load]\nrate = 1\nduration = \"1s\"\n")
            .expect("valid");
        assert_eq!(s.target.api_key, "sekrit-key");
        let json = serde_json::to_string(&s).expect("json");
        assert!(!json.contains("sekrit"), "{json}");
    }
}
