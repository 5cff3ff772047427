//! The MLP's gate, `act(gate) * up`, as one autograd node for training on the
//! CPU: one pass forward and one backward over the (rows, intermediate) tensors.
//! Composed from candle ops it is an activation and a product whose backward
//! (candle derives SiLU's from six element-wise ops) allocates and sweeps these,
//! the largest activations of a block, about eighteen times.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rten_simd::SimdUnaryOp;
use rten_vecmath::{Sigmoid, Tanh};

use super::cpu_pool::{new_chunked, piece};
use super::tensor_values::{cpu_values, values};

/// The gate's activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x * sigmoid(x)` (Llama).
    Silu,
    /// GELU's tanh approximation, `gelu_pytorch_tanh` (Gemma).
    GeluTanh,
}

impl Activation {
    /// candle's own kernel, for inference and other devices.
    fn candle(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Silu => candle_nn::ops::silu(x),
            Self::GeluTanh => x.gelu(),
        }
    }

    /// The vectorized part of the activation at each of `gate` into `inner`:
    /// `sigmoid(x)` (SiLU) or `tanh(√(2/π) (x + 0.044715 x³))` (GELU).
    fn inner(self, gate: &[f32], inner: &mut [f32]) {
        match self {
            Self::Silu => {
                inner.copy_from_slice(gate);
                Sigmoid {}.map_mut(inner);
            }
            Self::GeluTanh => {
                for (y, x) in inner.iter_mut().zip(gate) {
                    *y = SQRT_2_OVER_PI * (x + CUBIC * x * x * x);
                }
                Tanh {}.map_mut(inner);
            }
        }
    }

    /// The activation and its derivative at `x`, given [`Self::inner`] at `x`.
    fn value_and_slope(self, x: f32, inner: f32) -> (f32, f32) {
        match self {
            Self::Silu => (x * inner, inner * (1.0 + x * (1.0 - inner))),
            Self::GeluTanh => {
                let t = inner;
                let slope = 0.5 * (1.0 + t)
                    + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * CUBIC * x * x);
                (0.5 * x * (1.0 + t), slope)
            }
        }
    }
}

/// GELU's tanh approximation: `tanh(SQRT_2_OVER_PI (x + CUBIC x³))`.
pub(crate) const SQRT_2_OVER_PI: f32 = 0.797_884_6;
pub(crate) const CUBIC: f32 = 0.044_715;

/// `act(gate) * up`, with its own backward when a CPU input tracks gradients.
pub fn gated_activation(gate: &Tensor, up: &Tensor, activation: Activation) -> Result<Tensor> {
    if !gate.device().is_cpu() || !(gate.track_op() || up.track_op()) {
        return activation.candle(gate)? * up;
    }
    gate.contiguous()?
        .apply_op2(&up.contiguous()?, GatedActivation(activation))
}

pub(crate) struct GatedActivation(pub(crate) Activation);

/// Elements per work item on the thread pool.
const CHUNK: usize = 4096;

impl GatedActivation {
    /// The gradients of the gate and of `up`.
    pub(crate) fn gradients(
        &self,
        gate: &Tensor,
        up: &Tensor,
        grad: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let len = gate.elem_count();
        let grad = grad.contiguous()?;
        let (g, u, d) = (values(gate)?, values(up)?, values(&grad)?);
        let pieces = len.div_ceil(CHUNK);
        let [grad_gate, grad_up] = new_chunked(
            [(len, CHUNK), (len, CHUNK)],
            pieces,
            |index, [grad_gate, grad_up]| {
                let (g, u, d) = (
                    piece(&g, CHUNK, index),
                    piece(&u, CHUNK, index),
                    piece(&d, CHUNK, index),
                );
                self.0.inner(g, grad_gate);
                let outputs = grad_gate.iter_mut().zip(grad_up.iter_mut());
                for ((((grad_gate, grad_up), &x), &u), &d) in outputs.zip(g).zip(u).zip(d) {
                    let (value, slope) = self.0.value_and_slope(x, *grad_gate);
                    *grad_gate = d * u * slope;
                    *grad_up = d * value;
                }
                Ok(())
            },
        )?;
        let shape = gate.shape();
        Ok((
            Tensor::from_vec(grad_gate, shape, gate.device())?,
            Tensor::from_vec(grad_up, shape, gate.device())?,
        ))
    }
}

impl CustomOp2 for GatedActivation {
    fn name(&self) -> &'static str {
        "gated-activation"
    }

    fn cpu_fwd(
        &self,
        gate: &CpuStorage,
        gate_layout: &Layout,
        up: &CpuStorage,
        up_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        if gate_layout.shape() != up_layout.shape() {
            candle_core::bail!(
                "gated activation: gate {:?} and up {:?} differ",
                gate_layout.shape(),
                up_layout.shape()
            );
        }
        let (g, u) = (cpu_values(gate, gate_layout)?, cpu_values(up, up_layout)?);
        let [out] = new_chunked(
            [(g.len(), CHUNK)],
            g.len().div_ceil(CHUNK),
            |index, [out]| {
                let (g, u) = (piece(g, CHUNK, index), piece(u, CHUNK, index));
                self.0.inner(g, out);
                for ((y, x), u) in out.iter_mut().zip(g).zip(u) {
                    *y = self.0.value_and_slope(*x, *y).0 * u;
                }
                Ok(())
            },
        )?;
        Ok((CpuStorage::F32(out), gate_layout.shape().clone()))
    }

    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (grad_gate, grad_up) = self.gradients(gate, up, grad)?;
        Ok((Some(grad_gate), Some(grad_up)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{max_diff, random};
    use super::*;
    use candle_core::Var;

    /// Values in [-4, 4), where the activations curve.
    fn wide(shape: &[usize], seed: u64) -> Tensor {
        (random(shape, seed) * 4.0).unwrap()
    }

    /// Values and both inputs' gradients equal candle's autodiff of its own
    /// activation kernels times `up`, for both activations, over more elements
    /// than one work item.
    #[test]
    fn gradients_match_autodiff_of_candles_activations() {
        let shape = [3, CHUNK / 2 + 7];
        for activation in [Activation::Silu, Activation::GeluTanh] {
            let gate = Var::from_tensor(&wide(&shape, 1)).unwrap();
            let up = Var::from_tensor(&wide(&shape, 2)).unwrap();
            let r = wide(&shape, 3);
            let run = |y: Tensor| {
                let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
                let g = grads.get(gate.as_tensor()).unwrap().clone();
                let u = grads.get(up.as_tensor()).unwrap().clone();
                (y, g, u)
            };
            let fused =
                run(gated_activation(gate.as_tensor(), up.as_tensor(), activation).unwrap());
            let composed =
                run((activation.candle(gate.as_tensor()).unwrap() * up.as_tensor()).unwrap());
            assert!(
                max_diff(&fused.0, &composed.0) < 1e-4,
                "{activation:?} values"
            );
            assert!(
                max_diff(&fused.1, &composed.1) < 1e-3,
                "{activation:?} gate gradient"
            );
            assert!(
                max_diff(&fused.2, &composed.2) < 1e-4,
                "{activation:?} up gradient"
            );
        }
    }
}
