//! A quantized weight rounded to bf16 straight from its blocks into the bf16
//! kernels' packed right-hand side (`bf16_product::PackedColumns`), with no
//! f32 copy of the weight (or of a block of its columns) in between. Decoding
//! a Q4_1 block to f32 and packing that had been a fifth of a bf16 LoRA step on
//! SmolLM2's Q4_1 base.
//!
//! Q4_1, Q5_0, Q8_0 and Q4_K are decoded in registers ([`RegisterBlock`]), 32
//! values in two vectors at a time, computed as candle's `to_float` computes them (so
//! the pairs equal those of the f32 weight), stored as pairs where the kernels
//! read them (one thread's half of SmolLM2's Q8_0 head packs in 5.0 ms each
//! way; through an f32 buffer, 20.5 ms as `W^T` and 9.3 as `W`). Other formats
//! are decoded a block of 16 rows (or two whole rows of the block's inputs) at
//! a time into a small buffer, which stays in L1, and packed from there.
//!
//! Written by hand: the layout is this crate's own.

use std::arch::x86_64::*;

use super::bf16_product::{self, COLUMNS, PANEL_INPUTS};
use super::k_quant_matmul::{q4_k_scales, BlockQ4K};
use super::quantized_matmul::{BlockQ4_1, BlockQ5_0, BlockQ8_0, BLOCK};

/// Inputs `depth_start..depth_start + depth` (whole blocks of `block_inputs`,
/// `depth` a multiple of 32) of rows `first..first + count` of a weight as the
/// columns of `W^T`, packed whole into `packed`, which holds
/// `bf16_product::packed_columns_len(depth, count)` values; `decode(row, start,
/// out)` writes the block of inputs `start..start + block_inputs` of a row into
/// `out`.
pub fn pack_decoded_rows(
    decode: impl Fn(usize, usize, &mut [f32]),
    ((depth_start, depth), block_inputs): ((usize, usize), usize),
    first: usize,
    count: usize,
    packed: &mut [u32],
) {
    assert!(
        block_inputs > 0
            && depth_start.is_multiple_of(block_inputs)
            && depth.is_multiple_of(block_inputs)
            && depth.is_multiple_of(PANEL_INPUTS),
        "inputs {depth_start}..+{depth} in blocks of {block_inputs}"
    );
    let panel_len = bf16_product::packed_columns_len(depth, COLUMNS);
    let packed = &mut packed[..bf16_product::packed_columns_len(depth, count)];
    let mut values = vec![0f32; 16 * block_inputs];
    for (panel, lanes) in packed.chunks_exact_mut(panel_len).enumerate() {
        for half in 0..2 {
            let start = panel * COLUMNS + half * 16;
            let rows = count.saturating_sub(start).min(16);
            if rows == 0 {
                for pair in lanes.chunks_exact_mut(COLUMNS) {
                    pair[16 * half..][..16].fill(0);
                }
                continue;
            }
            for block_start in (depth_start..depth_start + depth).step_by(block_inputs) {
                for (row, values) in values.chunks_exact_mut(block_inputs).take(rows).enumerate() {
                    decode(first + start + row, block_start, values);
                }
                let mut lines: [&[f32]; 16] = [&[]; 16];
                for (line, values) in lines.iter_mut().zip(values.chunks_exact(block_inputs)) {
                    *line = values;
                }
                let lines = &lines[..rows];
                let at = (block_start - depth_start) / 2 * COLUMNS + 16 * half;
                bf16_product::pairs_transposed(lines, 16, &mut lanes[at..], COLUMNS);
            }
        }
    }
}

/// Inputs `start..start + width` of each of a weight's `outputs` rows as the
/// columns of `W`, packed whole into `packed`, which holds
/// `bf16_product::packed_columns_len(outputs, width)` values; `decode(row,
/// start, out)` writes inputs `start..start + out.len()` of a row into `out`.
pub fn pack_decoded_inputs(
    decode: impl Fn(usize, usize, &mut [f32]),
    outputs: usize,
    start: usize,
    width: usize,
    packed: &mut [u32],
) {
    let pairs = outputs.div_ceil(2);
    let panel_len = bf16_product::packed_columns_len(outputs, COLUMNS);
    let packed = &mut packed[..bf16_product::packed_columns_len(outputs, width)];
    let (mut low, mut high) = (vec![0f32; width], vec![0f32; width]);
    for pair in 0..pairs {
        decode(2 * pair, start, &mut low);
        let has_high = 2 * pair + 1 < outputs;
        if has_high {
            decode(2 * pair + 1, start, &mut high);
        }
        for (panel, lanes) in packed.chunks_exact_mut(panel_len).enumerate() {
            let columns = panel * COLUMNS..((panel + 1) * COLUMNS).min(width);
            let high = has_high.then(|| &high[columns.clone()]);
            let lanes = &mut lanes[pair * COLUMNS..][..COLUMNS];
            bf16_product::pairs_across(&low[columns], high, lanes);
        }
    }
    for lanes in packed.chunks_exact_mut(panel_len) {
        lanes[pairs * COLUMNS..].fill(0);
    }
}

