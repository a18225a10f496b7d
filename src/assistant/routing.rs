//! The supervisor and its two agents (real estate, local info), deterministic from the text.
//!
//! This is the behaviour the seed's smoke checklist exercises, without a language model:
//! - intent is classified from keywords; a turn with no intent of its own ("show me") is a
//!   **sticky follow-up** and stays with the thread's current agent, keeping `awaiting_clarification`;
//! - a turn with a clear other intent ("nearest pharmacy") **switches agent**;
//! - an agent may answer with `handoff_to`; the supervisor then runs that agent for the same turn
//!   **without re-classifying**;
//! - memory facts (bedrooms, budget, location from Zep's context or earlier turns) are **soft
//!   hints**: defaults that the current turn overrides.
//!
//! Not for: memory I/O or timing; the turn pipeline feeds facts in and takes the reply out.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

/// The agents the supervisor routes between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Agent {
    /// Property search: listings, bedrooms, budget, locations.
    RealEstate,
    /// Places near the user: pharmacies, hospitals, shops, transport.
    LocalInfo,
}

impl Agent {
    /// Name used in traces, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Agent::RealEstate => "real_estate",
            Agent::LocalInfo => "local_info",
        }
    }
}

/// Why the supervisor picked the agent that answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteReason {
    /// The turn's own words named the intent.
    Classified,
    /// No intent in the turn: stayed with the thread's agent.
    StickyFollowup,
    /// The first agent answered with `handoff_to`; honoured without re-classifying.
    Handoff,
    /// No intent and no previous agent: the default agent.
    Default,
}

/// Property search slots. Each is a value the current turn gave or a default from memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Slots {
    /// Number of bedrooms.
    pub bedrooms: Option<u32>,
    /// Budget in whole currency units.
    pub budget: Option<u64>,
    /// Town or area.
    pub location: Option<String>,
}

impl Slots {
    /// Slots named in `text`.
    pub fn extract(text: &str) -> Slots {
        let bedrooms = BEDROOMS
            .captures(text)
            .and_then(|caps| caps.get(1))
            .and_then(|m| m.as_str().parse().ok());
        let budget = BUDGET.captures(text).and_then(|caps| {
            let digits: String = caps
                .get(1)?
                .as_str()
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            let value: u64 = digits.parse().ok()?;
            Some(if caps.get(2).is_some() {
                value.saturating_mul(1000)
            } else {
                value
            })
        });
        let lower = text.to_lowercase();
        let location = PLACES
            .iter()
            .find(|place| lower.contains(&place.to_lowercase()))
            .map(|place| place.to_string());
        Slots {
            bedrooms,
            budget,
            location,
        }
    }

    /// `self` with gaps filled from `defaults`.
    pub fn or(&self, defaults: &Slots) -> Slots {
        Slots {
            bedrooms: self.bedrooms.or(defaults.bedrooms),
            budget: self.budget.or(defaults.budget),
            location: self.location.clone().or_else(|| defaults.location.clone()),
        }
    }
}

/// Where each slot the real-estate agent used came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SlotSources {
    /// `turn` or `memory` for bedrooms, absent if unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bedrooms: Option<&'static str>,
    /// `turn` or `memory` for budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<&'static str>,
    /// `turn` or `memory` for location.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<&'static str>,
}

/// Routing state the supervisor keeps per thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadRouting {
    /// The agent that answered last.
    pub agent: Option<Agent>,
    /// The real-estate agent asked a question and waits for the user's answer.
    pub awaiting_clarification: bool,
    /// Slots the user gave on earlier turns of this thread.
    pub slots: Slots,
}

/// What the supervisor decided and answered for one turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Routed {
    /// The agent whose answer is returned.
    pub agent: Agent,
    /// Why that agent.
    pub reason: RouteReason,
    /// The agent that handed the turn off, when `reason` is `handoff`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoff_from: Option<Agent>,
    /// The thread's `awaiting_clarification` after the turn.
    pub awaiting_clarification: bool,
    /// Slots the real-estate agent used, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slots: Option<Slots>,
    /// Where those slots came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot_sources: Option<SlotSources>,
    /// The answer text.
    #[serde(skip)]
    pub reply: String,
}

static BEDROOMS: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)\b(\d{1,2})\s*-?\s*(?:br|bed(?:room)?s?|bdr)\b"));
static BUDGET: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)(?:budget(?:\s+is|\s+of)?|under|below|max(?:imum)?|up\s+to|[£$€])\s*[£$€]?\s*(\d[\d,]*)\s*(k)?\b",
    )
});
static RE_INTENT: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)\b(?:\d+\s*-?\s*br|bed(?:room)?s?|flats?|apartments?|villas?|houses?|homes?|studios?|rent(?:al)?|buy|listings?|propert(?:y|ies)|penthouse)\b",
    )
});
static LOCAL_INTENT: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)\b(?:pharmac(?:y|ies)|chemist|hospital|doctor|dentist|clinic|supermarket|atm|bank|restaurants?|caf[eé]s?|bus|taxi|beach|school|police|nearest)\b",
    )
});
static AREA_QUESTION: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?i)\b(?:nearby|neighbou?rhood|what'?s around|area like|close to it)\b")
});

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern)
        .unwrap_or_else(|err| unreachable!("routing patterns are valid regexes: {err}"))
}

