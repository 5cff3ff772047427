//! LoRA adapters in PEFT's format: names, shapes, configuration, Hugging Face row
//! order, and loading back onto a model (or refusing one it does not fit).

mod common;

use candle_core::{Device, Tensor};
use f1_model::gguf::GgufMetadata;
use f1_model::transformer::{ForwardOptions, ProductPrecision, Transformer, WeightFormat};
use f1_train::config::{Method, TrainConfig};
use f1_train::peft::{attach_adapter, save_adapter, AdapterConfig, CONFIG_FILE, WEIGHTS_FILE};
use f1_train::training_model::TrainingModel;

fn lora_config() -> TrainConfig {
    serde_norway::from_str(
        "run_name: peft\nmodel: tiny\nmethod: lora\nlora: {r: 4, alpha: 8, target_modules: [q_proj, k_proj, v_proj, o_proj, up_proj]}\n",
    )
    .unwrap()
}

/// A LoRA model whose B matrices are not zero, so the adapter changes outputs.
fn trained_lora(path: &std::path::Path) -> TrainingModel {
    let config = lora_config();
    assert_eq!(config.method, Method::Lora);
    let model = TrainingModel::load(path, &config, &Device::Cpu).unwrap();
    for (k, p) in model.parameters.iter().enumerate() {
        let t = p.var.as_tensor();
        let values: Vec<f32> = (0..t.elem_count())
            .map(|i| (((i + k) * 31 % 23) as f32 - 11.0) / 50.0)
            .collect();
        p.var
            .set(&Tensor::from_vec(values, t.shape(), &Device::Cpu).unwrap())
            .unwrap();
    }
    model
}

