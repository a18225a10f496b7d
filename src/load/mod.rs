//! The load engine: an open-model pacer on Goose with an exact request mix and latency measured
//! from each request's intended send time.
//!
//! [`scenario`] reads a scenario file; [`schedule`] says when slot *i* is due, [`mix`] which kind
//! it sends, [`plan`] on which thread and to which target (the canary [`split`] by thread);
//! [`pacer`] sends it through Goose (HTTP by the [`sender`], WebSocket turns by [`ws`]) and [`recorder`] keeps corrected and raw HDR histograms, send
//! lag and per-second series; [`run`] does a whole run (preflight, Zep setup, scraping) and
//! [`manifest`] writes the run directory.

pub mod manifest;
pub mod merge;
pub mod mix;
pub mod pacer;
pub mod plan;
pub mod recorder;
pub mod run;
pub mod scenario;
pub mod schedule;
pub mod sender;
pub mod sparse_hdr;
pub mod split;
pub mod stdout_guard;
pub mod ws;
