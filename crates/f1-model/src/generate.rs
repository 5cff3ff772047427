//! Text generation with a KV cache: greedy or sampled (temperature, top-k, top-p,
//! seed; candle's LogitsProcessor), repetition penalty, stop strings and tokens,
//! a token budget and a streaming callback; one prompt at a time or a batch of
//! them decoded together.

use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};

use crate::error::{Error, Result};
use crate::model::NextTokenLogits;
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
    /// End-of-sequence and end-of-turn tokens are never picked (llama.cpp's and
    /// vLLM's `ignore_eos`): generation runs to `max_tokens` or a stop string.
    pub ignore_eos: bool,
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
            ignore_eos: false,
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

/// One sequence's decoding: sampling, end tokens, stop strings and the text
/// released so far. The model's side (its KV cache) is the caller's.
pub struct Decoder {
    config: GenerationConfig,
    ends: Vec<u32>,
    sampler: LogitsProcessor,
    /// The prompt and the tokens generated so far (for the repetition penalty).
    context: Vec<u32>,
    prompt_tokens: usize,
    tokens: Vec<u32>,
    text: String,
    finish_reason: Option<FinishReason>,
    stopped_by_string: bool,
}

impl Decoder {
    /// Decoding of a continuation of `prompt` under `config`.
    pub fn new(tokenizer: &Tokenizer, config: &GenerationConfig, prompt: &[u32]) -> Self {
        Self {
            config: config.clone(),
            ends: end_tokens(tokenizer),
            sampler: LogitsProcessor::from_sampling(config.seed, config.sampling()),
            context: prompt.to_vec(),
            prompt_tokens: prompt.len(),
            tokens: Vec::new(),
            text: String::new(),
            finish_reason: (config.max_tokens == 0).then_some(FinishReason::Length),
            stopped_by_string: false,
        }
    }

    /// Whether the sequence has ended.
    pub fn finished(&self) -> bool {
        self.finish_reason.is_some()
    }

    /// Ends the sequence now (a client gone, a time limit), for `reason`.
    pub fn stop(&mut self, reason: FinishReason) {
        self.finish_reason.get_or_insert(reason);
    }

    /// Picks the next token from `logits` and passes any newly complete text to
    /// `on_text`. Returns the token to run through the model next, or `None` once
    /// the sequence has ended.
    pub fn step(
        &mut self,
        tokenizer: &Tokenizer,
        logits: &[f32],
        on_text: &mut impl FnMut(&str) -> bool,
    ) -> Result<Option<u32>> {
        let greedy = self.config.temperature <= 0.0 && self.config.repeat_penalty == 1.0;
        // As llama.cpp's `ignore_eos`: the end tokens' logits set to -inf. A
        // greedy pick that is no end token is the pick among the others too, so
        // the logits are copied only when it is one, or to sample.
        let next = match (greedy, self.config.ignore_eos) {
            (true, false) => first_max(logits),
            (true, true) => match first_max(logits) {
                next if self.ends.contains(&next) => first_max(&self.without_ends(logits)),
                next => next,
            },
            (false, false) => self.sample(logits)?,
            (false, true) => self.sample(&self.without_ends(logits))?,
        };
        let config = &self.config;
        if self.ends.contains(&next) {
            return Ok(self.end(FinishReason::Stop));
        }
        self.tokens.push(next);
        self.context.push(next);
        let decoded = tokenizer.decode(&self.tokens)?;
        if let Some(cut) = config
            .stop
            .iter()
            .filter_map(|s| decoded.find(s.as_str()))
            .min()
        {
            let piece = &decoded[self.text.len().min(cut)..cut];
            if !piece.is_empty() {
                on_text(piece);
            }
            self.text = decoded[..cut].to_string();
            self.stopped_by_string = true;
            return Ok(self.end(FinishReason::Stop));
        }
        // Hold back a trailing partial UTF-8 character until it is complete.
        if !decoded.ends_with('\u{FFFD}') && decoded.len() > self.text.len() {
            let piece = decoded[self.text.len()..].to_string();
            self.text = decoded;
            if !on_text(&piece) {
                return Ok(self.end(FinishReason::Cancelled));
            }
        }
        if self.tokens.len() >= self.config.max_tokens {
            return Ok(self.end(FinishReason::Length));
        }
        Ok(Some(next))
    }

