//! The F1 assistant's tools: typed lookups over the knowledge base with JSON
//! Schema parameters, the `<tool_call>` format the model writes, and the entity
//! resolution a fan's wording needs ("Checo", "Interlagos 2016", "last season").

pub mod call;
mod error;
pub mod execute;
pub mod prompt;
pub mod resolve;
pub mod spec;

pub use call::{parse_reply, Reply, ToolCall};
pub use error::ToolError;
pub use execute::{Outcome, Toolbox};
