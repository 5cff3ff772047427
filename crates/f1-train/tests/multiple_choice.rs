//! Multiple-choice scoring: the packed path (a question's context once, its
//! choices continuing it; several questions a row) gives the log-likelihoods of
//! scoring each choice on its own, which in turn match the generation path token
//! by token and lm-evaluation-harness's own numbers.

mod common;

use candle_core::Device;
use f1_model::model::GgufModel;
use f1_train::multiple_choice::ChoiceFormat;
use f1_train::scorer::Scorer;

const QUESTION: &str = "Which constructor did Jim Clark drive for in 1965?";

fn choices() -> Vec<String> {
    ["Lotus", "Ferrari", "Brabham-Climax", "BRM"]
        .map(String::from)
        .to_vec()
}

fn generation_path_log_likelihood(model: &std::path::Path, ids: &[u32], from: usize) -> f64 {
    let mut generator = GgufModel::load(model, &Device::Cpu).unwrap();
    let mut total = 0.0f64;
    let mut logits = generator.forward(&ids[..1], 0).unwrap();
    for i in 1..ids.len() {
        if i >= from {
            let max = logits.iter().cloned().fold(f32::MIN, f32::max) as f64;
            let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
            total += logits[ids[i] as usize] as f64 - max - sum.ln();
        }
        logits = generator.forward(&ids[i..=i], i).unwrap();
    }
    total
}

#[test]
fn shared_prefix_scores_equal_separate_scores_and_the_generation_path() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["smollm2", "gemma3"] {
        let model = common::tiny_model(name, dir.path(), 11);
        let mut loaded = Scorer::load(&model, None).unwrap();
        let mut scorer = loaded.model();
        for (format, first_choice_text) in [
            (ChoiceFormat::Chat, "Lotus"),
            (ChoiceFormat::Plain, " Lotus"),
            (ChoiceFormat::Continuation, " Lotus"),
        ] {
            let shared = scorer
                .choice_log_likelihoods(QUESTION, &choices(), format, "Be brief.")
                .unwrap();
            let context = match format {
                ChoiceFormat::Plain => format!("Question: {QUESTION}\nAnswer:"),
                ChoiceFormat::Continuation => QUESTION.to_string(),
                ChoiceFormat::Chat => scorer
                    .template
                    .render(
                        &[
                            f1_model::chat::ChatMessage::new("system", "Be brief."),
                            f1_model::chat::ChatMessage::new("user", QUESTION),
                        ],
                        true,
                    )
                    .unwrap(),
            };
            let delimiter = if format == ChoiceFormat::Chat {
                ""
            } else {
                " "
            };
            let sequences: Vec<_> = choices()
                .iter()
                .map(|c| {
                    scorer
                        .encode_pair(&context, &format!("{delimiter}{c}"), format)
                        .unwrap()
                })
                .collect();
            // The scored tokens are the choice's, nothing of the question.
            let first = &sequences[0];
            let scored: Vec<u32> = (0..first.ids.len())
                .filter(|&i| first.trained[i])
                .map(|i| first.ids[i])
                .collect();
            assert_eq!(scorer.tokenizer.decode(&scored).unwrap(), first_choice_text);
            let separate = scorer.log_likelihoods(&sequences).unwrap();
            assert_eq!(shared.len(), 4);
            for (a, b) in shared.iter().zip(&separate) {
                assert!(a.is_finite() && *a < 0.0, "{a}");
                assert!(
                    (a - b).abs() < 1e-3,
                    "{name} {format:?}: {shared:?} vs {separate:?}"
                );
            }
            // Different choices are told apart.
            assert!(
                shared.windows(2).any(|w| (w[0] - w[1]).abs() > 1e-3),
                "{shared:?}"
            );
            let longest = &sequences[2];
            let from = longest.trained.iter().position(|&t| t).unwrap();
            let expected = generation_path_log_likelihood(&model, &longest.ids, from);
            assert!(
                (shared[2] - expected).abs() < 1e-3 * expected.abs().max(1.0),
                "{name} {format:?}: {} vs {expected}",
                shared[2]
            );
        }
    }
}

/// Several questions packed together score as each does alone.
#[test]
fn packed_questions_score_as_each_alone() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny_model("smollm2", dir.path(), 13);
    let mut loaded = Scorer::load(&model, None).unwrap();
    let mut scorer = loaded.model();
    let questions: Vec<(String, Vec<String>)> = (0..7)
        .map(|i| {
            let choices: Vec<String> = (0..2 + i % 3)
                .map(|c| format!("answer {c} to {}", "x".repeat(i + c)))
                .collect();
            (format!("Question {i}: {}?", "why ".repeat(3 * i)), choices)
        })
        .collect();
    let items: Vec<(&str, &[String])> = questions
        .iter()
        .map(|(q, c)| (q.as_str(), c.as_slice()))
        .collect();
    for format in [
        ChoiceFormat::Plain,
        ChoiceFormat::Continuation,
        ChoiceFormat::Chat,
    ] {
        let together = scorer
            .choices_log_likelihoods(&items, format, "Be brief.")
            .unwrap();
        for ((q, c), packed) in questions.iter().zip(&together) {
            let alone = scorer
                .choice_log_likelihoods(q, c, format, "Be brief.")
                .unwrap();
            for (a, b) in alone.iter().zip(packed) {
                assert!(
                    (a - b).abs() < 1e-3,
                    "{format:?} {q}: {alone:?} vs {packed:?}"
                );
            }
        }
    }
}

/// lm-evaluation-harness's own log-likelihoods for SmolLM2's GGUF (written by
/// scripts/lm-eval-check.sh: the harness 0.4.13, transformers loading the same
/// file) on a fixed sample of each task: ours agree choice by choice.
#[test]
fn the_scorer_agrees_with_lm_evaluation_harness() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lm_eval_smollm2.json");
    let harness: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    let general = common::shared_data().join("general-eval");
    let mut loaded = Scorer::load(&common::real_model("smollm2"), None).unwrap();
    let mut scorer = loaded.model();
    for (name, theirs) in harness["tasks"].as_object().unwrap() {
        let task = f1_eval::general::task(name).unwrap();
        let questions = task.questions(&general, 0).unwrap();
        let ids = theirs["ids"].as_array().unwrap();
        assert_eq!(
            ids.len(),
            questions.len(),
            "{name}: the harness scored the whole file"
        );
        // 40 questions spread over the file.
        let picked: Vec<usize> = (0..40).map(|i| i * questions.len() / 40).collect();
        let items: Vec<(&str, &[String])> = picked
            .iter()
            .map(|&i| {
                (
                    questions[i].question.as_str(),
                    questions[i].choices.as_slice(),
                )
            })
            .collect();
        let format = f1_train::multiple_choice::task_format(task.prompt);
        let ours = scorer.choices_log_likelihoods(&items, format, "").unwrap();
        let mut worst = 0f64;
        for (&i, ours) in picked.iter().zip(&ours) {
            assert_eq!(
                ids[i],
                questions[i].id.as_deref().unwrap(),
                "{name}: the same question"
            );
            let theirs: Vec<f64> = theirs["log_likelihoods"][i]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(ours.len(), theirs.len());
            for (a, b) in ours.iter().zip(&theirs) {
                worst = worst.max((a - b).abs());
            }
        }
        eprintln!("{name}: log-likelihoods within {worst:.4} nats of the harness's");
        assert!(
            worst < 0.02,
            "{name}: log-likelihoods up to {worst} nats from the harness's"
        );
    }
}
