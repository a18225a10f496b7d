//! The fake Zep over real HTTP on loopback.

mod bad_input;
mod faults;
mod journal;
mod routes;
mod support;
