//! candle's fused RMS norm, softmax and RoPE kernels with hand-written backward
//! passes. candle-nn's versions have no backward, and composing them from
//! primitive ops keeps five to ten activation-sized tensors per call alive until
//! the backward pass ends; these keep one. The forward runs candle's own kernel.

use std::sync::{Arc, OnceLock};

use rten_simd::{SimdOp, SimdUnaryOp};
use rten_vecmath::{Exp, SumExpSub};

use super::cpu_pool::{self, for_each_chunk, new_chunked, piece};
use super::dense_product::{blockwise_product, product, Matrix, ProductPrecision};
use super::dequantize::QuantizedRows;
use super::lane_sums;
#[cfg(target_arch = "x86_64")]
use super::packed_input::PackedInput;
use super::stochastic_rounding::{RoundingSeed, StochasticallyRounded};
use super::tensor_values::{cpu_values, values};
use candle_core::quantized::QTensor;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Device, Layout, Result, Shape, Tensor, D};

/// Runs `f` on a CPU storage viewed as a tensor and returns the result's storage.
fn on_cpu(
    storage: &CpuStorage,
    layout: &Layout,
    f: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<(CpuStorage, Shape)> {
    cpu_storage(f(&cpu_tensor(storage, layout)?)?)
}

/// `input`'s shape with its last dimension replaced by `last` (a projection's
/// output shape).
pub(crate) fn with_last_dim(input: &Shape, last: usize) -> Shape {
    let mut dims = input.dims().to_vec();
    dims.pop();
    dims.push(last);
    dims.into()
}

/// A custom op's contiguous f32 CPU input as a tensor (a copy).
fn cpu_tensor(storage: &CpuStorage, layout: &Layout) -> Result<Tensor> {
    Tensor::from_slice(cpu_values(storage, layout)?, layout.shape(), &Device::Cpu)
}

/// A CPU tensor as a custom op's result.
pub(crate) fn cpu_storage(y: Tensor) -> Result<(CpuStorage, Shape)> {
    let y = y.contiguous()?;
    let (y_storage, _) = y.storage_and_layout();
    match &*y_storage {
        candle_core::Storage::Cpu(cpu) => Ok((cpu.clone(), y.shape().clone())),
        _ => candle_core::bail!("autograd kernels run on the CPU"),
    }
}

/// A base weight (out, in) that receives no gradient.
#[derive(Debug, Clone)]
pub enum FrozenWeight {
    Dense(Tensor),
    /// Kept quantized and dequantized for each product (to f32, or for bf16
    /// products straight to the kernel's bf16 panels), so that only the
    /// quantized bytes stay in memory (QLoRA's storage, as bitsandbytes does).
    Quantized(Arc<QTensor>),
}

impl FrozenWeight {
    /// The weight in f32.
    pub(crate) fn dense(&self) -> Result<Tensor> {
        match self {
            Self::Dense(w) => Ok(w.clone()),
            Self::Quantized(q) => super::dequantize::dequantize(q),
        }
    }

    /// (out, in).
    fn dims(&self) -> Result<(usize, usize)> {
        match self {
            Self::Dense(w) => w.dims2(),
            Self::Quantized(q) => q.shape().dims2(),
        }
    }

    /// `scale * lhs · W^T` when `transposed`, else `scale * lhs · W`, in a new
    /// buffer. A quantized weight is decoded a column block at a time by the
    /// thread that multiplies it (for bf16 on AVX512-BF16, straight into the
    /// kernel's packed panels).
    pub(crate) fn product(
        &self,
        lhs: Matrix,
        transposed: bool,
        scale: f32,
        precision: ProductPrecision,
    ) -> Result<Vec<f32>> {
        if let Self::Quantized(q) = self {
            if let Some(rows) = QuantizedRows::new(q, transposed)? {
                return blockwise_product(lhs, &rows, scale, precision);
            }
        }
        let weight = self.dense()?.contiguous()?;
        let (output, input) = weight.dims2()?;
        let values = values(&weight)?;
        let w = Matrix::new(&values, output, input)?;
        product(lhs, if transposed { w.t() } else { w }, scale, precision)
    }
}

/// `x W^T` for a weight that is not trained. candle's matmul backward computes
/// the gradient of both operands and keeps the unused one for a frozen weight
/// until the pass ends (one weight-sized tensor per batch row); this computes only
/// the input's gradient.
pub fn frozen_matmul(x: &Tensor, weight: FrozenWeight) -> Result<Tensor> {
    if !x.device().is_cpu() {
        return matmul_t(x, &weight.dense()?);
    }
    let precision = ProductPrecision::F32;
    x.contiguous()?
        .apply_op1(FrozenMatmul { weight, precision })
}

pub(crate) struct FrozenMatmul {
    pub(crate) weight: FrozenWeight,
    pub(crate) precision: ProductPrecision,
}

impl FrozenMatmul {
    /// The gradient of the input, `grad · W` (which needs no input values).
    pub(crate) fn input_gradient(&self, grad: &Tensor) -> Result<Tensor> {
        let (output, input) = self.weight.dims()?;
        let grad = grad.contiguous()?;
        let g = values(&grad)?;
        let g = Matrix::new(&g, g.len() / output, output)?;
        let x_grad = self.weight.product(g, false, 1.0, self.precision)?;
        Tensor::from_vec(x_grad, with_last_dim(grad.shape(), input), grad.device())
    }
}

impl CustomOp1 for FrozenMatmul {
    fn name(&self) -> &'static str {
        "frozen-matmul"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (output, input) = self.weight.dims()?;
        let x = cpu_values(storage, layout)?;
        let x = Matrix::new(x, x.len() / input, input)?;
        let y = self.weight.product(x, true, 1.0, self.precision)?;
        Ok((CpuStorage::F32(y), with_last_dim(layout.shape(), output)))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        self.input_gradient(grad).map(Some)
    }
}

