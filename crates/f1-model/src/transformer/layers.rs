//! The pieces of a decoder block: RMS norm, attention with a KV cache, the MLP.

use candle_core::{DType, Result, Tensor};
use candle_nn::kv_cache::KvCache;

use super::attention_core::{attention_core, Heads, Rotation};
use super::config::{Architecture, TransformerConfig};
use super::cpu_pool::for_each_chunk;
use super::dense_product::ProductPrecision;
use super::gated_activation::{gated_activation, Activation};
use super::linear::Linear;
use super::llama_cpp_rounding::{self, KeysValues};
use super::rope::{Positions, Rope};
use super::Kernels;

/// RMS normalisation with a learned scale.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    pub weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    pub fn new(weight: Tensor, eps: f64) -> Self {
        Self { weight, eps }
    }

    /// The differentiable kernel of this norm.
    pub(crate) fn kernel(&self) -> super::autograd::RmsNorm {
        super::autograd::RmsNorm::new(self.eps)
    }

    pub fn forward(&self, x: &Tensor, kernels: Kernels) -> Result<Tensor> {
        match kernels {
            Kernels::LlamaCpp if x.device().is_cpu() => {
                llama_cpp_rounding::rms_norm(x, &self.weight, self.eps as f32)
            }
            Kernels::Fused | Kernels::LlamaCpp => {
                candle_nn::ops::rms_norm(x, &self.weight, self.eps as f32)
            }
            Kernels::Differentiable => super::autograd::rms_norm(x, &self.weight, self.eps),
        }
    }
}

/// The gated MLP: down(act(gate(x)) * up(x)).
#[derive(Debug, Clone)]
pub struct Mlp {
    pub gate: Linear,
    pub up: Linear,
    pub down: Linear,
    pub architecture: Architecture,
}

impl Mlp {
    pub fn forward(&self, x: &Tensor, options: &ForwardOptions) -> Result<Tensor> {
        let seed = options.seed;
        let activation = match self.architecture {
            Architecture::Llama => Activation::Silu,
            Architecture::Gemma3 => Activation::GeluTanh,
        };
        let (gate, up) = match Linear::int8_matmul_each([&self.gate, &self.up], x).transpose()? {
            Some([gate, up]) => (gate, up),
            None => (self.gate.forward(x, seed)?, self.up.forward(x, seed)?),
        };
        let gated = if options.kernels == Kernels::LlamaCpp && gate.device().is_cpu() {
            llama_cpp_rounding::gated_activation(&gate, &up, activation)?
        } else {
            gated_activation(&gate, &up, activation)?
        };
        self.down.forward(&gated, seed)
    }
}

/// Grouped-query self-attention with rotary positions and a KV cache.
#[derive(Debug)]
pub struct Attention {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    /// Per-head norms of queries and keys (Gemma 3).
    pub q_norm: Option<RmsNorm>,
    pub k_norm: Option<RmsNorm>,
    pub rope: Rope,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    /// Whether llama.cpp scales the queries (in f32, before their f16 copy)
    /// instead of the scores: Gemma's graph does, Llama's scales in the softmax.
    scaled_queries: bool,
    /// Keys and values (batch, kv_heads, positions, head_dim) of the positions
    /// seen so far. Its buffers have room for more positions, so a decoded token
    /// is written in place instead of copying the whole cache; they are shared by
    /// no other value (nothing clones an `Attention`).
    cache: KvCache,
}

/// Positions a model's own cache has room for before it grows (by as many again).
const CACHE_POSITIONS: usize = 512;
/// The least room a sequence's cache is made with.
const LEAST_CACHE_POSITIONS: usize = 16;

