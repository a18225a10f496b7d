//! `rollgate report`: glue between the command line and [`crate::report::write`].

use crate::cli::ReportArgs;
use crate::commands::Outcome;

/// Runs `rollgate report`: writes the report files and prints where they are.
pub fn run(args: ReportArgs) -> anyhow::Result<Outcome> {
    let summary = crate::report::write(&args.run_dir)?;
    println!("verdict: {}", summary.verdict);
    for f in &summary.files {
        println!("wrote {}", f.display());
    }
    for w in &summary.warnings {
        eprintln!("warning: {w}");
    }
    Ok(Outcome::Success)
}
