//! `f1ai eval`: scores every predictions file under results/predictions/ and
//! writes results/metrics/<model>.json plus a combined table (summary.json,
//! summary.md), each metric with a bootstrap 95% CI and paired p-values between
//! runs on the questions they share.

mod general;
mod judge;
mod multiple_choice;
mod perplexity;
mod runs;
mod system;

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use f1_eval::config::EvalConfig;
use f1_eval::run;
use serde_json::json;

use crate::cli::EvalArgs;
use crate::output::{write_json, write_text};
use crate::workspace::Workspace;
use runs::{load_runs, Run};

pub fn run(args: EvalArgs, workspace: &Workspace) -> Result<()> {
    let config = match &args.config {
        Some(path) => EvalConfig::read(path).map_err(anyhow::Error::msg)?,
        None => EvalConfig::default(),
    };
    let general = args.general.then(|| general::read(&args)).transpose()?;
    let runs = load_runs(workspace, &config)?;

    let mut comparisons = Vec::new();
    for (i, a) in runs.iter().enumerate() {
        for b in &runs[i + 1..] {
            let c = run::compare(
                &a.scores,
                &b.scores,
                config.bootstrap_resamples,
                config.seed,
            );
            if c.shared > 0 {
                comparisons.push(json!({"a": a.name, "b": b.name, "comparison": c}));
            }
        }
    }
    let mut by_model: BTreeMap<&str, serde_json::Map<String, serde_json::Value>> = BTreeMap::new();
    for r in &runs {
        by_model
            .entry(r.model.as_str())
            .or_default()
            .insert(r.name.clone(), serde_json::to_value(&r.metrics)?);
    }
    let dir = workspace.metrics_dir();
    for (model, metrics) in &by_model {
        write_json(
            &dir.join(format!("{model}.json")),
            &json!({"model": model, "runs": metrics}),
        )?;
    }
    let summary: serde_json::Map<String, serde_json::Value> = runs
        .iter()
        .map(|r| Ok((r.name.clone(), serde_json::to_value(&r.metrics)?)))
        .collect::<Result<_>>()?;
    let (knowledge, knowledge_markdown) = by_knowledge(&runs, workspace)?;
    write_json(
        &dir.join("summary.json"),
        &json!({"config": {"bootstrap_resamples": config.bootstrap_resamples, "seed": config.seed,
                            "rouge_stemmer": config.rouge_stemmer},
                "runs": summary, "comparisons": comparisons, "knowledge": knowledge}),
    )?;

    let mut table = String::from(
        "| run | n | fact accuracy % | states gold % | BLEU | ROUGE-1 | ROUGE-2 | ROUGE-L | latency s |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &runs {
        let m = &r.metrics;
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.2} |\n",
            r.name,
            m.n,
            m.fact_accuracy.scaled(100.0).format(1),
            m.gold_stated
                .map_or("-".into(), |g| g.scaled(100.0).format(1)),
            m.bleu.scaled(1.0).format(1),
            m.rouge1.scaled(100.0).format(1),
            m.rouge2.scaled(100.0).format(1),
            m.rouge_l.scaled(100.0).format(1),
            m.mean_latency_s.value
        ));
    }
    table.push_str(
        "\nValues with bootstrap 95% confidence intervals. States gold: every gold entity \
         stated, whatever else the answer names (fact accuracy also asks for no other entity \
         of its family).\n",
    );
    table.push_str(&knowledge_markdown);
    let (system, markdown) = system::collect(&runs, workspace)?;
    write_json(&dir.join("system.json"), &system)?;
    table.push_str(&markdown);
    if args.perplexity {
        let (report, markdown) = perplexity::run(&args, &config, workspace)?;
        write_json(&dir.join("perplexity.json"), &report)?;
        table.push_str(&markdown);
    }
    if args.multiple_choice {
        let (report, markdown) = multiple_choice::run(&args, &config, workspace)?;
        write_json(&dir.join("multiple_choice.json"), &report)?;
        table.push_str(&markdown);
    }
    if let Some(general) = &general {
        let (report, markdown) = general::run(&args, general, &config, workspace)?;
        write_json(&dir.join(general::FILE), &report)?;
        table.push_str(&markdown);
    }
    if let Some(judge) = judge::resolve(&args, config.judge.as_ref(), workspace)? {
        let (report, markdown) = judge::run(&judge, &runs, &config, workspace)?;
        write_json(&dir.join("judge.json"), &report)?;
        table.push_str(&markdown);
    }
    write_text(&dir.join("summary.md"), &table)?;
    println!("{table}");
    println!("wrote {}", dir.join("summary.md").display());
    Ok(())
}

/// Each run's accuracy and hallucination rate (wrong answers that do not
/// decline) on the test facts its base model knew, maybe knew and did not know
/// before training, where `f1ai knowledge` labelled them.
fn by_knowledge(runs: &[Run], workspace: &Workspace) -> Result<(serde_json::Value, String)> {
    use f1_baseline::knowledge::{abstains, FactKnowledge, Knowledge};
    #[derive(serde::Deserialize)]
    struct Labels {
        facts: Vec<FactKnowledge>,
    }
    let mut out = serde_json::Map::new();
    let mut markdown = String::new();
    for run in runs {
        let path = workspace.knowledge(&run.model);
        if !path.is_file() {
            continue;
        }
        let labels: Labels = serde_json::from_str(&std::fs::read_to_string(&path)?)
            .with_context(|| format!("reading {}", path.display()))?;
        let label_of: std::collections::HashMap<&str, Knowledge> = labels
            .facts
            .iter()
            .map(|f| (f.id.as_str(), f.label))
            .collect();
        let mut groups = serde_json::Map::new();
        let mut cells = Vec::new();
        for label in Knowledge::ALL {
            let members: Vec<usize> = (0..run.answers.len())
                .filter(|&i| label_of.get(run.answers[i].id.as_str()) == Some(&label))
                .collect();
            let n = members.len();
            let right = members
                .iter()
                .filter(|&&i| run.scores.fact[i] > 0.0)
                .count();
            let hallucinated = members
                .iter()
                .filter(|&&i| run.scores.fact[i] == 0.0 && !abstains(&run.answers[i].prediction))
                .count();
            let share = |k: usize| (n > 0).then(|| k as f64 / n as f64);
            groups.insert(
                label.name().to_string(),
                json!({"n": n, "accuracy": share(right), "hallucination_rate": share(hallucinated)}),
            );
            cells.push(match share(right) {
                Some(a) => format!(
                    "{:.0}% / {:.0}% ({n})",
                    a * 100.0,
                    share(hallucinated).unwrap_or(0.0) * 100.0
                ),
                None => "- (0)".into(),
            });
        }
        if markdown.is_empty() {
            markdown.push_str(
                "\n## By what the base model knew before training\n\n\
                 Fact accuracy / hallucination rate (wrong answers that do not decline), \
                 questions in brackets.\n\n| run | known | maybe | unknown |\n|---|---|---|---|\n",
            );
        }
        markdown.push_str(&format!("| {} | {} |\n", run.name, cells.join(" | ")));
        out.insert(run.name.clone(), serde_json::Value::Object(groups));
    }
    Ok((serde_json::Value::Object(out), markdown))
}
