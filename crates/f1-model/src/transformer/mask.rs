//! Additive attention masks: causal, sliding window and left padding.

use candle_core::{Device, Result, Tensor};

use super::config::TransformerConfig;

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
        let segment = |row: usize, position: usize| {
            let pad = padding.get(row).copied().unwrap_or(0);
            u32::from(position >= pad)
        };
        Self::build(config, rows, tokens, start, device, needed, segment)
    }

    /// Causal masks for packed rows: `segments[b][i]` names the sequence position
    /// `i` of row `b` belongs to; positions attend only within their own sequence,
    /// and segment 0 is padding.
    pub fn packed(
        config: &TransformerConfig,
        segments: &[Vec<u32>],
        device: &Device,
    ) -> Result<Self> {
        let tokens = segments.first().map_or(0, Vec::len);
        let segment = |row: usize, position: usize| segments[row][position];
        Self::build(config, segments.len(), tokens, 0, device, |_| true, segment)
    }

    fn build(
        config: &TransformerConfig,
        rows: usize,
        tokens: usize,
        start: usize,
        device: &Device,
        needed: impl Fn(Option<usize>) -> bool,
        segment: impl Fn(usize, usize) -> u32,
    ) -> Result<Self> {
        let positions = start + tokens;
        let build = |window: Option<usize>| -> Result<Option<Tensor>> {
            if !needed(window) {
                return Ok(None);
            }
            let mut values = Vec::with_capacity(rows * tokens * positions);
            for row in 0..rows {
                for i in 0..tokens {
                    let query = start + i;
                    let own = segment(row, query);
                    for key in 0..positions {
                        // A padding position sees only itself, so no row is empty.
                        let visible = if own == 0 {
                            key == query
                        } else {
                            key <= query
                                && segment(row, key) == own
                                && window.is_none_or(|w| query - key < w)
                        };
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
