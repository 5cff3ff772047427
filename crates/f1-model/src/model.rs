//! A model ready for generation (from a GGUF file or a Hugging Face folder): the
//! transformer with its KV cache.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};
use crate::gguf::GgufMetadata;
use crate::transformer::tensor_values::{values, Values};
use crate::transformer::{ForwardOptions, Kernels, SequenceCache, Transformer, WeightFormat};

pub use crate::transformer::Architecture;

/// How a model's weights are held and multiplied for generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// As stored, multiplied as llama.cpp's CPU path does: its logits exactly.
    #[default]
    Native,
    /// As stored, multiplied with 8-bit integer dot products (AVX512-VNNI) where
    /// the CPU has them, else as [`Precision::Native`]: faster; outputs differ
    /// from llama.cpp's by f32 rounding, and from the f32 product no more than
    /// its do (see `int8_matmul`).
    Int8,
    /// Dequantized to f32 with f32 kernels: the numbers training and scoring
    /// see, and faster for batches of long prompts (a GEMM instead of ggml's
    /// row-by-row quantized dot products), at four to eight times the memory.
    F32,
}

/// A loaded GGUF model.
pub struct GgufModel {
    path: PathBuf,
    pub architecture: Architecture,
    pub transformer: Transformer,
    options: ForwardOptions,
    /// How the weights are multiplied: as asked, except that int8 falls back to
    /// [`Precision::Native`] off the CPU or on a CPU without the int8 kernels.
    precision: Precision,
}

impl GgufModel {
    /// Loads a GGUF file with its quantized weights; unknown architectures,
    /// missing or misshapen tensors and truncated files are errors.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        Self::from_metadata(&GgufMetadata::read(path)?, device, Precision::Native)
    }

    /// Loads the weights of a GGUF file whose header is already read.
    pub fn from_metadata(
        metadata: &GgufMetadata,
        device: &Device,
        precision: Precision,
    ) -> Result<Self> {
        let format = match precision {
            Precision::Native | Precision::Int8 => WeightFormat::Quantized,
            Precision::F32 => WeightFormat::F32,
        };
        let mut transformer = Transformer::from_gguf(metadata, format, device)?;
        let int8 = precision == Precision::Int8
            && device.is_cpu()
            && transformer.use_int8_products().map_err(|e| Error::Gguf {
                path: metadata.path().to_path_buf(),
                message: e.to_string(),
            })?;
        let mut model = Self::from_transformer(transformer, metadata.path(), precision);
        if int8 {
            model.precision = Precision::Int8;
        }
        Ok(model)
    }

    /// A model around an already built transformer (from a Hugging Face folder at
    /// `path`, say); errors name `path`. Int8 products are not set up here (see
    /// [`GgufModel::from_metadata`]): asked for, the model runs as `Native`.
    pub fn from_transformer(transformer: Transformer, path: &Path, precision: Precision) -> Self {
        let options = match precision {
            Precision::Native | Precision::Int8 => ForwardOptions::inference(),
            Precision::F32 => ForwardOptions {
                kernels: Kernels::Fused,
                ..ForwardOptions::inference()
            },
        };
        Self {
            path: path.to_path_buf(),
            architecture: transformer.config.architecture,
            transformer,
            options,
            precision: match precision {
                Precision::Int8 => Precision::Native,
                other => other,
            },
        }
    }

    /// How the weights are multiplied (int8 only where it runs).
    pub fn precision(&self) -> Precision {
        self.precision
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
        next_token_logits(
            &mut self.transformer,
            &self.options,
            ids,
            rows,
            start,
            padding,
        )
        .map_err(|e| self.failed(e))
    }

    /// An empty KV cache for a new sequence decoded with others (see
    /// [`GgufModel::prefill`] and [`GgufModel::step`]), with room for `room`
    /// positions (the prompt and the tokens it may generate) before it grows.
    pub fn new_sequence(&self, room: usize) -> SequenceCache {
        self.transformer.new_sequence_cache(room)
    }

    /// Runs `ids`, the next tokens of the sequence whose cache is `cache` (a
    /// whole prompt or a chunk of one), and returns the next-token logits.
    pub fn prefill(&mut self, cache: &mut SequenceCache, ids: &[u32]) -> Result<Vec<f32>> {
        let start = cache.len();
        self.transformer.swap_cache(cache);
        let logits = self.forward(ids, start);
        self.transformer.swap_cache(cache);
        logits
    }

    /// One step of several sequences at once: `inputs[r]` (the next token, or a
    /// chunk of the prompt) extends the sequence whose cache is `caches[r]`.
    /// Returns each sequence's next-token logits, as it would compute them alone.
    pub fn step(
        &mut self,
        inputs: &[&[u32]],
        caches: &mut [&mut SequenceCache],
    ) -> Result<StepLogits> {
        self.transformer
            .step_rows(inputs, caches, &self.options)
            .and_then(|logits| {
                let logits = logits.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
                Ok(StepLogits(logits.contiguous()?))
            })
            .map_err(|e| self.failed(e))
    }

    /// A model error, naming the model's file.
    fn failed(&self, error: candle_core::Error) -> Error {
        Error::Gguf {
            path: self.path.clone(),
            message: error.to_string(),
        }
    }
}

