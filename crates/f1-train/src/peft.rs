//! LoRA adapters in the Hugging Face PEFT format: `adapter_config.json` and
//! `adapter_model.safetensors` with PEFT's tensor names, in Hugging Face's row
//! order (so `PeftModel.from_pretrained` loads them onto the original model).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use f1_model::transformer::{Lora, Transformer};
use serde::{Deserialize, Serialize};

use crate::config::LoraConfig;
use crate::error::{Error, Result};
use crate::trainable::{peft_name, Parameter};

pub const CONFIG_FILE: &str = "adapter_config.json";
pub const WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// The fields of PEFT's `LoraConfig` that an adapter folder records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterConfig {
    pub peft_type: String,
    pub task_type: String,
    pub base_model_name_or_path: String,
    pub r: usize,
    pub lora_alpha: f64,
    pub lora_dropout: f32,
    pub target_modules: Vec<String>,
    pub bias: String,
    pub fan_in_fan_out: bool,
    pub inference_mode: bool,
    pub init_lora_weights: bool,
    #[serde(default)]
    pub use_rslora: bool,
    #[serde(default)]
    pub use_dora: bool,
    pub modules_to_save: Option<Vec<String>>,
    pub layers_to_transform: Option<Vec<usize>>,
    pub layers_pattern: Option<String>,
    #[serde(default)]
    pub rank_pattern: HashMap<String, usize>,
    #[serde(default)]
    pub alpha_pattern: HashMap<String, f64>,
    pub revision: Option<String>,
}

impl AdapterConfig {
    pub fn new(config: &LoraConfig, base_model: &str) -> Self {
        Self {
            peft_type: "LORA".into(),
            task_type: "CAUSAL_LM".into(),
            base_model_name_or_path: base_model.into(),
            r: config.r,
            lora_alpha: config.alpha,
            lora_dropout: config.dropout,
            target_modules: config.target_modules.clone(),
            bias: "none".into(),
            fan_in_fan_out: false,
            inference_mode: true,
            init_lora_weights: true,
            use_rslora: false,
            use_dora: false,
            modules_to_save: None,
            layers_to_transform: None,
            layers_pattern: None,
            rank_pattern: HashMap::new(),
            alpha_pattern: HashMap::new(),
            revision: None,
        }
    }

    /// `lora_alpha / r`, or `lora_alpha / sqrt(r)` with rsLoRA.
    pub fn scale(&self) -> f64 {
        if self.use_rslora {
            self.lora_alpha / (self.r as f64).sqrt()
        } else {
            self.lora_alpha / self.r as f64
        }
    }
}

/// Writes `parameters` (named as [`peft_name`] names them) as a PEFT adapter.
pub fn save_adapter(
    dir: &Path,
    model: &Transformer,
    config: &AdapterConfig,
    parameters: &[Parameter],
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tensors = HashMap::new();
    for p in parameters {
        let tensor = model.to_hugging_face(&p.name, p.var.as_tensor())?;
        tensors.insert(p.name.clone(), tensor.contiguous()?);
    }
    let weights = dir.join(WEIGHTS_FILE);
    f1_files::write_with(&weights, |staging| {
        Ok::<_, Error>(candle_core::safetensors::save(&tensors, staging)?)
    })?;
    let json = serde_json::to_string_pretty(config).expect("config serializes");
    Ok(f1_files::write(&dir.join(CONFIG_FILE), json.as_bytes())?)
}

/// Reads an adapter folder's configuration.
pub fn read_adapter_config(dir: &Path) -> Result<AdapterConfig> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let config: AdapterConfig = serde_json::from_str(&text).map_err(|e| Error::Artifact {
        path: path.clone(),
        message: format!("not a PEFT adapter configuration: {e}"),
    })?;
    let unsupported = [
        (config.peft_type != "LORA", "peft_type is not LORA"),
        (config.r == 0, "r is 0"),
        (config.use_dora, "it uses DoRA"),
        (config.bias != "none", "it trains biases"),
        (
            !config.rank_pattern.is_empty() || !config.alpha_pattern.is_empty(),
            "it has per-module ranks or alphas (rank_pattern, alpha_pattern)",
        ),
        (
            config
                .modules_to_save
                .as_ref()
                .is_some_and(|m| !m.is_empty()),
            "it saves whole modules (modules_to_save)",
        ),
    ];
    if let Some((_, why)) = unsupported.iter().find(|(bad, _)| *bad) {
        return Err(Error::Artifact {
            path,
            message: format!("only plain LoRA adapters load here, and {why}"),
        });
    }
    Ok(config)
}

/// Attaches the adapter in `dir` to `model` for inference; an adapter whose
/// modules or shapes do not fit the model is an error naming the tensor.
pub fn attach_adapter(model: &mut Transformer, dir: &Path) -> Result<AdapterConfig> {
    let config = read_adapter_config(dir)?;
    let weights_path = dir.join(WEIGHTS_FILE);
    let device = model.device().clone();
    let mut saved = candle_core::safetensors::load(&weights_path, &device)?;
    let mismatch = |message: String| Error::Artifact {
        path: weights_path.clone(),
        message: format!("{message}: the adapter does not fit this model"),
    };
    let mut loaded = Vec::new();
    for (path, linear) in model.projections_mut() {
        let module = path.rsplit('.').next().unwrap_or_default();
        let (a_name, b_name) = (peft_name(&path, "A"), peft_name(&path, "B"));
        let targeted = config.target_modules.iter().any(|m| m == module);
        match (saved.remove(&a_name), saved.remove(&b_name)) {
            (Some(a), Some(b)) => loaded.push((path, linear, a, b)),
            (None, None) if !targeted => {}
            _ => return Err(mismatch(format!("'{a_name}' or '{b_name}' is missing"))),
        }
    }
    if let Some(extra) = saved.keys().next() {
        return Err(mismatch(format!("the model has no module for '{extra}'")));
    }
    let mut converted = Vec::new();
    for (path, linear, a, b) in loaded {
        let (out, input) = linear.dims()?;
        if a.dims() != [config.r, input] || b.dims() != [out, config.r] {
            return Err(mismatch(format!(
                "{path}: lora_A {:?} and lora_B {:?}, the module is {out}x{input} with r={}",
                a.dims(),
                b.dims(),
                config.r
            )));
        }
        converted.push((path, a, b));
    }
    let mut adapters: Vec<(String, Tensor, Tensor)> = Vec::new();
    for (path, a, b) in converted {
        let b = model.from_hugging_face(&peft_name(&path, "B"), &b)?;
        adapters.push((path, to_f32(&a, &device)?, to_f32(&b, &device)?));
    }
    let scale = config.scale();
    for (path, linear) in model.projections_mut() {
        if let Some((_, a, b)) = adapters.iter().find(|(p, _, _)| *p == path) {
            linear.lora = Some(Lora {
                a: a.clone(),
                b: b.clone(),
                scale,
                dropout: 0.0,
                stream: 0,
            });
        }
    }
    Ok(config)
}

fn to_f32(t: &Tensor, device: &Device) -> Result<Tensor> {
    Ok(t.to_dtype(candle_core::DType::F32)?.to_device(device)?)
}
