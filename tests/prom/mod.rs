//! Tests of the Prometheus toolkit (`rollgate::prom`).

mod api;
mod cli;
mod eval;
mod exposition;
mod golden;
mod oracle;
mod promqltest;
pub(crate) mod real_prometheus;
mod scrape;
mod store;
mod target;