fn logits(model: &mut Transformer, ids: &[u32]) -> Vec<f32> {
    let input = Tensor::new(ids, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let options = ForwardOptions::training(None, ProductPrecision::F32);
    let hidden = model.hidden_states(&input, 0, &[], &options).unwrap();
    model
        .logits(&hidden)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// Saves `trained`'s adapter, registered for base model `name`, under `dir`.
fn saved_adapter(dir: &std::path::Path, name: &str, trained: &TrainingModel) -> std::path::PathBuf {
    let adapter_dir = dir.join(format!("adapter-{name}"));
    let adapter = AdapterConfig::new(&lora_config().lora, name);
    save_adapter(
        &adapter_dir,
        &trained.transformer,
        &adapter,
        &trained.parameters,
    )
    .unwrap();
    adapter_dir
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn adapters_have_pefts_names_shapes_config_and_row_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::tiny_model("smollm2", dir.path(), 11);
    let model = trained_lora(&path);
    let adapter_dir = dir.path().join("adapter");
    let adapter = AdapterConfig::new(&lora_config().lora, "HuggingFaceTB/SmolLM2-135M-Instruct");
    save_adapter(
        &adapter_dir,
        &model.transformer,
        &adapter,
        &model.parameters,
    )
    .unwrap();

    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(adapter_dir.join(CONFIG_FILE)).unwrap())
            .unwrap();
    assert_eq!(config["peft_type"], "LORA");
    assert_eq!(config["task_type"], "CAUSAL_LM");
    assert_eq!(config["r"], 4);
    assert_eq!(config["lora_alpha"], 8.0);
    assert_eq!(config["bias"], "none");
    assert_eq!(config["fan_in_fan_out"], false);
    assert_eq!(
        config["target_modules"],
        serde_json::json!(["q_proj", "k_proj", "v_proj", "o_proj", "up_proj"])
    );
    assert_eq!(
        config["base_model_name_or_path"],
        "HuggingFaceTB/SmolLM2-135M-Instruct"
    );

    let saved =
        candle_core::safetensors::load(adapter_dir.join(WEIGHTS_FILE), &Device::Cpu).unwrap();
    // 2 layers x 5 modules x (A, B).
    assert_eq!(saved.len(), 20);
    let name = regex::Regex::new(
        r"^base_model\.model\.model\.layers\.[01]\.(self_attn\.(q|k|v|o)_proj|mlp\.up_proj)\.lora_(A|B)\.weight$",
    )
    .unwrap();
    // The tiny model: hidden 32, 4 heads of 8, 2 KV heads, MLP 64.
    for (key, tensor) in &saved {
        assert!(name.is_match(key), "{key}");
        let out = match key {
            k if k.contains("k_proj") || k.contains("v_proj") => 16,
            k if k.contains("up_proj") => 64,
            _ => 32,
        };
        let expected = if key.contains("lora_A") {
            [4, 32]
        } else {
            [out, 4]
        };
        assert_eq!(tensor.dims(), expected, "{key}");
    }

    // Queries' B rows are in Hugging Face order: within each head of 8, GGUF row
    // 2i + s is Hugging Face row 4s + i.
    let ours: Vec<Vec<f32>> = model
        .parameters
        .iter()
        .find(|p| p.name.contains("layers.0.self_attn.q_proj.lora_B"))
        .unwrap()
        .var
        .as_tensor()
        .to_vec2()
        .unwrap();
    let hf: Vec<Vec<f32>> = saved["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"]
        .to_vec2()
        .unwrap();
    for head in 0..4 {
        for i in 0..4 {
            for s in 0..2 {
                assert_eq!(hf[head * 8 + 4 * s + i], ours[head * 8 + 2 * i + s]);
            }
        }
    }
    // v_proj is not permuted.
    let v_ours: Vec<Vec<f32>> = model
        .parameters
        .iter()
        .find(|p| p.name.contains("layers.0.self_attn.v_proj.lora_B"))
        .unwrap()
        .var
        .as_tensor()
        .to_vec2()
        .unwrap();
    let v_hf: Vec<Vec<f32>> = saved
        ["base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight"]
        .to_vec2()
        .unwrap();
    assert_eq!(v_ours, v_hf);
}

#[test]
fn a_saved_adapter_reproduces_the_trained_model_and_refuses_other_models() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["smollm2", "gemma3"] {
        let path = common::tiny_model(name, dir.path(), 13);
        let mut trained = trained_lora(&path);
        let adapter_dir = saved_adapter(dir.path(), name, &trained);

        let ids = trained
            .tokenizer
            .encode("Ayrton Senna won at Monaco in 1988")
            .unwrap();
        let expected = logits(&mut trained.transformer, &ids);
        let metadata = GgufMetadata::read(&path).unwrap();
        let mut fresh =
            Transformer::from_gguf(&metadata, WeightFormat::Quantized, &Device::Cpu).unwrap();
        let base = logits(&mut fresh, &ids);
        attach_adapter(&mut fresh, &adapter_dir).unwrap();
        let adapted = logits(&mut fresh, &ids);
        assert!(
            max_difference(&base, &expected) > 1e-2,
            "the adapter must change the outputs"
        );
        assert!(
            max_difference(&adapted, &expected) < 1e-4,
            "{name}: {}",
            max_difference(&adapted, &expected)
        );
    }

    // An adapter for the tiny model does not fit the real SmolLM2.
    let metadata = GgufMetadata::read(&common::real_model("smollm2")).unwrap();
    let mut real =
        Transformer::from_gguf(&metadata, WeightFormat::Quantized, &Device::Cpu).unwrap();
    let error = attach_adapter(&mut real, &dir.path().join("adapter-smollm2"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("does not fit this model"), "{error}");
    assert!(error.contains("adapter_model.safetensors"), "{error}");
    assert!(error.contains("q_proj"), "{error}");
}

/// The Python with torch, transformers and peft that scripts/test.sh installs.
fn peft_python() -> std::path::PathBuf {
    let python = std::env::var_os("F1AI_PEFT_PYTHON").map(std::path::PathBuf::from);
    match python {
        Some(path) if path.is_file() => path,
        _ => panic!(
            "F1AI_PEFT_PYTHON must name a Python with torch, transformers and peft: \
             scripts/test.sh installs one (scripts/python-env.sh) and sets it"
        ),
    }
}

fn read_f32(path: &std::path::Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn pythons_peft_loads_the_adapter_onto_the_exported_hugging_face_model() {
    let python = peft_python();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/peft_logits.py");
    let dir = tempfile::tempdir().unwrap();
    // Tiny random Llama and Gemma 3 models, and the real SmolLM2 (dequantized).
    let models = [
        ("smollm2", common::tiny_model("smollm2", dir.path(), 17)),
        ("gemma3", common::tiny_model("gemma3", dir.path(), 17)),
        ("real-smollm2", common::real_model("smollm2")),
    ];
    for (name, path) in models {
        let mut trained = trained_lora(&path);
        let adapter_dir = saved_adapter(dir.path(), name, &trained);
        let hf_dir = dir.path().join(format!("hf-{name}"));
        f1_train::export::hugging_face(&path, &hf_dir).unwrap();

        let ids = trained
            .tokenizer
            .encode("Ayrton Senna won at Monaco in 1988 for McLaren")
            .unwrap();
        let ids_file = dir.path().join("ids.json");
        std::fs::write(&ids_file, serde_json::to_string(&ids).unwrap()).unwrap();
        let out = dir.path().join(format!("python-{name}"));
        std::fs::create_dir_all(&out).unwrap();
        let run = std::process::Command::new(&python)
            .arg(&script)
            .args([&hf_dir, &adapter_dir, &ids_file, &out])
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&run.stderr)
        );

        let ours_adapted = logits(&mut trained.transformer, &ids);
        let metadata = GgufMetadata::read(&path).unwrap();
        let mut base = Transformer::from_gguf(&metadata, WeightFormat::F32, &Device::Cpu).unwrap();
        let ours_base = logits(&mut base, &ids);
        let (theirs_base, theirs_adapted) = (
            read_f32(&out.join("base.f32")),
            read_f32(&out.join("adapted.f32")),
        );
        assert_eq!(theirs_base.len(), ours_base.len());
        assert!(
            max_difference(&ours_base, &ours_adapted) > 1e-2,
            "the adapter changes outputs"
        );
        eprintln!(
            "{name}: |logit| up to {:.1}; transformers vs ours {:.2e}, peft vs ours {:.2e}",
            ours_adapted.iter().fold(0f32, |m, x| m.max(x.abs())),
            max_difference(&theirs_base, &ours_base),
            max_difference(&theirs_adapted, &ours_adapted)
        );
        assert!(
            max_difference(&theirs_base, &ours_base) < 1e-3,
            "{name}: transformers' base logits differ by {}",
            max_difference(&theirs_base, &ours_base)
        );
        assert!(
            max_difference(&theirs_adapted, &ours_adapted) < 1e-3,
            "{name}: peft's adapted logits differ by {}",
            max_difference(&theirs_adapted, &ours_adapted)
        );
        let loaded: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("loaded.json")).unwrap())
                .unwrap();
        let layers = trained.transformer.blocks.len();
        assert_eq!(
            loaded["lora_modules"].as_array().unwrap().len(),
            5 * layers,
            "{loaded}"
        );
        assert_eq!(loaded["nonzero_lora_b"], 5 * layers, "{loaded}");
        assert_eq!(loaded["r"], 4);
    }
}

