//! A tokenizer as Hugging Face stores one: tokenizer.json (the `tokenizers`
//! crate's format) beside tokenizer_config.json (BOS, EOS, whether a BOS is
//! added, the chat template).

use std::path::Path;

use serde::Deserialize;

use super::vocab::{TokenKind, Vocab};
use crate::error::{Error, Result};

pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";
/// Where newer transformers versions keep the chat template.
pub const CHAT_TEMPLATE_FILE: &str = "chat_template.jinja";

/// A special token, written as its text or as an added-token object.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SpecialToken {
    Text(String),
    Added { content: String },
}

impl SpecialToken {
    fn text(&self) -> &str {
        match self {
            SpecialToken::Text(text) | SpecialToken::Added { content: text } => text,
        }
    }
}

/// A chat template: one, or several by name (`default` is the chat one).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TemplateField {
    One(String),
    Named(Vec<NamedTemplate>),
}

#[derive(Debug, Deserialize)]
struct NamedTemplate {
    name: String,
    template: String,
}

/// What this project reads from tokenizer_config.json; other keys are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct TokenizerConfig {
    bos_token: Option<SpecialToken>,
    eos_token: Option<SpecialToken>,
    unk_token: Option<SpecialToken>,
    pad_token: Option<SpecialToken>,
    add_bos_token: Option<bool>,
    chat_template: Option<TemplateField>,
}

impl TokenizerConfig {
    /// Reads `dir`/tokenizer_config.json (all fields unset when there is none).
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(TOKENIZER_CONFIG_FILE);
        if !path.is_file() {
            return Ok(Self::default());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::HuggingFace {
            path,
            message: e.to_string(),
        })
    }

    pub fn bos_token(&self) -> Option<&str> {
        self.bos_token.as_ref().map(SpecialToken::text)
    }

    pub fn eos_token(&self) -> Option<&str> {
        self.eos_token.as_ref().map(SpecialToken::text)
    }

    pub fn unk_token(&self) -> Option<&str> {
        self.unk_token.as_ref().map(SpecialToken::text)
    }

    pub fn pad_token(&self) -> Option<&str> {
        self.pad_token.as_ref().map(SpecialToken::text)
    }

    /// The chat template: the config's (the `default` one of several), else
    /// chat_template.jinja in `dir`.
    pub fn chat_template(&self, dir: &Path) -> Result<Option<String>> {
        match &self.chat_template {
            Some(TemplateField::One(template)) => return Ok(Some(template.clone())),
            Some(TemplateField::Named(templates)) => {
                if let Some(t) = templates.iter().find(|t| t.name == "default") {
                    return Ok(Some(t.template.clone()));
                }
            }
            None => {}
        }
        let path = dir.join(CHAT_TEMPLATE_FILE);
        match path.is_file() {
            true => std::fs::read_to_string(&path)
                .map(Some)
                .map_err(|e| Error::io(&path, e)),
            false => Ok(None),
        }
    }
}

/// Reads `dir`/tokenizer.json. Added tokens in text are left to
/// [`Vocab::partition`], as for GGUF vocabularies, so the `tokenizers` crate
/// never matches them itself.
pub fn read(dir: &Path) -> Result<(tokenizers::Tokenizer, Vocab)> {
    let path = dir.join(TOKENIZER_FILE);
    let invalid = |message: String| Error::HuggingFace {
        path: path.clone(),
        message,
    };
    if !path.is_file() {
        return Err(invalid("not found (the folder has no tokenizer)".into()));
    }
    let mut tokenizer =
        tokenizers::Tokenizer::from_file(&path).map_err(|e| invalid(e.to_string()))?;
    tokenizer.set_encode_special_tokens(true);
    let config = TokenizerConfig::read(dir)?;
    let size = tokenizer.get_vocab_size(true);
    let mut tokens = vec![String::new(); size];
    for (text, id) in tokenizer.get_vocab(true) {
        match tokens.get_mut(id as usize) {
            Some(slot) => *slot = text,
            None => return Err(invalid(format!("token id {id} is outside 0..{size}"))),
        }
    }
    let mut kinds = vec![TokenKind::Normal; size];
    for (id, added) in tokenizer.get_added_tokens_decoder() {
        if let Some(kind) = kinds.get_mut(id as usize) {
            *kind = match added.special {
                true => TokenKind::Control,
                false => TokenKind::UserDefined,
            };
        }
    }
    let id_of = |text: Option<&str>, field: &str| -> Result<Option<u32>> {
        text.map(|t| {
            tokenizer.token_to_id(t).ok_or_else(|| {
                invalid(format!(
                    "{TOKENIZER_CONFIG_FILE}'s {field} '{t}' is not in the vocabulary"
                ))
            })
        })
        .transpose()
    };
    let vocab = Vocab {
        bos: id_of(config.bos_token(), "bos_token")?,
        eos: id_of(config.eos_token(), "eos_token")?,
        // Optional ids, dropped when not in the vocabulary (as llama.cpp's converter does).
        unknown: config.unk_token().and_then(|t| tokenizer.token_to_id(t)),
        padding: config.pad_token().and_then(|t| tokenizer.token_to_id(t)),
        add_bos: config.add_bos_token.unwrap_or(false),
        add_space_prefix: false,
        ids: tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect(),
        tokens,
        kinds,
        scores: Vec::new(),
    };
    Ok((tokenizer, vocab))
}

/// `tokenizer` with the vocabulary's control and user-defined tokens added, as
/// Hugging Face marks them, so that transformers splits them out of text.
pub fn with_added_tokens(
    mut tokenizer: tokenizers::Tokenizer,
    vocab: &Vocab,
) -> tokenizers::Tokenizer {
    let added = |kind: TokenKind, special: bool| -> Vec<tokenizers::AddedToken> {
        vocab
            .kinds
            .iter()
            .zip(&vocab.tokens)
            .filter(|(k, t)| **k == kind && !t.is_empty())
            .map(|(_, t)| tokenizers::AddedToken::from(t.clone(), special))
            .collect()
    };
    tokenizer.add_special_tokens(&added(TokenKind::Control, true));
    tokenizer.add_tokens(&added(TokenKind::UserDefined, false));
    tokenizer
}
