//! Packed rows train exactly as padded ones: each conversation's loss and every
//! parameter's gradient are the same whether its conversations share a row
//! (block-diagonal attention, positions restarting at 0) or sit one to a row.

mod common;

use f1_model::chat::ChatMessage;
use f1_model::transformer::{ForwardOptions, ProductPrecision};
use f1_train::config::{LoraConfig, Method, TrainConfig};
use f1_train::data::{Batch, Encoder, Sequence};
use f1_train::loss::target_log_probs;
use f1_train::training_model::TrainingModel;

fn config(method: Method) -> TrainConfig {
    let mut config: TrainConfig = serde_norway::from_str(&format!(
        "run_name: packing\nmodel: tiny\nmethod: {}\n",
        if method == Method::Lora {
            "lora"
        } else {
            "full"
        }
    ))
    .unwrap();
    config.lora = LoraConfig {
        r: 4,
        alpha: 8.0,
        dropout: 0.0,
        target_modules: ["q_proj", "v_proj", "gate_proj", "down_proj"]
            .map(String::from)
            .to_vec(),
    };
    config
}

/// Three conversations of different lengths, one of them with two turns.
fn conversations(model: &TrainingModel) -> Vec<Sequence> {
    let encoder = Encoder {
        tokenizer: &model.tokenizer,
        template: &model.template,
        system_prompt: "You answer F1 questions.",
        max_tokens: 128,
    };
    let turns = [
        vec![("Who won in 1988?", "Ayrton Senna.")],
        vec![
            ("Where is Monza?", "In Italy, near Milan."),
            ("And when was it built?", "In 1922, in 110 days."),
        ],
        vec![(
            "Who is the 2021 champion?",
            "Max Verstappen, for Red Bull Racing.",
        )],
    ];
    turns
        .iter()
        .map(|pairs| {
            let messages: Vec<ChatMessage> = pairs
                .iter()
                .flat_map(|(q, a)| {
                    [
                        ChatMessage::new("user", q),
                        ChatMessage::new("assistant", a),
                    ]
                })
                .collect();
            encoder.encode(&messages).unwrap()
        })
        .collect()
}

/// Each sequence's summed log-likelihood of its scored tokens (Batch::new lists
/// the scored positions sequence by sequence, row by row).
fn per_sequence(model: &mut TrainingModel, batch: &Batch, sequences: &[&Sequence]) -> Vec<f64> {
    let log_probs = target_log_probs(
        &mut model.transformer,
        batch,
        &ForwardOptions::training(None, ProductPrecision::F32),
    )
    .unwrap();
    let mut rest = log_probs.as_slice();
    sequences
        .iter()
        .map(|s| {
            let (own, tail) = rest.split_at(s.scored_tokens());
            rest = tail;
            own.iter().map(|&p| f64::from(p)).sum()
        })
        .collect()
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn packed_rows_give_each_conversation_the_padded_loss_and_gradients() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["smollm2", "gemma3"] {
        let path = common::tiny_model(name, dir.path(), 5);
        for method in [Method::Lora, Method::Full] {
            let mut model =
                TrainingModel::load(&path, &config(method), &candle_core::Device::Cpu).unwrap();
            common::randomize_lora_b(&model);
            let sequences = conversations(&model);
            let all: Vec<&Sequence> = sequences.iter().collect();
            let padded = Batch::new(&all.iter().map(|&s| vec![s]).collect::<Vec<_>>());
            // Two packed rows: the first two conversations share one.
            let packed = Batch::new(&[vec![all[0], all[1]], vec![all[2]]]);
            assert!(packed.ids[0].len() > padded.ids[0].len());

            let by_padded = per_sequence(&mut model, &padded, &all);
            let by_packed = per_sequence(&mut model, &packed, &all);
            for (i, (a, b)) in by_padded.iter().zip(&by_packed).enumerate() {
                assert!(
                    close(*a as f32, *b as f32),
                    "{name} {method:?}: conversation {i} log-likelihood {a} padded, {b} packed"
                );
            }

            let (loss_padded, grads_padded) = model.gradients(&[padded], None).unwrap();
            let (loss_packed, grads_packed) = model.gradients(&[packed], None).unwrap();
            assert!(close(loss_padded as f32, loss_packed as f32));
            let mut nonzero = 0;
            for ((p, a), b) in model
                .parameters
                .iter()
                .zip(&grads_padded)
                .zip(&grads_packed)
            {
                let a: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
                let b: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
                for (x, y) in a.iter().zip(&b) {
                    assert!(
                        close(*x, *y),
                        "{name} {method:?}: gradient of {} differs: {x} padded, {y} packed",
                        p.name
                    );
                }
                nonzero += a.iter().filter(|x| **x != 0.0).count();
            }
            assert!(nonzero > 0, "the gradients are not all zero");
        }
    }
}
