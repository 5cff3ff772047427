//! The artifacts of a finished run under models/artifacts/<run>/: a PEFT adapter
//! (LoRA), or the whole model as Hugging Face safetensors plus a GGUF (full).

use std::path::Path;

use candle_core::quantized::GgmlDType;
use candle_core::Device;
use f1_model::chat::ChatTemplate;
use f1_model::gguf::GgufMetadata;
use f1_model::gguf_write::write_transformer;
use f1_model::transformer::{Transformer, WeightFormat};
use f1_model::Tokenizer;

use crate::config::TrainConfig;
use crate::error::Result;
use crate::peft::{attach_adapter, save_adapter, AdapterConfig};
use crate::trainer::TrainingModel;

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

/// Writes model.safetensors and config.json (Hugging Face), tokenizer_config.json,
/// tokenizer.json (byte-level BPE vocabularies) and, when `gguf` names a type, model.gguf in it (with the base model's
/// tokenizer and chat template).
pub fn full(
    dir: &Path,
    transformer: &mut Transformer,
    metadata: &GgufMetadata,
    gguf: Option<GgmlDType>,
) -> Result<()> {
    transformer.write_hugging_face_folder(dir)?;
    let template = ChatTemplate::from_gguf(metadata)?;
    Tokenizer::from_metadata(metadata)?.write_hugging_face(dir, &template)?;
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
