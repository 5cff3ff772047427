//! The runs `f1ai eval` scores: one per predictions file, its answers graded.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use f1_baseline::Prediction;
use f1_eval::config::EvalConfig;
use f1_eval::rouge::RougeScorer;
use f1_eval::run::{self, Answer, RunMetrics, RunScores};

use crate::workspace::Workspace;

/// One predictions file: `<model>-<method>-<mode>`.
pub struct Run {
    pub name: String,
    pub model: String,
    pub method: String,
    pub mode: String,
    pub questions: Vec<String>,
    pub answers: Vec<Answer>,
    pub scores: RunScores,
    pub metrics: RunMetrics,
}

fn answers(predictions: &[Prediction]) -> Vec<Answer> {
    predictions
        .iter()
        .map(|p| Answer {
            id: p.id.clone(),
            family: p.family.clone(),
            test_kind: p.test_kind.clone(),
            question: p.question.clone(),
            reference: p.reference.clone(),
            prediction: p.prediction.clone(),
            gold: p.gold.iter().map(|g| g.aliases.clone()).collect(),
            latency_s: p.latency_s,
            generated_tokens: p.generated_tokens,
        })
        .collect()
}

fn prediction_files(workspace: &Workspace) -> Result<Vec<PathBuf>> {
    let dir = workspace.predictions_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!(
            "no predictions in {}: run `f1ai baseline` first",
            dir.display()
        );
    }
    Ok(files)
}

/// Every predictions file under results/predictions/, read and scored.
pub fn load_runs(workspace: &Workspace, config: &EvalConfig) -> Result<Vec<Run>> {
    let mut loaded = Vec::new();
    for path in prediction_files(workspace)? {
        let predictions = f1_baseline::read_predictions(&path)?;
        if predictions.is_empty() {
            bail!(
                "{}: no predictions (an empty run has no average)",
                path.display()
            );
        }
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        loaded.push((name, predictions));
    }
    let all_answers: Vec<Vec<Answer>> = loaded.iter().map(|(_, p)| answers(p)).collect();
    let entities = run::family_entities(all_answers.iter().flatten());
    let rouge = RougeScorer::new(config.rouge_stemmer);
    let runs = loaded
        .into_iter()
        .zip(all_answers)
        .map(|((name, predictions), answers)| {
            let scores = run::score(&answers, &entities, &rouge);
            let metrics = run::summarize(&scores, config.bootstrap_resamples, config.seed);
            Run {
                name,
                model: predictions[0].model.clone(),
                method: predictions[0].method.clone(),
                mode: predictions[0].mode.clone(),
                questions: predictions.iter().map(|p| p.question.clone()).collect(),
                answers,
                scores,
                metrics,
            }
        })
        .collect();
    Ok(runs)
}
