//! Generation and chat on the real SmolLM2-135M-Instruct.

mod common;

use candle_core::{Device, Tensor};
use f1_model::chat::{ChatMessage, ChatTemplate};
use f1_model::generate::{
    generate, generate_batch, Decoder, FinishReason, Generation, GenerationConfig,
};
use f1_model::gguf::GgufMetadata;
use f1_model::gguf_write::{write_tiny_random, TinyShape};
use f1_model::model::{GgufModel, Precision};
use f1_model::transformer::{ForwardOptions, SequenceCache, Transformer, WeightFormat};
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

    // With `ignore_eos` the end of the turn is never picked: the same answer,
    // then more, to the budget.
    let on = GenerationConfig {
        ignore_eos: true,
        ..config.clone()
    };
    let longer = generate(&mut smol.model, &smol.tokenizer, &prompt, &on, |_| true).unwrap();
    assert_eq!(longer.finish_reason, FinishReason::Length);
    assert_eq!(longer.tokens.len(), 40);
    assert_eq!(longer.tokens[..out.tokens.len()], out.tokens[..]);
    let end = smol.tokenizer.token_id("<|im_end|>").unwrap();
    assert!(!longer.tokens.contains(&end));
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

/// Greedy decoding and sampling of up to `max_tokens` tokens. The sampling is
/// over the whole vocabulary at a low temperature: candle's top-k sampler orders
/// the top k by an unstable partition, and a random model's flat distribution at
/// higher temperatures puts thousands of tokens in slivers of the draw, so either
/// turns a 1e-6 change into another token.
fn greedy_and_sampled(max_tokens: usize) -> (GenerationConfig, GenerationConfig) {
    let greedy = GenerationConfig {
        max_tokens,
        ..GenerationConfig::default()
    };
    let sampled = GenerationConfig {
        temperature: 0.3,
        repeat_penalty: 1.1,
        seed: 7,
        ..greedy.clone()
    };
    (greedy, sampled)
}

#[test]
fn a_batch_of_prompts_decodes_as_each_prompt_alone() {
    // Tiny random Llama and Gemma 3 models in f32: a batch differs from each
    // prompt alone only in float summation order, far below the gaps that greedy
    // and sampled picks depend on.
    let work = tempfile::tempdir().unwrap();
    for name in ["smollm2", "gemma3"] {
        let path = work.path().join(format!("tiny-{name}.gguf"));
        let source = GgufMetadata::read(&common::model(name)).unwrap();
        write_tiny_random(&source, TinyShape::default(), 3, &path).unwrap();
        let mut model = GgufModel::load(&path, &Device::Cpu).unwrap();
        let tokenizer = Tokenizer::from_gguf(&path).unwrap();
        // Different lengths, so the shorter prompts are left-padded.
        let prompts: Vec<Vec<u32>> = [
            "Who won in 1988?",
            "Write a long story about a racing driver who wins at Monaco in the rain.",
            "Name three Formula 1 world champions.",
        ]
        .iter()
        .map(|text| tokenizer.encode_with_bos(text).unwrap())
        .collect();
        let (greedy, sampled) = greedy_and_sampled(16);
        let alone = |model: &mut GgufModel, config: &GenerationConfig| -> Vec<_> {
            prompts
                .iter()
                .map(|p| generate(model, &tokenizer, p, config, |_| true).unwrap())
                .collect()
        };
        let text = alone(&mut model, &greedy)[1].text.clone();
        let middle: String = text
            .chars()
            .skip(text.chars().count() / 2)
            .take(3)
            .collect();
        let stopped = GenerationConfig {
            stop: vec![middle],
            ..greedy.clone()
        };
        for config in [&greedy, &sampled, &stopped] {
            let expected = alone(&mut model, config);
            let together = generate_batch(&mut model, &tokenizer, &prompts, config).unwrap();
            assert_eq!(together.len(), prompts.len());
            for (a, b) in expected.iter().zip(&together) {
                assert_eq!(a.tokens, b.tokens, "{name} {config:?}");
                assert_eq!((&a.text, a.finish_reason), (&b.text, b.finish_reason));
                assert_eq!(a.prompt_tokens, b.prompt_tokens);
            }
        }
        let reasons: Vec<_> = generate_batch(&mut model, &tokenizer, &prompts, &stopped)
            .unwrap()
            .iter()
            .map(|g| g.finish_reason)
            .collect();
        assert_eq!(reasons[1], FinishReason::Stop, "{name}");
        assert_eq!(reasons[0], FinishReason::Length, "{name}");
        let empty = generate_batch(
            &mut model,
            &tokenizer,
            &[prompts[0].clone(), Vec::new()],
            &greedy,
        );
        assert!(empty.unwrap_err().to_string().contains("empty prompt"));
    }
}

