//! The dataset builder's errors.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value that cannot be used.
    #[error("{path}: {message}")]
    Config { path: String, message: String },
    /// Nothing to build from.
    #[error("no facts to build a dataset from: {0}")]
    Empty(String),
    /// A test (or validation) example that training would have seen.
    #[error("leakage check failed: {0}")]
    Leakage(String),
    #[error(transparent)]
    Data(#[from] f1_data::Error),
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

impl From<f1_files::Error> for Error {
    fn from(e: f1_files::Error) -> Self {
        Error::io(e.path, e.source)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
