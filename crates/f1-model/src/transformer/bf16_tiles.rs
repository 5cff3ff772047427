//! bf16 matrix products on AMX tiles (`tdpbf16ps`, Intel Sapphire Rapids and
//! later): the operands `bf16_product` multiplies (rounded to bf16, to nearest
//! even, as they are packed), the products summed in f32. One `tdpbf16ps`
//! does 16 x 16 x 32 multiply-adds, where `vdpbf16ps` does 16 x 2; on these
//! cores the latter has no edge over f32 FMAs, so the tiles are what makes bf16
//! faster there (as oneDNN runs PyTorch's bf16 autocast).
//!
//! The left side is packed whole, a row's pairs of inputs consecutive (the
//! tiles' A layout), zero-padded to a multiple of 32 inputs: by the caller once
//! for all threads ([`pack_rows`], then [`packed_product_raw`]), or here a
//! block at a time ([`product_raw`]). For each [`MAX_DEPTH`] inputs, each
//! [`COLUMNS`]-column panel of the right side is packed as `bf16_product`
//! packs it (a row per pair of inputs: the B layout) and meets every 32-row
//! panel of the left: four tiles hold the 32 x 32 sums, two the left rows and
//! two the right columns of each group of 32 inputs, and the sums go through
//! memory once per block to be scaled into the output.
//!
//! Written by hand: no maintained Rust crate multiplies on AMX tiles (Rust's
//! AMX intrinsics are unstable); the instructions are `amx`'s inline assembly.

use std::sync::OnceLock;

use super::amx;
use super::bf16_product::{self, Right, Tile, COLUMNS};
use super::matrix::Matrix;

use std::arch::x86_64::*;

/// Output rows one panel holds: two tiles.
const PANEL_ROWS: usize = 2 * amx::ROWS;
/// Pairs of inputs one tile row holds (64 bytes).
const GROUP_PAIRS: usize = 16;
/// Inputs one group of pairs spans.
pub const GROUP_INPUTS: usize = 2 * GROUP_PAIRS;
// A right side packed whole (`bf16_product::PackedColumns`) is zero-padded to
// whole groups, which the tiles read to their end.
const _: () = assert!(bf16_product::PANEL_INPUTS.is_multiple_of(GROUP_INPUTS));
/// Inputs one right panel spans at most: 64 KiB, read with its 64 KiB left
/// panel from L2. Each block's sums go through memory to be scaled into the
/// output whatever its depth, so fewer, deeper blocks are faster: bf16
/// training steps ran 10-25% faster at 1024 than at 256 (1536-3072 no faster).
const MAX_DEPTH: usize = 1024;
/// Left-hand rows one packed block spans.
const BLOCK_ROWS: usize = 16 * PANEL_ROWS;
/// Left-hand inputs [`product_raw`] packs at a time: 2 MiB for a row block.
const PACKED_INPUTS: usize = 2048;

/// Whether this CPU (and kernel) runs the tile kernel: AMX-BF16, and
/// AVX512-BF16 for packing.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| bf16_product::available() && amx::bf16_available())
}

/// A left-hand side packed for the tiles: row `r`'s pairs of inputs at
/// `values[r * row_pairs..]`, all of them, zero past the last input. Rows up to
/// the next multiple of 32 are there too (what they hold is never stored).
#[derive(Clone, Copy)]
pub struct PackedRows<'a> {
    values: &'a [u32],
    rows: usize,
    row_pairs: usize,
}

impl<'a> PackedRows<'a> {
    /// `rows` rows of `inputs` inputs each, as [`pack_rows`] wrote them.
    pub fn new(values: &'a [u32], rows: usize, inputs: usize) -> Self {
        let row_pairs = row_pairs(inputs);
        assert!(
            values.len() >= packed_len(rows, inputs),
            "packed rows too short"
        );
        Self {
            values,
            rows,
            row_pairs,
        }
    }
}

