//! GGUF tokenizer metadata from a Hugging Face folder's tokenizer.json, as
//! llama.cpp's convert_hf_to_gguf.py writes it: byte-level BPE (GGUF's `gpt2`
//! type: GPT-2, SmolLM2, Llama 3, Qwen...) and SentencePiece written as BPE with
//! byte fallback (GGUF's `llama` type: Gemma). tokenizer.json keeps no piece
//! scores; a SentencePiece vocabulary's are read off the merges (a piece scores
//! minus the rank of its first merge), which makes llama.cpp's highest-score-first
//! merging pick the pairs BPE's lowest-rank-first merging picks.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::Value;
use serde_json::Value as Json;

use super::hugging_face::{self, TokenizerConfig, TOKENIZER_FILE};
use super::vocab::TokenKind;
use crate::error::{Error, Result};

/// The `tokenizer.*` keys for the tokenizer in `dir`, with the vocabulary padded
/// to `vocab_size` entries (`[PAD<i>]`, unused) when the model's embedding is
/// larger than the tokenizer, as llama.cpp's converter pads it.
pub fn tokenizer_metadata(dir: &Path, vocab_size: usize) -> Result<Vec<(String, Value)>> {
    let path = dir.join(TOKENIZER_FILE);
    let invalid = |message: String| Error::HuggingFace {
        path: path.clone(),
        message,
    };
    let (_, vocab) = hugging_face::read(dir)?;
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let json: Json = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let form = Form::of(&json).map_err(&invalid)?;
    let merges = merges(&json).map_err(&invalid)?;
    if vocab.tokens.len() > vocab_size {
        return Err(invalid(format!(
            "{} tokens, more than the model's vocab_size {vocab_size}",
            vocab.tokens.len()
        )));
    }
    let (mut tokens, mut kinds) = (vocab.tokens, vocab.kinds);
    for i in tokens.len()..vocab_size {
        tokens.push(format!("[PAD{i}]"));
        kinds.push(TokenKind::Unused);
    }
    let strings = |items: Vec<String>| Value::Array(items.into_iter().map(Value::String).collect());
    let mut metadata = Vec::new();
    match form {
        Form::ByteLevel { pre } => metadata.extend([
            (
                "tokenizer.ggml.model".to_string(),
                Value::String("gpt2".into()),
            ),
            ("tokenizer.ggml.pre".into(), Value::String(pre.into())),
            (
                "tokenizer.ggml.merges".into(),
                strings(merges.iter().map(|(l, r)| format!("{l} {r}")).collect()),
            ),
        ]),
        Form::SentencePiece => {
            for (kind, token) in kinds.iter_mut().zip(&tokens) {
                if *kind == TokenKind::Normal && super::byte_token(token).is_some() {
                    *kind = TokenKind::Byte;
                }
            }
            let scores = piece_scores(&tokens, &kinds, &merges);
            metadata.extend([
                (
                    "tokenizer.ggml.model".to_string(),
                    Value::String("llama".into()),
                ),
                ("tokenizer.ggml.pre".into(), Value::String("default".into())),
                (
                    "tokenizer.ggml.scores".into(),
                    Value::Array(scores.into_iter().map(Value::F32).collect()),
                ),
            ]);
        }
    }
    metadata.extend([
        ("tokenizer.ggml.tokens".into(), strings(tokens)),
        (
            "tokenizer.ggml.token_type".into(),
            Value::Array(kinds.iter().map(|k| Value::I32(k.to_gguf())).collect()),
        ),
        (
            "tokenizer.ggml.add_bos_token".into(),
            Value::Bool(vocab.add_bos),
        ),
        ("tokenizer.ggml.add_space_prefix".into(), Value::Bool(false)),
    ]);
    let ids = [
        ("bos_token_id", vocab.bos),
        ("eos_token_id", vocab.eos),
        ("unknown_token_id", vocab.unknown),
        ("padding_token_id", vocab.padding),
    ];
    for (key, id) in ids {
        if let Some(id) = id {
            metadata.push((format!("tokenizer.ggml.{key}"), Value::U32(id)));
        }
    }
    if let Some(template) = TokenizerConfig::read(dir)?.chat_template(dir)? {
        metadata.push(("tokenizer.chat_template".into(), Value::String(template)));
    }
    Ok(metadata)
}

