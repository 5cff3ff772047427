//! Writing GGUF files (candle's writer): merged and fully fine-tuned models, with
//! a GGUF base's metadata or the metadata of a Hugging Face folder, and tiny
//! random-weight models for tests, each with a real model's tokenizer metadata.

use std::io::Write;
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::{Error, Result};
use crate::gguf::GgufMetadata;
use crate::tokenizer::to_gguf::tokenizer_metadata;
use crate::transformer::{Architecture, Transformer, TransformerConfig};
use f1_files::write_with as write_staged;

/// A GGUF file being assembled: metadata first, then tensors.
pub struct GgufWriter {
    metadata: Vec<(String, Value)>,
    tensors: Vec<(String, QTensor)>,
}

impl GgufWriter {
    /// Starts from `metadata` and no tensors.
    pub fn new(metadata: Vec<(String, Value)>) -> Self {
        Self {
            metadata,
            tensors: Vec::new(),
        }
    }

    /// Starts from every metadata key of `source` (architecture, tokenizer, chat
    /// template) and no tensors.
    pub fn from_source(source: &GgufMetadata) -> Self {
        let mut metadata: Vec<(String, Value)> = source
            .content()
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        metadata.sort_by(|a, b| a.0.cmp(&b.0));
        Self::new(metadata)
    }

    /// The metadata llama.cpp's converter writes for the Hugging Face folder `dir`
    /// holding a model of shape `config`: the architecture's keys and the
    /// tokenizer's (the forms GGUF has types for; see [`tokenizer_metadata`]).
    pub fn for_hugging_face(dir: &Path, config: &TransformerConfig) -> Result<Self> {
        if config.architecture == Architecture::Gemma3 && config.sliding_pattern != 6 {
            return Err(Error::HuggingFace {
                path: dir.to_path_buf(),
                message: format!(
                    "a global layer every {} layers: GGUF's gemma3 fixes it at 6",
                    config.sliding_pattern
                ),
            });
        }
        let mut metadata = config.gguf_metadata();
        metadata.extend(tokenizer_metadata(dir, config.vocab_size)?);
        let name = std::path::absolute(dir)
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "model".into());
        metadata.push(("general.name".into(), Value::String(name)));
        metadata.push(("general.quantization_version".into(), Value::U32(2)));
        Ok(Self::new(metadata))
    }

    /// Sets (or replaces) one metadata key.
    pub fn set(&mut self, key: &str, value: Value) {
        match self.metadata.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.metadata.push((key.to_string(), value)),
        }
    }

    /// Adds a tensor, stored as `dtype` (norms and other 1-d tensors stay f32, as
    /// llama.cpp's converter keeps them).
    pub fn add_tensor(&mut self, name: &str, tensor: &Tensor, dtype: GgmlDType) -> Result<()> {
        let dtype = if tensor.rank() == 1 {
            GgmlDType::F32
        } else {
            dtype
        };
        let tensor = tensor.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
        let tensor = QTensor::quantize(&tensor, dtype)?;
        self.tensors.push((name.to_string(), tensor));
        Ok(())
    }

    /// Writes the file atomically (a temporary file renamed into place).
    pub fn write(&self, path: &Path) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let metadata: Vec<(&str, &Value)> =
            self.metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let tensors: Vec<(&str, &QTensor)> =
            self.tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
        write_staged(path, |staging| {
            let file = std::fs::File::create(staging).map_err(|e| Error::io(path, e))?;
            let mut writer = std::io::BufWriter::new(file);
            gguf_file::write(&mut writer, &metadata, &tensors)
                .and_then(|()| Ok(writer.flush()?))
                .map_err(|e| Error::Gguf {
                    path: path.to_path_buf(),
                    message: format!("cannot write: {e}"),
                })
        })
    }
}

/// The GGUF tensor name of a Hugging Face weight name.
pub fn gguf_tensor_name(hugging_face: &str) -> Option<String> {
    let fixed = match hugging_face {
        "model.embed_tokens.weight" => Some("token_embd.weight"),
        "model.norm.weight" => Some("output_norm.weight"),
        "lm_head.weight" => Some("output.weight"),
        _ => None,
    };
    if let Some(name) = fixed {
        return Some(name.to_string());
    }
    let rest = hugging_face.strip_prefix("model.layers.")?;
    let (index, part) = rest.split_once('.')?;
    let part = part.strip_suffix(".weight")?;
    let gguf = match part {
        "self_attn.q_proj" => "attn_q",
        "self_attn.k_proj" => "attn_k",
        "self_attn.v_proj" => "attn_v",
        "self_attn.o_proj" => "attn_output",
        "self_attn.q_norm" => "attn_q_norm",
        "self_attn.k_norm" => "attn_k_norm",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        "input_layernorm" => "attn_norm",
        "pre_feedforward_layernorm" => "ffn_norm",
        "post_feedforward_layernorm" => "post_ffw_norm",
        // Llama's norm before the MLP; Gemma's norm of the attention output.
        "post_attention_layernorm" => return None,
        _ => return None,
    };
    Some(format!("blk.{index}.{gguf}.weight"))
}