/// Towns the real-estate agent knows.
const PLACES: &[&str] = &[
    "Girne",
    "Kyrenia",
    "Lefkosa",
    "Nicosia",
    "Famagusta",
    "Gazimagusa",
    "Iskele",
    "Lapta",
    "Alsancak",
    "Esentepe",
    "Catalkoy",
    "Bellapais",
];

/// The intent the text names on its own, if any. When both agents' words appear, the one with
/// more matches wins, then the one named first.
pub fn classify(text: &str) -> Option<Agent> {
    let real_estate: Vec<usize> = RE_INTENT.find_iter(text).map(|m| m.start()).collect();
    let local: Vec<usize> = LOCAL_INTENT.find_iter(text).map(|m| m.start()).collect();
    match (real_estate.first(), local.first()) {
        (None, None) => None,
        (Some(_), None) => Some(Agent::RealEstate),
        (None, Some(_)) => Some(Agent::LocalInfo),
        (Some(re), Some(li)) => Some(match real_estate.len().cmp(&local.len()) {
            std::cmp::Ordering::Greater => Agent::RealEstate,
            std::cmp::Ordering::Less => Agent::LocalInfo,
            std::cmp::Ordering::Equal if re <= li => Agent::RealEstate,
            std::cmp::Ordering::Equal => Agent::LocalInfo,
        }),
    }
}

/// One agent's answer.
struct AgentAnswer {
    reply: String,
    handoff_to: Option<Agent>,
    slots: Option<(Slots, SlotSources)>,
}

/// Routes one turn, runs the agent (and a handoff target), and updates the thread's state.
/// `memory` holds facts from Zep's context; they are defaults the current turn overrides.
pub fn route(state: &mut ThreadRouting, text: &str, memory: &Slots) -> Routed {
    let (first, reason) = match (classify(text), state.agent) {
        (Some(agent), _) => (agent, RouteReason::Classified),
        (None, Some(agent)) => (agent, RouteReason::StickyFollowup),
        (None, None) => (Agent::RealEstate, RouteReason::Default),
    };
    let defaults = state.slots.or(memory);
    let mut answer = run_agent(first, state, text, &defaults);
    let (agent, reason, handoff_from) = match answer.handoff_to {
        // Honour the handoff as given: no second classification of the text.
        Some(target) if target != first => {
            answer = run_agent(target, state, text, &defaults);
            (target, RouteReason::Handoff, Some(first))
        }
        _ => (first, reason, None),
    };
    state.agent = Some(agent);
    let turn_slots = Slots::extract(text);
    state.slots = turn_slots.or(&state.slots);
    let (slots, slot_sources) = answer
        .slots
        .map_or((None, None), |(s, src)| (Some(s), Some(src)));
    Routed {
        agent,
        reason,
        handoff_from,
        awaiting_clarification: state.awaiting_clarification,
        slots,
        slot_sources,
        reply: answer.reply,
    }
}

fn run_agent(agent: Agent, state: &mut ThreadRouting, text: &str, defaults: &Slots) -> AgentAnswer {
    match agent {
        Agent::RealEstate => real_estate(state, text, defaults),
        Agent::LocalInfo => local_info(text, defaults),
    }
}

fn source(turn: bool, known: bool) -> Option<&'static str> {
    match (turn, known) {
        (true, _) => Some("turn"),
        (false, true) => Some("memory"),
        (false, false) => None,
    }
}

fn real_estate(state: &mut ThreadRouting, text: &str, defaults: &Slots) -> AgentAnswer {
    if AREA_QUESTION.is_match(text) {
        return AgentAnswer {
            reply: String::new(),
            handoff_to: Some(Agent::LocalInfo),
            slots: None,
        };
    }
    let turn = Slots::extract(text);
    let slots = turn.or(defaults);
    let sources = SlotSources {
        bedrooms: source(turn.bedrooms.is_some(), slots.bedrooms.is_some()),
        budget: source(turn.budget.is_some(), slots.budget.is_some()),
        location: source(turn.location.is_some(), slots.location.is_some()),
    };
    let bedrooms = slots
        .bedrooms
        .map_or("any size".to_string(), |n| format!("{n}-bedroom"));
    let budget = slots
        .budget
        .map_or(String::new(), |b| format!(" under £{b}"));
    let reply = match (&slots.location, state.awaiting_clarification && classify(text).is_none()) {
        (Some(place), true) => format!(
            "Here are the details of the first {bedrooms} listing in {place}{budget}: a bright flat with a sea view, \
             five minutes from the harbour. Shall I show the next one?"
        ),
        (Some(place), false) => format!(
            "I found 3 {bedrooms} listings in {place}{budget}. Would you like me to show you one of them?"
        ),
        (None, _) => format!("Which area would you like to live in? I can search {bedrooms} homes{budget} anywhere on the coast."),
    };
    // After listings or a question, the agent waits for the user's answer.
    state.awaiting_clarification = true;
    AgentAnswer {
        reply,
        handoff_to: None,
        slots: Some((slots, sources)),
    }
}

