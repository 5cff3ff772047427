//! What the quantized products (`quantized_matmul`, `k_quant_matmul`) share: a
//! weight's bytes read as blocks, the product's split of weight rows over
//! candle's thread pool, and ggml's horizontal sum of eight lanes.

use candle_core::{bail, Result};

use super::cpu_pool::for_each_index;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// The weight's bytes as `count` blocks.
pub(crate) fn blocks<T>(bytes: &[u8], count: usize) -> Result<&[T]> {
    if bytes.len() != count * size_of::<T>() || !bytes.as_ptr().cast::<T>().is_aligned() {
        bail!(
            "quantized matmul: {} weight bytes are not {count} aligned blocks",
            bytes.len()
        );
    }
    // SAFETY: the length and alignment are checked above; both block types are
    // plain bytes and f16s with no invalid bit patterns.
    Ok(unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), count) })
}

/// Fills `out` (rows, outputs) with every activation row's dot product with every
/// weight row: `dot(prepare(N weight rows), activation row, its index)`. Work items
/// are N weight rows (their dot products interleave and share the activation
/// loads; `prepare` runs once per item; the last rows repeat the last one), split
/// over candle's thread pool.
pub(crate) fn product<'w, const N: usize, W: Sync, A: Sync, P>(
    weight: &'w [W],
    x: &[A],
    blocks_per_row: usize,
    out: &mut [f32],
    prepare: impl Fn([&'w [W]; N]) -> P + Sync,
    dot: impl Fn(&P, &[A], usize) -> [f32; N] + Sync,
) {
    let outputs = weight.len() / blocks_per_row;
    let weight_row = |output: usize| {
        let output = output.min(outputs - 1);
        &weight[output * blocks_per_row..(output + 1) * blocks_per_row]
    };
    let out_ptr = out.as_mut_ptr() as usize;
    for_each_index(outputs.div_ceil(N), |item| {
        let first = N * item;
        let rows = prepare(std::array::from_fn(|i| weight_row(first + i)));
        let count = N.min(outputs - first);
        for (row, a) in x.chunks_exact(blocks_per_row).enumerate() {
            let values = dot(&rows, a, row);
            // SAFETY: each (row, output) cell is written by exactly one work item,
            // inside `out`.
            let cells = unsafe {
                std::slice::from_raw_parts_mut(
                    (out_ptr as *mut f32).add(row * outputs + first),
                    count,
                )
            };
            cells.copy_from_slice(&values[..count]);
        }
    });
}

/// ggml's `hsum_float_8`: the halves added, then pairs, then the last two.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn sum_lanes(x: __m256) -> f32 {
    let mut sum = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
    sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
    _mm_cvtss_f32(sum)
}
