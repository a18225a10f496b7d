//! rollgate's integration tests: one binary, one module per capability. Servers bind 127.0.0.1:0.

mod analysis;
mod assistant;
mod calibrate;
mod fake_zep;
mod load;
mod prom;
mod report;
mod rules;
mod serve_verdict;
mod smoke;
mod stack;
