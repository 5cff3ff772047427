//! Chat templates: the model's own Jinja template from its metadata (rendered with
//! minijinja, as Hugging Face writes them), or a built-in ChatML or Gemma template.

use minijinja::{context, Environment};
use serde::Serialize;

use std::path::Path;

use crate::error::{Error, Result};
use crate::gguf::GgufMetadata;
use crate::tokenizer::hugging_face::TokenizerConfig;
use crate::transformer::Architecture;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: &str) -> Self {
        Self {
            role: role.to_string(),
            content: content.to_string(),
        }
    }
}

/// ChatML, as SmolLM2 and Qwen write it.
pub const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// Gemma's turns; a system message is folded into the first user turn.
pub const GEMMA: &str = "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set prefix = messages[0]['content'] + '\n\n' %}{% set turns = messages[1:] %}{% else %}{% set prefix = '' %}{% set turns = messages %}{% endif %}{% for message in turns %}{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}{{ '<start_of_turn>' + role + '\n' + (prefix if loop.first else '') + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}";

/// A model's chat template and the special tokens it refers to.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    pub source: String,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// The template in the GGUF metadata, else the built-in one for the architecture.
    pub fn from_gguf(meta: &GgufMetadata) -> Result<Self> {
        let source = if meta.has("tokenizer.chat_template") {
            meta.string("tokenizer.chat_template")?
        } else if meta.string("general.architecture")?.starts_with("gemma") {
            GEMMA.to_string()
        } else {
            CHATML.to_string()
        };
        let tokens = meta.strings("tokenizer.ggml.tokens")?;
        let token = |key: &str| -> Result<String> {
            Ok(match meta.has(key) {
                true => tokens
                    .get(meta.u32(key)? as usize)
                    .cloned()
                    .unwrap_or_default(),
                false => String::new(),
            })
        };
        Ok(Self {
            source,
            bos_token: token("tokenizer.ggml.bos_token_id")?,
            eos_token: token("tokenizer.ggml.eos_token_id")?,
        })
    }

    /// The template of a Hugging Face folder (tokenizer_config.json's
    /// `chat_template` or chat_template.jinja), else the built-in one for
    /// `architecture`; BOS and EOS texts from tokenizer_config.json.
    pub fn from_hugging_face(dir: &Path, architecture: Architecture) -> Result<Self> {
        let config = TokenizerConfig::read(dir)?;
        let source = match config.chat_template(dir)? {
            Some(source) => source,
            None if architecture == Architecture::Gemma3 => GEMMA.to_string(),
            None => CHATML.to_string(),
        };
        Ok(Self::new(
            &source,
            config.bos_token().unwrap_or_default(),
            config.eos_token().unwrap_or_default(),
        ))
    }

    /// A template given as text (a tokenizer_config.json's `chat_template`).
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Self {
        Self {
            source: source.to_string(),
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
        }
    }

    /// The prompt text for `messages`, ending with the assistant's turn opening when
    /// `add_generation_prompt` is set.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let mut env = Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> std::result::Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    message,
                ))
            },
        );
        let template = env
            .template_from_str(&self.source)
            .map_err(|e| Error::Tokenizer(format!("chat template: {e}")))?;
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                bos_token => self.bos_token,
                eos_token => self.eos_token,
            })
            .map_err(|e| Error::Tokenizer(format!("chat template: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_and_gemma_render_as_the_models_expect() {
        let messages = [
            ChatMessage::new("system", "You are an F1 expert."),
            ChatMessage::new("user", "Who won in 2021?"),
        ];
        let chatml = ChatTemplate::new(CHATML, "", "<|im_end|>")
            .render(&messages, true)
            .unwrap();
        assert_eq!(
            chatml,
            "<|im_start|>system\nYou are an F1 expert.<|im_end|>\n<|im_start|>user\nWho won in 2021?<|im_end|>\n<|im_start|>assistant\n"
        );
        let gemma = ChatTemplate::new(GEMMA, "<bos>", "<eos>")
            .render(&messages, true)
            .unwrap();
        assert_eq!(
            gemma,
            "<bos><start_of_turn>user\nYou are an F1 expert.\n\nWho won in 2021?<end_of_turn>\n<start_of_turn>model\n"
        );
    }

    #[test]
    fn template_errors_are_reported() {
        let broken = ChatTemplate::new("{% if %}", "", "");
        assert!(broken.render(&[], false).is_err());
        let raising = ChatTemplate::new("{{ raise_exception('roles must alternate') }}", "", "");
        let error = raising.render(&[], false).unwrap_err().to_string();
        assert!(error.contains("roles must alternate"), "{error}");
    }
}
