//! Turning a loaded model into one with trainable variables: LoRA adapters on the
//! chosen projections, or every weight.

use candle_core::{DType, Tensor, Var};
use f1_model::transformer::{Lora, Transformer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::{FullConfig, LoraConfig};
use crate::error::Result;

/// A trainable tensor under the name it is saved with.
#[derive(Debug, Clone)]
pub struct Parameter {
    pub name: String,
    pub var: Var,
}

/// The name PEFT gives an adapter matrix of the module at `path`.
pub fn peft_name(path: &str, matrix: &str) -> String {
    format!("base_model.model.{path}.lora_{matrix}.weight")
}

/// Puts a LoRA adapter on every projection named in `config.target_modules`, with
/// PEFT's initialisation: A uniform in ±1/sqrt(in) (Kaiming with a = sqrt(5)),
/// B zero, so training starts from the base model exactly.
pub fn attach_lora(
    model: &mut Transformer,
    config: &LoraConfig,
    seed: u64,
) -> Result<Vec<Parameter>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let device = model.device().clone();
    let mut parameters = Vec::new();
    for (stream, (path, linear)) in model.projections_mut().into_iter().enumerate() {
        let module = path.rsplit('.').next().unwrap_or_default();
        if !config.target_modules.iter().any(|m| m == module) {
            continue;
        }
        let (out, input) = linear.dims()?;
        let bound = 1.0 / (input as f32).sqrt();
        let values: Vec<f32> = (0..config.r * input)
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        let a = Var::from_tensor(&Tensor::from_vec(values, (config.r, input), &device)?)?;
        let b = Var::zeros((out, config.r), DType::F32, &device)?;
        linear.lora = Some(Lora {
            a: a.as_tensor().clone(),
            b: b.as_tensor().clone(),
            scale: config.alpha / config.r as f64,
            dropout: config.dropout,
            stream: (stream as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D),
        });
        parameters.push(Parameter {
            name: peft_name(&path, "A"),
            var: a,
        });
        parameters.push(Parameter {
            name: peft_name(&path, "B"),
            var: b,
        });
    }
    Ok(parameters)
}

/// Makes every dense weight a variable (the model must be loaded as f32), each
/// projection on its own stream of rounding bits; with `freeze_embeddings` the
/// embedding matrix (and a head tied to it) stays fixed.
pub fn make_full_trainable(model: &mut Transformer, config: &FullConfig) -> Result<Vec<Parameter>> {
    let mut parameters = Vec::new();
    for (name, tensor) in model.weights_mut() {
        if config.freeze_embeddings && name == "model.embed_tokens.weight" {
            continue;
        }
        let var = Var::from_tensor(tensor)?;
        *tensor = var.as_tensor().clone();
        parameters.push(Parameter { name, var });
    }
    for (stream, (_, linear)) in model.projections_mut().into_iter().enumerate() {
        linear.rounding_stream = stream as u64 + 1;
    }
    model.retie_head();
    Ok(parameters)
}

/// Elements in `parameters`.
pub fn count(parameters: &[Parameter]) -> usize {
    parameters.iter().map(|p| p.var.elem_count()).sum()
}
