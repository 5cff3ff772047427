//! A projection without bias, optionally with a LoRA adapter beside it.

use std::sync::{Arc, OnceLock};

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Module, Result, Tensor, TensorId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::autograd::{frozen_matmul, matmul_t, rows_matmul, trained_matmul, FrozenWeight};
use super::int8_matmul::{self, Int8Weight};
use super::lora_projection::lora_projection;
use super::quantized_matmul;

/// The low-rank update `scale * B(A(dropout(x)))` of LoRA (Hu et al., 2021).
#[derive(Debug, Clone)]
pub struct Lora {
    /// (rank, in).
    pub a: Tensor,
    /// (out, rank).
    pub b: Tensor,
    /// `alpha / rank`.
    pub scale: f64,
    /// Probability of zeroing an input feature while training.
    pub dropout: f32,
    /// Distinguishes this adapter's dropout masks from every other adapter's.
    pub stream: u64,
}

impl Lora {
    fn forward(&self, x: &Tensor, dropout_seed: Option<u64>) -> Result<Tensor> {
        let x = match self.dropout_mask(x, dropout_seed)? {
            Some(mask) => (x * mask)?,
            None => x.clone(),
        };
        // Scaling the rank-sized intermediate, not the output, keeps one fewer
        // output-sized tensor for the backward pass.
        let down = (matmul_t(&x, &self.a)? * self.scale)?;
        matmul_t(&down, &self.b)
    }

    /// The dense update `scale * B A`, shaped like the base weight (out, in).
    pub fn delta(&self) -> Result<Tensor> {
        self.b.matmul(&self.a)? * self.scale
    }

    /// Inverted dropout's mask for `x` (0 or `1 / (1 - p)` per element), drawn
    /// from `seed` so a step replays exactly; `None` when dropout is off.
    pub(crate) fn dropout_mask(&self, x: &Tensor, seed: Option<u64>) -> Result<Option<Tensor>> {
        let Some(seed) = seed.filter(|_| self.dropout > 0.0) else {
            return Ok(None);
        };
        let mut rng = StdRng::seed_from_u64(seed ^ self.stream);
        let keep = 1.0 / (1.0 - self.dropout);
        let mask: Vec<f32> = (0..x.elem_count())
            .map(|_| {
                if rng.random::<f32>() < self.dropout {
                    0.0
                } else {
                    keep
                }
            })
            .collect();
        let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
        Ok(Some(mask))
    }
}

/// How a projection multiplies when its product has a backward pass here.
pub(crate) enum TrainingKernel<'a> {
    /// A frozen base weight and a LoRA adapter.
    Adapted(FrozenWeight, &'a Lora),
    /// A frozen base weight alone.
    Frozen(FrozenWeight),
    /// A weight that is trained (full fine-tuning).
    Trained(&'a Tensor),
}

/// `x W^T` (+ the LoRA update when an adapter is attached).
#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: QMatMul,
    /// Multiply a quantized weight dequantized to f32 rather than with candle's
    /// quantized kernels (which round the input to 8 bits): the maths of a dense
    /// weight in a quantized weight's memory.
    pub dequantize: bool,
    pub lora: Option<Lora>,
    /// Distinguishes the random bits this projection's trained weight is
    /// rounded to bf16 with (see `stochastic_rounding`) from every other
    /// projection's.
    pub rounding_stream: u64,
    /// `W^T` laid out contiguously, made the first time an inference forward
    /// multiplies the dense frozen weight `W` (tagged with `W`'s id, so a
    /// replaced weight is never multiplied stale). gemm multiplies `x W^T`
    /// with a row-major `W` only after repacking all of `W` on every call;
    /// with `W^T` stored it reads the weight in place, which is most of the
    /// time of a decoding step.
    transposed: OnceLock<(TensorId, Tensor)>,
    /// The quantized weight unpacked for the int8 kernels, when the model
    /// multiplies with them (see [`Linear::use_int8_products`]).
    int8: Option<Arc<Int8Weight>>,
}

impl Linear {
    pub fn new(weight: QMatMul) -> Self {
        Self {
            weight,
            dequantize: false,
            lora: None,
            rounding_stream: 0,
            transposed: OnceLock::new(),
            int8: None,
        }
    }

    /// Multiplies the quantized weight with the int8 kernels (`int8_matmul`)
    /// from now on, where its format has them; the caller checks the CPU
    /// (`int8_matmul::available`).
    pub(crate) fn use_int8_products(&mut self) -> Result<()> {
        if let QMatMul::QTensor(q) = &self.weight {
            if !self.dequantize && int8_matmul::handles(q) {
                self.int8 = Some(Arc::new(Int8Weight::new(q)?));
            }
        }
        Ok(())
    }

    /// `x W^T` with the int8 kernels, where this projection uses them and `x`
    /// is an f32 CPU input without gradients.
    pub(crate) fn int8_matmul(&self, x: &Tensor) -> Option<Result<Tensor>> {
        let weight = self.int8.as_ref()?;
        let fits = x.device().is_cpu() && x.dtype() == candle_core::DType::F32 && !x.track_op();
        fits.then(|| weight.matmul(x))
    }

