//! Quantized GGUF models (Llama, Gemma 3) on candle, with a KV cache.

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::Content;
use candle_core::{Device, Tensor};
use candle_transformers::models::{quantized_gemma3, quantized_llama};

use crate::error::{Error, Result};

/// The architectures this layer can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Llama,
    Gemma3,
}

enum Weights {
    Llama(quantized_llama::ModelWeights),
    Gemma3(quantized_gemma3::ModelWeights),
}

/// A loaded GGUF model.
pub struct GgufModel {
    path: PathBuf,
    device: Device,
    pub architecture: Architecture,
    weights: Weights,
}

fn gguf_error(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Gguf {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

impl GgufModel {
    /// Loads a GGUF file; unknown architectures and truncated files are errors.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let (architecture, weights) = read_weights(path, device)?;
        Ok(Self {
            path: path.to_path_buf(),
            device: device.clone(),
            architecture,
            weights,
        })
    }

    /// Runs `ids` (positions `start..start + ids.len()` of the sequence) through the
    /// model and returns the next-token logits after the last of them. The KV cache
    /// keeps earlier positions; `start == 0` begins a new sequence.
    pub fn forward(&mut self, ids: &[u32], start: usize) -> Result<Vec<f32>> {
        let input = Tensor::new(ids, &self.device)
            .and_then(|t| t.unsqueeze(0))
            .map_err(|e| gguf_error(&self.path, e))?;
        let logits = match &mut self.weights {
            Weights::Llama(m) => m.forward(&input, start),
            Weights::Gemma3(m) => m.forward(&input, start),
        }
        .and_then(|t| t.squeeze(0))
        .and_then(|t| t.to_dtype(candle_core::DType::F32))
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(|e| gguf_error(&self.path, e))?;
        Ok(logits)
    }
}

fn read_weights(path: &Path, device: &Device) -> Result<(Architecture, Weights)> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let content = Content::read(&mut file)
        .map_err(|e| gguf_error(path, format!("not a readable GGUF file: {e}")))?;
    let architecture = content
        .metadata
        .get("general.architecture")
        .and_then(|v| v.to_string().ok().cloned())
        .ok_or_else(|| gguf_error(path, "general.architecture is missing"))?;
    let truncated = |e: candle_core::Error| {
        gguf_error(
            path,
            format!("cannot load the weights (truncated or damaged file?): {e}"),
        )
    };
    match architecture.as_str() {
        "llama" => Ok((
            Architecture::Llama,
            Weights::Llama(
                quantized_llama::ModelWeights::from_gguf(content, &mut file, device)
                    .map_err(truncated)?,
            ),
        )),
        "gemma3" => Ok((
            Architecture::Gemma3,
            Weights::Gemma3(
                quantized_gemma3::ModelWeights::from_gguf(content, &mut file, device)
                    .map_err(truncated)?,
            ),
        )),
        other => Err(gguf_error(
            path,
            format!("architecture '{other}' is not supported (llama and gemma3 are)"),
        )),
    }
}
