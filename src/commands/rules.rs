//! `rollgate rules`: load the gates, export the phase's alerts, write the rule file (or print it).

use anyhow::Context;

use crate::analysis::gates::Gates;
use crate::analysis::rules::{self, Options};
use crate::cli::RulesArgs;

use super::Outcome;

pub fn run(args: RulesArgs) -> anyhow::Result<Outcome> {
    let gates = match &args.gates {
        Some(path) => Gates::load(path)?,
        None => Gates::seed()?,
    };
    let export = rules::export(
        &gates,
        Options {
            phase: args.phase,
            time_scale: args.time_scale,
        },
    )?;
    let text = rules::render(&export);
    match &args.out {
        Some(path) => {
            crate::run_dir::write_atomic(path, text.as_bytes())
                .with_context(|| format!("cannot write the rule file {}", path.display()))?;
            eprintln!(
                "{} alerts for the {} phase written to {} ({} checks left out, listed at its top)",
                export.alerts.len(),
                export.phase.as_str(),
                path.display(),
                export.omitted.len()
            );
        }
        None => {
            let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
        }
    }
    Ok(Outcome::Success)
}
