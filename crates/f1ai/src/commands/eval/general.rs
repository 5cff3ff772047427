//! The general-ability part of `f1ai eval`: each model on lm-evaluation-harness's
//! ARC-Easy, ARC-Challenge, PIQA and HellaSwag (fixed samples, the harness's
//! plain prompts), and each fine-tuned model's forgetting against its base.

use anyhow::{anyhow, Context, Result};
use f1_eval::config::EvalConfig;
use f1_eval::general::{forgetting, score, task, Task, TASKS};
use f1_eval::multiple_choice::{summarize, ChoiceQuestion, Graded};
use f1_train::scorer::Scorer;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::cli::EvalArgs;
use crate::workspace::Workspace;

/// The file `f1ai eval --general` writes under results/metrics/.
pub const FILE: &str = "general.json";

/// The chosen tasks and their fixed samples, read before `eval` writes
/// anything, so a bad file leaves every result as it was.
pub struct Questions {
    dir: std::path::PathBuf,
    tasks: Vec<Task>,
    questions: Vec<Vec<ChoiceQuestion>>,
}

/// Reads the tasks `--general` asks for; a bad line names its file and line.
pub fn read(args: &EvalArgs) -> Result<Questions> {
    let dir = args.general_dir.clone().ok_or_else(|| {
        anyhow!("--general needs the tasks' folder: --general-dir DIR or F1AI_GENERAL_EVAL_DIR")
    })?;
    let tasks: Vec<Task> = if args.general_tasks.is_empty() {
        TASKS.to_vec()
    } else {
        args.general_tasks
            .iter()
            .map(|name| task(name).map_err(|e| anyhow!(e)))
            .collect::<Result<_>>()?
    };
    let questions = tasks
        .iter()
        .map(|t| {
            t.questions(&dir, args.general_limit)
                .map_err(|e| anyhow!(e))
        })
        .collect::<Result<_>>()?;
    Ok(Questions {
        dir,
        tasks,
        questions,
    })
}

/// Scores every chosen model; returns general.json's content and a Markdown
/// section for summary.md.
pub fn run(
    args: &EvalArgs,
    read: &Questions,
    config: &EvalConfig,
    workspace: &Workspace,
) -> Result<(serde_json::Value, String)> {
    let Questions {
        dir,
        tasks,
        questions,
    } = read;
    let total: usize = questions.iter().map(Vec::len).sum();
    let sources = crate::catalog::sources(workspace, &args.general_models, None)?;
    // What each source was named on the command line (its id when defaulted).
    let arguments: Vec<String> = match args.general_models.is_empty() {
        true => sources.iter().map(|s| s.id.clone()).collect(),
        false => args.general_models.clone(),
    };
    let mut graded_by_model: Vec<(String, Vec<Vec<Graded>>)> = Vec::new();
    let mut models = serde_json::Map::new();
    let names: Vec<&str> = tasks.iter().map(|t| t.name).collect();
    let sample = match args.general_limit {
        0 => "every question".to_string(),
        n => format!("{n} questions per task"),
    };
    let mut markdown = format!(
        "\n## General ability (acc_norm %, {sample}, the harness's plain prompts)\n\n\
         | model | {} | mean |\n|---|{}---|\n",
        names.join(" | "),
        "---|".repeat(tasks.len())
    );
    for source in &sources {
        let progress = ProgressBar::new(total as u64).with_style(
            ProgressStyle::with_template("{prefix:>22} [{bar:30}] {pos}/{len} ETA {eta}")?
                .progress_chars("=> "),
        );
        progress.set_prefix(format!("general {}", source.id));
        let mut scorer = Scorer::load(&source.weights, source.adapter.as_deref())
            .with_context(|| format!("loading {}", source.id))?;
        let mut by_task = serde_json::Map::new();
        let mut graded_tasks = Vec::new();
        let mut cells = Vec::new();
        for (task, questions) in tasks.iter().zip(questions) {
            let graded = scorer
                .model()
                .grade_task(task, questions, || progress.inc(1))
                .with_context(|| format!("scoring {} on {}", source.id, task.name))?;
            let metrics = summarize(questions, &graded, config.bootstrap_resamples, config.seed);
            cells.push(metrics.acc_norm.scaled(100.0).format(1));
            let right: Vec<u8> = graded.iter().map(|g| u8::from(g.correct_norm)).collect();
            by_task.insert(
                task.name.to_string(),
                json!({"metrics": metrics, "correct_norm": right}),
            );
            graded_tasks.push(graded);
        }
        progress.finish_and_clear();
        let mean = score(&graded_tasks) * 100.0;
        markdown.push_str(&format!(
            "| {} | {} | {mean:.1} |\n",
            source.id,
            cells.join(" | ")
        ));
        models.insert(
            source.id.clone(),
            json!({"weights": source.weights, "adapter": source.adapter, "tasks": by_task,
                   "score": mean}),
        );
        graded_by_model.push((source.id.clone(), graded_tasks));
    }
    // Forgetting: each fine-tuned model against the base model it was trained from.
    let mut drops = Vec::new();
    for ((id, graded), argument) in graded_by_model.iter().zip(&arguments) {
        let labelled = crate::catalog::labelled(workspace, argument, None)?;
        if labelled.method == "base" {
            continue;
        }
        let Some((base, base_graded)) = graded_by_model
            .iter()
            .find(|(other, _)| *other == labelled.model)
        else {
            tracing::warn!(
                model = id,
                base = labelled.model,
                "no base model scored: no forgetting"
            );
            continue;
        };
        let f = forgetting(base_graded, graded, config.bootstrap_resamples, config.seed);
        markdown.push_str(&format!(
            "\n{id} vs {base}: forgetting {} points (p = {:.3})",
            f.drop.format(1),
            f.p
        ));
        drops.push(json!({"model": id, "base": base, "method": labelled.method, "forgetting": f}));
    }
    if !drops.is_empty() {
        markdown.push_str(
            "\n\nForgetting: the base model's mean acc_norm minus the fine-tuned model's, \
             with a paired bootstrap 95% CI (questions resampled within each task).\n",
        );
    }
    Ok((
        json!({"dir": dir, "per_task": args.general_limit, "tasks": names, "models": models,
               "forgetting": drops}),
        markdown,
    ))
}