/// Inputs a [`RegisterBlock`] decodes at a time: two vectors of 16.
const UNIT: usize = 32;

/// A block format that the packers decode in registers, [`UNIT`] inputs at a
/// time, each value rounded as candle's `to_float` rounds it (so the pairs
/// equal those of the f32 weight): Q4_1 (SmolLM2's projections), Q5_0, Q8_0
/// and Q4_K (the tied embeddings and Gemma 3's projections).
pub trait RegisterBlock: Sync {
    /// The block's inputs, in units of [`UNIT`].
    const UNITS: usize = 1;

    /// The block's inputs `UNIT * unit..UNIT * (unit + 1)`, 16 to a vector.
    ///
    /// # Safety
    /// AVX-512 F is available; `unit` is below [`Self::UNITS`].
    unsafe fn values(&self, unit: usize) -> [__m512; 2];
}

impl RegisterBlock for BlockQ4_1 {
    /// `d * q + m`: multiply, then add (as `BlockQ4_1::values`).
    #[target_feature(enable = "avx512f")]
    unsafe fn values(&self, _: usize) -> [__m512; 2] {
        let (d, m, nibbles) = self.parts();
        let (low, high) = nibbles_as_lanes(nibbles);
        let (d, m) = (_mm512_set1_ps(d), _mm512_set1_ps(m));
        let value = |q: __m512i| _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(q), d), m);
        [value(low), value(high)]
    }
}

impl RegisterBlock for BlockQ5_0 {
    /// `d * (q - 16)`, `q` a nibble and its fifth bit from `qh`.
    #[target_feature(enable = "avx512f")]
    unsafe fn values(&self, _: usize) -> [__m512; 2] {
        let (d, fifth_bits, nibbles) = self.parts();
        let (low, high) = nibbles_as_lanes(nibbles);
        let bits = _mm512_set1_epi32(fifth_bits as i32);
        let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        // Bit `first + lane` of `qh` as 16 (the fifth bit's weight).
        let fifth = |first: i32| {
            let shifted = _mm512_srlv_epi32(bits, _mm512_add_epi32(lane, _mm512_set1_epi32(first)));
            _mm512_slli_epi32::<4>(_mm512_and_si512(shifted, _mm512_set1_epi32(1)))
        };
        let d = _mm512_set1_ps(d);
        let value = |q: __m512i, first: i32| {
            let q = _mm512_sub_epi32(_mm512_or_si512(q, fifth(first)), _mm512_set1_epi32(16));
            _mm512_mul_ps(_mm512_cvtepi32_ps(q), d)
        };
        [value(low, 0), value(high, 16)]
    }
}

impl RegisterBlock for BlockQ8_0 {
    /// `d * q`.
    #[target_feature(enable = "avx512f")]
    unsafe fn values(&self, _: usize) -> [__m512; 2] {
        let (d, values) = self.parts();
        let d = _mm512_set1_ps(d);
        let half = |from: usize| {
            // SAFETY: 16 of the block's 32 bytes from `from`.
            let bytes = unsafe { _mm_loadu_si128(values.as_ptr().add(from).cast()) };
            _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bytes)), d)
        };
        [half(0), half(16)]
    }
}

impl RegisterBlock for BlockQ4K {
    const UNITS: usize = 8;

