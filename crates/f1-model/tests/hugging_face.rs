//! Hugging Face model folders: a model written as safetensors + config.json loads
//! back as the same model (single file or shards), and broken folders are refused
//! with an error naming the file and what is wrong.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use f1_model::gguf::GgufMetadata;
use f1_model::gguf_write::{write_tiny_random, TinyShape};
use f1_model::transformer::{ForwardOptions, Transformer, WeightFormat, CONFIG_FILE, WEIGHTS_FILE};

fn tiny(name: &str, dir: &Path) -> PathBuf {
    let source = GgufMetadata::read(&common::model(name)).unwrap();
    let path = dir.join(format!("tiny-{name}.gguf"));
    write_tiny_random(&source, TinyShape::default(), 5, &path).unwrap();
    path
}

fn gguf_f32(path: &Path) -> Transformer {
    let metadata = GgufMetadata::read(path).unwrap();
    Transformer::from_gguf(&metadata, WeightFormat::F32, &Device::Cpu).unwrap()
}

fn logits(model: &mut Transformer, ids: &[u32]) -> Vec<f32> {
    let input = Tensor::new(ids, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let hidden = model
        .hidden_states(&input, 0, &[], &ForwardOptions::scoring())
        .unwrap();
    model
        .logits(&hidden)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

const IDS: [u32; 6] = [1, 400, 27, 9000, 31, 2];

#[test]
fn a_written_folder_loads_as_the_same_model_whole_or_sharded() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["smollm2", "gemma3"] {
        let mut original = gguf_f32(&tiny(name, dir.path()));
        let expected = logits(&mut original, &IDS);
        let folder = dir.path().join(format!("hf-{name}"));
        original.write_hugging_face_folder(&folder).unwrap();
        assert!(Transformer::is_hugging_face_folder(&folder));
        let mut loaded = Transformer::from_hugging_face_folder(&folder, &Device::Cpu).unwrap();
        assert_eq!(loaded.config, original.config);
        assert_eq!(loaded.tied_embeddings, original.tied_embeddings);
        assert!(
            max_difference(&logits(&mut loaded, &IDS), &expected) < 1e-5,
            "{name}"
        );

        // The same tensors split over two shards with an index.
        let tensors =
            candle_core::safetensors::load(folder.join(WEIGHTS_FILE), &Device::Cpu).unwrap();
        let sharded = dir.path().join(format!("sharded-{name}"));
        std::fs::create_dir_all(&sharded).unwrap();
        std::fs::copy(folder.join(CONFIG_FILE), sharded.join(CONFIG_FILE)).unwrap();
        let mut shards: [HashMap<String, Tensor>; 2] = Default::default();
        let mut weight_map = serde_json::Map::new();
        for (i, (tensor_name, tensor)) in tensors.into_iter().enumerate() {
            let file = format!("model-0000{}-of-00002.safetensors", i % 2 + 1);
            weight_map.insert(tensor_name.clone(), file.into());
            shards[i % 2].insert(tensor_name, tensor);
        }
        for (i, shard) in shards.iter().enumerate() {
            let file = sharded.join(format!("model-0000{}-of-00002.safetensors", i + 1));
            candle_core::safetensors::save(shard, file).unwrap();
        }
        let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
        std::fs::write(
            sharded.join("model.safetensors.index.json"),
            index.to_string(),
        )
        .unwrap();
        let mut loaded = Transformer::from_hugging_face_folder(&sharded, &Device::Cpu).unwrap();
        assert!(
            max_difference(&logits(&mut loaded, &IDS), &expected) < 1e-5,
            "{name} sharded"
        );
    }
}

#[test]
fn the_real_smollm2_round_trips_through_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let mut original = gguf_f32(&common::model("smollm2"));
    let expected = logits(&mut original, &IDS);
    original.write_hugging_face_folder(dir.path()).unwrap();
    drop(original);
    let mut loaded = Transformer::from_hugging_face_folder(dir.path(), &Device::Cpu).unwrap();
    assert_eq!(loaded.config.layers, 30);
    assert!(max_difference(&logits(&mut loaded, &IDS), &expected) < 1e-4);
}

fn refused(folder: &Path, expected: &str) {
    let error = Transformer::from_hugging_face_folder(folder, &Device::Cpu)
        .err()
        .unwrap_or_else(|| panic!("{} loaded", folder.display()))
        .to_string();
    assert!(error.contains(expected), "{error}");
}

