//! The artifacts of a finished run under models/artifacts/<run>/: a PEFT adapter
//! (LoRA), or the whole model as Hugging Face safetensors plus a GGUF (full).

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::GgmlDType;
use candle_core::{Device, Tensor};
use f1_model::chat::ChatTemplate;
use f1_model::gguf::GgufMetadata;
use f1_model::gguf_write::write_transformer;
use f1_model::transformer::{Architecture, Transformer, TransformerConfig, WeightFormat};
use f1_model::Tokenizer;
use serde_json::json;

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::metrics::write_atomic;
use crate::peft::{attach_adapter, save_adapter, AdapterConfig};
use crate::trainer::TrainingModel;

/// The full model's weights in Hugging Face layout.
pub const SAFETENSORS_FILE: &str = "model.safetensors";
/// The full model as llama.cpp and our loader read it.
pub const GGUF_FILE: &str = "model.gguf";

/// Writes the LoRA adapter in PEFT's format.
pub fn lora(
    dir: &Path,
    model: &TrainingModel,
    config: &TrainConfig,
    base_model: &str,
) -> Result<()> {
    let adapter = AdapterConfig::new(&config.lora, base_model);
    save_adapter(dir, &model.transformer, &adapter, &model.parameters)
}

/// Writes model.safetensors and config.json (Hugging Face), tokenizer_config.json
/// and, when `gguf` names a type, model.gguf in it (with the base model's
/// tokenizer and chat template).
pub fn full(
    dir: &Path,
    transformer: &mut Transformer,
    metadata: &GgufMetadata,
    gguf: Option<GgmlDType>,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let weights: Vec<(String, Tensor)> = transformer
        .weights_mut()
        .into_iter()
        .map(|(name, tensor)| (name, tensor.clone()))
        .collect();
    let mut tensors = HashMap::new();
    for (name, tensor) in weights {
        let converted = transformer.to_hugging_face(&name, &tensor)?.contiguous()?;
        tensors.insert(name, converted);
    }
    let path = dir.join(SAFETENSORS_FILE);
    let staging = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    candle_core::safetensors::save(&tensors, staging.path())?;
    staging
        .persist(&path)
        .map_err(|e| Error::io(&path, e.error))?;
    let config = hugging_face_config(transformer);
    write_json(&dir.join("config.json"), &config)?;
    let template = ChatTemplate::from_gguf(metadata)?;
    let tokenizer = Tokenizer::from_metadata(metadata)?;
    let token = |id: Option<u32>| id.and_then(|id| tokenizer.token_text(id));
    let tokenizer_config = json!({
        "chat_template": template.source,
        "bos_token": token(tokenizer.bos()),
        "eos_token": token(tokenizer.eos()),
    });
    write_json(&dir.join("tokenizer_config.json"), &tokenizer_config)?;
    if let Some(dtype) = gguf {
        write_transformer(transformer, metadata, dtype, &dir.join(GGUF_FILE))?;
    }
    Ok(())
}

/// Writes the GGUF model at `base`, dequantized to f32, as a Hugging Face model
/// folder (see [`full`]) that transformers loads.
pub fn hugging_face(base: &Path, out: &Path) -> Result<()> {
    let metadata = GgufMetadata::read(base)?;
    let mut transformer = Transformer::from_gguf(&metadata, WeightFormat::F32, &Device::Cpu)?;
    full(out, &mut transformer, &metadata, None)
}

/// Folds the LoRA adapter in `adapter` into the f32 weights of the GGUF model at
/// `base` and writes the result as [`full`] does.
pub fn merge(base: &Path, adapter: &Path, out: &Path, dtype: GgmlDType) -> Result<()> {
    let metadata = GgufMetadata::read(base)?;
    let mut transformer = Transformer::from_gguf(&metadata, WeightFormat::F32, &Device::Cpu)?;
    attach_adapter(&mut transformer, adapter)?;
    for (_, linear) in transformer.projections_mut() {
        if let Some(lora) = linear.lora.take() {
            let delta = lora.delta()?;
            if let Some(weight) = linear.dense_weight_mut() {
                *weight = (&*weight + delta)?;
            }
        }
    }
    full(out, &mut transformer, &metadata, Some(dtype))
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("json serializes");
    write_atomic(path, text.as_bytes())
}

/// transformers' config.json for the model.
fn hugging_face_config(model: &Transformer) -> serde_json::Value {
    let c: &TransformerConfig = &model.config;
    let common = json!({
        "vocab_size": c.vocab_size,
        "hidden_size": c.hidden_size,
        "intermediate_size": c.intermediate_size,
        "num_hidden_layers": c.layers,
        "num_attention_heads": c.heads,
        "num_key_value_heads": c.kv_heads,
        "head_dim": c.head_dim,
        "rms_norm_eps": c.rms_norm_eps,
        "rope_theta": c.rope_theta,
        "max_position_embeddings": c.max_positions,
        "tie_word_embeddings": model.tied_embeddings,
        "torch_dtype": "float32",
    });
    let specific = match c.architecture {
        Architecture::Llama => json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_act": "silu",
            "attention_bias": false,
            "mlp_bias": false,
        }),
        Architecture::Gemma3 => json!({
            "architectures": ["Gemma3ForCausalLM"],
            "model_type": "gemma3_text",
            "hidden_activation": "gelu_pytorch_tanh",
            "query_pre_attn_scalar": c.head_dim,
            "sliding_window": c.sliding_window,
            "sliding_window_pattern": c.sliding_pattern,
            "rope_local_base_freq": c.rope_local_theta,
            "layer_types": (0..c.layers)
                .map(|i| if c.is_sliding(i) { "sliding_attention" } else { "full_attention" })
                .collect::<Vec<_>>(),
        }),
    };
    let mut merged = common;
    if let (Some(m), Some(s)) = (merged.as_object_mut(), specific.as_object()) {
        m.extend(s.clone());
    }
    merged
}
