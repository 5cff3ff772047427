//! `config/lora_config.yaml` and `config/training_config.yaml`.

use std::path::{Path, PathBuf};

use f1_model::transformer::PROJECTIONS;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Low-rank adapters beside frozen weights.
    Lora,
    /// Every weight.
    Full,
}

/// How the learning rate decays after warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decay {
    Cosine,
    Linear,
    Constant,
}

/// The LoRA adapters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoraConfig {
    pub r: usize,
    pub alpha: f64,
    pub dropout: f32,
    /// Hugging Face module names: q_proj, k_proj, v_proj, o_proj, gate_proj,
    /// up_proj, down_proj.
    pub target_modules: Vec<String>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            r: 16,
            alpha: 32.0,
            dropout: 0.05,
            target_modules: ["q_proj", "k_proj", "v_proj", "o_proj"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// Full fine-tuning.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FullConfig {
    /// Keep the token embeddings (and a head tied to them) fixed.
    pub freeze_embeddings: bool,
}

/// The conversations trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// JSONL of `{"messages": [{"role", "content"}...]}`, relative to the workspace.
    pub train: PathBuf,
    pub val: PathBuf,
    /// Put before every conversation (the prompt the baseline and evaluation use),
    /// so that training and testing see the same format; empty for none.
    pub system_prompt: String,
    /// Longer conversations are cut to this many tokens.
    pub max_seq_len: usize,
    /// Pack several conversations into each row (attention stays within each).
    pub packing: bool,
    /// Use only the first N training conversations (0: all).
    pub max_train_examples: usize,
    /// Validate on the first N validation conversations (0: all).
    pub max_val_examples: usize,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            train: "data/curated/train.jsonl".into(),
            val: "data/curated/val.jsonl".into(),
            system_prompt: "You are an expert on Formula 1 history and statistics. Answer the question accurately and concisely.".into(),
            max_seq_len: 256,
            packing: false,
            max_train_examples: 0,
            max_val_examples: 200,
        }
    }
}

/// The optimisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    pub seed: u64,
    pub epochs: usize,
    /// Stop after this many optimizer steps (0: run every epoch).
    pub max_steps: usize,
    /// Rows per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimizer step.
    pub gradient_accumulation: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub adam_beta1: f64,
    pub adam_beta2: f64,
    pub adam_epsilon: f64,
    pub warmup_steps: usize,
    pub decay: Decay,
    /// Clip the global gradient norm to this (0: no clipping).
    pub max_grad_norm: f64,
    /// Validate every N steps (0: only at the end).
    pub eval_every: usize,
    /// Stop after this many validations without a better loss (0: never).
    pub early_stopping_patience: usize,
    /// Checkpoint every N steps (0: only at the end).
    pub save_every: usize,
    /// Checkpoints kept; older ones are deleted.
    pub keep_checkpoints: usize,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            epochs: 1,
            max_steps: 0,
            batch_size: 4,
            gradient_accumulation: 1,
            learning_rate: 2e-4,
            weight_decay: 0.0,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_epsilon: 1e-8,
            warmup_steps: 10,
            decay: Decay::Cosine,
            max_grad_norm: 1.0,
            eval_every: 50,
            early_stopping_patience: 3,
            save_every: 50,
            keep_checkpoints: 2,
        }
    }
}

/// One training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Names models/checkpoints/<run>/ and models/artifacts/<run>/.
    pub run_name: String,
    /// A registered model name (smollm2, gemma3) or a GGUF path.
    pub model: String,
    pub method: Method,
    #[serde(default)]
    pub lora: LoraConfig,
    #[serde(default)]
    pub full: FullConfig,
    #[serde(default)]
    pub data: DataConfig,
    #[serde(default)]
    pub training: OptimConfig,
}

impl TrainConfig {
    /// Reads a YAML file; unknown keys and impossible values are errors naming it.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let config: Self = serde_norway::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.validate().map_err(|message| Error::Config {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(config)
    }

    /// Checks values serde cannot.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let t = &self.training;
        let valid_name = !self.run_name.is_empty()
            && self
                .run_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        let checks = [
            (
                valid_name,
                "run_name must be letters, digits, '-', '_' or '.'",
            ),
            (
                self.method == Method::Full || self.lora.r > 0,
                "lora.r must be at least 1",
            ),
            (
                (0.0..1.0).contains(&self.lora.dropout),
                "lora.dropout must be in [0, 1)",
            ),
            (
                self.method == Method::Full || !self.lora.target_modules.is_empty(),
                "lora.target_modules must name at least one module",
            ),
            (
                self.data.max_seq_len >= 8,
                "data.max_seq_len must be at least 8",
            ),
            (t.batch_size > 0, "training.batch_size must be at least 1"),
            (
                t.gradient_accumulation > 0,
                "training.gradient_accumulation must be at least 1",
            ),
            (
                t.learning_rate > 0.0,
                "training.learning_rate must be positive",
            ),
            (
                t.epochs > 0 || t.max_steps > 0,
                "training.epochs or training.max_steps must be positive",
            ),
            (
                t.keep_checkpoints > 0,
                "training.keep_checkpoints must be at least 1",
            ),
        ];
        if let Some((_, message)) = checks.iter().find(|(ok, _)| !ok) {
            return Err(message.to_string());
        }
        if self.method == Method::Lora {
            if let Some(unknown) = self
                .lora
                .target_modules
                .iter()
                .find(|m| !PROJECTIONS.contains(&m.as_str()))
            {
                return Err(format!(
                    "lora.target_modules: the model has no module '{unknown}' (it has {})",
                    PROJECTIONS.join(", ")
                ));
            }
        }
        Ok(())
    }
}
