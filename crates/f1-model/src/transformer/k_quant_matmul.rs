//! llama.cpp's CPU products of Q4_K and Q6_K weights with f32 activations (x86
//! with AVX2, FMA and F16C), to its bits.
//!
//! Both round the activations to 8 bits per 256 values as `quantize_row_q8_K`
//! does (scale `-127 / max` of the signed largest value, kept as its reciprocal
//! in f32), and both sum the integer products exactly; where they differ from
//! candle is the order in which the f32 results of each super-block of 256 are
//! accumulated, which llama.cpp chooses by weight type and by how many tokens it
//! multiplies at once (read from its sources and checked tensor by tensor against
//! its intermediate results for Gemma 3):
//! - Q4_K, repacked at load into tiles of 8 weight rows: a sequence's tokens in
//!   whole groups of 4 (when there are more than 3) go through
//!   `ggml_gemm_q4_K_8x8_q8_K`, which adds each pair of 32-value sub-blocks into
//!   the f32 sums; the remaining tokens through `ggml_gemv_q4_K_8x8_q8_K`, which
//!   adds each whole super-block. The scale and minimum terms have separate sums,
//!   subtracted at the end.
//! - Q6_K: under 8 tokens `ggml_vec_dot_q6_K_q8_K`, eight integer lanes per
//!   super-block scaled into eight f32 lanes and summed at the end; from 8 tokens
//!   each super-block's integer sum times the weight's scale, then fused into the
//!   sum times the activation's scale (the threshold measured: 2 to 7 tokens one
//!   way, 8 to 23 the other, with 1 and 2 threads).
//!
//! Where a sequence's tokens are tiled, Q4_K weight rows go eight at a time with
//! the rows in the vector lanes, as in llama.cpp's tiles; decoding takes pairs.

use candle_core::quantized::GgmlDType;
use candle_core::{bail, Result};
use half::f16;

use super::quantized_blocks::{blocks, product, sum_lanes};

/// Values per k-quant super-block.
const SUPER_BLOCK: usize = 256;

/// A Q4_K super-block: 8 sub-blocks of 32 values `d * scale * q - dmin * min`,
/// 6-bit scales and mins packed in `scales`, 4-bit `q` in `qs` (per 64 values,
/// the low nibbles of 32 bytes, then their high nibbles).
#[repr(C)]
pub(crate) struct BlockQ4K {
    d: f16,
    dmin: f16,
    scales: [u8; 12],
    qs: [u8; SUPER_BLOCK / 2],
}

impl BlockQ4K {
    /// `d`, `dmin`, the packed scales and mins ([`q4_k_scales`] unpacks them)
    /// and the nibbles.
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn parts(&self) -> (f32, f32, &[u8; 12], &[u8; SUPER_BLOCK / 2]) {
        (self.d.to_f32(), self.dmin.to_f32(), &self.scales, &self.qs)
    }
}

/// A Q6_K super-block: 16 groups of 16 values `d * scale * (q - 32)`, 6-bit `q`
/// as low nibbles in `ql` and high pairs of bits in `qh`.
#[repr(C)]
struct BlockQ6K {
    ql: [u8; SUPER_BLOCK / 2],
    qh: [u8; SUPER_BLOCK / 4],
    scales: [i8; SUPER_BLOCK / 16],
    d: f16,
}

/// An activation super-block in 8 bits (`block_q8_K`): `d * qs`, with the sums of
/// each 16 values, and of each 32 (Q4_K's sub-blocks) added once here rather than
/// for every weight row.
struct ActivationQ8K {
    d: f32,
    qs: [i8; SUPER_BLOCK],
    sums: [i16; SUPER_BLOCK / 16],
    sub_block_sums: [i32; SUPER_BLOCK / 32],
}

