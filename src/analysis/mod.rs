//! The canary analyzer: the rollout plan's gates and triggers, evaluated on baseline and canary
//! series, decided into one verdict.
//!
//! [`gates`] reads the gate file (the seed's plan ships as `fixtures/rollgate.toml`), [`select`]
//! rewrites each query for one side, [`evaluate`] judges each check over time, [`significance`]
//! weighs the counts behind each value ([`evidence`] reads them, [`stats`] does the arithmetic),
//! and [`verdict`] decides PROMOTE / HOLD / DOWNGRADE / ROLLBACK (or ERROR when the analysis
//! itself failed). [`live`] gathers the series by scraping baseline and canary targets.

pub mod evaluate;
pub mod evidence;
pub mod gates;
pub mod live;
pub mod rules;
pub mod select;
pub mod serve;
pub mod significance;
pub mod stats;
pub mod table;
pub mod verdict;
