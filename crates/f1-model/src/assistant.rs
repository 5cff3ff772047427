//! A chat model in one piece: weights, tokenizer and chat template.

use std::path::Path;

use candle_core::Device;

use crate::chat::{ChatMessage, ChatTemplate};
use crate::generate::{generate, Generation, GenerationConfig};
use crate::gguf::GgufMetadata;
use crate::model::GgufModel;
use crate::{Result, Tokenizer};

/// A GGUF model that answers chat messages.
pub struct Assistant {
    pub model: GgufModel,
    pub tokenizer: Tokenizer,
    pub template: ChatTemplate,
}

impl Assistant {
    /// Loads the model, its tokenizer and its chat template from one GGUF file.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let metadata = GgufMetadata::read(path)?;
        Ok(Self {
            model: GgufModel::from_metadata(&metadata, device)?,
            tokenizer: Tokenizer::from_metadata(&metadata)?,
            template: ChatTemplate::from_gguf(&metadata)?,
        })
    }

    /// The token ids of `messages` rendered with the generation prompt. A final
    /// assistant message is a prefill: the reply continues it (as llama.cpp's
    /// server does), which is how a caller forces an answer's format.
    pub fn prompt(&self, messages: &[ChatMessage]) -> Result<Vec<u32>> {
        let text = match messages.split_last() {
            Some((last, earlier)) if last.role == "assistant" => {
                self.template.render(earlier, true)? + &last.content
            }
            _ => self.template.render(messages, true)?,
        };
        self.tokenizer.encode_prompt(&text)
    }

    /// The assistant's next turn after `messages`; each new piece of text goes to
    /// `on_text` (return false to stop).
    pub fn reply(
        &mut self,
        messages: &[ChatMessage],
        config: &GenerationConfig,
        on_text: impl FnMut(&str) -> bool,
    ) -> Result<Generation> {
        let prompt = self.prompt(messages)?;
        generate(&mut self.model, &self.tokenizer, &prompt, config, on_text)
    }
}
