//! Building a [`Transformer`] from a GGUF file.

use std::fs::File;

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{DType, Device, Tensor};

use super::config::{Architecture, TransformerConfig};
use super::layers::{Attention, Block, Mlp, RmsNorm};
use super::linear::Linear;
use super::rope::Rope;
use super::Transformer;
use crate::gguf::GgufMetadata;
use crate::Result;

/// How the weights are held in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// As stored (quantized matmuls, as llama.cpp runs them).
    Quantized,
    /// Dequantized to f32 (for training and exact maths).
    F32,
}

struct Reader<'a> {
    metadata: &'a GgufMetadata,
    file: File,
    device: Device,
    format: WeightFormat,
}

impl Reader<'_> {
    fn tensor(&mut self, name: &str, shape: &[usize]) -> Result<QTensor> {
        let info = self
            .metadata
            .content()
            .tensor_infos
            .get(name)
            .ok_or_else(|| self.metadata.invalid(format!("tensor '{name}' is missing")))?;
        if info.shape.dims() != shape {
            return Err(self.metadata.invalid(format!(
                "tensor '{name}' has shape {:?}, the metadata implies {shape:?}",
                info.shape.dims()
            )));
        }
        self.metadata
            .content()
            .tensor(&mut self.file, name, &self.device)
            .map_err(|e| {
                self.metadata.invalid(format!(
                    "cannot read tensor '{name}' (truncated or damaged file?): {e}"
                ))
            })
    }

    fn dense(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let tensor = self.tensor(name, shape)?;
        tensor
            .dequantize(&self.device)
            .and_then(|t| t.to_dtype(DType::F32))
            .map_err(|e| self.metadata.invalid(format!("dequantizing '{name}': {e}")))
    }

    fn linear(&mut self, name: &str, out: usize, input: usize) -> Result<Linear> {
        let shape = [out, input];
        let weights = match self.format {
            WeightFormat::Quantized => QMatMul::from_qtensor(self.tensor(name, &shape)?),
            WeightFormat::F32 => Ok(QMatMul::Tensor(self.dense(name, &shape)?)),
        };
        weights
            .map(Linear::new)
            .map_err(|e| self.metadata.invalid(format!("'{name}': {e}")))
    }

    fn norm(&mut self, name: &str, size: usize, eps: f64) -> Result<RmsNorm> {
        Ok(RmsNorm::new(self.dense(name, &[size])?, eps))
    }
}

impl Transformer {
    /// Loads the model in a GGUF file. Unknown architectures, missing tensors,
    /// shapes that disagree with the metadata and truncated files are errors.
    pub fn from_gguf(
        metadata: &GgufMetadata,
        format: WeightFormat,
        device: &Device,
    ) -> Result<Self> {
        let config = TransformerConfig::from_gguf(metadata)?;
        let file = File::open(metadata.path()).map_err(|e| crate::Error::io(metadata.path(), e))?;
        let mut reader = Reader {
            metadata,
            file,
            device: device.clone(),
            format,
        };
        let c = &config;
        let eps = c.rms_norm_eps;
        let q_size = c.heads * c.head_dim;
        let kv_size = c.kv_heads * c.head_dim;
        let gemma = c.architecture == Architecture::Gemma3;
        let positions = c.max_positions.min(1 << 16);
        let global_rope = Rope::new(c.head_dim, c.rope_theta, positions, c.rope_style, device)
            .map_err(|e| metadata.invalid(e))?;
        let local_rope = Rope::new(
            c.head_dim,
            c.rope_local_theta,
            positions,
            c.rope_style,
            device,
        )
        .map_err(|e| metadata.invalid(e))?;

        let embedding = reader.dense("token_embd.weight", &[c.vocab_size, c.hidden_size])?;
        let mut blocks = Vec::with_capacity(c.layers);
        for index in 0..c.layers {
            let name = |part: &str| format!("blk.{index}.{part}.weight");
            let optional_norm = |reader: &mut Reader, part: &str, size: usize| {
                if gemma {
                    reader.norm(&name(part), size, eps).map(Some)
                } else {
                    Ok(None)
                }
            };
            let sliding = c.is_sliding(index);
            let attention = Attention::new(
                reader.linear(&name("attn_q"), q_size, c.hidden_size)?,
                reader.linear(&name("attn_k"), kv_size, c.hidden_size)?,
                reader.linear(&name("attn_v"), kv_size, c.hidden_size)?,
                reader.linear(&name("attn_output"), c.hidden_size, q_size)?,
                optional_norm(&mut reader, "attn_q_norm", c.head_dim)?,
                optional_norm(&mut reader, "attn_k_norm", c.head_dim)?,
                if sliding {
                    local_rope.clone()
                } else {
                    global_rope.clone()
                },
                c,
            );
            blocks.push(Block {
                attention_norm: reader.norm(&name("attn_norm"), c.hidden_size, eps)?,
                attention,
                post_attention_norm: optional_norm(
                    &mut reader,
                    "post_attention_norm",
                    c.hidden_size,
                )?,
                mlp_norm: reader.norm(&name("ffn_norm"), c.hidden_size, eps)?,
                mlp: Mlp {
                    gate: reader.linear(&name("ffn_gate"), c.intermediate_size, c.hidden_size)?,
                    up: reader.linear(&name("ffn_up"), c.intermediate_size, c.hidden_size)?,
                    down: reader.linear(&name("ffn_down"), c.hidden_size, c.intermediate_size)?,
                    architecture: c.architecture,
                },
                post_mlp_norm: optional_norm(&mut reader, "post_ffw_norm", c.hidden_size)?,
                sliding,
            });
        }
        let norm = reader.norm("output_norm.weight", c.hidden_size, eps)?;
        let tied = !metadata
            .content()
            .tensor_infos
            .contains_key("output.weight");
        let lm_head = match (tied, format) {
            // One tensor for both, so that training updates them together.
            (true, WeightFormat::F32) => Linear::new(QMatMul::Tensor(embedding.clone())),
            (true, WeightFormat::Quantized) => {
                reader.linear("token_embd.weight", c.vocab_size, c.hidden_size)?
            }
            (false, _) => reader.linear("output.weight", c.vocab_size, c.hidden_size)?,
        };
        Ok(Self {
            config,
            embedding,
            blocks,
            norm,
            lm_head,
            tied_embeddings: tied,
            device: device.clone(),
        })
    }
}
