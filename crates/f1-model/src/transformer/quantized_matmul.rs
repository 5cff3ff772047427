//! llama.cpp's CPU products of Q4_1, Q5_0 and Q8_0 weights with f32 activations
//! (x86 with AVX2, FMA and F16C).
//!
//! candle 0.11 multiplies Q4_1 and Q5_0 with its scalar reference dot products
//! (its SIMD kernels cover Q4_0, Q8_0 and the k-quants), which held SmolLM2's
//! decode (Q4_1 throughout) to about half of llama.cpp's speed and slowed Gemma 3's
//! (Q5_0 projections in its Q4_K_M file); and it rounds the activations of all
//! three to 8 bits differently from ggml, which moved the logits. This module is
//! ggml's x86 path, written out because no maintained crate has it: the
//! activations rounded to 8 bits as `quantize_row_q8_1` / `quantize_row_q8_0` do
//! (scale 127/max, halves to even, the Q8_1 block sum from the unrounded scale,
//! where candle differs on all three) and `ggml_vec_dot_q4_1_q8_1` /
//! `ggml_vec_dot_q5_0_q8_0` / `ggml_vec_dot_q8_0_q8_0`'s order of accumulation,
//! two weight rows at a time, over candle's CPU thread pool. Q4_K and Q6_K weights
//! go to `k_quant_matmul`. The kernels are never inlined: inlined into the
//! product's closure, SmolLM2's decode measured 15% slower.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{bail, DType, Result, Tensor};
use half::f16;

use super::k_quant_matmul;
#[cfg(target_arch = "x86_64")]
use super::quantized_blocks::sum_lanes;
use super::quantized_blocks::{blocks, grouped_product};

/// Values per quantization block.
pub(crate) const BLOCK: usize = 32;

/// A Q4_1 weight block: `d * q + m` for 4-bit `q`, low nibbles first.
#[repr(C)]
pub(crate) struct BlockQ4_1 {
    d: f16,
    m: f16,
    qs: [u8; BLOCK / 2],
}

impl BlockQ4_1 {
    /// The block's 32 values in f32 (as candle's and ggml's `to_float`).
    pub(crate) fn values(&self) -> [f32; BLOCK] {
        let (d, m) = (self.d.to_f32(), self.m.to_f32());
        let mut values = [0f32; BLOCK];
        let (low, high) = values.split_at_mut(BLOCK / 2);
        for ((low, high), &q) in low.iter_mut().zip(high).zip(&self.qs) {
            *low = f32::from(q & 0x0F) * d + m;
            *high = f32::from(q >> 4) * d + m;
        }
        values
    }

    /// The scale `d`, the minimum `m` and the nibbles: input `i` (below 16) is
    /// `d * (qs[i] & 15) + m`, input `16 + i` is `d * (qs[i] >> 4) + m`.
    pub(crate) fn parts(&self) -> (f32, f32, &[u8; BLOCK / 2]) {
        (self.d.to_f32(), self.m.to_f32(), &self.qs)
    }
}

/// A Q5_0 block: `d * (q - 16)` for 5-bit `q`, the fifth bits in `qh`.
#[repr(C)]
pub(crate) struct BlockQ5_0 {
    d: f16,
    qh: [u8; 4],
    qs: [u8; BLOCK / 2],
}

impl BlockQ5_0 {
    /// The scale `d`, the fifth bits and the nibbles: input `i` (below 16) is
    /// `d * ((qs[i] & 15 | bit i of qh << 4) - 16)`, input `16 + i` likewise
    /// from `qs[i] >> 4` and bit `16 + i`.
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn parts(&self) -> (f32, u32, &[u8; BLOCK / 2]) {
        (self.d.to_f32(), u32::from_le_bytes(self.qh), &self.qs)
    }
}

/// A Q8_0 block: `d * q` for 8-bit `q`.
#[repr(C)]
pub(crate) struct BlockQ8_0 {
    d: f16,
    qs: [i8; BLOCK],
}

impl BlockQ8_0 {
    /// The scale `d` and the values `q`: input `i` is `d * qs[i]`.
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn parts(&self) -> (f32, &[i8; BLOCK]) {
        (self.d.to_f32(), &self.qs)
    }
}

/// An activation block in 8 bits: Q8_0's values, its f16 scale held as f32 so
/// that each weight row does not convert it again.
struct ActivationQ8_0 {
    d: f32,
    qs: [i8; BLOCK],
}

/// Q8_1 likewise: Q8_0 plus `s = d * sum(qs)` (rounded to f16), for Q4_1 weights.
struct ActivationQ8_1 {
    d: f32,
    s: f32,
    qs: [i8; BLOCK],
}