/// The tokenizer.json exported from `model`, read by Hugging Face's own loader,
/// gives llama.cpp's ids on the golden corpus `golden_file`, and its chat
/// template renders and tokenizes as ours.
fn check_transformers_tokenizer(model: &str, golden_file: &str) {
    let python = peft_python();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/hf_tokenizer.py");
    let golden = std::env::var_os("F1AI_SHARED_GOLDEN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden")
        })
        .join("tokenizer")
        .join(golden_file);
    let dir = tempfile::tempdir().unwrap();
    let hf_dir = dir.path().join("hf");
    let path = common::real_model(model);
    f1_train::export::hugging_face(&path, &hf_dir).unwrap();
    let out = dir.path().join("tokenized.json");
    let run = std::process::Command::new(&python)
        .arg(&script)
        .args([&hf_dir, &golden, &out])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let theirs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let golden_text = std::fs::read_to_string(&golden).unwrap();
    let expected: Vec<serde_json::Value> = golden_text
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["ids"].clone())
        .collect();
    let actual = theirs["ids"].as_array().unwrap();
    assert_eq!(actual.len(), 287);
    let differing: Vec<usize> = (0..expected.len())
        .filter(|&i| actual[i] != expected[i])
        .collect();
    assert!(
        differing.is_empty(),
        "{model}: transformers differs from llama.cpp on {} texts, e.g. line {}",
        differing.len(),
        differing[0] + 1
    );
    let metadata = GgufMetadata::read(&path).unwrap();
    let template = f1_model::chat::ChatTemplate::from_gguf(&metadata).unwrap();
    let tokenizer = f1_model::Tokenizer::from_metadata(&metadata).unwrap();
    let messages = [
        f1_model::chat::ChatMessage::new("system", "You are an F1 expert."),
        f1_model::chat::ChatMessage::new("user", "Who won the 2021 title?"),
    ];
    let ours = template.render(&messages, true).unwrap();
    assert_eq!(theirs["prompt"], ours.as_str());
    let ours_ids = tokenizer.encode_prompt(&ours).unwrap();
    assert_eq!(theirs["prompt_ids"], serde_json::json!(ours_ids));
}

