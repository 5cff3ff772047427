//! Tiny random-weight models with the real models' tokenizers, for fast tests.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};

use candle_core::Tensor;
use f1_model::chat::{ChatMessage, ChatTemplate};
use f1_model::gguf::GgufMetadata;
use f1_model::gguf_write::{write_tiny_random, TinyShape};
use f1_model::Tokenizer;
use f1_train::data::{Batch, Encoder, Sequence};
use f1_train::training_model::TrainingModel;

/// ../shared/data (or `$F1AI_SHARED_DATA`).
pub fn shared_data() -> PathBuf {
    std::env::var_os("F1AI_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

/// A registered model's file, fetched once per machine into the shared cache.
pub fn real_model(name: &str) -> PathBuf {
    let dir = f1_model::fetch::default_cache_dir().expect("HOME or F1AI_MODEL_CACHE is set");
    let spec = f1_model::registry::find(name).unwrap();
    f1_model::fetch::ensure(spec, &dir, None)
        .unwrap_or_else(|e| panic!("fetching {name}: {e}"))
        .path()
        .to_path_buf()
}

/// Writes a tiny random model with `name`'s architecture and tokenizer into `dir`.
pub fn tiny_model(name: &str, dir: &Path, seed: u64) -> PathBuf {
    let source = GgufMetadata::read(&real_model(name)).unwrap();
    let path = dir.join(format!("tiny-{name}-{seed}.gguf"));
    write_tiny_random(&source, TinyShape::default(), seed, &path).unwrap();
    path
}

/// A model file's tokenizer and chat template, as an [`Encoder`] borrows them.
pub fn tokenizer_and_template(model: &Path) -> (Tokenizer, ChatTemplate) {
    let metadata = GgufMetadata::read(model).unwrap();
    (
        Tokenizer::from_metadata(&metadata).unwrap(),
        ChatTemplate::from_gguf(&metadata).unwrap(),
    )
}

/// A few single- and multi-turn conversations in the curated format.
pub fn write_conversations(path: &Path, count: usize) {
    let mut text = String::new();
    for i in 0..count {
        let year = 1990 + i;
        let line = if i % 3 == 2 {
            serde_json::json!({"messages": [
                {"role": "user", "content": format!("Who won the {year} title?")},
                {"role": "assistant", "content": format!("Driver {i} won it.")},
                {"role": "user", "content": "For which team?"},
                {"role": "assistant", "content": format!("Team {i}.")},
            ]})
        } else {
            serde_json::json!({"messages": [
                {"role": "user", "content": format!("Where was race {i} of {year} held?")},
                {"role": "assistant", "content": format!("At circuit {i}.")},
            ]})
        };
        text.push_str(&line.to_string());
        text.push('\n');
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Two short conversations encoded for `model`, as one right-padded batch of two
/// rows, so that padding and masks are part of what a test checks.
pub fn two_conversations(model: &TrainingModel) -> Batch {
    let encoder = Encoder {
        tokenizer: &model.tokenizer,
        template: &model.template,
        system_prompt: "You answer F1 questions.",
        max_tokens: 64,
    };
    let conversation = |q: &str, a: &str| {
        vec![
            ChatMessage::new("user", q),
            ChatMessage::new("assistant", a),
        ]
    };
    let first = encoder
        .encode(&conversation("Who won in 1988?", "Ayrton Senna."))
        .unwrap();
    let second = encoder
        .encode(&conversation("Where is Monza?", "In Italy, near Milan."))
        .unwrap();
    assert!(first.scored_tokens() > 2 && second.scored_tokens() > 2);
    let rows: Vec<Vec<&Sequence>> = vec![vec![&first], vec![&second]];
    Batch::new(&rows)
}

/// Gives every LoRA B matrix fixed non-zero values: B starts at zero, which makes
/// A's gradient zero.
pub fn randomize_lora_b(model: &TrainingModel) {
    for p in model
        .parameters
        .iter()
        .filter(|p| p.name.contains("lora_B"))
    {
        let t = p.var.as_tensor();
        let values: Vec<f32> = (0..t.elem_count())
            .map(|i| ((i * 37 % 17) as f32 - 8.0) / 40.0)
            .collect();
        p.var
            .set(&Tensor::from_vec(values, t.shape(), t.device()).unwrap())
            .unwrap();
    }
}