/// Pairs a packed row holds for `inputs` inputs: whole groups.
pub fn row_pairs(inputs: usize) -> usize {
    inputs.div_ceil(GROUP_INPUTS) * GROUP_PAIRS
}

/// The values [`pack_rows`] writes for `rows` rows of `inputs`.
pub fn packed_len(rows: usize, inputs: usize) -> usize {
    rows.next_multiple_of(PANEL_ROWS) * row_pairs(inputs)
}

/// Packs `lhs`'s rows for [`packed_product_raw`] into the first `lhs.rows`
/// rows of `packed` (which holds at least those rows).
pub fn pack_rows(lhs: Matrix, packed: &mut [u32]) {
    assert!(bf16_product::available(), "packing needs AVX512-BF16");
    // SAFETY: AVX512-BF16 is available (asserted).
    unsafe { pack_row_block(lhs, row_pairs(lhs.columns), packed) };
}

thread_local! {
    /// A thread's packed left block (in [`product_raw`]) and right panel, kept
    /// from one product to the next.
    static LEFT: std::cell::RefCell<Vec<u32>> = std::cell::RefCell::default();
    static RIGHT: std::cell::RefCell<Vec<u32>> = std::cell::RefCell::default();
}

/// The product `scale * lhs · rhs` into `out` on the calling thread, added to
/// what `out` holds when `accumulate`: (lhs rows, rhs columns) values, each row
/// `out_row_stride` after the one before. The left rows are packed
/// [`BLOCK_ROWS`] rows by up to [`PACKED_INPUTS`] inputs at a time.
///
/// # Safety
/// [`available`] is true, `lhs.columns` is `rhs`'s inputs, and `out` holds (lhs
/// rows, rhs columns) values at that row stride (read only when `accumulate`).
/// The views hold their (rows, columns) at their strides (as `Matrix` checks).
pub unsafe fn product_raw(
    out: *mut f32,
    out_row_stride: usize,
    accumulate: bool,
    lhs: Matrix,
    rhs: Right,
    scale: f32,
) {
    let k = lhs.columns;
    LEFT.with_borrow_mut(|left| {
        for row_start in (0..lhs.rows).step_by(BLOCK_ROWS) {
            let rows = lhs.row_range(row_start, (row_start + BLOCK_ROWS).min(lhs.rows));
            // An empty inner size still writes (or keeps) the output.
            for start in (0..k.max(1)).step_by(PACKED_INPUTS) {
                let end = (start + PACKED_INPUTS).min(k);
                let block = rows.columns_from(start, end - start);
                let len = packed_len(block.rows, block.columns);
                if left.len() < len {
                    left.resize(len, 0);
                }
                pack_rows(block, left);
                let packed = PackedRows::new(left, block.rows, block.columns);
                // SAFETY: the block's rows of `out` (the contract).
                unsafe {
                    let out = out.add(row_start * out_row_stride);
                    let accumulate = accumulate || start > 0;
                    let rhs = rhs.row_range(start, end);
                    packed_product_raw(out, out_row_stride, accumulate, packed, rhs, scale)
                };
            }
        }
    });
}

