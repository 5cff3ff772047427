use std::path::PathBuf;

/// What can go wrong while loading or serving models.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("model '{0}' is not served (known: {1})")]
    UnknownModel(String, String),
    #[error("model id '{0}' is given twice")]
    DuplicateModel(String),
    #[error("no model to serve")]
    NoModels,
    #[error("loading {path}: {message}")]
    Load { path: PathBuf, message: String },
    #[error(transparent)]
    Model(#[from] f1_model::Error),
    #[error(transparent)]
    Lookup(#[from] f1_baseline::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Http(String),
}

pub type Result<T> = std::result::Result<T, Error>;
