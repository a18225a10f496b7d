//! `rollgate fake-zep`.

use crate::cli::FakeZepArgs;

use super::Outcome;

pub async fn run(_args: FakeZepArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("fake-zep is being built")
}
