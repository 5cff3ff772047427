//! Building a [`Transformer`] from a source of weights (a GGUF file or a Hugging
//! Face folder), whose tensors are named and laid out as in GGUF.

use candle_core::quantized::QMatMul;
use candle_core::{Device, Tensor};

use super::config::{Architecture, TransformerConfig};
use super::layers::{Attention, Block, Mlp, RmsNorm};
use super::linear::Linear;
use super::rope::Rope;
use super::{GradientSink, Transformer};
use crate::Result;

/// Where the weights come from, by GGUF tensor name.
pub(super) trait WeightSource {
    /// A tensor of exactly `shape`, as f32.
    fn dense(&mut self, name: &str, shape: &[usize]) -> Result<Tensor>;
    /// A projection of (out, input) weights.
    fn linear(&mut self, name: &str, out: usize, input: usize) -> Result<Linear>;
    fn contains(&self, name: &str) -> bool;
    /// An error about the source's file.
    fn invalid(&self, message: String) -> crate::Error;
}

fn norm(reader: &mut dyn WeightSource, name: &str, size: usize, eps: f64) -> Result<RmsNorm> {
    Ok(RmsNorm::new(reader.dense(name, &[size])?, eps))
}

/// Builds the model from `source`, whose tensors carry GGUF's names and layout.
/// With `dense` (projections not stored quantized for candle's quantized
/// kernels) a tied head shares the f32 embedding tensor.
pub(super) fn assemble(
    config: TransformerConfig,
    reader: &mut dyn WeightSource,
    dense: bool,
    device: &Device,
) -> Result<Transformer> {
    let c = &config;
    let eps = c.rms_norm_eps;
    let q_size = c.heads * c.head_dim;
    let kv_size = c.kv_heads * c.head_dim;
    let gemma = c.architecture == Architecture::Gemma3;
    let positions = c.max_positions.min(1 << 16);
    let global_rope = Rope::new(c.head_dim, c.rope_theta, positions, c.rope_style, device)
        .map_err(|e| reader.invalid(e.to_string()))?;
    let local_rope = Rope::new(
        c.head_dim,
        c.rope_local_theta,
        positions,
        c.rope_style,
        device,
    )
    .map_err(|e| reader.invalid(e.to_string()))?;

    let embedding = reader.dense("token_embd.weight", &[c.vocab_size, c.hidden_size])?;
    let mut blocks = Vec::with_capacity(c.layers);
    for index in 0..c.layers {
        let name = |part: &str| format!("blk.{index}.{part}.weight");
        let optional_norm = |reader: &mut dyn WeightSource, part: &str, size: usize| {
            gemma
                .then(|| norm(reader, &name(part), size, eps))
                .transpose()
        };
        let sliding = c.is_sliding(index);
        let attention = Attention::new(
            reader.linear(&name("attn_q"), q_size, c.hidden_size)?,
            reader.linear(&name("attn_k"), kv_size, c.hidden_size)?,
            reader.linear(&name("attn_v"), kv_size, c.hidden_size)?,
            reader.linear(&name("attn_output"), c.hidden_size, q_size)?,
            optional_norm(reader, "attn_q_norm", c.head_dim)?,
            optional_norm(reader, "attn_k_norm", c.head_dim)?,
            if sliding {
                local_rope.clone()
            } else {
                global_rope.clone()
            },
            c,
        );
        blocks.push(Block {
            attention_norm: norm(reader, &name("attn_norm"), c.hidden_size, eps)?,
            attention,
            post_attention_norm: optional_norm(reader, "post_attention_norm", c.hidden_size)?,
            mlp_norm: norm(reader, &name("ffn_norm"), c.hidden_size, eps)?,
            mlp: Mlp {
                gate: reader.linear(&name("ffn_gate"), c.intermediate_size, c.hidden_size)?,
                up: reader.linear(&name("ffn_up"), c.intermediate_size, c.hidden_size)?,
                down: reader.linear(&name("ffn_down"), c.hidden_size, c.intermediate_size)?,
                architecture: c.architecture,
            },
            post_mlp_norm: optional_norm(reader, "post_ffw_norm", c.hidden_size)?,
            sliding,
        });
    }
    let final_norm = norm(reader, "output_norm.weight", c.hidden_size, eps)?;
    let tied = !reader.contains("output.weight");
    let lm_head = match (tied, dense) {
        // One tensor for both, so that training updates them together.
        (true, true) => Linear::new(QMatMul::Tensor(embedding.clone())),
        (true, false) => reader.linear("token_embd.weight", c.vocab_size, c.hidden_size)?,
        (false, _) => reader.linear("output.weight", c.vocab_size, c.hidden_size)?,
    };
    Ok(Transformer {
        config,
        embedding,
        blocks,
        norm: final_norm,
        lm_head,
        tied_embeddings: tied,
        device: device.clone(),
        gradients: GradientSink::default(),
    })
}
