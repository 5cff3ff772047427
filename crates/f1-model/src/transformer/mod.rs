//! A decoder-only transformer (Llama and Gemma 3) written on candle's tensor ops,
//! so that inference, llama.cpp parity and training share one forward pass.

mod amx;
#[cfg(all(any(test, feature = "emulated-amx"), target_arch = "x86_64"))]
mod amx_emulation;
mod assemble;
mod attention_core;
pub mod autograd;
mod bf16_product;
#[cfg(target_arch = "x86_64")]
mod bf16_tiles;
mod block_node;
mod config;
pub mod cpu_pool;
mod dense_product;
mod dequantize;
mod embedding_lookup;
mod gated_activation;
mod ggml_vectors;
mod gguf;
mod gradient_sink;
mod head_loss;
mod hugging_face;
mod int8_matmul;
pub use gguf::WeightFormat;
mod k_quant_matmul;
mod lane_sums;
mod layers;
mod linear;
mod llama_cpp_rounding;
mod lora_projection;
mod mask;
mod matrix;
#[cfg(target_arch = "x86_64")]
mod packed_input;
#[cfg(target_arch = "x86_64")]
mod quantized_bf16;
mod quantized_blocks;
mod quantized_matmul;
mod rope;
mod sequences;
mod stochastic_rounding;
pub mod tensor_values;
#[cfg(test)]
mod test_support;
mod weights;

use candle_core::backprop::GradStore;
use candle_core::quantized::{GgmlDType, QMatMul};
use candle_core::Module;
use candle_core::{Device, Result, Tensor, D};

pub use config::{Architecture, RopeStyle, TransformerConfig};
pub use dense_product::{bf16_kernel, Bf16Kernel, ProductPrecision, BF16_KERNEL_VARIABLE};
pub use gradient_sink::GradientSink;
pub use hugging_face::{CONFIG_FILE, WEIGHTS_FILE};
pub use int8_matmul::available as int8_products_available;
pub use layers::{Attention, Block, ForwardOptions, Mlp, RmsNorm};
pub use linear::{Linear, Lora};
pub use mask::Packing;
pub use rope::Positions;
pub use sequences::SequenceCache;
pub use weights::PROJECTIONS;

/// Which kernels the forward pass uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// candle's fused CPU/GPU kernels (RMS norm, softmax, RoPE): fast, no gradients.
    Fused,
    /// The same kernels with backward passes (see `autograd`), for training.
    Differentiable,
    /// The fused kernels, rounding on the CPU as llama.cpp's does (see
    /// `llama_cpp_rounding`): attention over f16 operands (its f16 KV cache) in
    /// its order of sums, its RMS norm, SiLU, GELU and RoPE. For generation.
    LlamaCpp,
}

/// The whole model: embeddings, blocks, final norm and the language-model head.
#[derive(Debug)]
pub struct Transformer {
    pub config: TransformerConfig,
    /// (vocab, hidden), f32.
    pub embedding: Tensor,
    pub blocks: Vec<Block>,
    pub norm: RmsNorm,
    pub lm_head: Linear,
    /// Whether the head reuses the embedding matrix (no `output.weight`).
    pub tied_embeddings: bool,
    device: Device,
    /// Gradients computed inside the blocks' autograd nodes, for [`Self::backward`].
    gradients: GradientSink,
}

impl Transformer {
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Final hidden states, (batch, tokens, hidden), for `ids` (batch, tokens) in
    /// slots `start..`. `padding[b]` is how many slots at the start of row `b`
    /// (counted from slot 0) are left padding that nothing may attend to; a row's
    /// positions (RoPE) count from its first real token.
    pub fn hidden_states(
        &mut self,
        ids: &Tensor,
        start: usize,
        padding: &[usize],
        options: &ForwardOptions,
    ) -> Result<Tensor> {
        let (batch, tokens) = ids.dims2()?;
        let masks = mask::Masks::new(&self.config, batch, tokens, start, padding, &self.device)?;
        self.run(ids, Positions::new(start, padding), &masks, options)
    }

    /// Final hidden states of packed rows (see [`Packing`]): tokens attend only
    /// within their own sequence (and the one it continues), and each
    /// sequence's positions start at 0, so it is computed as it would be alone.
    pub fn hidden_states_packed(
        &mut self,
        ids: &Tensor,
        packing: &Packing,
        options: &ForwardOptions,
    ) -> Result<Tensor> {
        let masks = mask::Masks::packed(&self.config, packing, &self.device)?;
        let positions = packing.positions();
        self.run(ids, Positions::packed(&positions), &masks, options)
    }

    fn run(
        &mut self,
        ids: &Tensor,
        positions: Positions,
        masks: &mask::Masks,
        options: &ForwardOptions,
    ) -> Result<Tensor> {
        let mut x = self.embed(ids, options.kernels)?;
        for block in &mut self.blocks {
            let mask = masks.for_block(block.sliding);
            // A training pass on the CPU runs the block as one autograd node.
            x = match block_node::forward(block, &x, positions, mask, options, &self.gradients)? {
                Some(y) => y,
                None => block.forward(&x, positions, mask, options)?,
            };
        }
        self.norm.forward(&x, options.kernels)
    }

