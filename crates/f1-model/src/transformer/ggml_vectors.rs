//! AVX-512 forms of four of `llama_cpp_rounding`'s loops, bit for bit: a new
//! token's attention scores (ggml's `ggml_vec_dot_f16` order, sixteen keys at a
//! time) and its weighted sum of values (the same order, sixteen dimensions at a
//! time), both for up to three heads that share the keys and values at once,
//! and the softmax and SiLU with ggml's vectorized `expf`. The scalar
//! forms stay the reference (and the path on CPUs without AVX-512); tests there
//! hold the two equal.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use std::sync::OnceLock;

use half::f16;

/// Values one AVX-512 register holds.
const LANES: usize = 16;
/// Terms of a product one register set sums before folding (four registers).
const BLOCK: usize = 4 * LANES;

/// Whether this CPU runs these loops (AVX-512F).
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            is_x86_feature_detected!("avx512f")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// Whether [`scores`] takes keys of `dim` values: whole blocks of 64.
pub fn scores_take(dim: usize) -> bool {
    dim > 0 && dim.is_multiple_of(BLOCK)
}

/// The most heads [`scores`] and [`weighted_values`] take at once (their
/// registers: three heads' accumulators and the shared key or value).
pub const MAX_HEADS: usize = 3;

/// For each of `H` heads that share the keys (grouped-query attention), `H` at
/// most [`MAX_HEADS`]: `weights[h][p]` = (`queries[h]` · key `p`) * `scale` +
/// `hidden[p]` (0 without a mask), each product summed as `Order::Vectors`
/// sums it: term `i` fused into accumulator `i % 64`, registers 0 + 2 and 1 +
/// 3, then those two, then the lanes as `_mm512_reduce_add_ps`. Keys are
/// `(positions, dim)` rows of f16, each widened once for all the heads.
///
/// # Safety
/// The CPU must have AVX-512F; `dim` must be [taken](scores_take).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub unsafe fn scores<const H: usize>(
    queries: [&[f32]; H],
    keys: &[f16],
    scale: f32,
    hidden: Option<&[f32]>,
    mut weights: [&mut [f32]; H],
) {
    const { assert!(H >= 1 && H <= MAX_HEADS) };
    let dim = queries[0].len();
    let positions = weights[0].len();
    assert!(scores_take(dim) && keys.len() == positions * dim);
    assert!((queries.iter()).all(|q| q.len() == dim));
    assert!((weights.iter()).all(|w| w.len() == positions));
    assert!(hidden.is_none_or(|h| h.len() == positions));
    let zero = _mm512_setzero_ps();
    for first in (0..positions).step_by(LANES) {
        let count = LANES.min(positions - first);
        // Each head's four accumulators of key `k`, folded to one register;
        // missing keys zero.
        let mut folded = [[zero; LANES]; H];
        for k in 0..count {
            let products = key_products(&queries, keys.as_ptr().add((first + k) * dim));
            for (folded, product) in folded.iter_mut().zip(products) {
                folded[k] = product;
            }
        }
        for (weights, folded) in weights.iter_mut().zip(&folded) {
            let sums = lane_totals(folded);
            for (i, w) in weights[first..first + count].iter_mut().enumerate() {
                *w = sums[i] * scale + hidden.map_or(0.0, |h| h[first + i]);
            }
        }
    }
}