/// [`product_raw`] for a left-hand side already packed.
///
/// # Safety
/// As for [`product_raw`], `lhs` packed from `rhs`'s inputs.
pub unsafe fn packed_product_raw(
    out: *mut f32,
    out_row_stride: usize,
    accumulate: bool,
    lhs: PackedRows,
    rhs: Right,
    scale: f32,
) {
    let (m, (k, n)) = (lhs.rows, rhs.shape());
    assert_eq!(lhs.row_pairs, row_pairs(k), "rows packed from other inputs");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty inner size still writes (or keeps) the output, as gemm does.
        if !accumulate {
            for row in 0..m {
                // SAFETY: the row's `n` values lie in the output.
                unsafe { std::ptr::write_bytes(out.add(row * out_row_stride), 0, n) };
            }
        }
        return;
    }
    let config = (0..8).fold(amx::TileConfig::new(), |config, tile| {
        config.with(tile, amx::ROWS, 4 * GROUP_PAIRS)
    });
    RIGHT.with_borrow_mut(|right| {
        let block_depth = block_depth(k);
        // SAFETY: AMX-BF16 is usable (`available`); released below.
        unsafe { amx::configure(&config) };
        for depth_start in (0..k).step_by(block_depth) {
            let depth = block_depth.min(k - depth_start);
            let groups = depth.div_ceil(GROUP_INPUTS);
            let overwrite = depth_start == 0 && !accumulate;
            for row_start in (0..m).step_by(BLOCK_ROWS) {
                let rows = BLOCK_ROWS.min(m - row_start);
                for column_start in (0..n).step_by(COLUMNS) {
                    let columns = COLUMNS.min(n - column_start);
                    // The padding pairs are zero in both operands (stale lanes
                    // times zero could be NaN).
                    let depths = (depth_start, depth, groups * GROUP_PAIRS);
                    let right = rhs.panel(depths, (column_start, columns), right);
                    for first in (row_start..row_start + rows).step_by(PANEL_ROWS) {
                        let tile = Tile {
                            // SAFETY: `first < m` and `column_start < n`.
                            out: unsafe { out.add(first * out_row_stride + column_start) },
                            row_stride: out_row_stride,
                            rows: PANEL_ROWS.min(m - first),
                            columns,
                            scale,
                            overwrite,
                        };
                        let left = &lhs.values[first * lhs.row_pairs + depth_start / 2..];
                        // SAFETY: the tiles are configured; 32 rows of `groups`
                        // groups from `left` at the packed row stride (rows up to
                        // a multiple of 32 are packed), `groups` groups of the
                        // right panel; the tile lies in `out`.
                        unsafe {
                            panel_product(
                                groups,
                                left.as_ptr(),
                                lhs.row_pairs,
                                right.as_ptr(),
                                tile,
                            )
                        };
                    }
                }
            }
        }
        // SAFETY: configured above.
        unsafe { amx::release() };
    });
}

/// The inputs each packed block spans: `k` split evenly into blocks of at most
/// [`MAX_DEPTH`], whole groups of pairs (the last block may be shorter).
fn block_depth(k: usize) -> usize {
    let blocks = k.div_ceil(MAX_DEPTH).max(1);
    k.div_ceil(blocks).next_multiple_of(GROUP_INPUTS)
}

/// Packs `block`'s rows as `packed[row * row_pairs + pair]`, zero past the
/// last input.
///
/// # Safety
/// AVX512-BF16 is available.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn pack_row_block(block: Matrix, row_pairs: usize, packed: &mut [u32]) {
    let depth = block.columns;
    assert!(
        packed.len() >= block.rows * row_pairs && 2 * row_pairs >= depth,
        "rows past the panel"
    );
    if block.column_stride == 1 {
        for row in 0..block.rows {
            let line = &block.values[row * block.row_stride..][..depth];
            let lanes = &mut packed[row * row_pairs..][..row_pairs];
            for (group, lanes) in lanes.chunks_exact_mut(GROUP_PAIRS).enumerate() {
                let start = (group * GROUP_INPUTS).min(depth);
                let values = &line[start..(start + GROUP_INPUTS).min(depth)];
                // SAFETY: AVX512-BF16 is available; 16 lanes.
                unsafe { group_of_line(values, lanes) };
            }
        }
    } else if block.row_stride == 1 {
        // Consecutive rows are adjacent: 16 rows by 16 pairs at a time,
        // transposed.
        for first in (0..block.rows).step_by(16) {
            let count = (block.rows - first).min(16);
            for group in 0..row_pairs / GROUP_PAIRS {
                let input = |i: usize| {
                    let input = group * GROUP_INPUTS + i;
                    (input < depth)
                        .then(|| &block.values[input * block.column_stride + first..][..count])
                };
                let pairs: [__m512i; 16] =
                    // SAFETY: AVX512-BF16 is available; each input row holds
                    // `count` (at most 16) values.
                    std::array::from_fn(|p| unsafe { pairs_of_rows(input(2 * p), input(2 * p + 1)) });
                let rows = bf16_product::transpose_16x16(pairs);
                for (row, lanes) in rows.iter().enumerate().take(count) {
                    let at = (first + row) * row_pairs + group * GROUP_PAIRS;
                    // SAFETY: the row's group lies in `packed` (asserted above).
                    unsafe { _mm512_storeu_si512(packed.as_mut_ptr().add(at).cast(), *lanes) };
                }
            }
        }
    } else {
        for row in 0..block.rows {
            let at = |input: usize| match input < depth {
                true => block.values[row * block.row_stride + input * block.column_stride],
                false => 0.0,
            };
            for p in 0..row_pairs {
                packed[row * row_pairs + p] = bf16_product::pair(at(2 * p), at(2 * p + 1));
            }
        }
    }
}