    /// The embeddings (batch, tokens, hidden) of `ids` (batch, tokens), scaled
    /// as the architecture wants. With differentiable kernels on the CPU, a
    /// trained matrix's gradient goes to the sink (see `embedding_lookup`).
    fn embed(&self, ids: &Tensor, kernels: Kernels) -> Result<Tensor> {
        let (batch, tokens) = ids.dims2()?;
        let ids = ids.flatten_all()?;
        let training = kernels == Kernels::Differentiable
            && self.embedding.is_variable()
            && self.device.is_cpu();
        let x = match training {
            true => {
                let ids = ids.to_dtype(candle_core::DType::U32)?.to_vec1::<u32>()?;
                embedding_lookup::lookup(&self.embedding, ids, &self.gradients)?
            }
            false => self.embedding.index_select(&ids, 0)?,
        }
        .reshape((batch, tokens, self.config.hidden_size))?;
        match self.config.architecture {
            Architecture::Gemma3 => x * (self.config.hidden_size as f64).sqrt(),
            Architecture::Llama => Ok(x),
        }
    }

    /// The gradients of `loss` (a scalar computed by this model) for every trained
    /// tensor: candle's backward pass, with the gradients of the weights inside
    /// the blocks' nodes added.
    pub fn backward(&self, loss: &Tensor) -> Result<GradStore> {
        self.gradients.clear();
        let mut grads = loss.backward()?;
        self.gradients.merge_into(&mut grads)?;
        Ok(grads)
    }

    /// Multiplies the quantized projections and head with the int8 kernels
    /// (`int8_matmul`: faster, not llama.cpp's bits) where this CPU has them
    /// (logged once); returns whether it does.
    pub fn use_int8_products(&mut self) -> Result<bool> {
        if !int8_matmul::available() {
            return Ok(false);
        }
        for (_, linear) in self.projections_mut() {
            linear.use_int8_products()?;
        }
        self.lm_head.use_int8_products()?;
        Ok(true)
    }

    /// Empties every layer's KV cache.
    pub fn reset_cache(&mut self) {
        self.blocks
            .iter_mut()
            .for_each(|block| block.attention.reset_cache());
    }

    /// Repeats every layer's cached keys and values `n` times along the batch
    /// (see [`Attention::repeat_cache`]).
    pub fn repeat_cache(&mut self, n: usize) -> Result<()> {
        self.blocks
            .iter_mut()
            .try_for_each(|block| block.attention.repeat_cache(n))
    }

    /// Logits (batch, tokens, vocab) for hidden states. With int8 products the
    /// head uses them too. Otherwise a quantized head keeps
    /// candle's rounding: for one row Gemma 3 decoded 68-70 tok/s with candle's
    /// kernel and 40-54 with its 262,144-row head in ggml's (`quantized_matmul`),
    /// and with no layer after it to amplify its rounding, the logits still equal
    /// llama.cpp's to 1e-4. Several rows of a Q8_0 head (a batch of sequences)
    /// get the same bits from `quantized_matmul::matmul_as_candle`, which
    /// unpacks each weight block once per four rows (`bench infer --batch 16`:
    /// SmolLM2 1.15x, Gemma 3 1.45x the tokens/s of candle's kernel).
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let head = &self.lm_head;
        if head.lora.is_none() {
            if let Some(logits) = head.int8_matmul(hidden) {
                return logits;
            }
        }
        match &head.weight {
            QMatMul::QTensor(q) if head.lora.is_none() && !head.dequantize => {
                let rows = hidden.elem_count() / hidden.dims().last().copied().unwrap_or(1).max(1);
                match rows > 1
                    && q.dtype() == GgmlDType::Q8_0
                    && quantized_matmul::applies(hidden, q)
                {
                    true => quantized_matmul::matmul_as_candle(hidden, q),
                    false => head.weight.forward(hidden),
                }
            }
            _ => head.forward(hidden, None),
        }
    }

    /// The summed negative log-likelihood of `targets` (one per row) under the
    /// head's logits for `hidden` (rows, hidden size). On the CPU the head and
    /// the loss are one autograd node (see `head_loss`), its products at
    /// `options.precision` (a trained head rounded with `options.seed`).
    pub fn summed_nll(
        &self,
        hidden: &Tensor,
        targets: &[u32],
        options: &ForwardOptions,
    ) -> Result<Tensor> {
        let head = &self.lm_head;
        let products = (options.precision, options.seed);
        if let Some(loss) = head_loss::summed_nll(hidden, head, targets, products, &self.gradients)?
        {
            return Ok(loss);
        }
        let targets = Tensor::new(targets, hidden.device())?;
        autograd::cross_entropy_sum(&self.logits(hidden)?, &targets)
    }

    /// Next-token logits (batch, vocab) after the last position of each row.
    pub fn next_token_logits(
        &mut self,
        ids: &Tensor,
        start: usize,
        padding: &[usize],
        options: &ForwardOptions,
    ) -> Result<Tensor> {
        let hidden = self.hidden_states(ids, start, padding, options)?;
        // Quantized matmuls need contiguous input; a batch's last positions are not.
        let last = hidden.narrow(1, hidden.dim(1)? - 1, 1)?.contiguous()?;
        self.logits(&last)?.squeeze(1)
    }

    /// Log-probabilities (batch, tokens - 1) of each token given those before it.
    pub fn token_log_probs(&mut self, ids: &Tensor, options: &ForwardOptions) -> Result<Tensor> {
        let tokens = ids.dim(1)?;
        let hidden = self.hidden_states(ids, 0, &[], options)?;
        let logits = self.logits(&hidden.narrow(1, 0, tokens - 1)?)?;
        let log_probs = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let targets = ids.narrow(1, 1, tokens - 1)?.unsqueeze(2)?;
        log_probs.gather(&targets, 2)?.squeeze(2)
    }
}
