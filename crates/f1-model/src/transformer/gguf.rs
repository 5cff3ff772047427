//! Building a [`Transformer`] from a GGUF file.

use std::fs::File;

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{DType, Device, Tensor};

use super::assemble::{assemble, WeightSource};
use super::config::TransformerConfig;
use super::linear::Linear;
use super::Transformer;
use crate::gguf::GgufMetadata;
use crate::Result;

/// How the weights are held in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// As stored (quantized matmuls, as llama.cpp runs them).
    Quantized,
    /// Dequantized to f32 (for training and exact maths).
    F32,
    /// Projections as stored but multiplied in f32, dequantized for each product;
    /// everything else f32: F32's maths in little more than Quantized's memory,
    /// for weights that are not trained (LoRA's base).
    Dequantized,
}

struct Reader<'a> {
    metadata: &'a GgufMetadata,
    file: File,
    device: Device,
    format: WeightFormat,
}

impl Reader<'_> {
    fn tensor(&mut self, name: &str, shape: &[usize]) -> Result<QTensor> {
        let info = self
            .metadata
            .content()
            .tensor_infos
            .get(name)
            .ok_or_else(|| self.metadata.invalid(format!("tensor '{name}' is missing")))?;
        if info.shape.dims() != shape {
            return Err(self.metadata.invalid(format!(
                "tensor '{name}' has shape {:?}, the metadata implies {shape:?}",
                info.shape.dims()
            )));
        }
        self.metadata
            .content()
            .tensor(&mut self.file, name, &self.device)
            .map_err(|e| {
                self.metadata.invalid(format!(
                    "cannot read tensor '{name}' (truncated or damaged file?): {e}"
                ))
            })
    }
}

impl WeightSource for Reader<'_> {
    fn dense(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let tensor = self.tensor(name, shape)?;
        tensor
            .dequantize(&self.device)
            .and_then(|t| t.to_dtype(DType::F32))
            .map_err(|e| self.metadata.invalid(format!("dequantizing '{name}': {e}")))
    }

    fn linear(&mut self, name: &str, out: usize, input: usize) -> Result<Linear> {
        let shape = [out, input];
        let weights = match self.format {
            WeightFormat::Quantized | WeightFormat::Dequantized => {
                QMatMul::from_qtensor(self.tensor(name, &shape)?)
            }
            WeightFormat::F32 => Ok(QMatMul::Tensor(self.dense(name, &shape)?)),
        };
        let linear = match self.format {
            WeightFormat::Dequantized => Linear::dequantized,
            _ => Linear::new,
        };
        weights
            .map(linear)
            .map_err(|e| self.metadata.invalid(format!("'{name}': {e}")))
    }

    fn contains(&self, name: &str) -> bool {
        self.metadata.content().tensor_infos.contains_key(name)
    }

    fn invalid(&self, message: String) -> crate::Error {
        self.metadata.invalid(message)
    }
}

impl Transformer {
    /// Loads the model in a GGUF file. Unknown architectures, missing tensors,
    /// shapes that disagree with the metadata and truncated files are errors.
    pub fn from_gguf(
        metadata: &GgufMetadata,
        format: WeightFormat,
        device: &Device,
    ) -> Result<Self> {
        let config = TransformerConfig::from_gguf(metadata)?;
        let file = File::open(metadata.path()).map_err(|e| crate::Error::io(metadata.path(), e))?;
        let mut reader = Reader {
            metadata,
            file,
            device: device.clone(),
            format,
        };
        assemble(
            config,
            &mut reader,
            format != WeightFormat::Quantized,
            device,
        )
    }
}
