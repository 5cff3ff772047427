//! The LLM-as-judge part of `f1ai eval`: which judge (an endpoint, or a local
//! model served on loopback), which answers, and the tables it adds.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{bail, Result};
use f1_eval::config::{EvalConfig, JudgeSettings};
use f1_eval::judge::client::Endpoint;
use f1_eval::judge::{judge_pair, judge_run, Item, Judge, PairJudgment, RunJudgment};
use f1_serve::server::ServeOptions;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::runs::Run;
use crate::cli::EvalArgs;
use crate::workspace::Workspace;

/// The judge to use: its settings, API root and key.
pub struct JudgeTarget {
    pub settings: JudgeSettings,
    pub url: String,
    pub api_key: Option<String>,
}

/// The judge the command line, environment (and config/.env) and configuration
/// ask for; None when no judge is asked for.
pub fn resolve(
    args: &EvalArgs,
    configured: Option<&JudgeSettings>,
    workspace: &Workspace,
) -> Result<Option<JudgeTarget>> {
    workspace.load_env_file()?;
    if let Some(local) = &args.judge_local {
        let mut settings = configured.cloned().unwrap_or_default();
        let sources = crate::catalog::sources(workspace, std::slice::from_ref(local), None)?;
        settings.model = sources[0].id.clone();
        let options = ServeOptions {
            max_tokens: settings.max_tokens,
            ..ServeOptions::default()
        };
        // llama.cpp's kernels: the judge's verdicts do not depend on the CPU.
        let precision = f1_model::model::Precision::Native;
        let url = crate::commands::serve::spawn_local(sources, (8, precision), options)?;
        return Ok(Some(JudgeTarget {
            settings,
            url: format!("{url}/v1"),
            api_key: None,
        }));
    }
    let url = args
        .judge_url
        .clone()
        .or_else(|| configured.and_then(|s| s.url.clone()));
    let Some(url) = url else {
        if configured.is_some() {
            bail!(
                "judge: no endpoint: set judge.url in the configuration, F1AI_JUDGE_URL or \
                 --judge-url, or judge with a local model (--judge-local smollm2)"
            );
        }
        return Ok(None);
    };
    let mut settings = configured.cloned().unwrap_or_default();
    if let Some(model) = &args.judge_model {
        settings.model = model.clone();
    }
    let api_key = std::env::var(&settings.api_key_env)
        .ok()
        .filter(|k| !k.is_empty());
    Ok(Some(JudgeTarget {
        settings,
        url,
        api_key,
    }))
}

/// Up to `max` ids spread evenly over every run's sorted ids, so each family has
/// a chance and every run is judged on the same questions.
fn chosen_ids(runs: &[Run], max: usize) -> BTreeSet<String> {
    let all: Vec<&String> = runs
        .iter()
        .flat_map(|r| &r.scores.ids)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let step = (all.len() as f64 / max as f64).max(1.0);
    (0..max.min(all.len()))
        .map(|i| all[(i as f64 * step) as usize].clone())
        .collect()
}

fn items(run: &Run, ids: &BTreeSet<String>) -> Vec<Item> {
    (0..run.answers.len())
        .filter(|&i| ids.contains(&run.scores.ids[i]))
        .map(|i| Item {
            id: run.scores.ids[i].clone(),
            question: run.questions[i].clone(),
            answer: run.answers[i].prediction.clone(),
            reference: run.answers[i].reference.clone(),
            fact_correct: run.scores.fact[i] > 0.5,
        })
        .collect()
}

fn interval(value: Option<&f1_eval::bootstrap::Interval>) -> String {
    value.map_or("-".into(), |i| {
        format!("{:.2} [{:.2}, {:.2}]", i.value, i.low, i.high)
    })
}

