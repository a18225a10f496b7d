//! The reference assistant over real HTTP and WebSocket on loopback, against the fake Zep.

mod backfill;
mod bad_input;
mod metrics;
mod observability;
mod read_path;
mod regression;
mod resilience;
mod routing;
pub mod support;
mod v4;
mod write_path;
mod zep;
