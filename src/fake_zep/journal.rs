//! The journal: what the fake Zep received, in a bounded ring (oldest entries dropped first and
//! counted, so a long run cannot exhaust memory and nothing is lost silently), and the derived
//! queries the smoke checklist asks: duplicate writes per thread, attempts per logical write with
//! their spacing (retry, backoff and `Retry-After` checks), reads per turn.
//!
//! A *logical write* is identified by its `Idempotency-Key` when the client sends one, otherwise by
//! a hash of route, thread and body: a retry re-sends the same body. A *turn* of a thread ends with
//! a write that contains a `user` message; reads before it belong to it.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// One request as received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Sequence number, from 0 since start (or since the last reset).
    pub seq: u64,
    /// Milliseconds since the server started, when the request had been read.
    pub at_ms: f64,
    /// HTTP method.
    pub method: String,
    /// Route pattern, or `unmatched`.
    pub route: String,
    /// Path as sent (without the query).
    pub path: String,
    /// Thread or session id from the path.
    pub thread: Option<String>,
    /// Status sent; `None` when a connection fault sent none.
    pub status: Option<u16>,
    /// Faults applied, e.g. `["latency", "status"]`.
    pub faults: Vec<String>,
    /// `Retry-After` sent, as written.
    pub retry_after: Option<String>,
    /// `Idempotency-Key` received.
    pub idempotency_key: Option<String>,
    /// Logical write identity (writes only).
    pub write_key: Option<String>,
    /// Answered from an earlier request with the same `Idempotency-Key`.
    pub replayed: bool,
    /// Messages stored by this request.
    pub stored: u32,
    /// Messages in the request body.
    pub messages: u32,
    /// The body holds a message with role `user`.
    pub user_message: bool,
    /// Request body size in bytes.
    pub body_bytes: usize,
    /// Kinds of personal data seen in the body: `email`, `phone`, `card`.
    pub pii: Vec<String>,
    /// Milliseconds from reading the request to finishing the answer.
    pub duration_ms: f64,
}

/// A filtered view of the journal (`GET /__rollgate/journal`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// Only this thread.
    pub thread: Option<String>,
    /// Only this route pattern.
    pub route: Option<String>,
    /// Only entries with `seq >= since`.
    pub since: Option<u64>,
    /// At most this many (the latest).
    pub limit: Option<usize>,
}

/// The answer to a [`Query`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Ring size.
    pub capacity: usize,
    /// Requests journaled since start or reset, evicted ones included.
    pub total: u64,
    /// Entries dropped because the ring was full.
    pub evicted: u64,
    /// The matching entries, oldest first.
    pub entries: Vec<Entry>,
}

/// One attempt at a logical write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Journal sequence number.
    pub seq: u64,
    /// When it arrived (ms since start).
    pub at_ms: f64,
    /// Status sent.
    pub status: Option<u16>,
    /// Faults applied.
    pub faults: Vec<String>,
    /// `Retry-After` sent with it.
    pub retry_after: Option<String>,
}

/// All attempts at one logical write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogicalWrite {
    /// Thread written to.
    pub thread: Option<String>,
    /// The write's identity.
    pub write_key: String,
    /// Attempts in arrival order.
    pub attempts: Vec<Attempt>,
    /// Milliseconds between consecutive attempts.
    pub gaps_ms: Vec<f64>,
    /// How many attempts stored messages (more than 1 is a duplicate).
    pub stored_times: u32,
}

/// Derived queries' results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Duplicates {
    /// Per thread, logical writes stored more than once (counting each extra store).
    pub per_thread: BTreeMap<String, u32>,
    /// The offending writes.
    pub writes: Vec<LogicalWrite>,
}

/// The bounded ring of entries.
#[derive(Debug)]
pub struct Journal {
    capacity: usize,
    entries: VecDeque<Entry>,
    next_seq: u64,
    evicted: u64,
}

