//! Perplexity of reference answers: the negative log-likelihood of each
//! conversation's final assistant turn given everything before it.

use std::path::Path;

use f1_model::chat::ChatMessage;
use serde::Serialize;

use crate::data::Encoder;
use crate::error::Result;
use crate::scorer::Scorer;

/// One reply's summed negative log-likelihood (nats) over its scored tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ReplyLoss {
    pub nll: f64,
    pub tokens: usize,
}

impl ReplyLoss {
    pub fn perplexity(&self) -> f64 {
        (self.nll / self.tokens.max(1) as f64).exp()
    }
}

/// The loss of each conversation's last reply under `model` (dequantized to f32,
/// as training sees it) with `adapter` attached when given; the conversations
/// are rendered with the model's template and `system_prompt` first, truncated
/// to `max_tokens`.
pub fn reply_losses(
    model: &Path,
    adapter: Option<&Path>,
    conversations: &[Vec<ChatMessage>],
    system_prompt: &str,
    max_tokens: usize,
    mut progress: impl FnMut(),
) -> Result<Vec<ReplyLoss>> {
    let mut scorer = Scorer::load(model, adapter)?;
    let mut losses = Vec::with_capacity(conversations.len());
    for conversation in conversations {
        let encoder = Encoder {
            tokenizer: &scorer.tokenizer,
            template: &scorer.template,
            system_prompt,
            max_tokens,
        };
        let sequence = encoder.encode_last_reply(conversation)?;
        let tokens = sequence.scored_tokens();
        let log_likelihood = scorer
            .model()
            .log_likelihoods(std::slice::from_ref(&sequence))?[0];
        losses.push(ReplyLoss {
            nll: -log_likelihood,
            tokens,
        });
        progress();
    }
    Ok(losses)
}
