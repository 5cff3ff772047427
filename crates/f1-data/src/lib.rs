//! The F1 knowledge base: Ergast/Kaggle CSV import into SQLite, the Jolpica API
//! client, an embedded fallback fact set, and typed queries over it all.

pub mod documents;
mod error;
pub mod f1db;
pub mod fallback;
pub mod gap;
mod import;
pub mod integrity;
pub mod jolpica;
pub mod names;
pub mod query;
pub mod schema;
pub mod store;

pub use error::{Error, Result};
pub use import::{import_ergast, ImportSummary};
pub use query::KnowledgeBase;
pub use rusqlite;