    /// Sub-block `unit`: `d * scale * q - dmin * min`, the products in f32
    /// first, then the difference (as candle's `to_float`).
    #[target_feature(enable = "avx512f")]
    unsafe fn values(&self, unit: usize) -> [__m512; 2] {
        let (d, dmin, packed_scales, nibbles) = self.parts();
        let scales = q4_k_scales(packed_scales);
        let scale = _mm512_set1_ps(d * f32::from(scales[unit]));
        let min = _mm512_set1_ps(dmin * f32::from(scales[8 + unit]));
        // Each 64 inputs are the low nibbles of 32 bytes, then their high ones.
        let bytes = &nibbles[32 * (unit / 2)..][..32];
        let half = |from: usize| {
            // SAFETY: 16 of the 32 bytes from `from`.
            let bytes = unsafe { _mm_loadu_si128(bytes.as_ptr().add(from).cast()) };
            let bytes = _mm512_cvtepu8_epi32(bytes);
            let q = match unit % 2 {
                0 => _mm512_and_si512(bytes, _mm512_set1_epi32(0x0F)),
                _ => _mm512_srli_epi32::<4>(bytes),
            };
            _mm512_sub_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(q), scale), min)
        };
        [half(0), half(16)]
    }
}

/// A block's 16 bytes of nibbles as two vectors of 16 lanes: the low nibbles
/// (inputs 0..16), then the high ones (inputs 16..32).
#[target_feature(enable = "avx512f")]
fn nibbles_as_lanes(nibbles: &[u8; BLOCK / 2]) -> (__m512i, __m512i) {
    // SAFETY: 16 bytes.
    let bytes = _mm512_cvtepu8_epi32(unsafe { _mm_loadu_si128(nibbles.as_ptr().cast()) });
    (
        _mm512_and_si512(bytes, _mm512_set1_epi32(0x0F)),
        _mm512_srli_epi32::<4>(bytes),
    )
}

/// Inputs `depth_start..depth_start + depth` (whole [`UNIT`]s) of rows
/// `first..first + count` of the weight `blocks` (`per_row` blocks a row) as
/// the columns of `W^T` (inputs down, one column per row), packed whole into
/// `packed`, which holds `bf16_product::packed_columns_len(depth, count)`
/// values.
pub fn pack_block_rows<B: RegisterBlock>(
    blocks: &[B],
    (per_row, (depth_start, depth)): (usize, (usize, usize)),
    first: usize,
    count: usize,
    packed: &mut [u32],
) {
    assert!(bf16_product::available(), "AVX512-BF16 packs bf16");
    assert!(
        (first + count) * per_row <= blocks.len(),
        "rows past the weight"
    );
    assert!(
        depth_start.is_multiple_of(UNIT)
            && depth.is_multiple_of(UNIT)
            && depth_start + depth <= per_row * B::UNITS * UNIT,
        "inputs {depth_start}..+{depth} of a row of {per_row} blocks"
    );
    let units = (depth_start / UNIT, depth / UNIT);
    let panel_len = bf16_product::packed_columns_len(depth, COLUMNS);
    let packed = &mut packed[..bf16_product::packed_columns_len(depth, count)];
    for (panel, lanes) in packed.chunks_exact_mut(panel_len).enumerate() {
        for half in 0..2 {
            let start = panel * COLUMNS + half * 16;
            let rows = count.saturating_sub(start).min(16);
            let row_blocks: [&[B]; 16] = std::array::from_fn(|row| match row < rows {
                true => &blocks[(first + start + row) * per_row..][..per_row],
                false => &[],
            });
            // SAFETY: AVX512-BF16 is available; each of the 16 halves' lanes
            // lies in the panel (`units.1 * 16` pairs of COLUMNS lanes).
            unsafe { pack_16_rows(&row_blocks, units, &mut lanes[half * 16..]) };
        }
    }
}

/// Inputs `start..start + width` (whole [`UNIT`]s) of every one of the weight's
/// `outputs` rows (`per_row` blocks a row) as the columns of `W` (outputs
/// down), packed whole into `packed`, which holds
/// `bf16_product::packed_columns_len(outputs, width)` values.
pub fn pack_block_inputs<B: RegisterBlock>(
    blocks: &[B],
    (outputs, per_row): (usize, usize),
    start: usize,
    width: usize,
    packed: &mut [u32],
) {
    assert!(bf16_product::available(), "AVX512-BF16 packs bf16");
    assert!(
        start.is_multiple_of(UNIT)
            && width.is_multiple_of(UNIT)
            && start + width <= per_row * B::UNITS * UNIT,
        "inputs {start}..+{width} of a row of {per_row} blocks"
    );
    assert_eq!(blocks.len(), outputs * per_row, "the weight's blocks");
    let pairs = outputs.div_ceil(2);
    let panel_len = bf16_product::packed_columns_len(outputs, COLUMNS);
    let packed = &mut packed[..bf16_product::packed_columns_len(outputs, width)];
    // A panel is one unit of inputs. Two rows at a time, each row's blocks
    // read in order: a panel at a time read every row a block apart, and a
    // head of 49,152 rows missed the caches on each.
    let row = |row: usize| &blocks[row * per_row..][..per_row];
    for pair in 0..pairs {
        let (low, high) = (
            row(2 * pair),
            (2 * pair + 1 < outputs).then(|| row(2 * pair + 1)),
        );
        for (panel, lanes) in packed.chunks_exact_mut(panel_len).enumerate() {
            let unit = start / UNIT + panel;
            let (block, part) = (unit / B::UNITS, unit % B::UNITS);
            let high = high.map(|high| &high[block]);
            let lanes = &mut lanes[pair * COLUMNS..][..COLUMNS];
            // SAFETY: AVX512-BF16 is available; the pair's COLUMNS lanes lie in
            // the panel, and `part` is a unit of the block.
            unsafe { pack_pair_of_rows((&low[block], high), part, lanes) };
        }
    }
    for lanes in packed.chunks_exact_mut(panel_len) {
        lanes[pairs * COLUMNS..].fill(0);
    }
}

