//! The cost side of `f1ai eval`: what each training run took (from its
//! training_summary.json) and what each predictions run took per answer.

use anyhow::{Context, Result};
use f1_train::metrics::RunSummary;
use f1_train::trainer::SUMMARY_FILE;
use serde_json::json;

use super::runs::Run;
use crate::workspace::Workspace;

/// The training summaries under models/artifacts/, by run name; a summary that
/// does not parse is an error naming it.
fn training_summaries(workspace: &Workspace) -> Result<Vec<RunSummary>> {
    let dir = workspace.artifacts_dir();
    let mut summaries = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path().join(SUMMARY_FILE);
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let summary: RunSummary =
            serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
        summaries.push(summary);
    }
    summaries.sort_by(|a, b| a.run_name.cmp(&b.run_name));
    Ok(summaries)
}

/// system.json's content and a Markdown section for summary.md.
pub fn collect(runs: &[Run], workspace: &Workspace) -> Result<(serde_json::Value, String)> {
    let training = training_summaries(workspace)?;
    let mut markdown = String::from("\n## Cost\n\n");
    if !training.is_empty() {
        markdown.push_str(
            "| training run | method | trainable parameters | steps | wall | tokens/s | peak RSS | val loss before -> best |\n\
             |---|---|---|---|---|---|---|---|\n",
        );
        for t in &training {
            let loss = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3}"));
            markdown.push_str(&format!(
                "| {} | {} | {} ({:.2}%) | {} | {:.1} min | {:.1} | {:.0} MiB | {} -> {} |\n",
                t.run_name,
                json!(t.method).as_str().unwrap_or("?"),
                t.trainable_parameters,
                100.0 * t.trainable_parameters as f64 / t.total_parameters.max(1) as f64,
                t.steps,
                t.wall_seconds / 60.0,
                t.tokens_per_second,
                t.peak_rss_mib,
                loss(t.initial_val_loss),
                loss(t.best_val_loss),
            ));
        }
        markdown.push('\n');
    }
    markdown.push_str(
        "| predictions run | answers | latency per answer s | generated tokens per answer | generation tokens/s |\n\
         |---|---|---|---|---|\n",
    );
    let mut inference = serde_json::Map::new();
    for run in runs {
        let n = run.answers.len().max(1) as f64;
        let seconds: f64 = run.scores.latency_s.iter().sum();
        let tokens: usize = run.scores.generated_tokens.iter().sum();
        markdown.push_str(&format!(
            "| {} | {} | {:.2} | {:.1} | {:.1} |\n",
            run.name,
            run.answers.len(),
            seconds / n,
            tokens as f64 / n,
            tokens as f64 / seconds.max(f64::MIN_POSITIVE)
        ));
        inference.insert(
            run.name.clone(),
            json!({"answers": run.answers.len(), "mean_latency_s": seconds / n,
                   "mean_generated_tokens": tokens as f64 / n,
                   "generated_tokens_per_second": tokens as f64 / seconds.max(f64::MIN_POSITIVE)}),
        );
    }
    Ok((
        json!({"training": training, "inference": inference}),
        markdown,
    ))
}