#[test]
fn broken_folders_are_refused_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = gguf_f32(&tiny("smollm2", dir.path()));
    let good = dir.path().join("good");
    model.write_hugging_face_folder(&good).unwrap();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(good.join(CONFIG_FILE)).unwrap()).unwrap();
    let tensors = candle_core::safetensors::load(good.join(WEIGHTS_FILE), &Device::Cpu).unwrap();

    let variant = |name: &str, config: &serde_json::Value, tensors: &HashMap<String, Tensor>| {
        let folder = dir.path().join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(CONFIG_FILE), config.to_string()).unwrap();
        candle_core::safetensors::save(tensors, folder.join(WEIGHTS_FILE)).unwrap();
        folder
    };
    let mut mistral = config.clone();
    mistral["model_type"] = "mistral".into();
    refused(
        &variant("mistral", &mistral, &tensors),
        "config.json: model_type 'mistral' is not supported (llama and gemma3_text are)",
    );
    let mut scaled = config.clone();
    scaled["rope_scaling"] = serde_json::json!({"rope_type": "llama3", "factor": 8.0});
    refused(
        &variant("scaled", &scaled, &tensors),
        "RoPE scaling 'llama3' is not supported",
    );

    let mut missing = tensors.clone();
    missing.remove("model.layers.1.mlp.up_proj.weight");
    refused(
        &variant("missing", &config, &missing),
        "tensor 'model.layers.1.mlp.up_proj.weight' is missing",
    );
    let mut wider = config.clone();
    wider["intermediate_size"] = (config["intermediate_size"].as_u64().unwrap() * 2).into();
    refused(&variant("wider", &wider, &tensors), "config.json implies");

    let truncated = variant("truncated", &config, &tensors);
    let bytes = std::fs::read(truncated.join(WEIGHTS_FILE)).unwrap();
    std::fs::write(truncated.join(WEIGHTS_FILE), &bytes[..bytes.len() / 2]).unwrap();
    refused(&truncated, "truncated or damaged");

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    refused(&empty, "config.json");
    std::fs::write(empty.join(CONFIG_FILE), config.to_string()).unwrap();
    refused(
        &empty,
        "neither model.safetensors nor model.safetensors.index.json is here",
    );
}

#[test]
fn an_assistant_from_a_folder_chats_as_the_gguf_it_came_from() {
    // Tiny SmolLM2 and Gemma 3 models (f32 weights, so both paths do the same
    // maths) written as Hugging Face folders with tokenizer.json (byte-level BPE;
    // SentencePiece as BPE) and tokenizer_config.json.
    use f1_model::assistant::Assistant;
    use f1_model::chat::{ChatMessage, ChatTemplate};
    use f1_model::generate::GenerationConfig;

    let dir = tempfile::tempdir().unwrap();
    for name in ["smollm2", "gemma3"] {
        let gguf = tiny(name, dir.path());
        let folder = dir.path().join(format!("hf-{name}"));
        gguf_f32(&gguf).write_hugging_face_folder(&folder).unwrap();
        let metadata = GgufMetadata::read(&gguf).unwrap();
        f1_model::Tokenizer::from_metadata(&metadata)
            .unwrap()
            .write_hugging_face(&folder, &ChatTemplate::from_gguf(&metadata).unwrap())
            .unwrap();

        let messages = [
            ChatMessage::new("system", "You answer F1 questions."),
            ChatMessage::new("user", "Who won the 1988 title? Senna, 8 wins."),
        ];
        let config = GenerationConfig {
            max_tokens: 12,
            ..GenerationConfig::default()
        };
        let mut from_gguf = Assistant::load(&gguf, &Device::Cpu).unwrap();
        let mut from_folder = Assistant::load(&folder, &Device::Cpu).unwrap();
        assert_eq!(
            from_folder.template.render(&messages, true).unwrap(),
            from_gguf.template.render(&messages, true).unwrap(),
            "{name}"
        );
        assert_eq!(
            from_folder.prompt(&messages).unwrap(),
            from_gguf.prompt(&messages).unwrap(),
            "{name}"
        );
        let expected = from_gguf.reply(&messages, &config, |_| true).unwrap();
        let actual = from_folder.reply(&messages, &config, |_| true).unwrap();
        assert_eq!(actual.tokens.len(), 12, "{name}: greedy ran to max_tokens");
        assert_eq!(actual.tokens, expected.tokens, "{name}");
        assert_eq!(actual.text, expected.text, "{name}");
    }
}

#[test]
fn both_real_models_shapes_read_back_from_the_gguf_metadata_written_for_them() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["smollm2", "gemma3"] {
        let original = GgufMetadata::read(&common::model(name)).unwrap();
        let config = f1_model::transformer::TransformerConfig::from_gguf(&original).unwrap();
        let metadata = config.gguf_metadata();
        // Keys llama.cpp's converter wrote hold the same values here.
        for (key, value) in &metadata {
            if let Ok(theirs) = original.value(key) {
                assert_eq!(format!("{value:?}"), format!("{theirs:?}"), "{name}: {key}");
            }
        }
        let path = dir.path().join(format!("{name}-shape.gguf"));
        f1_model::gguf_write::GgufWriter::new(metadata)
            .write(&path)
            .unwrap();
        let written = GgufMetadata::read(&path).unwrap();
        assert_eq!(
            f1_model::transformer::TransformerConfig::from_gguf(&written).unwrap(),
            config,
            "{name}"
        );
    }
}
