//! Baseline or canary: which deployment a request, a thread or a series belongs to. The load
//! engine's canary split assigns it, the reference assistant labels every series with it, and the
//! analyzer compares one against the other.

use serde::{Deserialize, Serialize};

/// Which side of a canary comparison.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// The current release.
    Baseline,
    /// The release being rolled out.
    Canary,
}

impl Variant {
    /// `baseline` or `canary`, as in the `variant` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Baseline => "baseline",
            Variant::Canary => "canary",
        }
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
