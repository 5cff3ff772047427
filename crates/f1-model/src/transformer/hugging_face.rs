//! Building a [`Transformer`] from a Hugging Face model folder: config.json and
//! model.safetensors, or the shards model.safetensors.index.json lists. Tensors
//! are read on demand from memory-mapped files, converted to f32 and into GGUF's
//! layout, so the model is the one [`Transformer::from_gguf`] would build.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::quantized::QMatMul;
use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};
use serde::Deserialize;

use super::assemble::{assemble, WeightSource};
use super::config::{Architecture, RopeStyle, TransformerConfig};
use super::linear::Linear;
use super::weights::convert;
use super::Transformer;
use crate::{Error, Result};
use f1_files::write_with as write_staged;

/// The model's shape, as transformers writes it.
pub const CONFIG_FILE: &str = "config.json";
/// The weights, unless sharded.
pub const WEIGHTS_FILE: &str = "model.safetensors";
const INDEX_FILE: &str = "model.safetensors.index.json";

/// The fields of config.json this layer reads.
#[derive(Debug, Deserialize)]
struct HuggingFaceConfig {
    model_type: String,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: f64,
    max_position_embeddings: usize,
    rope_theta: Option<f32>,
    /// transformers 5: `{rope_theta, rope_type}`, or one such per attention type.
    rope_parameters: Option<serde_json::Value>,
    rope_scaling: Option<serde_json::Value>,
    rope_local_base_freq: Option<f32>,
    sliding_window: Option<usize>,
    sliding_window_pattern: Option<usize>,
    layer_types: Option<Vec<String>>,
    query_pre_attn_scalar: Option<f64>,
}

fn invalid(path: &Path, message: impl Into<String>) -> Error {
    Error::HuggingFace {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

impl HuggingFaceConfig {
    fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| invalid(path, e.to_string()))
    }

    /// The base of RoPE for `kind` ("full_attention" or "sliding_attention").
    fn rope_base(&self, kind: &str) -> Option<f32> {
        let parameters = self.rope_parameters.as_ref()?;
        let own = parameters.get(kind).unwrap_or(parameters);
        own.get("rope_theta")?.as_f64().map(|v| v as f32)
    }

    /// A RoPE variant other than the plain one (linear, llama3, yarn...).
    fn rope_scaling(&self) -> Option<String> {
        let mut kinds = Vec::new();
        if let Some(scaling) = self.rope_scaling.as_ref().filter(|s| !s.is_null()) {
            kinds.push(scaling.clone());
        }
        if let Some(parameters) = &self.rope_parameters {
            kinds.push(parameters.clone());
            for kind in ["full_attention", "sliding_attention"] {
                kinds.extend(parameters.get(kind).cloned());
            }
        }
        kinds.iter().find_map(|k| {
            let kind = k.get("rope_type").or_else(|| k.get("type"))?.as_str()?;
            (kind != "default").then(|| kind.to_string())
        })
    }

    fn to_config(&self, path: &Path) -> Result<TransformerConfig> {
        let architecture = match self.model_type.as_str() {
            "llama" => Architecture::Llama,
            "gemma3_text" => Architecture::Gemma3,
            other => {
                return Err(invalid(
                    path,
                    format!("model_type '{other}' is not supported (llama and gemma3_text are)"),
                ))
            }
        };
        if let Some(kind) = self.rope_scaling() {
            return Err(invalid(
                path,
                format!("RoPE scaling '{kind}' is not supported (only the default RoPE is)"),
            ));
        }
        let heads = self.num_attention_heads;
        let head_dim = self.head_dim.unwrap_or(self.hidden_size / heads.max(1));
        if let Some(scalar) = self.query_pre_attn_scalar {
            if scalar != head_dim as f64 {
                return Err(invalid(
                    path,
                    format!("query_pre_attn_scalar {scalar} differs from head_dim {head_dim}: not supported"),
                ));
            }
        }
        let gemma = architecture == Architecture::Gemma3;
        let sliding_window = if gemma {
            Some(
                self.sliding_window
                    .ok_or_else(|| invalid(path, "a gemma3_text model needs sliding_window"))?,
            )
        } else {
            None
        };
        let declared = self.sliding_window_pattern.unwrap_or(6);
        let sliding_pattern = match &self.layer_types {
            Some(types) if gemma => layer_pattern(types, self.num_hidden_layers, declared)
                .ok_or_else(|| {
                    invalid(
                        path,
                        "layer_types must make every n-th layer full_attention",
                    )
                })?,
            _ => declared,
        };
        let config = TransformerConfig {
            architecture,
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            intermediate_size: self.intermediate_size,
            layers: self.num_hidden_layers,
            heads,
            kv_heads: self.num_key_value_heads.unwrap_or(heads),
            head_dim,
            rms_norm_eps: self.rms_norm_eps,
            rope_theta: self
                .rope_theta
                .or_else(|| self.rope_base("full_attention"))
                .unwrap_or(10_000.0),
            rope_local_theta: self
                .rope_local_base_freq
                .or_else(|| self.rope_base("sliding_attention"))
                .unwrap_or(10_000.0),
            sliding_window,
            sliding_pattern,
            // The model is held in GGUF's layout: Llama's q/k rows are permuted on load.
            rope_style: match architecture {
                Architecture::Llama => RopeStyle::Interleaved,
                Architecture::Gemma3 => RopeStyle::Halves,
            },
            max_positions: self.max_position_embeddings,
        };
        if config.heads == 0
            || config.kv_heads == 0
            || !config.heads.is_multiple_of(config.kv_heads)
        {
            return Err(invalid(
                path,
                "num_attention_heads must be a positive multiple of num_key_value_heads",
            ));
        }
        Ok(config)
    }
}

