//! AdamW with decoupled weight decay (Loshchilov & Hutter), as PyTorch computes
//! it. Written here rather than taken from candle-nn because candle's `AdamW` keeps
//! its moment estimates private, and an exact resume must save and restore them.
//!
//! On the CPU one update is one pass over each parameter, its gradient and its
//! two moments, in place. Composed from candle's element-wise ops it was fifteen
//! passes, each allocating a parameter-sized tensor: for full fine-tuning of
//! SmolLM2 (135M parameters) a sixth of the step.

use std::borrow::Cow;
use std::cell::RefCell;
use std::path::Path;
use std::sync::OnceLock;

use candle_core::{CpuStorage, DType, Device, InplaceOp2, Layout, Tensor};
use f1_model::transformer::cpu_pool;
use f1_model::transformer::tensor_values::{cpu_values, values};

use crate::config::OptimConfig;
use crate::error::{Error, Result};
use crate::trainable::Parameter;

/// The optimizer's hyper-parameters and per-parameter moments.
pub struct AdamW {
    beta1: f64,
    beta2: f64,
    epsilon: f64,
    weight_decay: f64,
    /// Steps taken so far.
    pub step: usize,
    moments: Vec<Moments>,
}

/// One parameter's first and second moment estimates.
enum Moments {
    /// On the CPU: vectors rewritten in place by [`FusedUpdate`].
    Host { first: Vec<f32>, second: Vec<f32> },
    /// Elsewhere: tensors updated with candle's element-wise ops.
    Device { first: Tensor, second: Tensor },
}

impl Moments {
    fn zeros(parameter: &Tensor, fused: bool) -> Result<Self> {
        Ok(if fused {
            let n = parameter.elem_count();
            Self::Host {
                first: vec![0.0; n],
                second: vec![0.0; n],
            }
        } else {
            Self::Device {
                first: parameter.zeros_like()?,
                second: parameter.zeros_like()?,
            }
        })
    }

    /// Both moments, for the optimizer's file: borrowed on the CPU, copied
    /// from a device.
    fn views(&self, parameter: &Tensor) -> Result<[MomentView<'_>; 2]> {
        let shape = parameter.dims().to_vec();
        let view = |bytes| MomentView {
            shape: shape.clone(),
            bytes,
        };
        Ok(match self {
            Self::Host { first, second } => {
                [first, second].map(|m| view(Cow::Borrowed(bytemuck::cast_slice(m.as_slice()))))
            }
            Self::Device { first, second } => {
                let copy = |m: &Tensor| -> Result<Cow<'_, [u8]>> {
                    let values = m.flatten_all()?.to_vec1::<f32>()?;
                    Ok(Cow::Owned(bytemuck::cast_slice(&values).to_vec()))
                };
                [view(copy(first)?), view(copy(second)?)]
            }
        })
    }

    fn set(&mut self, first: Tensor, second: Tensor) -> Result<()> {
        match self {
            Self::Host {
                first: m,
                second: v,
            } => {
                *m = first.flatten_all()?.to_vec1()?;
                *v = second.flatten_all()?.to_vec1()?;
            }
            Self::Device {
                first: m,
                second: v,
            } => {
                *m = first;
                *v = second;
            }
        }
        Ok(())
    }
}

/// One moment as a safetensors f32 tensor.
struct MomentView<'a> {
    shape: Vec<usize>,
    bytes: Cow<'a, [u8]>,
}

impl safetensors::View for MomentView<'_> {
    fn dtype(&self) -> safetensors::Dtype {
        safetensors::Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }

    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// The constants of one step for one parameter, in f32 as the update runs.
#[derive(Clone, Copy)]
struct StepConstants {
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    /// `1 - lr * weight_decay`, or 1 for an undecayed parameter.
    decay: f32,
    /// `lr / (1 - beta1^t)`.
    step_size: f32,
    /// `sqrt(1 - beta2^t)`.
    correction2_sqrt: f32,
    /// Multiplies the gradient first (gradient clipping's factor).
    gradient_scale: f32,
}

