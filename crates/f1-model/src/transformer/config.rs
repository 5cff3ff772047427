//! The shape of a decoder-only transformer, read from GGUF metadata.

use crate::gguf::GgufMetadata;
use crate::Result;

/// The architectures this layer can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// Llama, Llama 2, SmolLM2: SiLU MLP, pre-norm only.
    Llama,
    /// Gemma 3: GELU MLP, pre- and post-norms, q/k norms, scaled embeddings,
    /// sliding-window attention on five layers of six.
    Gemma3,
}

/// How rotary embeddings pair up the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs (llama.cpp's GGUF Llama layout, whose q/k rows are permuted).
    Interleaved,
    /// First half with second half (Hugging Face's layout, and Gemma in GGUF).
    Halves,
}

/// Everything the forward pass needs to know about a model's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformerConfig {
    pub architecture: Architecture,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    /// RoPE base of global-attention layers.
    pub rope_theta: f32,
    /// RoPE base of sliding-window layers (Gemma 3).
    pub rope_local_theta: f32,
    /// Window of sliding-window layers; `None` when every layer is global.
    pub sliding_window: Option<usize>,
    /// Every `sliding_pattern`-th layer is global (Gemma 3: 6).
    pub sliding_pattern: usize,
    pub rope_style: RopeStyle,
    pub max_positions: usize,
}

impl TransformerConfig {
    /// Reads the shape from a GGUF file's metadata.
    pub fn from_gguf(metadata: &GgufMetadata) -> Result<Self> {
        let name = metadata.string("general.architecture")?;
        let architecture = match name.as_str() {
            "llama" => Architecture::Llama,
            "gemma3" => Architecture::Gemma3,
            other => {
                return Err(metadata.invalid(format!(
                    "architecture '{other}' is not supported (llama and gemma3 are)"
                )))
            }
        };
        let key = |k: &str| format!("{name}.{k}");
        let get = |k: &str| metadata.u32(&key(k)).map(|v| v as usize);
        let hidden_size = get("embedding_length")?;
        let heads = get("attention.head_count")?;
        let head_dim = match architecture {
            Architecture::Gemma3 => get("attention.key_length")?,
            Architecture::Llama => hidden_size / heads,
        };
        let vocab_size = match metadata.u32(&key("vocab_size")) {
            Ok(v) => v as usize,
            Err(_) => metadata.strings("tokenizer.ggml.tokens")?.len(),
        };
        let sliding_window = match architecture {
            Architecture::Gemma3 => Some(get("attention.sliding_window")?),
            Architecture::Llama => None,
        };
        let rope_theta = metadata.f32_or(&key("rope.freq_base"), 10_000.0)?;
        Ok(Self {
            architecture,
            vocab_size,
            hidden_size,
            intermediate_size: get("feed_forward_length")?,
            layers: get("block_count")?,
            heads,
            kv_heads: get("attention.head_count_kv")?,
            head_dim,
            rms_norm_eps: metadata.f32(&key("attention.layer_norm_rms_epsilon"))? as f64,
            rope_theta,
            rope_local_theta: metadata.f32_or(&key("rope.local_freq_base"), 10_000.0)?,
            sliding_window,
            sliding_pattern: 6,
            rope_style: match architecture {
                Architecture::Llama => RopeStyle::Interleaved,
                Architecture::Gemma3 => RopeStyle::Halves,
            },
            max_positions: get("context_length")?,
        })
    }

    /// Whether layer `index` attends only within the sliding window.
    pub fn is_sliding(&self, index: usize) -> bool {
        self.sliding_window.is_some() && !(index + 1).is_multiple_of(self.sliding_pattern)
    }

    /// The RoPE base of layer `index`.
    pub fn rope_base(&self, index: usize) -> f32 {
        if self.is_sliding(index) {
            self.rope_local_theta
        } else {
            self.rope_theta
        }
    }
}
