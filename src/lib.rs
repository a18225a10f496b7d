//! rollgate: load testing and canary analysis that decides whether a rollout of a Zep-backed memory
//! layer may move to its next phase.
//!
//! The library runs what the binary runs: every subcommand is an entry point in [`commands`], so
//! integration tests call them in-process. Components that later subcommands embed (the fake Zep
//! first) are modules of their own with a start/shutdown handle.

#![deny(missing_docs)]

pub mod analysis;
pub mod assistant;
pub mod calibrate;
pub mod cli;
pub mod commands;
pub mod config_file;
pub mod fake_zep;
pub mod gate;
pub mod junit;
pub mod load;
pub mod logging;
pub mod net;
pub mod pii;
pub mod prom;
pub mod report;
pub mod run_dir;
pub mod smoke;
pub mod stack;
pub mod synth;
pub mod variant;

/// Exit code for "the command ran and its outcome is good" (a gate that says PROMOTE).
pub const EXIT_OK: u8 = 0;
/// Exit code for "the command ran and its outcome is bad" (a failed gate or check).
pub const EXIT_FAILED: u8 = 1;
/// Exit code for "the command could not do its job" (bad input, a port in use, an I/O error).
pub const EXIT_ERROR: u8 = 2;

/// The allocator of every binary built on this crate (the CLI, its tests and benches): a load
/// generator allocates and frees a little per request on one thread, which glibc's per-thread
/// arenas answer by growing and trimming their heap (`mprotect`) over and over.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