impl StepConstants {
    /// PyTorch's AdamW on one element: decay the weight, move both moments
    /// toward the gradient, step by the bias-corrected ratio.
    fn apply(self, weight: &mut f32, gradient: f32, first: &mut f32, second: &mut f32) {
        let g = gradient * self.gradient_scale;
        *first += (1.0 - self.beta1) * (g - *first);
        *second = self.beta2 * *second + (1.0 - self.beta2) * g * g;
        let denominator = second.sqrt() / self.correction2_sqrt + self.epsilon;
        *weight = *weight * self.decay - self.step_size * *first / denominator;
    }
}

/// The in-place update of one CPU parameter (the destination) from its
/// gradient (the source), rewriting its moments in the same pass.
struct FusedUpdate<'a> {
    constants: StepConstants,
    moments: RefCell<(&'a mut [f32], &'a mut [f32])>,
}

/// Elements each thread takes at a time: a few hundred KiB of the four arrays.
const UPDATE_CHUNK: usize = 1 << 15;

impl InplaceOp2 for FusedUpdate<'_> {
    fn name(&self) -> &'static str {
        "adamw-update"
    }

    fn cpu_fwd(
        &self,
        weight: &mut CpuStorage,
        weight_layout: &Layout,
        gradient: &CpuStorage,
        gradient_layout: &Layout,
    ) -> candle_core::Result<()> {
        let gradient = cpu_values(gradient, gradient_layout)?;
        let (start, end) = weight_layout
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("AdamW needs a contiguous parameter".into()))?;
        let CpuStorage::F32(weight) = weight else {
            candle_core::bail!("AdamW updates f32 parameters");
        };
        let weight = &mut weight[start..end];
        let mut moments = self.moments.borrow_mut();
        let (first, second) = &mut *moments;
        if gradient.len() != weight.len() || first.len() != weight.len() {
            candle_core::bail!(
                "AdamW: {} weights, {} gradients, {} moments",
                weight.len(),
                gradient.len(),
                first.len()
            );
        }
        let pieces = weight.len().div_ceil(UPDATE_CHUNK);
        let constants = self.constants;
        cpu_pool::for_each_chunk(
            [
                (weight, UPDATE_CHUNK),
                (first, UPDATE_CHUNK),
                (second, UPDATE_CHUNK),
            ],
            pieces,
            |index, [weight, first, second]| {
                let gradient = cpu_pool::piece(gradient, UPDATE_CHUNK, index);
                for (((w, g), m), v) in weight.iter_mut().zip(gradient).zip(first).zip(second) {
                    constants.apply(w, *g, m, v);
                }
                Ok(())
            },
        )
    }
}

impl AdamW {
    /// Zero moments for `parameters`; on the CPU the update is fused (see the
    /// module's documentation).
    pub fn new(parameters: &[Parameter], config: &OptimConfig) -> Result<Self> {
        Self::with_fusion(parameters, config, true)
    }

    /// `fused: false` keeps the moments as tensors and updates them with
    /// candle's ops, as on a GPU (the CPU uses it only to test the fused pass).
    fn with_fusion(parameters: &[Parameter], config: &OptimConfig, fused: bool) -> Result<Self> {
        let moments = parameters
            .iter()
            .map(|p| {
                let t = p.var.as_tensor();
                Moments::zeros(t, fused && t.device().is_cpu() && t.dtype() == DType::F32)
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            beta1: config.adam_beta1,
            beta2: config.adam_beta2,
            epsilon: config.adam_epsilon,
            weight_decay: config.weight_decay,
            step: 0,
            moments,
        })
    }