/// `quantize_row_q8_K_ref`: the values times `-127 / max` for the signed value of
/// largest magnitude (the first of equals), rounded half to even and capped at 127;
/// the scale is that factor's reciprocal.
fn quantize_q8_k(x: &[f32]) -> ActivationQ8K {
    let mut largest = (0f32, 0f32);
    for &value in x {
        if value.abs() > largest.0 {
            largest = (value.abs(), value);
        }
    }
    if largest.0 == 0.0 {
        return ActivationQ8K {
            d: 0.0,
            qs: [0; SUPER_BLOCK],
            sums: [0; SUPER_BLOCK / 16],
            sub_block_sums: [0; SUPER_BLOCK / 32],
        };
    }
    let inverse = -127.0 / largest.1;
    let qs: [i8; SUPER_BLOCK] =
        std::array::from_fn(|i| (x[i] * inverse).round_ties_even().min(127.0) as i8);
    let sums = std::array::from_fn(|group| {
        qs[16 * group..16 * (group + 1)]
            .iter()
            .map(|&q| i16::from(q))
            .sum()
    });
    let sub_block_sums =
        std::array::from_fn(|s| i32::from(sums[2 * s]) + i32::from(sums[2 * s + 1]));
    ActivationQ8K {
        d: 1.0 / inverse,
        qs,
        sums,
        sub_block_sums,
    }
}

/// Which f32 accumulation a row of activations gets (see the module's doc).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Order {
    /// Q4_K per sub-block pair (tokens in groups of 4); Q6_K per super-block
    /// through the weight's scale first (8 or more tokens).
    Tiled,
    /// Q4_K per super-block; Q6_K in eight lanes.
    Single,
}

/// The order of the activation row at index `row` for Q4_K, in sequences of
/// `sequence` rows: `ggml_gemm` takes whole groups of 4 when there are more than 3.
fn q4_k_order(row: usize, sequence: usize) -> Order {
    let position = row % sequence;
    if sequence > 3 && position < sequence - sequence % 4 {
        Order::Tiled
    } else {
        Order::Single
    }
}

/// The order for Q6_K: the tiled one from 8 rows per sequence.
fn q6_k_order(sequence: usize) -> Order {
    if sequence >= 8 {
        Order::Tiled
    } else {
        Order::Single
    }
}

/// Fills `out` with `x W^T` for a Q4_K or Q6_K weight (`bytes`, (outputs, inputs))
/// and activations `x` (rows of `inputs`) in sequences of `sequence` rows.
pub(crate) fn matmul(
    dtype: GgmlDType,
    bytes: &[u8],
    x: &[f32],
    shape: (usize, usize),
    sequence: usize,
    out: &mut [f32],
) -> Result<()> {
    let scales_of = |b: &BlockQ4K| q4_k_scales(&b.scales);
    match dtype {
        // Tiles of 8 weight rows where tokens are tiled; pairs (as decoding's
        // single token is faster with) elsewhere.
        GgmlDType::Q4K if sequence > 3 => {
            k_quant_product::<TILE, _>(bytes, x, shape, out, scales_of, |rows, x, row| {
                match q4_k_order(row, sequence) {
                    // SAFETY: `applies` checked AVX2, FMA and F16C.
                    Order::Tiled => unsafe { dot_q4_k_tiled(rows, x) },
                    // SAFETY: as above.
                    Order::Single => unsafe { dot_q4_k_each(rows, x) },
                }
            })
        }
        GgmlDType::Q4K => {
            k_quant_product::<2, _>(bytes, x, shape, out, scales_of, |rows, x, _| {
                // SAFETY: `applies` checked AVX2, FMA and F16C.
                unsafe { dot_q4_k_each(rows, x) }
            })
        }
        GgmlDType::Q6K => {
            let order = q6_k_order(sequence);
            k_quant_product::<2, _>(
                bytes,
                x,
                shape,
                out,
                |b: &BlockQ6K| b.scales.map(i16::from),
                |rows, x, _| {
                    rows.each_ref().map(|(w, scales)| {
                        // SAFETY: `applies` checked AVX2, FMA and F16C.
                        unsafe { dot_q6_k(w, scales, x, order) }
                    })
                },
            )
        }
        other => bail!("k-quant matmul: {other:?} is not Q4_K or Q6_K"),
    }
}