/// Decodes `prompts` with continuous batching, as a server does: prompt `i`
/// joins at step `3 * i`, its prompt read 4 tokens a step (never leaving one) on
/// its own KV cache in the same steps as every other sequence's next token, and
/// a sequence leaves as soon as it ends.
fn continuously(
    model: &mut GgufModel,
    tokenizer: &Tokenizer,
    prompts: &[Vec<u32>],
    config: &GenerationConfig,
) -> Vec<Generation> {
    struct Live {
        index: usize,
        decoder: Decoder,
        cache: SequenceCache,
        /// The prompt tokens read, or `None` once the sequence decodes `next`.
        read: Option<usize>,
        next: u32,
    }
    let finish = |decoder: Decoder| decoder.finish(tokenizer, 0.0, 0.0, &mut |_| true).unwrap();
    let mut done: Vec<Option<Generation>> = vec![None; prompts.len()];
    let mut live: Vec<Live> = Vec::new();
    let mut step = 0;
    while done.iter().any(Option::is_none) {
        if let Some(prompt) = prompts.get(step / 3).filter(|_| step % 3 == 0) {
            live.push(Live {
                index: step / 3,
                decoder: Decoder::new(tokenizer, config, prompt),
                cache: model.new_sequence(64),
                read: Some(0),
                next: 0,
            });
        }
        if !live.is_empty() {
            let chunks: Vec<Option<std::ops::Range<usize>>> = (live.iter())
                .map(|l| {
                    let (read, left) = (l.read?, prompts[l.index].len() - l.read?);
                    let mut take = left.min(4);
                    if left - take == 1 {
                        take -= 1;
                    }
                    Some(read..read + take)
                })
                .collect();
            let nexts: Vec<u32> = live.iter().map(|l| l.next).collect();
            let inputs: Vec<&[u32]> = (live.iter().zip(&chunks).zip(&nexts))
                .map(|((l, chunk), next)| match chunk {
                    Some(chunk) => &prompts[l.index][chunk.clone()],
                    None => std::slice::from_ref(next),
                })
                .collect();
            let mut caches: Vec<&mut SequenceCache> =
                live.iter_mut().map(|l| &mut l.cache).collect();
            let logits = model.step(&inputs, &mut caches).unwrap();
            let (values, vocab) = (logits.values().unwrap(), logits.vocab());
            for ((sequence, logits), chunk) in
                live.iter_mut().zip(values.chunks_exact(vocab)).zip(chunks)
            {
                if let Some(chunk) = chunk {
                    sequence.read =
                        Some(chunk.end).filter(|&read| read < prompts[sequence.index].len());
                    assert_eq!(sequence.cache.len(), chunk.end);
                    if sequence.read.is_some() {
                        continue;
                    }
                }
                if let Some(next) = sequence
                    .decoder
                    .step(tokenizer, logits, &mut |_| true)
                    .unwrap()
                {
                    sequence.next = next;
                }
            }
            let (ended, running): (Vec<Live>, Vec<Live>) =
                live.into_iter().partition(|l| l.decoder.finished());
            for sequence in ended {
                done[sequence.index] = Some(finish(sequence.decoder));
            }
            live = running;
        }
        step += 1;
    }
    done.into_iter().map(Option::unwrap).collect()
}

