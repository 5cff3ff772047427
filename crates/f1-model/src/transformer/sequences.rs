//! Sequences with their own KV caches, decoded together (continuous batching):
//! each sequence keeps its cache and position, so sequences can join and leave
//! between steps while the weights are read once per step for all of them.

use candle_core::{Result, Tensor};
use candle_nn::kv_cache::KvCache;

use super::layers::{Attention, ForwardOptions, PromptChunk, StepRows};
use super::mask::Masks;
use super::rope::Positions;
use super::{Kernels, Transformer};

/// One sequence's keys and values, a cache per layer.
#[derive(Debug)]
pub struct SequenceCache {
    layers: Vec<KvCache>,
}

impl SequenceCache {
    /// Positions cached so far.
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, KvCache::current_seq_len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A new cache holding a copy of this one's first `positions` keys and
    /// values (a prompt's shared beginning, to be read only once), with room for
    /// `room` positions before it grows.
    pub fn prefix(&self, positions: usize, room: usize) -> Result<SequenceCache> {
        if positions > self.len() {
            candle_core::bail!(
                "a prefix of {positions} positions from a cache of {}",
                self.len()
            );
        }
        let layers = self
            .layers
            .iter()
            .map(|layer| {
                let mut copy = Attention::empty_cache(room.max(positions));
                if let (Some(k), Some(v), true) = (layer.k()?, layer.v()?, positions > 0) {
                    let first = |t: Tensor| t.narrow(2, 0, positions)?.contiguous();
                    copy.append(&first(k)?, &first(v)?)?;
                }
                Ok(copy)
            })
            .collect::<Result<_>>()?;
        Ok(SequenceCache { layers })
    }
}

impl Transformer {
    /// An empty cache for a new sequence, with room for `room` positions before
    /// it grows (by as many again): a sequence's whole length, where known,
    /// allocates and zeroes no more than it uses.
    pub fn new_sequence_cache(&self, room: usize) -> SequenceCache {
        SequenceCache {
            layers: self
                .blocks
                .iter()
                .map(|_| Attention::empty_cache(room))
                .collect(),
        }
    }

    /// Swaps the model's own KV cache (the one [`Transformer::hidden_states`]
    /// extends) with `cache`, so a pass over several tokens of one sequence
    /// (its prompt, or a chunk of it) runs on that sequence's cache.
    pub fn swap_cache(&mut self, cache: &mut SequenceCache) {
        for (block, layer) in self.blocks.iter_mut().zip(&mut cache.layers) {
            block.attention.swap_cache(layer);
        }
    }

