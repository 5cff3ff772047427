//! Questions nobody templated: 66 written by hand the way fans ask (colloquial,
//! misspelled, nicknames, "last season", two facts at once), each with its gold
//! entities and the calls that answer it, which a test runs on the real tables
//! to check the gold. They are answered beside the test split, as test kind
//! `handwritten`, so every run reports its accuracy on them separately.

use std::path::Path;

use f1_tools::ToolCall;
use serde::Deserialize;

use crate::error::Result;
use crate::testset::{Case, CaseMetadata, Gold, Message};

/// The fixture, built into the binary.
const FIXTURE: &str = include_str!("../fixtures/fan_questions.jsonl");
const FIXTURE_NAME: &str = "crates/f1-baseline/fixtures/fan_questions.jsonl";

/// The test kind their predictions carry.
pub const TEST_KIND: &str = "handwritten";

/// One hand-written question.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FanQuestion {
    pub id: String,
    /// colloquial, misspelled, nickname, relative or two-facts.
    pub style: String,
    pub question: String,
    /// A reference answer, checked to state every gold entity.
    pub answer: String,
    /// Each gold entity's accepted spellings.
    pub gold: Vec<Vec<String>>,
    /// The calls that answer it (their results hold the gold).
    pub calls: Vec<ToolCall>,
}

impl FanQuestion {
    /// The question as a test case under `system`, in the family of its first
    /// tool (what an answer naming another entity is graded against).
    pub fn case(&self, system: Option<&str>) -> Case {
        let mut messages: Vec<Message> = system
            .map(|content| Message {
                role: "system".into(),
                content: content.into(),
            })
            .into_iter()
            .collect();
        messages.push(Message {
            role: "user".into(),
            content: self.question.clone(),
        });
        messages.push(Message {
            role: "assistant".into(),
            content: self.answer.clone(),
        });
        let tool = self.calls.first().map_or("none", |c| c.name.as_str());
        Case {
            messages,
            metadata: CaseMetadata {
                id: self.id.clone(),
                family: format!("fan:{tool}"),
                fact_id: self.id.clone(),
                test_kind: Some(TEST_KIND.into()),
                gold: self
                    .gold
                    .iter()
                    .map(|aliases| Gold {
                        text: aliases.first().cloned().unwrap_or_default(),
                        aliases: aliases.clone(),
                    })
                    .collect(),
            },
        }
    }
}

/// Every hand-written question.
pub fn fan_questions() -> Result<Vec<FanQuestion>> {
    crate::jsonl::parse_lines(FIXTURE, Path::new(FIXTURE_NAME))
}
