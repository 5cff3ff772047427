//! The knowledge base's error type: every variant names the file, line or field at fault.

use std::path::PathBuf;

/// Errors from importing, fetching or querying F1 data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A table the import needs is not in the data directory.
    #[error("missing table: {path} does not exist")]
    MissingTable { path: PathBuf },
    /// A CSV header is not the one the table expects.
    #[error("{path}: line 1: wrong header: {message}")]
    Header { path: PathBuf, message: String },
    /// One value in a CSV file could not be read as its column's type.
    #[error("{path}: line {line}, column '{column}': {message}")]
    Field {
        path: PathBuf,
        line: u64,
        column: String,
        message: String,
    },
    /// A CSV row that is not well formed (wrong field count, broken quoting).
    #[error("{path}: line {line}: malformed row: {message}")]
    Row {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// A well-formed row the schema rejects (duplicate key, unknown foreign key).
    #[error("{path}: line {line}: rejected by the schema: {message}")]
    Constraint {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// A source file (F1DB YAML) with a wrong type, a missing field or a
    /// reference to nothing.
    #[error("{path}: {message}")]
    Source { path: PathBuf, message: String },
    /// Loaded data that breaks an integrity rule.
    #[error("integrity check failed: {0}")]
    Integrity(String),
    /// No database where one was expected.
    #[error("no knowledge base at {path}: run `f1ai data import` first")]
    NoDatabase { path: PathBuf },
    /// An HTTP request that failed for good (after retries where they apply).
    #[error("request to {url} failed: {message}")]
    Http { url: String, message: String },
    /// A response body that is not the JSON shape the API documents.
    #[error("{source_name}: unexpected response: {message}")]
    Response {
        source_name: String,
        message: String,
    },
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with the knowledge base's [`Error`].
impl From<f1_files::Error> for Error {
    fn from(e: f1_files::Error) -> Self {
        Error::io(e.path, e.source)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
