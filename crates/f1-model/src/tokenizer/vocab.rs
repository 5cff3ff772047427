//! A GGUF vocabulary: token texts, kinds, scores and special ids.

use std::collections::HashMap;

use crate::error::Result;
use crate::gguf::GgufMetadata;

/// A token's kind, as GGUF's `tokenizer.ggml.token_type` numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Normal,
    Unknown,
    Control,
    /// Matched in raw text before the model's algorithm runs (Gemma's "\n\n", "<td>").
    UserDefined,
    Unused,
    Byte,
}

impl TokenKind {
    fn from_gguf(n: i32) -> Self {
        match n {
            2 => TokenKind::Unknown,
            3 => TokenKind::Control,
            4 => TokenKind::UserDefined,
            5 => TokenKind::Unused,
            6 => TokenKind::Byte,
            _ => TokenKind::Normal,
        }
    }

    /// GGUF's number for this kind.
    pub fn to_gguf(self) -> i32 {
        match self {
            TokenKind::Normal => 1,
            TokenKind::Unknown => 2,
            TokenKind::Control => 3,
            TokenKind::UserDefined => 4,
            TokenKind::Unused => 5,
            TokenKind::Byte => 6,
        }
    }
}

/// Everything a tokenizer needs from the GGUF metadata.
pub struct Vocab {
    pub tokens: Vec<String>,
    pub kinds: Vec<TokenKind>,
    /// SentencePiece scores (empty for BPE vocabularies).
    pub scores: Vec<f32>,
    /// Text to id; a later duplicate wins, as in llama.cpp.
    pub ids: HashMap<String, u32>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub unknown: Option<u32>,
    pub padding: Option<u32>,
    pub add_bos: bool,
    pub add_space_prefix: bool,
}

impl Vocab {
    pub fn from_gguf(meta: &GgufMetadata) -> Result<Self> {
        let tokens = meta.strings("tokenizer.ggml.tokens")?;
        let kinds = if meta.has("tokenizer.ggml.token_type") {
            meta.i32s("tokenizer.ggml.token_type")?
                .into_iter()
                .map(TokenKind::from_gguf)
                .collect()
        } else {
            vec![TokenKind::Normal; tokens.len()]
        };
        let scores = if meta.has("tokenizer.ggml.scores") {
            meta.f32s("tokenizer.ggml.scores")?
        } else {
            Vec::new()
        };
        let ids = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let id = |key: &str| meta.has(key).then(|| meta.u32(key)).transpose();
        Ok(Self {
            bos: id("tokenizer.ggml.bos_token_id")?,
            eos: id("tokenizer.ggml.eos_token_id")?,
            unknown: id("tokenizer.ggml.unknown_token_id")?,
            padding: id("tokenizer.ggml.padding_token_id")?,
            add_bos: meta.bool_or("tokenizer.ggml.add_bos_token", false)?,
            add_space_prefix: meta.bool_or("tokenizer.ggml.add_space_prefix", false)?,
            tokens,
            kinds,
            scores,
            ids,
        })
    }

    /// Splits raw text around user-defined tokens (and control tokens too when
    /// `control` is set, as for rendered chat prompts), longest first, as llama.cpp
    /// does before running the model's own algorithm.
    pub fn partition<'t>(&self, text: &'t str, control: bool) -> Vec<Fragment<'t>> {
        let mut special: Vec<(u32, &str)> = self
            .kinds
            .iter()
            .enumerate()
            .filter(|(_, k)| {
                **k == TokenKind::UserDefined || (control && **k == TokenKind::Control)
            })
            .map(|(i, _)| (i as u32, self.tokens[i].as_str()))
            .filter(|(_, t)| !t.is_empty())
            .collect();
        special.sort_by_key(|(id, t)| (std::cmp::Reverse(t.len()), *id));
        let mut fragments = vec![Fragment::Text(text)];
        for (id, token) in special {
            fragments = fragments
                .into_iter()
                .flat_map(|fragment| match fragment {
                    Fragment::Text(t) if t.contains(token) => split_on(t, token, id),
                    other => vec![other],
                })
                .collect();
        }
        fragments
    }
}

/// A piece of input: raw text for the model's algorithm, or an already-found token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fragment<'t> {
    Text(&'t str),
    Token(u32),
}

fn split_on<'t>(text: &'t str, token: &str, id: u32) -> Vec<Fragment<'t>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(token) {
        if at > 0 {
            out.push(Fragment::Text(&rest[..at]));
        }
        out.push(Fragment::Token(id));
        rest = &rest[at + token.len()..];
    }
    if !rest.is_empty() {
        out.push(Fragment::Text(rest));
    }
    out
}