fn local_info(text: &str, defaults: &Slots) -> AgentAnswer {
    let lower = text.to_lowercase();
    let place = [
        "pharmacy",
        "hospital",
        "supermarket",
        "atm",
        "bus",
        "beach",
        "school",
        "restaurant",
        "dentist",
    ]
    .into_iter()
    .find(|kind| lower.contains(kind))
    .unwrap_or("amenities");
    let area = Slots::extract(text)
        .location
        .or_else(|| defaults.location.clone());
    let near = area.map_or("you".to_string(), |a| format!("the centre of {a}"));
    let reply = match place {
        "amenities" => format!("Near {near} there is a pharmacy 300 m away, a supermarket 450 m away and a bus stop 200 m away."),
        kind => format!("The nearest {kind} to {near} is 400 m away and open until 22:00."),
    };
    AgentAnswer {
        reply,
        handoff_to: None,
        slots: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_come_from_the_text() {
        let slots = Slots::extract("2BR in Girne under £150,000");
        assert_eq!(
            slots,
            Slots {
                bedrooms: Some(2),
                budget: Some(150_000),
                location: Some("Girne".into())
            }
        );
        assert_eq!(
            Slots::extract("3 bedroom villa, budget 250k").budget,
            Some(250_000)
        );
        assert_eq!(Slots::extract("show me"), Slots::default());
    }

    #[test]
    fn sticky_follow_up_stays_with_real_estate_and_keeps_awaiting_clarification() {
        let mut state = ThreadRouting::default();
        let first = route(&mut state, "2BR in Girne", &Slots::default());
        assert_eq!(
            (first.agent, first.reason),
            (Agent::RealEstate, RouteReason::Classified)
        );
        assert!(first.awaiting_clarification);
        assert!(
            first.reply.contains("3 2-bedroom listings in Girne"),
            "{}",
            first.reply
        );

        let follow = route(&mut state, "show me", &Slots::default());
        assert_eq!(
            (follow.agent, follow.reason),
            (Agent::RealEstate, RouteReason::StickyFollowup)
        );
        assert!(follow.awaiting_clarification);
        assert!(
            follow
                .reply
                .contains("details of the first 2-bedroom listing in Girne"),
            "{}",
            follow.reply
        );
    }

    #[test]
    fn nearest_pharmacy_switches_to_local_info() {
        let mut state = ThreadRouting::default();
        route(&mut state, "2BR in Girne", &Slots::default());
        let switched = route(&mut state, "nearest pharmacy", &Slots::default());
        assert_eq!(
            (switched.agent, switched.reason),
            (Agent::LocalInfo, RouteReason::Classified)
        );
        assert!(
            switched
                .reply
                .contains("nearest pharmacy to the centre of Girne"),
            "{}",
            switched.reply
        );
        // The real-estate flow's pending question survives the detour.
        assert!(switched.awaiting_clarification);
    }

    #[test]
    fn handoff_is_honoured_without_reclassifying() {
        let mut state = ThreadRouting::default();
        route(&mut state, "2BR in Girne", &Slots::default());
        // No intent words: sticky to real estate, which hands the area question off.
        let routed = route(
            &mut state,
            "what's the neighbourhood like?",
            &Slots::default(),
        );
        assert_eq!(routed.agent, Agent::LocalInfo);
        assert_eq!(routed.reason, RouteReason::Handoff);
        assert_eq!(routed.handoff_from, Some(Agent::RealEstate));
        assert_eq!(state.agent, Some(Agent::LocalInfo));
    }

    #[test]
    fn memory_facts_are_defaults_that_the_turn_overrides() {
        let memory = Slots {
            bedrooms: Some(3),
            budget: Some(200_000),
            location: Some("Lapta".into()),
        };
        let mut state = ThreadRouting::default();
        let routed = route(&mut state, "flats with 2 bedrooms please", &memory);
        let slots = routed.slots.expect("real estate reports slots");
        assert_eq!(
            slots,
            Slots {
                bedrooms: Some(2),
                budget: Some(200_000),
                location: Some("Lapta".into())
            }
        );
        let sources = routed.slot_sources.expect("sources");
        assert_eq!(
            (sources.bedrooms, sources.budget, sources.location),
            (Some("turn"), Some("memory"), Some("memory"))
        );
    }

    #[test]
    fn mixed_intents_go_to_the_one_with_more_words() {
        assert_eq!(
            classify("flat near a pharmacy and a bus and a school"),
            Some(Agent::LocalInfo)
        );
        assert_eq!(
            classify("2BR flat near a pharmacy"),
            Some(Agent::RealEstate)
        );
        assert_eq!(classify("hello there"), None);
    }
}
