//! `config/lora_config.yaml` and `config/training_config.yaml`.

use std::path::{Path, PathBuf};

use f1_model::transformer::{ProductPrecision, PROJECTIONS};
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

impl Method {
    /// The name configurations, file names and reports use.
    pub const fn name(self) -> &'static str {
        match self {
            Method::Lora => "lora",
            Method::Full => "full",
        }
    }
}

impl std::str::FromStr for Method {
    type Err = String;

    fn from_str(name: &str) -> std::result::Result<Self, String> {
        [Method::Lora, Method::Full]
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| format!("'{name}' is not a method (lora or full)"))
    }
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
    /// Hugging Face module names (q_proj, k_proj, v_proj, o_proj, gate_proj,
    /// up_proj, down_proj) or a preset naming several, as a list or one string:
    /// `attention` (q, k, v, o) or `all-linear` (all seven, as PEFT's preset).
    #[serde(deserialize_with = "target_modules")]
    pub target_modules: Vec<String>,
}

/// The LoRA target presets and the modules each one stands for.
pub const TARGET_PRESETS: [(&str, &[&str]); 2] = [
    ("attention", &["q_proj", "k_proj", "v_proj", "o_proj"]),
    ("all-linear", &PROJECTIONS),
];

/// `target_modules` as one string or a list, each preset expanded in place.
fn target_modules<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Targets {
        One(String),
        Many(Vec<String>),
    }
    let names = match Targets::deserialize(deserializer)? {
        Targets::One(name) => vec![name],
        Targets::Many(names) => names,
    };
    let mut modules: Vec<String> = Vec::new();
    for name in names {
        let expanded = match TARGET_PRESETS.iter().find(|(preset, _)| *preset == name) {
            Some((_, members)) => members.iter().map(|m| m.to_string()).collect(),
            None => vec![name],
        };
        for module in expanded {
            if !modules.contains(&module) {
                modules.push(module);
            }
        }
    }
    Ok(modules)
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
    /// More training files, trained on with `train` (e.g. the tool conversations,
    /// data/curated/tools-train.jsonl).
    pub extra_train: Vec<PathBuf>,
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
            extra_train: Vec::new(),
            val: "data/curated/val.jsonl".into(),
            system_prompt: "You are an expert on Formula 1 history and statistics. Answer the question accurately and concisely.".into(),
            max_seq_len: 256,
            packing: false,
            max_train_examples: 0,
            max_val_examples: 200,
        }
    }
}

/// The validation probe (see [`crate::probe`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeConfig {
    /// Recall questions of the validation file (training facts in a held-out
    /// phrasing) answered greedily at each evaluation (0: none).
    pub recall_questions: usize,
    /// Validation questions about subjects training never saw (0: none).
    pub unseen_questions: usize,
    /// Tokens each answer may take.
    pub max_tokens: usize,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            recall_questions: 0,
            unseen_questions: 0,
            max_tokens: 32,
        }
    }
}

/// General ability (lm-evaluation-harness's multiple-choice tasks) scored at
/// each evaluation, to draw the forgetting curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeneralEvalConfig {
    /// Questions per task, a fixed sample spread over each file (0: off).
    pub per_task: usize,
    /// The folder of task folders (empty: `$F1AI_GENERAL_EVAL_DIR`).
    pub dir: PathBuf,
    /// arc_easy, arc_challenge, piqa, hellaswag.
    pub tasks: Vec<String>,
}

impl Default for GeneralEvalConfig {
    fn default() -> Self {
        Self {
            per_task: 0,
            dir: PathBuf::new(),
            tasks: f1_eval::general::TASKS
                .iter()
                .map(|t| t.name.to_string())
                .collect(),
        }
    }
}

impl GeneralEvalConfig {
    /// The task folder: `dir`, else `$F1AI_GENERAL_EVAL_DIR`.
    pub fn folder(&self) -> Option<PathBuf> {
        if !self.dir.as_os_str().is_empty() {
            return Some(self.dir.clone());
        }
        std::env::var_os("F1AI_GENERAL_EVAL_DIR").map(PathBuf::from)
    }
}

