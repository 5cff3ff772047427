//! Perplexity of reference answers: the negative log-likelihood of each
//! conversation's final assistant turn given everything before it.

use std::path::Path;

use candle_core::Device;
use f1_model::chat::{ChatMessage, ChatTemplate};
use f1_model::gguf::GgufMetadata;
use f1_model::transformer::{ForwardOptions, Transformer, WeightFormat};
use f1_model::Tokenizer;
use serde::Serialize;

use crate::data::{Batch, Encoder};
use crate::error::Result;
use crate::loss::summed_nll;

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
    let metadata = GgufMetadata::read(model)?;
    let mut transformer = Transformer::from_gguf(&metadata, WeightFormat::F32, &Device::Cpu)?;
    if let Some(adapter) = adapter {
        crate::peft::attach_adapter(&mut transformer, adapter)?;
    }
    let tokenizer = Tokenizer::from_metadata(&metadata)?;
    let template = ChatTemplate::from_gguf(&metadata)?;
    let encoder = Encoder {
        tokenizer: &tokenizer,
        template: &template,
        system_prompt,
        max_tokens,
    };
    let options = ForwardOptions::training(None);
    let mut losses = Vec::with_capacity(conversations.len());
    for conversation in conversations {
        let sequence = encoder.encode_last_reply(conversation)?;
        let tokens = sequence.scored_tokens();
        let nll = if tokens == 0 {
            0.0
        } else {
            let batch = Batch::new(&[vec![&sequence]]);
            summed_nll(&mut transformer, &batch, &options)?
                .detach()
                .to_scalar::<f32>()? as f64
        };
        losses.push(ReplyLoss { nll, tokens });
        progress();
    }
    Ok(losses)
}
