//! Token-for-token parity with llama.cpp on the shared golden corpus (287 texts:
//! F1 sentences, unicode, whitespace, emoji, CJK, numbers, punctuation).

mod common;

use f1_model::Tokenizer;
use serde_json::Value;

fn check(model: &str, golden_file: &str) {
    check_tokenizer(
        &Tokenizer::from_gguf(&common::model(model)).unwrap(),
        golden_file,
    );
}

fn check_tokenizer(tokenizer: &Tokenizer, golden_file: &str) {
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
fn smollm2_written_as_tokenizer_json_still_matches_llama_cpp() {
    // The Hugging Face form `models export` and full training write: read back
    // through the tokenizers crate, with BOS/EOS from tokenizer_config.json.
    let path = common::model("smollm2");
    let metadata = f1_model::gguf::GgufMetadata::read(&path).unwrap();
    let original = Tokenizer::from_metadata(&metadata).unwrap();
    let template = f1_model::chat::ChatTemplate::from_gguf(&metadata).unwrap();
    let dir = tempfile::tempdir().unwrap();
    original.write_hugging_face(dir.path(), &template).unwrap();
    let tokenizer = Tokenizer::from_hugging_face(dir.path()).unwrap();
    check_tokenizer(&tokenizer, "SmolLM2-135M-Instruct.Q4_1.jsonl");
    assert_eq!(tokenizer.vocab_size(), original.vocab_size());
    assert_eq!(
        (tokenizer.bos(), tokenizer.eos()),
        (original.bos(), original.eos())
    );
    let prompt = "<|im_start|>user\nWho won in 2021?<|im_end|>\n<|im_start|>assistant\n";
    assert_eq!(
        tokenizer.encode_prompt(prompt).unwrap(),
        original.encode_prompt(prompt).unwrap()
    );
    // Control-token text in plain text stays text, as llama.cpp's special=False.
    assert_eq!(
        tokenizer.encode(prompt).unwrap(),
        original.encode(prompt).unwrap()
    );
    let ids = tokenizer.encode("Kimi Räikkönen 🏁 東京").unwrap();
    assert_eq!(tokenizer.decode(&ids).unwrap(), "Kimi Räikkönen 🏁 東京");
}

#[test]
fn a_folder_without_tokenizer_json_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let error = Tokenizer::from_hugging_face(dir.path())
        .err()
        .expect("no tokenizer.json")
        .to_string();
    assert!(error.contains("tokenizer.json"), "{error}");
    std::fs::write(dir.path().join("tokenizer.json"), "{not json").unwrap();
    let error = Tokenizer::from_hugging_face(dir.path())
        .err()
        .expect("broken tokenizer.json")
        .to_string();
    assert!(error.contains("tokenizer.json"), "{error}");
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
