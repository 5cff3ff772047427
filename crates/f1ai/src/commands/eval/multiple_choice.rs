//! The multiple-choice part of `f1ai eval`: each model's accuracy on
//! `{question, choices, answer}` questions by log-likelihood, with CIs and
//! paired p-values between models.

use anyhow::{anyhow, ensure, Context, Result};
use f1_eval::config::EvalConfig;
use f1_eval::multiple_choice::{compare, grade, read_questions, summarize, Graded};
use f1_train::scorer::Scorer;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::cli::EvalArgs;
use crate::workspace::Workspace;

/// Scores every chosen model; returns multiple_choice.json's content and a
/// Markdown section for summary.md.
pub fn run(
    args: &EvalArgs,
    config: &EvalConfig,
    workspace: &Workspace,
) -> Result<(serde_json::Value, String)> {
    let file = args
        .mc_file
        .clone()
        .unwrap_or_else(|| workspace.curated().join(f1_dataset::MULTIPLE_CHOICE_FILE));
    ensure!(
        file.exists(),
        "{} does not exist: run `f1ai data build` first or pass --mc-file",
        file.display()
    );
    let questions = read_questions(&file, args.mc_limit).map_err(|e| anyhow!(e))?;
    let sources = crate::catalog::sources(workspace, &args.mc_models, None)?;
    let mut graded_by_model: Vec<(String, Vec<Graded>)> = Vec::new();
    let mut models = serde_json::Map::new();
    let mut markdown = format!(
        "\n## Multiple choice by log-likelihood ({} questions, {} format)\n\n\
         | model | acc % | acc_norm % | chance % |\n|---|---|---|---|\n",
        questions.len(),
        json!(args.mc_format).as_str().unwrap_or_default()
    );
    for source in &sources {
        let progress = ProgressBar::new(questions.len() as u64).with_style(
            ProgressStyle::with_template("{prefix:>22} [{bar:30}] {pos}/{len} ETA {eta}")?
                .progress_chars("=> "),
        );
        progress.set_prefix(format!("choices {}", source.id));
        let mut scorer = Scorer::load(&source.weights, source.adapter.as_deref())
            .with_context(|| format!("loading {}", source.id))?;
        let mut graded = Vec::with_capacity(questions.len());
        let mut per_question = Vec::with_capacity(questions.len());
        for question in &questions {
            let log_likelihoods = scorer
                .model()
                .choice_log_likelihoods(
                    &question.question,
                    &question.choices,
                    args.mc_format,
                    f1_baseline::prompt::SYSTEM_PROMPT,
                )
                .with_context(|| format!("scoring {} on {:?}", source.id, question.question))?;
            let g = grade(question, &log_likelihoods);
            per_question.push(
                json!({"id": question.id, "log_likelihoods": log_likelihoods,
                                     "picked": g.picked, "picked_norm": g.picked_norm,
                                     "answer": question.answer}),
            );
            graded.push(g);
            progress.inc(1);
        }
        progress.finish_and_clear();
        let metrics = summarize(&questions, &graded, config.bootstrap_resamples, config.seed);
        markdown.push_str(&format!(
            "| {} | {} | {} | {:.1} |\n",
            source.id,
            metrics.acc.scaled(100.0).format(1),
            metrics.acc_norm.scaled(100.0).format(1),
            metrics.chance * 100.0
        ));
        models.insert(
            source.id.clone(),
            json!({"gguf": source.weights, "adapter": source.adapter, "metrics": metrics,
                   "per_question": per_question}),
        );
        graded_by_model.push((source.id.clone(), graded));
    }
    let mut comparisons = Vec::new();
    for (i, (a, graded_a)) in graded_by_model.iter().enumerate() {
        for (b, graded_b) in &graded_by_model[i + 1..] {
            let c = compare(graded_a, graded_b, config.bootstrap_resamples, config.seed);
            markdown.push_str(&format!(
                "\n{a} vs {b}: acc {:+.1} points (p = {:.3}), acc_norm {:+.1} points (p = {:.3})",
                c.acc_difference * 100.0,
                c.acc_p,
                c.acc_norm_difference * 100.0,
                c.acc_norm_p
            ));
            comparisons.push(json!({"a": a, "b": b, "comparison": c}));
        }
    }
    if !comparisons.is_empty() {
        markdown.push_str(
            "\n\nValues with bootstrap 95% confidence intervals; paired bootstrap p-values.\n",
        );
    }
    Ok((
        json!({"file": file, "format": args.mc_format, "questions": questions.len(),
               "models": models, "comparisons": comparisons}),
        markdown,
    ))
}
