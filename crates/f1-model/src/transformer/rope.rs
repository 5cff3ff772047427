//! Rotary position embeddings, precomputed per base frequency.

use candle_core::{DType, Device, Result, Tensor};

use super::config::RopeStyle;
use super::llama_cpp_rounding;
use super::Kernels;

/// Cosine and sine tables for one RoPE base.
#[derive(Debug, Clone)]
pub struct Rope {
    cos: Tensor,
    sin: Tensor,
    style: RopeStyle,
    base: f32,
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
            base,
        })
    }

    /// Rotates `x` of shape (batch, heads, tokens, head_dim) at `positions`.
    pub fn apply(&self, x: &Tensor, positions: Positions, kernels: Kernels) -> Result<Tensor> {
        if kernels == Kernels::LlamaCpp && x.device().is_cpu() {
            let position = |row, i| positions.of(row, i);
            return llama_cpp_rounding::rope(x, position, self.base, self.interleaved());
        }
        let (batch, _, tokens, _) = x.dims4()?;
        let (cos, sin) = self.tables(positions, batch, tokens)?;
        let x = x.contiguous()?;
        use candle_nn::rotary_emb as r;
        match (self.style, kernels) {
            (RopeStyle::Interleaved, Kernels::Fused | Kernels::LlamaCpp) => {
                r::rope_i(&x, &cos, &sin)
            }
            (style, Kernels::Differentiable) => {
                super::autograd::rope(&x, &cos, &sin, style == RopeStyle::Interleaved)
            }
            (RopeStyle::Halves, Kernels::Fused | Kernels::LlamaCpp) => r::rope(&x, &cos, &sin),
        }
    }

    /// The cosine and sine tables of `batch` rows of `tokens` new tokens at
    /// `positions`: (tokens, head_dim / 2) when no row is padded, else each
    /// row's own, (batch, tokens, head_dim / 2).
    pub fn tables(
        &self,
        positions: Positions,
        batch: usize,
        tokens: usize,
    ) -> Result<(Tensor, Tensor)> {
        if positions.packed.is_none() && positions.padding.iter().all(|&p| p == 0) {
            let start = positions.start;
            return Ok((
                self.cos.narrow(0, start, tokens)?,
                self.sin.narrow(0, start, tokens)?,
            ));
        }
        let ids: Vec<u32> = (0..batch)
            .flat_map(|row| (0..tokens).map(move |i| positions.of(row, i) as u32))
            .collect();
        let ids = Tensor::new(ids, self.cos.device())?;
        let table = |t: &Tensor| -> Result<Tensor> {
            let half = t.dim(1)?;
            t.index_select(&ids, 0)?.reshape((batch, tokens, half))
        };
        Ok((table(&self.cos)?, table(&self.sin)?))
    }

    /// Whether rotations pair adjacent dimensions (else the two halves).
    pub fn interleaved(&self) -> bool {
        self.style == RopeStyle::Interleaved
    }
}

/// Where a forward pass's tokens sit: slot `start + i` of every row holds its
/// `i`-th new token, and the first `padding[b]` slots of row `b` are left
/// padding. A row's positions count from its first real token, so a padded row
/// is rotated exactly as it would be alone. Packed rows instead give each
/// token's position within its own sequence (restarting at 0 for each).
#[derive(Debug, Clone, Copy)]
pub struct Positions<'a> {
    pub start: usize,
    pub padding: &'a [usize],
    /// Packed rows: `packed[b][i]` is token `i` of row `b`'s position in its
    /// own sequence.
    pub packed: Option<&'a [Vec<u32>]>,
}

impl<'a> Positions<'a> {
    /// Slots `start..` of rows whose first `padding[b]` slots are left padding.
    pub fn new(start: usize, padding: &'a [usize]) -> Self {
        Self {
            start,
            padding,
            packed: None,
        }
    }

    /// Packed rows from slot 0, each token at its own sequence's position.
    pub fn packed(positions: &'a [Vec<u32>]) -> Self {
        Self {
            start: 0,
            padding: &[],
            packed: Some(positions),
        }
    }

    /// The position of new token `i` of `row` (0 for padding).
    fn of(&self, row: usize, i: usize) -> usize {
        if let Some(packed) = self.packed {
            return packed[row][i] as usize;
        }
        let pad = self.padding.get(row).copied().unwrap_or(0);
        (self.start + i).saturating_sub(pad)
    }
}
