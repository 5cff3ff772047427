//! Questions nobody templated, written by hand the way fans ask (colloquial,
//! misspelled, nicknames, "last season", two facts at once), each with its gold
//! entities and the calls that answer it, which a test runs on the real tables
//! to check the gold. Three sets: 66 (test kind `handwritten`), whose misses the
//! tool conversations' fan wording was later written after; 46 written blind
//! (test kind `blind`): without reading those templates or the first set (only
//! the study's one-line summary of the wording), knowing only the tools; and 43
//! sealed (test kind `sealed`): written the same way, after the blind set's
//! misses were read, and committed before any change made from them, whose
//! answers were not read until those changes were measured. They are answered
//! beside the test split, so every run reports its accuracy on each set
//! separately.

use std::path::Path;

use f1_tools::ToolCall;
use serde::Deserialize;

use crate::error::Result;
use crate::testset::{Case, CaseMetadata, Gold, Message};

/// One set of questions: its fixture, built into the binary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FanSet {
    /// The first 66, which the tool conversations' fan wording was written after.
    #[default]
    Handwritten,
    /// 46 written without reading the fan-wording templates or the first set.
    Blind,
    /// 43 written like the blind set and committed before the changes made from
    /// its misses.
    Sealed,
}

impl FanSet {
    pub const ALL: [FanSet; 3] = [FanSet::Handwritten, FanSet::Blind, FanSet::Sealed];

    /// The test kind its predictions carry.
    pub fn test_kind(self) -> &'static str {
        match self {
            Self::Handwritten => "handwritten",
            Self::Blind => "blind",
            Self::Sealed => "sealed",
        }
    }

    /// Its column in a report's table.
    pub fn label(self) -> &'static str {
        match self {
            Self::Handwritten => "hand-written",
            Self::Blind => "written blind",
            Self::Sealed => "sealed",
        }
    }

    /// What its questions are, after "n": "66 questions written by hand".
    pub fn description(self) -> &'static str {
        match self {
            Self::Handwritten => "questions written by hand",
            Self::Blind => "written blind to the fan wording it was trained on",
            Self::Sealed => "sealed before the changes made from the blind ones' misses",
        }
    }

    fn fixture(self) -> (&'static str, &'static str) {
        match self {
            Self::Handwritten => (
                include_str!("../fixtures/fan_questions.jsonl"),
                "crates/f1-baseline/fixtures/fan_questions.jsonl",
            ),
            Self::Blind => (
                include_str!("../fixtures/fan_questions_blind.jsonl"),
                "crates/f1-baseline/fixtures/fan_questions_blind.jsonl",
            ),
            Self::Sealed => (
                include_str!("../fixtures/fan_questions_sealed.jsonl"),
                "crates/f1-baseline/fixtures/fan_questions_sealed.jsonl",
            ),
        }
    }

    /// Its questions.
    pub fn questions(self) -> Result<Vec<FanQuestion>> {
        let (text, name) = self.fixture();
        let mut questions: Vec<FanQuestion> = crate::jsonl::parse_lines(text, Path::new(name))?;
        for question in &mut questions {
            question.set = self;
        }
        Ok(questions)
    }
}

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
    /// The set it belongs to (its fixture).
    #[serde(skip)]
    pub set: FanSet,
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
                test_kind: Some(self.set.test_kind().into()),
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

/// Every hand-written question, all three sets.
pub fn fan_questions() -> Result<Vec<FanQuestion>> {
    let mut questions = Vec::new();
    for set in FanSet::ALL {
        questions.extend(set.questions()?);
    }
    Ok(questions)
}
