//! Why a call failed, as the model reads it in the tool result.

use serde_json::{json, Value};

/// A failed call. Its JSON form is the tool result the model answers from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolError {
    #[error("no tool '{name}'; the tools are {}", known.join(", "))]
    UnknownTool { name: String, known: Vec<String> },
    #[error("{tool}: {message}")]
    InvalidArguments { tool: &'static str, message: String },
    /// Nothing in the data answers to the name.
    #[error("no {what} matches '{query}'")]
    NotFound {
        what: &'static str,
        query: String,
        candidates: Vec<String>,
    },
    /// Several things answer to the name and nothing tells them apart.
    #[error("'{query}' could be several {what}s: {}", candidates.join(", "))]
    Ambiguous {
        what: &'static str,
        query: String,
        candidates: Vec<String>,
    },
    /// The subject exists but the tables hold no such record (a future race, a
    /// session that was not run).
    #[error("{0}")]
    NoData(String),
    #[error("database error: {0}")]
    Database(String),
}

impl ToolError {
    /// A short machine-readable kind: `unknown_tool`, `invalid_arguments`...
    pub fn kind(&self) -> &'static str {
        match self {
            ToolError::UnknownTool { .. } => "unknown_tool",
            ToolError::InvalidArguments { .. } => "invalid_arguments",
            ToolError::NotFound { .. } => "not_found",
            ToolError::Ambiguous { .. } => "ambiguous",
            ToolError::NoData(_) => "no_data",
            ToolError::Database(_) => "database",
        }
    }

    /// `{"error": kind, "message": ..., "candidates": [...]}`.
    pub fn to_json(&self) -> Value {
        let mut value = json!({"error": self.kind(), "message": self.to_string()});
        if let ToolError::NotFound { candidates, .. } | ToolError::Ambiguous { candidates, .. } =
            self
        {
            if !candidates.is_empty() {
                value["candidates"] = json!(candidates);
            }
        }
        value
    }
}

impl From<f1_data::Error> for ToolError {
    fn from(e: f1_data::Error) -> Self {
        ToolError::Database(e.to_string())
    }
}
