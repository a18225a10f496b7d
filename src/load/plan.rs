//! What each slot of a scenario sends: thread, turn, message, and the target it goes to.
//!
//! Slots come in rounds of `threads`: each round gives every thread one turn, in an order rotated
//! by a seeded offset per round, so a thread's turns are about `threads / rate` seconds apart, like
//! a person typing, and the kind a slot sends (fixed by its number) is not tied to a thread (every
//! thread gets its share of reads). After `turns` rounds a thread's conversation ends and its id
//! moves on to a new conversation. Every thread id is split between baseline and canary by a stable
//! hash, so a conversation stays on one side. Everything is a pure function of the slot, the
//! scenario and the run tag, so shards on several machines agree on every request.
//!
//! Request kinds (the mix's `write` and `read`):
//! - assistant: `write` is a chat turn of the conversation's script, `read` a turn whose answer
//!   needs memory (a recall question); both are `POST /api/chat` (or, for `assistant_ws`, a text
//!   frame on a new `/ws/chat` connection);
//! - Zep: `write` is `POST /api/v2/threads/{id}/messages`, `read` is
//!   `GET /api/v2/threads/{id}/context`.

use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http::Method;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::json;

use super::pacer::{Plan, Request};
use super::scenario::{Scenario, TargetKind};
use super::sender::HttpRequest;
use super::split::{Split, Variant};

/// The seed's conversations and others like them: real estate, local info, and switches.
const SCRIPTS: &[&[&str]] = &[
    &[
        "2BR in Girne",
        "show me",
        "nearest pharmacy",
        "any with a sea view?",
        "under 150k",
        "thanks",
    ],
    &[
        "3 bedroom villa in Lapta",
        "with a pool",
        "show me",
        "schools nearby?",
        "what about Alsancak",
        "ok",
    ],
    &[
        "nearest pharmacy",
        "is it open on Sunday?",
        "and a supermarket",
        "2BR in Girne",
        "show me",
        "thanks",
    ],
    &[
        "studio to rent in Famagusta",
        "budget 500 a month",
        "show me",
        "bus stop nearby?",
        "furnished only",
        "ok",
    ],
    &[
        "looking for a flat near the harbour",
        "2 bedrooms",
        "show me",
        "restaurants around there",
        "under 200k",
        "bye",
    ],
];

/// Questions that need memory to answer (the `read` kind against an assistant).
const RECALL: &[&str] = &[
    "what was my budget again?",
    "remind me what I asked for",
    "which area did I mention?",
    "how many bedrooms did I want?",
];

/// Request kinds, by mix index.
pub const KINDS: [&str; 2] = ["write", "read"];

/// A scenario's requests.
pub struct ScenarioPlan {
    kind: TargetKind,
    baseline: String,
    canary: Option<String>,
    api_key: String,
    /// `Api-Key <key>`, or none when the key is not a valid header value.
    auth: Option<HeaderValue>,
    split: Split,
    threads: u64,
    turns: u64,
    scripts: Vec<Vec<String>>,
    tag: String,
    names: [String; 2],
    seed: u64,
}

/// One slot's conversation coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// Thread id.
    pub thread: String,
    /// User id.
    pub user: String,
    /// Turn within the conversation, from 0.
    pub turn: u64,
    /// Conversation script index.
    pub script: usize,
}

