//! The trainer's errors.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration file with an unknown key or an impossible value.
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    /// A training or validation file that cannot be used.
    #[error("{path}: {message}")]
    Data { path: PathBuf, message: String },
    /// A checkpoint or adapter that does not fit the model or run.
    #[error("{path}: {message}")]
    Artifact { path: PathBuf, message: String },
    /// A setting the chosen device cannot run.
    #[error("{0}")]
    Unsupported(String),
    /// The loss stopped being a finite number.
    #[error("{0}")]
    Diverged(String),
    #[error(transparent)]
    Model(#[from] f1_model::Error),
    /// A general-ability file or task that cannot be read.
    #[error(transparent)]
    Eval(#[from] f1_eval::Error),
    #[error("tensor: {0}")]
    Tensor(#[from] candle_core::Error),
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
