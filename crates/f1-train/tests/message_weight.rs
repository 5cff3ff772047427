//! `"weight": 0` on an assistant message (OpenAI's fine-tuning format): the
//! message stays in the context the loss sees, but its own tokens are not learned;
//! a weight anywhere else, or other than 0 or 1, is an error naming the line.

mod common;

use f1_train::data::{read_conversations, Encoder};

const FIRST_CALL: &str =
    "<tool_call>{\"name\": \"race_result\", \"arguments\": {\"race\": \"2017\"}}</tool_call>";

fn write(dir: &std::path::Path, lines: &[&str]) -> std::path::PathBuf {
    let path = dir.join("train.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

#[test]
fn an_unweighted_reply_is_context_not_learned() {
    let dir = tempfile::tempdir().unwrap();
    let line = format!(
        r#"{{"messages": [{{"role": "user", "content": "who won the first race of 2017"}}, {{"role": "assistant", "content": {}, "weight": 0}}, {{"role": "tool", "content": "{{\"error\": \"not_found\"}}"}}, {{"role": "assistant", "content": "Sebastian Vettel.", "weight": 1}}]}}"#,
        serde_json::to_string(FIRST_CALL).unwrap()
    );
    let path = write(dir.path(), &[&line]);
    let conversations = read_conversations(&path, 0).unwrap();
    assert_eq!(conversations[0].unweighted, [1]);

    let model = common::tiny_model("smollm2", dir.path(), 3);
    let (tokenizer, template) = common::tokenizer_and_template(&model);
    let encoder = Encoder {
        tokenizer: &tokenizer,
        template: &template,
        system_prompt: "",
        max_tokens: 512,
    };
    let learned = |sequence: &f1_train::data::Sequence| {
        let ids: Vec<u32> = (0..sequence.ids.len())
            .filter(|&i| sequence.trained[i])
            .map(|i| sequence.ids[i])
            .collect();
        tokenizer.decode(&ids).unwrap()
    };
    let (weighted, _) = encoder.encode_measured(&conversations[0]).unwrap();
    let text = learned(&weighted);
    assert!(text.contains("Sebastian Vettel."), "{text:?}");
    assert!(!text.contains("race_result"), "{text:?}");
    // Without the weight both replies are learned, over the very same tokens.
    let all = encoder.encode(&conversations[0].messages).unwrap();
    assert_eq!(all.ids, weighted.ids);
    assert!(learned(&all).contains("race_result"));
    assert!(all.scored_tokens() > weighted.scored_tokens());
}

#[test]
fn a_weight_off_an_assistant_message_or_not_0_or_1_is_named() {
    let dir = tempfile::tempdir().unwrap();
    for (line, expected) in [
        (
            r#"{"messages": [{"role": "user", "content": "hi", "weight": 0}, {"role": "assistant", "content": "hello"}]}"#,
            "line 2: message 1: weight is for assistant messages, not user",
        ),
        (
            r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello", "weight": 2}]}"#,
            "line 2: message 2: weight must be 0 or 1, not 2",
        ),
    ] {
        let ok = r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}"#;
        let path = write(dir.path(), &[ok, line]);
        let error = read_conversations(&path, 0).unwrap_err().to_string();
        assert!(error.contains(expected), "{error}");
        assert!(error.contains("train.jsonl"), "{error}");
    }
}
