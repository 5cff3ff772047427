//! A SentencePiece vocabulary (GGUF's `llama` type, Gemma's) as Hugging Face's
//! tokenizer.json: a BPE model with byte fallback whose merges are read off the
//! piece scores, as transformers' `SentencePieceExtractor` builds them. BPE then
//! merges the pair whose result scores highest, as SentencePiece and llama.cpp do.

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::replace::Replace;
use tokenizers::DecoderWrapper;

use super::vocab::{TokenKind, Vocab};
use crate::error::{Error, Result};

/// SentencePiece's word-boundary mark, which stands for a space.
const SPACE_MARK: &str = "\u{2581}";

/// The `tokenizers` form of `vocab`. Vocabularies that add a leading space
/// (`add_space_prefix`, Llama 2) are refused: only Gemma's form is checked here.
pub fn build(vocab: &Vocab) -> Result<tokenizers::Tokenizer> {
    let error = |e: tokenizers::Error| Error::Tokenizer(e.to_string());
    if vocab.add_space_prefix {
        return Err(Error::Tokenizer(
            "a SentencePiece vocabulary that adds a leading space is not written as \
             tokenizer.json (only Gemma's form, without it, is)"
                .into(),
        ));
    }
    let unknown = vocab
        .tokens
        .iter()
        .zip(&vocab.kinds)
        .find(|(_, kind)| **kind == TokenKind::Unknown)
        .map(|(text, _)| text.clone());
    let ids: tokenizers::models::bpe::Vocab = vocab
        .tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let mut builder = BPE::builder()
        .vocab_and_merges(ids, merges(vocab))
        .byte_fallback(true)
        .fuse_unk(true);
    if let Some(unknown) = unknown {
        builder = builder.unk_token(unknown);
    }
    let bpe = builder.build().map_err(error)?;
    let mut tokenizer = tokenizers::Tokenizer::new(bpe);
    let space = Replace::new(" ", SPACE_MARK).map_err(error)?;
    let unspace = Replace::new(SPACE_MARK, " ").map_err(error)?;
    tokenizer
        .with_normalizer(Some(space))
        .with_decoder(Some(Sequence::new(vec![
            DecoderWrapper::Replace(unspace),
            DecoderWrapper::ByteFallback(ByteFallback::new()),
            DecoderWrapper::Fuse(Fuse::new()),
        ])));
    Ok(tokenizer)
}

/// Every split of every piece into two pieces of the vocabulary, best-scoring
/// piece first (lowest id on a tie), a piece's splits by their parts' ids.
/// Byte tokens are no merge's result.
fn merges(vocab: &Vocab) -> Vec<(String, String)> {
    let score = |id: usize| vocab.scores.get(id).copied().unwrap_or(0.0);
    let mut pieces: Vec<usize> = (0..vocab.tokens.len())
        .filter(|&id| vocab.kinds[id] != TokenKind::Byte)
        .collect();
    pieces.sort_by(|&a, &b| score(b).total_cmp(&score(a)).then(a.cmp(&b)));
    let mut merges = Vec::new();
    for piece in pieces {
        let text = vocab.tokens[piece].as_str();
        let mut splits: Vec<(u32, u32, &str, &str)> = text
            .char_indices()
            .skip(1)
            .filter_map(|(at, _)| {
                let (left, right) = text.split_at(at);
                Some((*vocab.ids.get(left)?, *vocab.ids.get(right)?, left, right))
            })
            .collect();
        splits.sort_unstable();
        merges.extend(
            splits
                .into_iter()
                .map(|(_, _, l, r)| (l.to_string(), r.to_string())),
        );
    }
    merges
}