    /// `logits` with every end token's at -inf.
    fn without_ends(&self, logits: &[f32]) -> Vec<f32> {
        let mut masked = logits.to_vec();
        for &end in &self.ends {
            if let Some(logit) = masked.get_mut(end as usize) {
                *logit = f32::NEG_INFINITY;
            }
        }
        masked
    }

    /// The next token drawn by the sampler, after the repetition penalty.
    fn sample(&mut self, logits: &[f32]) -> Result<u32> {
        let candle = |e: candle_core::Error| Error::Tokenizer(format!("sampling: {e}"));
        let config = &self.config;
        let mut scores = Tensor::new(logits, &Device::Cpu).map_err(candle)?;
        if config.repeat_penalty != 1.0 {
            let recent = &self.context[self.context.len().saturating_sub(config.repeat_last_n)..];
            scores = candle_transformers::utils::apply_repeat_penalty(
                &scores,
                config.repeat_penalty,
                recent,
            )
            .map_err(candle)?;
        }
        self.sampler.sample(&scores).map_err(candle)
    }

    fn end(&mut self, reason: FinishReason) -> Option<u32> {
        self.finish_reason = Some(reason);
        None
    }

    /// The generation, with text held back as a partial character released.
    pub fn finish(
        mut self,
        tokenizer: &Tokenizer,
        prompt_seconds: f64,
        decode_seconds: f64,
        on_text: &mut impl FnMut(&str) -> bool,
    ) -> Result<Generation> {
        let finish_reason = self.finish_reason.unwrap_or(FinishReason::Length);
        if !self.stopped_by_string && finish_reason != FinishReason::Cancelled {
            let decoded = tokenizer.decode(&self.tokens)?;
            let rest = decoded.strip_prefix(self.text.as_str()).unwrap_or("");
            if !rest.is_empty() {
                on_text(rest);
                self.text = decoded;
            }
        }
        Ok(Generation {
            text: self.text,
            prompt_tokens: self.prompt_tokens,
            tokens: self.tokens,
            finish_reason,
            prompt_seconds,
            decode_seconds,
        })
    }
}

/// The greedy choice as candle's `argmax` makes it (the first of equal maxima;
/// a NaN never replaces the best so far), read where the logits lie instead of
/// copied into a tensor twice: every sequence runs it at every step.
fn first_max(logits: &[f32]) -> u32 {
    const LANES: usize = 16;
    let Some(&first) = logits.first().filter(|first| !first.is_nan()) else {
        return 0;
    };
    // The largest value in sixteen lanes side by side (vectorized), then the
    // first position that holds it.
    let mut lanes = [first; LANES];
    let chunks = logits.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &value) in lanes.iter_mut().zip(chunk) {
            if *lane < value {
                *lane = value;
            }
        }
    }
    let best = lanes.iter().chain(rest).fold(
        first,
        |best, &value| if best < value { value } else { best },
    );
    logits.iter().position(|&value| value == best).unwrap_or(0) as u32
}

fn check_prompt(prompt: &[u32]) -> Result<()> {
    if prompt.is_empty() {
        return Err(Error::Tokenizer(
            "cannot generate from an empty prompt".into(),
        ));
    }
    Ok(())
}