/// Writes `model`'s weights in GGUF after `writer`'s metadata (architecture,
/// tokenizer, template).
pub fn write_transformer(
    model: &mut Transformer,
    mut writer: GgufWriter,
    dtype: GgmlDType,
    path: &Path,
) -> Result<()> {
    let gemma = model.config.architecture == Architecture::Gemma3;
    for (name, tensor) in model.weights_mut() {
        let gguf = match gguf_tensor_name(&name) {
            Some(gguf) => gguf,
            None if name.ends_with("post_attention_layernorm.weight") => {
                let index = name.split('.').nth(2).unwrap_or_default();
                let part = if gemma {
                    "post_attention_norm"
                } else {
                    "ffn_norm"
                };
                format!("blk.{index}.{part}.weight")
            }
            None => {
                return Err(Error::Gguf {
                    path: path.to_path_buf(),
                    message: format!("no GGUF name for weight '{name}'"),
                })
            }
        };
        writer.add_tensor(&gguf, tensor, dtype)?;
    }
    writer.set("general.file_type", Value::U32(file_type(dtype)));
    writer.write(path)
}

/// llama.cpp's `general.file_type` for a whole-model dtype.
fn file_type(dtype: GgmlDType) -> u32 {
    match dtype {
        GgmlDType::F32 => 0,
        GgmlDType::F16 => 1,
        GgmlDType::Q8_0 => 7,
        _ => 0,
    }
}

/// The shape of a tiny model for tests.
#[derive(Debug, Clone, Copy)]
pub struct TinyShape {
    pub hidden: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
}

impl Default for TinyShape {
    fn default() -> Self {
        Self {
            hidden: 32,
            intermediate: 64,
            layers: 2,
            heads: 4,
            kv_heads: 2,
        }
    }
}

/// Writes a model of `source`'s architecture and tokenizer but `shape`'s size,
/// with weights drawn uniformly from a seeded generator: a stand-in small enough
/// for unit tests that still runs through the real loader, tokenizer and template.
pub fn write_tiny_random(
    source: &GgufMetadata,
    shape: TinyShape,
    seed: u64,
    path: &Path,
) -> Result<()> {
    let architecture = source.string("general.architecture")?;
    let vocab = source.strings("tokenizer.ggml.tokens")?.len();
    let head_dim = shape.hidden / shape.heads;
    let mut writer = GgufWriter::from_source(source);
    let key = |k: &str| format!("{architecture}.{k}");
    let u32_value = |v: usize| Value::U32(v as u32);
    writer.set(&key("embedding_length"), u32_value(shape.hidden));
    writer.set(&key("feed_forward_length"), u32_value(shape.intermediate));
    writer.set(&key("block_count"), u32_value(shape.layers));
    writer.set(&key("attention.head_count"), u32_value(shape.heads));
    writer.set(&key("attention.head_count_kv"), u32_value(shape.kv_heads));
    writer.set(&key("attention.key_length"), u32_value(head_dim));
    writer.set(&key("attention.value_length"), u32_value(head_dim));
    writer.set(&key("rope.dimension_count"), u32_value(head_dim));
    writer.set("general.name", Value::String("tiny-random".into()));
    let gemma = architecture == "gemma3";
    let mut rng = StdRng::seed_from_u64(seed);
    let mut random = |dims: &[usize], scale: f32| -> Result<Tensor> {
        let count = dims.iter().product();
        let values: Vec<f32> = (0..count)
            .map(|_| (rng.random::<f32>() - 0.5) * 2.0 * scale)
            .collect();
        Ok(Tensor::from_vec(values, dims, &Device::Cpu)?)
    };
    let ones = |size: usize| Tensor::ones(size, DType::F32, &Device::Cpu);
    let (h, q, kv) = (
        shape.hidden,
        shape.heads * head_dim,
        shape.kv_heads * head_dim,
    );
    let f32_type = GgmlDType::F32;
    writer.add_tensor("token_embd.weight", &random(&[vocab, h], 0.5)?, f32_type)?;
    writer.add_tensor("output_norm.weight", &ones(h)?, f32_type)?;
    for layer in 0..shape.layers {
        let name = |part: &str| format!("blk.{layer}.{part}.weight");
        let scale = 1.0 / (h as f32).sqrt();
        let matrices = [
            ("attn_q", [q, h]),
            ("attn_k", [kv, h]),
            ("attn_v", [kv, h]),
            ("attn_output", [h, q]),
            ("ffn_gate", [shape.intermediate, h]),
            ("ffn_up", [shape.intermediate, h]),
            ("ffn_down", [h, shape.intermediate]),
        ];
        for (part, dims) in matrices {
            writer.add_tensor(&name(part), &random(&dims, scale)?, f32_type)?;
        }
        let mut norms = vec![("attn_norm", h), ("ffn_norm", h)];
        if gemma {
            norms.extend([
                ("attn_q_norm", head_dim),
                ("attn_k_norm", head_dim),
                ("post_attention_norm", h),
                ("post_ffw_norm", h),
            ]);
        }
        for (part, size) in norms {
            writer.add_tensor(&name(part), &ones(size)?, f32_type)?;
        }
    }
    writer.write(path)
}