/// What picks the exported checkpoint and drives early stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectOn {
    /// The lowest validation loss.
    ValLoss,
    /// The highest probe recall accuracy (ties: the lower validation loss).
    ProbeRecall,
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
    /// Validations per epoch, evenly spaced (overrides `eval_every`; 0: off).
    pub evaluations_per_epoch: usize,
    /// Stop after this many validations without a better loss (0: never).
    pub early_stopping_patience: usize,
    /// Checkpoint every N steps (0: only at the end).
    pub save_every: usize,
    /// Checkpoints kept; older ones are deleted.
    pub keep_checkpoints: usize,
    /// What the best checkpoint is.
    pub select_on: SelectOn,
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
            evaluations_per_epoch: 0,
            early_stopping_patience: 3,
            save_every: 50,
            keep_checkpoints: 2,
            select_on: SelectOn::ValLoss,
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
    pub probe: ProbeConfig,
    #[serde(default)]
    pub general_eval: GeneralEvalConfig,
    #[serde(default)]
    pub training: OptimConfig,
    /// The operands of the training pass's matrix products: `f32`, or `bf16`
    /// (mixed precision: products of bf16 operands summed in f32; weights,
    /// gradients, optimizer state and the loss stay f32). CPU only.
    #[serde(default)]
    pub precision: ProductPrecision,
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
            (
                t.select_on != SelectOn::ProbeRecall || self.probe.recall_questions > 0,
                "training.select_on: probe_recall needs probe.recall_questions > 0",
            ),
            (
                self.probe.max_tokens > 0,
                "probe.max_tokens must be at least 1",
            ),
        ];
        if let Some((_, message)) = checks.iter().find(|(ok, _)| !ok) {
            return Err(message.to_string());
        }
        for task in &self.general_eval.tasks {
            f1_eval::general::task(task).map_err(|e| format!("general_eval.tasks: {e}"))?;
        }

        if self.method == Method::Lora {
            if let Some(unknown) = self
                .lora
                .target_modules
                .iter()
                .find(|m| !PROJECTIONS.contains(&m.as_str()))
            {
                let presets: Vec<&str> = TARGET_PRESETS.iter().map(|(name, _)| *name).collect();
                return Err(format!(
                    "lora.target_modules: '{unknown}' is neither a module of the model ({}) nor a preset ({})",
                    PROJECTIONS.join(", "),
                    presets.join(", ")
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lora(targets: &str) -> std::result::Result<TrainConfig, String> {
        let yaml =
            format!("run_name: t\nmodel: m\nmethod: lora\nlora: {{target_modules: {targets}}}\n");
        let config: TrainConfig = serde_norway::from_str(&yaml).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    #[test]
    fn methods_parse_from_their_names() {
        for method in [Method::Lora, Method::Full] {
            assert_eq!(method.name().parse::<Method>(), Ok(method));
        }
        assert!("qlora"
            .parse::<Method>()
            .unwrap_err()
            .contains("lora or full"));
    }

    #[test]
    fn presets_expand_to_their_modules() {
        let all = lora("all-linear").unwrap().lora.target_modules;
        assert_eq!(all, PROJECTIONS.map(String::from).to_vec());
        let attention = lora("[attention]").unwrap().lora.target_modules;
        assert_eq!(attention, ["q_proj", "k_proj", "v_proj", "o_proj"]);
        // A preset and modules together, each module once.
        let mixed = lora("[attention, up_proj, q_proj]")
            .unwrap()
            .lora
            .target_modules;
        assert_eq!(mixed, ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj"]);
        let error = lora("all_linear").unwrap_err();
        assert!(
            error.contains("'all_linear' is neither a module"),
            "{error}"
        );
    }

    #[test]
    fn precision_is_f32_unless_bf16_is_asked_for() {
        let parse = |extra: &str| {
            let yaml = format!("run_name: t\nmodel: m\nmethod: full\n{extra}");
            serde_norway::from_str::<TrainConfig>(&yaml).map_err(|e| e.to_string())
        };
        assert_eq!(parse("").unwrap().precision, ProductPrecision::F32);
        let bf16 = parse("precision: bf16\n").unwrap().precision;
        assert_eq!(bf16, ProductPrecision::Bf16);
        let error = parse("precision: fp8\n").unwrap_err();
        assert!(
            error.contains("precision") && error.contains("bf16"),
            "{error}"
        );
    }
}
