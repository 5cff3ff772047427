//! What the quantized products (`quantized_matmul`, `k_quant_matmul`) share: a
//! weight's bytes read as blocks, the product's split of weight rows over
//! candle's thread pool, and ggml's horizontal sum of eight lanes.

use candle_core::{bail, Result};
use std::mem::MaybeUninit;

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
    let out = SharedCells::new(out, weight.len() / blocks_per_row);
    for_each_weight_item(weight, blocks_per_row, |first, rows| {
        let rows = prepare(rows);
        for (row, a) in x.chunks_exact(blocks_per_row).enumerate() {
            // SAFETY: this item alone writes outputs `first..first + N` of every row.
            unsafe { out.write(row, first, &dot(&rows, a, row)) };
        }
    });
}

/// [`product`] with the activation rows taken `R` at a time, so that a kernel
/// unpacks each weight block once for `R` rows: `dot_group(N weight rows, R
/// activation rows)`, and `dot_row` for the rows left over. Each row's products
/// must not depend on the rows beside it.
pub(crate) fn grouped_product<'w, const N: usize, const R: usize, W: Sync, A: Sync>(
    weight: &'w [W],
    x: &[A],
    blocks_per_row: usize,
    out: &mut [f32],
    dot_group: impl Fn([&'w [W]; N], [&[A]; R]) -> [[f32; N]; R] + Sync,
    dot_row: impl Fn([&'w [W]; N], &[A]) -> [f32; N] + Sync,
) {
    let out = SharedCells::new(out, weight.len() / blocks_per_row);
    let rows: Vec<&[A]> = x.chunks_exact(blocks_per_row).collect();
    let groups = rows.chunks_exact(R);
    let (left_over, grouped) = (groups.remainder(), rows.len() - groups.remainder().len());
    for_each_weight_item(weight, blocks_per_row, |first, weights| {
        for (group, activations) in groups.clone().enumerate() {
            let activations = std::array::from_fn(|i| activations[i]);
            for (i, values) in dot_group(weights, activations).iter().enumerate() {
                // SAFETY: this item alone writes outputs `first..first + N` of every row.
                unsafe { out.write(group * R + i, first, values) };
            }
        }
        for (i, a) in left_over.iter().enumerate() {
            // SAFETY: as above.
            unsafe { out.write(grouped + i, first, &dot_row(weights, a)) };
        }
    });
}

/// Calls `work(first output, N weight rows)` for every N weight rows on candle's
/// thread pool; past the last row the last one repeats.
fn for_each_weight_item<'w, const N: usize, W: Sync>(
    weight: &'w [W],
    blocks_per_row: usize,
    work: impl Fn(usize, [&'w [W]; N]) + Sync,
) {
    let outputs = weight.len() / blocks_per_row;
    let weight_row = |output: usize| {
        let output = output.min(outputs - 1);
        &weight[output * blocks_per_row..(output + 1) * blocks_per_row]
    };
    for_each_index(outputs.div_ceil(N), |item| {
        let first = N * item;
        work(first, std::array::from_fn(|i| weight_row(first + i)));
    });
}

/// A (rows, outputs) output that work items on several threads fill, each its
/// own cells.
pub(crate) struct SharedCells {
    start: usize,
    len: usize,
    outputs: usize,
}

impl SharedCells {
    pub(crate) fn new(out: &mut [f32], outputs: usize) -> Self {
        Self {
            start: out.as_mut_ptr() as usize,
            len: out.len(),
            outputs,
        }
    }

    /// Cells not yet written: the caller reads them only after filling them all.
    pub(crate) fn new_uninit(out: &mut [MaybeUninit<f32>], outputs: usize) -> Self {
        Self {
            start: out.as_mut_ptr() as usize,
            len: out.len(),
            outputs,
        }
    }

    /// Writes `values` from cell (row, first) on, cut at the row's end.
    ///
    /// # Safety
    /// No other thread may read or write these cells meanwhile, and the slice
    /// this was made from must outlive the call.
    pub(crate) unsafe fn write(&self, row: usize, first: usize, values: &[f32]) {
        let (at, count) = self.row_from(row, first);
        // SAFETY: `count` cells from `at` are inside the output, written by this
        // caller alone; no reference to the (maybe uninitialised) cells is made.
        unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), at, values.len().min(count)) };
    }

    /// Where cell (row, first) lies, and how many cells of its row start there.
    /// Panics outside the output.
    pub(crate) fn row_from(&self, row: usize, first: usize) -> (*mut f32, usize) {
        assert!(first < self.outputs, "cell outside the output");
        let (offset, count) = (row * self.outputs + first, self.outputs - first);
        assert!(offset + count <= self.len, "cell outside the output");
        // `offset` is inside the slice this was made from (checked above).
        ((self.start as *mut f32).wrapping_add(offset), count)
    }
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
