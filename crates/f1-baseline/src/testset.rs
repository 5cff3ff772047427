//! Reading a dataset split (the `data build` JSONL) back as test cases.

use std::collections::HashMap;
use std::path::Path;

use f1_eval::facts::{grade, Asked, FamilyEntities, Verdict};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A chat message as the dataset writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// A gold answer entity and its accepted spellings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gold {
    pub text: String,
    pub aliases: Vec<String>,
}

/// What the evaluation needs to know about an example.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseMetadata {
    pub id: String,
    pub family: String,
    pub fact_id: String,
    #[serde(default)]
    pub test_kind: Option<String>,
    pub gold: Vec<Gold>,
}

/// One conversation whose last assistant message is the reference answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Case {
    pub messages: Vec<Message>,
    pub metadata: CaseMetadata,
}

/// Every gold entity of `cases`, by family: what an answer naming another
/// entity of the family is graded against.
pub fn family_entities<'a>(
    cases: impl IntoIterator<Item = &'a Case>,
) -> HashMap<String, FamilyEntities> {
    let mut families: HashMap<String, FamilyEntities> = HashMap::new();
    for case in cases {
        let family = families.entry(case.metadata.family.clone()).or_default();
        case.metadata
            .gold
            .iter()
            .for_each(|g| family.add(&g.aliases));
    }
    families
}

impl Case {
    /// Each gold entity's accepted spellings, as the grader takes them.
    pub fn gold_aliases(&self) -> Vec<Vec<String>> {
        self.metadata
            .gold
            .iter()
            .map(|g| g.aliases.clone())
            .collect()
    }

    /// Everything before the reference answer: the context and the question.
    pub fn conversation(&self) -> &[Message] {
        &self.messages[..self.messages.len() - 1]
    }

    /// The last user message.
    pub fn question(&self) -> &str {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map_or("", |m| m.content.as_str())
    }

    /// The conversation up to the last question, without the calls and results
    /// that answered it (a tool conversation's history keeps its earlier ones).
    pub fn up_to_question(&self) -> &[Message] {
        let last_user = self.messages.iter().rposition(|m| m.role == "user");
        &self.messages[..last_user.map_or(0, |i| i + 1)]
    }

    /// The reference answer.
    pub fn reference(&self) -> &str {
        &self.messages[self.messages.len() - 1].content
    }

    /// Grades `answer` to this case's question against its gold and the other
    /// entities of its `family` ([`grade`]).
    pub fn grade(&self, answer: &str, family: &FamilyEntities) -> Verdict {
        let asked = Asked {
            question: self.question(),
            reference: self.reference(),
        };
        grade(asked, answer, &self.gold_aliases(), family)
    }

    /// Every user message joined: what retrieval searches with.
    pub fn user_text(&self) -> String {
        self.messages
            .iter()
            .filter(|m| m.role == "user")
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Reads a split, checking each line is a conversation that ends with an
/// assistant's answer to a user.
pub fn read_cases(path: &Path) -> Result<Vec<Case>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut cases = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let invalid = |message: String| Error::Input {
            path: path.to_path_buf(),
            line: index + 1,
            message,
        };
        let case: Case = serde_json::from_str(line).map_err(|e| invalid(e.to_string()))?;
        let roles: Vec<&str> = case.messages.iter().map(|m| m.role.as_str()).collect();
        // The answer may follow calls and their results (a tool conversation).
        let after_question = roles
            .iter()
            .rposition(|r| *r == "user")
            .map(|i| &roles[i + 1..]);
        let answered = after_question.is_some_and(|rest| {
            rest.last() == Some(&"assistant")
                && rest.iter().all(|r| matches!(*r, "assistant" | "tool"))
        });
        if !answered {
            return Err(invalid(format!(
                "messages must end with a user question and its assistant answer (calls and tool results may come between), found roles {roles:?}"
            )));
        }
        cases.push(case);
    }
    if cases.is_empty() {
        return Err(Error::Input {
            path: path.to_path_buf(),
            line: 0,
            message: "no examples".into(),
        });
    }
    Ok(cases)
}