/// The n for which layer i is global exactly when (i + 1) is a multiple of n
/// (`declared` when no layer is global).
fn layer_pattern(types: &[String], layers: usize, declared: usize) -> Option<usize> {
    let pattern = match types.iter().position(|t| t == "full_attention") {
        Some(first) => first + 1,
        None => declared.max(layers + 1),
    };
    let consistent = types.len() == layers
        && types.iter().enumerate().all(|(i, t)| {
            let global = (i + 1).is_multiple_of(pattern);
            t == if global {
                "full_attention"
            } else {
                "sliding_attention"
            }
        });
    consistent.then_some(pattern)
}

/// GGUF's tensor name as Hugging Face spells it.
fn hugging_face_name(gguf: &str, architecture: Architecture) -> String {
    let fixed = match gguf {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(name) = fixed {
        return name.to_string();
    }
    let rest = gguf.strip_prefix("blk.").unwrap_or(gguf);
    let (index, part) = rest.split_once('.').unwrap_or(("", rest));
    let part = part.strip_suffix(".weight").unwrap_or(part);
    let module = match part {
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "attn_q_norm" => "self_attn.q_norm",
        "attn_k_norm" => "self_attn.k_norm",
        "attn_norm" => "input_layernorm",
        "post_attention_norm" => "post_attention_layernorm",
        "ffn_norm" if architecture == Architecture::Gemma3 => "pre_feedforward_layernorm",
        "ffn_norm" => "post_attention_layernorm",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        "post_ffw_norm" => "post_feedforward_layernorm",
        other => other,
    };
    format!("model.layers.{index}.{module}.weight")
}

/// The safetensors files of a folder: the shards the index lists, or the one file.
fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join(INDEX_FILE);
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|e| Error::io(&index, e))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| invalid(&index, e.to_string()))?;
        let files: BTreeSet<&str> = value
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| invalid(&index, "no weight_map"))?
            .values()
            .filter_map(|f| f.as_str())
            .collect();
        return Ok(files.into_iter().map(|f| dir.join(f)).collect());
    }
    let single = dir.join(WEIGHTS_FILE);
    if single.is_file() {
        return Ok(vec![single]);
    }
    Err(invalid(
        dir,
        format!("neither {WEIGHTS_FILE} nor {INDEX_FILE} is here"),
    ))
}

struct Folder {
    dir: PathBuf,
    tensors: MmapedSafetensors,
    config: TransformerConfig,
    device: Device,
}

