//! How a baseline asks its questions: zero-shot, few-shot from train, or with
//! retrieved fact sentences.

use std::fmt;
use std::str::FromStr;

use f1_model::chat::ChatMessage;
use sha2::{Digest, Sha256};

use crate::retrieval::FactIndex;
use crate::testset::Case;

/// The system prompt every mode starts with.
pub const SYSTEM_PROMPT: &str =
    "You are an expert on Formula 1 history and statistics. Answer the question accurately and concisely.";

/// The system prompt with retrieved fact sentences appended, as RAG asks.
pub fn grounded_system_prompt(facts: &[String]) -> String {
    let mut system = SYSTEM_PROMPT.to_string();
    system.push_str(" These facts from the Formula 1 database may help:");
    for fact in facts {
        system.push_str("\n- ");
        system.push_str(fact);
    }
    system
}

/// A prompting mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ZeroShot,
    FewShot,
    Rag,
    /// The model calls the knowledge base's tools (see `tool_loop`).
    Tools,
}

impl Mode {
    /// The modes a baseline runs when none is named.
    pub const DEFAULT: [Mode; 3] = [Mode::ZeroShot, Mode::FewShot, Mode::Rag];
    pub const ALL: [Mode; 4] = [Mode::ZeroShot, Mode::FewShot, Mode::Rag, Mode::Tools];

    pub fn name(self) -> &'static str {
        match self {
            Mode::ZeroShot => "zero-shot",
            Mode::FewShot => "few-shot",
            Mode::Rag => "rag",
            Mode::Tools => "tools",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown mode '{s}' (zero-shot, few-shot, rag or tools)"))
    }
}

/// The messages sent for one case, and the facts retrieval put in them.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub messages: Vec<ChatMessage>,
    pub facts: Vec<String>,
}

/// Builds each case's prompt for one mode.
pub enum PromptBuilder<'a> {
    ZeroShot,
    /// These single-turn train examples come first, as earlier turns.
    FewShot(Vec<&'a Case>),
    /// The top `k` sentences for the case's questions go in the system prompt.
    Rag {
        index: &'a FactIndex,
        k: usize,
    },
    /// The case as its tool conversation has it (system prompt with the tools,
    /// earlier calls and results), up to the question.
    Tools,
}

impl<'a> PromptBuilder<'a> {
    /// `k` single-turn train examples from `k` different families, chosen by a
    /// seeded hash of their ids so every run with the same seed shows the same ones.
    pub fn few_shot(train: &'a [Case], k: usize, seed: u64) -> Self {
        let mut candidates: Vec<&Case> = train.iter().filter(|c| c.messages.len() == 2).collect();
        candidates.sort_by_key(|c| Sha256::digest(format!("{seed}:{}", c.metadata.id)));
        let mut shots: Vec<&Case> = Vec::with_capacity(k);
        for case in candidates {
            if shots.len() == k {
                break;
            }
            if !shots
                .iter()
                .any(|s| s.metadata.family == case.metadata.family)
            {
                shots.push(case);
            }
        }
        PromptBuilder::FewShot(shots)
    }

    pub fn mode(&self) -> Mode {
        match self {
            PromptBuilder::ZeroShot => Mode::ZeroShot,
            PromptBuilder::FewShot(_) => Mode::FewShot,
            PromptBuilder::Rag { .. } => Mode::Rag,
            PromptBuilder::Tools => Mode::Tools,
        }
    }

    pub fn build(&self, case: &Case) -> Prompt {
        if let PromptBuilder::Tools = self {
            let mut messages: Vec<ChatMessage> = case
                .up_to_question()
                .iter()
                .map(|m| ChatMessage::new(&m.role, &m.content))
                .collect();
            if messages.first().is_none_or(|m| m.role != "system") {
                messages.insert(
                    0,
                    ChatMessage::new("system", &f1_tools::prompt::system_prompt()),
                );
            }
            return Prompt {
                messages,
                facts: Vec::new(),
            };
        }
        let mut system = SYSTEM_PROMPT.to_string();
        let mut facts = Vec::new();
        let mut messages = Vec::new();
        match self {
            PromptBuilder::ZeroShot => {}
            PromptBuilder::FewShot(shots) => {
                for shot in shots {
                    messages.extend(
                        shot.messages
                            .iter()
                            .map(|m| ChatMessage::new(&m.role, &m.content)),
                    );
                }
            }
            PromptBuilder::Tools => unreachable!("built above"),
            PromptBuilder::Rag { index, k } => {
                facts = index
                    .search(&case.user_text(), *k)
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                system = grounded_system_prompt(&facts);
            }
        }
        messages.insert(0, ChatMessage::new("system", &system));
        messages.extend(
            case.conversation()
                .iter()
                .map(|m| ChatMessage::new(&m.role, &m.content)),
        );
        Prompt { messages, facts }
    }
}