/// Judges every run (and every base/LoRA/full pair of the same model and mode);
/// returns judge.json's content and a Markdown section for summary.md. Fails when
/// the judge answered nothing at all.
pub fn run(
    target: &JudgeTarget,
    runs: &[Run],
    config: &EvalConfig,
    workspace: &Workspace,
) -> Result<(serde_json::Value, String)> {
    let settings = &target.settings;
    let endpoint = Endpoint {
        url: target.url.clone(),
        model: settings.model.clone(),
        api_key: target.api_key.clone(),
        timeout: Duration::from_secs(settings.timeout_s),
        max_tokens: settings.max_tokens,
    };
    let cache = workspace.judge_cache();
    let mut judge = Judge::new(endpoint, &cache, settings.retries).map_err(anyhow::Error::msg)?;
    let ids = chosen_ids(runs, settings.max_answers);
    let per_run: Vec<Vec<Item>> = runs.iter().map(|r| items(r, &ids)).collect();
    let pairs: Vec<(usize, usize)> = (0..runs.len())
        .flat_map(|i| (i + 1..runs.len()).map(move |j| (i, j)))
        .filter(|&(i, j)| {
            let (a, b) = (&runs[i], &runs[j]);
            a.model == b.model && a.mode == b.mode && a.method != b.method
        })
        .collect();
    let total = per_run.iter().map(Vec::len).sum::<usize>()
        + pairs.iter().map(|&(i, _)| per_run[i].len()).sum::<usize>();
    let progress = ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template("{prefix:>22} [{bar:30}] {pos}/{len} ETA {eta}")?
            .progress_chars("=> "),
    );
    progress.set_prefix(format!("judge {}", settings.model));

    let mut judged: Vec<(String, RunJudgment)> = Vec::new();
    for (run, items) in runs.iter().zip(&per_run) {
        let result = judge_run(
            &mut judge,
            items,
            settings.threshold,
            config.bootstrap_resamples,
            config.seed,
            || progress.inc(1),
        );
        judged.push((run.name.clone(), result));
    }
    let mut compared: Vec<PairJudgment> = Vec::new();
    for &(i, j) in &pairs {
        let names = (runs[i].name.as_str(), runs[j].name.as_str());
        compared.push(judge_pair(
            &mut judge,
            names,
            &per_run[i],
            &per_run[j],
            || progress.inc(1),
        ));
    }
    progress.finish_and_clear();
    let stats = judge.stats;
    println!(
        "judge {}: {} requests, {} from cache, {} malformed, {} failed",
        settings.model, stats.requests, stats.cache_hits, stats.malformed, stats.failures
    );
    let answered = judged
        .iter()
        .any(|(_, r)| r.rating.is_some() || r.reference_rating.is_some());
    if !answered {
        bail!(
            "the judge at {} gave no usable verdict: {}",
            target.url,
            judge.last_error.as_deref().unwrap_or("no answers to judge")
        );
    }

    let mut markdown = format!(
        "\n## LLM-as-judge ({}, reference-guided rating >= {} counts as right)\n\n\
         | run | judged | rating 1-10 | reference-guided | failed | agrees with fact accuracy | Cohen's kappa |\n\
         |---|---|---|---|---|---|---|\n",
        settings.model, settings.threshold
    );
    for (name, r) in &judged {
        let agreement = r.agreement_with_fact_accuracy;
        markdown.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} |\n",
            r.n,
            interval(r.rating.as_ref()),
            interval(r.reference_rating.as_ref()),
            r.rating_failed + r.reference_failed,
            agreement.map_or("-".into(), |a| format!(
                "{:.0}% of {}",
                a.accuracy * 100.0,
                a.n
            )),
            agreement.map_or("-".into(), |a| format!("{:.2}", a.kappa)),
        ));
    }
    if !compared.is_empty() {
        markdown.push_str(
            "\n| pair (both orders) | n | first wins | second wins | ties | failed | position consistency |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for p in &compared {
            markdown.push_str(&format!(
                "| {} vs {} | {} | {} | {} | {} | {} | {} |\n",
                p.first,
                p.second,
                p.n,
                p.first_wins,
                p.second_wins,
                p.ties,
                p.failed,
                p.position_consistency
                    .map_or("-".into(), |c| format!("{:.0}%", c * 100.0))
            ));
        }
    }
    let report = json!({
        "judge": {"url": target.url, "model": settings.model, "threshold": settings.threshold,
                  "max_answers": settings.max_answers, "retries": settings.retries},
        "stats": stats,
        "runs": judged.iter().map(|(name, r)| (name.clone(), json!(r))).collect::<serde_json::Map<_, _>>(),
        "pairs": compared,
    });
    Ok((report, markdown))
}
