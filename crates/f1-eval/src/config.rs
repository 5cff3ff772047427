//! `config/evaluation_config.yaml`.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

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
    /// The LLM-as-judge; off when absent (and no endpoint is given on the command
    /// line or in the environment).
    pub judge: Option<JudgeSettings>,
}

/// Which judge, how patient, how many answers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JudgeSettings {
    /// The API root of an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1
    /// (F1AI_JUDGE_URL overrides).
    pub url: Option<String>,
    /// The judge model's name at that endpoint (F1AI_JUDGE_MODEL overrides).
    pub model: String,
    /// The environment variable (or config/.env entry) holding the API key.
    pub api_key_env: String,
    /// Answers judged per run (the same ids in every run), so cost stays bounded.
    pub max_answers: usize,
    /// Further tries after a malformed verdict or a failed request.
    pub retries: usize,
    pub timeout_s: u64,
    /// Tokens the judge may write per verdict.
    pub max_tokens: usize,
    /// A reference-guided rating at or above this counts as "right" when the judge
    /// is compared with fact accuracy.
    pub threshold: f64,
}

impl Default for JudgeSettings {
    fn default() -> Self {
        Self {
            url: None,
            model: "smollm2".into(),
            api_key_env: "F1AI_JUDGE_API_KEY".into(),
            max_answers: 20,
            retries: 2,
            timeout_s: 120,
            max_tokens: 256,
            threshold: 6.0,
        }
    }
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            bootstrap_resamples: 1000,
            seed: 42,
            rouge_stemmer: true,
            judge: None,
        }
    }
}

impl EvalConfig {
    /// Reads a YAML file; unknown keys are errors naming the file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let config: Self =
            serde_norway::from_str(&text).map_err(|e| Error::invalid(path, e.to_string()))?;
        if config.bootstrap_resamples == 0 {
            return Err(Error::invalid(
                path,
                "bootstrap_resamples must be at least 1",
            ));
        }
        if let Some(judge) = &config.judge {
            if judge.max_answers == 0 || judge.max_tokens == 0 || judge.timeout_s == 0 {
                return Err(Error::invalid(
                    path,
                    "judge.max_answers, judge.max_tokens and judge.timeout_s must be at least 1",
                ));
            }
            if !(1.0..=10.0).contains(&judge.threshold) {
                return Err(Error::invalid(path, "judge.threshold must be within 1-10"));
            }
        }
        Ok(config)
    }
}
