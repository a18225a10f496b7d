//! A client for a fake Zep's admin API (`/__rollgate/`): swap the fault program, reset, and read the
//! journal and its derived queries. Works against an embedded [`super::FakeZep`] or one started with
//! `rollgate fake-zep` (for example the one a staging assistant is pointed at).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use thiserror::Error;

use super::journal::{Duplicates, LogicalWrite, Query, Snapshot};
use super::INTERNAL_PREFIX;

/// Why an admin call failed.
#[derive(Debug, Error)]
pub enum AdminError {
    /// The request did not complete.
    #[error("fake zep admin {url}: {error}")]
    Http {
        /// The URL called.
        url: String,
        /// The transport error.
        error: reqwest::Error,
    },
    /// The fake answered with an error status (a rejected fault program, for example).
    #[error("fake zep admin {url}: HTTP {status}: {message}")]
    Status {
        /// The URL called.
        url: String,
        /// The status.
        status: u16,
        /// The `message` of the body, or the body.
        message: String,
    },
    /// The answer was not the expected JSON.
    #[error("fake zep admin {url}: unexpected answer: {error}")]
    Decode {
        /// The URL called.
        url: String,
        /// The decoding error.
        error: serde_json::Error,
    },
}

/// A client for one fake Zep's admin API.
#[derive(Debug, Clone)]
pub struct AdminClient {
    base: String,
    http: reqwest::Client,
}

impl AdminClient {
    /// A client for the fake Zep at `base_url` (`http://127.0.0.1:PORT`).
    pub fn new(base_url: &str) -> AdminClient {
        AdminClient {
            base: format!("{}{INTERNAL_PREFIX}", base_url.trim_end_matches('/')),
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap_or_else(|_| reqwest::Client::new()),
        }
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<String, AdminError> {
        let http_err = |error| AdminError::Http {
            url: url.to_string(),
            error,
        };
        let response = request.send().await.map_err(http_err)?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(http_err)?;
        if status >= 400 {
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
                .unwrap_or(body);
            return Err(AdminError::Status {
                url: url.to_string(),
                status,
                message,
            });
        }
        Ok(body)
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        route: &str,
        query: &[(&str, String)],
    ) -> Result<T, AdminError> {
        let url = format!("{}{route}", self.base);
        let body = self.send(self.http.get(&url).query(query), &url).await?;
        serde_json::from_str(&body).map_err(|error| AdminError::Decode { url, error })
    }

    /// The loaded fault program, as TOML.
    pub async fn faults(&self) -> Result<String, AdminError> {
        let url = format!("{}/faults", self.base);
        self.send(self.http.get(&url), &url).await
    }

    /// Replaces the fault program; a malformed one is rejected with the parser's message.
    pub async fn set_faults(&self, program_toml: &str) -> Result<(), AdminError> {
        let url = format!("{}/faults", self.base);
        self.send(self.http.put(&url).body(program_toml.to_string()), &url)
            .await
            .map(drop)
    }

    /// Reloads the startup program and clears the journal and stored data.
    pub async fn reset(&self) -> Result<(), AdminError> {
        let url = format!("{}/reset", self.base);
        self.send(self.http.post(&url), &url).await.map(drop)
    }

    /// Journal entries matching `query`.
    pub async fn journal(&self, query: &Query) -> Result<Snapshot, AdminError> {
        let mut params = Vec::new();
        if let Some(thread) = &query.thread {
            params.push(("thread", thread.clone()));
        }
        if let Some(route) = &query.route {
            params.push(("route", route.clone()));
        }
        if let Some(since) = query.since {
            params.push(("since", since.to_string()));
        }
        if let Some(limit) = query.limit {
            params.push(("limit", limit.to_string()));
        }
        self.get_json("/journal", &params).await
    }

    /// Attempts per logical write, optionally for one thread.
    pub async fn attempts(&self, thread: Option<&str>) -> Result<Vec<LogicalWrite>, AdminError> {
        let params: Vec<(&str, String)> = thread
            .map(|t| ("thread", t.to_string()))
            .into_iter()
            .collect();
        self.get_json("/journal/attempts", &params).await
    }

    /// Writes stored more than once.
    pub async fn duplicates(&self) -> Result<Duplicates, AdminError> {
        self.get_json("/journal/duplicates", &[]).await
    }

    /// Reads per turn, per thread.
    pub async fn reads_per_turn(&self) -> Result<BTreeMap<String, Vec<u32>>, AdminError> {
        self.get_json("/journal/reads", &[]).await
    }
}
