//! Token-for-token parity with llama.cpp on the shared golden corpus (287 texts:
//! F1 sentences, unicode, whitespace, emoji, CJK, numbers, punctuation).

mod common;

use f1_model::Tokenizer;
use serde_json::Value;

fn check(model: &str, golden_file: &str) {
    let tokenizer = Tokenizer::from_gguf(&common::model(model)).unwrap();
    let path = common::golden().join("tokenizer").join(golden_file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut total = 0;
    let mut mismatches = Vec::new();
    for line in text.lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let input = case["text"].as_str().unwrap();
        let expected: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let actual = tokenizer.encode(input).unwrap();
        total += 1;
        if actual != expected {
            mismatches.push(format!(
                "{input:?}\n  llama.cpp {expected:?}\n  ours      {actual:?}"
            ));
        }
    }
    assert_eq!(total, 287);
    assert!(
        mismatches.is_empty(),
        "{} of {total} texts differ, e.g.:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn smollm2_matches_llama_cpp_on_every_golden_text() {
    check("smollm2", "SmolLM2-135M-Instruct.Q4_1.jsonl");
}

#[test]
fn gemma3_matches_llama_cpp_on_every_golden_text() {
    check("gemma3", "gemma-3-270m-q4_k_m.jsonl");
}

#[test]
fn decoding_round_trips() {
    for model in ["smollm2", "gemma3"] {
        let tokenizer = Tokenizer::from_gguf(&common::model(model)).unwrap();
        for text in [
            "Kimi Räikkönen won the 2007 title.",
            "🏁 1:29.465  gap\n東京",
        ] {
            let ids = tokenizer.encode(text).unwrap();
            assert_eq!(tokenizer.decode(&ids).unwrap(), text, "{model}");
        }
    }
}