#[test]
fn transformers_tokenizes_the_exported_smollm2_folder_as_llama_cpp_does() {
    check_transformers_tokenizer("smollm2", "SmolLM2-135M-Instruct.Q4_1.jsonl");
}

#[test]
fn transformers_tokenizes_the_exported_gemma3_folder_as_llama_cpp_does() {
    // SentencePiece written as BPE with byte fallback (merges from the scores).
    check_transformers_tokenizer("gemma3", "gemma-3-270m-q4_k_m.jsonl");
}

#[test]
fn adapters_and_models_trained_by_pythons_stack_load_with_their_logits() {
    let python = peft_python();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/train_elsewhere.py");
    let dir = tempfile::tempdir().unwrap();
    let path = common::real_model("smollm2");
    let hf_dir = dir.path().join("hf-smollm2");
    f1_train::export::hugging_face(&path, &hf_dir).unwrap();
    // Conversations in the curated format, as `f1ai data build` writes them.
    let train = dir.path().join("train.jsonl");
    let lines: Vec<String> = [
        ("Who won the 2021 Abu Dhabi Grand Prix?", "Max Verstappen."),
        ("Which team won the 1988 Monaco Grand Prix?", "McLaren."),
        ("Where is Monza?", "Monza, Italy."),
        ("Who was the 2009 world champion?", "Jenson Button."),
    ]
    .iter()
    .map(|(q, a)| {
        serde_json::json!({"messages": [{"role": "user", "content": q},
                                        {"role": "assistant", "content": a}]})
        .to_string()
    })
    .collect();
    std::fs::write(&train, lines.join("\n") + "\n").unwrap();
    let metadata = GgufMetadata::read(&path).unwrap();
    let tokenizer = f1_model::Tokenizer::from_metadata(&metadata).unwrap();
    let ids = tokenizer
        .encode("Who won the 2021 Abu Dhabi Grand Prix? Max Verstappen")
        .unwrap();
    let ids_file = dir.path().join("ids.json");
    std::fs::write(&ids_file, serde_json::to_string(&ids).unwrap()).unwrap();
    let mut base = Transformer::from_hugging_face_folder(&hf_dir, &Device::Cpu).unwrap();
    let base_logits = logits(&mut base, &ids);
    for method in ["lora", "full"] {
        let out = dir.path().join(method);
        std::fs::create_dir_all(&out).unwrap();
        let run = std::process::Command::new(&python)
            .arg(&script)
            .arg(method)
            .args([&hf_dir, &train, &ids_file, &out])
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{method}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let theirs = read_f32(&out.join("logits.f32"));
        let ours = match method {
            "lora" => {
                let mut model =
                    Transformer::from_hugging_face_folder(&hf_dir, &Device::Cpu).unwrap();
                let config = attach_adapter(&mut model, &out.join("model")).unwrap();
                assert_eq!(config.target_modules.len(), 7, "all-linear: {config:?}");
                logits(&mut model, &ids)
            }
            _ => {
                let mut model =
                    Transformer::from_hugging_face_folder(&out.join("model"), &Device::Cpu)
                        .unwrap();
                logits(&mut model, &ids)
            }
        };
        let moved = max_difference(&base_logits, &theirs);
        let apart = max_difference(&ours, &theirs);
        eprintln!(
            "{method}: training moved the logits by {moved:.3}; ours vs transformers {apart:.2e}"
        );
        assert!(
            moved > 1e-2,
            "{method}: four steps changed nothing ({moved})"
        );
        assert!(
            apart < 1e-3,
            "{method}: our logits differ from transformers' by {apart}"
        );
    }
}
