//! A trained weight rounded to bf16 stochastically for the forward product of
//! bf16 training (Gupta et al., 2015, "Deep Learning with Limited Numerical
//! Precision"): a value goes to the bf16 above it with probability equal to its
//! distance from the one below, in bf16 steps, so the rounded weight equals the
//! f32 master weight in expectation. Rounded to nearest, a weight the forward
//! reads moves only once its updates add up to half a bf16 step, and at
//! fine-tuning's learning rates an AdamW update is under half a step of a
//! typical weight: full fine-tuning's loss on a fixed batch trailed f32's by
//! 2.0% after 36 steps rounded to nearest, by 0.05% rounded stochastically
//! (the projections' and the head's weights).
//!
//! The bits come from ChaCha8 (rand_chacha) keyed by the step's seed, one
//! stream per projection and one 32-bit word per pair of inputs, at a position
//! fixed by the pair's place in the weight: however the threads split the
//! weight into blocks, a value draws the same bits, so a step (and a resumed
//! run) replays exactly. Only the forward rounds so; the input's gradient
//! multiplies the weight rounded to nearest, as the usual recipe does.

use candle_core::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[cfg(target_arch = "x86_64")]
use super::bf16_product::{self, PackedColumns, COLUMNS};
#[cfg(target_arch = "x86_64")]
use super::dense_product::pack_into;
use super::dense_product::ColumnBlocks;

/// What a weight's rounding draws from: the training step's seed and the
/// projection's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RoundingSeed {
    pub(crate) seed: u64,
    pub(crate) stream: u64,
}

/// `value` rounded to bf16 by adding the 16 random bits `random` below the
/// bf16's last bit and cutting them off (NaN stays NaN; past the largest
/// bf16 goes to infinity). Branch-free, so a row's loop is vectorized.
fn round(value: f32, random: u32) -> u16 {
    let bits = value.to_bits();
    let rounded = (bits.wrapping_add(random & 0xffff) >> 16) as u16;
    let nan = (bits >> 16) as u16 | 0x40;
    if value.is_nan() {
        nan
    } else {
        rounded
    }
}

/// `W^T` (inputs, outputs) of a weight `W` (outputs, inputs, row-major),
/// rounded stochastically to bf16 as a product reads it.
pub(crate) struct StochasticallyRounded<'a> {
    weight: &'a [f32],
    outputs: usize,
    inputs: usize,
    seed: RoundingSeed,
}

impl<'a> StochasticallyRounded<'a> {
    pub(crate) fn new(
        weight: &'a [f32],
        (outputs, inputs): (usize, usize),
        seed: RoundingSeed,
    ) -> Result<Self> {
        if weight.len() != outputs * inputs {
            candle_core::bail!(
                "a ({outputs}, {inputs}) weight holds {} values",
                weight.len()
            );
        }
        Ok(Self {
            weight,
            outputs,
            inputs,
            seed,
        })
    }

    /// The generator on this weight's stream.
    fn generator(&self) -> ChaCha8Rng {
        let mut generator = ChaCha8Rng::seed_from_u64(self.seed.seed);
        generator.set_stream(self.seed.stream);
        generator
    }

    /// Inputs `2 * first_pair..` of row `row` rounded into `pairs` (as many
    /// pairs as it holds; the high half of a last odd input zero), as
    /// `vdpbf16ps` reads them: the first of a pair in the low half.
    fn round_pairs(
        &self,
        generator: &mut ChaCha8Rng,
        row: usize,
        first_pair: usize,
        pairs: &mut [u32],
    ) {
        let pairs_per_row = self.inputs.div_ceil(2);
        generator.set_word_pos((row * pairs_per_row + first_pair) as u128);
        generator.fill(&mut *pairs);
        let values = &self.weight[row * self.inputs..][..self.inputs][2 * first_pair..];
        let values = &values[..values.len().min(2 * pairs.len())];
        let whole = values.chunks_exact(2);
        let odd = whole.remainder().first();
        let count = whole.len();
        for (pair, values) in pairs.iter_mut().zip(whole) {
            let (low, high) = (round(values[0], *pair), round(values[1], *pair >> 16));
            *pair = u32::from(low) | (u32::from(high) << 16);
        }
        if let (Some(&last), Some(pair)) = (odd, pairs.get_mut(count)) {
            *pair = u32::from(round(last, *pair));
        }
    }

