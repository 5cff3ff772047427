//! The system prompt of a conversation with tools: what the assistant may call
//! and how.

use crate::call::{CLOSE, OPEN};
use crate::spec::TOOLS;

/// The instructions and the tools' signatures, one line each. The parameters'
/// full JSON Schemas are in [`crate::spec::Tool::openai_schema`]; a 135M-parameter
/// model fine-tuned on the format needs only the names.
pub fn system_prompt() -> String {
    let mut text = String::from(
        "You are an expert on Formula 1 history and statistics. Look facts up before \
         answering: write one call as ",
    );
    text.push_str(&format!(
        "{OPEN}{{\"name\": ..., \"arguments\": {{...}}}}{CLOSE}, then answer from the result. Tools:\n"
    ));
    for tool in TOOLS {
        text.push_str(&format!("- {}: {}\n", tool.signature(), tool.description));
    }
    text.push_str("If a lookup fails or cannot answer, say so.");
    text
}