#[test]
fn sequences_joining_and_leaving_a_batch_decode_as_each_alone() {
    // Tiny random Llama and Gemma 3 (f32), and the real SmolLM2 with llama.cpp's
    // kernels: each sequence on its own cache, joining mid-way after a chunked
    // prompt, decodes the tokens it decodes alone.
    let work = tempfile::tempdir().unwrap();
    let mut models = Vec::new();
    for name in ["smollm2", "gemma3"] {
        let path = work.path().join(format!("tiny-{name}.gguf"));
        let source = GgufMetadata::read(&common::model(name)).unwrap();
        write_tiny_random(&source, TinyShape::default(), 3, &path).unwrap();
        models.push((format!("tiny {name}"), path));
    }
    models.push(("SmolLM2 Q4_1".into(), common::model("smollm2")));
    let questions = [
        "Who won in 1988?",
        "Write a long story about a racing driver who wins at Monaco in the rain.",
        "Name three Formula 1 world champions.",
        "What is the capital of France?",
    ];
    for (name, path) in models {
        let mut model = GgufModel::load(&path, &Device::Cpu).unwrap();
        let tokenizer = Tokenizer::from_gguf(&path).unwrap();
        let template = ChatTemplate::from_gguf(&GgufMetadata::read(&path).unwrap()).unwrap();
        let prompts: Vec<Vec<u32>> = questions
            .iter()
            .map(|text| {
                let chat = template
                    .render(&[ChatMessage::new("user", text)], true)
                    .unwrap();
                tokenizer.encode_prompt(&chat).unwrap()
            })
            .collect();
        let (greedy, sampled) = greedy_and_sampled(12);
        for config in [&greedy, &sampled] {
            let together = continuously(&mut model, &tokenizer, &prompts, config);
            for (prompt, batched) in prompts.iter().zip(&together) {
                let alone = generate(&mut model, &tokenizer, prompt, config, |_| true).unwrap();
                assert_eq!(alone.tokens, batched.tokens, "{name} {config:?}");
                assert_eq!(alone.finish_reason, batched.finish_reason);
            }
            let decoded: Vec<usize> = together.iter().map(|g| g.tokens.len()).collect();
            assert!(decoded.iter().all(|&n| n > 1), "{name}: {decoded:?}");
        }
    }
}

