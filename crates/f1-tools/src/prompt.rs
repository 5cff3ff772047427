//! The system prompt of a conversation with tools: what the assistant may call
//! and how.

use crate::call::{CLOSE, OPEN};
use crate::spec::TOOLS;

/// The instructions and the tools' signatures. The parameters' JSON Schemas and
/// descriptions are in [`crate::spec::Tool::openai_schema`]; the prompt keeps to
/// the names (about 130 tokens), which a small model fine-tuned on the format needs.
pub fn system_prompt() -> String {
    let signatures: Vec<String> = TOOLS.iter().map(|t| t.signature()).collect();
    format!(
        "You are an expert on Formula 1 history and statistics. Look facts up before answering: \
         write {OPEN}{{\"name\": ..., \"arguments\": {{...}}}}{CLOSE}, then answer from the result, \
         or say the lookup failed. Tools: {}.",
        signatures.join(", ")
    )
}