    /// `x W^T` of each of `projections` with the int8 kernels in one pass (`x`
    /// rounded to 8 bits once, one parallel loop), where all of them use those
    /// kernels without an adapter and `x` is an f32 CPU input without
    /// gradients; else `None`.
    pub(crate) fn int8_matmul_each<const N: usize>(
        projections: [&Linear; N],
        x: &Tensor,
    ) -> Option<Result<[Tensor; N]>> {
        let fits = x.device().is_cpu() && x.dtype() == candle_core::DType::F32 && !x.track_op();
        let weights: Vec<&Int8Weight> = (projections.iter())
            .filter(|projection| projection.lora.is_none())
            .filter_map(|projection| projection.int8.as_deref())
            .collect();
        let weights: [&Int8Weight; N] = weights.try_into().ok()?;
        fits.then(|| int8_matmul::matmul_each(weights, x))
    }

    /// Whether a row of `x W^T` comes out the same however the rows are grouped
    /// into sequences: not with llama.cpp's K-quant kernels, which tile a
    /// sequence's tokens in fours or eights (`k_quant_matmul`).
    pub(crate) fn rows_independent(&self) -> bool {
        let k_quant = |q: &QTensor| matches!(q.dtype(), GgmlDType::Q4K | GgmlDType::Q6K);
        self.int8.is_some()
            || !matches!(&self.weight, QMatMul::QTensor(q) if !self.dequantize && k_quant(q))
    }

    /// A quantized weight multiplied in f32 (see [`Linear::dequantize`]).
    pub fn dequantized(weight: QMatMul) -> Self {
        Self {
            dequantize: true,
            ..Self::new(weight)
        }
    }

    /// (out, in).
    pub fn dims(&self) -> Result<(usize, usize)> {
        match &self.weight {
            QMatMul::QTensor(q) => q.shape().dims2(),
            QMatMul::Tensor(t) | QMatMul::TensorF16(t) => t.dims2(),
        }
    }

    /// `dropout_seed` is `Some` only while training with LoRA dropout.
    pub fn forward(&self, x: &Tensor, dropout_seed: Option<u64>) -> Result<Tensor> {
        let y = match self.training_kernel() {
            Some(TrainingKernel::Adapted(weight, lora))
                if lora.a.track_op() && x.device().is_cpu() =>
            {
                let mask = lora.dropout_mask(x, dropout_seed)?;
                return lora_projection(x, weight, (&lora.a, &lora.b, lora.scale), mask);
            }
            Some(TrainingKernel::Adapted(weight, _) | TrainingKernel::Frozen(weight)) => {
                match weight {
                    FrozenWeight::Dense(w) if !x.track_op() => self.inference_matmul(x, &w)?,
                    weight => frozen_matmul(x, weight)?,
                }
            }
            Some(TrainingKernel::Trained(w)) => trained_matmul(x, w)?,
            None => match (self.int8_matmul(x), &self.weight) {
                (Some(y), _) => y?,
                (None, QMatMul::Tensor(w)) if w.is_variable() => trained_matmul(x, w)?,
                (None, QMatMul::QTensor(q)) if quantized_matmul::applies(x, q) => {
                    quantized_matmul::matmul(x, q)?
                }
                (None, weight) => weight.forward(x)?,
            },
        };
        match &self.lora {
            Some(lora) => y + lora.forward(x, dropout_seed)?,
            None => Ok(y),
        }
    }

    /// `x W^T` for a frozen dense `W` outside autograd, through the stored `W^T`.
    fn inference_matmul(&self, x: &Tensor, w: &Tensor) -> Result<Tensor> {
        if !x.device().is_cpu() {
            return matmul_t(x, w);
        }
        let (id, transposed) = match self.transposed.get() {
            Some(cached) => cached,
            None => {
                let transposed = w.t()?.contiguous()?;
                self.transposed.get_or_init(|| (w.id(), transposed))
            }
        };
        if *id != w.id() {
            return matmul_t(x, w);
        }
        rows_matmul(x, transposed)
    }

    /// The kernel with a backward pass here that multiplies this projection, as
    /// both the per-kernel forward and a block's one-node training pass use it;
    /// `None` for weights candle's own kernels multiply (quantized inference,
    /// f16).
    pub(crate) fn training_kernel(&self) -> Option<TrainingKernel<'_>> {
        match (&self.lora, self.frozen_weight(), &self.weight) {
            (Some(lora), Some(weight), _) => Some(TrainingKernel::Adapted(weight, lora)),
            (None, Some(weight), _) => Some(TrainingKernel::Frozen(weight)),
            (None, None, QMatMul::Tensor(weight)) if weight.is_variable() => {
                Some(TrainingKernel::Trained(weight))
            }
            _ => None,
        }
    }

    /// The base weight when it is multiplied in f32 and not trained.
    pub(crate) fn frozen_weight(&self) -> Option<FrozenWeight> {
        match &self.weight {
            QMatMul::QTensor(q) if self.dequantize => Some(FrozenWeight::Quantized(q.clone())),
            QMatMul::Tensor(w) if !w.is_variable() => Some(FrozenWeight::Dense(w.clone())),
            _ => None,
        }
    }

    /// The dense weight (out, in), dequantized if stored quantized.
    pub fn dense_weight(&self) -> Result<Tensor> {
        match &self.weight {
            QMatMul::QTensor(q) => q.dequantize(&q.device()),
            QMatMul::Tensor(t) | QMatMul::TensorF16(t) => Ok(t.clone()),
        }
    }

    /// The dense weight of a model in f32 (WeightFormat::F32), for training.
    pub fn dense_weight_mut(&mut self) -> Option<&mut Tensor> {
        self.transposed = OnceLock::new();
        self.int8 = None;
        match &mut self.weight {
            QMatMul::Tensor(t) => Some(t),
            _ => None,
        }
    }
}
