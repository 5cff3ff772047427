//! The artifacts of a finished run under models/artifacts/<run>/: a PEFT adapter
//! (LoRA), or the whole model as Hugging Face safetensors plus a GGUF (full).

use std::path::Path;

use candle_core::quantized::GgmlDType;
use candle_core::Device;
use f1_model::transformer::{Transformer, WeightFormat};

use crate::base::BaseModel;
use crate::config::TrainConfig;
use crate::error::Result;
use crate::peft::{attach_adapter, save_adapter, AdapterConfig};
use crate::trainable::Parameter;

/// Writes the LoRA adapter of `transformer` (its trained `parameters`) in
/// PEFT's format.
pub fn lora(
    dir: &Path,
    transformer: &Transformer,
    parameters: &[Parameter],
    config: &TrainConfig,
    base_model: &str,
) -> Result<()> {
    let adapter = AdapterConfig::new(&config.lora, base_model);
    save_adapter(dir, transformer, &adapter, parameters)
}

/// Writes the GGUF model at `base`, dequantized to f32, as a Hugging Face model
/// folder (see [`BaseModel::write_full`]) that transformers loads.
pub fn hugging_face(base: &Path, out: &Path) -> Result<()> {
    let base = BaseModel::open(base)?;
    let mut transformer = base.transformer(WeightFormat::F32, &Device::Cpu)?;
    base.write_full(out, &mut transformer, None)
}

/// Folds the LoRA adapter in `adapter` into the f32 weights of the model at
/// `base` (a GGUF file or a Hugging Face folder) and writes the result as
/// [`BaseModel::write_full`] does, with a GGUF of `dtype`.
pub fn merge(base: &Path, adapter: &Path, out: &Path, dtype: GgmlDType) -> Result<()> {
    let base = BaseModel::open(base)?;
    let mut transformer = base.transformer(WeightFormat::F32, &Device::Cpu)?;
    attach_adapter(&mut transformer, adapter)?;
    for (_, linear) in transformer.projections_mut() {
        if let Some(lora) = linear.lora.take() {
            let delta = lora.delta()?;
            if let Some(weight) = linear.dense_weight_mut() {
                *weight = (&*weight + delta)?;
            }
        }
    }
    base.write_full(out, &mut transformer, Some(dtype))
}
