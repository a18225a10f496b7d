//! The canary analyzer: the rollout plan's gates and triggers, evaluated on baseline and canary
//! series, decided into one verdict.
//!
//! [`gates`] reads the gate file (the seed's plan ships as `fixtures/rollgate.toml`), [`select`]
//! rewrites each query for one side, [`evaluate`] judges each check over time, and [`verdict`]
//! decides PROMOTE / HOLD / DOWNGRADE / ROLLBACK (or ERROR when the analysis itself failed).

pub mod evaluate;
pub mod gates;
pub mod select;
pub mod stats;
pub mod verdict;