/// Each sequence's next-token logits after [`GgufModel::step`], a row of the
/// vocabulary each, read where the model wrote them rather than copied out (16
/// rows of SmolLM2's vocabulary are 3 MB a step).
pub struct StepLogits(Tensor);

impl StepLogits {
    /// Every row's logits, row `r` from `r * vocab` on.
    pub fn values(&self) -> Result<Values<'_>> {
        Ok(values(&self.0)?)
    }

    /// The logits in a row.
    pub fn vocab(&self) -> usize {
        self.0.dims().last().copied().unwrap_or(0)
    }
}

/// What generation needs of a model: each row's next-token logits (see
/// [`GgufModel::forward_batch`]), the KV cache keeping earlier positions.
pub trait NextTokenLogits {
    fn forward_batch(
        &mut self,
        ids: &[u32],
        rows: usize,
        start: usize,
        padding: &[usize],
    ) -> Result<Vec<Vec<f32>>>;
}

impl NextTokenLogits for GgufModel {
    fn forward_batch(
        &mut self,
        ids: &[u32],
        rows: usize,
        start: usize,
        padding: &[usize],
    ) -> Result<Vec<Vec<f32>>> {
        GgufModel::forward_batch(self, ids, rows, start, padding)
    }
}

/// A transformer lent to generation, such as a model in training answering
/// its validation questions; [`LentModel::drop`] empties its KV cache.
pub struct LentModel<'a> {
    pub transformer: &'a mut Transformer,
    pub options: ForwardOptions,
}

impl NextTokenLogits for LentModel<'_> {
    fn forward_batch(
        &mut self,
        ids: &[u32],
        rows: usize,
        start: usize,
        padding: &[usize],
    ) -> Result<Vec<Vec<f32>>> {
        next_token_logits(self.transformer, &self.options, ids, rows, start, padding)
            .map_err(Error::from)
    }
}

impl Drop for LentModel<'_> {
    fn drop(&mut self) {
        self.transformer.reset_cache();
    }
}

fn next_token_logits(
    transformer: &mut Transformer,
    options: &ForwardOptions,
    ids: &[u32],
    rows: usize,
    start: usize,
    padding: &[usize],
) -> candle_core::Result<Vec<Vec<f32>>> {
    let input = Tensor::new(ids, transformer.device())?.reshape((rows, ids.len() / rows.max(1)))?;
    transformer
        .next_token_logits(&input, start, padding, options)?
        .to_dtype(DType::F32)?
        .to_vec2::<f32>()
}