/// Units `first..first + count` of up to 16 rows (the rest empty) as 16 lanes
/// of pairs, row `r` in lane `r`: unit `first + u`'s pair `p` at `lanes[(16 *
/// u + p) * COLUMNS + r]`, zero in the lanes of empty rows.
///
/// # Safety
/// AVX512-BF16 is available; `lanes` holds `16 * count` pairs of COLUMNS
/// values (the last one's first 16); each non-empty row holds the units.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn pack_16_rows<B: RegisterBlock>(
    rows: &[&[B]; 16],
    (first, count): (usize, usize),
    lanes: &mut [u32],
) {
    assert!(
        lanes.len() >= (16 * count - 1) * COLUMNS + 16,
        "pairs past the panel"
    );
    for unit in 0..count {
        let (block, part) = ((first + unit) / B::UNITS, (first + unit) % B::UNITS);
        let pairs: [__m512i; 16] = std::array::from_fn(|row| match rows[row].get(block) {
            Some(block) => {
                // SAFETY: AVX-512 F is available; `part` is a unit of the block.
                let [low, high] = unsafe { block.values(part) };
                // Inputs in order, so lane `p` pairs inputs 2p and 2p + 1.
                std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(high, low))
            }
            None => _mm512_setzero_si512(),
        });
        for (pair, lanes16) in bf16_product::transpose_16x16(pairs).iter().enumerate() {
            let at = (16 * unit + pair) * COLUMNS;
            // SAFETY: 16 lanes from `at` lie in `lanes` (asserted above).
            unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().add(at).cast(), *lanes16) };
        }
    }
}

