//! One model's answer to one test case, as the predictions JSONL holds it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::testset::Gold;
use crate::tool_loop::ToolStep;

/// A prediction with what the evaluation needs: the reference, the gold entities,
/// and what it cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prediction {
    pub id: String,
    /// The model's registry name (`smollm2`).
    pub model: String,
    /// `base`, `lora` or `full`.
    pub method: String,
    /// The fine-tuned model's own name (its training run), when fine-tuned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// `zero-shot`, `few-shot`, `rag` or `tools`.
    pub mode: String,
    pub family: String,
    pub fact_id: String,
    pub test_kind: Option<String>,
    pub question: String,
    pub reference: String,
    pub prediction: String,
    pub gold: Vec<Gold>,
    /// The fact sentences retrieval put in the prompt (rag only).
    #[serde(default)]
    pub retrieved: Vec<String>,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    pub latency_s: f64,
    /// `stop` or `length`.
    pub finish_reason: String,
    /// The calls the model made and their results (tools only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_steps: Vec<ToolStep>,
}

impl Prediction {
    /// Whether the first call named a tool with valid arguments (None: no call).
    pub fn first_call_valid(&self) -> Option<bool> {
        self.tool_steps.first().map(|s| s.is_valid_call())
    }
}

/// Writes predictions as JSONL through a temp file and a rename.
pub fn write_predictions(path: &Path, predictions: &[Prediction]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut text = String::new();
    for prediction in predictions {
        text.push_str(&serde_json::to_string(prediction).expect("predictions serialize"));
        text.push('\n');
    }
    Ok(f1_files::write(path, text.as_bytes())?)
}

/// Reads a predictions file; a line with a missing or mistyped field is an error
/// naming the file, the line and the field.
pub fn read_predictions(path: &Path) -> Result<Vec<Prediction>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    crate::jsonl::parse_lines(&text, path)
}