/// Generates a continuation of `prompt` (token ids, BOS included if wanted). Each
/// new piece of text goes to `on_text`; returning false stops generation.
pub fn generate(
    model: &mut impl NextTokenLogits,
    tokenizer: &Tokenizer,
    prompt: &[u32],
    config: &GenerationConfig,
    mut on_text: impl FnMut(&str) -> bool,
) -> Result<Generation> {
    check_prompt(prompt)?;
    let mut decoder = Decoder::new(tokenizer, config, prompt);
    let started = Instant::now();
    let mut logits = model.forward_batch(prompt, 1, 0, &[])?.remove(0);
    let prompt_seconds = started.elapsed().as_secs_f64();
    let decode_started = Instant::now();
    while !decoder.finished() {
        match decoder.step(tokenizer, &logits, &mut on_text)? {
            Some(next) => {
                logits = model
                    .forward_batch(&[next], 1, decoder.context.len() - 1, &[])?
                    .remove(0)
            }
            None => break,
        }
    }
    let decode_seconds = decode_started.elapsed().as_secs_f64();
    decoder.finish(tokenizer, prompt_seconds, decode_seconds, &mut on_text)
}

/// Generates a continuation of each prompt, all decoded together: the prompts
/// are left-padded to one length (padding is masked out, and RoPE depends only on
/// relative positions, so each row computes what it would alone) and every step
/// runs one token of every unfinished row as one batch. A finished row rides
/// along until the last one ends. Each generation's `prompt_seconds` is the shared
/// prefill's, its `decode_seconds` the time until that row ended.
pub fn generate_batch(
    model: &mut impl NextTokenLogits,
    tokenizer: &Tokenizer,
    prompts: &[Vec<u32>],
    config: &GenerationConfig,
) -> Result<Vec<Generation>> {
    prompts.iter().try_for_each(|p| check_prompt(p))?;
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let padding: Vec<usize> = prompts.iter().map(|p| longest - p.len()).collect();
    let padded: Vec<u32> = prompts
        .iter()
        .zip(&padding)
        .flat_map(|(prompt, &pad)| {
            std::iter::repeat_n(prompt[0], pad).chain(prompt.iter().copied())
        })
        .collect();
    let mut decoders: Vec<Decoder> = prompts
        .iter()
        .map(|prompt| Decoder::new(tokenizer, config, prompt))
        .collect();
    let started = Instant::now();
    let mut logits = if prompts.is_empty() {
        Vec::new()
    } else {
        model.forward_batch(&padded, prompts.len(), 0, &padding)?
    };
    let prompt_seconds = started.elapsed().as_secs_f64();
    let decode_started = Instant::now();
    let mut decode_seconds = vec![0.0; prompts.len()];
    let mut position = longest;
    let mut feed: Vec<u32> = prompts.iter().map(|p| p[p.len() - 1]).collect();
    loop {
        for (row, decoder) in decoders.iter_mut().enumerate() {
            if decoder.finished() {
                continue;
            }
            match decoder.step(tokenizer, &logits[row], &mut |_| true)? {
                Some(next) => feed[row] = next,
                None => decode_seconds[row] = decode_started.elapsed().as_secs_f64(),
            }
        }
        if decoders.iter().all(Decoder::finished) {
            break;
        }
        logits = model.forward_batch(&feed, prompts.len(), position, &padding)?;
        position += 1;
    }
    decoders
        .into_iter()
        .zip(decode_seconds)
        .map(|(decoder, seconds)| decoder.finish(tokenizer, prompt_seconds, seconds, &mut |_| true))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_greedy_choice_is_candles_argmax() {
        let long: Vec<f32> = (0..1000).map(|i| ((i * 7919) % 1009) as f32).collect();
        // Equal maxima in two lanes of the vectorized part and in the rest.
        let mut ties = vec![0f32; 40];
        (ties[20], ties[35], ties[38]) = (5.0, 5.0, 5.0);
        ties[3] = f32::NAN;
        let cases: [&[f32]; 7] = [
            &long,
            &ties,
            &[0.5, 2.0, -1.0, 2.0],
            &[f32::NAN, 3.0, 1.0],
            &[1.0, f32::NAN, 3.0, 3.0],
            &[f32::NEG_INFINITY, f32::NEG_INFINITY],
            &[-0.0, 0.0, -5.0],
        ];
        for logits in cases {
            let tensor = Tensor::new(logits, &Device::Cpu).unwrap();
            let candle = tensor.argmax(0).unwrap().to_scalar::<u32>().unwrap();
            assert_eq!(first_max(logits), candle, "{logits:?}");
        }
    }
}