impl Journal {
    /// An empty journal keeping at most `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> Journal {
        let capacity = capacity.max(1);
        Journal {
            capacity,
            entries: VecDeque::with_capacity(capacity.min(4096)),
            next_seq: 0,
            evicted: 0,
        }
    }

    /// Appends an entry, assigning its sequence number; drops the oldest when full.
    pub fn push(&mut self, mut entry: Entry) {
        entry.seq = self.next_seq;
        self.next_seq += 1;
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
            self.evicted += 1;
        }
        self.entries.push_back(entry);
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        *self = Journal::new(self.capacity);
    }

    /// Entries matching `query`.
    pub fn snapshot(&self, query: &Query) -> Snapshot {
        let matching: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| {
                query
                    .thread
                    .as_ref()
                    .is_none_or(|t| e.thread.as_ref() == Some(t))
            })
            .filter(|e| query.route.as_ref().is_none_or(|r| &e.route == r))
            .filter(|e| query.since.is_none_or(|s| e.seq >= s))
            .collect();
        let skip = query
            .limit
            .map_or(0, |limit| matching.len().saturating_sub(limit));
        Snapshot {
            capacity: self.capacity,
            total: self.next_seq,
            evicted: self.evicted,
            entries: matching.into_iter().skip(skip).cloned().collect(),
        }
    }

    /// Every logical write, optionally of one thread, in order of first attempt.
    pub fn attempts(&self, thread: Option<&str>) -> Vec<LogicalWrite> {
        let mut order: Vec<String> = Vec::new();
        let mut writes: HashMap<String, LogicalWrite> = HashMap::new();
        for entry in &self.entries {
            let Some(key) = &entry.write_key else {
                continue;
            };
            if thread.is_some_and(|t| entry.thread.as_deref() != Some(t)) {
                continue;
            }
            let write = writes.entry(key.clone()).or_insert_with(|| {
                order.push(key.clone());
                LogicalWrite {
                    thread: entry.thread.clone(),
                    write_key: key.clone(),
                    attempts: Vec::new(),
                    gaps_ms: Vec::new(),
                    stored_times: 0,
                }
            });
            if let Some(last) = write.attempts.last() {
                write.gaps_ms.push(entry.at_ms - last.at_ms);
            }
            if entry.stored > 0 {
                write.stored_times += 1;
            }
            write.attempts.push(Attempt {
                seq: entry.seq,
                at_ms: entry.at_ms,
                status: entry.status,
                faults: entry.faults.clone(),
                retry_after: entry.retry_after.clone(),
            });
        }
        order
            .into_iter()
            .filter_map(|key| writes.remove(&key))
            .collect()
    }

    /// Logical writes stored more than once, and the count per thread.
    pub fn duplicates(&self) -> Duplicates {
        let writes: Vec<LogicalWrite> = self
            .attempts(None)
            .into_iter()
            .filter(|w| w.stored_times > 1)
            .collect();
        let mut per_thread = BTreeMap::new();
        for write in &writes {
            let thread = write.thread.clone().unwrap_or_default();
            *per_thread.entry(thread).or_insert(0) += write.stored_times - 1;
        }
        Duplicates { per_thread, writes }
    }

    /// Per thread, the number of reads in each turn (a turn ends with a write holding a user
    /// message); a trailing count is for reads after the last such write.
    pub fn reads_per_turn(&self) -> BTreeMap<String, Vec<u32>> {
        let mut turns: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for entry in &self.entries {
            let Some(thread) = &entry.thread else {
                continue;
            };
            let counts = turns.entry(thread.clone()).or_insert_with(|| vec![0]);
            if entry.write_key.is_some() && entry.user_message && entry.stored > 0 {
                counts.push(0);
            } else if entry.method == "GET" {
                if let Some(current) = counts.last_mut() {
                    *current += 1;
                }
            }
        }
        for counts in turns.values_mut() {
            if counts.len() > 1 && counts.last() == Some(&0) {
                counts.pop();
            }
        }
        turns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at_ms: f64, method: &str, key: Option<&str>, stored: u32) -> Entry {
        Entry {
            seq: 0,
            at_ms,
            method: method.into(),
            route: "r".into(),
            path: "/p".into(),
            thread: Some("t1".into()),
            status: Some(if stored > 0 { 200 } else { 503 }),
            faults: vec![],
            retry_after: None,
            idempotency_key: None,
            write_key: key.map(String::from),
            replayed: false,
            stored,
            messages: 1,
            user_message: key.is_some(),
            body_bytes: 10,
            pii: vec![],
            duration_ms: 1.0,
        }
    }

    #[test]
    fn ring_drops_oldest_and_counts_them() {
        let mut journal = Journal::new(3);
        for i in 0..5 {
            journal.push(entry(i as f64, "GET", None, 0));
        }
        let snap = journal.snapshot(&Query::default());
        assert_eq!((snap.total, snap.evicted, snap.entries.len()), (5, 2, 3));
        assert_eq!(snap.entries[0].seq, 2);
    }

    #[test]
    fn attempts_group_by_write_and_measure_gaps() {
        let mut journal = Journal::new(10);
        journal.push(entry(0.0, "POST", Some("a"), 0));
        journal.push(entry(2000.0, "POST", Some("a"), 1));
        journal.push(entry(2500.0, "POST", Some("a"), 1));
        journal.push(entry(3000.0, "POST", Some("b"), 1));
        let writes = journal.attempts(None);
        assert_eq!(writes.len(), 2);
        assert_eq!(writes[0].gaps_ms, [2000.0, 500.0]);
        let dups = journal.duplicates();
        assert_eq!(dups.per_thread.get("t1"), Some(&1));
        assert_eq!(dups.writes[0].write_key, "a");
    }

    #[test]
    fn reads_are_counted_per_turn() {
        let mut journal = Journal::new(10);
        journal.push(entry(0.0, "GET", None, 0));
        journal.push(entry(1.0, "POST", Some("a"), 1));
        journal.push(entry(2.0, "GET", None, 0));
        journal.push(entry(3.0, "GET", None, 0));
        journal.push(entry(4.0, "POST", Some("b"), 1));
        assert_eq!(journal.reads_per_turn().get("t1"), Some(&vec![1, 2]));
    }
}
