//! Additive attention masks: causal, sliding window, left padding and packed
//! rows.

use candle_core::{Device, Result, Tensor};

use super::config::TransformerConfig;

/// Several sequences per row: `segments[b][i]` names the sequence token `i` of
/// row `b` belongs to (0: padding). A sequence may continue another placed
/// before it in the row (`prefixes[b][s]`: the sequence `s` continues, 0 for
/// none), seeing its tokens as its own beginning: choices scored after one
/// shared question, say.
#[derive(Debug, Clone, Copy)]
pub struct Packing<'a> {
    pub segments: &'a [Vec<u32>],
    pub prefixes: Option<&'a [Vec<u32>]>,
}

impl Packing<'_> {
    /// The sequence that sequence `segment` of `row` continues (0: none).
    fn prefix(&self, row: usize, segment: u32) -> u32 {
        self.prefixes
            .and_then(|p| p[row].get(segment as usize).copied())
            .unwrap_or(0)
    }

    /// Each token's position in its own sequence, counting a continued
    /// sequence's tokens first (padding at 0).
    pub fn positions(&self) -> Vec<Vec<u32>> {
        self.segments
            .iter()
            .enumerate()
            .map(|(row, segments)| {
                let mut lengths = std::collections::HashMap::<u32, u32>::new();
                segments
                    .iter()
                    .map(|&segment| {
                        if segment == 0 {
                            return 0;
                        }
                        let prefix = self.prefix(row, segment);
                        let before = match prefix {
                            0 => 0,
                            p => lengths.get(&p).copied().unwrap_or(0),
                        };
                        let seen = lengths.entry(segment).or_insert(0);
                        *seen += 1;
                        before + *seen - 1
                    })
                    .collect()
            })
            .collect()
    }
}

/// The masks one forward pass needs: for global and for sliding-window layers.
pub struct Masks {
    global: Option<Tensor>,
    sliding: Option<Tensor>,
}

impl Masks {
    /// Causal masks for rows whose first `padding[b]` positions are left padding,
    /// for queries at positions `start..start + tokens`.
    pub fn new(
        config: &TransformerConfig,
        batch: usize,
        tokens: usize,
        start: usize,
        padding: &[usize],
        device: &Device,
    ) -> Result<Self> {
        let padded = padding.iter().any(|&p| p > 0);
        let rows = if padded { batch } else { 1 };
        let positions = start + tokens;
        let needed =
            |window: Option<usize>| tokens > 1 || padded || window.is_some_and(|w| positions > w);
        let distance = |row: usize, query: usize, key: usize| {
            let pad = padding.get(row).copied().unwrap_or(0);
            match query >= pad {
                true => (key >= pad && key <= query).then(|| query - key),
                // A padding position sees only itself, so no row is empty.
                false => (key == query).then_some(0),
            }
        };
        Self::build(config, rows, tokens, start, device, needed, distance)
    }

    /// Causal masks for packed rows (see [`Packing`]): a token sees the earlier
    /// tokens of its own sequence and of the sequence that one continues.
    pub fn packed(config: &TransformerConfig, packing: &Packing, device: &Device) -> Result<Self> {
        let tokens = packing.segments.first().map_or(0, Vec::len);
        let positions = packing.positions();
        let distance = |row: usize, query: usize, key: usize| {
            let own = packing.segments[row][query];
            let of_key = packing.segments[row][key];
            let visible = if own == 0 {
                key == query
            } else {
                key <= query && (of_key == own || of_key == packing.prefix(row, own))
            };
            visible.then(|| (positions[row][query] - positions[row][key]) as usize)
        };
        Self::build(
            config,
            packing.segments.len(),
            tokens,
            0,
            device,
            |_| true,
            distance,
        )
    }

    /// `distance(row, query, key)`: how many positions the key lies before the
    /// query when the query may see it, else None.
    fn build(
        config: &TransformerConfig,
        rows: usize,
        tokens: usize,
        start: usize,
        device: &Device,
        needed: impl Fn(Option<usize>) -> bool,
        distance: impl Fn(usize, usize, usize) -> Option<usize>,
    ) -> Result<Self> {
        let positions = start + tokens;
        let build = |window: Option<usize>| -> Result<Option<Tensor>> {
            if !needed(window) {
                return Ok(None);
            }
            let mut values = Vec::with_capacity(rows * tokens * positions);
            for row in 0..rows {
                for i in 0..tokens {
                    for key in 0..positions {
                        let visible = distance(row, start + i, key)
                            .is_some_and(|d| window.is_none_or(|w| d < w));
                        values.push(if visible { 0f32 } else { f32::NEG_INFINITY });
                    }
                }
            }
            Tensor::from_vec(values, (rows, 1, 1, tokens, positions), device).map(Some)
        };
        Ok(Self {
            global: build(None)?,
            sliding: match config.sliding_window {
                Some(window) => build(Some(window))?,
                None => None,
            },
        })
    }

    pub fn for_block(&self, sliding: bool) -> Option<&Tensor> {
        if sliding {
            self.sliding.as_ref()
        } else {
            self.global.as_ref()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_positions_restart_with_each_sequence_and_continue_a_prefix() {
        let segments = vec![vec![1, 1, 1, 2, 2, 0, 0], vec![1, 1, 2, 3, 3, 3, 0]];
        let alone = Packing {
            segments: &segments,
            prefixes: None,
        };
        assert_eq!(
            alone.positions(),
            vec![vec![0, 1, 2, 0, 1, 0, 0], vec![0, 1, 0, 0, 1, 2, 0]]
        );
        // Row 1: sequences 2 and 3 both continue sequence 1 (two tokens long).
        let prefixes = vec![vec![0, 0, 0], vec![0, 0, 1, 1]];
        let shared = Packing {
            segments: &segments,
            prefixes: Some(&prefixes),
        };
        assert_eq!(shared.positions()[1], vec![0, 1, 2, 2, 3, 4, 0]);
    }
}
