//! A chat model in one piece: weights, tokenizer and chat template.

use std::path::Path;

use candle_core::Device;

use crate::chat::{ChatMessage, ChatTemplate};
use crate::generate::{generate, generate_batch, Generation, GenerationConfig};
use crate::gguf::GgufMetadata;
use crate::model::{GgufModel, Precision};
use crate::transformer::Transformer;
use crate::{Result, Tokenizer};

/// A model that answers chat messages.
pub struct Assistant {
    pub model: GgufModel,
    pub tokenizer: Tokenizer,
    pub template: ChatTemplate,
}

impl Assistant {
    /// Loads the model, its tokenizer and its chat template from one GGUF file or
    /// a Hugging Face folder (config.json, safetensors, tokenizer.json).
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        Self::load_with(path, device, Precision::Native)
    }

    /// [`Assistant::load`] with the weights held in `precision`.
    pub fn load_with(path: &Path, device: &Device, precision: Precision) -> Result<Self> {
        if path.is_dir() {
            let (transformer, tokenizer, template) = load_hugging_face(path, device)?;
            return Ok(Self {
                model: GgufModel::from_transformer(transformer, path, precision),
                tokenizer,
                template,
            });
        }
        let metadata = GgufMetadata::read(path)?;
        Ok(Self {
            model: GgufModel::from_metadata(&metadata, device, precision)?,
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

    /// The next turn after each conversation, decoded together as one batch
    /// (see [`generate_batch`]).
    pub fn reply_batch(
        &mut self,
        conversations: &[Vec<ChatMessage>],
        config: &GenerationConfig,
    ) -> Result<Vec<Generation>> {
        let prompts = conversations
            .iter()
            .map(|messages| self.prompt(messages))
            .collect::<Result<Vec<_>>>()?;
        generate_batch(&mut self.model, &self.tokenizer, &prompts, config)
    }
}

/// The weights (f32), tokenizer and chat template of a Hugging Face model folder.
pub fn load_hugging_face(
    dir: &Path,
    device: &Device,
) -> Result<(Transformer, Tokenizer, ChatTemplate)> {
    let transformer = Transformer::from_hugging_face_folder(dir, device)?;
    let architecture = transformer.config.architecture;
    Ok((
        transformer,
        Tokenizer::from_hugging_face(dir)?,
        ChatTemplate::from_hugging_face(dir, architecture)?,
    ))
}