/// Up to 32 consecutive inputs as 16 pairs, zero past them.
///
/// # Safety
/// AVX512-BF16 is available; `values` holds at most 32 and `lanes` 16.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn group_of_line(values: &[f32], lanes: &mut [u32]) {
    let low_count = values.len().min(16);
    let high_count = values.len() - low_count;
    let mask = |count: usize| ((1u64 << count) - 1) as __mmask16;
    // SAFETY: the masked loads read only `values`.
    let (low, high) = unsafe {
        (
            _mm512_maskz_loadu_ps(mask(low_count), values.as_ptr()),
            _mm512_maskz_loadu_ps(mask(high_count), values.as_ptr().add(low_count)),
        )
    };
    let pairs = std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(high, low));
    // SAFETY: `lanes` holds 16 values (the contract).
    unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), pairs) };
}

/// Lane `r` of the result pairs `low[r]` with `high[r]` (zeros where a row
/// or a lane is missing).
///
/// # Safety
/// AVX512-BF16 is available; each row holds at most 16 values.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn pairs_of_rows(low: Option<&[f32]>, high: Option<&[f32]>) -> __m512i {
    let load = |row: Option<&[f32]>| match row {
        // SAFETY: the masked load reads only the row.
        Some(row) => unsafe {
            _mm512_maskz_loadu_ps(((1u32 << row.len()) - 1) as __mmask16, row.as_ptr())
        },
        None => _mm512_setzero_ps(),
    };
    let halves =
        std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(load(high), load(low)));
    // Half `r` of the low row (0..16) beside half `r` of the high row (16..32).
    let order = _mm512_set_epi16(
        31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20, 4,
        19, 3, 18, 2, 17, 1, 16, 0,
    );
    _mm512_permutexvar_epi16(order, halves)
}

