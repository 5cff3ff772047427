//! Multiple-choice scoring: the shared-prefix path (context once, choices as a
//! batch on its KV cache) gives the log-likelihoods of scoring each choice on its
//! own, which in turn match the generation path token by token.

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
        let mut scorer = Scorer::load(&model, None).unwrap();
        for (format, first_choice_text) in [
            (ChoiceFormat::Chat, "Lotus"),
            (ChoiceFormat::Plain, " Lotus"),
        ] {
            let shared = scorer
                .choice_log_likelihoods(QUESTION, &choices(), format, "Be brief.")
                .unwrap();
            let context = match format {
                ChoiceFormat::Plain => format!("Question: {QUESTION}\nAnswer:"),
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
            let delimiter = if format == ChoiceFormat::Plain {
                " "
            } else {
                ""
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
