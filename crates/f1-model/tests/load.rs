//! Loading the real models: what agrees with llama.cpp today, and bad files.
//!
//! Not asserted here because it does not hold yet: logits within 0.15 of llama.cpp
//! (SmolLM2 differs by up to 0.50) and Gemma 3 at all (candle 0.11.1's quantized
//! Gemma 3 is 7 to 11 logits off). `examples/logits_diff.rs` measures both.

mod common;

use candle_core::Device;
use f1_model::model::{Architecture, GgufModel};
use f1_model::Tokenizer;
use serde_json::Value;

#[test]
fn smollm2_top1_matches_llama_cpp_where_not_a_near_tie() {
    let path = common::model("smollm2");
    let tokenizer = Tokenizer::from_gguf(&path).unwrap();
    let mut model = GgufModel::load(&path, &Device::Cpu).unwrap();
    assert_eq!(model.architecture, Architecture::Llama);
    let golden = common::golden().join("logits/SmolLM2-135M-Instruct.Q4_1.jsonl");
    let mut checked = 0;
    for line in std::fs::read_to_string(golden).unwrap().lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let numbers = |key: &str| -> Vec<f64> {
            case[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        let ids: Vec<u32> = numbers("ids").iter().map(|&v| v as u32).collect();
        assert_eq!(
            tokenizer
                .encode_with_bos(case["prompt"].as_str().unwrap())
                .unwrap(),
            ids
        );
        let (top, logits) = (numbers("top10_ids"), numbers("top10_logits"));
        if logits[0] - logits[1] <= 0.05 {
            continue;
        }
        let ours = model.forward(&ids, 0).unwrap();
        let best = (0..ours.len())
            .max_by(|a, b| ours[*a].total_cmp(&ours[*b]))
            .unwrap();
        assert_eq!(best, top[0] as usize, "{:?}", case["prompt"]);
        checked += 1;
    }
    assert_eq!(checked, 3, "three of the four prompts have a clear top-1");
}

#[test]
fn the_kv_cache_continues_a_sequence() {
    let path = common::model("smollm2");
    let tokenizer = Tokenizer::from_gguf(&path).unwrap();
    let mut model = GgufModel::load(&path, &Device::Cpu).unwrap();
    let ids = tokenizer
        .encode("The Monaco Grand Prix is held in")
        .unwrap();
    let whole = model.forward(&ids, 0).unwrap();
    let (head, tail) = ids.split_at(ids.len() - 1);
    model.forward(head, 0).unwrap();
    let stepped = model.forward(tail, head.len()).unwrap();
    let worst = whole
        .iter()
        .zip(&stepped)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        worst < 1e-3,
        "cached decoding differs from a full pass by {worst}"
    );
}

#[test]
fn truncated_and_foreign_files_are_rejected_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.gguf");
    let bytes = std::fs::read(common::model("smollm2")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let error = GgufModel::load(&truncated, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("truncated.gguf"), "{error}");

    let text = dir.path().join("notes.gguf");
    std::fs::write(&text, "just text").unwrap();
    let error = GgufModel::load(&text, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("not a readable GGUF file"), "{error}");
}
