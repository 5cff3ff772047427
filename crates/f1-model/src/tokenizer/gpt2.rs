//! GPT-2 style byte-level BPE from GGUF metadata, built with the `tokenizers` crate.

use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{PreTokenizerWrapper, SplitDelimiterBehavior};

use super::vocab::Vocab;
use crate::error::{Error, Result};
use crate::gguf::GgufMetadata;

/// llama.cpp's pre-tokenizer regexes that run before the GPT-2 byte-level split,
/// by `tokenizer.ggml.pre`.
fn extra_splits(pre: &str) -> Result<Vec<&'static str>> {
    match pre {
        "default" | "gpt-2" | "gpt2" => Ok(Vec::new()),
        // llama.cpp's SMOLLM (and STARCODER, REFACT...): every digit on its own.
        "smollm" | "starcoder" | "refact" | "codeshell" => Ok(vec![r"\p{N}"]),
        other => Err(Error::Tokenizer(format!(
            "pre-tokenizer '{other}' is not supported for gpt2 vocabularies"
        ))),
    }
}

pub fn build(meta: &GgufMetadata, vocab: &Vocab) -> Result<tokenizers::Tokenizer> {
    let merges = meta
        .strings("tokenizer.ggml.merges")?
        .into_iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| Error::Tokenizer(format!("malformed merge '{m}'")))
        })
        .collect::<Result<Vec<_>>>()?;
    let token_ids: tokenizers::models::bpe::Vocab = vocab
        .tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(token_ids, merges)
        .build()
        .map_err(|e| Error::Tokenizer(e.to_string()))?;
    let pre = if meta.has("tokenizer.ggml.pre") {
        meta.string("tokenizer.ggml.pre")?
    } else {
        "default".to_string()
    };
    let mut steps: Vec<PreTokenizerWrapper> = Vec::new();
    for pattern in extra_splits(&pre)? {
        let split = Split::new(
            SplitPattern::Regex(pattern.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| Error::Tokenizer(e.to_string()))?;
        steps.push(split.into());
    }
    steps.push(ByteLevel::new(false, false, true).into());
    let mut tokenizer = tokenizers::Tokenizer::new(bpe);
    tokenizer
        .with_pre_tokenizer(Some(Sequence::new(steps)))
        .with_decoder(Some(ByteLevel::default()));
    Ok(tokenizer)
}
