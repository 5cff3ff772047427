//! The language-model head and the cross-entropy loss as one autograd node for
//! training on the CPU.
//!
//! As two nodes, the head's (rows, vocab) logits and their gradient are each a
//! vocabulary-sized tensor (100 MB for 512 rows of SmolLM2), and candle's
//! backward zeroes one more and adds into it. Here the forward pass computes the
//! logits, the loss and, in the logits' own buffer, the loss's gradient for them,
//! turns that into the gradients of the head's input (and weight, when trained)
//! and frees the logits; the backward pass scales what it kept.

use std::sync::{Mutex, PoisonError};

use candle_core::quantized::QMatMul;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rten_simd::SimdUnaryOp;
use rten_vecmath::Exp;

use super::autograd::{log_sum_exp, target_index, FrozenWeight};
use super::cpu_pool::for_each_chunk;
use super::dense_product::{blockwise_product, product, Matrix, ProductPrecision};
use super::gradient_sink::GradientSink;
use super::linear::Linear;
use super::stochastic_rounding::{RoundingSeed, StochasticallyRounded};
use super::tensor_values::values;

/// `sum(logsumexp(l) - l[target])` over the rows of the logits `l = hidden
/// head^T` (hidden: (rows, width)), or `None` when the head's weight has no kernel
/// here (quantized inference, f16, an adapter on the head). Gradients are
/// prepared only when `hidden` or the head's weight is trained. The products'
/// operands are at `precision`; the softmax and the loss are f32. At bf16 a
/// trained weight's logits read it rounded stochastically where `seed` is
/// given (see `stochastic_rounding`).
pub(crate) fn summed_nll(
    hidden: &Tensor,
    head: &Linear,
    targets: &[u32],
    (precision, seed): (ProductPrecision, Option<u64>),
    sink: &GradientSink,
) -> Result<Option<Tensor>> {
    let weight = match (&head.lora, head.frozen_weight(), &head.weight) {
        (None, Some(frozen), _) => HeadWeight::Frozen(frozen),
        (None, None, QMatMul::Tensor(w)) if w.is_variable() => HeadWeight::Trained(
            w.clone(),
            seed.map(|seed| RoundingSeed {
                seed,
                stream: head.rounding_stream,
            }),
        ),
        _ => return Ok(None),
    };
    if !hidden.device().is_cpu() {
        return Ok(None);
    }
    let hidden = hidden.contiguous()?;
    let (rows, width) = hidden.dims2()?;
    if rows != targets.len() {
        candle_core::bail!(
            "cross entropy: {rows} rows of hidden states, {} targets",
            targets.len()
        );
    }
    let trained_weight = match &weight {
        HeadWeight::Trained(w, _) => Some(w.clone()),
        HeadWeight::Frozen(_) => None,
    };
    let with_gradients = hidden.track_op() || trained_weight.is_some();
    let h = values(&hidden)?;
    let h = Matrix::new(&h, rows, width)?;
    let mut logits = weight.product(h, true, precision)?;
    let vocab = logits.len() / rows.max(1);
    let mut row_losses = vec![0f32; rows];
    for_each_chunk(
        [(&mut logits, vocab), (&mut row_losses, 1)],
        rows,
        |row, [logits, loss]| {
            let lse = log_sum_exp(logits);
            let target = target_index(targets, row, vocab)?;
            loss[0] = lse - logits[target];
            if with_gradients {
                // softmax - one_hot(target), in place.
                logits.iter_mut().for_each(|l| *l -= lse);
                Exp {}.map_mut(logits);
                logits[target] -= 1.0;
            }
            Ok(())
        },
    )?;
    let loss = row_losses.iter().map(|&l| f64::from(l)).sum::<f64>() as f32;
    let gradients = if with_gradients {
        let g = Matrix::new(&logits, rows, vocab)?;
        let device = hidden.device();
        let for_hidden = weight.product(g, false, precision)?;
        let for_weight = match &weight {
            HeadWeight::Trained(w, _) => Some((w.clone(), product(g.t(), h, 1.0, precision)?)),
            HeadWeight::Frozen(_) => None,
        };
        Some(Gradients {
            hidden: Tensor::from_vec(for_hidden, (rows, width), device)?,
            weight: for_weight,
        })
    } else {
        None
    };
    drop(logits);
    let node = HeadLoss {
        loss,
        gradients: Mutex::new(gradients),
        sink: sink.clone(),
    };
    // Recorded when the weight is trained even if the input is not.
    let anchor = trained_weight.unwrap_or_else(|| hidden.clone());
    hidden.apply_op2(&anchor, node).map(Some)
}

enum HeadWeight {
    Frozen(FrozenWeight),
    /// With the bits its logits' rounding draws, if stochastic.
    Trained(Tensor, Option<RoundingSeed>),
}