/// Unit `unit` of two rows' blocks of the same inputs as one pair of rows:
/// lane `i` pairs input `i` of `low` with input `i` of `high` (zero without
/// one).
///
/// # Safety
/// AVX512-BF16 is available; `lanes` holds COLUMNS values; `unit` is below
/// `B::UNITS`.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn pack_pair_of_rows<B: RegisterBlock>(
    (low, high): (&B, Option<&B>),
    unit: usize,
    lanes: &mut [u32],
) {
    let widen = |values: __m512| -> __m512i {
        // SAFETY: 16 halves; every bit pattern is valid.
        let halves =
            unsafe { std::mem::transmute::<__m256bh, __m256i>(_mm512_cvtneps_pbh(values)) };
        _mm512_cvtepu16_epi32(halves)
    };
    // SAFETY: AVX-512 F is available (both).
    let (low, high) = unsafe { (low.values(unit), high.map(|block| block.values(unit))) };
    for half in 0..2 {
        let pairs = match high {
            Some(high) => {
                _mm512_or_si512(widen(low[half]), _mm512_slli_epi32::<16>(widen(high[half])))
            }
            None => widen(low[half]),
        };
        // SAFETY: 16 lanes of the pair's COLUMNS.
        unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().add(16 * half).cast(), pairs) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transformer::matrix::Matrix;
    use crate::transformer::quantized_blocks::blocks;
    use crate::transformer::test_support::{packed_columns, xorshift_values};
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};

    /// Packed straight from the blocks, both ways, equals the f32 weight
    /// (candle's decoding) packed, bit for bit, in each format decoded in
    /// registers: an odd number of rows (a pair with no high half, a partial
    /// last panel), offsets inside the weight and inside a Q4_K block, several
    /// blocks a row.
    #[test]
    fn packs_equal_the_f32_weights_packing() {
        if !bf16_product::available() {
            println!("skipped: this CPU lacks AVX512-BF16");
            return;
        }
        packs_of::<BlockQ4_1>(GgmlDType::Q4_1);
        packs_of::<BlockQ5_0>(GgmlDType::Q5_0);
        packs_of::<BlockQ8_0>(GgmlDType::Q8_0);
        packs_of::<BlockQ4K>(GgmlDType::Q4K);
    }

    fn packs_of<B: RegisterBlock>(dtype: GgmlDType) {
        let (outputs, inputs) = (45, 512);
        let per_row = inputs / (B::UNITS * UNIT);
        let values = xorshift_values(outputs * inputs, 9);
        let dense = Tensor::from_vec(values, (outputs, inputs), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&dense, dtype).unwrap();
        let bytes = q.data().unwrap();
        let weight = blocks::<B>(&bytes, outputs * per_row).unwrap();
        let decoded = q.dequantize(&Device::Cpu).unwrap();
        let f32_weight: Vec<f32> = decoded.flatten_all().unwrap().to_vec1().unwrap();
        let w = Matrix::new(&f32_weight, outputs, inputs).unwrap();
        for (first, count) in [(0, outputs), (7, 33), (44, 1)] {
            for (start, depth) in [(0, inputs), (UNIT, 2 * UNIT)] {
                let mut packed = vec![u32::MAX; bf16_product::packed_columns_len(depth, count)];
                pack_block_rows(weight, (per_row, (start, depth)), first, count, &mut packed);
                let rows = w
                    .t()
                    .row_range(start, start + depth)
                    .columns_from(first, count);
                let at = format!("{dtype:?} rows {first}..+{count}, inputs {start}..+{depth}");
                assert_eq!(packed, packed_columns(rows), "{at}");
            }
        }
        for (start, width) in [(0, inputs), (UNIT, 2 * UNIT)] {
            let mut packed = vec![u32::MAX; bf16_product::packed_columns_len(outputs, width)];
            pack_block_inputs(weight, (outputs, per_row), start, width, &mut packed);
            let columns = w.columns_from(start, width);
            assert_eq!(
                packed,
                packed_columns(columns),
                "{dtype:?} inputs {start}..+{width}"
            );
        }
    }

    /// The generic packers, fed Q6_K rows (blocks of 256) by candle's decoder,
    /// equal the f32 weight packed, bit for bit, both ways.
    #[test]
    fn decoded_packs_equal_the_f32_weights_packing() {
        use candle_core::quantized::k_quants::{BlockQ6K, GgmlType};
        if !bf16_product::available() {
            println!("skipped: this CPU lacks AVX512-BF16");
            return;
        }
        let (outputs, inputs) = (37, 512);
        let values = xorshift_values(outputs * inputs, 4);
        let dense = Tensor::from_vec(values, (outputs, inputs), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&dense, GgmlDType::Q6K).unwrap();
        let bytes = q.data().unwrap();
        let weight = blocks::<BlockQ6K>(&bytes, outputs * inputs / 256).unwrap();
        let mut f32_weight = vec![0f32; outputs * inputs];
        BlockQ6K::to_float(weight, &mut f32_weight);
        let decode = |row: usize, start: usize, out: &mut [f32]| {
            let first = (row * inputs + start) / 256;
            BlockQ6K::to_float(&weight[first..first + out.len() / 256], out);
        };
        let w = Matrix::new(&f32_weight, outputs, inputs).unwrap();
        for (first, count) in [(0, outputs), (3, 20)] {
            for (start, depth) in [(0, inputs), (256, 256)] {
                let mut packed = vec![u32::MAX; bf16_product::packed_columns_len(depth, count)];
                pack_decoded_rows(decode, ((start, depth), 256), first, count, &mut packed);
                let rows = w
                    .t()
                    .row_range(start, start + depth)
                    .columns_from(first, count);
                let at = format!("rows {first}..+{count}, inputs {start}..+{depth}");
                assert_eq!(packed, packed_columns(rows), "{at}");
            }
        }
        for (start, width) in [(0, inputs), (256, 256)] {
            let mut packed = vec![u32::MAX; bf16_product::packed_columns_len(outputs, width)];
            pack_decoded_inputs(decode, outputs, start, width, &mut packed);
            let columns = w.columns_from(start, width);
            assert_eq!(packed, packed_columns(columns), "inputs {start}..+{width}");
        }
    }
}