/// `N` weight rows with their super-blocks' scales, widened once per work item.
type Rows<'w, B, const N: usize> = [(&'w [B], Vec<Scales>); N];

/// Weight rows in a tile of llama.cpp's repacked Q4_K.
const TILE: usize = 8;

/// [`product`] for k-quant blocks `B`, `N` weight rows at a time: the activations
/// rounded per super-block, each row's `scales` widened, then `dot(rows,
/// activation row, its index)`.
fn k_quant_product<const N: usize, B: Sync>(
    bytes: &[u8],
    x: &[f32],
    (outputs, inputs): (usize, usize),
    out: &mut [f32],
    scales: impl Fn(&B) -> Scales + Sync,
    dot: impl Fn(&Rows<'_, B, N>, &[ActivationQ8K], usize) -> [f32; N] + Sync,
) -> Result<()> {
    if !inputs.is_multiple_of(SUPER_BLOCK) || outputs == 0 {
        bail!("k-quant matmul: a ({outputs}, {inputs}) weight is not whole super-blocks");
    }
    let x: Vec<_> = x.chunks_exact(SUPER_BLOCK).map(quantize_q8_k).collect();
    let per_row = inputs / SUPER_BLOCK;
    let weight = blocks::<B>(bytes, outputs * per_row)?;
    let widen = |row: &[B]| row.iter().map(&scales).collect::<Vec<_>>();
    product(
        weight,
        &x,
        per_row,
        out,
        |rows| rows.map(|row| (row, widen(row))),
        dot,
    );
    Ok(())
}

/// A Q4_K super-block's eight 6-bit scales, then its eight mins
/// (`get_scale_min_k4`).
pub(crate) fn q4_k_scales(packed: &[u8; 12]) -> Scales {
    let mut unpacked = [0; 16];
    for j in 0..8 {
        let (scale, min) = if j < 4 {
            (packed[j] & 63, packed[j + 4] & 63)
        } else {
            (
                (packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4),
                (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4),
            )
        };
        unpacked[j] = i16::from(scale);
        unpacked[8 + j] = i16::from(min);
    }
    unpacked
}

/// A Q4_K sub-block pair's minimum terms: each sub-block's min times the sum of
/// its activations.
fn pair_mins(scales: &Scales, x: &ActivationQ8K, pair: usize) -> i32 {
    i32::from(scales[8 + 2 * pair]) * x.sub_block_sums[2 * pair]
        + i32::from(scales[9 + 2 * pair]) * x.sub_block_sums[2 * pair + 1]
}

/// A super-block's small integer scales, widened once per weight row.
pub(crate) type Scales = [i16; 16];

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// One weight row's Q4_K dot product with one activation row, in `order`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
#[inline(never)]
unsafe fn dot_q4_k(w: &[BlockQ4K], scales: &[Scales], x: &[ActivationQ8K], order: Order) -> f32 {
    let (mut sum, mut min_sum) = (0f32, 0f32);
    for ((w, scales), x) in w.iter().zip(scales).zip(x) {
        let scale = w.d.to_f32() * x.d;
        let min_scale = w.dmin.to_f32() * x.d;
        let (mut block, mut block_mins) = (0i32, 0i32);
        for pair in 0..4 {
            let products = sum_i32_lanes(scaled_pair(w, scales, pair, pair_values(x, pair)));
            let mins = pair_mins(scales, x, pair);
            match order {
                Order::Tiled => {
                    sum = (products as f32).mul_add(scale, sum);
                    min_sum = (mins as f32).mul_add(min_scale, min_sum);
                }
                Order::Single => {
                    block += products;
                    block_mins += mins;
                }
            }
        }
        if order == Order::Single {
            sum = (block as f32).mul_add(scale, sum);
            min_sum = (block_mins as f32).mul_add(min_scale, min_sum);
        }
    }
    sum - min_sum
}

/// [`dot_q4_k`] of each of `N` rows in the single order.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C.
unsafe fn dot_q4_k_each<const N: usize>(
    rows: &Rows<'_, BlockQ4K, N>,
    x: &[ActivationQ8K],
) -> [f32; N] {
    // SAFETY: the caller's.
    rows.each_ref()
        .map(|(w, scales)| unsafe { dot_q4_k(w, scales, x, Order::Single) })
}

/// Eight Q4_K weight rows' dot products with one activation row in the tiled
/// order, the rows in the lanes (as llama.cpp's repacked tiles): each sub-block
/// pair's eight integer sums reduced together, then scaled into eight f32 sums.
/// The same arithmetic, lane by lane, as [`dot_q4_k`] with [`Order::Tiled`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
#[inline(never)]
unsafe fn dot_q4_k_tiled(rows: &Rows<'_, BlockQ4K, TILE>, x: &[ActivationQ8K]) -> [f32; TILE] {
    let (mut sum, mut min_sum) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    for (b, x) in x.iter().enumerate() {
        let xd = _mm256_set1_ps(x.d);
        let d: [f32; TILE] = std::array::from_fn(|r| rows[r].0[b].d.to_f32());
        let dmin: [f32; TILE] = std::array::from_fn(|r| rows[r].0[b].dmin.to_f32());
        let scale = _mm256_mul_ps(_mm256_loadu_ps(d.as_ptr()), xd);
        let min_scale = _mm256_mul_ps(_mm256_loadu_ps(dmin.as_ptr()), xd);
        for pair in 0..4 {
            let values = pair_values(x, pair);
            let lanes: [__m256i; TILE] =
                std::array::from_fn(|r| scaled_pair(&rows[r].0[b], &rows[r].1[b], pair, values));
            let products = sum_each_i32_lanes(&lanes);
            let mins: [i32; TILE] = std::array::from_fn(|r| pair_mins(&rows[r].1[b], x, pair));
            let mins = _mm256_loadu_si256(mins.as_ptr().cast());
            sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(products), scale, sum);
            min_sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mins), min_scale, min_sum);
        }
    }
    let mut out = [0f32; TILE];
    _mm256_storeu_ps(out.as_mut_ptr(), _mm256_sub_ps(sum, min_sum));
    out
}

