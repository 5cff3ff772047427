//! The validation probe: a fixed set of validation questions that the model in
//! training answers greedily at each evaluation, graded for fact accuracy. Its
//! recall questions ask training facts in a phrasing training never used, so
//! their accuracy says whether the facts were learned, which the loss does not.

use std::collections::HashMap;
use std::path::Path;

use f1_baseline::Case;
use f1_eval::facts::FamilyEntities;
use f1_model::chat::{ChatMessage, ChatTemplate};
use f1_model::generate::{generate_batch, GenerationConfig};
use f1_model::model::LentModel;
use f1_model::transformer::{ForwardOptions, Kernels, Transformer};
use f1_model::Tokenizer;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What kind of question a probe question is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A training fact in a held-out phrasing.
    Recall,
    /// A subject training never saw.
    Unseen,
}

struct Question {
    kind: Kind,
    /// The test case: its question, reference and gold, for the grader.
    case: Case,
    prompt: Vec<u32>,
}

/// The probe's questions, tokenized once.
pub struct Probe {
    questions: Vec<Question>,
    entities: HashMap<String, FamilyEntities>,
    max_tokens: usize,
}

/// One evaluation's probe accuracies (None where the probe has no such question).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ProbeScore {
    pub recall: Option<f64>,
    pub unseen: Option<f64>,
}

/// Rows generated together.
const BATCH: usize = 32;

impl Probe {
    /// Up to `recall` recall and `unseen` unseen questions of a validation file
    /// (each spread over the file), rendered with `system_prompt` and the chat
    /// template. `Ok(None)` when both counts are 0.
    pub fn read(
        path: &Path,
        counts: (usize, usize),
        max_tokens: usize,
        system_prompt: &str,
        tokenizer: &Tokenizer,
        template: &ChatTemplate,
    ) -> Result<Option<Self>> {
        let (recall, unseen) = counts;
        if recall + unseen == 0 {
            return Ok(None);
        }
        let cases = f1_baseline::read_cases(path).map_err(|e| Error::Data {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let of_kind = |kind: Kind| -> Vec<&Case> {
            cases
                .iter()
                .filter(|c| {
                    (c.metadata.test_kind.as_deref() == Some("recall")) == (kind == Kind::Recall)
                })
                .collect()
        };
        let (recall_cases, unseen_cases) = (of_kind(Kind::Recall), of_kind(Kind::Unseen));
        if recall > 0 && recall_cases.is_empty() {
            return Err(Error::Data {
                path: path.to_path_buf(),
                message: "the probe asks for recall questions but the file has none (build the data with val_recall_fraction > 0)".into(),
            });
        }
        let picked: Vec<(Kind, &Case)> = [
            (Kind::Recall, recall_cases, recall),
            (Kind::Unseen, unseen_cases, unseen),
        ]
        .into_iter()
        .filter(|(_, _, count)| *count > 0)
        .flat_map(|(kind, pool, count)| {
            f1_baseline::spread(&pool, count)
                .into_iter()
                .map(|case| (kind, *case))
                .collect::<Vec<_>>()
        })
        .collect();
        let entities = f1_baseline::family_entities(picked.iter().map(|(_, case)| *case));
        let mut questions = Vec::new();
        for (kind, case) in picked {
            let mut messages = Vec::new();
            if !system_prompt.is_empty() {
                messages.push(ChatMessage::new("system", system_prompt));
            }
            messages.extend(
                case.conversation()
                    .iter()
                    .map(|m| ChatMessage::new(&m.role, &m.content)),
            );
            let prompt = tokenizer.encode_prompt(&template.render(&messages, true)?)?;
            questions.push(Question {
                kind,
                case: case.clone(),
                prompt,
            });
        }
        Ok(Some(Self {
            questions,
            entities,
            max_tokens,
        }))
    }

    /// Questions of each kind: (recall, unseen).
    pub fn counts(&self) -> (usize, usize) {
        let recall = self
            .questions
            .iter()
            .filter(|q| q.kind == Kind::Recall)
            .count();
        (recall, self.questions.len() - recall)
    }

    /// Greedy answers of `transformer` (f32 kernels, no dropout), graded.
    pub fn run(&self, transformer: &mut Transformer, tokenizer: &Tokenizer) -> Result<ProbeScore> {
        let config = GenerationConfig {
            max_tokens: self.max_tokens,
            ..GenerationConfig::default()
        };
        let mut model = LentModel {
            transformer,
            options: ForwardOptions {
                kernels: Kernels::Fused,
                ..ForwardOptions::inference()
            },
        };
        let mut right = HashMap::<bool, (usize, usize)>::new();
        let empty = FamilyEntities::default();
        for chunk in self.questions.chunks(BATCH) {
            let prompts: Vec<Vec<u32>> = chunk.iter().map(|q| q.prompt.clone()).collect();
            let answers = generate_batch(&mut model, tokenizer, &prompts, &config)?;
            for (question, answer) in chunk.iter().zip(answers) {
                let case = &question.case;
                let family = self.entities.get(&case.metadata.family).unwrap_or(&empty);
                let correct = case.grade(&answer.text, family).is_correct();
                let tally = right.entry(question.kind == Kind::Recall).or_default();
                tally.0 += usize::from(correct);
                tally.1 += 1;
            }
        }
        let share = |recall: bool| right.get(&recall).map(|(r, n)| *r as f64 / *n as f64);
        Ok(ProbeScore {
            recall: share(true),
            unseen: share(false),
        })
    }
}
