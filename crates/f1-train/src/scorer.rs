//! A model loaded to score text rather than write it: the log-likelihood of
//! marked tokens given everything before them (perplexity, multiple choice).

use std::path::Path;

use candle_core::{Device, Tensor, D};
use f1_model::chat::ChatTemplate;
use f1_model::transformer::{ForwardOptions, Transformer, WeightFormat};
use f1_model::Tokenizer;

use crate::base::BaseModel;
use crate::data::{Batch, Sequence};
use crate::error::Result;
use crate::loss::target_log_probs;

/// A model in f32 (dequantized, as training sees it) with its tokenizer and
/// chat template.
pub struct Scorer {
    transformer: Transformer,
    pub tokenizer: Tokenizer,
    pub template: ChatTemplate,
}

impl Scorer {
    /// Loads `model` (a GGUF file or a Hugging Face folder) with `adapter` (a PEFT
    /// folder) attached when given.
    pub fn load(model: &Path, adapter: Option<&Path>) -> Result<Self> {
        let base = BaseModel::open(model)?;
        let mut transformer = base.transformer(WeightFormat::F32, &Device::Cpu)?;
        let tokenizer = base.tokenizer()?;
        let template = base.template(&transformer)?;
        if let Some(adapter) = adapter {
            crate::peft::attach_adapter(&mut transformer, adapter)?;
        }
        Ok(Self {
            transformer,
            tokenizer,
            template,
        })
    }

    /// The summed log-probability (nats) of each sequence's `trained` tokens
    /// (from the second token on). The sequences are packed into one row, each
    /// attending only to itself, and scored in one forward pass.
    pub fn log_likelihoods(&mut self, sequences: &[Sequence]) -> Result<Vec<f64>> {
        let rows = [sequences.iter().collect::<Vec<_>>()];
        let batch = Batch::new(&rows);
        let log_probs = if batch.positions.is_empty() {
            Vec::new()
        } else {
            target_log_probs(&mut self.transformer, &batch, &ForwardOptions::scoring())?
        };
        // Batch::new lists scored positions sequence by sequence.
        let mut remaining = log_probs.as_slice();
        Ok(sequences
            .iter()
            .map(|sequence| {
                let (own, rest) = remaining.split_at(sequence.scored_tokens());
                remaining = rest;
                own.iter().map(|&p| p as f64).sum()
            })
            .collect())
    }

    /// The summed log-probability of each continuation after one shared
    /// `prefix`: the prefix runs once and fills the KV cache, then the
    /// continuations run as one batch on copies of it.
    pub fn continuation_log_likelihoods(
        &mut self,
        prefix: &[u32],
        continuations: &[Vec<u32>],
    ) -> Result<Vec<f64>> {
        let device = self.transformer.device().clone();
        let cached = ForwardOptions {
            use_cache: true,
            ..ForwardOptions::scoring()
        };
        let ids = Tensor::new(prefix, &device)?.unsqueeze(0)?;
        let hidden = self.transformer.hidden_states(&ids, 0, &[], &cached)?;
        let last = hidden.narrow(1, prefix.len() - 1, 1)?;
        let first: Vec<f32> = log_softmax(&self.transformer.logits(&last)?)?
            .flatten_all()?
            .to_vec1()?;
        let mut totals: Vec<f64> = continuations
            .iter()
            .map(|c| c.first().map_or(0.0, |&t| first[t as usize] as f64))
            .collect();
        // Every continuation token but the last is an input predicting the next.
        let width = continuations
            .iter()
            .map(|c| c.len().saturating_sub(1))
            .max()
            .unwrap_or(0);
        if width == 0 {
            return Ok(totals);
        }
        let rows: Vec<u32> = continuations
            .iter()
            .flat_map(|c| {
                let inputs = &c[..c.len().saturating_sub(1)];
                inputs
                    .iter()
                    .copied()
                    .chain(std::iter::repeat_n(0, width - inputs.len()))
            })
            .collect();
        self.transformer.repeat_cache(continuations.len())?;
        let ids = Tensor::from_vec(rows, (continuations.len(), width), &device)?;
        let hidden =
            self.transformer
                .hidden_states(&ids, prefix.len(), &[], &ForwardOptions::scoring())?;
        let log_probs = log_softmax(&self.transformer.logits(&hidden)?)?;
        for (row, continuation) in continuations.iter().enumerate() {
            for (i, &target) in continuation.iter().enumerate().skip(1) {
                let p = log_probs.get(row)?.get(i - 1)?.get(target as usize)?;
                totals[row] += p.to_scalar::<f32>()? as f64;
            }
        }
        Ok(totals)
    }
}

fn log_softmax(logits: &Tensor) -> candle_core::Result<Tensor> {
    candle_nn::ops::log_softmax(logits, D::Minus1)
}
