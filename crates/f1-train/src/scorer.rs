//! A model loaded to score text rather than write it: the log-likelihood of
//! marked tokens given everything before them (perplexity, multiple choice).

use std::path::Path;

use candle_core::Device;
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

/// A model lent to scoring: a [`Scorer`]'s own, or one in training.
pub struct ScoringModel<'a> {
    pub transformer: &'a mut Transformer,
    pub tokenizer: &'a Tokenizer,
    pub template: &'a ChatTemplate,
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

    /// The model, to score with.
    pub fn model(&mut self) -> ScoringModel<'_> {
        ScoringModel {
            transformer: &mut self.transformer,
            tokenizer: &self.tokenizer,
            template: &self.template,
        }
    }
}

impl ScoringModel<'_> {
    /// The summed log-probability (nats) of each sequence's `trained` tokens
    /// (from the second token on). The sequences are packed into one row, each
    /// attending only to itself, and scored in one forward pass.
    pub fn log_likelihoods(&mut self, sequences: &[Sequence]) -> Result<Vec<f64>> {
        let rows = [sequences.iter().collect::<Vec<_>>()];
        let batch = Batch::new(&rows);
        let log_probs = if batch.positions.is_empty() {
            Vec::new()
        } else {
            target_log_probs(self.transformer, &batch, &ForwardOptions::scoring())?
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
}