/// The activations of Q4_K's sub-block pair `pair` (64 values, two vectors).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn pair_values(x: &ActivationQ8K, pair: usize) -> [__m256i; 2] {
    [
        _mm256_loadu_si256(x.qs[64 * pair..].as_ptr().cast()),
        _mm256_loadu_si256(x.qs[64 * pair + 32..].as_ptr().cast()),
    ]
}

/// A Q4_K super-block's sub-block pair `pair` times its activations `x`, each
/// sub-block's products times its scale: eight lanes of partial integer sums.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn scaled_pair(block: &BlockQ4K, scales: &Scales, pair: usize, x: [__m256i; 2]) -> __m256i {
    let low_nibbles = _mm256_set1_epi8(0x0F);
    let packed = _mm256_loadu_si256(block.qs[32 * pair..].as_ptr().cast());
    let low = _mm256_and_si256(packed, low_nibbles);
    let high = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_nibbles);
    _mm256_add_epi32(
        _mm256_madd_epi16(
            _mm256_maddubs_epi16(low, x[0]),
            _mm256_set1_epi16(scales[2 * pair]),
        ),
        _mm256_madd_epi16(
            _mm256_maddubs_epi16(high, x[1]),
            _mm256_set1_epi16(scales[2 * pair + 1]),
        ),
    )
}

/// The eight vectors' lane totals, vector `r`'s in lane `r` (exact integer sums).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sum_each_i32_lanes(v: &[__m256i; TILE]) -> __m256i {
    let quarter = |a: usize| _mm256_hadd_epi32(v[a], v[a + 1]);
    let first = _mm256_hadd_epi32(quarter(0), quarter(2));
    let second = _mm256_hadd_epi32(quarter(4), quarter(6));
    _mm256_add_epi32(
        _mm256_permute2x128_si256(first, second, 0x20),
        _mm256_permute2x128_si256(first, second, 0x31),
    )
}

