//! The `rollgate` binary: parse the command line, run it, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = rollgate::cli::Cli::parse();
    let quiet = matches!(
        cli.command,
        rollgate::cli::Command::Gate(_) | rollgate::cli::Command::Calibrate(_)
    );
    rollgate::logging::init(cli.verbose, quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("rollgate: cannot start the async runtime: {err}");
            return ExitCode::from(rollgate::EXIT_ERROR);
        }
    };
    match runtime.block_on(rollgate::commands::run(cli)) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(err) => {
            eprintln!("rollgate: error: {err:#}");
            ExitCode::from(rollgate::EXIT_ERROR)
        }
    }
}