impl Attention {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        q: Linear,
        k: Linear,
        v: Linear,
        o: Linear,
        q_norm: Option<RmsNorm>,
        k_norm: Option<RmsNorm>,
        rope: Rope,
        config: &TransformerConfig,
    ) -> Self {
        Self {
            q,
            k,
            v,
            o,
            q_norm,
            k_norm,
            rope,
            heads: config.heads,
            kv_heads: config.kv_heads,
            head_dim: config.head_dim,
            scaled_queries: config.architecture != Architecture::Llama,
            cache: KvCache::new(2, CACHE_POSITIONS),
        }
    }

    /// Forgets the cached keys and values (and frees them).
    pub fn reset_cache(&mut self) {
        self.cache.reset();
    }

    /// Repeats the cached keys and values `n` times along the batch, so `n`
    /// continuations of one cached prefix run as one batch.
    pub fn repeat_cache(&mut self, n: usize) -> Result<()> {
        if let (Some(k), Some(v)) = (self.cache.k()?, self.cache.v()?) {
            let (k, v) = (k.repeat((n, 1, 1, 1))?, v.repeat((n, 1, 1, 1))?);
            self.cache.reset();
            self.cache.append(&k, &v)?;
        }
        Ok(())
    }

    /// `x`: (batch, tokens, hidden) in slots `positions.start..`; `mask`:
    /// additive, (batch, 1, 1, tokens, start + tokens), or `None` when every
    /// cached slot is visible.
    pub fn forward(
        &mut self,
        x: &Tensor,
        positions: Positions,
        mask: Option<&Tensor>,
        options: &ForwardOptions,
    ) -> Result<Tensor> {
        if options.kernels == Kernels::Differentiable
            && x.device().is_cpu()
            && positions.start == 0
            && !options.use_cache
        {
            return self.forward_training(x, positions, mask, options.seed);
        }
        let start = positions.start;
        let projected = self.project(x, positions, options)?;
        let (k, v) = if options.use_cache {
            if start == 0 {
                self.cache.reset();
            }
            self.cache.append(&projected.k, &projected.v)?
        } else {
            match (self.cache.k()?, self.cache.v()?) {
                (Some(past_k), Some(past_v)) if start > 0 => (
                    Tensor::cat(&[&past_k, &projected.k], 2)?,
                    Tensor::cat(&[&past_v, &projected.v], 2)?,
                ),
                _ => (projected.k, projected.v),
            }
        };
        let out = self.attend(&projected.q, &k, &v, mask, projected.scale_scores, options)?;
        self.o.forward(&out, options.seed)
    }

    /// The new tokens of several sequences, each with its own KV cache, as the
    /// rows of `x` (rows, 1, hidden) laid out as `rows` says. The projections run
    /// over every row as one batch; on llama.cpp's kernels the decoding rows'
    /// attention runs in one parallel loop, and each prompt chunk's as it would
    /// alone. `caches[i]` is the cache of the `i`-th sequence in that layout.
    pub(crate) fn forward_rows(
        &mut self,
        x: &Tensor,
        rows: &StepRows,
        caches: &mut [&mut KvCache],
        options: &ForwardOptions,
    ) -> Result<Tensor> {
        let [q, k, v] = self.projections(x, options.seed)?;
        let decoding = rows.decoding_masks.len();
        let (decoding_caches, chunk_caches) = caches.split_at_mut(decoding);
        let mut outs = Vec::with_capacity(1 + rows.chunks.len());
        if decoding > 0 {
            let first = |t: &Tensor| t.narrow(0, 0, decoding);
            let projected =
                self.prepare([first(&q)?, first(&k)?, first(&v)?], rows.decoding, options)?;
            outs.push(self.attend_decoding(
                projected,
                decoding_caches,
                rows.decoding_masks,
                options,
            )?);
        }
        let mut first_row = decoding;
        for (chunk, cache) in rows.chunks.iter().zip(chunk_caches) {
            let tokens = chunk.tokens;
            let own = |t: &Tensor| t.narrow(0, first_row, tokens)?.reshape((1, tokens, ()));
            let projected =
                self.prepare([own(&q)?, own(&k)?, own(&v)?], chunk.positions, options)?;
            let (k, v) = cache.append(&projected.k, &projected.v)?;
            let out = self.attend(
                &projected.q,
                &k,
                &v,
                chunk.mask,
                projected.scale_scores,
                options,
            )?;
            outs.push(out.reshape((tokens, 1, ()))?);
            first_row += tokens;
        }
        self.o.forward(&Tensor::cat(&outs, 0)?, options.seed)
    }

    /// The attention of the decoding rows (one new token each, `projected` of
    /// shape (rows, heads, 1, head_dim)): each row's keys and values join its
    /// cache, then (under `masks[r]`, if any) on llama.cpp's kernels every row's
    /// heads run in one parallel loop. Returns (rows, 1, hidden).
    fn attend_decoding(
        &self,
        projected: Projected,
        caches: &mut [&mut KvCache],
        masks: &[Option<&Tensor>],
        options: &ForwardOptions,
    ) -> Result<Tensor> {
        // Each row's keys and values join its cache, the rows on candle's threads.
        let mut appended: Vec<(&mut KvCache, Option<(Tensor, Tensor)>)> = caches
            .iter_mut()
            .map(|cache| (&mut **cache, None))
            .collect();
        let count = appended.len();
        for_each_chunk([(&mut appended[..], 1)], count, |row, [slot]| {
            let (cache, keys_values) = &mut slot[0];
            *keys_values = Some(cache.append(
                &projected.k.narrow(0, row, 1)?.contiguous()?,
                &projected.v.narrow(0, row, 1)?.contiguous()?,
            )?);
            Ok(())
        })?;
        let keys_values: Vec<(Tensor, Tensor)> = appended
            .into_iter()
            .map(|(_, keys_values)| keys_values.expect("every row appended"))
            .collect();
        if options.kernels == Kernels::LlamaCpp && projected.q.device().is_cpu() {
            // Every row's heads in one parallel loop.
            let sequences: Vec<KeysValues> = keys_values
                .iter()
                .zip(masks)
                .map(|((k, v), &mask)| KeysValues { k, v, mask })
                .collect();
            let scale = self.scores_scale(projected.scale_scores);
            let out = llama_cpp_rounding::attention_of_sequences(&projected.q, &sequences, scale)?;
            return self.merge_heads(out);
        }
        let outs = keys_values
            .iter()
            .zip(masks)
            .enumerate()
            .map(|(row, ((k, v), &mask))| {
                let q = projected.q.narrow(0, row, 1)?;
                self.attend(&q, k, v, mask, projected.scale_scores, options)
            })
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&outs, 0)
    }

    /// Swaps this layer's KV cache with `other` (a sequence's own).
    pub(crate) fn swap_cache(&mut self, other: &mut KvCache) {
        std::mem::swap(&mut self.cache, other);
    }

    /// A new, empty KV cache of this layer's kind, with room for `room`
    /// positions (at least 16) before it grows by as many again.
    pub(crate) fn empty_cache(room: usize) -> KvCache {
        KvCache::new(2, room.max(LEAST_CACHE_POSITIONS))
    }

    /// Queries, keys and values (batch, heads, tokens, head_dim) of `x`, normed
    /// (Gemma 3), rotated and, for llama.cpp's kernels, rounded to f16.
    fn project(
        &self,
        x: &Tensor,
        positions: Positions,
        options: &ForwardOptions,
    ) -> Result<Projected> {
        let projections = self.projections(x, options.seed)?;
        self.prepare(projections, positions, options)
    }

    /// The query, key and value projections of `x` (batch, tokens, hidden).
    fn projections(&self, x: &Tensor, seed: Option<u64>) -> Result<[Tensor; 3]> {
        match Linear::int8_matmul_each([&self.q, &self.k, &self.v], x).transpose()? {
            Some(projections) => Ok(projections),
            None => Ok([
                self.q.forward(x, seed)?,
                self.k.forward(x, seed)?,
                self.v.forward(x, seed)?,
            ]),
        }
    }

    /// [`Attention::project`] after the projections `[q, k, v]`, each (batch,
    /// tokens, heads * head_dim).
    fn prepare(
        &self,
        [q, k, v]: [Tensor; 3],
        positions: Positions,
        options: &ForwardOptions,
    ) -> Result<Projected> {
        let (batch, tokens, _) = q.dims3()?;
        let split = |t: Tensor, heads: usize| {
            t.reshape((batch, tokens, heads, self.head_dim))?
                .transpose(1, 2)
        };
        let mut q = split(q, self.heads)?;
        let mut k = split(k, self.kv_heads)?;
        let mut v = split(v, self.kv_heads)?.contiguous()?;
        if let Some(norm) = &self.q_norm {
            q = norm.forward(&q.contiguous()?, options.kernels)?;
        }
        if let Some(norm) = &self.k_norm {
            k = norm.forward(&k.contiguous()?, options.kernels)?;
        }
        let mut q = self.rope.apply(&q, positions, options.kernels)?;
        let mut k = self.rope.apply(&k, positions, options.kernels)?;
        // Whether the scores still need the scale (not yet applied to the queries).
        let mut scale_scores = true;
        if options.kernels == Kernels::LlamaCpp {
            // Scaling the queries first rounds their smallest values differently.
            if self.scaled_queries {
                q = (q * f64::from(self.heads().scale))?;
                scale_scores = false;
            }
            q = round_to_f16(&q)?;
            // On the CPU keys and values stay f16, as llama.cpp's KV cache holds
            // them (half the bytes each decode step reads); elsewhere candle's f32
            // attention reads them.
            (k, v) = match q.device().is_cpu() {
                true => (k.to_dtype(DType::F16)?, v.to_dtype(DType::F16)?),
                false => (round_to_f16(&k)?, round_to_f16(&v)?),
            };
        }
        Ok(Projected {
            q,
            k: k.contiguous()?,
            v,
            scale_scores,
        })
    }

    /// Attention of queries `q` (batch, heads, tokens, d) over keys and values
    /// (batch, kv_heads, positions, d), heads merged: (batch, tokens, hidden).
    fn attend(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
        scale_scores: bool,
        options: &ForwardOptions,
    ) -> Result<Tensor> {
        let (batch, _, tokens, _) = q.dims4()?;
        let positions = k.dim(2)?;
        let f16_attention = options.kernels == Kernels::LlamaCpp;
        if f16_attention && q.device().is_cpu() {
            let scale = self.scores_scale(scale_scores);
            return self.merge_heads(llama_cpp_rounding::attention(q, k, v, mask, scale)?);
        }
        // Queries of one KV group share its keys: (batch, kv_heads, group * tokens, d).
        let group = self.heads / self.kv_heads;
        let q = q.reshape((batch, self.kv_heads, group * tokens, self.head_dim))?;
        let scale = if scale_scores {
            1.0 / (self.head_dim as f64).sqrt()
        } else {
            1.0
        };
        let scores = (q.matmul(&k.t()?)? * scale)?;
        let scores = match mask {
            Some(mask) => scores
                .reshape((batch, self.kv_heads, group, tokens, positions))?
                .broadcast_add(mask)?
                .reshape((batch, self.kv_heads, group * tokens, positions))?,
            None => scores,
        };
        let mut weights = match options.kernels {
            Kernels::Fused | Kernels::LlamaCpp => candle_nn::ops::softmax_last_dim(&scores)?,
            Kernels::Differentiable => super::autograd::softmax(&scores)?,
        };
        if f16_attention {
            weights = round_to_f16(&weights)?;
        }
        self.merge_heads(weights.matmul(v)?)
    }

    /// llama.cpp's scale of the scores: 1 once the queries carry it.
    fn scores_scale(&self, scale_scores: bool) -> f32 {
        match scale_scores {
            true => self.heads().scale,
            false => 1.0,
        }
    }

    /// Attention's output (batch, heads, tokens, d), or its heads grouped by
    /// key/value head, as (batch, tokens, hidden).
    fn merge_heads(&self, out: Tensor) -> Result<Tensor> {
        let batch = out.dim(0)?;
        let hidden = self.heads * self.head_dim;
        let tokens = out.elem_count() / (batch * hidden).max(1);
        out.reshape((batch, self.heads, tokens, self.head_dim))?
            .transpose(1, 2)?
            .reshape((batch, tokens, hidden))
    }

    /// The shape of the heads and the scores' scale.
    pub(crate) fn heads(&self) -> Heads {
        Heads {
            heads: self.heads,
            kv_heads: self.kv_heads,
            head_dim: self.head_dim,
            scale: 1.0 / (self.head_dim as f32).sqrt(),
        }
    }

    /// A training pass on the CPU over whole sequences: the attention between
    /// the projections is one autograd node (see `attention_core`).
    fn forward_training(
        &self,
        x: &Tensor,
        positions: Positions,
        mask: Option<&Tensor>,
        seed: Option<u64>,
    ) -> Result<Tensor> {
        let (batch, tokens, _) = x.dims3()?;
        let d = self.head_dim;
        // Gemma 3's per-head norms, over the heads' dimensions in place.
        let normed = |t: Tensor, heads: usize, norm: &Option<RmsNorm>| match norm {
            Some(norm) => norm
                .forward(
                    &t.reshape((batch, tokens, heads, d))?,
                    Kernels::Differentiable,
                )?
                .reshape((batch, tokens, heads * d)),
            None => Ok(t),
        };
        let q = normed(self.q.forward(x, seed)?, self.heads, &self.q_norm)?;
        let k = normed(self.k.forward(x, seed)?, self.kv_heads, &self.k_norm)?;
        let v = self.v.forward(x, seed)?;
        let (cos, sin) = self.rope.tables(positions, batch, tokens)?;
        let rotation = Rotation {
            cos: &cos,
            sin: &sin,
            interleaved: self.rope.interleaved(),
        };
        let out = attention_core(&q, &k, &v, self.heads(), rotation, mask)?;
        self.o.forward(&out, seed)
    }
}

