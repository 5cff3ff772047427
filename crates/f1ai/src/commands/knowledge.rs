//! `f1ai knowledge`: which test facts a pretrained model already knows, probed
//! before training (see `f1_baseline::knowledge`); written to
//! results/metrics/knowledge-<model>.json for `f1ai eval` to group answers by.

use anyhow::{ensure, Result};
use f1_baseline::knowledge::{probe, Knowledge, ProbeSettings};
use f1_model::assistant::Assistant;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::cli::KnowledgeArgs;
use crate::workspace::Workspace;

pub fn run(args: KnowledgeArgs, workspace: &Workspace) -> Result<()> {
    let split = workspace.curated().join(format!("{}.jsonl", args.split));
    ensure!(
        split.exists(),
        "{} does not exist: run `f1ai data build` first",
        split.display()
    );
    ensure!(args.exemplar_sets > 0, "--exemplar-sets must be at least 1");
    let cases = f1_baseline::read_cases(&split)?;
    let chosen = f1_baseline::spread(&cases, args.limit);
    let train = f1_baseline::read_cases(&workspace.curated().join("train.jsonl"))?;
    let labelled = crate::catalog::labelled(workspace, &args.model, None)?;
    let mut assistant = Assistant::load_with(
        &labelled.source.weights,
        &args.device.open()?,
        args.precision.get(),
    )?;
    let settings = ProbeSettings {
        exemplar_sets: args.exemplar_sets,
        shots: args.shots,
        samples: args.samples,
        temperature: args.temperature,
        max_tokens: args.max_tokens,
        seed: args.seed,
    };
    let progress = ProgressBar::new(chosen.len() as u64).with_style(
        ProgressStyle::with_template("{prefix:>22} [{bar:30}] {pos}/{len} ETA {eta}")?
            .progress_chars("=> "),
    );
    progress.set_prefix(format!("knowledge {}", labelled.model));
    let facts = probe(&mut assistant, &chosen, &train, &settings, || {
        progress.inc(1)
    })?;
    progress.finish_and_clear();
    let count = |label: Knowledge| facts.iter().filter(|f| f.label == label).count();
    let counts: serde_json::Map<String, serde_json::Value> = Knowledge::ALL
        .iter()
        .map(|&l| (l.name().to_string(), json!(count(l))))
        .collect();
    let out = workspace.knowledge(&labelled.model);
    crate::output::write_json(
        &out,
        &json!({"model": labelled.model, "split": args.split, "settings": settings,
                "counts": counts, "facts": facts}),
    )?;
    println!(
        "{}: {} known, {} maybe, {} unknown of {} test facts; wrote {}",
        labelled.model,
        count(Knowledge::Known),
        count(Knowledge::Maybe),
        count(Knowledge::Unknown),
        facts.len(),
        out.display()
    );
    Ok(())
}
