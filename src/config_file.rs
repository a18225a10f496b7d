//! Reading a TOML file that a user edits (a scenario, a gate file): the one way rollgate turns a
//! bad value into an error that names the file, the line and the field.
//!
//! For: reading the text, mapping TOML parse errors (syntax, unknown keys, wrong types) to a line,
//! and checking values that parse but are out of range. Not for: the shape of any particular file
//! (each file type has its raw serde structs and its resolver).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use thiserror::Error;
use toml::Spanned;

/// Why a file could not be used.
#[derive(Debug, Error)]
pub enum FileError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not valid TOML, an unknown key or a value of the wrong type.
    #[error("{path}:{line}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem (0 if unknown).
        line: usize,
        /// What the TOML parser said (it names the field).
        message: String,
    },
    /// A well-typed value that is not allowed.
    #[error("{path}:{line}: field `{field}`: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the value.
        line: usize,
        /// Dotted field name, such as `load.rate`.
        field: String,
        /// What is wrong, and what is allowed.
        reason: String,
    },
}

/// A file's text, kept to turn byte offsets into line numbers.
pub struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl<'a> Source<'a> {
    /// The text of `path`.
    pub fn new(path: &'a Path, text: &'a str) -> Source<'a> {
        Source { path, text }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.path
    }

    /// Deserializes the whole file into its raw shape.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, FileError> {
        toml::from_str(self.text).map_err(|err| FileError::Syntax {
            path: self.path.to_path_buf(),
            line: err.span().map_or(0, |span| self.line(span.start)),
            message: err.message().trim().to_string(),
        })
    }

    /// 1-based line of a byte offset.
    pub fn line(&self, offset: usize) -> usize {
        self.text
            .get(..offset)
            .map_or(0, |before| before.matches('\n').count() + 1)
    }

    /// An error about the value at `span`.
    pub fn invalid(&self, span: Range<usize>, field: &str, reason: impl Into<String>) -> FileError {
        FileError::Invalid {
            path: self.path.to_path_buf(),
            line: self.line(span.start),
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    /// A duration such as `"10m"` or `"250ms"`, at most `max`.
    pub fn duration(
        &self,
        value: &Spanned<String>,
        field: &str,
        max: Duration,
    ) -> Result<Duration, FileError> {
        let parsed = humantime::parse_duration(value.get_ref()).map_err(|err| {
            self.invalid(
                value.span(),
                field,
                format!(
                    "`{}` is not a duration such as \"30s\" or \"10m\" ({err})",
                    value.get_ref()
                ),
            )
        })?;
        if parsed > max {
            return Err(self.invalid(
                value.span(),
                field,
                format!("must be at most {}", humantime::format_duration(max)),
            ));
        }
        Ok(parsed)
    }

    /// A number within `low..=high`.
    pub fn range(
        &self,
        value: &Spanned<f64>,
        field: &str,
        low: f64,
        high: f64,
    ) -> Result<f64, FileError> {
        let v = *value.get_ref();
        if !(v.is_finite() && (low..=high).contains(&v)) {
            return Err(self.invalid(
                value.span(),
                field,
                format!("{v} is outside {low}..={high}"),
            ));
        }
        Ok(v)
    }
}

/// Reads `path` as text.
pub fn read(path: &Path) -> Result<String, FileError> {
    std::fs::read_to_string(path).map_err(|source| FileError::Read {
        path: path.to_path_buf(),
        source,
    })
}
