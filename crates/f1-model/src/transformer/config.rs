//! The shape of a decoder-only transformer, read from and written as GGUF metadata.

use candle_core::quantized::gguf_file::Value;

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
        // llama.cpp's default head size when a Llama file has no key_length.
        let head_dim = match (architecture, metadata.has(&key("attention.key_length"))) {
            (Architecture::Llama, false) => hidden_size / heads,
            _ => get("attention.key_length")?,
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

    /// The GGUF metadata [`Self::from_gguf`] reads back, keyed as llama.cpp's
    /// converter writes them (`general.architecture` included). Gemma 3's sliding
    /// pattern is not written: GGUF has no key for it (llama.cpp fixes it at 6).
    pub fn gguf_metadata(&self) -> Vec<(String, Value)> {
        let name = match self.architecture {
            Architecture::Llama => "llama",
            Architecture::Gemma3 => "gemma3",
        };
        let key = |k: &str| format!("{name}.{k}");
        let count = |v: usize| Value::U32(v as u32);
        let mut metadata = vec![
            ("general.architecture".into(), Value::String(name.into())),
            (key("context_length"), count(self.max_positions)),
            (key("embedding_length"), count(self.hidden_size)),
            (key("block_count"), count(self.layers)),
            (key("feed_forward_length"), count(self.intermediate_size)),
            (key("attention.head_count"), count(self.heads)),
            (key("attention.head_count_kv"), count(self.kv_heads)),
            (key("attention.key_length"), count(self.head_dim)),
            (key("attention.value_length"), count(self.head_dim)),
            (key("rope.dimension_count"), count(self.head_dim)),
            (key("rope.freq_base"), Value::F32(self.rope_theta)),
            (
                key("attention.layer_norm_rms_epsilon"),
                Value::F32(self.rms_norm_eps as f32),
            ),
            (key("vocab_size"), count(self.vocab_size)),
        ];
        if let Some(window) = self.sliding_window {
            metadata.push((key("attention.sliding_window"), count(window)));
        }
        if self.architecture == Architecture::Gemma3 && self.rope_local_theta != 10_000.0 {
            metadata.push((
                key("rope.local_freq_base"),
                Value::F32(self.rope_local_theta),
            ));
        }
        metadata
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
