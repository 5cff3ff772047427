//! Everything the earlier phases wrote that the report reads: `f1ai eval`'s
//! metrics, perplexity and judgments, each training run's summary and step log,
//! and the predictions behind the example answers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use f1_baseline::Prediction;
use f1_eval::bootstrap::Interval;
use f1_eval::general::Forgetting;
use f1_eval::judge::{PairJudgment, RunJudgment};
use f1_eval::multiple_choice::ChoiceMetrics;
use f1_eval::run::{Comparison, RunMetrics};
use f1_train::metrics::{RunSummary, StepRecord};
use f1_train::validation::Validation;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{Error, Result};

/// Where the results lie.
#[derive(Debug, Clone)]
pub struct Sources {
    /// results/metrics/: summary.json (required), perplexity.json,
    /// multiple_choice.json, judge.json.
    pub metrics: PathBuf,
    /// results/predictions/: one JSONL per run.
    pub predictions: PathBuf,
    /// models/artifacts/: training_summary.json and training_log.jsonl per run.
    pub artifacts: PathBuf,
}

/// One predictions run and its metrics.
#[derive(Debug, Clone)]
pub struct Run {
    /// `<model>-<method>-<mode>`.
    pub name: String,
    pub model: String,
    /// `base`, `lora` or `full`.
    pub method: String,
    pub mode: String,
    pub metrics: RunMetrics,
    pub predictions: Vec<Prediction>,
}

impl Run {
    /// The model variant's name as perplexity and the catalog use it: the base
    /// model's name, or the fine-tuned run's (`<model>-<method>` for answers
    /// written before predictions named their run).
    pub fn variant(&self) -> String {
        match (
            self.method.as_str(),
            self.predictions.first().and_then(|p| p.run.clone()),
        ) {
            ("base", _) => self.model.clone(),
            (_, Some(run)) => run,
            _ => format!("{}-{}", self.model, self.method),
        }
    }
}

/// Two runs' paired comparison, as summary.json holds it.
#[derive(Debug, Clone, Deserialize)]
pub struct NamedComparison {
    pub a: String,
    pub b: String,
    pub comparison: Comparison,
}

#[derive(Debug, Deserialize)]
struct Summary {
    runs: BTreeMap<String, RunMetrics>,
    #[serde(default)]
    comparisons: Vec<NamedComparison>,
    /// Per run, per knowledge label (known, maybe, unknown).
    #[serde(default)]
    knowledge: BTreeMap<String, BTreeMap<String, KnowledgeGroup>>,
}

/// A run's answers on the facts its base model knew, maybe knew or did not
/// know before training.
#[derive(Debug, Clone, Deserialize)]
pub struct KnowledgeGroup {
    pub n: usize,
    pub accuracy: Option<f64>,
    pub hallucination_rate: Option<f64>,
}

/// General ability, as `f1ai eval --general` wrote it.
#[derive(Debug, Clone, Deserialize)]
pub struct GeneralAbility {
    pub per_task: usize,
    pub tasks: Vec<String>,
    /// Per model variant: the mean acc_norm in percent.
    pub models: BTreeMap<String, GeneralModel>,
    #[serde(default)]
    pub forgetting: Vec<NamedForgetting>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GeneralModel {
    pub score: f64,
    pub tasks: BTreeMap<String, GeneralTask>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GeneralTask {
    pub metrics: ChoiceMetrics,
}

/// One fine-tuned model's forgetting against its base.
#[derive(Debug, Clone, Deserialize)]
pub struct NamedForgetting {
    pub model: String,
    pub base: String,
    pub forgetting: Forgetting,
}

/// One model variant's perplexity of the reference replies.
#[derive(Debug, Clone, Deserialize)]
pub struct Perplexity {
    pub perplexity: Interval,
    pub tokens: usize,
    pub conversations: usize,
}

#[derive(Debug, Deserialize)]
struct PerplexityFile {
    models: BTreeMap<String, Perplexity>,
}

#[derive(Debug, Deserialize)]
struct MultipleChoiceFile {
    models: BTreeMap<String, MultipleChoiceModel>,
}

#[derive(Debug, Deserialize)]
struct MultipleChoiceModel {
    metrics: ChoiceMetrics,
}

/// The judge's verdicts, as judge.json holds them.
#[derive(Debug, Clone, Deserialize)]
pub struct Judgments {
    pub judge: JudgeInfo,
    pub runs: BTreeMap<String, RunJudgment>,
    #[serde(default)]
    pub pairs: Vec<PairJudgment>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JudgeInfo {
    pub model: String,
}

/// A training run: its summary and step log.
#[derive(Debug, Clone)]
pub struct TrainingRun {
    pub summary: RunSummary,
    pub log: Vec<StepRecord>,
    /// The validation before training (the curves' first point), if recorded.
    pub initial: Option<Validation>,
}

impl TrainingRun {
    pub fn method_name(&self) -> &'static str {
        self.summary.method.name()
    }
}

/// The study's results.
#[derive(Debug, Clone)]
pub struct Study {
    /// Sorted by model, mode, then base, LoRA, full.
    pub runs: Vec<Run>,
    pub comparisons: Vec<NamedComparison>,
    pub perplexity: BTreeMap<String, Perplexity>,
    /// Each model variant's multiple-choice accuracy.
    pub multiple_choice: BTreeMap<String, ChoiceMetrics>,
    pub judgments: Option<Judgments>,
    pub training: Vec<TrainingRun>,
    /// General ability and forgetting, when evaluated.
    pub general: Option<GeneralAbility>,
    /// Per run, per knowledge label.
    pub knowledge: BTreeMap<String, BTreeMap<String, KnowledgeGroup>>,
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::data(path, e))
}

fn read_optional<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    if path.exists() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

fn method_rank(method: &str) -> usize {
    ["base", "lora", "full"]
        .iter()
        .position(|m| *m == method)
        .unwrap_or(3)
}

fn read_training(artifacts: &Path) -> Result<Vec<TrainingRun>> {
    let mut runs = Vec::new();
    let entries = match std::fs::read_dir(artifacts) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(runs),
        Err(e) => return Err(Error::io(artifacts, e)),
    };
    for entry in entries {
        let dir = entry.map_err(|e| Error::io(artifacts, e))?.path();
        let summary_path = dir.join(f1_train::trainer::SUMMARY_FILE);
        if !summary_path.is_file() {
            continue;
        }
        let summary: RunSummary = read_json(&summary_path)?;
        let log_path = dir.join(f1_train::trainer::LOG_FILE);
        let log = if log_path.is_file() {
            f1_train::metrics::read_log(&log_path).map_err(|e| Error::data(&log_path, e))?
        } else {
            Vec::new()
        };
        runs.push(TrainingRun {
            summary,
            log,
            initial: f1_train::validation::read_initial(&dir),
        });
    }
    runs.sort_by(|a, b| a.summary.run_name.cmp(&b.summary.run_name));
    Ok(runs)
}

