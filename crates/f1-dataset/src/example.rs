//! One training or test example in the chat "messages" format, with its metadata.

use serde::{Serialize, Serializer};

use crate::fact::{Entity, Source};

/// Which split an example belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Test,
}

/// What a test example measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TestKind {
    /// A fact seen in training, asked in a phrasing training never used (in
    /// val.jsonl: the validation probe's questions).
    Recall,
    /// A fact whose whole subject (race, season, driver...) training never saw.
    Unseen,
    /// A fact of the latest season in the data, which no training example
    /// asks: an event after training.
    Future,
}

impl TestKind {
    /// The name the JSONL files use.
    pub fn as_str(self) -> &'static str {
        match self {
            TestKind::Recall => "recall",
            TestKind::Unseen => "unseen",
            TestKind::Future => "future",
        }
    }
}

/// Short answer or full sentence with context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    Short,
    Full,
}

impl Style {
    /// The other style.
    pub fn other(self) -> Self {
        match self {
            Style::Short => Style::Full,
            Style::Full => Style::Short,
        }
    }
}

/// A chat turn, as Hugging Face datasets and OpenAI fine-tuning write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub role: &'static str,
    pub content: String,
    /// `Some(0)`: an assistant message kept as context but not learned (OpenAI's
    /// fine-tuning `weight`); left out, it is learned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u8>,
}

impl Message {
    pub fn new(role: &'static str, content: String) -> Self {
        Self {
            role,
            content,
            weight: None,
        }
    }
}

/// What one question-answer turn asked and where its answer came from.
#[derive(Debug, Clone, Serialize)]
pub struct Turn {
    pub family: &'static str,
    pub fact_id: String,
    /// Index into the family's phrasings (or a follow-up's question variants).
    pub phrasing_id: usize,
    pub style: Style,
    pub gold: Vec<Entity>,
    #[serde(serialize_with = "sources_as_objects")]
    pub sources: Vec<Source>,
    /// The tool call that looks the fact up (see `tool_use`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call: Option<f1_tools::ToolCall>,
}

/// Metadata of an example. The top-level fields describe the last turn, the one an
/// evaluation grades; `turns` describes every turn.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    pub id: String,
    pub split: Split,
    pub test_kind: Option<TestKind>,
    #[serde(flatten)]
    pub last: Turn,
    pub turns: Vec<Turn>,
}

/// One conversation: alternating user and assistant messages.
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    pub messages: Vec<Message>,
    pub metadata: Metadata,
}

impl Example {
    /// The user turns joined: what the leakage check compares.
    pub fn question_text(&self) -> String {
        self.messages
            .iter()
            .filter(|m| m.role == "user")
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Every fact id the conversation asks about.
    pub fn fact_ids(&self) -> impl Iterator<Item = &str> {
        self.metadata.turns.iter().map(|t| t.fact_id.as_str())
    }
}

/// `{"table": "results", "key": {"result_id": 24706}}`.
fn sources_as_objects<S: Serializer>(sources: &[Source], serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = serializer.serialize_seq(Some(sources.len()))?;
    for source in sources {
        let key: serde_json::Map<String, serde_json::Value> = source
            .key
            .iter()
            .map(|(column, id)| (column.to_string(), (*id).into()))
            .collect();
        seq.serialize_element(&serde_json::json!({ "table": source.table, "key": key }))?;
    }
    seq.end()
}
