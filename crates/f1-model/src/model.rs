//! A model ready for generation (from a GGUF file or a Hugging Face folder): the
//! transformer with its KV cache.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};
use crate::gguf::GgufMetadata;
use crate::transformer::{ForwardOptions, Transformer, WeightFormat};

pub use crate::transformer::Architecture;

/// A loaded GGUF model.
pub struct GgufModel {
    path: PathBuf,
    pub architecture: Architecture,
    pub transformer: Transformer,
    options: ForwardOptions,
}

impl GgufModel {
    /// Loads a GGUF file with its quantized weights; unknown architectures,
    /// missing or misshapen tensors and truncated files are errors.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        Self::from_metadata(&GgufMetadata::read(path)?, device)
    }

    /// Loads the weights of a GGUF file whose header is already read.
    pub fn from_metadata(metadata: &GgufMetadata, device: &Device) -> Result<Self> {
        let transformer = Transformer::from_gguf(metadata, WeightFormat::Quantized, device)?;
        Ok(Self::from_transformer(transformer, metadata.path()))
    }

    /// A model around an already built transformer (from a Hugging Face folder at
    /// `path`, say); errors name `path`.
    pub fn from_transformer(transformer: Transformer, path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            architecture: transformer.config.architecture,
            transformer,
            options: ForwardOptions::inference(),
        }
    }

    /// Runs `ids` (positions `start..start + ids.len()` of the sequence) through the
    /// model and returns the next-token logits after the last of them. The KV cache
    /// keeps earlier positions; `start == 0` begins a new sequence.
    pub fn forward(&mut self, ids: &[u32], start: usize) -> Result<Vec<f32>> {
        let mut rows = self.forward_batch(ids, 1, start, &[])?;
        Ok(rows.remove(0))
    }

    /// [`GgufModel::forward`] for `rows` sequences at once: `ids` holds each row's
    /// tokens in turn (all rows as long), and `padding[b]` is how many positions
    /// at the start of row `b` are left padding, masked out. Returns each row's
    /// next-token logits.
    pub fn forward_batch(
        &mut self,
        ids: &[u32],
        rows: usize,
        start: usize,
        padding: &[usize],
    ) -> Result<Vec<Vec<f32>>> {
        let error = |e: candle_core::Error| Error::Gguf {
            path: self.path.clone(),
            message: e.to_string(),
        };
        let input = Tensor::new(ids, self.transformer.device())
            .and_then(|t| t.reshape((rows, ids.len() / rows.max(1))))
            .map_err(error)?;
        self.transformer
            .next_token_logits(&input, start, padding, &self.options)
            .and_then(|t| t.to_dtype(DType::F32))
            .and_then(|t| t.to_vec2::<f32>())
            .map_err(error)
    }
}