/// Whether [`matmul`] computes `x W^T` for this weight: Q4_1, Q5_0, Q8_0, Q6_K, or
/// Q4_K with a multiple of 8 output rows (as llama.cpp repacks it), on a CPU with
/// AVX2, FMA and F16C, with an f32 input that needs no gradient.
pub fn applies(x: &Tensor, weight: &QTensor) -> bool {
    let handled = match weight.dtype() {
        GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q8_0 | GgmlDType::Q6K => true,
        GgmlDType::Q4K => weight
            .shape()
            .dims2()
            .is_ok_and(|(outputs, _)| outputs.is_multiple_of(8)),
        _ => false,
    };
    handled && x.device().is_cpu() && x.dtype() == DType::F32 && !x.track_op() && has_x86_features()
}

pub(crate) fn has_x86_features() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `x W^T` for `x` of any rank ending in the weight's input size, as llama.cpp
/// computes it. Call only where [`applies`] holds.
pub fn matmul(x: &Tensor, weight: &QTensor) -> Result<Tensor> {
    matmul_rounding(x, weight, quantize_q8_0)
}

/// `x W^T` for a Q8_0 weight with the activations rounded as candle rounds them
/// (`BlockQ8_0::from_float`: times `1 / d`, halves away from zero), so that each
/// row gets the bits of candle's own kernel (its dot products sum as ggml's), while
/// the weight blocks are unpacked once per four rows. Call only where [`applies`]
/// holds.
pub fn matmul_as_candle(x: &Tensor, weight: &QTensor) -> Result<Tensor> {
    if weight.dtype() != GgmlDType::Q8_0 {
        bail!(
            "quantized matmul: candle's rounding is for Q8_0 weights, not {:?}",
            weight.dtype()
        );
    }
    matmul_rounding(x, weight, quantize_q8_0_as_candle)
}

/// [`matmul`] with `quantize_q8_0` rounding the activations of Q5_0 and Q8_0 weights.
fn matmul_rounding(
    x: &Tensor,
    weight: &QTensor,
    quantize_q8_0: fn(&[f32]) -> ActivationQ8_0,
) -> Result<Tensor> {
    let (outputs, inputs) = weight.shape().dims2()?;
    let mut dims = x.dims().to_vec();
    if dims.pop() != Some(inputs) || !inputs.is_multiple_of(BLOCK) {
        bail!(
            "quantized matmul: input {:?} does not fit a ({outputs}, {inputs}) weight",
            x.dims()
        );
    }
    let rows = dims.iter().product::<usize>();
    // llama.cpp multiplies one sequence (a batch of its tokens) at a time.
    let sequence = dims.last().copied().unwrap_or(1);
    let x = x.flatten_all()?.to_vec1::<f32>()?;
    let bytes = weight.data()?;
    let mut out = vec![0f32; rows * outputs];
    match weight.dtype() {
        GgmlDType::Q4_1 => {
            let weight = blocks::<BlockQ4_1>(&bytes, outputs * inputs / BLOCK)?;
            two_row_product(
                weight,
                (&x, inputs),
                &mut out,
                quantize_q8_1,
                (dot_q4_1_q8_1, dot_q4_1_q8_1),
            );
        }
        GgmlDType::Q5_0 => {
            let weight = blocks::<BlockQ5_0>(&bytes, outputs * inputs / BLOCK)?;
            two_row_product(
                weight,
                (&x, inputs),
                &mut out,
                quantize_q8_0,
                (dot_q5_0_q8_0, dot_q5_0_q8_0),
            );
        }
        GgmlDType::Q8_0 => {
            let weight = blocks::<BlockQ8_0>(&bytes, outputs * inputs / BLOCK)?;
            two_row_product(
                weight,
                (&x, inputs),
                &mut out,
                quantize_q8_0,
                (dot_q8_0_q8_0, dot_q8_0_q8_0),
            );
        }
        dtype @ (GgmlDType::Q4K | GgmlDType::Q6K) => {
            k_quant_matmul::matmul(dtype, &bytes, &x, (outputs, inputs), sequence, &mut out)?
        }
        other => bail!("quantized matmul: {other:?} weights are not handled here"),
    }
    dims.push(outputs);
    Tensor::from_vec(out, dims, &candle_core::Device::Cpu)
}

/// Activation rows each kernel call takes (the weight blocks unpacked once for
/// all of them): a batch of decoded sequences, or a prompt's tokens.
const ACTIVATION_ROWS: usize = 4;

