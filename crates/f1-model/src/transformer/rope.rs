//! Rotary position embeddings, precomputed per base frequency.

use candle_core::{DType, Device, Result, Tensor};

use super::config::RopeStyle;
use super::Kernels;

/// Cosine and sine tables for one RoPE base.
#[derive(Debug, Clone)]
pub struct Rope {
    cos: Tensor,
    sin: Tensor,
    style: RopeStyle,
}

impl Rope {
    pub fn new(
        head_dim: usize,
        base: f32,
        positions: usize,
        style: RopeStyle,
        device: &Device,
    ) -> Result<Self> {
        let inverse: Vec<f32> = (0..head_dim)
            .step_by(2)
            .map(|i| 1.0 / base.powf(i as f32 / head_dim as f32))
            .collect();
        let inverse = Tensor::new(inverse.as_slice(), device)?.unsqueeze(0)?;
        let steps = Tensor::arange(0u32, positions as u32, device)?
            .to_dtype(DType::F32)?
            .unsqueeze(1)?;
        let angles = steps.broadcast_mul(&inverse)?;
        Ok(Self {
            cos: angles.cos()?,
            sin: angles.sin()?,
            style,
        })
    }

    /// Rotates `x` of shape (batch, heads, tokens, head_dim) whose first token
    /// sits at position `start`.
    pub fn apply(&self, x: &Tensor, start: usize, kernels: Kernels) -> Result<Tensor> {
        let tokens = x.dim(2)?;
        let cos = self.cos.narrow(0, start, tokens)?;
        let sin = self.sin.narrow(0, start, tokens)?;
        let x = x.contiguous()?;
        use candle_nn::rotary_emb as r;
        match (self.style, kernels) {
            (RopeStyle::Interleaved, Kernels::Fused) => r::rope_i(&x, &cos, &sin),
            (style, Kernels::Differentiable) => {
                super::autograd::rope(&x, &cos, &sin, style == RopeStyle::Interleaved)
            }
            (RopeStyle::Halves, Kernels::Fused) => r::rope(&x, &cos, &sin),
        }
    }
}
