//! What can go wrong reading the evaluation's files and asking the judge.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file's content is wrong as a whole (a field's value, no questions).
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    /// One line of a JSON Lines file is wrong.
    #[error("{}: line {line}: {message}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// No general-ability task has this name.
    #[error("unknown general-ability task '{name}' (known: {known})")]
    UnknownTask { name: String, known: String },
    /// The judge's endpoint failed, or its answer held no verdict.
    #[error("{0}")]
    Judge(String),
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn invalid(path: &Path, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