/// Lane `k` of the result is `folded[k]`'s sixteen lanes added as
/// `_mm512_reduce_add_ps` adds them - halves (`i + 8`), quarters (`i + 4`),
/// then `(q0 + q2) + (q1 + q3)` - for sixteen keys side by side, each key's
/// sum exact.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn lane_totals(folded: &[__m512; LANES]) -> [f32; LANES] {
    let zero = _mm512_setzero_ps();
    let mut pairs = [zero; 2];
    for (m2, pair) in pairs.iter_mut().enumerate() {
        let mut quarters = [zero; 2];
        for (m1, quarter) in quarters.iter_mut().enumerate() {
            // Halves: keys 2m and 2m + 1 in one register, eight sums each.
            let mut halves = [zero; 2];
            for (m0, half) in halves.iter_mut().enumerate() {
                let k = 8 * m2 + 4 * m1 + 2 * m0;
                let (a, b) = (folded[k], folded[k + 1]);
                *half = _mm512_add_ps(
                    _mm512_shuffle_f32x4::<0b01_00_01_00>(a, b),
                    _mm512_shuffle_f32x4::<0b11_10_11_10>(a, b),
                );
            }
            // Quarters: keys 4m..4m + 4, one per 128-bit lane.
            let [a, b] = halves;
            *quarter = _mm512_add_ps(
                _mm512_shuffle_f32x4::<0b10_00_10_00>(a, b),
                _mm512_shuffle_f32x4::<0b11_01_11_01>(a, b),
            );
        }
        // (q0 + q2, q1 + q3) of keys L and 4 + L (first), 8 + L and 12 + L
        // (second) in 128-bit lane L.
        let [a, b] = quarters;
        *pair = _mm512_add_ps(
            _mm512_shuffle_ps::<0b01_00_01_00>(a, b),
            _mm512_shuffle_ps::<0b11_10_11_10>(a, b),
        );
    }
    let [a, b] = pairs;
    // Lane 4L + j holds key 4j + L.
    let totals = _mm512_add_ps(
        _mm512_shuffle_ps::<0b10_00_10_00>(a, b),
        _mm512_shuffle_ps::<0b11_01_11_01>(a, b),
    );
    let order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    let mut sums = [0f32; LANES];
    _mm512_storeu_ps(sums.as_mut_ptr(), _mm512_permutexvar_ps(order, totals));
    sums
}

/// Each of `queries` times the f16 key at `key` (as long), widened once: term
/// `i` fused into accumulator `i % 64` (four registers a query), registers 0 +
/// 2 and 1 + 3 added, then those two.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn key_products<const H: usize>(queries: &[&[f32]; H], key: *const f16) -> [__m512; H] {
    let mut acc = [[_mm512_setzero_ps(); 4]; H];
    for block in (0..queries[0].len()).step_by(BLOCK) {
        for r in 0..4 {
            let at = block + r * LANES;
            let key = load_f16(key.add(at));
            for (acc, query) in acc.iter_mut().zip(queries) {
                let q = _mm512_loadu_ps(query.as_ptr().add(at));
                acc[r] = _mm512_fmadd_ps(q, key, acc[r]);
            }
        }
    }
    acc.map(|acc| _mm512_add_ps(_mm512_add_ps(acc[0], acc[2]), _mm512_add_ps(acc[1], acc[3])))
}

/// Whether [`weighted_values`] takes values of `dim` dimensions: whole registers.
pub fn values_take(dim: usize) -> bool {
    dim > 0 && dim.is_multiple_of(LANES)
}

/// Accumulators of one head that [`weighted_values`] keeps in registers at once.
const ACCUMULATORS_AT_ONCE: usize = 8;