fn round_to_f16(x: &Tensor) -> Result<Tensor> {
    x.to_dtype(DType::F16)?.to_dtype(DType::F32)
}

/// How the rows of a step of several sequences lie (see
/// `Transformer::step_rows`): first one new token of each decoding sequence,
/// then each prompt chunk's tokens in turn.
pub(crate) struct StepRows<'a> {
    /// The decoding rows' positions.
    pub decoding: Positions<'a>,
    /// Each decoding row's mask (`None`: it sees its whole cache).
    pub decoding_masks: &'a [Option<&'a Tensor>],
    pub chunks: &'a [PromptChunk<'a>],
}

/// Consecutive tokens of one sequence's prompt, read in a step.
pub(crate) struct PromptChunk<'a> {
    pub tokens: usize,
    pub positions: Positions<'a>,
    pub mask: Option<&'a Tensor>,
}

/// An attention layer's queries, keys and values for new tokens.
struct Projected {
    q: Tensor,
    k: Tensor,
    v: Tensor,
    /// Whether the scores still need the scale (not yet applied to the queries).
    scale_scores: bool,
}

/// How a forward pass runs.
#[derive(Debug, Clone, Copy)]
pub struct ForwardOptions {
    pub kernels: Kernels,
    /// Keep keys and values for the next call.
    pub use_cache: bool,
    /// Seeds the training pass's randomness: LoRA dropout, and at bf16 the
    /// stochastic rounding of trained weights; `None` (inference, evaluation)
    /// turns both off.
    pub seed: Option<u64>,
    /// The operands of the training pass's matrix products (bf16 for mixed
    /// precision); other kernels multiply as they always do.
    pub precision: ProductPrecision,
}