/// `x W^T` for a trained weight (out, in): the forward and both gradients
/// straight from gemm, where candle's composed matmul (a reshape, a transpose and
/// the product) allocates, zeroes and adds into a gradient for each of them.
pub fn trained_matmul(x: &Tensor, weight: &Tensor) -> Result<Tensor> {
    if !x.device().is_cpu() {
        return matmul_t(x, weight);
    }
    x.contiguous()?.apply_op2(
        &weight.contiguous()?,
        TrainedMatmul {
            precision: ProductPrecision::F32,
            rounding: None,
        },
    )
}

pub(crate) struct TrainedMatmul {
    pub(crate) precision: ProductPrecision,
    /// At bf16, the forward rounds the weight stochastically with these bits
    /// (`stochastic_rounding`); `None` rounds it to nearest.
    pub(crate) rounding: Option<RoundingSeed>,
}

/// A projection's input as its backward reads it.
pub(crate) enum KeptInput<'a> {
    Values(&'a Tensor),
    /// Packed as bf16 for the weight's gradient, which reads it in place.
    #[cfg(target_arch = "x86_64")]
    Packed(&'a PackedInput),
}

impl KeptInput<'_> {
    /// `scale * lhs · x` (`x` as (rows, input) values), at `precision`.
    pub(crate) fn product_with(
        &self,
        lhs: Matrix,
        input: usize,
        scale: f32,
        precision: ProductPrecision,
    ) -> Result<Vec<f32>> {
        match self {
            Self::Values(x) => {
                let values = values(x)?;
                let x = Matrix::new(&values, x.elem_count() / input.max(1), input)?;
                product(lhs, x, scale, precision)
            }
            #[cfg(target_arch = "x86_64")]
            Self::Packed(x) => blockwise_product(lhs, *x, scale, precision),
        }
    }
}

impl TrainedMatmul {
    /// The gradients of the input, `G W`, and of the weight, `Gᵀ x`.
    pub(crate) fn gradients(
        &self,
        x: KeptInput,
        weight: &Tensor,
        grad: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let (output, input) = weight.dims2()?;
        let grad = grad.contiguous()?;
        let g = values(&grad)?;
        let g = Matrix::new(&g, g.len() / output, output)?;
        let w = values(weight)?;
        let grad_x = product(g, Matrix::new(&w, output, input)?, 1.0, self.precision)?;
        let grad_w = x.product_with(g.t(), input, 1.0, self.precision)?;
        let device = grad.device();
        Ok((
            Tensor::from_vec(grad_x, with_last_dim(grad.shape(), input), device)?,
            Tensor::from_vec(grad_w, (output, input), device)?,
        ))
    }
}

