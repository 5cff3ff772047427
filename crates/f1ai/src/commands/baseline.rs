//! `f1ai baseline`: a pretrained or fine-tuned model (optionally with a LoRA
//! adapter) answers a dataset split in each prompting mode; predictions go to
//! results/predictions/<model>-<base|lora|full>-<mode>.jsonl.

use anyhow::{ensure, Context, Result};
use f1_baseline::{FactIndex, Mode, PromptBuilder, RunLabel};
use f1_data::KnowledgeBase;
use f1_model::assistant::Assistant;
use f1_model::generate::GenerationConfig;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::BaselineArgs;
use crate::workspace::Workspace;

pub fn run(args: BaselineArgs, workspace: &Workspace) -> Result<()> {
    let modes = if args.modes.is_empty() {
        Mode::DEFAULT.to_vec()
    } else {
        args.modes.clone()
    };
    let read_split = |name: &str| -> Result<Vec<f1_baseline::Case>> {
        let split = workspace.curated().join(format!("{name}.jsonl"));
        ensure!(
            split.exists(),
            "{} does not exist: run `f1ai data build` first",
            split.display()
        );
        Ok(f1_baseline::read_cases(&split)?)
    };
    let cases = read_split(&args.split)?;
    let fan_questions = if args.fan_questions {
        f1_baseline::fan_questions::fan_questions()?
    } else {
        Vec::new()
    };
    let fan_questions = f1_baseline::spread(&fan_questions, args.limit);
    // Asked under the split's own system prompt.
    let fan_cases = |system: Option<&f1_baseline::testset::Message>| -> Vec<f1_baseline::Case> {
        let system = system
            .filter(|m| m.role == "system")
            .map(|m| m.content.as_str());
        fan_questions.iter().map(|q| q.case(system)).collect()
    };
    let fan_plain = fan_cases(cases[0].messages.first());
    let mut chosen = f1_baseline::spread(&cases, args.limit);
    chosen.extend(&fan_plain);
    // Tools mode asks the same questions from their tool conversations.
    let (tool_cases, toolbox) = if modes.contains(&Mode::Tools) {
        let toolbox = f1_tools::Toolbox::open(&workspace.database())
            .context("tools read the knowledge base: run `f1ai data import` first")?;
        (read_split(&format!("tools-{}", args.split))?, Some(toolbox))
    } else {
        (Vec::new(), None)
    };
    // The chosen questions' tool conversations (one whose lookup the data cannot
    // answer has none).
    let tool_by_id: std::collections::HashMap<&str, &f1_baseline::Case> = tool_cases
        .iter()
        .map(|c| (c.metadata.id.as_str(), c))
        .collect();
    let mut tool_chosen: Vec<&f1_baseline::Case> = chosen
        .iter()
        .filter_map(|c| {
            tool_by_id
                .get(format!("tools:{}", c.metadata.id).as_str())
                .copied()
        })
        .collect();
    let fan_tools = fan_cases(tool_cases.first().and_then(|c| c.messages.first()));
    if !tool_cases.is_empty() {
        tool_chosen.extend(&fan_tools);
    }
    let train = if modes.contains(&Mode::FewShot) {
        f1_baseline::read_cases(&workspace.curated().join("train.jsonl"))?
    } else {
        Vec::new()
    };
    let index = if modes.contains(&Mode::Rag) {
        let kb = KnowledgeBase::open(&workspace.database())
            .context("RAG reads the knowledge base: run `f1ai data import` first")?;
        let sentences = f1_dataset::corpus::fact_sentences(&kb)?;
        tracing::info!(sentences = sentences.len(), "indexed fact sentences");
        Some(FactIndex::new(sentences))
    } else {
        None
    };

    let labelled = crate::catalog::labelled(workspace, &args.model, args.adapter.as_deref())?;
    let mut assistant = Assistant::load_with(
        &labelled.source.weights,
        &args.device.open()?,
        args.precision.get(),
    )?;
    if let Some(adapter) = &labelled.source.adapter {
        let config = f1_train::peft::attach_adapter(&mut assistant.model.transformer, adapter)
            .with_context(|| format!("loading the adapter in {}", adapter.display()))?;
        tracing::info!(r = config.r, modules = ?config.target_modules, "adapter attached");
    }
    let label = RunLabel {
        model: labelled.model.clone(),
        method: labelled.method.to_string(),
        run: labelled.run(),
    };
    let config = GenerationConfig {
        max_tokens: args.max_tokens,
        ..GenerationConfig::default()
    };
    for mode in modes {
        let builder = match mode {
            Mode::ZeroShot => PromptBuilder::ZeroShot,
            Mode::FewShot => PromptBuilder::few_shot(&train, args.shots, args.seed),
            Mode::Rag => PromptBuilder::Rag {
                index: index.as_ref().expect("built for rag"),
                k: args.facts,
            },
            Mode::Tools => PromptBuilder::Tools,
        };
        let questions = match mode {
            Mode::Tools => tool_chosen.len(),
            _ => chosen.len(),
        };
        let progress = ProgressBar::new(questions as u64).with_style(
            ProgressStyle::with_template("{prefix:>22} [{bar:30}] {pos}/{len} {msg} ETA {eta}")?
                .progress_chars("=> "),
        );
        progress.set_prefix(format!("{} {} {mode}", label.model, label.method));
        let mut tokens = 0usize;
        let started = std::time::Instant::now();
        let on_answer = |prediction: &f1_baseline::Prediction| {
            tokens += prediction.prompt_tokens + prediction.generated_tokens;
            let seconds = started.elapsed().as_secs_f64();
            progress.set_message(format!("{:.0} tok/s", tokens as f64 / seconds));
            progress.inc(1);
        };
        let batch_size = args.batch_size as usize;
        let predictions = match &toolbox {
            Some(toolbox) if mode == Mode::Tools => f1_baseline::run_tools(
                &mut assistant,
                toolbox,
                &tool_chosen,
                &label,
                &config,
                batch_size,
                on_answer,
            )?,
            _ => f1_baseline::run(
                &mut assistant,
                &chosen,
                &builder,
                &label,
                &config,
                batch_size,
                on_answer,
            )?,
        };
        progress.finish();
        let out = workspace.predictions(&labelled.predictions_stem(), mode.name());
        f1_baseline::write_predictions(&out, &predictions)?;
        let mean_latency =
            predictions.iter().map(|p| p.latency_s).sum::<f64>() / predictions.len() as f64;
        println!(
            "{} {} {mode}: {} answers, {mean_latency:.2} s each, wrote {}",
            label.model,
            label.method,
            predictions.len(),
            out.display()
        );
        if mode == Mode::Tools {
            let calls: Vec<Option<bool>> = predictions
                .iter()
                .map(f1_baseline::Prediction::first_call_valid)
                .collect();
            let made = calls.iter().flatten().count();
            let valid = calls.iter().flatten().filter(|v| **v).count();
            println!(
                "  {made} of {} answers made a call; {valid} of those {made} were valid on the first try",
                predictions.len()
            );
        }
    }
    Ok(())
}
