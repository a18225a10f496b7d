//! The load engine (in progress): an open-model pacer on Goose with an exact request mix and
//! latency measured from each request's intended send time.
//!
//! Built so far: the schedule ([`schedule`]: when slot *i* is due), the mix ([`mix`]: which kind
//! slot *i* sends), the canary split ([`split`]: which variant a thread goes to) and the recorder
//! ([`recorder`]: corrected and raw HDR histograms, send lag, per-second series). The Goose glue,
//! scenario files, the run directory and the `load` command come next.

pub mod mix;
pub mod pacer;
pub mod recorder;
pub mod schedule;
pub mod split;
