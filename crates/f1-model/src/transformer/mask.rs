//! Additive attention masks: causal, sliding window and left padding.

use candle_core::{Device, Result, Tensor};

use super::config::TransformerConfig;

/// The masks one forward pass needs: for global and for sliding-window layers.
pub struct Masks {
    global: Option<Tensor>,
    sliding: Option<Tensor>,
}

impl Masks {
    pub fn new(
        config: &TransformerConfig,
        batch: usize,
        tokens: usize,
        start: usize,
        padding: &[usize],
        device: &Device,
    ) -> Result<Self> {
        let positions = start + tokens;
        let padded = padding.iter().any(|&p| p > 0);
        let build = |window: Option<usize>| -> Result<Option<Tensor>> {
            let window_bites = window.is_some_and(|w| positions > w);
            if tokens == 1 && !padded && !window_bites {
                return Ok(None);
            }
            let rows = if padded { batch } else { 1 };
            let mut values = Vec::with_capacity(rows * tokens * positions);
            for row in 0..rows {
                let pad = padding.get(row).copied().unwrap_or(0);
                for i in 0..tokens {
                    let query = start + i;
                    for key in 0..positions {
                        // A padding position sees only itself, so no row is empty.
                        let visible = if query < pad {
                            key == query
                        } else {
                            key <= query && key >= pad && window.is_none_or(|w| query - key < w)
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
