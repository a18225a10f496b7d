//! The reference assistant over real HTTP and WebSocket on loopback.

mod bad_input;
mod metrics;
mod support;