impl ForwardOptions {
    /// Generation: fused kernels rounding as llama.cpp's, KV cache.
    pub fn inference() -> Self {
        Self {
            kernels: Kernels::LlamaCpp,
            use_cache: true,
            seed: None,
            precision: ProductPrecision::F32,
        }
    }

    /// Scoring whole sequences without gradients: the training pass's kernels
    /// (on the CPU a block is one node with its own kernels, about 1.5x faster
    /// here than candle's op by op), no cache, no dropout.
    pub fn scoring() -> Self {
        Self {
            kernels: Kernels::Differentiable,
            use_cache: false,
            seed: None,
            precision: ProductPrecision::F32,
        }
    }

    /// A training pass over whole sequences, with gradients, its products at
    /// `precision`.
    pub fn training(seed: Option<u64>, precision: ProductPrecision) -> Self {
        Self {
            kernels: Kernels::Differentiable,
            use_cache: false,
            seed,
            precision,
        }
    }
}

/// One decoder block.
#[derive(Debug)]
pub struct Block {
    pub attention_norm: RmsNorm,
    pub attention: Attention,
    /// Gemma 3's norm of the attention output.
    pub post_attention_norm: Option<RmsNorm>,
    pub mlp_norm: RmsNorm,
    pub mlp: Mlp,
    /// Gemma 3's norm of the MLP output.
    pub post_mlp_norm: Option<RmsNorm>,
    /// Whether this block attends only within the sliding window.
    pub sliding: bool,
}