/// The tokenizer.json forms GGUF has a type for.
enum Form {
    /// Byte-level BPE after `pre`, llama.cpp's name for the split before it:
    /// GPT-2's alone (`gpt-2`), or each digit on its own first (`smollm`).
    ByteLevel { pre: &'static str },
    /// SentencePiece as BPE: spaces replaced by U+2581, byte fallback, no split.
    SentencePiece,
}

impl Form {
    fn of(json: &Json) -> std::result::Result<Self, String> {
        let model = &json["model"];
        let model_type = model["type"].as_str().unwrap_or("none");
        let byte_level = |step: &Json| {
            step["type"] == "ByteLevel"
                && step["use_regex"] != false
                && step["add_prefix_space"] != true
        };
        let single_digits = |step: &Json| match step["type"].as_str() {
            Some("Digits") => step["individual_digits"] == true,
            Some("Split") => {
                step["pattern"]["Regex"] == r"\p{N}"
                    && step["behavior"] == "Isolated"
                    && step["invert"] != true
            }
            _ => false,
        };
        let (normalizer, pre) = (&json["normalizer"], &json["pre_tokenizer"]);
        let spaces_marked = normalizer["type"] == "Replace"
            && normalizer["pattern"]["String"] == " "
            && normalizer["content"] == "\u{2581}";
        let steps: Vec<&Json> = match pre["type"].as_str() {
            Some("Sequence") => pre["pretokenizers"]
                .as_array()
                .map(|steps| steps.iter().collect())
                .unwrap_or_default(),
            _ => vec![pre],
        };
        let form = match (model_type, normalizer.is_null(), steps.as_slice()) {
            ("BPE", true, [step]) if byte_level(step) => Some(Form::ByteLevel { pre: "gpt-2" }),
            ("BPE", true, [digits, step]) if single_digits(digits) && byte_level(step) => {
                Some(Form::ByteLevel { pre: "smollm" })
            }
            ("BPE", false, [step])
                if step.is_null() && spaces_marked && model["byte_fallback"] == true =>
            {
                Some(Form::SentencePiece)
            }
            _ => None,
        };
        form.ok_or_else(|| {
            format!(
                "only byte-level BPE tokenizers (GGUF's gpt2 type, GPT-2's split alone or \
                 after single digits) and SentencePiece as BPE (spaces as U+2581, byte \
                 fallback, no pre-tokenizer: GGUF's llama type) are written to GGUF; this \
                 one is a {model_type} model with normalizer {normalizer} and pre_tokenizer \
                 {pre} (convert the folder with llama.cpp's convert_hf_to_gguf.py)"
            )
        })
    }
}

/// SentencePiece scores that make llama.cpp merge as BPE does with `merges`:
/// a piece scores minus the rank of the first merge that makes it; pieces no
/// merge makes score 0, control and user-defined tokens -1000 (as llama.cpp's
/// converter scores them).
fn piece_scores(tokens: &[String], kinds: &[TokenKind], merges: &[(String, String)]) -> Vec<f32> {
    let mut first_rank: HashMap<String, usize> = HashMap::new();
    for (rank, (left, right)) in merges.iter().enumerate() {
        first_rank.entry(format!("{left}{right}")).or_insert(rank);
    }
    tokens
        .iter()
        .zip(kinds)
        .map(|(token, kind)| match kind {
            TokenKind::Control | TokenKind::UserDefined => -1000.0,
            _ => first_rank.get(token).map_or(0.0, |&rank| -(rank as f32)),
        })
        .collect()
}

/// The BPE merges in rank order (tokenizer.json keeps each as "left right" or as
/// a `[left, right]` pair).
fn merges(json: &Json) -> std::result::Result<Vec<(String, String)>, String> {
    let merges = json["model"]["merges"]
        .as_array()
        .ok_or("model.merges is missing")?;
    merges
        .iter()
        .map(|merge| {
            let pair = match merge {
                Json::String(text) => text.split_once(' '),
                Json::Array(pair) => match pair.as_slice() {
                    [Json::String(left), Json::String(right)] => {
                        Some((left.as_str(), right.as_str()))
                    }
                    _ => None,
                },
                _ => None,
            };
            pair.map(|(l, r)| (l.to_string(), r.to_string()))
                .ok_or_else(|| format!("malformed merge {merge}"))
        })
        .collect()
}
