//! A frozen projection with its LoRA update, `x W^T + s B A dropout(x)`, as one
//! autograd node for training on the CPU.
//!
//! Composed from candle ops, one adapted projection is about ten graph nodes
//! (reshapes, transposes, two products, a scale, an add), and candle's backward
//! allocates a zeroed gradient and adds into it for every input of every node: a
//! dozen activation-sized passes per projection that do no maths. Here the
//! forward is two products and an add, and the backward computes the input's and
//! both adapter matrices' gradients directly. The forward keeps `u = dropout(x)
//! A^T` (rows, rank) for the backward, so that without dropout the input is read
//! again only by A's gradient (in bf16, from its packed copy); the scale
//! multiplies u's product with B (the same bits as scaling u when the scale is
//! a power of two, as alpha / r is in every shipped configuration).

use std::sync::{Mutex, PoisonError};

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::autograd::{with_last_dim, FrozenWeight, KeptInput};
use super::dense_product::{product, product_into, Matrix, ProductPrecision};
use super::tensor_values::{cpu_values, values};

/// `x W^T + scale * (dropout(x) A^T) B^T` for `x` of any rank on the CPU, with
/// the adapter's `a` (rank, in) and `b` (out, rank); `mask` is dropout's
/// (already scaled) keep mask, shaped like `x`.
pub fn lora_projection(
    x: &Tensor,
    weight: FrozenWeight,
    (a, b, scale): (&Tensor, &Tensor, f64),
    mask: Option<Tensor>,
) -> Result<Tensor> {
    let op = LoraProjection::new(x, weight, scale, mask, ProductPrecision::F32)?;
    x.contiguous()?.apply_op3(a, b, op)
}

pub(crate) struct LoraProjection {
    weight: FrozenWeight,
    scale: f64,
    /// (rows, in), or `None` without dropout.
    mask: Option<Tensor>,
    pub(crate) precision: ProductPrecision,
    /// `u = dropout(x) A^T` (rows, rank) from the forward pass, for the
    /// backward, which then reads the input only for A's gradient.
    down: Mutex<Option<Vec<f32>>>,
}

/// `x ⊙ mask`, or `x` itself without a mask.
fn dropped<'a>(x: &'a [f32], mask: Option<&[f32]>) -> std::borrow::Cow<'a, [f32]> {
    match mask {
        Some(mask) => x.iter().zip(mask).map(|(x, m)| x * m).collect(),
        None => x.into(),
    }
}

impl LoraProjection {
    /// The kernel for input `x` (see [`lora_projection`]).
    pub(crate) fn new(
        x: &Tensor,
        weight: FrozenWeight,
        scale: f64,
        mask: Option<Tensor>,
        precision: ProductPrecision,
    ) -> Result<Self> {
        let input = x.dim(candle_core::D::Minus1)?;
        let rows = x.elem_count() / input;
        let mask = mask.map(|m| m.reshape((rows, input))).transpose()?;
        Ok(Self {
            weight,
            scale,
            mask,
            precision,
            down: Mutex::default(),
        })
    }

    /// Whether dropout masks the input (its product operand is then not the
    /// input itself).
    pub(crate) fn has_dropout(&self) -> bool {
        self.mask.is_some()
    }

    /// The gradients of the input and of the adapter's A and B (`x` packed
    /// only without dropout, when it is A's gradient's operand as it is).
    pub(crate) fn gradients(
        &self,
        x: KeptInput,
        a: &Tensor,
        b: &Tensor,
        grad: &Tensor,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let (rank, input) = a.dims2()?;
        let output = b.dim(0)?;
        let scale = self.scale as f32;
        let grad = grad.contiguous()?;
        let mask = self.mask.as_ref().map(values).transpose()?;
        let (a, b, g) = (values(a)?, values(b)?, values(&grad)?);
        let rows = g.len() / output.max(1);
        let g = Matrix::new(&g, rows, output)?;
        let am = Matrix::new(&a, rank, input)?;
        let precision = self.precision;
        // u = dropout(x) A^T; y = x W^T + s u B^T.
        let u = self
            .down
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let u = u.ok_or_else(|| {
            candle_core::Error::Msg("LoRA projection: backward before forward".into())
        })?;
        let grad_b = product(g.t(), Matrix::new(&u, rows, rank)?, scale, precision)?;
        let grad_u = product(g, Matrix::new(&b, output, rank)?, scale, precision)?;
        let grad_u = Matrix::new(&grad_u, rows, rank)?;
        let grad_a = match (&x, mask.as_deref()) {
            (KeptInput::Values(x), Some(mask)) => {
                let dropped = dropped(&values(x)?, Some(mask)).into_owned();
                product(
                    grad_u.t(),
                    Matrix::new(&dropped, rows, input)?,
                    1.0,
                    precision,
                )?
            }
            _ => x.product_with(grad_u.t(), input, 1.0, precision)?,
        };
        let mut grad_x = self.weight.product(g, false, 1.0, precision)?;
        match mask.as_deref() {
            Some(mask) => {
                let through_adapter = product(grad_u, am, 1.0, precision)?;
                for ((dx, t), m) in grad_x.iter_mut().zip(&through_adapter).zip(mask) {
                    *dx += t * m;
                }
            }
            None => product_into(&mut grad_x, true, grad_u, am, 1.0, precision)?,
        }
        let device = grad.device();
        Ok((
            Tensor::from_vec(grad_x, with_last_dim(grad.shape(), input), device)?,
            Tensor::from_vec(grad_a, (rank, input), device)?,
            Tensor::from_vec(grad_b, (output, rank), device)?,
        ))
    }
}

