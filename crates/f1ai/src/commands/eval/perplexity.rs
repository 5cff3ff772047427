//! The perplexity part of `f1ai eval`: each model's perplexity of the test
//! split's reference replies (teacher forcing, the reply's tokens only).

use anyhow::{ensure, Context, Result};
use f1_eval::bootstrap::confidence_interval;
use f1_eval::config::EvalConfig;
use f1_train::perplexity::reply_losses;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::cli::EvalArgs;
use crate::workspace::Workspace;

/// Longest conversation scored, in tokens (the test conversations are far shorter).
const MAX_TOKENS: usize = 1024;

/// Scores every chosen model; returns perplexity.json's content and a Markdown
/// section for summary.md.
pub fn run(
    args: &EvalArgs,
    config: &EvalConfig,
    workspace: &Workspace,
) -> Result<(serde_json::Value, String)> {
    let split = workspace.curated().join("test.jsonl");
    ensure!(
        split.exists(),
        "{} does not exist: run `f1ai data build` first (perplexity scores its replies)",
        split.display()
    );
    let conversations: Vec<_> = f1_train::data::read_conversations(&split, args.perplexity_limit)
        .with_context(|| format!("reading {}", split.display()))?
        .into_iter()
        .map(|conversation| conversation.messages)
        .collect();
    ensure!(
        !conversations.is_empty(),
        "{}: no conversations",
        split.display()
    );
    let sources = crate::catalog::sources(workspace, &args.perplexity_models, None)?;
    let mut report = serde_json::Map::new();
    let mut markdown = format!(
        "\n## Perplexity of the reference replies ({} test conversations)\n\n\
         | model | scored tokens | perplexity | mean NLL (nats/token) |\n|---|---|---|---|\n",
        conversations.len()
    );
    for source in &sources {
        let progress = ProgressBar::new(conversations.len() as u64).with_style(
            ProgressStyle::with_template("{prefix:>22} [{bar:30}] {pos}/{len} ETA {eta}")?
                .progress_chars("=> "),
        );
        progress.set_prefix(format!("perplexity {}", source.id));
        let losses = reply_losses(
            &source.weights,
            source.adapter.as_deref(),
            &conversations,
            f1_baseline::prompt::SYSTEM_PROMPT,
            MAX_TOKENS,
            || progress.inc(1),
        )
        .with_context(|| format!("scoring {}", source.id))?;
        progress.finish_and_clear();
        let corpus = |indices: &[usize]| {
            let nll: f64 = indices.iter().map(|&i| losses[i].nll).sum();
            let tokens: usize = indices.iter().map(|&i| losses[i].tokens).sum();
            (nll / tokens.max(1) as f64).exp()
        };
        let perplexity = confidence_interval(
            losses.len(),
            config.bootstrap_resamples,
            config.seed,
            corpus,
        );
        let tokens: usize = losses.iter().map(|l| l.tokens).sum();
        let nll: f64 = losses.iter().map(|l| l.nll).sum();
        markdown.push_str(&format!(
            "| {} | {tokens} | {:.2} [{:.2}, {:.2}] | {:.3} |\n",
            source.id,
            perplexity.value,
            perplexity.low,
            perplexity.high,
            nll / tokens.max(1) as f64
        ));
        report.insert(
            source.id.clone(),
            json!({
                "gguf": source.weights, "adapter": source.adapter,
                "conversations": losses.len(), "tokens": tokens,
                "mean_nll": nll / tokens.max(1) as f64, "perplexity": perplexity,
                "per_example": losses.iter().map(|l| json!({"nll": l.nll, "tokens": l.tokens,
                    "perplexity": l.perplexity()})).collect::<Vec<_>>(),
            }),
        );
    }
    Ok((json!({"split": split, "models": report}), markdown))
}
