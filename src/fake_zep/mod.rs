//! A fake Zep server (work in progress).

/// Body of the 401 sent for a wrong API key.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum AuthBody {
    /// `{"message": "unauthorized"}` as JSON (Zep Cloud).
    Json,
    /// `unauthorized\n` as text/plain (Zep Community Edition).
    Text,
}