impl ScenarioPlan {
    /// The plan of `scenario`; `tag` makes this run's thread ids distinct from other runs' (the
    /// same tag on every shard of one run).
    pub fn new(scenario: &Scenario, tag: &str) -> ScenarioPlan {
        let scripts = if scenario.conversations.scripts.is_empty() {
            SCRIPTS
                .iter()
                .map(|s| s.iter().map(|m| m.to_string()).collect())
                .collect()
        } else {
            scenario.conversations.scripts.clone()
        };
        let names = match scenario.target.kind {
            TargetKind::Assistant => [
                "POST /api/chat (write)".into(),
                "POST /api/chat (read)".into(),
            ],
            TargetKind::AssistantWs => ["WS /ws/chat (write)".into(), "WS /ws/chat (read)".into()],
            TargetKind::Zep => [
                "POST /api/v2/threads/{id}/messages".into(),
                "GET /api/v2/threads/{id}/context".into(),
            ],
        };
        ScenarioPlan {
            kind: scenario.target.kind,
            baseline: scenario.target.url.trim_end_matches('/').to_string(),
            canary: scenario
                .target
                .canary_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_string()),
            api_key: scenario.target.api_key.clone(),
            auth: HeaderValue::from_str(&format!("Api-Key {}", scenario.target.api_key))
                .ok()
                .map(|mut value| {
                    value.set_sensitive(true);
                    value
                }),
            split: Split::new(scenario.conversations.canary_percent),
            threads: scenario.conversations.threads.max(1),
            turns: scenario.conversations.turns.max(1),
            scripts,
            tag: tag.to_string(),
            names,
            seed: scenario.seed,
        }
    }

    /// Thread, user and turn of a slot.
    pub fn turn(&self, slot: u64) -> Turn {
        let round = slot / self.threads;
        let rotation = super::mix::splitmix64(round ^ self.seed.rotate_left(32)) % self.threads;
        let lane = (slot % self.threads + rotation) % self.threads;
        // Lanes start new conversations in different rounds (a lane's first conversation is
        // `lane % turns` turns shorter), so cold starts, which read Zep instead of the context
        // cache, are spread evenly over the run rather than arriving all in one round.
        let shifted = round + lane % self.turns;
        let conversation = shifted / self.turns;
        let turn = match conversation {
            0 => round,
            _ => shifted % self.turns,
        };
        let thread = format!("{}-t{lane}-c{conversation}", self.tag);
        let script =
            (super::split::stable_hash(&thread) % self.scripts.len().max(1) as u64) as usize;
        Turn {
            user: format!("{}-u{lane}", self.tag),
            turn,
            script,
            thread,
        }
    }

    /// Which side a thread is on (always baseline when there is no canary target).
    pub fn variant(&self, thread: &str) -> Variant {
        match self.canary {
            Some(_) => self.split.variant(thread),
            None => Variant::Baseline,
        }
    }

    fn base(&self, variant: Variant) -> &str {
        match (variant, &self.canary) {
            (Variant::Canary, Some(canary)) => canary,
            _ => &self.baseline,
        }
    }

    /// Every thread of the run that slots `0..total` use, with its user (Zep targets need them
    /// created before messages are added).
    pub fn threads_of(&self, total: u64) -> Vec<Turn> {
        // A conversation's thread first appears at its turn 0.
        (0..total)
            .map(|slot| self.turn(slot))
            .filter(|turn| turn.turn == 0)
            .collect()
    }

    /// The base URL of a thread's side.
    pub fn base_of(&self, thread: &str) -> &str {
        self.base(self.variant(thread))
    }

    /// The Zep API key.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    fn message(&self, turn: &Turn) -> &str {
        let script = &self.scripts[turn.script.min(self.scripts.len() - 1)];
        &script[(turn.turn as usize) % script.len()]
    }
}

impl Plan for ScenarioPlan {
    fn kind_name(&self, kind: usize) -> &str {
        &self.names[kind.min(1)]
    }