impl CustomOp3 for LoraProjection {
    fn name(&self) -> &'static str {
        "lora-projection"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        a: &CpuStorage,
        a_layout: &Layout,
        b: &CpuStorage,
        b_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (rank, input) = a_layout.shape().dims2()?;
        let output = b_layout.shape().dims2()?.0;
        let x = cpu_values(x, x_layout)?;
        let rows = x.len() / input;
        let (a, b) = (cpu_values(a, a_layout)?, cpu_values(b, b_layout)?);
        let mask = self.mask.as_ref().map(values).transpose()?;
        let precision = self.precision;
        let mut y = self
            .weight
            .product(Matrix::new(x, rows, input)?, true, 1.0, precision)?;
        let dropped = dropped(x, mask.as_deref());
        let u = product(
            Matrix::new(&dropped, rows, input)?,
            Matrix::new(a, rank, input)?.t(),
            1.0,
            precision,
        )?;
        let um = Matrix::new(&u, rows, rank)?;
        let b = Matrix::new(b, output, rank)?.t();
        product_into(&mut y, true, um, b, self.scale as f32, precision)?;
        *self.down.lock().unwrap_or_else(PoisonError::into_inner) = Some(u);
        Ok((CpuStorage::F32(y), with_last_dim(x_layout.shape(), output)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (grad_x, grad_a, grad_b) = self.gradients(KeptInput::Values(x), a, b, grad)?;
        Ok((Some(grad_x), Some(grad_a), Some(grad_b)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{max_diff, random};
    use super::*;
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::Var;
    use std::sync::Arc;

    /// The fused node's value and its gradients for x, A and B equal candle's
    /// autodiff of the composed ops, with and without a dropout mask, for a
    /// dense and a quantized base.
    #[test]
    fn gradients_match_autodiff_of_the_composed_projection() {
        let (rows, input, output, rank) = (5, 32, 6, 3);
        let dense = random(&[output, input], 1);
        let quantized = |dtype| Arc::new(QTensor::quantize(&dense, dtype).unwrap());
        let mask = random(&[2, rows, input], 7).ge(-0.5).unwrap();
        let mask = (mask.to_dtype(candle_core::DType::F32).unwrap() * 1.25).unwrap();
        for weight in [
            FrozenWeight::Dense(dense.clone()),
            FrozenWeight::Quantized(quantized(GgmlDType::Q8_0)),
            FrozenWeight::Quantized(quantized(GgmlDType::Q4_1)),
        ] {
            for mask in [None, Some(mask.clone())] {
                let x = Var::from_tensor(&random(&[2, rows, input], 2)).unwrap();
                let a = Var::from_tensor(&random(&[rank, input], 3)).unwrap();
                let b = Var::from_tensor(&random(&[output, rank], 4)).unwrap();
                let r = random(&[2, rows, output], 5);
                let w = weight.dense().unwrap();
                let fused = lora_projection(
                    x.as_tensor(),
                    weight.clone(),
                    (a.as_tensor(), b.as_tensor(), 2.0),
                    mask.clone(),
                )
                .unwrap();
                let dropped = match &mask {
                    Some(m) => (x.as_tensor() * m).unwrap(),
                    None => x.as_tensor().clone(),
                };
                let composed = (x.as_tensor().broadcast_matmul(&w.t().unwrap()).unwrap()
                    + (dropped
                        .broadcast_matmul(&a.as_tensor().t().unwrap())
                        .unwrap()
                        * 2.0)
                        .unwrap()
                        .broadcast_matmul(&b.as_tensor().t().unwrap())
                        .unwrap())
                .unwrap();
                assert!(max_diff(&fused, &composed) < 1e-4, "values differ");
                let grads = |y: &Tensor| {
                    let g = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
                    [x.as_tensor(), a.as_tensor(), b.as_tensor()].map(|t| g.get(t).unwrap().clone())
                };
                for (name, (g1, g2)) in ["x", "A", "B"]
                    .iter()
                    .zip(grads(&fused).iter().zip(grads(&composed).iter()))
                {
                    assert_eq!(g1.dims(), g2.dims(), "{name}");
                    let diff = max_diff(g1, g2);
                    assert!(diff < 1e-3, "gradient of {name} differs by {diff}");
                }
            }
        }
    }
}