    /// Row `row` of `W` rounded, as f32 values.
    #[cfg(test)]
    fn rounded_row(&self, row: usize) -> Vec<f32> {
        let mut block = Vec::new();
        self.write_block(row, 1, &mut block);
        block
    }
}

impl ColumnBlocks for StochasticallyRounded<'_> {
    fn dims(&self) -> (usize, usize) {
        (self.inputs, self.outputs)
    }

    /// A block's columns are whole rows of `W`.
    fn alignment(&self) -> usize {
        1
    }

    /// Rows `start..start + width` of `W`: the block's transpose.
    fn write_block(&self, start: usize, width: usize, buffer: &mut Vec<f32>) -> bool {
        let mut generator = self.generator();
        let mut pairs = vec![0u32; self.inputs.div_ceil(2)];
        for row in start..start + width {
            self.round_pairs(&mut generator, row, 0, &mut pairs);
            for (at, pair) in pairs.iter().enumerate() {
                buffer.push(f32::from_bits(pair << 16));
                if 2 * at + 1 < self.inputs {
                    buffer.push(f32::from_bits(pair & 0xffff_0000));
                }
            }
        }
        true
    }

    /// Each row of the block rounded, then stored into its lane of the panels.
    #[cfg(target_arch = "x86_64")]
    fn packed_block<'b>(
        &'b self,
        (depth_start, depth): (usize, usize),
        (start, width): (usize, usize),
        buffer: &'b mut Vec<u32>,
    ) -> PackedColumns<'b> {
        pack_into(buffer, (depth, width), |packed| {
            let pairs = depth.div_ceil(2);
            let panel_len = bf16_product::packed_columns_len(depth, COLUMNS);
            let mut generator = self.generator();
            let mut row = vec![0u32; pairs];
            for (panel, lanes) in packed.chunks_exact_mut(panel_len).enumerate() {
                let first = start + panel * COLUMNS;
                let columns = COLUMNS.min(start + width - first);
                if columns < COLUMNS {
                    lanes.fill(0);
                }
                for lane in 0..columns {
                    self.round_pairs(&mut generator, first + lane, depth_start / 2, &mut row);
                    for (at, &pair) in row.iter().enumerate() {
                        lanes[at * COLUMNS + lane] = pair;
                    }
                }
                lanes[pairs * COLUMNS..].fill(0);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::dense_product::{blockwise_product, product, Matrix, ProductPrecision};
    use super::super::test_support::xorshift_values;
    use super::*;
    use half::bf16;

    /// Values of both signs and many magnitudes that bf16 cannot hold.
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let values = xorshift_values(len, seed).into_iter().enumerate();
        values
            .map(|(i, value)| value * 10f32.powi(i as i32 % 5 - 2))
            .collect()
    }

    /// The bf16 values either side of `value` (equal where bf16 holds it).
    fn neighbours(value: f32) -> (f32, f32) {
        let down = f32::from_bits(value.to_bits() & 0xffff_0000);
        let up = f32::from_bits((value.to_bits() & 0xffff_0000) + 0x1_0000);
        match value.to_bits() & 0xffff {
            0 => (value, value),
            _ => (down, up),
        }
    }

    /// Each value goes to a bf16 neighbour, and over many seeds to the upper
    /// one as often as its distance from the lower asks: the mean of the
    /// rounded values is the value (within four standard errors), where
    /// rounding to nearest is off by up to half a step.
    #[test]
    fn rounding_is_unbiased_and_lands_on_a_neighbour() {
        let weight = vec![1.0 + 0.3 / 128.0, -0.05, 3e-3, 7.0 + 0.9 / 32.0, 0.25];
        let draws = 4000;
        let mut sums = vec![0f64; weight.len()];
        for seed in 0..draws {
            let seed = RoundingSeed { seed, stream: 7 };
            let rounded = StochasticallyRounded::new(&weight, (1, weight.len()), seed).unwrap();
            for ((sum, value), got) in sums.iter_mut().zip(&weight).zip(rounded.rounded_row(0)) {
                let (down, up) = neighbours(*value);
                assert!(got == down || got == up, "{value} rounded to {got}");
                *sum += f64::from(got);
            }
        }
        for (sum, &value) in sums.iter().zip(&weight) {
            let (down, up) = neighbours(value);
            let step = f64::from((up - down).abs());
            let mean = sum / draws as f64;
            // A Bernoulli draw scaled by the step: at most step / 2 per draw.
            let error = 4.0 * step / 2.0 / (draws as f64).sqrt();
            assert!(
                (mean - f64::from(value)).abs() <= error.max(1e-12),
                "{value}: mean {mean}"
            );
        }
        // 1 + 0.3 steps rounds to 1 to nearest: the bias the mean above lacks.
        assert_eq!(bf16::from_f32(weight[0]).to_f32(), 1.0);
    }

    /// Special values keep what they are: NaN, infinities, zeros.
    #[test]
    fn special_values_stay_special() {
        assert!(f32::from_bits(u32::from(round(f32::NAN, 0xffff)) << 16).is_nan());
        for value in [f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0] {
            let got = f32::from_bits(u32::from(round(value, 0xffff)) << 16);
            assert_eq!(got.to_bits(), value.to_bits(), "{value}");
        }
    }

    /// The same seed rounds the same way however the weight is split into
    /// blocks (whole, in column blocks, a depth range at a time), packed or
    /// written; another seed or stream rounds differently.
    #[test]
    fn a_seed_rounds_the_same_way_in_any_block() {
        let (outputs, inputs) = (70, 517);
        let weight = values(outputs * inputs, 3);
        let seed = RoundingSeed {
            seed: 11,
            stream: 2,
        };
        let rounded = StochasticallyRounded::new(&weight, (outputs, inputs), seed).unwrap();
        let rows: Vec<Vec<f32>> = (0..outputs).map(|row| rounded.rounded_row(row)).collect();
        let mut whole = Vec::new();
        assert!(rounded.write_block(0, outputs, &mut whole));
        assert_eq!(whole, rows.concat());
        for other in [
            RoundingSeed { seed: 12, ..seed },
            RoundingSeed { stream: 3, ..seed },
        ] {
            let differs = StochasticallyRounded::new(&weight, (outputs, inputs), other).unwrap();
            let mut block = Vec::new();
            differs.write_block(0, outputs, &mut block);
            let changed = block.iter().zip(&whole).filter(|(a, b)| a != b).count();
            assert!(changed > whole.len() / 10, "{other:?}: {changed} changed");
        }
        #[cfg(target_arch = "x86_64")]
        for ((depth_start, depth), (start, width)) in [
            ((0, inputs), (0, outputs)),
            ((0, 256), (5, 40)),
            ((256, 256), (33, 37)),
            ((256, inputs - 256), (64, 6)),
        ] {
            let mut buffer = vec![u32::MAX; 3];
            let packed = rounded.packed_block((depth_start, depth), (start, width), &mut buffer);
            for column in 0..width {
                for input in 0..depth {
                    let pair = packed.panel(depth.div_ceil(2), column / COLUMNS * COLUMNS)
                        [input / 2 * COLUMNS + column % COLUMNS];
                    let bits = match input % 2 {
                        0 => pair << 16,
                        _ => pair & 0xffff_0000,
                    };
                    assert_eq!(
                        f32::from_bits(bits),
                        rows[start + column][depth_start + input],
                        "row {}, input {}",
                        start + column,
                        depth_start + input
                    );
                }
            }
        }
    }

    /// The forward product multiplies the rounded weight: the same as the
    /// bf16 product of the input with that weight written out.
    #[test]
    fn the_product_multiplies_the_rounded_weight() {
        let (tokens, outputs, inputs) = (130, 200, 576);
        let (x, weight) = (values(tokens * inputs, 1), values(outputs * inputs, 2));
        let seed = RoundingSeed { seed: 5, stream: 1 };
        let rounded = StochasticallyRounded::new(&weight, (outputs, inputs), seed).unwrap();
        let mut written = Vec::new();
        rounded.write_block(0, outputs, &mut written);
        let x = Matrix::new(&x, tokens, inputs).unwrap();
        let got = blockwise_product(x, &rounded, 1.0, ProductPrecision::Bf16).unwrap();
        let written = Matrix::new(&written, outputs, inputs).unwrap();
        let expected = product(x, written.t(), 1.0, ProductPrecision::Bf16).unwrap();
        for (got, expected) in got.iter().zip(&expected) {
            assert!(
                (got - expected).abs() <= 1e-5 * expected.abs().max(1.0),
                "{got} vs {expected}"
            );
        }
    }
}
