//! The artifacts of a finished run under models/artifacts/<run>/: a PEFT adapter
//! (LoRA), or the whole model as Hugging Face safetensors plus a GGUF (full).

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::GgmlDType;
use f1_model::gguf_write::write_transformer;
use f1_model::transformer::{Architecture, Transformer, TransformerConfig};
use serde_json::json;

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::metrics::write_atomic;
use crate::peft::{save_adapter, AdapterConfig};
use crate::trainer::TrainingModel;

/// The full model's weights in Hugging Face layout.
pub const SAFETENSORS_FILE: &str = "model.safetensors";
/// The full model as llama.cpp and `f1ai chat --model` load it (f16).
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

/// Writes model.safetensors and config.json (Hugging Face), model.gguf (f16, with
/// the base model's tokenizer and chat template) and tokenizer_config.json.
pub fn full(dir: &Path, model: &mut TrainingModel) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tensors = HashMap::new();
    let transformer = &mut model.transformer;
    let weights: Vec<(String, candle_core::Tensor)> = transformer
        .weights_mut()
        .into_iter()
        .map(|(name, tensor)| (name, tensor.clone()))
        .collect();
    for (name, tensor) in weights {
        tensors.insert(
            name.clone(),
            transformer.to_hugging_face(&name, &tensor)?.contiguous()?,
        );
    }
    let path = dir.join(SAFETENSORS_FILE);
    let staging = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    candle_core::safetensors::save(&tensors, staging.path())?;
    staging
        .persist(&path)
        .map_err(|e| Error::io(&path, e.error))?;
    let config = hugging_face_config(transformer);
    write_atomic(
        &dir.join("config.json"),
        serde_json::to_string_pretty(&config)
            .expect("json")
            .as_bytes(),
    )?;
    let tokenizer_config = json!({
        "chat_template": model.template.source,
        "bos_token": model.tokenizer.bos().and_then(|id| model.tokenizer.token_text(id)),
        "eos_token": model.tokenizer.eos().and_then(|id| model.tokenizer.token_text(id)),
    });
    write_atomic(
        &dir.join("tokenizer_config.json"),
        serde_json::to_string_pretty(&tokenizer_config)
            .expect("json")
            .as_bytes(),
    )?;
    write_transformer(
        transformer,
        &model.metadata,
        GgmlDType::F16,
        &dir.join(GGUF_FILE),
    )?;
    Ok(())
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