    fn request(&self, slot: u64, kind: usize) -> Result<(Variant, Request), String> {
        let turn = self.turn(slot);
        let variant = self.variant(&turn.thread);
        let base = self.base(variant);
        let chat = || {
            let message = if kind == 1 {
                RECALL[(slot as usize) % RECALL.len()]
            } else {
                self.message(&turn)
            };
            json!({
                "thread_id": turn.thread,
                "user_id": turn.user,
                "message": message,
                "client_msg_id": format!("{}-m{slot}", self.tag),
            })
        };
        let request = match self.kind {
            TargetKind::Assistant => Request::Http(json_request(
                Method::POST,
                format!("{base}/api/chat"),
                &chat(),
            )?),
            TargetKind::AssistantWs => Request::WebSocket {
                url: format!("{}/ws/chat", ws_base(base)),
                text: chat().to_string(),
            },
            TargetKind::Zep => {
                let thread = utf8_percent_encode(&turn.thread, SEGMENT);
                let mut request = if kind == 1 {
                    let uri = format!("{base}/api/v2/threads/{thread}/context");
                    http::Request::get(uri)
                        .body(Bytes::new())
                        .map_err(|e| e.to_string())?
                } else {
                    json_request(
                        Method::POST,
                        format!("{base}/api/v2/threads/{thread}/messages"),
                        &json!({ "messages": [{
                            "role": "user",
                            "content": self.message(&turn),
                            "metadata": { "message_id": format!("{}-m{slot}", self.tag) },
                        }] }),
                    )?
                };
                let auth = self.auth.clone().ok_or(
                    "the scenario's target.api_key cannot be sent: it is not a valid HTTP header value",
                )?;
                request.headers_mut().insert(AUTHORIZATION, auth);
                Request::Http(request)
            }
        };
        Ok((variant, request))
    }
}

/// Characters escaped in a path segment (a thread id carries the scenario's name, which may hold
/// anything): controls, space, and what delimits or ends a path.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// A request with a JSON body.
fn json_request(
    method: Method,
    uri: String,
    body: &serde_json::Value,
) -> Result<HttpRequest, String> {
    let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    http::Request::builder()
        .method(method)
        .uri(uri)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(Bytes::from(body))
        .map_err(|e| e.to_string())
}

