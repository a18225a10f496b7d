//! Tests of the Prometheus toolkit (`rollgate::prom`).

mod golden;
mod promqltest;