impl HeadWeight {
    /// `lhs W^T` when `transposed` (the logits), else `lhs W`.
    fn product(
        &self,
        lhs: Matrix,
        transposed: bool,
        precision: ProductPrecision,
    ) -> Result<Vec<f32>> {
        match self {
            Self::Frozen(weight) => weight.product(lhs, transposed, 1.0, precision),
            Self::Trained(weight, rounding) => {
                let (vocab, width) = weight.dims2()?;
                let w = values(weight)?;
                match rounding {
                    Some(seed) if transposed && precision == ProductPrecision::Bf16 => {
                        let w = StochasticallyRounded::new(&w, (vocab, width), *seed)?;
                        blockwise_product(lhs, &w, 1.0, precision)
                    }
                    _ => {
                        let w = Matrix::new(&w, vocab, width)?;
                        product(lhs, if transposed { w.t() } else { w }, 1.0, precision)
                    }
                }
            }
        }
    }
}

/// The loss's gradients for a unit incoming gradient.
struct Gradients {
    hidden: Tensor,
    /// A trained weight and its gradient's values.
    weight: Option<(Tensor, Vec<f32>)>,
}

struct HeadLoss {
    loss: f32,
    /// Taken (and so freed) by the backward call.
    gradients: Mutex<Option<Gradients>>,
    /// Where the weight's gradient goes, scaled in place (returned to candle,
    /// it would be copied into a zeroed vocabulary-sized tensor).
    sink: GradientSink,
}

impl CustomOp2 for HeadLoss {
    fn name(&self) -> &'static str {
        "head-cross-entropy-sum"
    }

    fn cpu_fwd(
        &self,
        _hidden: &CpuStorage,
        _hidden_layout: &Layout,
        _anchor: &CpuStorage,
        _anchor_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        Ok((CpuStorage::F32(vec![self.loss]), Shape::from(())))
    }

    fn bwd(
        &self,
        hidden: &Tensor,
        _anchor: &Tensor,
        _loss: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let taken = self
            .gradients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(gradients) = taken else {
            candle_core::bail!(
                "head loss: backward through a pass that kept no gradients, or twice"
            );
        };
        let scale = grad.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()?;
        let for_hidden = hidden
            .track_op()
            .then(|| gradients.hidden.affine(f64::from(scale), 0.0))
            .transpose()?;
        if let Some((weight, values)) = gradients.weight {
            self.sink.push_scaled(&weight, values, scale)?;
        }
        Ok((for_hidden, None))
    }
}

#[cfg(test)]
mod tests {
    use super::super::autograd::cross_entropy_sum;
    use super::super::test_support::{max_diff, random};
    use super::*;
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Var};

    /// The loss and its gradients for the input and a trained weight equal those
    /// of the head's logits followed by the cross-entropy node, for a frozen
    /// dense, a frozen quantized and a trained head.
    #[test]
    fn matches_the_head_then_the_loss() {
        let (rows, width, vocab) = (5, 32, 40);
        let targets = [3u32, 0, 39, 7, 3];
        let dense = random(&[vocab, width], 1);
        let quantized = QTensor::quantize(&dense, GgmlDType::Q8_0).unwrap();
        let trained = Var::from_tensor(&dense).unwrap().as_tensor().clone();
        let heads = [
            Linear::new(QMatMul::Tensor(dense.clone())),
            Linear::dequantized(QMatMul::from_qtensor(quantized).unwrap()),
            Linear::new(QMatMul::Tensor(trained.clone())),
        ];
        for (case, head) in heads.iter().enumerate() {
            let input = Var::from_tensor(&random(&[rows, width], 2)).unwrap();
            let input = input.as_tensor();
            let hidden = (input * 3.0).unwrap();
            let sink = GradientSink::default();
            let fused = summed_nll(
                &hidden,
                head,
                &targets,
                (ProductPrecision::F32, None),
                &sink,
            )
            .unwrap()
            .unwrap();
            let target_tensor = Tensor::new(&targets[..], &Device::Cpu).unwrap();
            let logits = head.forward(&hidden, None).unwrap();
            let composed = cross_entropy_sum(&logits, &target_tensor).unwrap();
            assert!(
                max_diff(&fused, &composed) < 1e-3,
                "case {case}: losses differ"
            );
            // A scale on the loss, as the trainer's mean over tokens puts there.
            let grads = |loss: &Tensor| (loss * 0.25).unwrap().backward().unwrap();
            let (mut fused_grads, composed_grads) = (grads(&fused), grads(&composed));
            sink.merge_into(&mut fused_grads).unwrap();
            let mut checked = vec![input];
            if case == 2 {
                checked.push(&trained);
            }
            for t in checked {
                let diff = max_diff(
                    fused_grads
                        .get(t)
                        .unwrap_or_else(|| panic!("case {case}: no gradient")),
                    composed_grads.get(t).unwrap(),
                );
                assert!(diff < 1e-5, "case {case}: gradients differ by {diff}");
            }
        }
    }

    #[test]
    fn refuses_a_target_outside_the_vocabulary() {
        let head = Linear::new(QMatMul::Tensor(random(&[7, 4], 1)));
        let error = summed_nll(
            &random(&[1, 4], 2),
            &head,
            &[7],
            (ProductPrecision::F32, None),
            &GradientSink::default(),
        )
        .unwrap_err();
        assert!(error.to_string().contains("target 7"), "{error}");
    }
}
