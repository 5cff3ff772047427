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

/// `model`'s GGUF tokenizer written as a Hugging Face folder (as `models export`
/// and full training write it) and read back through the tokenizers crate.
struct Exported {
    metadata: f1_model::gguf::GgufMetadata,
    original: Tokenizer,
    dir: tempfile::TempDir,
    tokenizer: Tokenizer,
}

fn export(model: &str) -> Exported {
    let metadata = f1_model::gguf::GgufMetadata::read(&common::model(model)).unwrap();
    let original = Tokenizer::from_metadata(&metadata).unwrap();
    let template = f1_model::chat::ChatTemplate::from_gguf(&metadata).unwrap();
    let dir = tempfile::tempdir().unwrap();
    original.write_hugging_face(dir.path(), &template).unwrap();
    let tokenizer = Tokenizer::from_hugging_face(dir.path()).unwrap();
    Exported {
        metadata,
        original,
        dir,
        tokenizer,
    }
}

impl Exported {
    /// The read-back tokenizer gives llama.cpp's ids on `golden_file`, the same
    /// vocabulary size, BOS and EOS, and the original's ids for the chat `prompt`
    /// (control tokens as ids) and for its text (control-token text stays text,
    /// as llama.cpp's special=False).
    fn check(&self, golden_file: &str, prompt: &str) {
        let (tokenizer, original) = (&self.tokenizer, &self.original);
        check_tokenizer(tokenizer, golden_file);
        assert_eq!(tokenizer.vocab_size(), original.vocab_size());
        assert_eq!(
            (tokenizer.bos(), tokenizer.eos()),
            (original.bos(), original.eos())
        );
        assert_eq!(
            tokenizer.encode_prompt(prompt).unwrap(),
            original.encode_prompt(prompt).unwrap()
        );
        assert_eq!(
            tokenizer.encode(prompt).unwrap(),
            original.encode(prompt).unwrap()
        );
    }
}

#[test]
fn smollm2_written_as_tokenizer_json_still_matches_llama_cpp() {
    // BOS/EOS come back from tokenizer_config.json.
    let exported = export("smollm2");
    exported.check(
        "SmolLM2-135M-Instruct.Q4_1.jsonl",
        "<|im_start|>user\nWho won in 2021?<|im_end|>\n<|im_start|>assistant\n",
    );
    let tokenizer = &exported.tokenizer;
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

#[test]
fn smollm2_back_from_tokenizer_json_has_llama_cpps_gguf_metadata() {
    // GGUF -> tokenizer.json (as `models export` writes it) -> GGUF metadata, as
    // `merge --gguf` and full training write it for a Hugging Face base: every key
    // equals what llama.cpp's converter put in the published file.
    let Exported { metadata, dir, .. } = export("smollm2");
    let written = back_to_gguf(dir.path(), 49152, &metadata, &[]);
    check_tokenizer(
        &Tokenizer::from_metadata(&written).unwrap(),
        "SmolLM2-135M-Instruct.Q4_1.jsonl",
    );

    // Padding to a larger embedding adds unused [PAD] tokens, as llama.cpp does.
    let padded = f1_model::tokenizer::to_gguf::tokenizer_metadata(dir.path(), 49154).unwrap();
    let (_, tokens) = padded
        .iter()
        .find(|(key, _)| key == "tokenizer.ggml.tokens")
        .unwrap();
    let tokens = format!("{tokens:?}");
    assert!(tokens.ends_with(r#"String("[PAD49152]"), String("[PAD49153]")])"#));
    let error = f1_model::tokenizer::to_gguf::tokenizer_metadata(dir.path(), 100)
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("tokenizer.json: 49152 tokens, more than the model's vocab_size 100"),
        "{error}"
    );
}

#[test]
fn gemma3_written_as_tokenizer_json_still_matches_llama_cpp() {
    // SentencePiece as Hugging Face's BPE with byte fallback, merges from scores.
    let exported = export("gemma3");
    exported.check(
        "gemma-3-270m-q4_k_m.jsonl",
        "<start_of_turn>user\nWho won in 2021?<end_of_turn>\n<start_of_turn>model\n",
    );
    let Exported {
        metadata,
        original,
        dir,
        tokenizer,
    } = exported;
    assert_eq!(
        tokenizer.encode_with_bos("Monza").unwrap()[0],
        original.bos().unwrap()
    );
    let text = "Kimi Räikkönen 🏁 東京\n\n  Monza";
    let ids = tokenizer.encode(text).unwrap();
    assert_eq!(ids, original.encode(text).unwrap());
    assert_eq!(tokenizer.decode(&ids).unwrap(), text);

    // And back to GGUF (as `merge --gguf` writes it for a Hugging Face base): the
    // scores are read off the merges, so they differ from the published file's,
    // but llama.cpp's algorithm splits every golden text the same with them. (The
    // published file has no chat template; the folder carries our built-in one.)
    let written = back_to_gguf(
        dir.path(),
        262144,
        &metadata,
        &["tokenizer.ggml.scores", "tokenizer.chat_template"],
    );
    check_tokenizer(
        &Tokenizer::from_metadata(&written).unwrap(),
        "gemma-3-270m-q4_k_m.jsonl",
    );
}

/// The tokenizer metadata converted from `dir`/tokenizer.json, written as a GGUF
/// and read back; each key equals `original`'s except those in `differing`,
/// which must differ.
fn back_to_gguf(
    dir: &std::path::Path,
    vocab_size: usize,
    original: &f1_model::gguf::GgufMetadata,
    differing: &[&str],
) -> f1_model::gguf::GgufMetadata {
    let converted = f1_model::tokenizer::to_gguf::tokenizer_metadata(dir, vocab_size).unwrap();
    let keys: Vec<String> = converted.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys.len(), 12, "{keys:?}");
    let gguf = dir.join("tokenizer-only.gguf");
    f1_model::gguf_write::GgufWriter::new(converted)
        .write(&gguf)
        .unwrap();
    let written = f1_model::gguf::GgufMetadata::read(&gguf).unwrap();
    for key in keys {
        let debug = |m: &f1_model::gguf::GgufMetadata| m.value(&key).map(|v| format!("{v:?}")).ok();
        let same = debug(&written) == debug(original);
        assert!(
            same != differing.contains(&key.as_str()),
            "{key}: same as llama.cpp's is {same}"
        );
    }
    written
}
