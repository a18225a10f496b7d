//! The load engine (in progress): an open-model pacer on Goose with an exact request mix and
//! latency measured from each request's intended send time.
//!
//! Built so far: the schedule ([`schedule`]: when slot *i* is due), the mix ([`mix`]: which kind
//! slot *i* sends) and the canary split ([`split`]: which variant a thread goes to). The Goose glue,
//! the recorder, scenario files and the `load` command come next.

pub mod mix;
pub mod schedule;
pub mod split;
