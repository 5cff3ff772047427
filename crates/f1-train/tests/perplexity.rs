//! Perplexity of reference replies: only the last reply is scored, and its loss
//! equals the one the generation path's next-token logits give.

mod common;

use candle_core::Device;
use f1_model::chat::ChatMessage;
use f1_model::model::GgufModel;
use f1_train::data::Encoder;
use f1_train::perplexity::reply_losses;

fn conversation() -> Vec<ChatMessage> {
    vec![
        ChatMessage::new("user", "Who won the 1988 title?"),
        ChatMessage::new("assistant", "Ayrton Senna."),
        ChatMessage::new("user", "For which team?"),
        ChatMessage::new("assistant", "McLaren-Honda."),
    ]
}

#[test]
fn the_last_reply_is_scored_and_matches_the_inference_path() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny_model("smollm2", dir.path(), 3);
    let (tokenizer, template) = common::tokenizer_and_template(&model);
    let encoder = Encoder {
        tokenizer: &tokenizer,
        template: &template,
        system_prompt: "Be brief.",
        max_tokens: 512,
    };
    let whole = encoder.encode(&conversation()).unwrap();
    let last = encoder.encode_last_reply(&conversation()).unwrap();
    assert_eq!(whole.ids, last.ids);
    assert!(last.scored_tokens() > 0 && last.scored_tokens() < whole.scored_tokens());
    let scored: Vec<u32> = (0..last.ids.len())
        .filter(|&i| last.trained[i])
        .map(|i| last.ids[i])
        .collect();
    let text = tokenizer.decode(&scored).unwrap();
    assert!(text.starts_with("McLaren-Honda."), "{text:?}");
    assert!(!text.contains("Senna"));

    let losses = reply_losses(&model, None, &[conversation()], "Be brief.", 512, || {}).unwrap();
    assert_eq!(losses[0].tokens, last.scored_tokens());

    // The same loss from the generation path: next-token logits one token at a time.
    let mut generator = GgufModel::load(&model, &Device::Cpu).unwrap();
    let mut nll = 0.0f64;
    let mut logits = generator.forward(&last.ids[..1], 0).unwrap();
    for i in 1..last.ids.len() {
        if last.trained[i] {
            let max = logits.iter().cloned().fold(f32::MIN, f32::max) as f64;
            let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
            nll += max + sum.ln() - logits[last.ids[i] as usize] as f64;
        }
        logits = generator.forward(&last.ids[i..=i], i).unwrap();
    }
    assert!(
        (losses[0].nll - nll).abs() < 1e-3 * nll.max(1.0),
        "{} vs {nll}",
        losses[0].nll
    );
    let expected = (nll / losses[0].tokens as f64).exp();
    assert!((losses[0].perplexity() / expected - 1.0).abs() < 1e-3);
}
