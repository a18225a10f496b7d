//! `rollgate synth`: simulate each dataset of a datasets file, write its scrapes, judge it with
//! the gates and say whether the verdict is the one its story calls for.

use anyhow::{bail, Context};

use crate::analysis::gates::Gates;
use crate::cli::SynthArgs;
use crate::synth::{self, spec};

use super::Outcome;

pub async fn run(args: SynthArgs) -> anyhow::Result<Outcome> {
    let gates = match &args.gates {
        Some(path) => Gates::load(path)?,
        None => Gates::seed()?,
    };
    let mut datasets = spec::load(&args.datasets)?;
    if let Some(only) = &args.only {
        datasets.retain(|d| &d.name == only);
        if datasets.is_empty() {
            bail!("{} has no dataset named {only:?}", args.datasets.display());
        }
    }
    let out = match &args.out {
        Some(dir) => dir.clone(),
        None => args
            .datasets
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default(),
    };
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create output directory {}", out.display()))?;
    let mut wrong = 0;
    for dataset in &datasets {
        let (path, store) = synth::write(dataset, &out)?;
        let Some(verdict) = synth::judge(&gates, args.phase, store).await else {
            bail!("{} holds no samples", path.display());
        };
        match synth::mismatch(dataset, &verdict) {
            None => println!(
                "ok    {:<28} {:<9} {}",
                dataset.name,
                verdict.verdict.as_str(),
                path.display()
            ),
            Some(why) => {
                wrong += 1;
                println!("WRONG {:<28} {why}", dataset.name);
            }
        }
    }
    for dataset in datasets.iter().filter(|_| args.seeds > 0) {
        let mut held = 0;
        for i in 1..=u64::from(args.seeds) {
            let mut reseeded = dataset.clone();
            reseeded.seed = dataset.seed.wrapping_add(i);
            let store = synth::simulate(&reseeded)?;
            let verdict = synth::judge(&gates, args.phase, store).await;
            if verdict.is_some_and(|v| synth::mismatch(&reseeded, &v).is_none()) {
                held += 1;
            }
        }
        println!(
            "seeds {:<28} expected verdict under {held} of {} other seeds",
            dataset.name, args.seeds
        );
    }
    match wrong {
        0 => Ok(Outcome::Success),
        n => {
            eprintln!(
                "{n} of {} datasets did not get their expected verdict",
                datasets.len()
            );
            Ok(Outcome::Failed)
        }
    }
}
