//! Tests of the Prometheus toolkit (`rollgate::prom`).

mod api;
mod eval;
mod exposition;
mod golden;
mod promqltest;
mod scrape;
mod store;
mod target;