/// A kernel: two weight rows' dot products with `R` activation rows.
type Dot<W, A, const R: usize> = unsafe fn([&[W]; 2], [&[A]; R]) -> [[f32; 2]; R];

/// `grouped_product` for 32-value blocks, `inputs` per row: the activations
/// rounded by `quantize`, each pair of weight rows multiplied by `dot` (four
/// activation rows at a time, then one at a time).
fn two_row_product<W: Sync, A: Sync>(
    weight: &[W],
    (x, inputs): (&[f32], usize),
    out: &mut [f32],
    quantize: fn(&[f32]) -> A,
    dot: (Dot<W, A, ACTIVATION_ROWS>, Dot<W, A, 1>),
) {
    let x: Vec<A> = x.chunks_exact(BLOCK).map(quantize).collect();
    // SAFETY: the kernels need AVX2, FMA and F16C, which `applies` checked.
    grouped_product(
        weight,
        &x,
        inputs / BLOCK,
        out,
        |w, x| unsafe { dot.0(w, x) },
        |w, x| unsafe { dot.1(w, [x]) }[0],
    );
}

/// llama.cpp's 8-bit rounding of a block (x86): the scale `max / 127` (not yet
/// rounded to f16) and the values times `127 / max`, rounded half to even.
fn round_to_8_bits(x: &[f32]) -> (f32, [i8; BLOCK]) {
    let max = x.iter().fold(0f32, |max, v| max.max(v.abs()));
    let inverse = if max != 0.0 { 127.0 / max } else { 0.0 };
    let qs = std::array::from_fn(|i| (x[i] * inverse).round_ties_even() as i8);
    (max / 127.0, qs)
}

/// `quantize_row_q8_0` (x86).
fn quantize_q8_0(x: &[f32]) -> ActivationQ8_0 {
    let (d, qs) = round_to_8_bits(x);
    ActivationQ8_0 {
        d: f16::from_f32(d).to_f32(),
        qs,
    }
}

/// candle's `BlockQ8_0::from_float`: `d = max / 127` (rounded to f16 when
/// stored), the values times `1 / d`, rounded half away from zero.
fn quantize_q8_0_as_candle(x: &[f32]) -> ActivationQ8_0 {
    let max = x.iter().fold(0f32, |max, v| max.max(v.abs()));
    let d = max / 127.0;
    let inverse = if d != 0.0 { 1.0 / d } else { 0.0 };
    ActivationQ8_0 {
        d: f16::from_f32(d).to_f32(),
        qs: std::array::from_fn(|i| (x[i] * inverse).round() as i8),
    }
}

/// `quantize_row_q8_1` (x86): the block sum is taken times the unrounded scale.
fn quantize_q8_1(x: &[f32]) -> ActivationQ8_1 {
    let (d, qs) = round_to_8_bits(x);
    let sum: i32 = qs.iter().map(|&q| i32::from(q)).sum();
    ActivationQ8_1 {
        d: f16::from_f32(d).to_f32(),
        s: f16::from_f32(d * sum as f32).to_f32(),
        qs,
    }
}

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// `ggml_vec_dot_q4_1_q8_1`, AVX2, for two weight rows and `R` activation rows
/// at once: per block `d_w d_x (q_w . q_x)` accumulated in eight lanes, plus the
/// sum of `m_w s_x`. Each weight block is unpacked once for the `R` rows; every
/// (weight row, activation row) product sums exactly as ggml's does alone.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
#[inline(never)]
unsafe fn dot_q4_1_q8_1<const R: usize>(
    w: [&[BlockQ4_1]; 2],
    x: [&[ActivationQ8_1]; R],
) -> [[f32; 2]; R] {
    let blocks = w[0].len();
    assert!(w[1].len() == blocks && x.iter().all(|x| x.len() == blocks));
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    let mut mins = [[0f32; 2]; R];
    for block in 0..blocks {
        for row in 0..2 {
            let w = &w[row][block];
            // d and m side by side, converted together.
            let dm = _mm_cvtph_ps(_mm_cvtsi32_si128(std::ptr::read_unaligned(
                (w as *const BlockQ4_1).cast::<i32>(),
            )));
            let (d, m) = (
                _mm256_broadcastss_ps(dm),
                _mm_cvtss_f32(_mm_movehdup_ps(dm)),
            );
            let qw = bytes_from_nibbles(&w.qs);
            for (r, x) in x.iter().enumerate() {
                let x = &x[block];
                mins[r][row] += m * x.s;
                let scale = _mm256_mul_ps(d, _mm256_set1_ps(x.d));
                let qx = _mm256_loadu_si256(x.qs.as_ptr().cast());
                acc[r][row] = _mm256_fmadd_ps(scale, unsigned_signed_dot(qw, qx), acc[r][row]);
            }
        }
    }
    std::array::from_fn(|r| std::array::from_fn(|row| sum_lanes(acc[r][row]) + mins[r][row]))
}