/// `left`'s 32-row panel times `right`'s 32-column panel over `groups` groups
/// of pairs, scaled into `tile`: four sums tiles (0-3), two left tiles (4, 5)
/// and two right tiles (6, 7).
///
/// # Safety
/// The tiles are configured as 16 rows of 64 bytes; `left` holds 32 rows of
/// `groups * GROUP_PAIRS` pairs, `row_pairs` apart, and `right` `groups *
/// GROUP_PAIRS` rows of [`COLUMNS`]; the tile lies in the output.
#[target_feature(enable = "avx512f")]
unsafe fn panel_product(
    groups: usize,
    left: *const u32,
    row_pairs: usize,
    right: *const u32,
    tile: Tile,
) {
    let left_stride = row_pairs * 4;
    let right_stride = COLUMNS * 4;
    let mut sums = std::mem::MaybeUninit::<[[f32; COLUMNS]; PANEL_ROWS]>::uninit();
    // SAFETY: every load reads inside the panels (the contract), every store
    // inside `sums`.
    unsafe {
        amx::zero::<0>();
        amx::zero::<1>();
        amx::zero::<2>();
        amx::zero::<3>();
        let lower = left.cast::<u8>().add(amx::ROWS * left_stride);
        for group in 0..groups {
            let a = group * GROUP_PAIRS * 4;
            let b = right.add(group * GROUP_PAIRS * COLUMNS).cast::<u8>();
            amx::load::<4>(left.cast::<u8>().add(a), left_stride);
            amx::load::<6>(b, right_stride);
            amx::load::<7>(b.add(64), right_stride);
            amx::add_bf16_products::<0, 4, 6>();
            amx::add_bf16_products::<1, 4, 7>();
            amx::load::<5>(lower.add(a), left_stride);
            amx::add_bf16_products::<2, 5, 6>();
            amx::add_bf16_products::<3, 5, 7>();
        }
        let row_bytes = COLUMNS * 4;
        let at = sums.as_mut_ptr().cast::<u8>();
        amx::store::<0>(at, row_bytes);
        amx::store::<1>(at.add(64), row_bytes);
        amx::store::<2>(at.add(amx::ROWS * row_bytes), row_bytes);
        amx::store::<3>(at.add(amx::ROWS * row_bytes + 64), row_bytes);
    }
    // SAFETY: the four tiles' stores wrote every value.
    let sums = unsafe { sums.assume_init_ref() };
    for (row, sums) in sums.iter().enumerate().take(tile.rows) {
        // SAFETY: the row is in the tile, which lies in the output; the sums
        // are 32 values.
        unsafe {
            let sums = [
                _mm512_loadu_ps(sums.as_ptr()),
                _mm512_loadu_ps(sums.as_ptr().add(16)),
            ];
            tile.store_row(row, sums)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::transformer::test_support::{self, xorshift_values as values};

    /// Products of every layout, at sizes that leave partial panels and
    /// groups, odd inputs, several depth and row blocks and left parts, equal
    /// the product of the rounded operands.
    #[test]
    fn products_of_every_layout_equal_the_rounded_product() {
        if !bf16_product::available() {
            println!("skipped: this CPU lacks AVX512-BF16, which packs the tiles' operands");
            return;
        }
        amx::say_if_emulated();
        let shapes = [
            (1, 1, 1),
            (13, 7, 33),
            (33, 1100, 70),
            (20, 2100, 40),
            (600, 300, 17),
            (5, 64, 3),
            (64, 576, 192),
        ];
        // SAFETY: the tiles run here (or in software); AVX512-BF16 packs.
        unsafe { test_support::assert_bf16_products(product_raw, &shapes) };
    }

    /// Tiles write only their rows and columns of a wider output.
    #[test]
    fn products_write_only_their_block_of_the_output() {
        if !bf16_product::available() {
            println!("skipped: this CPU lacks AVX512-BF16, which packs the tiles' operands");
            return;
        }
        amx::say_if_emulated();
        let (m, k, n, stride) = (19, 40, 21, 50);
        let (a, b) = (values(m * k, 5), values(k * n, 6));
        let (lhs, rhs) = (
            Matrix::new(&a, m, k).unwrap(),
            Matrix::new(&b, k, n).unwrap(),
        );
        let mut out = vec![7.0f32; m * stride];
        // SAFETY: the tiles run here (or in software); AVX512-BF16 packs; (m,
        // n) at row stride `stride` is inside.
        unsafe { product_raw(out.as_mut_ptr(), stride, false, lhs, rhs.into(), 1.0) };
        for (index, &value) in out.iter().enumerate() {
            let (row, column) = (index / stride, index % stride);
            if column >= n {
                assert_eq!(value, 7.0, "({row}, {column}) is outside the product");
            } else {
                assert_ne!(value, 7.0, "({row}, {column}) is written");
            }
        }
    }
}
