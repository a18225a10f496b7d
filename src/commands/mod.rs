//! One file per subcommand: glue between the parsed command line and the library.

mod analyze;
mod assistant;
mod calibrate;
mod fake_zep;
mod gate;
mod load;
mod merge;
mod query;
mod report;
mod rules;
mod serve_verdict;
mod smoke;
mod synth;

use crate::cli::{Cli, Command};

/// How a command that ran to completion turned out; errors are reported separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The job ran and its result is good.
    Success,
    /// The job ran and its result is bad (a failed check or gate).
    Failed,
    /// The job ran and its outcome has its own documented exit code (a verdict).
    Code(u8),
}

impl Outcome {
    /// The process exit code for this outcome.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => crate::EXIT_OK,
            Outcome::Failed => crate::EXIT_FAILED,
            Outcome::Code(code) => code,
        }
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Gate(args) => gate::run(args).await,
        Command::FakeZep(args) => fake_zep::run(args).await,
        Command::Assistant(args) => assistant::run(*args).await,
        Command::Query(args) => query::run(args).await,
        Command::Load(args) => load::run(args).await,
        Command::Merge(args) => merge::run(args),
        Command::Analyze(args) => analyze::run(args).await,
        Command::Report(args) => report::run(args),
        Command::Rules(args) => rules::run(args),
        Command::ServeVerdict(args) => serve_verdict::run(args).await,
        Command::Smoke(args) => smoke::run(args).await,
        Command::Synth(args) => synth::run(args).await,
        Command::Calibrate(args) => calibrate::run(args).await,
    }
}
