//! Generation and chat on the real SmolLM2-135M-Instruct.

mod common;

use candle_core::Device;
use f1_model::chat::{ChatMessage, ChatTemplate};
use f1_model::generate::{generate, FinishReason, GenerationConfig};
use f1_model::gguf::GgufMetadata;
use f1_model::model::GgufModel;
use f1_model::Tokenizer;

struct Smol {
    model: GgufModel,
    tokenizer: Tokenizer,
    template: ChatTemplate,
}

fn smollm2() -> Smol {
    let path = common::model("smollm2");
    Smol {
        model: GgufModel::load(&path, &Device::Cpu).unwrap(),
        tokenizer: Tokenizer::from_gguf(&path).unwrap(),
        template: ChatTemplate::from_gguf(&GgufMetadata::read(&path).unwrap()).unwrap(),
    }
}

fn chat_prompt(smol: &Smol, question: &str) -> Vec<u32> {
    let text = smol
        .template
        .render(&[ChatMessage::new("user", question)], true)
        .unwrap();
    smol.tokenizer.encode_prompt(&text).unwrap()
}

#[test]
fn the_rendered_prompt_uses_control_tokens() {
    let smol = smollm2();
    let ids = chat_prompt(&smol, "Hi");
    let im_start = smol.tokenizer.token_id("<|im_start|>").unwrap();
    assert_eq!(
        ids[0], im_start,
        "the template's own system turn comes first"
    );
    assert_eq!(ids.iter().filter(|&&id| id == im_start).count(), 3);
    // As plain text the same marker is several ordinary tokens.
    assert!(smol.tokenizer.encode("<|im_start|>").unwrap().len() > 1);
}

#[test]
fn greedy_chat_answers_and_stops_at_the_end_of_the_turn() {
    let mut smol = smollm2();
    let prompt = chat_prompt(&smol, "What is the capital of France? Answer in one word.");
    let mut streamed = String::new();
    let config = GenerationConfig {
        max_tokens: 40,
        ..GenerationConfig::default()
    };
    let out = generate(
        &mut smol.model,
        &smol.tokenizer,
        &prompt,
        &config,
        |piece| {
            streamed.push_str(piece);
            true
        },
    )
    .unwrap();
    assert!(out.text.contains("Paris"), "{:?}", out.text);
    assert_eq!(out.finish_reason, FinishReason::Stop);
    assert_eq!(streamed, out.text, "the stream adds up to the answer");
    assert_eq!(out.prompt_tokens, prompt.len());

    // Greedy decoding is deterministic.
    let again = generate(&mut smol.model, &smol.tokenizer, &prompt, &config, |_| true).unwrap();
    assert_eq!(again.tokens, out.tokens);
}

#[test]
fn budget_stop_strings_and_seeds() {
    let mut smol = smollm2();
    let prompt = chat_prompt(&smol, "Write a long story about a racing driver.");
    let short = GenerationConfig {
        max_tokens: 5,
        ..GenerationConfig::default()
    };
    let out = generate(&mut smol.model, &smol.tokenizer, &prompt, &short, |_| true).unwrap();
    assert_eq!(
        (out.tokens.len(), out.finish_reason),
        (5, FinishReason::Length)
    );

    let long = GenerationConfig {
        max_tokens: 60,
        ..GenerationConfig::default()
    };
    let full = generate(&mut smol.model, &smol.tokenizer, &prompt, &long, |_| true).unwrap();
    let word = full.text.split_whitespace().nth(3).unwrap().to_string();
    let stopped = GenerationConfig {
        stop: vec![word.clone()],
        ..long.clone()
    };
    let cut = generate(&mut smol.model, &smol.tokenizer, &prompt, &stopped, |_| {
        true
    })
    .unwrap();
    assert_eq!(cut.finish_reason, FinishReason::Stop);
    assert!(
        !cut.text.contains(&word) && full.text.starts_with(&cut.text),
        "{:?} / {:?}",
        cut.text,
        full.text
    );

    let sampled = |seed| GenerationConfig {
        temperature: 1.0,
        top_p: Some(0.95),
        seed,
        max_tokens: 24,
        ..GenerationConfig::default()
    };
    let a = generate(
        &mut smol.model,
        &smol.tokenizer,
        &prompt,
        &sampled(1),
        |_| true,
    )
    .unwrap();
    let b = generate(
        &mut smol.model,
        &smol.tokenizer,
        &prompt,
        &sampled(1),
        |_| true,
    )
    .unwrap();
    let c = generate(
        &mut smol.model,
        &smol.tokenizer,
        &prompt,
        &sampled(2),
        |_| true,
    )
    .unwrap();
    assert_eq!(a.tokens, b.tokens, "same seed, same sample");
    assert_ne!(a.tokens, c.tokens, "another seed, another sample");

    let mut pieces = 0;
    let cancelled = generate(&mut smol.model, &smol.tokenizer, &prompt, &long, |_| {
        pieces += 1;
        pieces < 3
    })
    .unwrap();
    assert_eq!(cancelled.finish_reason, FinishReason::Cancelled);
}