impl Block {
    /// The block with one autograd node per kernel (a training pass on the CPU
    /// runs it as one node instead: see `block_node`).
    pub fn forward(
        &mut self,
        x: &Tensor,
        positions: Positions,
        mask: Option<&Tensor>,
        options: &ForwardOptions,
    ) -> Result<Tensor> {
        self.forward_with(x, options, |attention, h| {
            attention.forward(h, positions, mask, options)
        })
    }

    /// The block for the new tokens of several sequences, each with its own KV
    /// cache (see [`Attention::forward_rows`]).
    pub(crate) fn forward_rows(
        &mut self,
        x: &Tensor,
        rows: &StepRows,
        caches: &mut [&mut KvCache],
        options: &ForwardOptions,
    ) -> Result<Tensor> {
        self.forward_with(x, options, |attention, h| {
            attention.forward_rows(h, rows, caches, options)
        })
    }

    /// The block around `attend`, which runs the attention on the normed input.
    fn forward_with(
        &mut self,
        x: &Tensor,
        options: &ForwardOptions,
        attend: impl FnOnce(&mut Attention, &Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let h = self.attention_norm.forward(x, options.kernels)?;
        let mut h = attend(&mut self.attention, &h)?;
        if let Some(norm) = &self.post_attention_norm {
            h = norm.forward(&h, options.kernels)?;
        }
        let x = (x + h)?;
        let h = self.mlp_norm.forward(&x, options.kernels)?;
        let mut h = self.mlp.forward(&h, options)?;
        if let Some(norm) = &self.post_mlp_norm {
            h = norm.forward(&h, options.kernels)?;
        }
        x + h
    }
}