#[test]
fn a_left_padded_row_of_the_real_model_sees_what_it_would_alone() {
    // In f32 a left-padded row computes what its prompt computes alone, up to
    // float summation order (2.4e-5 here; a row's positions count from its first
    // real token, as transformers derives position ids from the attention mask).
    // Rounding magnifies that noise: generation's f16 attention to 0.004-0.02,
    // candle's quantized kernels, which round activations to 8 bits, to 0.7.
    let smol = smollm2();
    let path = common::model("smollm2");
    let metadata = GgufMetadata::read(&path).unwrap();
    let mut model = Transformer::from_gguf(&metadata, WeightFormat::F32, &Device::Cpu).unwrap();
    let prompt = chat_prompt(&smol, "Who won the 1988 championship?");
    let logits = |model: &mut Transformer, ids: &[u32], padding: usize| -> Vec<f32> {
        let input = Tensor::new(ids, &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        model
            .next_token_logits(&input, 0, &[padding], &ForwardOptions::scoring())
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    let alone = logits(&mut model, &prompt, 0);
    for pad in [1, 8, 13] {
        let ids: Vec<u32> = std::iter::repeat_n(0, pad).chain(prompt.clone()).collect();
        let padded = logits(&mut model, &ids, pad);
        let worst = alone
            .iter()
            .zip(&padded)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-4, "padding {pad}: the logits differ by {worst}");
    }
}

#[test]
fn a_prompt_read_after_a_copied_prefix_computes_what_it_does_alone() {
    // SmolLM2 with llama.cpp's kernels: a prompt that shares its beginning with an
    // earlier one, read after a copy of that beginning's keys and values, gives
    // the logits it gives read whole, and decodes alike.
    let smol = smollm2();
    let prompt = |text: &str| {
        let chat = smol
            .template
            .render(&[ChatMessage::new("user", text)], true)
            .unwrap();
        smol.tokenizer.encode_prompt(&chat).unwrap()
    };
    let first = prompt("Who won the 2021 Abu Dhabi Grand Prix? (1)");
    let second = prompt("Who won the 2021 Abu Dhabi Grand Prix? (2)");
    let shared = first
        .iter()
        .zip(&second)
        .take_while(|(a, b)| a == b)
        .count();
    assert!(
        shared > 20 && shared + 2 <= second.len(),
        "{shared} of {}",
        second.len()
    );
    let mut model = smol.model;
    // Rooms too small for the sequences: their caches grow as they are read.
    let mut earlier = model.new_sequence(8);
    model.prefill(&mut earlier, &first).unwrap();
    let mut reused = earlier.prefix(shared, 1).unwrap();
    assert_eq!((reused.len(), earlier.len()), (shared, first.len()));
    assert!(earlier.prefix(first.len() + 1, 64).is_err());
    let mut whole = model.new_sequence(8);
    let mut logits = vec![
        model.prefill(&mut reused, &second[shared..]).unwrap(),
        model.prefill(&mut whole, &second).unwrap(),
    ];
    for _ in 0..8 {
        assert_eq!(logits[0], logits[1]);
        let next = (0..logits[0].len())
            .max_by(|&a, &b| logits[0][a].total_cmp(&logits[0][b]))
            .unwrap() as u32;
        let step = model
            .step(&[&[next], &[next]], &mut [&mut reused, &mut whole])
            .unwrap();
        let values = step.values().unwrap();
        logits = values
            .chunks_exact(step.vocab())
            .map(<[f32]>::to_vec)
            .collect();
    }
}

#[test]
fn a_step_of_prompt_chunks_and_a_decoding_row_gives_each_its_logits_alone() {
    // In one step a sequence decodes a token, one reads its whole prompt and one
    // the rest of its prompt; each gets, bit for bit, the logits it gets alone.
    // SmolLM2 (Q4_1) and Gemma 3 (Q4_K), with llama.cpp's kernels and with the
    // int8 products: all rows in one pass, except Gemma 3's chunks with llama.cpp's
    // kernels (they tile a prompt's tokens), which run alone.
    let int8 = f1_model::transformer::int8_products_available();
    if !int8 {
        println!("int8 part skipped: this CPU lacks AVX512-VNNI");
    }
    for name in ["smollm2", "gemma3"] {
        let path = common::model(name);
        let metadata = GgufMetadata::read(&path).unwrap();
        let tokenizer = Tokenizer::from_gguf(&path).unwrap();
        let template = ChatTemplate::from_gguf(&metadata).unwrap();
        let prompt = |text: &str| {
            let chat = template
                .render(&[ChatMessage::new("user", text)], true)
                .unwrap();
            tokenizer.encode_prompt(&chat).unwrap()
        };
        let decoding = prompt("Who won in 1988?");
        let whole = prompt("Name three Formula 1 world champions.");
        let rest = prompt("What is the capital of France?");
        let next = tokenizer.encode_prompt("The").unwrap()[0];
        let precisions = [Precision::Native, Precision::Int8];
        for &precision in &precisions[..1 + usize::from(int8)] {
            let mut model = GgufModel::from_metadata(&metadata, &Device::Cpu, precision).unwrap();
            let mut sequences: Vec<SequenceCache> =
                (0..6).map(|_| model.new_sequence(16)).collect();
            let (alone, together) = sequences.split_at_mut(3);
            for caches in [&mut *alone, &mut *together] {
                model.prefill(&mut caches[0], &decoding).unwrap();
                model.prefill(&mut caches[2], &rest[..5]).unwrap();
            }
            let [a, b, c] = alone else { unreachable!() };
            let step = model.step(&[&[next]], &mut [a]).unwrap();
            let expected = [
                step.values().unwrap().to_vec(),
                model.prefill(b, &whole).unwrap(),
                model.prefill(c, &rest[5..]).unwrap(),
            ];
            let [a, b, c] = together else { unreachable!() };
            let step = model
                .step(&[&[next], &whole, &rest[5..]], &mut [a, b, c])
                .unwrap();
            let values = step.values().unwrap();
            let rows: Vec<&[f32]> = values.chunks_exact(step.vocab()).collect();
            for (row, what) in ["the decoding row", "the whole prompt", "the prompt's rest"]
                .iter()
                .enumerate()
            {
                assert!(rows[row] == expected[row], "{name} {precision:?}: {what}");
            }
            let lengths: Vec<usize> = sequences.iter().map(SequenceCache::len).collect();
            assert_eq!(lengths[..3], lengths[3..], "{name} {precision:?}");
            assert_eq!(lengths[1], whole.len());
        }
    }
}