impl CustomOp2 for TrainedMatmul {
    fn name(&self) -> &'static str {
        "trained-matmul"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        w: &CpuStorage,
        w_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (output, input) = w_layout.shape().dims2()?;
        let x = cpu_values(x, x_layout)?;
        let x = Matrix::new(x, x.len() / input, input)?;
        let w = cpu_values(w, w_layout)?;
        let y = match self.rounding {
            Some(seed) if self.precision == ProductPrecision::Bf16 => {
                let w = StochasticallyRounded::new(w, (output, input), seed)?;
                blockwise_product(x, &w, 1.0, self.precision)?
            }
            _ => product(x, Matrix::new(w, output, input)?.t(), 1.0, self.precision)?,
        };
        Ok((CpuStorage::F32(y), with_last_dim(x_layout.shape(), output)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (grad_x, grad_w) = self.gradients(KeptInput::Values(x), weight, grad)?;
        Ok((Some(grad_x), Some(grad_w)))
    }
}

/// Softmax over the last dimension.
pub fn softmax(x: &Tensor) -> Result<Tensor> {
    if !x.device().is_cpu() {
        return candle_nn::ops::softmax(x, D::Minus1);
    }
    x.contiguous()?.apply_op1(Softmax)
}

struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "softmax-with-backward"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        on_cpu(storage, layout, candle_nn::ops::softmax_last_dim)
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // dx = y * (g - sum(g * y))
        let dot = (grad * y)?.sum_keepdim(D::Minus1)?;
        Ok(Some((y * grad.broadcast_sub(&dot)?)?))
    }
}

/// RMS normalisation `x / rms(x) * w` over the last dimension. On the CPU one
/// pass over the rows each way; the weight's gradient only when it is trained.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    if !x.device().is_cpu() {
        let mean_square = x.sqr()?.mean_keepdim(D::Minus1)?;
        return x
            .broadcast_div(&(mean_square + eps)?.sqrt()?)?
            .broadcast_mul(weight);
    }
    x.contiguous()?
        .apply_op2(&weight.contiguous()?, RmsNorm::new(eps))
}

pub(crate) struct RmsNorm {
    eps: f32,
}

impl RmsNorm {
    pub(crate) fn new(eps: f64) -> Self {
        Self { eps: eps as f32 }
    }

    /// `1 / rms(row)`.
    fn inverse_rms(&self, row: &[f32]) -> f32 {
        let mean_square = lane_sums::sum_of_squares(row) / row.len() as f32;
        1.0 / (mean_square + self.eps).sqrt()
    }

