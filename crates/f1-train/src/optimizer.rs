//! AdamW with decoupled weight decay (Loshchilov & Hutter), as PyTorch computes
//! it. Written here rather than taken from candle-nn because candle's `AdamW` keeps
//! its moment estimates private, and an exact resume must save and restore them.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

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
    first: Vec<Tensor>,
    second: Vec<Tensor>,
}

impl AdamW {
    pub fn new(parameters: &[Parameter], config: &OptimConfig) -> Result<Self> {
        let zeros = || -> Result<Vec<Tensor>> {
            parameters.iter().map(|p| Ok(p.var.zeros_like()?)).collect()
        };
        Ok(Self {
            beta1: config.adam_beta1,
            beta2: config.adam_beta2,
            epsilon: config.adam_epsilon,
            weight_decay: config.weight_decay,
            step: 0,
            first: zeros()?,
            second: zeros()?,
        })
    }

    /// Applies one update with `gradients[i]` for `parameters[i]` (the same
    /// parameters, in the same order, as at construction). Norm scales and other
    /// 1-d parameters are not decayed.
    pub fn update(
        &mut self,
        parameters: &[Parameter],
        gradients: &[Tensor],
        learning_rate: f64,
    ) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let correction1 = 1.0 - self.beta1.powi(t);
        let correction2 = 1.0 - self.beta2.powi(t);
        for (i, (parameter, gradient)) in parameters.iter().zip(gradients).enumerate() {
            let m = ((&self.first[i] * self.beta1)? + (gradient * (1.0 - self.beta1))?)?;
            let v = ((&self.second[i] * self.beta2)? + (gradient.sqr()? * (1.0 - self.beta2))?)?;
            let step = ((&m / correction1)? / ((&v / correction2)?.sqrt()? + self.epsilon)?)?;
            let mut value = parameter.var.as_tensor().detach();
            if self.weight_decay > 0.0 && value.rank() > 1 {
                value = (&value * (1.0 - learning_rate * self.weight_decay))?;
            }
            parameter.var.set(&(value - (step * learning_rate)?)?)?;
            self.first[i] = m;
            self.second[i] = v;
        }
        Ok(())
    }

    /// The moments under `first.<name>` and `second.<name>`, for a checkpoint.
    pub fn state(&self, parameters: &[Parameter]) -> HashMap<String, Tensor> {
        let mut state = HashMap::new();
        for (i, p) in parameters.iter().enumerate() {
            state.insert(format!("first.{}", p.name), self.first[i].clone());
            state.insert(format!("second.{}", p.name), self.second[i].clone());
        }
        state
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
        for (i, p) in parameters.iter().enumerate() {
            for (kind, slot) in [("first", &mut self.first), ("second", &mut self.second)] {
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
                slot[i] = tensor.to_dtype(DType::F32)?;
            }
        }
        self.step = step;
        Ok(())
    }
}

/// The global L2 norm of `gradients`.
pub fn global_norm(gradients: &[Tensor]) -> Result<f64> {
    let mut sum = 0f64;
    for g in gradients {
        sum += g
            .sqr()?
            .sum_all()?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
    }
    Ok(sum.sqrt())
}

/// Scales `gradients` so that their global norm is at most `max_norm` (PyTorch's
/// `clip_grad_norm_`); returns the norm before clipping.
pub fn clip(gradients: &mut [Tensor], max_norm: f64) -> Result<f64> {
    let norm = global_norm(gradients)?;
    if max_norm > 0.0 && norm > max_norm {
        let scale = max_norm / (norm + 1e-6);
        for g in gradients.iter_mut() {
            *g = (&*g * scale)?;
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    #[test]
    fn first_step_moves_each_weight_by_the_learning_rate() {
        // With bias correction the first Adam step is lr * sign(gradient).
        let var = Var::new(&[1.0f32, -2.0, 3.0], &Device::Cpu).unwrap();
        let parameters = [Parameter {
            name: "w".into(),
            var: var.clone(),
        }];
        let config = OptimConfig::default();
        let mut adam = AdamW::new(&parameters, &config).unwrap();
        let gradient = Tensor::new(&[0.5f32, -4.0, 0.0], &Device::Cpu).unwrap();
        adam.update(&parameters, &[gradient], 0.1).unwrap();
        let after: Vec<f32> = var.as_tensor().to_vec1().unwrap();
        assert!((after[0] - 0.9).abs() < 1e-5, "{after:?}");
        assert!((after[1] + 1.9).abs() < 1e-5, "{after:?}");
        assert!((after[2] - 3.0).abs() < 1e-6, "{after:?}");
    }

    #[test]
    fn clipping_bounds_the_global_norm() {
        let mut gradients = vec![
            Tensor::new(&[3.0f32], &Device::Cpu).unwrap(),
            Tensor::new(&[4.0f32], &Device::Cpu).unwrap(),
        ];
        let before = clip(&mut gradients, 1.0).unwrap();
        assert!((before - 5.0).abs() < 1e-9);
        assert!((global_norm(&gradients).unwrap() - 1.0).abs() < 1e-5);
        let before = clip(&mut gradients, 10.0).unwrap();
        assert!((before - 1.0).abs() < 1e-5);
    }
}