    /// Logits (sequences, vocab) after each sequence's new tokens: `inputs[r]`
    /// (one token to decode, or a chunk of a prompt) goes at positions
    /// `caches[r].len()..` of sequence `r`, whose cache gains them. Every new
    /// token is a row of one batch through the projections and MLPs, the weights
    /// read once for all; attention runs per sequence, so each computes what it
    /// would alone. Where a product's rows depend on how they group into
    /// sequences (llama.cpp's K-quant kernels), each prompt chunk runs alone.
    pub fn step_rows(
        &mut self,
        inputs: &[&[u32]],
        caches: &mut [&mut SequenceCache],
        options: &ForwardOptions,
    ) -> Result<Tensor> {
        if inputs.len() != caches.len() || inputs.iter().any(|tokens| tokens.is_empty()) {
            candle_core::bail!(
                "a step of {} sequences with inputs of {:?} tokens",
                caches.len(),
                inputs.iter().map(|tokens| tokens.len()).collect::<Vec<_>>()
            );
        }
        let (decoding, chunks): (Vec<usize>, Vec<usize>) =
            (0..inputs.len()).partition(|&r| inputs[r].len() == 1);
        if !chunks.is_empty() && !self.rows_independent() {
            return self.step_chunks_alone(inputs, caches, &decoding, options);
        }
        // The rows: the decoding sequences' tokens, then each chunk's.
        let order: Vec<usize> = decoding.iter().chain(&chunks).copied().collect();
        let ids: Vec<u32> = order.iter().flat_map(|&r| inputs[r]).copied().collect();
        let rows = ids.len();
        let mut ordered = in_order(caches, &order);
        let lengths: Vec<usize> = ordered.iter().map(|cache| cache.len()).collect();
        // Slot `start` of a decoding row with `start - length` padding slots is
        // position `length`.
        let (decoding_lengths, chunk_lengths) = lengths.split_at(decoding.len());
        let start = decoding_lengths.iter().copied().max().unwrap_or(0);
        let padding: Vec<usize> = (decoding_lengths.iter())
            .map(|&length| start - length)
            .collect();
        let device = self.device().clone();
        let masks = |tokens: usize, length: usize| {
            Masks::new(&self.config, 1, tokens, length, &[], &device)
        };
        let decoding_masks = (decoding_lengths.iter())
            .map(|&length| masks(1, length))
            .collect::<Result<Vec<_>>>()?;
        let chunk_masks = (chunks.iter().zip(chunk_lengths))
            .map(|(&r, &length)| masks(inputs[r].len(), length))
            .collect::<Result<Vec<_>>>()?;
        let ids = Tensor::new(ids, &device)?.reshape((rows, 1))?;
        let mut x = self.embed(&ids, Kernels::Fused)?;
        for (layer, block) in self.blocks.iter_mut().enumerate() {
            let row_masks: Vec<Option<&Tensor>> = (decoding_masks.iter())
                .map(|m| m.for_block(block.sliding))
                .collect();
            let prompt_chunks: Vec<PromptChunk> = (chunks.iter().zip(chunk_lengths))
                .zip(&chunk_masks)
                .map(|((&r, &length), mask)| PromptChunk {
                    tokens: inputs[r].len(),
                    positions: Positions::new(length, &[]),
                    mask: mask.for_block(block.sliding),
                })
                .collect();
            let step = StepRows {
                decoding: Positions::new(start, &padding),
                decoding_masks: &row_masks,
                chunks: &prompt_chunks,
            };
            let mut layer_caches: Vec<&mut KvCache> =
                ordered.iter_mut().map(|c| &mut c.layers[layer]).collect();
            x = block.forward_rows(&x, &step, &mut layer_caches, options)?;
        }
        // Each sequence's last row, in the order of `inputs`.
        let mut last = vec![0u32; inputs.len()];
        let mut row = 0;
        for &r in &order {
            row += inputs[r].len();
            last[r] = (row - 1) as u32;
        }
        let x = x.index_select(&Tensor::new(last, &device)?, 0)?;
        let x = self.norm.forward(&x, options.kernels)?;
        self.logits(&x)?.squeeze(1)
    }

    /// [`Transformer::step_rows`] with each prompt chunk run alone on its
    /// sequence's cache, then the decoding rows (`decoding`) together.
    fn step_chunks_alone(
        &mut self,
        inputs: &[&[u32]],
        caches: &mut [&mut SequenceCache],
        decoding: &[usize],
        options: &ForwardOptions,
    ) -> Result<Tensor> {
        let mut logits: Vec<Option<Tensor>> = vec![None; inputs.len()];
        for (r, (tokens, cache)) in inputs.iter().zip(caches.iter_mut()).enumerate() {
            if tokens.len() > 1 {
                let start = cache.len();
                let ids = Tensor::new(*tokens, self.device())?.unsqueeze(0)?;
                self.swap_cache(cache);
                let chunk = self.next_token_logits(&ids, start, &[], options);
                self.swap_cache(cache);
                logits[r] = Some(chunk?);
            }
        }
        if !decoding.is_empty() {
            let tokens: Vec<&[u32]> = decoding.iter().map(|&r| inputs[r]).collect();
            let rows = self.step_rows(&tokens, &mut in_order(caches, decoding), options)?;
            for (row, &r) in decoding.iter().enumerate() {
                logits[r] = Some(rows.narrow(0, row, 1)?);
            }
        }
        let logits: Vec<Tensor> = logits
            .into_iter()
            .map(|row| row.expect("every sequence's logits"))
            .collect();
        Tensor::cat(&logits, 0)
    }
}

/// `caches[order[0]]`, `caches[order[1]]`, ..., each index at most once.
fn in_order<'a>(
    caches: &'a mut [&mut SequenceCache],
    order: &[usize],
) -> Vec<&'a mut SequenceCache> {
    let mut slots: Vec<Option<&mut SequenceCache>> =
        caches.iter_mut().map(|cache| Some(&mut **cache)).collect();
    (order.iter())
        .map(|&r| slots[r].take().expect("each sequence once"))
        .collect()
}