    /// The gradient of the input, and of the weight when it is trained.
    pub(crate) fn gradients(
        &self,
        x: &Tensor,
        weight: &Tensor,
        grad: &Tensor,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let hidden = weight.elem_count();
        let grad_tensor = grad.contiguous()?;
        let (xs, w, g) = (values(x)?, values(weight)?, values(&grad_tensor)?);
        // dx = (g w - x̂ mean(g w x̂)) / rms, with x̂ = x / rms.
        let rows = xs.len() / hidden;
        let [grad_x] = new_chunked([(xs.len(), hidden)], rows, |index, [dx]| {
            let (x, g) = (piece(&xs, hidden, index), piece(&g, hidden, index));
            let inverse = self.inverse_rms(x);
            // g w first, in dx's place.
            for ((dx, g), w) in dx.iter_mut().zip(g).zip(w.iter()) {
                *dx = g * w;
            }
            let mean = lane_sums::dot(dx, x) * inverse / hidden as f32;
            for (dx, x) in dx.iter_mut().zip(x) {
                *dx = (*dx - x * inverse * mean) * inverse;
            }
            Ok(())
        })?;
        // dw = the sum over rows of g x̂, when the weight is trained: each thread
        // sums a stretch of rows, then the partial sums are added.
        let grad_w = if weight.track_op() {
            let stretches = cpu_pool::threads().min(rows.max(1));
            let per_stretch = rows.div_ceil(stretches);
            let mut partial = vec![0f32; stretches * hidden];
            for_each_chunk([(&mut partial, hidden)], stretches, |stretch, [sum]| {
                let first = stretch * per_stretch;
                for index in first..rows.min(first + per_stretch) {
                    let (x, g) = (piece(&xs, hidden, index), piece(&g, hidden, index));
                    let inverse = self.inverse_rms(x);
                    for ((s, x), g) in sum.iter_mut().zip(x).zip(g) {
                        *s += g * x * inverse;
                    }
                }
                Ok(())
            })?;
            let mut total = vec![0f32; hidden];
            for sum in partial.chunks(hidden) {
                total.iter_mut().zip(sum).for_each(|(t, s)| *t += s);
            }
            Some(Tensor::from_vec(total, weight.shape(), weight.device())?)
        } else {
            None
        };
        Ok((Tensor::from_vec(grad_x, x.shape(), x.device())?, grad_w))
    }
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "rms-norm-with-backward"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        w: &CpuStorage,
        w_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w) = (cpu_values(x, x_layout)?, cpu_values(w, w_layout)?);
        let hidden = w.len();
        if x_layout.dims().last() != Some(&hidden) {
            candle_core::bail!("rms norm: input {:?}, weight ({hidden})", x_layout.dims());
        }
        let rows = x.len() / hidden;
        let [y] = new_chunked([(x.len(), hidden)], rows, |row, [y]| {
            let x = piece(x, hidden, row);
            let inverse = self.inverse_rms(x);
            for ((y, x), w) in y.iter_mut().zip(x).zip(w) {
                *y = x * inverse * w;
            }
            Ok(())
        })?;
        Ok((CpuStorage::F32(y), x_layout.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (grad_x, grad_w) = self.gradients(x, weight, grad)?;
        Ok((Some(grad_x), grad_w))
    }
}

/// Rotary embedding of `x` (batch, heads, tokens, head_dim) with tables
/// (tokens, head_dim / 2); `interleaved` pairs adjacent dimensions.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor, interleaved: bool) -> Result<Tensor> {
    let op = Rope {
        cos: cos.contiguous()?,
        sin: sin.contiguous()?,
        interleaved,
    };
    if !x.device().is_cpu() {
        // candle's GPU rope kernels have no backward; composed ops do.
        let x = x.contiguous()?;
        return match x.track_op() {
            true => composed_rope(&x, &op.cos, &op.sin, interleaved),
            false => op.apply(&x, &op.sin),
        };
    }
    x.contiguous()?.apply_op1(op)
}

/// [`rope`] out of candle ops that autodiff knows, for `cos`/`sin` of shape
/// (tokens, head_dim / 2) or, for padded and packed rows, (batch, tokens,
/// head_dim / 2). candle's own `rope_slow` takes only the first.
fn composed_rope(x: &Tensor, cos: &Tensor, sin: &Tensor, interleaved: bool) -> Result<Tensor> {
    let (batch, heads, tokens, dim) = x.dims4()?;
    let half = dim / 2;
    let rows = if cos.rank() == 3 { batch } else { 1 };
    if interleaved {
        // Pairs (x0, x1) of adjacent dimensions.
        let table = |t: &Tensor| t.reshape((rows, 1, tokens, half, 1));
        let (cos, sin) = (table(cos)?, table(sin)?);
        let x = x.reshape((batch, heads, tokens, half, 2))?;
        let (x0, x1) = (x.narrow(D::Minus1, 0, 1)?, x.narrow(D::Minus1, 1, 1)?);
        let y0 = (x0.broadcast_mul(&cos)? - x1.broadcast_mul(&sin)?)?;
        let y1 = (x0.broadcast_mul(&sin)? + x1.broadcast_mul(&cos)?)?;
        return Tensor::cat(&[y0, y1], D::Minus1)?.reshape((batch, heads, tokens, dim));
    }
    // The two halves: x * cos + rotate_half(x) * sin.
    let table = |t: &Tensor| Tensor::cat(&[t, t], D::Minus1)?.reshape((rows, 1, tokens, dim));
    let (cos, sin) = (table(cos)?, table(sin)?);
    let (x1, x2) = (
        x.narrow(D::Minus1, 0, half)?,
        x.narrow(D::Minus1, half, half)?,
    );
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    x.broadcast_mul(&cos)? + rotated.broadcast_mul(&sin)?
}

