//! Text generation with a KV cache: greedy or sampled (temperature, top-k, top-p,
//! seed; candle's LogitsProcessor), repetition penalty, stop strings and tokens,
//! a token budget and a streaming callback.

use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};

use crate::error::{Error, Result};
use crate::model::GgufModel;
use crate::tokenizer::Tokenizer;

/// How to pick each next token.
#[derive(Debug, Clone)]
pub struct GenerationConfig {
    pub max_tokens: usize,
    /// 0 means greedy.
    pub temperature: f64,
    pub top_k: Option<usize>,
    pub top_p: Option<f64>,
    /// 1.0 means none; llama.cpp's penalty over the last `repeat_last_n` tokens.
    pub repeat_penalty: f32,
    pub repeat_last_n: usize,
    pub seed: u64,
    /// Generation ends before any of these strings.
    pub stop: Vec<String>,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            max_tokens: 128,
            temperature: 0.0,
            top_k: None,
            top_p: None,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: 42,
            stop: Vec::new(),
        }
    }
}

impl GenerationConfig {
    fn sampling(&self) -> Sampling {
        let temperature = self.temperature;
        match (temperature <= 0.0, self.top_k, self.top_p) {
            (true, _, _) => Sampling::ArgMax,
            (false, Some(k), Some(p)) => Sampling::TopKThenTopP { k, p, temperature },
            (false, Some(k), None) => Sampling::TopK { k, temperature },
            (false, None, Some(p)) => Sampling::TopP { p, temperature },
            (false, None, None) => Sampling::All { temperature },
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// An end-of-sequence or end-of-turn token, or a stop string.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The streaming callback asked to stop.
    Cancelled,
}

/// A finished generation and what it cost.
#[derive(Debug, Clone)]
pub struct Generation {
    pub text: String,
    pub tokens: Vec<u32>,
    pub prompt_tokens: usize,
    pub finish_reason: FinishReason,
    pub prompt_seconds: f64,
    pub decode_seconds: f64,
}

/// Tokens that end a turn: EOS and the chat formats' end-of-turn markers.
fn end_tokens(tokenizer: &Tokenizer) -> Vec<u32> {
    let mut ends: Vec<u32> = tokenizer.eos().into_iter().collect();
    for marker in ["<|im_end|>", "<end_of_turn>", "<|endoftext|>", "<eos>"] {
        ends.extend(tokenizer.token_id(marker));
    }
    ends
}

/// Generates a continuation of `prompt` (token ids, BOS included if wanted). Each
/// new piece of text goes to `on_text`; returning false stops generation.
pub fn generate(
    model: &mut GgufModel,
    tokenizer: &Tokenizer,
    prompt: &[u32],
    config: &GenerationConfig,
    mut on_text: impl FnMut(&str) -> bool,
) -> Result<Generation> {
    if prompt.is_empty() {
        return Err(Error::Tokenizer(
            "cannot generate from an empty prompt".into(),
        ));
    }
    let candle = |e: candle_core::Error| Error::Tokenizer(format!("sampling: {e}"));
    let ends = end_tokens(tokenizer);
    let mut sampler = LogitsProcessor::from_sampling(config.seed, config.sampling());
    let started = Instant::now();
    let mut logits = model.forward(prompt, 0)?;
    let prompt_seconds = started.elapsed().as_secs_f64();
    let decode_started = Instant::now();

    let mut context: Vec<u32> = prompt.to_vec();
    let mut tokens = Vec::new();
    let mut text = String::new();
    let mut finish_reason = FinishReason::Length;
    let mut stopped_by_string = false;
    while tokens.len() < config.max_tokens {
        let mut scores = Tensor::new(logits.as_slice(), &Device::Cpu).map_err(candle)?;
        if config.repeat_penalty != 1.0 {
            let recent = &context[context.len().saturating_sub(config.repeat_last_n)..];
            scores = candle_transformers::utils::apply_repeat_penalty(
                &scores,
                config.repeat_penalty,
                recent,
            )
            .map_err(candle)?;
        }
        let next = sampler.sample(&scores).map_err(candle)?;
        if ends.contains(&next) {
            finish_reason = FinishReason::Stop;
            break;
        }
        tokens.push(next);
        context.push(next);
        let decoded = tokenizer.decode(&tokens)?;
        if let Some(cut) = config
            .stop
            .iter()
            .filter_map(|s| decoded.find(s.as_str()))
            .min()
        {
            let piece = &decoded[text.len().min(cut)..cut];
            if !piece.is_empty() {
                on_text(piece);
            }
            text = decoded[..cut].to_string();
            finish_reason = FinishReason::Stop;
            stopped_by_string = true;
            break;
        }
        // Hold back a trailing partial UTF-8 character until it is complete.
        if !decoded.ends_with('\u{FFFD}') && decoded.len() > text.len() {
            let piece = decoded[text.len()..].to_string();
            text = decoded;
            if !on_text(&piece) {
                finish_reason = FinishReason::Cancelled;
                break;
            }
        }
        logits = model.forward(&[next], context.len() - 1)?;
    }
    // Text held back as a partial character, now complete or final.
    if !stopped_by_string && finish_reason != FinishReason::Cancelled {
        let decoded = tokenizer.decode(&tokens)?;
        let rest = decoded
            .strip_prefix(text.as_str())
            .unwrap_or("")
            .to_string();
        if !rest.is_empty() {
            on_text(&rest);
            text = decoded;
        }
    }
    Ok(Generation {
        text,
        prompt_tokens: prompt.len(),
        tokens,
        finish_reason,
        prompt_seconds,
        decode_seconds: decode_started.elapsed().as_secs_f64(),
    })
}
