//! The model a run trains: the transformer with its trainable parameters,
//! tokenizer and chat template, and what a step and an evaluation ask of it.

use std::path::Path;

use candle_core::{Device, Tensor};
use f1_model::chat::ChatTemplate;
use f1_model::transformer::{ForwardOptions, ProductPrecision, Transformer, WeightFormat};
use f1_model::Tokenizer;

use crate::base::BaseModel;
use crate::config::{Method, TrainConfig};
use crate::data::{read_conversations, Batch, Encoder, Sequence};
use crate::error::{Error, Result};
use crate::loss::{summed_nll, summed_nll_value};
use crate::probe::{Probe, ProbeScore};
use crate::scorer::ScoringModel;
use crate::trainable::{attach_lora, make_full_trainable, Parameter};
use crate::validation::{GeneralEval, Validation};

/// A model being trained, with its tokenizer and the trainable parameters.
pub struct TrainingModel {
    pub transformer: Transformer,
    pub base: BaseModel,
    pub tokenizer: Tokenizer,
    pub template: ChatTemplate,
    pub parameters: Vec<Parameter>,
    /// The training pass's products (`TrainConfig::precision`).
    pub precision: ProductPrecision,
}

impl TrainingModel {
    /// Loads `path` (a GGUF file or a Hugging Face folder) and makes the
    /// configured weights trainable. Full training holds every weight in f32;
    /// LoRA keeps a GGUF's frozen projections as stored and dequantizes them for
    /// each product (the same f32 numbers, a quarter of the memory or less).
    pub fn load(path: &Path, config: &TrainConfig, device: &Device) -> Result<Self> {
        if config.precision == ProductPrecision::Bf16 && !device.is_cpu() {
            return Err(Error::Unsupported(
                "precision: bf16 runs the CPU's bf16 products; on a GPU, train with precision: f32"
                    .into(),
            ));
        }
        let base = BaseModel::open(path)?;
        let format = match config.method {
            Method::Lora => WeightFormat::Dequantized,
            Method::Full => WeightFormat::F32,
        };
        let mut transformer = base.transformer(format, device)?;
        let parameters = match config.method {
            Method::Lora => attach_lora(&mut transformer, &config.lora, config.training.seed)?,
            Method::Full => make_full_trainable(&mut transformer, &config.full)?,
        };
        Ok(Self {
            tokenizer: base.tokenizer()?,
            template: base.template(&transformer)?,
            transformer,
            base,
            parameters,
            precision: config.precision,
        })
    }

    /// Tokenizes a conversation file; conversations that keep no assistant token
    /// after truncation are dropped (and counted in the log).
    pub fn sequences(
        &self,
        path: &Path,
        limit: usize,
        config: &TrainConfig,
    ) -> Result<Vec<Sequence>> {
        let encoder = Encoder {
            tokenizer: &self.tokenizer,
            template: &self.template,
            system_prompt: &config.data.system_prompt,
            max_tokens: config.data.max_seq_len,
        };
        let mut sequences = Vec::new();
        let mut cut = 0;
        let conversations = read_conversations(path, limit)?;
        for conversation in &conversations {
            let (sequence, length) = encoder.encode_measured(conversation)?;
            cut += usize::from(length > sequence.ids.len());
            if sequence.scored_tokens() > 0 {
                sequences.push(sequence);
            }
        }
        if cut > 0 {
            tracing::warn!(
                "{}: {cut} of {} conversations are longer than data.max_seq_len {} and were cut to it (their later tokens are not trained on)",
                path.display(),
                conversations.len(),
                config.data.max_seq_len
            );
        }
        let dropped = conversations.len() - sequences.len();
        if dropped > 0 {
            tracing::warn!(
                "{}: {dropped} conversations have no assistant token within max_seq_len {} and are skipped",
                path.display(),
                config.data.max_seq_len
            );
        }
        if sequences.is_empty() {
            return Err(Error::Data {
                path: path.to_path_buf(),
                message: "no conversation has an assistant token to learn".into(),
            });
        }
        Ok(sequences)
    }

    /// The model, to score text with.
    pub fn scoring(&mut self) -> ScoringModel<'_> {
        ScoringModel {
            transformer: &mut self.transformer,
            tokenizer: &self.tokenizer,
            template: &self.template,
        }
    }

    /// The validation loss over `batches` and, where given, the probe's
    /// accuracies and the general-ability score.
    pub fn validate(
        &mut self,
        batches: &[Batch],
        probe: Option<&Probe>,
        general: Option<&GeneralEval>,
    ) -> Result<Validation> {
        let loss = self.evaluate(batches)?;
        let probe = match probe {
            Some(probe) => probe.run(&mut self.transformer, &self.tokenizer)?,
            None => ProbeScore::default(),
        };
        let general = general.map(|g| g.score(&mut self.scoring())).transpose()?;
        Ok(Validation {
            loss,
            probe,
            general,
        })
    }

    /// Mean loss per scored token over `batches`, without dropout.
    pub fn evaluate(&mut self, batches: &[Batch]) -> Result<f64> {
        let options = ForwardOptions::scoring();
        let mut total = 0.0;
        let mut scored = 0usize;
        for batch in batches {
            total += summed_nll_value(&mut self.transformer, batch, &options)?;
            scored += batch.targets.len();
        }
        Ok(total / scored.max(1) as f64)
    }

    /// One optimizer step's gradients over `batches`: the mean loss per scored
    /// token of all of them together (as one large batch would give), and the
    /// gradient of every parameter. `seed` (the step's) seeds LoRA dropout and
    /// bf16's stochastic rounding; `None` turns both off.
    pub fn gradients(
        &mut self,
        batches: &[Batch],
        seed: Option<u64>,
    ) -> Result<(f64, Vec<Tensor>)> {
        let scored: usize = batches.iter().map(|b| b.targets.len()).sum();
        let mut sums: Vec<Option<Tensor>> = vec![None; self.parameters.len()];
        let mut loss = 0.0;
        for (micro, batch) in batches.iter().enumerate() {
            let seed = seed.map(|s| s ^ (micro as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
            let options = ForwardOptions::training(seed, self.precision);
            let nll = summed_nll(&mut self.transformer, batch, &options)?;
            loss += nll.to_scalar::<f32>()? as f64;
            let grads = self.transformer.backward(&(nll / scored.max(1) as f64)?)?;
            for (sum, p) in sums.iter_mut().zip(&self.parameters) {
                if let Some(g) = grads.get(p.var.as_tensor()) {
                    // A gradient can still point at the activations it was computed
                    // from; detached, it keeps none of them (and nothing built from
                    // it, such as AdamW's moments, chains one step to the next).
                    let g = g.detach();
                    *sum = Some(match sum.take() {
                        Some(s) => (s + g)?,
                        None => g,
                    });
                }
            }
        }
        let gradients = sums
            .into_iter()
            .zip(&self.parameters)
            .map(|(g, p)| match g {
                Some(g) => Ok(g),
                None => Ok(p.var.zeros_like()?),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((loss / scored.max(1) as f64, gradients))
    }
}