struct Rope {
    cos: Tensor,
    sin: Tensor,
    interleaved: bool,
}

impl Rope {
    fn apply(&self, x: &Tensor, sin: &Tensor) -> Result<Tensor> {
        use candle_nn::rotary_emb as r;
        if self.interleaved {
            r::rope_i(x, &self.cos, sin)
        } else {
            r::rope(x, &self.cos, sin)
        }
    }
}

impl CustomOp1 for Rope {
    fn name(&self) -> &'static str {
        "rope-with-backward"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        on_cpu(storage, layout, |x| self.apply(x, &self.sin))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // A rotation's gradient is the inverse rotation: the same with -sin.
        Ok(Some(self.apply(&grad.contiguous()?, &self.sin.neg()?)?))
    }
}

/// The summed negative log-likelihood of `targets` (n) under `logits` (n, vocab):
/// `sum(logsumexp(logits) - logits[target])`. On the CPU one node whose forward
/// reads the logits twice (max, then the sum of exponentials) and keeps each
/// row's log-sum-exp, and whose backward writes `softmax - one_hot` in one pass:
/// candle's composed log-softmax, gather and their backward allocate about eight
/// vocabulary-sized tensors and sweep them a dozen times.
pub fn cross_entropy_sum(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if !logits.device().is_cpu() {
        let log_probs = candle_nn::ops::log_softmax(logits, D::Minus1)?;
        return log_probs
            .gather(&targets.unsqueeze(1)?, 1)?
            .sum_all()?
            .neg();
    }
    let targets: Vec<u32> = targets.to_vec1()?;
    logits.contiguous()?.apply_op1(CrossEntropy {
        targets,
        log_sum_exp: OnceLock::new(),
    })
}

struct CrossEntropy {
    targets: Vec<u32>,
    /// Each row's log-sum-exp, from the forward pass.
    log_sum_exp: OnceLock<Vec<f32>>,
}

/// `ln(sum(exp(row)))`, shifted by the row's maximum so that it cannot overflow.
pub(crate) fn log_sum_exp(row: &[f32]) -> f32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    max + SumExpSub::new(row, max).dispatch().ln()
}

/// `targets[row]` as an index into a row of `vocab` logits.
pub(crate) fn target_index(targets: &[u32], row: usize, vocab: usize) -> Result<usize> {
    let target = targets[row] as usize;
    if target >= vocab {
        candle_core::bail!("cross entropy: target {target} is outside a vocabulary of {vocab}");
    }
    Ok(target)
}

impl CrossEntropy {
    fn target(&self, row: usize, vocab: usize) -> Result<usize> {
        target_index(&self.targets, row, vocab)
    }
}

impl CustomOp1 for CrossEntropy {
    fn name(&self) -> &'static str {
        "cross-entropy-sum"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (rows, vocab) = layout.shape().dims2()?;
        if rows != self.targets.len() {
            candle_core::bail!(
                "cross entropy: {rows} rows of logits, {} targets",
                self.targets.len()
            );
        }
        let logits = cpu_values(storage, layout)?;
        let mut row_lse = vec![0f32; rows];
        for_each_chunk([(&mut row_lse, 1)], rows, |row, [lse]| {
            lse[0] = log_sum_exp(piece(logits, vocab, row));
            Ok(())
        })?;
        let mut loss = 0f64;
        for (row, (values, lse)) in logits.chunks(vocab).zip(&row_lse).enumerate() {
            loss += f64::from(lse - values[self.target(row, vocab)?]);
        }
        // Set once per op: a node's forward runs once.
        let _ = self.log_sum_exp.set(row_lse);
        Ok((CpuStorage::F32(vec![loss as f32]), Shape::from(())))
    }

    fn bwd(&self, logits: &Tensor, _loss: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (rows, vocab) = logits.dims2()?;
        let scale = grad.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()?;
        let mut out = vec![0f32; rows * vocab];
        let xs = values(logits)?;
        let log_sum_exp = self.log_sum_exp.get().ok_or_else(|| {
            candle_core::Error::Msg("cross entropy: backward before forward".into())
        })?;
        for_each_chunk([(&mut out, vocab)], rows, |row, [out]| {
            let logits = piece(&xs, vocab, row);
            let lse = log_sum_exp[row];
            out.iter_mut().zip(logits).for_each(|(o, x)| *o = x - lse);
            Exp {}.map_mut(out);
            out.iter_mut().for_each(|o| *o *= scale);
            out[self.target(row, vocab)?] -= scale;
            Ok(())
        })?;
        Ok(Some(Tensor::from_vec(out, (rows, vocab), logits.device())?))
    }
}

