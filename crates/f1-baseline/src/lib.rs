//! Baseline runs: a pretrained model answers the test split zero-shot, few-shot
//! (examples from train) or with BM25-retrieved fact sentences, and every answer is
//! recorded with its reference, gold entities, token counts and latency.

mod error;
pub mod fan_questions;
mod jsonl;
pub mod knowledge;
pub mod prediction;
pub mod prompt;
pub mod retrieval;
pub mod testset;
pub mod tool_loop;

use std::time::Instant;

use f1_model::assistant::Assistant;
use f1_model::generate::{FinishReason, Generation, GenerationConfig};
use f1_tools::Toolbox;

pub use error::{Error, Result};
pub use prediction::{read_predictions, write_predictions, Prediction};
pub use prompt::{Mode, Prompt, PromptBuilder};
pub use retrieval::FactIndex;
pub use testset::{family_entities, read_cases, Case};

/// Which model and method a run's predictions belong to.
#[derive(Debug, Clone)]
pub struct RunLabel {
    pub model: String,
    pub method: String,
    /// The fine-tuned model's own name (None for a pretrained model).
    pub run: Option<String>,
}

/// `limit` cases spread evenly over `cases` (all of them when `limit` is 0 or at
/// least their number), so a short run still covers every part of the split.
pub fn spread<T>(items: &[T], limit: usize) -> Vec<&T> {
    if limit == 0 || limit >= items.len() {
        return items.iter().collect();
    }
    (0..limit)
        .map(|i| &items[i * items.len() / limit])
        .collect()
}

/// Answers every case, `batch_size` at a time (1: one after another, each
/// prediction's latency its own wall time; more: decoded together, each latency
/// the shared prefill plus the decoding until that answer ended); `on_answer` sees
/// each prediction as it is made.
pub fn run(
    assistant: &mut Assistant,
    cases: &[&Case],
    builder: &PromptBuilder,
    label: &RunLabel,
    config: &GenerationConfig,
    batch_size: usize,
    mut on_answer: impl FnMut(&Prediction),
) -> Result<Vec<Prediction>> {
    let mut predictions = Vec::with_capacity(cases.len());
    for chunk in cases.chunks(batch_size.max(1)) {
        let prompts: Vec<Prompt> = chunk.iter().map(|case| builder.build(case)).collect();
        let answers: Vec<(Generation, f64)> = if let [prompt] = prompts.as_slice() {
            let started = Instant::now();
            let generation = assistant.reply(&prompt.messages, config, |_| true)?;
            vec![(generation, started.elapsed().as_secs_f64())]
        } else {
            let conversations: Vec<_> = prompts.iter().map(|p| p.messages.clone()).collect();
            assistant
                .reply_batch(&conversations, config)?
                .into_iter()
                .map(|g| {
                    let latency = g.prompt_seconds + g.decode_seconds;
                    (g, latency)
                })
                .collect()
        };
        for ((case, prompt), (generation, latency_s)) in chunk.iter().zip(prompts).zip(answers) {
            let prediction = Prediction {
                retrieved: prompt.facts,
                prompt_tokens: generation.prompt_tokens,
                generated_tokens: generation.tokens.len(),
                latency_s,
                ..predicted(
                    case,
                    label,
                    builder.mode(),
                    &generation.text,
                    generation.finish_reason,
                )
            };
            on_answer(&prediction);
            predictions.push(prediction);
        }
    }
    Ok(predictions)
}

/// Answers every case through the tools (see [`tool_loop`]), `batch_size`
/// conversations decoded together; each prediction keeps its calls and results,
/// and its id is the plain example's, so runs pair up case by case.
pub fn run_tools(
    assistant: &mut Assistant,
    toolbox: &Toolbox,
    cases: &[&Case],
    label: &RunLabel,
    config: &GenerationConfig,
    batch_size: usize,
    mut on_answer: impl FnMut(&Prediction),
) -> Result<Vec<Prediction>> {
    let mut predictions = Vec::with_capacity(cases.len());
    for chunk in cases.chunks(batch_size.max(1)) {
        let conversations: Vec<_> = chunk
            .iter()
            .map(|case| PromptBuilder::Tools.build(case).messages)
            .collect();
        let answers = tool_loop::answer_batch(assistant, toolbox, &conversations, config)?;
        for (case, answer) in chunk.iter().zip(answers) {
            let mut prediction = Prediction {
                prompt_tokens: answer.prompt_tokens,
                generated_tokens: answer.generated_tokens,
                latency_s: answer.seconds(),
                tool_steps: answer.steps,
                ..predicted(
                    case,
                    label,
                    Mode::Tools,
                    &answer.answer,
                    answer.finish_reason,
                )
            };
            if let Some(plain) = prediction.id.strip_prefix("tools:") {
                prediction.id = plain.to_string();
            }
            on_answer(&prediction);
            predictions.push(prediction);
        }
    }
    Ok(predictions)
}

/// A prediction of `text` for `case`, its costs left at zero.
fn predicted(
    case: &Case,
    label: &RunLabel,
    mode: Mode,
    text: &str,
    finish_reason: FinishReason,
) -> Prediction {
    Prediction {
        id: case.metadata.id.clone(),
        model: label.model.clone(),
        method: label.method.clone(),
        run: label.run.clone(),
        mode: mode.to_string(),
        family: case.metadata.family.clone(),
        fact_id: case.metadata.fact_id.clone(),
        test_kind: case.metadata.test_kind.clone(),
        question: case.question().to_string(),
        reference: case.reference().to_string(),
        prediction: text.trim().to_string(),
        gold: case.metadata.gold.clone(),
        retrieved: Vec::new(),
        prompt_tokens: 0,
        generated_tokens: 0,
        latency_s: 0.0,
        finish_reason: match finish_reason {
            FinishReason::Length => "length",
            _ => "stop",
        }
        .to_string(),
        tool_steps: Vec::new(),
    }
}