/// One weight row's Q6_K dot product with one activation row, in `order`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
#[inline(never)]
unsafe fn dot_q6_k(w: &[BlockQ6K], scales: &[Scales], x: &[ActivationQ8K], order: Order) -> f32 {
    let mut lanes_sum = _mm256_setzero_ps();
    let mut sum = 0f32;
    for ((w, scales), x) in w.iter().zip(scales).zip(x) {
        let mut lanes = _mm256_setzero_si256();
        for half in 0..2 {
            let quarters = six_bit_values(
                &w.ql[64 * half..64 * (half + 1)],
                &w.qh[32 * half..32 * (half + 1)],
            );
            for (quarter, q) in quarters.into_iter().enumerate() {
                let start = 128 * half + 32 * quarter;
                let qx = _mm256_loadu_si256(x.qs[start..].as_ptr().cast());
                // 16 values per scale: the vector's halves take consecutive ones.
                let group = start / 16;
                let scale = _mm256_set_m128i(
                    _mm_set1_epi16(scales[group + 1]),
                    _mm_set1_epi16(scales[group]),
                );
                lanes =
                    _mm256_add_epi32(lanes, _mm256_madd_epi16(_mm256_maddubs_epi16(q, qx), scale));
            }
        }
        // Minus 32 * q8 via the activation sums: lane k takes groups 2k and 2k + 1.
        let offsets = _mm256_madd_epi16(
            _mm256_loadu_si256(x.sums.as_ptr().cast()),
            _mm256_loadu_si256(scales.as_ptr().cast()),
        );
        lanes = _mm256_sub_epi32(lanes, _mm256_slli_epi32(offsets, 5));
        match order {
            Order::Single => {
                let scale = _mm256_set1_ps(x.d * w.d.to_f32());
                lanes_sum = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(lanes), lanes_sum);
            }
            Order::Tiled => {
                let weighted = sum_i32_lanes(lanes) as f32 * w.d.to_f32();
                sum = weighted.mul_add(x.d, sum);
            }
        }
    }
    match order {
        Order::Single => sum_lanes(lanes_sum),
        Order::Tiled => sum,
    }
}

/// 128 Q6_K values (0 to 63) from 64 bytes of low nibbles and 32 of high bit
/// pairs, as four vectors of 32 in order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn six_bit_values(low: &[u8], high: &[u8]) -> [__m256i; 4] {
    let nibble = _mm256_set1_epi8(0x0F);
    let two_bits = _mm256_set1_epi8(3);
    let low_a = _mm256_loadu_si256(low.as_ptr().cast());
    let low_b = _mm256_loadu_si256(low[32..].as_ptr().cast());
    let high = _mm256_loadu_si256(high.as_ptr().cast());
    [
        _mm256_or_si256(_mm256_and_si256(low_a, nibble), top(high, two_bits)),
        _mm256_or_si256(
            _mm256_and_si256(low_b, nibble),
            top(_mm256_srli_epi16(high, 2), two_bits),
        ),
        _mm256_or_si256(
            _mm256_and_si256(_mm256_srli_epi16(low_a, 4), nibble),
            top(_mm256_srli_epi16(high, 4), two_bits),
        ),
        _mm256_or_si256(
            _mm256_and_si256(_mm256_srli_epi16(low_b, 4), nibble),
            top(_mm256_srli_epi16(high, 6), two_bits),
        ),
    ]
}

/// The low two bits of each byte moved to bits 4 and 5.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn top(bits: __m256i, two_bits: __m256i) -> __m256i {
    _mm256_slli_epi16(_mm256_and_si256(bits, two_bits), 4)
}

