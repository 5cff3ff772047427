//! A study profile (config/profiles/<name>.yaml): which models, how much data,
//! which training runs, how many questions. Unknown keys are an error.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Models answered before any training (registered names or GGUF paths).
    pub models: Vec<String>,
    pub data: DataStage,
    pub baseline: BaselineStage,
    /// Probe which test facts each pretrained model already knows (before
    /// training); absent: no probe.
    #[serde(default)]
    pub knowledge: Option<KnowledgeStage>,
    /// Training runs, each trained and then asked the test questions.
    #[serde(default)]
    pub training: Vec<TrainingRun>,
    /// LoRA adapters trained elsewhere (PEFT folders, e.g. by TRL or axolotl on
    /// a GPU cluster), answered and scored beside the study's own runs.
    #[serde(default)]
    pub external: Vec<PathBuf>,
    pub eval: EvalStage,
}

/// A training configuration (YAML), answered in `baseline.tuned_modes`, or
/// with its own modes: `{config: config/quick/lora-tools.yaml, modes: [tools]}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TrainingRun {
    Config(PathBuf),
    WithModes { config: PathBuf, modes: Vec<String> },
}

impl TrainingRun {
    pub fn config(&self) -> &Path {
        match self {
            Self::Config(config) | Self::WithModes { config, .. } => config,
        }
    }

    /// The modes its answers are asked in.
    pub fn modes<'a>(&'a self, tuned_modes: &'a [String]) -> &'a [String] {
        match self {
            Self::Config(_) => tuned_modes,
            Self::WithModes { modes, .. } => modes,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataStage {
    /// The Ergast CSV folder; when absent, `F1AI_ERGAST_DIR`, else the embedded
    /// fallback sample.
    #[serde(default)]
    pub ergast_dir: Option<PathBuf>,
    /// F1DB's YAML tree, merged in after the Ergast tables (the 2025 season's
    /// end and 2026); when absent, `F1AI_F1DB_DIR`, else none.
    #[serde(default)]
    pub f1db_dir: Option<PathBuf>,
    /// The dataset configuration.
    pub config: PathBuf,
    /// The dataset's size profile (quick or full), overriding the configuration's.
    #[serde(default)]
    pub size: Option<String>,
    /// The model whose tokens the dataset card counts.
    #[serde(default)]
    pub tokenizer: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineStage {
    /// Prompting modes of the pretrained models.
    pub modes: Vec<String>,
    /// Prompting modes of the fine-tuned models.
    pub tuned_modes: Vec<String>,
    /// Test questions answered, spread over the split (0: all).
    pub limit: usize,
    pub max_tokens: usize,
    /// Also answer the hand-written fan questions (`baseline --fan-questions`).
    #[serde(default)]
    pub fan_questions: bool,
    /// Questions decoded together.
    #[serde(default = "one")]
    pub batch_size: usize,
    /// native (llama.cpp's kernels on the stored weights) or f32 (the weights
    /// dequantized, as training and scoring see them); for every generating
    /// stage: baselines, the knowledge probe and the fine-tuned runs' answers.
    #[serde(default = "native")]
    pub precision: String,
}

fn native() -> String {
    "native".into()
}

fn one() -> usize {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeStage {
    /// Few-shot prompts with different exemplars, each answered greedily.
    pub exemplar_sets: usize,
    /// Exemplars per prompt.
    #[serde(default = "four")]
    pub shots: usize,
    /// Sampled answers.
    pub samples: usize,
}

fn four() -> usize {
    4
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalStage {
    pub config: PathBuf,
    /// Test conversations scored for perplexity (0: all; absent: none).
    #[serde(default)]
    pub perplexity_limit: Option<usize>,
    /// Multiple-choice questions scored by log-likelihood (0: all; absent: none).
    #[serde(default)]
    pub multiple_choice_limit: Option<usize>,
    /// General-ability questions per task (ARC-Easy, ARC-Challenge, PIQA,
    /// HellaSwag) for every model, and each run's forgetting (absent: none).
    #[serde(default)]
    pub general_limit: Option<usize>,
    /// The general-ability tasks' folder; default `$F1AI_GENERAL_EVAL_DIR`.
    #[serde(default)]
    pub general_dir: Option<PathBuf>,
}

impl Profile {
    /// `name` is a profile under config/profiles/ (quick, full) or a YAML path.
    pub fn locate(name: &str) -> PathBuf {
        let path = Path::new(name);
        if path.extension().is_some() || path.components().count() > 1 {
            path.to_path_buf()
        } else {
            Path::new("config/profiles").join(format!("{name}.yaml"))
        }
    }

    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "reading the profile {} (run from the repository root, or pass a YAML path)",
                path.display()
            )
        })?;
        serde_norway::from_str(&text).with_context(|| format!("{}", path.display()))
    }
}