/// `http://host` -> `ws://host`, `https://host` -> `wss://host`.
fn ws_base(base: &str) -> String {
    if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::scenario::Overrides;
    use std::path::Path;

    fn plan(extra: &str) -> ScenarioPlan {
        let text = format!(
            "[target]\nkind = \"assistant\"\ncanary_url = \"http://127.0.0.1:2\"\n[load]\nrate = 10\nduration = \"10s\"\n[conversations]\nthreads = 4\nturns = 3\n{extra}"
        );
        let s = Scenario::parse(Path::new("s.toml"), &text, &Overrides::default()).expect("valid");
        ScenarioPlan::new(&s, "run1")
    }

    #[test]
    fn a_thread_gets_its_turns_spaced_and_then_a_new_conversation() {
        // 4 threads, 3 turns: lane L's first conversation has 3 - L % 3 turns.
        let p = plan("");
        let rounds: Vec<Vec<(String, u64)>> = (0..6)
            .map(|round| {
                let mut turns: Vec<(String, u64)> = (round * 4..round * 4 + 4)
                    .map(|s| {
                        let t = p.turn(s);
                        (t.thread, t.turn)
                    })
                    .collect();
                turns.sort();
                turns
            })
            .collect();
        let names = |round: usize| -> Vec<String> {
            rounds[round].iter().map(|(t, _)| t.clone()).collect()
        };
        // Every round gives each of the 4 threads one turn; everyone starts at turn 0.
        assert_eq!(
            names(0),
            ["run1-t0-c0", "run1-t1-c0", "run1-t2-c0", "run1-t3-c0"]
        );
        assert!(rounds[0].iter().all(|(_, turn)| *turn == 0));
        // Round 1: lane 2 (offset 2) starts its second conversation; round 2: lane 1.
        assert_eq!(
            names(1),
            ["run1-t0-c0", "run1-t1-c0", "run1-t2-c1", "run1-t3-c0"]
        );
        assert_eq!(
            names(2),
            ["run1-t0-c0", "run1-t1-c1", "run1-t2-c1", "run1-t3-c0"]
        );
        // Round 3: lanes 0 and 3 (offset 0) start their second conversation at turn 0.
        assert_eq!(
            rounds[3],
            [
                ("run1-t0-c1".to_string(), 0),
                ("run1-t1-c1".to_string(), 1),
                ("run1-t2-c1".to_string(), 2),
                ("run1-t3-c1".to_string(), 0)
            ]
        );
        // Conversations started in 6 rounds: 4 first ones, then lanes 2, 1, 0 and 3, 2, 1.
        let started = p.threads_of(24);
        assert_eq!(started.len(), 4 + 1 + 1 + 2 + 1 + 1, "{started:?}");
        assert!(started.iter().all(|t| t.turn == 0));
    }

    #[test]
    fn reads_are_spread_over_every_thread() {
        let p = plan("");
        let mix = crate::load::mix::Mix::new(&[9, 1], 1).expect("mix");
        let mut read_threads = std::collections::HashSet::new();
        for slot in 0..4 * 3 * 10 {
            if mix.kind(slot) == 1 {
                read_threads.insert(p.turn(slot).thread.split("-c").next().map(str::to_string));
            }
        }
        assert_eq!(read_threads.len(), 4, "{read_threads:?}");
    }

    #[test]
    fn about_ten_percent_of_threads_go_to_the_canary_and_stay_there() {
        let p = plan("");
        let threads: Vec<String> = (0..10_000).map(|n| format!("run1-t{n}-c0")).collect();
        let canary = threads
            .iter()
            .filter(|t| p.variant(t) == Variant::Canary)
            .count();
        assert!((900..=1100).contains(&canary), "{canary}");
        for t in &threads[..100] {
            assert_eq!(p.variant(t), p.variant(t));
        }
    }

    fn zep_plan(api_key: &str, tag: &str) -> ScenarioPlan {
        let text = format!(
            "[target]\nkind = \"zep\"\napi_key = {api_key:?}\n[load]\nrate = 10\nduration = \"10s\"\n"
        );
        let s = Scenario::parse(Path::new("s.toml"), &text, &Overrides::default()).expect("valid");
        ScenarioPlan::new(&s, tag)
    }

    fn http(built: Result<(Variant, Request), String>) -> HttpRequest {
        match built.expect("built") {
            (_, Request::Http(request)) => request,
            (_, Request::WebSocket { .. }) => panic!("an HTTP request was expected"),
        }
    }

    #[test]
    fn zep_requests_carry_the_key_a_json_body_and_an_escaped_thread_id() {
        // A scenario's name is part of every thread id, and may hold a space or a slash.
        let p = zep_plan("k1", "my run/1-7-100");
        let read = http(p.request(0, 1));
        assert_eq!(read.method(), Method::GET);
        let path = read.uri().path();
        assert!(
            path.starts_with("/api/v2/threads/my%20run%2F1-7-100-t") && path.ends_with("/context"),
            "{path}"
        );
        assert_eq!(read.headers()[AUTHORIZATION], "Api-Key k1");
        let write = http(p.request(1, 0));
        assert_eq!(write.method(), Method::POST);
        assert!(write.uri().path().ends_with("/messages"));
        assert_eq!(write.headers()[CONTENT_TYPE], "application/json");
        let body: serde_json::Value = serde_json::from_slice(write.body()).expect("JSON");
        assert_eq!(
            body["messages"][0]["metadata"]["message_id"],
            "my run/1-7-100-m1"
        );
    }

    #[test]
    fn a_key_that_cannot_be_a_header_is_an_error_naming_it() {
        let p = zep_plan("bad\nkey", "run");
        let err = p.request(0, 1).err().expect("an error");
        assert!(err.contains("target.api_key"), "{err}");
    }

    #[test]
    fn an_assistant_turn_is_a_json_post_to_the_chat_api() {
        let p = plan("");
        let turn = http(p.request(0, 0));
        assert_eq!(turn.method(), Method::POST);
        assert_eq!(turn.uri().path(), "/api/chat");
        let body: serde_json::Value = serde_json::from_slice(turn.body()).expect("JSON");
        assert_eq!(body["client_msg_id"], "run1-m0");
        assert!(body["thread_id"]
            .as_str()
            .is_some_and(|t| t.starts_with("run1-t")));
    }
}