/// The sum of eight i32 lanes (exact: integer addition in any order).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sum_i32_lanes(x: __m256i) -> i32 {
    let sum = _mm_add_epi32(_mm256_extracti128_si256(x, 1), _mm256_castsi256_si128(x));
    let sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0b01_00_11_10));
    let sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0b10_11_00_01));
    _mm_cvtsi128_si32(sum)
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn dot_q4_k(_: &[BlockQ4K], _: &[Scales], _: &[ActivationQ8K], _: Order) -> f32 {
    unreachable!("`applies` is false off x86_64")
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn dot_q4_k_tiled(_: &Rows<'_, BlockQ4K, TILE>, _: &[ActivationQ8K]) -> [f32; TILE] {
    unreachable!("`applies` is false off x86_64")
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn dot_q6_k(_: &[BlockQ6K], _: &[Scales], _: &[ActivationQ8K], _: Order) -> f32 {
    unreachable!("`applies` is false off x86_64")
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use crate::transformer::quantized_matmul::{applies, has_x86_features, matmul};
    use crate::transformer::test_support::{assert_near_dequantized_product, uniform};
    use candle_core::quantized::QTensor;

    /// A weight row's super-blocks as (d, dmin or 0, per-32 or per-16 scales,
    /// per-32 mins, the 256 unsigned integers), read with plain scalar code.
    struct Decoded {
        d: f32,
        dmin: f32,
        scales: Vec<i32>,
        mins: Vec<i32>,
        q: Vec<i32>,
    }

    fn decode_q4_k(block: &BlockQ4K) -> Decoded {
        let unpacked = q4_k_scales(&block.scales).map(i32::from);
        let (scales, mins) = (unpacked[..8].to_vec(), unpacked[8..].to_vec());
        let mut q = vec![0; SUPER_BLOCK];
        for (i, &byte) in block.qs.iter().enumerate() {
            let (chunk, offset) = (i / 32, i % 32);
            q[64 * chunk + offset] = i32::from(byte & 0xF);
            q[64 * chunk + 32 + offset] = i32::from(byte >> 4);
        }
        Decoded {
            d: block.d.to_f32(),
            dmin: block.dmin.to_f32(),
            scales,
            mins,
            q,
        }
    }

    fn decode_q6_k(block: &BlockQ6K) -> Decoded {
        let mut q = vec![0; SUPER_BLOCK];
        for half in 0..2 {
            for l in 0..32 {
                let (low, high) = (&block.ql[64 * half..], block.qh[32 * half + l]);
                let at = 128 * half + l;
                q[at] = i32::from((low[l] & 0xF) | ((high & 3) << 4));
                q[at + 32] = i32::from((low[l + 32] & 0xF) | (((high >> 2) & 3) << 4));
                q[at + 64] = i32::from((low[l] >> 4) | (((high >> 4) & 3) << 4));
                q[at + 96] = i32::from((low[l + 32] >> 4) | (((high >> 6) & 3) << 4));
            }
        }
        Decoded {
            d: block.d.to_f32(),
            dmin: 0.0,
            scales: block.scales.iter().map(|&s| i32::from(s)).collect(),
            mins: Vec::new(),
            q,
        }
    }

    /// llama.cpp's accumulation of one Q4_K dot product, written out in scalar
    /// code: `group` sub-blocks of 32 per f32 step (2 for the tiled order, 8 for
    /// whole super-blocks).
    fn reference_q4_k(w: &[Decoded], x: &[ActivationQ8K], group: usize) -> f32 {
        let (mut sum, mut min_sum) = (0f32, 0f32);
        for (w, x) in w.iter().zip(x) {
            for first in (0..8).step_by(group) {
                let (mut products, mut mins) = (0, 0);
                for s in first..first + group {
                    let range = 32 * s..32 * (s + 1);
                    let dot: i32 = w.q[range.clone()]
                        .iter()
                        .zip(&x.qs[range.clone()])
                        .map(|(&q, &y)| q * i32::from(y))
                        .sum();
                    let sum_x: i32 = x.qs[range].iter().map(|&y| i32::from(y)).sum();
                    products += w.scales[s] * dot;
                    mins += w.mins[s] * sum_x;
                }
                sum = (products as f32).mul_add(w.d * x.d, sum);
                min_sum = (mins as f32).mul_add(w.dmin * x.d, min_sum);
            }
        }
        sum - min_sum
    }

    /// The integer sum of one Q6_K super-block, element `e` counted in `bucket(e)`.
    fn q6_k_sums(w: &Decoded, x: &ActivationQ8K, bucket: impl Fn(usize) -> usize) -> [i32; 8] {
        let mut sums = [0; 8];
        for e in 0..SUPER_BLOCK {
            sums[bucket(e)] += w.scales[e / 16] * (w.q[e] - 32) * i32::from(x.qs[e]);
        }
        sums
    }

    /// llama.cpp's Q6_K orders in scalar code: tiled, each super-block's sum
    /// times the weight's scale, fused with the activation's; otherwise eight
    /// lanes (lane `(e % 32) / 4`, the offsets of groups 2k and 2k + 1 in lane k:
    /// the same integers, moved between lanes) summed as `hsum_float_8`.
    fn reference_q6_k(w: &[Decoded], x: &[ActivationQ8K], order: Order) -> f32 {
        let mut lanes = [0f32; 8];
        let mut sum = 0f32;
        for (w, x) in w.iter().zip(x) {
            let whole: i32 = q6_k_sums(w, x, |_| 0).iter().sum();
            match order {
                Order::Tiled => sum = (whole as f32 * w.d).mul_add(x.d, sum),
                Order::Single => {
                    // The products of q (not q - 32) in lanes, the offsets per group pair.
                    let mut split = [0i32; 8];
                    for e in 0..SUPER_BLOCK {
                        split[(e % 32) / 4] += w.scales[e / 16] * w.q[e] * i32::from(x.qs[e]);
                    }
                    for (k, lane) in split.iter_mut().enumerate() {
                        for g in [2 * k, 2 * k + 1] {
                            *lane -= 32 * w.scales[g] * i32::from(x.sums[g]);
                        }
                        lanes[k] = (*lane as f32).mul_add(x.d * w.d, lanes[k]);
                    }
                }
            }
        }
        match order {
            Order::Tiled => sum,
            Order::Single => {
                let halves: [f32; 4] = std::array::from_fn(|i| lanes[i + 4] + lanes[i]);
                (halves[0] + halves[2]) + (halves[1] + halves[3])
            }
        }
    }

    #[test]
    fn activations_round_as_quantize_row_q8_k() {
        // A factor of 1: halves go to the even neighbour; the first largest
        // magnitude (negative) sets the sign, the equal positive one stays 127.
        let mut x = [0f32; SUPER_BLOCK];
        x[..6].copy_from_slice(&[-127.0, 0.5, 1.5, 2.5, -2.5, 127.0]);
        let block = quantize_q8_k(&x);
        assert_eq!(block.d, 1.0);
        assert_eq!(block.qs[..6], [-127, 0, 2, 2, -2, 127]);
        assert_eq!(block.sums[0], 2);
        assert!(block.sums[1..].iter().all(|&s| s == 0));
        // The scale is the factor's reciprocal, not max / 127.
        x[..6].copy_from_slice(&[-100.0, 10.0, 0.0, 0.0, 0.0, 0.0]);
        let block = quantize_q8_k(&x);
        assert_eq!(block.d, 1.0 / (127.0f32 / 100.0));
        assert_eq!(block.qs[..2], [-127, 13]);
        assert_eq!(quantize_q8_k(&[0.0; SUPER_BLOCK]).d, 0.0);
    }

    #[test]
    fn rows_take_the_order_llama_cpp_gives_them() {
        let orders: Vec<Order> = (0..7).map(|row| q4_k_order(row, 7)).collect();
        assert_eq!(orders[..4], [Order::Tiled; 4]);
        assert_eq!(orders[4..], [Order::Single; 3]);
        assert!((0..3).all(|row| q4_k_order(row, 3) == Order::Single));
        // Each sequence of a batch is grouped from its own start.
        assert_eq!(q4_k_order(5, 5), Order::Tiled);
        assert_eq!(q6_k_order(7), Order::Single);
        assert_eq!(q6_k_order(8), Order::Tiled);
    }

    #[test]
    fn kernels_add_in_llama_cpp_order() {
        assert!(
            has_x86_features(),
            "these kernels need a CPU with AVX2, FMA and F16C"
        );
        let inputs = 2 * SUPER_BLOCK;
        let x = uniform(3, inputs, 5).to_vec2::<f32>().unwrap();
        let x: Vec<Vec<ActivationQ8K>> = x
            .iter()
            .map(|row| row.chunks_exact(SUPER_BLOCK).map(quantize_q8_k).collect())
            .collect();
        let weight = uniform(16, inputs, 6);
        let (mut tiled_differs, mut single_differs) = (false, false);

        let q4 = QTensor::quantize(&weight, GgmlDType::Q4K).unwrap();
        let bytes = q4.data().unwrap();
        let rows = blocks::<BlockQ4K>(&bytes, 32).unwrap();
        for w in rows.chunks_exact(2) {
            let decoded: Vec<Decoded> = w.iter().map(decode_q4_k).collect();
            let scales: Vec<Scales> = w.iter().map(|b| q4_k_scales(&b.scales)).collect();
            for x in &x {
                // SAFETY: the CPU has AVX2, FMA and F16C (asserted above).
                let (tiled, single) = unsafe {
                    (
                        dot_q4_k(w, &scales, x, Order::Tiled),
                        dot_q4_k(w, &scales, x, Order::Single),
                    )
                };
                assert_eq!(tiled, reference_q4_k(&decoded, x, 2));
                assert_eq!(single, reference_q4_k(&decoded, x, 8));
                tiled_differs |= tiled != single;
            }
        }
        // Eight rows in the lanes give each row's tiled result bit for bit.
        for tile in rows.chunks_exact(2 * TILE) {
            let tile: Rows<'_, BlockQ4K, TILE> = std::array::from_fn(|r| {
                let row = &tile[2 * r..2 * r + 2];
                (row, row.iter().map(|b| q4_k_scales(&b.scales)).collect())
            });
            for x in &x {
                // SAFETY: as above.
                let lanes = unsafe { dot_q4_k_tiled(&tile, x) };
                for (r, (row, scales)) in tile.iter().enumerate() {
                    // SAFETY: as above.
                    let single = unsafe { dot_q4_k(row, scales, x, Order::Tiled) };
                    assert_eq!(lanes[r], single);
                }
            }
        }

        let q6 = QTensor::quantize(&weight, GgmlDType::Q6K).unwrap();
        let bytes = q6.data().unwrap();
        let rows = blocks::<BlockQ6K>(&bytes, 32).unwrap();
        for w in rows.chunks_exact(2) {
            let decoded: Vec<Decoded> = w.iter().map(decode_q6_k).collect();
            let scales: Vec<Scales> = w.iter().map(|b| b.scales.map(i16::from)).collect();
            for x in &x {
                // SAFETY: as above.
                let (tiled, single) = unsafe {
                    (
                        dot_q6_k(w, &scales, x, Order::Tiled),
                        dot_q6_k(w, &scales, x, Order::Single),
                    )
                };
                assert_eq!(tiled, reference_q6_k(&decoded, x, Order::Tiled));
                assert_eq!(single, reference_q6_k(&decoded, x, Order::Single));
                single_differs |= tiled != single;
            }
        }
        assert!(
            tiled_differs && single_differs,
            "the orders must be told apart"
        );
    }

    #[test]
    fn products_match_the_dequantized_weights() {
        // 9 rows: Q4_K's first 8 tiled and the last alone; Q6_K tiled; 3 rows: alone.
        for rows in [9, 3] {
            let x = uniform(rows, 2 * SUPER_BLOCK, 7);
            let w = uniform(24, 2 * SUPER_BLOCK, 8);
            for dtype in [GgmlDType::Q4K, GgmlDType::Q6K] {
                let q = QTensor::quantize(&w, dtype).unwrap();
                assert!(applies(&x, &q));
                assert_near_dequantized_product(&matmul(&x, &q).unwrap(), &x, &q);
            }
        }
        // llama.cpp repacks Q4_K only in whole tiles of 8 rows; others stay candle's.
        let q = QTensor::quantize(&uniform(12, SUPER_BLOCK, 9), GgmlDType::Q4K).unwrap();
        assert!(!applies(&uniform(1, SUPER_BLOCK, 10), &q));
    }
}
