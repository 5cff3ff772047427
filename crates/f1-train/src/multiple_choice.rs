//! Multiple choice by log-likelihood, as lm-evaluation-harness scores it: each
//! choice is a continuation of the question's context, and its log-likelihood
//! is the sum over the continuation's tokens.

use std::str::FromStr;

use f1_model::chat::ChatMessage;
use serde::{Deserialize, Serialize};

use crate::data::Sequence;
use crate::error::Result;
use crate::scorer::Scorer;

/// How the question is put to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChoiceFormat {
    /// The model's chat template: system prompt, the question as the user's turn,
    /// the choice as the start of the assistant's reply (the harness with
    /// `--apply_chat_template`).
    Chat,
    /// The harness's plain default: `Question: {q}\nAnswer:` then ` {choice}`.
    Plain,
}

impl FromStr for ChoiceFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "chat" => Ok(Self::Chat),
            "plain" => Ok(Self::Plain),
            other => Err(format!("unknown format {other:?} (chat or plain)")),
        }
    }
}

impl Scorer {
    /// The log-likelihood (nats) of each choice given the question.
    pub fn choice_log_likelihoods(
        &mut self,
        question: &str,
        choices: &[String],
        format: ChoiceFormat,
        system_prompt: &str,
    ) -> Result<Vec<f64>> {
        let (context, delimiter) = match format {
            ChoiceFormat::Plain => (format!("Question: {question}\nAnswer:"), " "),
            ChoiceFormat::Chat => {
                let mut messages = Vec::new();
                if !system_prompt.is_empty() {
                    messages.push(ChatMessage::new("system", system_prompt));
                }
                messages.push(ChatMessage::new("user", question));
                (self.template.render(&messages, true)?, "")
            }
        };
        let sequences = choices
            .iter()
            .map(|choice| self.encode_pair(&context, &format!("{delimiter}{choice}"), format))
            .collect::<Result<Vec<_>>>()?;
        // Usually every choice starts with the same context tokens: run them once.
        let context_tokens = sequences[0].trained.iter().take_while(|t| !**t).count();
        let prefix = &sequences[0].ids[..context_tokens];
        let shared = context_tokens > 0
            && sequences
                .iter()
                .all(|s| s.ids.len() > context_tokens && s.ids.starts_with(prefix));
        if shared {
            let continuations: Vec<Vec<u32>> = sequences
                .iter()
                .map(|s| s.ids[context_tokens..].to_vec())
                .collect();
            self.continuation_log_likelihoods(prefix, &continuations)
        } else {
            self.log_likelihoods(&sequences)
        }
    }

    /// The harness's `_encode_pair`: trailing spaces of the context move to the
    /// continuation; the continuation's tokens are those of `context +
    /// continuation` after as many tokens as the context alone has.
    pub fn encode_pair(
        &self,
        context: &str,
        continuation: &str,
        format: ChoiceFormat,
    ) -> Result<Sequence> {
        let trimmed = context.trim_end_matches(' ');
        let continuation = format!("{}{continuation}", &context[trimmed.len()..]);
        let encode = |text: &str| match format {
            ChoiceFormat::Plain => self.tokenizer.encode_with_bos(text),
            ChoiceFormat::Chat => self.tokenizer.encode_prompt(text),
        };
        let context_tokens = encode(trimmed)?.len();
        let ids = encode(&format!("{trimmed}{continuation}"))?;
        let trained = (0..ids.len()).map(|i| i >= context_tokens).collect();
        Ok(Sequence { ids, trained })
    }
}