/// `ggml_vec_dot_q5_0_q8_0`, AVX2, for two weight rows and `R` activation rows.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
#[inline(never)]
unsafe fn dot_q5_0_q8_0<const R: usize>(
    w: [&[BlockQ5_0]; 2],
    x: [&[ActivationQ8_0]; R],
) -> [[f32; 2]; R] {
    let blocks = w[0].len();
    assert!(w[1].len() == blocks && x.iter().all(|x| x.len() == blocks));
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    // Byte j of lane group j / 8 tests bit j of the fifth bits.
    let spread = _mm256_set_epi64x(
        0x0303030303030303,
        0x0202020202020202,
        0x0101010101010101,
        0,
    );
    let other_bits = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
    for block in 0..blocks {
        for row in 0..2 {
            let w = &w[row][block];
            let d = w.d.to_f32();
            let low = bytes_from_nibbles(&w.qs);
            let fifth = _mm256_shuffle_epi8(_mm256_set1_epi32(i32::from_le_bytes(w.qh)), spread);
            let fifth_set =
                _mm256_cmpeq_epi8(_mm256_or_si256(fifth, other_bits), _mm256_set1_epi64x(-1));
            // q - 16: the nibble with 0xF0 added (as i8) where the fifth bit is clear.
            let qw = _mm256_or_si256(
                low,
                _mm256_andnot_si256(fifth_set, _mm256_set1_epi8(0xF0u8 as i8)),
            );
            for (r, x) in x.iter().enumerate() {
                let x = &x[block];
                let scale = _mm256_set1_ps(d * x.d);
                let qx = _mm256_loadu_si256(x.qs.as_ptr().cast());
                acc[r][row] = _mm256_fmadd_ps(scale, signed_dot(qw, qx), acc[r][row]);
            }
        }
    }
    std::array::from_fn(|r| std::array::from_fn(|row| sum_lanes(acc[r][row])))
}

/// `ggml_vec_dot_q8_0_q8_0`, AVX2, for two weight rows and `R` activation rows.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
#[inline(never)]
unsafe fn dot_q8_0_q8_0<const R: usize>(
    w: [&[BlockQ8_0]; 2],
    x: [&[ActivationQ8_0]; R],
) -> [[f32; 2]; R] {
    let blocks = w[0].len();
    assert!(w[1].len() == blocks && x.iter().all(|x| x.len() == blocks));
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    for block in 0..blocks {
        for row in 0..2 {
            let w = &w[row][block];
            let d = w.d.to_f32();
            let qw = _mm256_loadu_si256(w.qs.as_ptr().cast());
            for (r, x) in x.iter().enumerate() {
                let x = &x[block];
                let scale = _mm256_set1_ps(d * x.d);
                let qx = _mm256_loadu_si256(x.qs.as_ptr().cast());
                acc[r][row] = _mm256_fmadd_ps(scale, signed_dot(qw, qx), acc[r][row]);
            }
        }
    }
    std::array::from_fn(|r| std::array::from_fn(|row| sum_lanes(acc[r][row])))
}

/// ggml's `bytes_from_nibbles_32`: 16 bytes of packed 4-bit values as 32 bytes,
/// the low nibbles first, then the high ones.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn bytes_from_nibbles(packed: &[u8; BLOCK / 2]) -> __m256i {
    let packed = _mm_loadu_si128(packed.as_ptr().cast());
    _mm256_and_si256(
        _mm256_set1_epi8(0x0F),
        _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed),
    )
}

/// Sums of four adjacent i8 x i8 products, as eight f32 lanes: |a| against b
/// carrying a's sign, as ggml's `mul_sum_i8_pairs_float`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn signed_dot(a: __m256i, b: __m256i) -> __m256 {
    unsigned_signed_dot(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a))
}

