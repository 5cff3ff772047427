//! What can go wrong while reading the results and writing the report.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Data { path: PathBuf, message: String },
    #[error("drawing the chart {chart}: {message}")]
    Draw { chart: String, message: String },
    #[error("{0}")]
    Font(String),
    #[error("rendering the report: {0}")]
    Template(#[from] minijinja::Error),
    /// Writing a file (through a temporary file and a rename).
    #[error(transparent)]
    Write(#[from] f1_files::Error),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub fn data(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        Self::Data {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