impl WeightSource for Folder {
    fn dense(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let hf = hugging_face_name(name, self.config.architecture);
        let view = self
            .tensors
            .get(&hf)
            .map_err(|_| self.invalid(format!("tensor '{hf}' is missing")))?;
        if view.shape() != shape {
            return Err(self.invalid(format!(
                "tensor '{hf}' has shape {:?}, config.json implies {shape:?}",
                view.shape()
            )));
        }
        let tensor = self
            .tensors
            .load(&hf, &self.device)
            .and_then(|t| t.to_dtype(DType::F32))
            .map_err(|e| self.invalid(format!("cannot read tensor '{hf}': {e}")))?;
        Ok(convert(&self.config, &hf, &tensor, false)?)
    }

    fn linear(&mut self, name: &str, out: usize, input: usize) -> Result<Linear> {
        Ok(Linear::new(QMatMul::Tensor(
            self.dense(name, &[out, input])?,
        )))
    }

    fn contains(&self, name: &str) -> bool {
        let hf = hugging_face_name(name, self.config.architecture);
        self.tensors.get(&hf).is_ok()
    }

    fn invalid(&self, message: String) -> Error {
        invalid(&self.dir, message)
    }
}

impl TransformerConfig {
    /// Reads the shape from a Hugging Face model folder's config.json.
    pub fn from_hugging_face_folder(dir: &Path) -> Result<Self> {
        let path = dir.join(CONFIG_FILE);
        HuggingFaceConfig::read(&path)?.to_config(&path)
    }
}

impl Transformer {
    /// Loads a Hugging Face model folder (Llama or Gemma 3 text) in f32.
    /// Unknown model types, RoPE scaling, missing tensors, shapes that disagree
    /// with config.json and damaged safetensors files are errors naming the file.
    pub fn from_hugging_face_folder(dir: &Path, device: &Device) -> Result<Self> {
        let config = TransformerConfig::from_hugging_face_folder(dir)?;
        let files = weight_files(dir)?;
        // SAFETY: the files are mapped read-only; like every memory-mapped model
        // loader, this assumes nothing truncates them while the model loads.
        let tensors = unsafe { MmapedSafetensors::multi(&files) }.map_err(|e| {
            invalid(
                dir,
                format!("cannot read the safetensors (truncated or damaged?): {e}"),
            )
        })?;
        let mut folder = Folder {
            dir: dir.to_path_buf(),
            tensors,
            config: config.clone(),
            device: device.clone(),
        };
        assemble(config, &mut folder, true, device)
    }

    /// Writes model.safetensors (f32, Hugging Face's names and layout) and
    /// config.json into `dir`, each through a temp file. Projections must be
    /// f32 (`WeightFormat::F32`).
    pub fn write_hugging_face_folder(&mut self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let weights: Vec<(String, Tensor)> = self
            .weights_mut()
            .into_iter()
            .map(|(name, tensor)| (name, tensor.clone()))
            .collect();
        let mut tensors = HashMap::new();
        for (name, tensor) in weights {
            let converted = self.to_hugging_face(&name, &tensor)?.contiguous()?;
            tensors.insert(name, converted);
        }
        write_staged(&dir.join(WEIGHTS_FILE), |path| {
            Ok::<_, Error>(candle_core::safetensors::save(&tensors, path)?)
        })?;
        let config = serde_json::to_string_pretty(&hugging_face_config(self)).expect("json");
        write_staged(&dir.join(CONFIG_FILE), |path| {
            std::fs::write(path, &config).map_err(|e| Error::io(path, e))
        })
    }

    /// Whether `dir` looks like a Hugging Face model folder.
    pub fn is_hugging_face_folder(dir: &Path) -> bool {
        dir.join(CONFIG_FILE).is_file()
            && (dir.join(WEIGHTS_FILE).is_file() || dir.join(INDEX_FILE).is_file())
    }
}

/// transformers' config.json for the model.
fn hugging_face_config(model: &Transformer) -> serde_json::Value {
    let c: &TransformerConfig = &model.config;
    let common = serde_json::json!({
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
        Architecture::Llama => serde_json::json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_act": "silu",
            "attention_bias": false,
            "mlp_bias": false,
        }),
        Architecture::Gemma3 => serde_json::json!({
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
