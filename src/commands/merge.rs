//! `rollgate merge`: add the shards of one load run into one run directory.

use crate::cli::MergeArgs;
use crate::load::merge;

use super::Outcome;

pub fn run(args: MergeArgs) -> anyhow::Result<Outcome> {
    let dir = merge::merge(&args.dirs, &args.out)?;
    println!("{}", dir.display());
    Ok(Outcome::Success)
}