impl Study {
    /// Reads the results; summary.json and every run's predictions must exist,
    /// the rest is optional. A file that exists but does not parse is an error
    /// naming it.
    pub fn load(sources: &Sources) -> Result<Self> {
        let summary_path = sources.metrics.join("summary.json");
        if !summary_path.is_file() {
            return Err(Error::data(
                &summary_path,
                "missing: run `f1ai eval` before `f1ai report`",
            ));
        }
        let summary: Summary = read_json(&summary_path)?;
        if summary.runs.is_empty() {
            return Err(Error::data(&summary_path, "no runs to report"));
        }
        let mut runs = Vec::new();
        for (name, metrics) in summary.runs {
            let path = sources.predictions.join(format!("{name}.jsonl"));
            let predictions = f1_baseline::read_predictions(&path)
                .map_err(|e| Error::data(&path, format!("the predictions of run {name}: {e}")))?;
            let Some(first) = predictions.first() else {
                return Err(Error::data(&path, "no predictions"));
            };
            runs.push(Run {
                model: first.model.clone(),
                method: first.method.clone(),
                mode: first.mode.clone(),
                name,
                metrics,
                predictions,
            });
        }
        runs.sort_by(|a, b| {
            (&a.model, &a.mode, method_rank(&a.method)).cmp(&(
                &b.model,
                &b.mode,
                method_rank(&b.method),
            ))
        });
        let perplexity = read_optional::<PerplexityFile>(&sources.metrics.join("perplexity.json"))?
            .map(|p| p.models)
            .unwrap_or_default();
        Ok(Self {
            runs,
            comparisons: summary.comparisons,
            knowledge: summary.knowledge,
            general: read_optional(&sources.metrics.join("general.json"))?,
            perplexity,
            multiple_choice: read_optional::<MultipleChoiceFile>(
                &sources.metrics.join("multiple_choice.json"),
            )?
            .map(|f| f.models.into_iter().map(|(k, m)| (k, m.metrics)).collect())
            .unwrap_or_default(),
            judgments: read_optional(&sources.metrics.join("judge.json"))?,
            training: read_training(&sources.artifacts)?,
        })
    }

    /// The comparison of two runs, oriented so that the difference is `a - b`.
    pub fn comparison(&self, a: &str, b: &str) -> Option<Comparison> {
        self.comparisons.iter().find_map(|c| {
            if c.a == a && c.b == b {
                Some(c.comparison.clone())
            } else if c.a == b && c.b == a {
                let mut flipped = c.comparison.clone();
                flipped.fact_accuracy_difference = -flipped.fact_accuracy_difference;
                for kind in flipped.by_test_kind.values_mut() {
                    kind.difference = kind.difference.scaled(-1.0);
                    (kind.difference.low, kind.difference.high) =
                        (kind.difference.high, kind.difference.low);
                }
                Some(flipped)
            } else {
                None
            }
        })
    }

    /// The training run behind a fine-tuned predictions run: the one named
    /// `<model>-<method>`, else the only one of that model and method.
    pub fn training_of(&self, run: &Run) -> Option<&TrainingRun> {
        if run.method == "base" {
            return None;
        }
        let variant = run.variant();
        if let Some(t) = self.training.iter().find(|t| t.summary.run_name == variant) {
            return Some(t);
        }
        let mut matching = self
            .training
            .iter()
            .filter(|t| t.summary.model == run.model && t.method_name() == run.method);
        match (matching.next(), matching.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }

    /// The prompting mode the methods are compared in: zero-shot when present
    /// (fine-tuning is meant to answer without help), else the first mode.
    pub fn primary_mode(&self) -> &str {
        if self.runs.iter().any(|r| r.mode == "zero-shot") {
            "zero-shot"
        } else {
            &self.runs[0].mode
        }
    }

    /// The runs in the primary mode.
    pub fn primary_runs(&self) -> impl Iterator<Item = &Run> {
        let mode = self.primary_mode().to_string();
        self.runs.iter().filter(move |r| r.mode == mode)
    }

    /// The models the runs cover, in order.
    pub fn models(&self) -> Vec<&str> {
        let mut models: Vec<&str> = self.runs.iter().map(|r| r.model.as_str()).collect();
        models.dedup();
        models
    }
}