/// Sums of four adjacent u8 x i8 products, as eight f32 lanes (exact: the sums
/// stay far inside i16 and f32's integer range).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn unsigned_signed_dot(unsigned: __m256i, signed: __m256i) -> __m256 {
    let pairs = _mm256_maddubs_epi16(unsigned, signed);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn dot_q4_1_q8_1<const R: usize>(
    _: [&[BlockQ4_1]; 2],
    _: [&[ActivationQ8_1]; R],
) -> [[f32; 2]; R] {
    unreachable!("`applies` is false off x86_64")
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn dot_q5_0_q8_0<const R: usize>(
    _: [&[BlockQ5_0]; 2],
    _: [&[ActivationQ8_0]; R],
) -> [[f32; 2]; R] {
    unreachable!("`applies` is false off x86_64")
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn dot_q8_0_q8_0<const R: usize>(
    _: [&[BlockQ8_0]; 2],
    _: [&[ActivationQ8_0]; R],
) -> [[f32; 2]; R] {
    unreachable!("`applies` is false off x86_64")
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use crate::transformer::test_support::{assert_near_dequantized_product, uniform};
    use candle_core::quantized::QMatMul;
    use candle_core::{Device, Module};

    #[test]
    fn activations_round_as_llama_cpp_does() {
        // max 127 makes the scale 1: halves go to the even neighbour (candle's
        // rounding gives 1, 3, -3), and the Q8_1 sum uses the f32 scale.
        let mut x = [0f32; BLOCK];
        x[..6].copy_from_slice(&[127.0, 0.5, 1.5, 2.5, -0.5, -2.5]);
        let q8_1 = quantize_q8_1(&x);
        assert_eq!(q8_1.qs[..6], [127, 0, 2, 2, 0, -2]);
        assert_eq!((q8_1.d, q8_1.s), (1.0, 129.0));
        assert_eq!(quantize_q8_0(&x).qs[..6], q8_1.qs[..6]);

        x[0] = 100.0;
        let block = quantize_q8_1(&x);
        let sum: i32 = block.qs.iter().map(|&q| i32::from(q)).sum();
        let d = f16::from_f32(100.0 / 127.0);
        assert_eq!(block.d, d.to_f32());
        assert_eq!(block.s, f16::from_f32(100.0 / 127.0 * sum as f32).to_f32());
        assert_ne!(block.s, (f16::from_f32(sum as f32) * d).to_f32());
        assert_eq!(quantize_q8_1(&[0.0; BLOCK]).qs, [0; BLOCK]);
    }

    #[test]
    fn products_match_the_dequantized_weights() {
        assert!(
            has_x86_features(),
            "these kernels need a CPU with AVX2, FMA and F16C"
        );
        let x = uniform(3, 128, 1);
        let w = uniform(7, 128, 2);
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q8_0] {
            let q = QTensor::quantize(&w, dtype).unwrap();
            assert!(applies(&x, &q));
            assert_near_dequantized_product(&matmul(&x, &q).unwrap(), &x, &q);
        }
    }

    #[test]
    fn candles_rounding_gives_candles_bits_for_every_row() {
        let q = QTensor::quantize(&uniform(18, 96, 5), GgmlDType::Q8_0).unwrap();
        let candle = candle_core::quantized::QMatMul::from_qtensor(q).unwrap();
        let QMatMul::QTensor(q) = &candle else {
            panic!("a Q8_0 weight stays quantized")
        };
        for rows in [1, 2, 5, 8] {
            let x = uniform(rows, 96, 6);
            let ours = matmul_as_candle(&x, q).unwrap().to_vec2::<f32>().unwrap();
            let theirs = candle.forward(&x).unwrap().to_vec2::<f32>().unwrap();
            assert_eq!(ours, theirs, "{rows} rows");
        }
        let q4 = QTensor::quantize(&uniform(2, 32, 7), GgmlDType::Q4_1).unwrap();
        assert!(matmul_as_candle(&uniform(1, 32, 8), &q4).is_err());
    }

    #[test]
    fn each_row_is_computed_as_if_alone() {
        // Six rows: a group of four kernel rows and two left over.
        let x = uniform(6, 64, 3).reshape((3, 2, 64)).unwrap();
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q8_0] {
            let q = QTensor::quantize(&uniform(9, 64, 4), dtype).unwrap();
            let batch = matmul(&x, &q).unwrap();
            assert_eq!(batch.dims(), [3, 2, 9]);
            let batch = batch.flatten_to(1).unwrap().to_vec2::<f32>().unwrap();
            let rows = x.flatten_to(1).unwrap();
            for (row, values) in batch.iter().enumerate() {
                let alone = matmul(&rows.get(row).unwrap(), &q).unwrap();
                assert_eq!(
                    &alone.to_vec1::<f32>().unwrap(),
                    values,
                    "{dtype:?} row {row}"
                );
            }
        }
        let q = QTensor::quantize(&uniform(9, 64, 4), GgmlDType::Q4_1).unwrap();
        let wrong = Tensor::zeros((1, 32), DType::F32, &Device::Cpu).unwrap();
        assert!(matmul(&wrong, &q).is_err());
    }
}