/// `x W^T` for `x` of any rank, as one 2-d matmul: the weight is not broadcast
/// over the batch, so its gradient is one weight-sized tensor, not one per row.
pub(crate) fn matmul_t(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    rows_matmul(x, &w.t()?)
}

/// `x M` for `x` of any rank and a 2-d `m` (in, out), as one 2-d matmul.
pub(crate) fn rows_matmul(x: &Tensor, m: &Tensor) -> Result<Tensor> {
    let mut dims = x.dims().to_vec();
    let input = dims.pop().unwrap_or(1);
    let rows = dims.iter().product::<usize>();
    let y = x.reshape((rows, input))?.matmul(m)?;
    dims.push(m.dim(1)?);
    y.reshape(dims)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{max_diff, random};
    use super::*;
    use candle_core::Var;

    /// Checks value and gradients of `fused` against candle's autodiff of
    /// `composed`, for the loss sum(f(x) * r) with a fixed random r.
    fn agree(
        shape: &[usize],
        fused: impl Fn(&Tensor) -> Result<Tensor>,
        composed: impl Fn(&Tensor) -> Result<Tensor>,
    ) {
        let x = Var::from_tensor(&random(shape, 1)).unwrap();
        let run = |f: &dyn Fn(&Tensor) -> Result<Tensor>| {
            let y = f(x.as_tensor()).unwrap();
            let r = random(y.dims(), 2);
            let loss = (&y * &r).unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            let grad = grads.get(x.as_tensor()).unwrap().clone();
            (y, grad)
        };
        let (y1, g1) = run(&fused);
        let (y2, g2) = run(&composed);
        assert!(max_diff(&y1, &y2) < 1e-5, "values differ");
        assert!(
            max_diff(&g1, &g2) < 1e-4,
            "gradients differ by {}",
            max_diff(&g1, &g2)
        );
    }

    #[test]
    fn softmax_backward_matches_autodiff() {
        agree(&[2, 3, 7], softmax, |x| {
            candle_nn::ops::softmax(x, D::Minus1)
        });
    }

    #[test]
    fn rms_norm_backward_matches_autodiff_for_input_and_weight() {
        let w = Var::from_tensor(&random(&[8], 3)).unwrap();
        let composed = |x: &Tensor, w: &Tensor| -> Result<Tensor> {
            let mean_square = x.sqr()?.mean_keepdim(D::Minus1)?;
            x.broadcast_div(&(mean_square + 1e-5)?.sqrt()?)?
                .broadcast_mul(w)
        };
        agree(&[2, 5, 8], |x| rms_norm(x, &w, 1e-5), |x| composed(x, &w));
        // The weight's gradient.
        let x = random(&[2, 5, 8], 4);
        let r = random(&[2, 5, 8], 5);
        let grad_of = |f: &dyn Fn() -> Result<Tensor>| {
            let loss = (f().unwrap() * &r).unwrap().sum_all().unwrap();
            loss.backward().unwrap().get(w.as_tensor()).unwrap().clone()
        };
        let fused = grad_of(&|| rms_norm(&x, &w, 1e-5));
        let reference = grad_of(&|| composed(&x, &w));
        let diff = max_diff(&fused, &reference);
        assert!(diff < 1e-4, "weight gradients differ by {diff}");
        // A frozen weight gets no gradient; the input's is the same.
        let frozen = w.as_tensor().detach();
        agree(
            &[2, 5, 8],
            |x| rms_norm(x, &frozen, 1e-5),
            |x| composed(x, &frozen),
        );
        let x = Var::from_tensor(&x).unwrap();
        let loss = rms_norm(x.as_tensor(), &frozen, 1e-5)
            .unwrap()
            .sum_all()
            .unwrap();
        assert!(loss.backward().unwrap().get(&frozen).is_none());
    }

    #[test]
    fn rope_backward_matches_autodiff_in_both_layouts() {
        let angles = random(&[5, 4], 6);
        let (cos, sin) = (angles.cos().unwrap(), angles.sin().unwrap());
        use candle_nn::rotary_emb as r;
        agree(
            &[1, 2, 5, 8],
            |x| rope(x, &cos, &sin, true),
            |x| r::rope_i_slow(x, &cos, &sin),
        );
        agree(
            &[1, 2, 5, 8],
            |x| rope(x, &cos, &sin, false),
            |x| r::rope_slow(x, &cos, &sin),
        );
    }

    /// The composed rope the GPU trains with, against the CPU op, with one
    /// table per row (packed and padded batches) and with one shared table.
    #[test]
    fn composed_rope_matches_with_per_row_and_shared_tables() {
        for table_shape in [&[3usize, 5, 4][..], &[5, 4][..]] {
            let angles = random(table_shape, 7);
            let (cos, sin) = (angles.cos().unwrap(), angles.sin().unwrap());
            for interleaved in [true, false] {
                agree(
                    &[3, 2, 5, 8],
                    |x| rope(x, &cos, &sin, interleaved),
                    |x| composed_rope(x, &cos, &sin, interleaved),
                );
            }
        }
    }

    #[test]
    fn cross_entropy_backward_matches_autodiff() {
        let targets = Tensor::new(&[3u32, 0, 6], &Device::Cpu).unwrap();
        let composed = |x: &Tensor| -> Result<Tensor> {
            let log_probs = candle_nn::ops::log_softmax(x, D::Minus1)?;
            log_probs
                .gather(&targets.unsqueeze(1)?, 1)?
                .sum_all()?
                .neg()
        };
        agree(&[3, 7], |x| cross_entropy_sum(x, &targets), composed);
        // Logits far from zero, where an unshifted exponential overflows.
        let wide = |x: &Tensor| (x * 60.0)? + 30.0;
        agree(
            &[3, 7],
            |x| cross_entropy_sum(&wide(x)?, &targets),
            |x| composed(&wide(x)?),
        );
    }

    #[test]
    fn cross_entropy_rejects_a_target_outside_the_vocabulary() {
        let targets = Tensor::new(&[7u32], &Device::Cpu).unwrap();
        let error = cross_entropy_sum(&random(&[1, 7], 1), &targets).unwrap_err();
        assert!(error.to_string().contains("target 7"), "{error}");
    }

    #[test]
    fn trained_matmul_matches_autodiff_for_input_and_weight() {
        let w = Var::from_tensor(&random(&[6, 8], 8)).unwrap();
        agree(
            &[2, 3, 8],
            |x| trained_matmul(x, w.as_tensor()),
            |x| x.broadcast_matmul(&w.as_tensor().t()?),
        );
        let x = random(&[2, 3, 8], 9);
        let r = random(&[2, 3, 6], 10);
        let grad_of = |y: Tensor| {
            let loss = (y * &r).unwrap().sum_all().unwrap();
            loss.backward().unwrap().get(w.as_tensor()).unwrap().clone()
        };
        let fused = grad_of(trained_matmul(&x, w.as_tensor()).unwrap());
        let reference = grad_of(x.broadcast_matmul(&w.as_tensor().t().unwrap()).unwrap());
        let diff = max_diff(&fused, &reference);
        assert!(diff < 1e-4, "weight gradients differ by {diff}");
    }

    #[test]
    fn frozen_matmul_matches_autodiff() {
        let w = random(&[6, 8], 7);
        agree(
            &[2, 3, 8],
            |x| frozen_matmul(x, FrozenWeight::Dense(w.clone())),
            |x| x.broadcast_matmul(&w.t()?),
        );
    }
}