/// For each of `H` heads that share the values (grouped-query attention), `H`
/// at most [`MAX_HEADS`]: `outs[h][d]` = the sum over positions `p` of
/// `weights[h][p] * values[p][d]`, each of the `dim` sums in `Order::Vectors`'
/// order (ggml's product of the transposed values with the weights): term `p`
/// fused into accumulator `p % 64`, then accumulators `l + 32` into `l`, `l +
/// 16` into `l`, and the sixteen left as `_mm512_reduce_add_ps` adds lanes.
/// Values are `(positions, dim)` rows of f16, each widened once for all the
/// heads.
///
/// Sixteen dimensions at a time, eight of each head's 64 accumulators of
/// those dimensions in registers while every 64th position is fused in, so
/// nothing but the finished accumulators goes through memory.
///
/// # Safety
/// The CPU must have AVX-512F; `dim` must be [taken](values_take).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub unsafe fn weighted_values<const H: usize>(
    weights: [&[f32]; H],
    values: &[f16],
    mut outs: [&mut [f32]; H],
) {
    const { assert!(H >= 1 && H <= MAX_HEADS) };
    let dim = outs[0].len();
    let positions = weights[0].len();
    assert!(values_take(dim) && values.len() == positions * dim);
    assert!((weights.iter()).all(|w| w.len() == positions));
    assert!((outs.iter()).all(|out| out.len() == dim));
    let zero = _mm512_setzero_ps();
    for slice in 0..dim / LANES {
        let column = values.as_ptr().add(slice * LANES);
        // Accumulator `l` of these sixteen dimensions: positions l, l + 64, ...
        let mut accumulators = [[zero; BLOCK]; H];
        for start in (0..BLOCK).step_by(ACCUMULATORS_AT_ONCE) {
            let mut acc = [[zero; ACCUMULATORS_AT_ONCE]; H];
            let mut first = start;
            loop {
                let count = ACCUMULATORS_AT_ONCE.min(positions.saturating_sub(first));
                for j in 0..count {
                    let p = first + j;
                    let value = load_f16(column.add(p * dim));
                    for (acc, weights) in acc.iter_mut().zip(&weights) {
                        acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(weights[p]), value, acc[j]);
                    }
                }
                if count < ACCUMULATORS_AT_ONCE {
                    break;
                }
                first += BLOCK;
            }
            for (accumulators, acc) in accumulators.iter_mut().zip(&acc) {
                accumulators[start..start + ACCUMULATORS_AT_ONCE].copy_from_slice(acc);
            }
        }
        for (out, a) in outs.iter_mut().zip(&accumulators) {
            // Registers 0 + 2 and 1 + 3, then those two: one sum per lane `j`.
            let lanes: [__m512; LANES] = std::array::from_fn(|j| {
                _mm512_add_ps(
                    _mm512_add_ps(a[j], a[j + 2 * LANES]),
                    _mm512_add_ps(a[j + LANES], a[j + 3 * LANES]),
                )
            });
            // The lanes as `_mm512_reduce_add_ps` adds them, each dimension apart.
            let halves: [__m512; 8] =
                std::array::from_fn(|i| _mm512_add_ps(lanes[i], lanes[i + 8]));
            let quarters: [__m512; 4] =
                std::array::from_fn(|i| _mm512_add_ps(halves[i], halves[i + 4]));
            let total = _mm512_add_ps(
                _mm512_add_ps(quarters[0], quarters[2]),
                _mm512_add_ps(quarters[1], quarters[3]),
            );
            _mm512_storeu_ps(out.as_mut_ptr().add(slice * LANES), total);
        }
    }
}

/// Sixteen f16 values from `at` on, widened to f32 (exactly).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn load_f16(at: *const f16) -> __m512 {
    _mm512_cvtph_ps(_mm256_loadu_si256(at.cast()))
}

/// ggml's vectorized `expf` (`ggml_v_expf`) on sixteen values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn exp16(x: __m512) -> __m512 {
    let c = |bits: u32| _mm512_set1_ps(f32::from_bits(bits));
    let shift = _mm512_set1_ps(12_582_912.0); // 1.5 * 2^23
    let n = _mm512_sub_ps(_mm512_fmadd_ps(x, c(0x3fb8_aa3b), shift), shift);
    let b = _mm512_fnmadd_ps(n, c(0x35bf_be8e), _mm512_fnmadd_ps(n, c(0x3f31_7200), x));
    let saturated = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(_mm512_abs_ps(n), _mm512_set1_ps(192.0));
    let u = _mm512_mul_ps(b, b);
    let j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(
            _mm512_fmadd_ps(c(0x3c07_2010), b, c(0x3d2b_9f17)),
            u,
            _mm512_fmadd_ps(c(0x3e2a_af33), b, c(0x3eff_fedb)),
        ),
        u,
        _mm512_fmadd_ps(c(0x3f7f_fff6), b, _mm512_set1_ps(1.0)),
    );
    let scaled = _mm512_scalef_ps(j, n);
    if saturated == 0 {
        return scaled;
    }
    let zero = _mm512_setzero_ps();
    let below = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(n, zero);
    let limit = _mm512_mask_blend_ps(below, _mm512_set1_ps(f32::INFINITY), zero);
    _mm512_mask_blend_ps(saturated, scaled, limit)
}

