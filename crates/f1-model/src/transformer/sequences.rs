//! Sequences with their own KV caches, decoded together (continuous batching):
//! each sequence keeps its cache and position, so sequences can join and leave
//! between steps while the weights are read once per step for all of them.

use candle_core::{Result, Tensor};
use candle_nn::kv_cache::KvCache;

use super::layers::{Attention, ForwardOptions};
use super::mask::Masks;
use super::rope::Positions;
use super::Transformer;

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

    /// Logits (sequences, vocab) after one new token of each sequence:
    /// `tokens[r]` goes at position `caches[r].len()` of sequence `r`, whose
    /// cache gains it. The projections and MLPs run as one batch, attention per
    /// sequence, so each row computes what it would alone.
    pub fn decode_rows(
        &mut self,
        tokens: &[u32],
        caches: &mut [&mut SequenceCache],
        options: &ForwardOptions,
    ) -> Result<Tensor> {
        let lengths: Vec<usize> = caches.iter().map(|c| c.len()).collect();
        // Slot `start` of a row with `start - length` padding slots is position `length`.
        let start = lengths.iter().copied().max().unwrap_or(0);
        let padding: Vec<usize> = lengths.iter().map(|&length| start - length).collect();
        let positions = Positions::new(start, &padding);
        let masks = lengths
            .iter()
            .map(|&length| Masks::new(&self.config, 1, 1, length, &[], self.device()))
            .collect::<Result<Vec<_>>>()?;
        let ids = Tensor::new(tokens, self.device())?.reshape((tokens.len(), 1))?;
        let mut x = self.embed(&ids)?;
        for (layer, block) in self.blocks.iter_mut().enumerate() {
            let row_masks: Vec<Option<&Tensor>> =
                masks.iter().map(|m| m.for_block(block.sliding)).collect();
            let mut layer_caches: Vec<&mut KvCache> =
                caches.iter_mut().map(|c| &mut c.layers[layer]).collect();
            x = block.forward_rows(&x, positions, &mut layer_caches, &row_masks, options)?;
        }
        let x = self.norm.forward(&x, options.kernels)?;
        self.logits(&x)?.squeeze(1)
    }
}
