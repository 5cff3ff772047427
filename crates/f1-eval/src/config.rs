//! `config/evaluation_config.yaml`.

use std::path::Path;

use serde::Deserialize;

/// How `f1ai eval` scores predictions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Bootstrap resamples for each confidence interval and p-value.
    pub bootstrap_resamples: usize,
    /// Seed of the resampling.
    pub seed: u64,
    /// Porter-stem tokens longer than three characters in ROUGE.
    pub rouge_stemmer: bool,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            bootstrap_resamples: 1000,
            seed: 42,
            rouge_stemmer: true,
        }
    }
}

impl EvalConfig {
    /// Reads a YAML file; unknown keys are errors naming the file.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let config: Self =
            serde_norway::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if config.bootstrap_resamples == 0 {
            return Err(format!(
                "{}: bootstrap_resamples must be at least 1",
                path.display()
            ));
        }
        Ok(config)
    }
}