/// The sixteen lanes of `v` added as `_mm512_reduce_add_ps` adds them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn sum_lanes(v: __m512) -> f32 {
    let high = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
    let halves = _mm256_add_ps(_mm512_castps512_ps256(v), high);
    let quarters = _mm_add_ps(
        _mm256_castps256_ps128(halves),
        _mm256_extractf128_ps::<1>(halves),
    );
    let pairs = _mm_add_ps(quarters, _mm_movehl_ps(quarters, quarters));
    _mm_cvtss_f32(_mm_add_ss(pairs, _mm_movehdup_ps(pairs)))
}

/// The first `len` (at most sixteen) lanes of a register.
#[cfg(target_arch = "x86_64")]
fn present(len: usize) -> u16 {
    (1u32 << len).wrapping_sub(1) as u16
}

/// ggml's softmax of `x` in place as `llama_cpp_rounding`'s scalar form computes
/// it: its exp of each value less the maximum, each sixteen summed in lanes and
/// the sums added in f64 (sixteen hidden positions weigh exactly 0), the results
/// times the reciprocal rounded to f16.
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub unsafe fn softmax_f16(x: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let (max_lanes, hidden) = (_mm512_set1_ps(max), _mm512_set1_ps(f32::NEG_INFINITY));
    let mut sum = 0f64;
    for chunk in x.chunks_mut(LANES) {
        let present = present(chunk.len());
        let values = _mm512_mask_loadu_ps(hidden, present, chunk.as_ptr());
        if _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(values, hidden) == 0xFFFF {
            chunk.fill(0.0);
            continue;
        }
        let exps = _mm512_maskz_mov_ps(present, exp16(_mm512_sub_ps(values, max_lanes)));
        _mm512_mask_storeu_ps(chunk.as_mut_ptr(), present, exps);
        sum += f64::from(sum_lanes(exps));
    }
    let inverse = _mm512_set1_ps((1.0 / sum) as f32);
    for chunk in x.chunks_mut(LANES) {
        let present = present(chunk.len());
        let values = _mm512_maskz_loadu_ps(present, chunk.as_ptr());
        let halves = _mm512_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm512_mul_ps(values, inverse),
        );
        _mm512_mask_storeu_ps(chunk.as_mut_ptr(), present, _mm512_cvtph_ps(halves));
    }
}

/// `y = g / (1 + exp(0 - g)) * u`, sixteen values at a time (ggml's vectorized
/// `swiglu`); all three the same length, a multiple of sixteen.
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub unsafe fn swiglu(g: &[f32], u: &[f32], y: &mut [f32]) {
    assert!(g.len().is_multiple_of(LANES) && u.len() == g.len() && y.len() == g.len());
    let (zero, one) = (_mm512_setzero_ps(), _mm512_set1_ps(1.0));
    for ((y, g), u) in y
        .chunks_exact_mut(LANES)
        .zip(g.chunks_exact(LANES))
        .zip(u.chunks_exact(LANES))
    {
        let g = _mm512_loadu_ps(g.as_ptr());
        let silu = _mm512_div_ps(g, _mm512_add_ps(one, exp16(_mm512_sub_ps(zero, g))));
        _mm512_storeu_ps(
            y.as_mut_ptr(),
            _mm512_mul_ps(silu, _mm512_loadu_ps(u.as_ptr())),
        );
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn scores<const H: usize>(
    _: [&[f32]; H],
    _: &[f16],
    _: f32,
    _: Option<&[f32]>,
    _: [&mut [f32]; H],
) {
    unreachable!("`available` is false off x86_64")
}

#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn weighted_values<const H: usize>(_: [&[f32]; H], _: &[f16], _: [&mut [f32]; H]) {
    unreachable!("`available` is false off x86_64")
}

#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn softmax_f16(_: &mut [f32]) {
    unreachable!("`available` is false off x86_64")
}

#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn swiglu(_: &[f32], _: &[f32], _: &mut [f32]) {
    unreachable!("`available` is false off x86_64")
}
