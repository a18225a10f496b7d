//! Journal expectations: what the fake Zep received for a check's threads, read over its admin API
//! (`/__rollgate/journal`, `/journal/attempts`, `/journal/duplicates`): the message arrived, no
//! write was stored twice, attempts answered with `Retry-After` were retried no sooner, and no
//! request carried personal data (the journal flags it, see `crate::pii`).
//!
//! Writes are asynchronous, so each check polls until its condition can be judged or its time is
//! up; a check that finds nothing to judge (no write arrived, no `Retry-After` was ever retried)
//! fails, never passes. Not for metric or response expectations (see `super::expect`).

use std::time::{Duration, Instant};

use super::plan::JournalCheck;
use super::runner::{error, fail, Failure};
use crate::assistant::zep_client::parse_retry_after;
use crate::fake_zep::admin::{AdminClient, AdminError};
use crate::fake_zep::journal::{Entry, LogicalWrite, Query};

const POLL: Duration = Duration::from_millis(50);

fn admin_error(what: &str, e: AdminError) -> Failure {
    error(format!("the fake Zep's {what}"), e.to_string())
}

/// Judges `check` on the journal entries of `threads` (Zep thread ids), polling up to `within`.
pub(crate) async fn check(
    admin: &AdminClient,
    check: JournalCheck,
    threads: &[String],
    within: Duration,
    evidence: &mut Vec<String>,
) -> Result<(), Failure> {
    if threads.is_empty() {
        return Err(error(
            format!("journal {}: a chat step", check.as_str()),
            "the check sent no turn",
        ));
    }
    let deadline = Instant::now() + within;
    match check {
        JournalCheck::Arrived => {
            let writes = arrived(admin, threads, deadline, evidence).await?;
            if let Some((thread, _)) = writes.iter().find(|(_, w)| w.is_empty()) {
                return Err(fail(
                    "the turn's messages stored by Zep (journal)",
                    format!("no stored write for thread {thread} in the fake Zep's journal within {within:?}"),
                ));
            }
            Ok(())
        }
        JournalCheck::NoDuplicate => {
            arrived(admin, threads, deadline, evidence).await?;
            let duplicates = admin
                .duplicates()
                .await
                .map_err(|e| admin_error("duplicates", e))?;
            let ours: Vec<String> = duplicates
                .per_thread
                .iter()
                .filter(|(t, n)| threads.contains(t) && **n > 0)
                .map(|(t, n)| format!("thread {t}: {n} extra store(s)"))
                .collect();
            evidence.push(format!(
                "journal duplicates of the check's threads: {}",
                if ours.is_empty() {
                    "none".to_string()
                } else {
                    ours.join("; ")
                }
            ));
            if !ours.is_empty() {
                return Err(fail("no write stored twice (journal)", ours.join("; ")));
            }
            Ok(())
        }
        JournalCheck::NoPii => {
            let writes = arrived(admin, threads, deadline, evidence).await?;
            if writes.iter().all(|(_, w)| w.is_empty()) {
                return Err(fail(
                    "stored writes free of personal data (journal)",
                    "no samples: no write of the check's threads reached Zep",
                ));
            }
            let leaks: Vec<String> = writes
                .iter()
                .flat_map(|(thread, entries)| {
                    entries.iter().filter(|e| !e.pii.is_empty()).map(move |e| {
                        format!(
                            "thread {thread}: request {} {} carried {}",
                            e.seq,
                            e.path,
                            e.pii.join(", ")
                        )
                    })
                })
                .collect();
            evidence.push(format!(
                "journal PII in the check's writes: {}",
                if leaks.is_empty() {
                    "none".to_string()
                } else {
                    leaks.join("; ")
                }
            ));
            if !leaks.is_empty() {
                return Err(fail(
                    "no personal data sent to Zep (PII redacted before writes)",
                    format!("unredacted PII reached Zep: {}", leaks.join("; ")),
                ));
            }
            Ok(())
        }
        JournalCheck::RetryAfterSpacing => {
            retry_after_spacing(admin, threads, deadline, evidence).await
        }
    }
}

/// Polls until every thread has a stored write (or the deadline); returns each thread's write
/// entries.
async fn arrived(
    admin: &AdminClient,
    threads: &[String],
    deadline: Instant,
    evidence: &mut Vec<String>,
) -> Result<Vec<(String, Vec<Entry>)>, Failure> {
    loop {
        let mut all = Vec::new();
        for thread in threads {
            let snapshot = admin
                .journal(&Query {
                    thread: Some(thread.clone()),
                    ..Query::default()
                })
                .await
                .map_err(|e| admin_error("journal", e))?;
            let writes: Vec<Entry> = snapshot
                .entries
                .into_iter()
                .filter(|e| e.write_key.is_some() && e.stored > 0)
                .collect();
            all.push((thread.clone(), writes));
        }
        if all.iter().all(|(_, w)| !w.is_empty()) || Instant::now() >= deadline {
            for (thread, writes) in &all {
                let stored: u32 = writes.iter().map(|e| e.stored).sum();
                let line = format!(
                    "journal: thread {thread}: {} stored write(s), {stored} message(s)",
                    writes.len()
                );
                if !evidence.contains(&line) {
                    evidence.push(line);
                }
            }
            return Ok(all);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// One attempt answered with `Retry-After` and the gap to the next attempt of the same write.
struct Spacing {
    retry_after: Duration,
    gap_ms: f64,
    status: Option<u16>,
}

fn spacings(write: &LogicalWrite) -> Vec<Spacing> {
    write
        .attempts
        .iter()
        .zip(&write.gaps_ms)
        .filter_map(|(attempt, gap)| {
            let retry_after = parse_retry_after(attempt.retry_after.as_deref()?)?;
            Some(Spacing {
                retry_after,
                gap_ms: *gap,
                status: attempt.status,
            })
        })
        .collect()
}

async fn retry_after_spacing(
    admin: &AdminClient,
    threads: &[String],
    deadline: Instant,
    evidence: &mut Vec<String>,
) -> Result<(), Failure> {
    let expected = "every attempt answered with Retry-After retried no sooner (journal)";
    let mut seen: Vec<(String, Spacing)>;
    loop {
        seen = Vec::new();
        for thread in threads {
            let writes = admin
                .attempts(Some(thread))
                .await
                .map_err(|e| admin_error("attempts", e))?;
            for write in &writes {
                seen.extend(
                    spacings(write)
                        .into_iter()
                        .map(|s| (write.write_key.clone(), s)),
                );
            }
        }
        if !seen.is_empty() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    if seen.is_empty() {
        return Err(fail(
            expected,
            "no samples: no attempt answered with Retry-After was retried",
        ));
    }
    let mut early = Vec::new();
    for (key, s) in &seen {
        let line = format!(
            "write {key}: HTTP {} Retry-After {:?}, next attempt after {:.0} ms",
            s.status.map_or("-".to_string(), |c| c.to_string()),
            s.retry_after,
            s.gap_ms
        );
        evidence.push(format!("journal: {line}"));
        if s.gap_ms < s.retry_after.as_secs_f64() * 1000.0 {
            early.push(line);
        }
    }
    if !early.is_empty() {
        return Err(fail(
            expected,
            format!("Retry-After ignored: {}", early.join("; ")),
        ));
    }
    Ok(())
}