    /// Applies one update with `gradients[i] * gradient_scale` for
    /// `parameters[i]` (the same parameters, in the same order, as at
    /// construction); `gradient_scale` is clipping's factor from [`clipping`], 1
    /// without. Norm scales and other 1-d parameters are not decayed.
    pub fn update(
        &mut self,
        parameters: &[Parameter],
        gradients: &[Tensor],
        gradient_scale: f64,
        learning_rate: f64,
    ) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let correction1 = 1.0 - self.beta1.powi(t);
        let correction2 = 1.0 - self.beta2.powi(t);
        for ((parameter, gradient), moments) in
            parameters.iter().zip(gradients).zip(&mut self.moments)
        {
            let weight = parameter.var.as_tensor();
            let decayed = self.weight_decay > 0.0 && weight.rank() > 1;
            let constants = StepConstants {
                beta1: self.beta1 as f32,
                beta2: self.beta2 as f32,
                epsilon: self.epsilon as f32,
                decay: if decayed {
                    (1.0 - learning_rate * self.weight_decay) as f32
                } else {
                    1.0
                },
                step_size: (learning_rate / correction1) as f32,
                correction2_sqrt: correction2.sqrt() as f32,
                gradient_scale: gradient_scale as f32,
            };
            match moments {
                Moments::Host { first, second } => {
                    let update = FusedUpdate {
                        constants,
                        moments: RefCell::new((first, second)),
                    };
                    weight.inplace_op2(&gradient.contiguous()?, &update)?;
                }
                Moments::Device { first, second } => {
                    let g = (gradient * gradient_scale)?;
                    *first = (&*first + ((&g - &*first)? * (1.0 - self.beta1))?)?;
                    *second = ((&*second * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
                    let denominator =
                        ((second.sqrt()? / constants.correction2_sqrt as f64)? + self.epsilon)?;
                    let step = ((&*first / &denominator)? * (learning_rate / correction1))?;
                    let decayed = (weight.detach() * constants.decay as f64)?;
                    parameter.var.set(&(decayed - step)?)?;
                }
            }
        }
        Ok(())
    }

    /// Writes the moments to `path` as safetensors, under `first.<name>` and
    /// `second.<name>`, for a checkpoint.
    pub fn save(&self, parameters: &[Parameter], path: &Path) -> Result<()> {
        let mut named = Vec::with_capacity(2 * parameters.len());
        for (p, moments) in parameters.iter().zip(&self.moments) {
            let [first, second] = moments.views(p.var.as_tensor())?;
            named.push((format!("first.{}", p.name), first));
            named.push((format!("second.{}", p.name), second));
        }
        safetensors::serialize_to_file(named, None, path).map_err(|e| Error::Artifact {
            path: path.to_path_buf(),
            message: format!("writing the optimizer state: {e}"),
        })
    }

    /// Restores moments saved by [`AdamW::state`] at `step`.
    pub fn restore(
        &mut self,
        parameters: &[Parameter],
        path: &Path,
        step: usize,
        device: &Device,
    ) -> Result<()> {
        let mut saved = candle_core::safetensors::load(path, device)?;
        for (p, moments) in parameters.iter().zip(&mut self.moments) {
            let [first, second] = ["first", "second"].map(|kind| {
                let name = format!("{kind}.{}", p.name);
                let tensor = saved.remove(&name).ok_or_else(|| Error::Artifact {
                    path: path.to_path_buf(),
                    message: format!("optimizer state lacks '{name}'"),
                })?;
                if tensor.dims() != p.var.dims() {
                    return Err(Error::Artifact {
                        path: path.to_path_buf(),
                        message: format!(
                            "'{name}' has shape {:?}, the parameter has {:?}",
                            tensor.dims(),
                            p.var.dims()
                        ),
                    });
                }
                Ok(tensor.to_dtype(DType::F32)?)
            });
            moments.set(first?, second?)?;
        }
        self.step = step;
        Ok(())
    }
}

/// The global L2 norm of `gradients`, summed in f64.
pub fn global_norm(gradients: &[Tensor]) -> Result<f64> {
    let mut sum = 0f64;
    for g in gradients {
        sum += if g.device().is_cpu() && g.dtype() == DType::F32 {
            squared_sum(&values(&g.contiguous()?)?)
        } else {
            g.to_dtype(DType::F64)?
                .sqr()?
                .sum_all()?
                .to_scalar::<f64>()?
        };
    }
    Ok(sum.sqrt())
}

/// The sum of squares of `values` in f64, over candle's threads; the pieces'
/// sums are added in order, so the result does not depend on the scheduling.
fn squared_sum(values: &[f32]) -> f64 {
    let pieces = values.len().div_ceil(UPDATE_CHUNK);
    let sums: Vec<OnceLock<f64>> = (0..pieces).map(|_| OnceLock::new()).collect();
    cpu_pool::for_each_index(pieces, |index| {
        // Eight running sums, so the loop vectorizes.
        let mut lanes = [0f64; 8];
        let piece = cpu_pool::piece(values, UPDATE_CHUNK, index);
        let mut blocks = piece.chunks_exact(8);
        for block in &mut blocks {
            for (lane, &x) in lanes.iter_mut().zip(block) {
                *lane += x as f64 * x as f64;
            }
        }
        let rest: f64 = blocks
            .remainder()
            .iter()
            .map(|&x| x as f64 * x as f64)
            .sum();
        let _ = sums[index].set(lanes.iter().sum::<f64>() + rest);
    });
    sums.iter().filter_map(OnceLock::get).sum()
}

/// PyTorch's `clip_grad_norm_` without touching the gradients: their global
/// norm, and the factor that brings it down to `max_norm` (1 when it is within,
/// or when `max_norm` is 0), for [`AdamW::update`].
pub fn clipping(gradients: &[Tensor], max_norm: f64) -> Result<(f64, f64)> {
    let norm = global_norm(gradients)?;
    let scale = if max_norm > 0.0 && norm > max_norm {
        max_norm / (norm + 1e-6)
    } else {
        1.0
    };
    Ok((norm, scale))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    fn parameter(name: &str, values: Tensor) -> Parameter {
        Parameter {
            name: name.into(),
            var: Var::from_tensor(&values).unwrap(),
        }
    }

    #[test]
    fn first_step_moves_each_weight_by_the_learning_rate() {
        // With bias correction the first Adam step is lr * sign(gradient).
        for fused in [true, false] {
            let var = Var::new(&[1.0f32, -2.0, 3.0], &Device::Cpu).unwrap();
            let parameters = [Parameter {
                name: "w".into(),
                var: var.clone(),
            }];
            let config = OptimConfig::default();
            let mut adam = AdamW::with_fusion(&parameters, &config, fused).unwrap();
            let gradient = Tensor::new(&[0.5f32, -4.0, 0.0], &Device::Cpu).unwrap();
            adam.update(&parameters, &[gradient], 1.0, 0.1).unwrap();
            let after: Vec<f32> = var.as_tensor().to_vec1().unwrap();
            assert!((after[0] - 0.9).abs() < 1e-5, "fused {fused}: {after:?}");
            assert!((after[1] + 1.9).abs() < 1e-5, "fused {fused}: {after:?}");
            assert!((after[2] - 3.0).abs() < 1e-6, "fused {fused}: {after:?}");
        }
    }

    /// The fused CPU pass and candle's composed ops take the same steps, with
    /// weight decay on the matrix only, a clipping factor, and a matrix larger
    /// than one piece of the parallel loop; saving and restoring the fused
    /// moments continues the same way.
    #[test]
    fn fused_update_matches_the_composed_ops_and_survives_a_restore() {
        let config = OptimConfig {
            weight_decay: 0.1,
            ..OptimConfig::default()
        };
        let shapes: [&[usize]; 2] = [&[3, UPDATE_CHUNK / 2 + 17], &[40]];
        let fused_parameters: Vec<Parameter> = shapes
            .iter()
            .enumerate()
            .map(|(i, shape)| {
                let t = Tensor::randn(0f32, 1.0, *shape, &Device::Cpu).unwrap();
                parameter(&format!("p{i}"), t)
            })
            .collect();
        let copies = || -> Vec<Parameter> {
            fused_parameters
                .iter()
                .map(|p| parameter(&p.name, p.var.as_tensor().copy().unwrap()))
                .collect()
        };
        let (initial, composed_parameters) = (copies(), copies());
        let mut fused = AdamW::with_fusion(&fused_parameters, &config, true).unwrap();
        let mut composed = AdamW::with_fusion(&composed_parameters, &config, false).unwrap();
        let steps: Vec<Vec<Tensor>> = (0..4)
            .map(|_| {
                shapes
                    .iter()
                    .map(|shape| Tensor::randn(0f32, 1.0, *shape, &Device::Cpu).unwrap())
                    .collect()
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let saved = |name: &str| dir.path().join(name);
        for (step, gradients) in steps.iter().enumerate() {
            let lr = 0.01 * (step + 1) as f64;
            fused.update(&fused_parameters, gradients, 0.5, lr).unwrap();
            composed
                .update(&composed_parameters, gradients, 0.5, lr)
                .unwrap();
            if step == 1 {
                fused.save(&fused_parameters, &saved("middle")).unwrap();
                fused = AdamW::with_fusion(&fused_parameters, &config, true).unwrap();
                fused
                    .restore(&fused_parameters, &saved("middle"), 2, &Device::Cpu)
                    .unwrap();
            }
        }
        let max_diff = |a: &Tensor, b: &Tensor| -> f32 {
            let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap();
            diff.to_scalar::<f32>().unwrap()
        };
        // The two paths round in different orders: allow a few units in the last
        // place of the tensor's largest value (the inputs are random, values up
        // to about 4, where one unit is 4.8e-7).
        let tolerance = |b: &Tensor| -> f32 {
            let largest = b.abs().unwrap().max_all().unwrap();
            8.0 * f32::EPSILON * largest.to_scalar::<f32>().unwrap().max(1.0)
        };
        for ((a, b), start) in fused_parameters
            .iter()
            .zip(&composed_parameters)
            .zip(&initial)
        {
            let (a, b) = (a.var.as_tensor(), b.var.as_tensor());
            assert!(
                max_diff(a, start.var.as_tensor()) > 1e-3,
                "{} did not move",
                start.name
            );
            let diff = max_diff(a, b);
            assert!(diff <= tolerance(b), "{} differs by {diff}", start.name);
        }
        fused.save(&fused_parameters, &saved("fused")).unwrap();
        composed
            .save(&composed_parameters, &saved("composed"))
            .unwrap();
        let load = |name| candle_core::safetensors::load(saved(name), &Device::Cpu).unwrap();
        let (fs, cs) = (load("fused"), load("composed"));
        assert_eq!(fs.len(), 4);
        for (name, f) in &fs {
            let diff = max_diff(f, &cs[name]);
            assert!(diff <= tolerance(&cs[name]), "{name} differs by {diff}");
        }
    }

    #[test]
    fn clipping_bounds_the_global_norm() {
        let gradients = vec![
            Tensor::new(&[3.0f32], &Device::Cpu).unwrap(),
            Tensor::new(&[4.0f32], &Device::Cpu).unwrap(),
        ];
        let (norm, scale) = clipping(&gradients, 1.0).unwrap();
        assert!((norm - 5.0).abs() < 1e-9);
        assert!((norm * scale - 1.0).abs() < 1e-6);
        assert_eq!(clipping(&gradients, 10.0).unwrap(), (5.0, 1.0));
        assert_eq!(clipping(&gradients, 0.0).unwrap(), (5.0, 1.0));
    }

    /// Over many pieces of the parallel loop, with a ragged end: the sum of
    /// squares of 1..=n is n(n+1)(2n+1)/6.
    #[test]
    fn global_norm_sums_every_piece() {
        let n = 3 * UPDATE_CHUNK + 5;
        let values: Vec<f32> = (1..=n).map(|i| i as f32).collect();
        let gradient = Tensor::from_vec(values, (n,), &Device::Cpu).unwrap();
        let n = n as f64;
        let expected = (n * (n + 1.0) * (2.0 * n + 1.0) / 6.0).sqrt();
        let norm = global_norm(&[gradient]).unwrap();
        assert!(
            (norm / expected - 1.0).abs() < 1e-12,
            "{norm} vs {expected}"
        );
    }
}
