//! bf16 matrix products (AVX512-BF16's `vdpbf16ps`): both operands rounded to
//! bf16 (to nearest, ties to even) as they are packed, the products summed in
//! f32. This is the matmul of mixed-precision training, as PyTorch's bf16
//! autocast runs it through oneDNN; master weights, gradients and everything
//! between the products stay f32.
//!
//! A BLIS-style loop on the calling thread: a block of up to [`BLOCK_ROWS`]
//! left-hand rows by up to [`MAX_DEPTH`] inputs is packed as bf16 pairs (the two inputs
//! `vdpbf16ps` multiplies per lane) in panels of [`ROWS`] rows, the right-hand
//! side's inputs of that depth block likewise in panels of [`COLUMNS`] columns
//! (up to [`MAX_RIGHT_BYTES`] of them at a time, packed once for all the row
//! blocks; all the depth blocks of one group of columns run before the next
//! group, so the output's sums stay in the caches between depth blocks rather
//! than go through memory once per block), and a 12 x 32 micro-kernel keeps its
//! 24 accumulators in registers: per pair of inputs, two loads of the right-hand
//! panel and 12 broadcasts feed 24 `vdpbf16ps` (32 multiply-adds each, twice an
//! f32 FMA's). The caller may instead pack the whole left side once for all its
//! threads ([`pack_panels`], then [`packed_product_raw`]), and give the right
//! side packed whole ([`Right::Packed`], as `quantized_bf16` decodes a weight
//! straight into it; both kernels read that layout). Packing reads strided
//! views in place, vectorized where the pairs or the columns are contiguous,
//! and reads each input's values in order where they are contiguous.
//! (The vector conversion treats f32 subnormals, below 1.2e-38, as zero, as
//! `vcvtne2ps2bf16` does; the scalar edges keep them.)
//!
//! Written by hand because gemm (candle's CPU matmul crate) has no bf16 dot
//! product kernel. On a CPU without AVX512-BF16, [`round_to_bf16`] gives the
//! same operands to the f32 product instead (same rounding, f32 speed).

use std::sync::OnceLock;

use super::matrix::Matrix;
use half::bf16;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Output rows one micro-kernel call holds.
const ROWS: usize = 12;
/// Output columns one micro-kernel call holds: two vectors of 16 lanes.
pub(super) const COLUMNS: usize = 32;
/// Inputs one packed block spans at most: a right-hand panel is 48 KiB, read
/// from L2 (two loads a pair for 24 `vdpbf16ps`, well within its bandwidth).
/// The projections of SmolLM2 and Gemma 3 (576 and 640 inputs) and their heads
/// take one block, so each output is written once: at 320 they took two, and
/// the second read back and rewrote every sum (Zen 4, products interleaved in
/// one process: 3-18% slower).
const MAX_DEPTH: usize = 768;
/// Left-hand rows one packed block spans: 576 KiB at full depth (in L2).
const BLOCK_ROWS: usize = 32 * ROWS;

/// Whether this CPU runs the bf16 kernel (AVX-512 F and BF16).
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(detect)
}

fn detect() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `view`'s values rounded to bf16 and back, row-major: the operand the bf16
/// kernel multiplies, for the f32 kernel on CPUs without AVX512-BF16.
pub fn round_to_bf16(view: Matrix) -> Vec<f32> {
    (0..view.rows)
        .flat_map(|row| (0..view.columns).map(move |column| (row, column)))
        .map(|(row, column)| {
            let value = view.values[row * view.row_stride + column * view.column_stride];
            bf16::from_f32(value).to_f32()
        })
        .collect()
}

/// Two values rounded to bf16, `low` in the low half: the pair one 32-bit lane
/// of `vdpbf16ps` multiplies.
pub(super) fn pair(low: f32, high: f32) -> u32 {
    u32::from(bf16::from_f32(low).to_bits()) | (u32::from(bf16::from_f32(high).to_bits()) << 16)
}

/// The product `scale * lhs · rhs` into `out` on the calling thread, added to
/// what `out` holds when `accumulate`: (lhs rows, rhs columns) values, each row
/// `out_row_stride` after the one before.
///
/// # Safety
/// [`available`] is true, `lhs.columns` is `rhs`'s inputs, and `out` holds (lhs
/// rows, rhs columns) values at that row stride (read only when `accumulate`).
/// The views hold their (rows, columns) at their strides (as `Matrix` checks).
#[cfg(target_arch = "x86_64")]
pub unsafe fn product_raw(
    out: *mut f32,
    out_row_stride: usize,
    accumulate: bool,
    lhs: Matrix,
    rhs: Right,
    scale: f32,
) {
    LEFT.with_borrow_mut(|left| {
        let lhs = Left::Unpacked(lhs, left);
        // SAFETY: the caller's contract.
        unsafe { multiply(out, out_row_stride, accumulate, lhs, rhs, scale) }
    });
}

/// [`product_raw`] for a left-hand side already packed by [`pack_panels`].
///
/// # Safety
/// As for [`product_raw`], `lhs` packed from `rhs`'s inputs.
#[cfg(target_arch = "x86_64")]
pub unsafe fn packed_product_raw(
    out: *mut f32,
    out_row_stride: usize,
    accumulate: bool,
    lhs: PackedPanels,
    rhs: Right,
    scale: f32,
) {
    assert_eq!(lhs.inputs, rhs.shape().0, "panels packed from other inputs");
    // SAFETY: the caller's contract.
    unsafe {
        multiply(
            out,
            out_row_stride,
            accumulate,
            Left::Packed(lhs),
            rhs,
            scale,
        )
    }
}

/// A left-hand side: a view, packed here a block at a time into the buffer,
/// or packed already.
enum Left<'a, 'b> {
    Unpacked(Matrix<'a>, &'b mut Vec<u32>),
    Packed(PackedPanels<'a>),
}

impl Left<'_, '_> {
    /// (rows, inputs).
    fn shape(&self) -> (usize, usize) {
        match self {
            Self::Unpacked(lhs, _) => (lhs.rows, lhs.columns),
            Self::Packed(packed) => (packed.rows, packed.inputs),
        }
    }
}

/// [`product_raw`] for either kind of left side.
///
/// # Safety
/// As for [`product_raw`].
#[cfg(target_arch = "x86_64")]
unsafe fn multiply(
    out: *mut f32,
    out_row_stride: usize,
    accumulate: bool,
    mut lhs: Left,
    rhs: Right,
    scale: f32,
) {
    let ((m, k), n) = (lhs.shape(), rhs.shape().1);
    if m == 0 || n == 0 {
        return;
    }
    RIGHT.with_borrow_mut(|right| {
        let block_depth = block_depth(k);
        let group_columns = right_group_columns(block_depth);
        for group_start in (0..n).step_by(group_columns) {
            let group_width = group_columns.min(n - group_start);
            // An empty inner size still writes (or keeps) the output, as gemm does.
            for depth_start in (0..k.max(1)).step_by(block_depth) {
                let depth = block_depth.min(k - depth_start.min(k));
                let pairs = depth.div_ceil(2);
                let overwrite = depth_start == 0 && !accumulate;
                let group =
                    rhs.packed_block((depth_start, depth), (group_start, group_width), right);
                for row_start in (0..m).step_by(BLOCK_ROWS) {
                    let rows = BLOCK_ROWS.min(m - row_start);
                    let panels = rows.div_ceil(ROWS);
                    // Where panel `p` of the block holds its `pairs` pairs.
                    let (left, panel_stride): (&[u32], usize) = match &mut lhs {
                        Left::Unpacked(lhs, left) => {
                            // Not cleared: lanes of rows past `m` may hold an earlier
                            // product's pairs, and their sums are never stored.
                            if left.len() < panels * pairs * ROWS {
                                left.resize(panels * pairs * ROWS, 0);
                            }
                            let block = lhs.row_range(row_start, row_start + rows);
                            pack_block_rows(block, depth_start, depth, left, pairs * ROWS);
                            (left, pairs * ROWS)
                        }
                        Left::Packed(packed) => {
                            let stride = ROWS * k.div_ceil(2);
                            let start = row_start / ROWS * stride + ROWS * depth_start / 2;
                            (&packed.values[start..], stride)
                        }
                    };
                    for column_start in (0..group_width).step_by(COLUMNS) {
                        let columns = COLUMNS.min(group_width - column_start);
                        let right = group.panel(pairs, column_start);
                        for panel in 0..panels {
                            let first = row_start + panel * ROWS;
                            let tile = Tile {
                                // SAFETY: `first < m` and `group_start + column_start
                                // < n` (see the function's contract).
                                out: unsafe {
                                    out.add(first * out_row_stride + group_start + column_start)
                                },
                                row_stride: out_row_stride,
                                rows: ROWS.min(m - first),
                                columns,
                                scale,
                                overwrite,
                            };
                            let left = &left[panel * panel_stride..][..pairs * ROWS];
                            // SAFETY: the panels hold `pairs` pairs of ROWS and
                            // COLUMNS lanes, and the tile lies inside `out`.
                            unsafe { micro_kernel(pairs, left.as_ptr(), right.as_ptr(), tile) };
                        }
                    }
                }
            }
        }
    });
}

/// The most bytes a thread's right-hand side packed for one depth block
/// takes: the columns of a product are packed this many at a time.
const MAX_RIGHT_BYTES: usize = 512 << 10;

/// Columns of a right-hand side packed at a time for a depth block of `depth`
/// inputs: a whole number of panels within [`MAX_RIGHT_BYTES`], at least one.
fn right_group_columns(depth: usize) -> usize {
    let panel_bytes = 4 * COLUMNS * panel_pairs(depth).max(1);
    (MAX_RIGHT_BYTES / panel_bytes).max(1) * COLUMNS
}

/// A left-hand side packed for [`packed_product_raw`]: panel `p` (rows `12p..`)
/// at `values[p * ROWS * pairs..]`, where `pairs` is half the inputs rounded
/// up, holding the depth blocks one after another, each as [`pack_rows`] packs
/// it.
#[derive(Clone, Copy)]
pub struct PackedPanels<'a> {
    values: &'a [u32],
    rows: usize,
    inputs: usize,
}

impl<'a> PackedPanels<'a> {
    /// `rows` rows of `inputs` inputs each, as [`pack_panels`] wrote them.
    pub fn new(values: &'a [u32], rows: usize, inputs: usize) -> Self {
        assert!(
            values.len() >= packed_len(rows, inputs),
            "packed panels too short"
        );
        Self {
            values,
            rows,
            inputs,
        }
    }
}

/// Rows packed panels come in: `pack_panels`' row blocks start at multiples.
pub const PANEL_ROWS: usize = ROWS;

/// The values [`pack_panels`] writes for `rows` rows of `inputs`.
pub fn packed_len(rows: usize, inputs: usize) -> usize {
    rows.div_ceil(ROWS) * ROWS * inputs.div_ceil(2)
}

/// Packs `lhs`'s rows for [`packed_product_raw`] into `packed`, which holds
/// [`packed_len`] values for them.
pub fn pack_panels(lhs: Matrix, packed: &mut [u32]) {
    // A panel's depth blocks lie one after another: packed as one block.
    let panel_len = ROWS * lhs.columns.div_ceil(2);
    pack_block_rows(lhs, 0, lhs.columns, packed, panel_len);
}

/// The inputs each packed block spans: `k` split evenly into blocks of at most
/// [`MAX_DEPTH`] (no short last block), a whole number of pairs.
fn block_depth(k: usize) -> usize {
    let blocks = k.div_ceil(MAX_DEPTH).max(1);
    k.div_ceil(blocks).next_multiple_of(2).max(2)
}

thread_local! {
    /// A thread's packed left block and right panel, kept from one product to
    /// the next (a left block is up to 576 KiB; allocated per product, the
    /// allocator kept more of them).
    static LEFT: std::cell::RefCell<Vec<u32>> = std::cell::RefCell::default();
    static RIGHT: std::cell::RefCell<Vec<u32>> = std::cell::RefCell::default();
}

/// Where a micro-kernel call writes: `rows` x `columns` of the output.
pub(super) struct Tile {
    pub(super) out: *mut f32,
    pub(super) row_stride: usize,
    pub(super) rows: usize,
    pub(super) columns: usize,
    pub(super) scale: f32,
    /// Write `scale * sum` rather than add it to what is there.
    pub(super) overwrite: bool,
}

impl Tile {
    /// Writes (or adds) `scale` times row `row`'s sums of columns 0..32 (those
    /// past the tile's columns are dropped).
    ///
    /// # Safety
    /// AVX-512 F is available; `row` is below `rows`, and the tile's rows and
    /// columns (at most [`COLUMNS`]) lie in the output.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn store_row(&self, row: usize, sums: [__m512; 2]) {
        let scale = _mm512_set1_ps(self.scale);
        for (half, sum) in sums.into_iter().enumerate() {
            let start = 16 * half;
            if start >= self.columns {
                break;
            }
            let mask = match self.columns - start {
                16.. => 0xffff,
                width => ((1u32 << width) - 1) as __mmask16,
            };
            // SAFETY: the tile's row and its first `columns` lie in the output.
            unsafe {
                let at = self.out.add(row * self.row_stride + start);
                let value = match self.overwrite {
                    true => _mm512_mul_ps(sum, scale),
                    false => _mm512_fmadd_ps(sum, scale, _mm512_maskz_loadu_ps(mask, at)),
                };
                _mm512_mask_storeu_ps(at, mask, value);
            }
        }
    }
}

/// Packs `block`'s rows (at most [`ROWS`]), inputs `depth_start..+depth`, as
/// `packed[pair * ROWS + row]`, the high half of a last odd input zero; lanes
/// of rows past the block are zero or left as they were.
fn pack_rows(block: Matrix, depth_start: usize, depth: usize, packed: &mut [u32]) {
    let pairs = depth.div_ceil(2);
    if pairs == 0 {
        return;
    }
    if block.column_stride == 1 {
        let mut lines: [&[f32]; ROWS] = [&[]; ROWS];
        for (row, line) in lines.iter_mut().enumerate().take(block.rows) {
            *line = &block.values[row * block.row_stride + depth_start..][..depth];
        }
        return pairs_transposed(&lines[..block.rows], ROWS, packed, ROWS);
    }
    for row in 0..block.rows {
        let at = |column: usize| {
            block.values[row * block.row_stride + (depth_start + column) * block.column_stride]
        };
        for p in 0..pairs {
            let high = if 2 * p + 1 < depth {
                at(2 * p + 1)
            } else {
                0.0
            };
            packed[p * ROWS + row] = pair(at(2 * p), high);
        }
    }
}

/// Packs `block`'s rows, inputs `depth_start..+depth`, into panels of [`ROWS`]
/// rows `panel_stride` apart in `packed`, each as [`pack_rows`] packs it (lanes
/// of rows past the block zero or left as they were). Where the rows are
/// adjacent (row stride 1), two inputs at a time across all the panels: each
/// input's values are read in order, not [`ROWS`] at a time a panel apart (the
/// strided reads missed the caches for a tenth of a full bf16 step on Zen 4).
fn pack_block_rows(
    block: Matrix,
    depth_start: usize,
    depth: usize,
    packed: &mut [u32],
    panel_stride: usize,
) {
    let panels = block.rows.div_ceil(ROWS);
    if block.row_stride != 1 || block.column_stride == 1 {
        for panel in 0..panels {
            let first = panel * ROWS;
            let rows = block.row_range(first, (first + ROWS).min(block.rows));
            pack_rows(
                rows,
                depth_start,
                depth,
                &mut packed[panel * panel_stride..],
            );
        }
        return;
    }
    let input =
        |input: usize| &block.values[(depth_start + input) * block.column_stride..][..block.rows];
    for p in 0..depth.div_ceil(2) {
        let (low, high) = (input(2 * p), (2 * p + 1 < depth).then(|| input(2 * p + 1)));
        let lanes = &mut packed[p * ROWS..];
        let first = pairs_across_panels(low, high, lanes, panel_stride);
        for panel in first..panels {
            let rows = panel * ROWS..(panel * ROWS + ROWS).min(block.rows);
            let high = high.map(|high| &high[rows.clone()]);
            let lanes = &mut packed[panel * panel_stride + p * ROWS..][..ROWS];
            pairs_across(&low[rows], high, lanes);
        }
    }
}

/// Inputs a whole packed right-hand panel is zero-padded to a multiple of: a
/// tile row's (what `bf16_tiles` multiplies at a time).
#[cfg(target_arch = "x86_64")]
pub const PANEL_INPUTS: usize = 32;

/// Pairs a whole packed right-hand panel holds for `inputs` inputs.
#[cfg(target_arch = "x86_64")]
fn panel_pairs(inputs: usize) -> usize {
    inputs.div_ceil(PANEL_INPUTS) * PANEL_INPUTS / 2
}

/// The values a right-hand side of (`inputs`, `columns`) takes packed whole.
#[cfg(target_arch = "x86_64")]
pub fn packed_columns_len(inputs: usize, columns: usize) -> usize {
    columns.div_ceil(COLUMNS) * panel_pairs(inputs) * COLUMNS
}

/// A right-hand side packed whole: panel `c` (columns `32c..`) at `values[c *
/// panel_len..]`, laid out as [`pack_columns`] packs a block (`pair * COLUMNS
/// + column`) over all the inputs, zero past the last input (to a multiple of
/// [`PANEL_INPUTS`]) and in the lanes past the last column. Written by
/// [`pack_all_columns`], or straight from a quantized weight.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub struct PackedColumns<'a> {
    values: &'a [u32],
    /// Inputs from `first_pair`'s.
    inputs: usize,
    columns: usize,
    first_pair: usize,
    panel_len: usize,
}

#[cfg(target_arch = "x86_64")]
impl<'a> PackedColumns<'a> {
    /// (`inputs`, `columns`) packed whole in `values`.
    pub fn new(values: &'a [u32], inputs: usize, columns: usize) -> Self {
        assert!(
            values.len() >= packed_columns_len(inputs, columns),
            "packed columns too short"
        );
        Self {
            values,
            inputs,
            columns,
            first_pair: 0,
            panel_len: panel_pairs(inputs) * COLUMNS,
        }
    }
}

/// Packs `rhs` whole into `packed`, which holds [`packed_columns_len`] values
/// for it. Where its rows are contiguous (column stride 1), two inputs at a
/// time across all the panels, each input's values read in order (a panel at a
/// time, 32 values a row apart, the reads missed the caches for a tenth of a
/// full bf16 step on Zen 4); otherwise a panel at a time.
#[cfg(target_arch = "x86_64")]
pub fn pack_all_columns(rhs: Matrix, packed: &mut [u32]) {
    let (pairs, panel_len) = (rhs.rows.div_ceil(2), panel_pairs(rhs.rows) * COLUMNS);
    if pairs == 0 || rhs.columns == 0 {
        return;
    }
    let packed = &mut packed[..packed_columns_len(rhs.rows, rhs.columns)];
    let panel_columns =
        |panel: usize| panel * COLUMNS..(panel * COLUMNS + COLUMNS).min(rhs.columns);
    if rhs.column_stride == 1 {
        let input = |input: usize| &rhs.values[input * rhs.row_stride..][..rhs.columns];
        for p in 0..pairs {
            let (low, high) = (
                input(2 * p),
                (2 * p + 1 < rhs.rows).then(|| input(2 * p + 1)),
            );
            for (panel, lanes) in packed.chunks_exact_mut(panel_len).enumerate() {
                let columns = panel_columns(panel);
                let high = high.map(|high| &high[columns.clone()]);
                pairs_across(&low[columns], high, &mut lanes[p * COLUMNS..][..COLUMNS]);
            }
        }
    } else {
        for (panel, lanes) in packed.chunks_exact_mut(panel_len).enumerate() {
            let columns = panel_columns(panel);
            if columns.len() < COLUMNS {
                lanes.fill(0);
            }
            pack_columns(rhs, 0, rhs.rows, columns.start, columns.len(), lanes);
        }
    }
    for lanes in packed.chunks_exact_mut(panel_len) {
        lanes[pairs * COLUMNS..].fill(0);
    }
}

/// A right-hand side: a view, packed a panel at a time as it is multiplied,
/// or packed whole already.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub enum Right<'a> {
    View(Matrix<'a>),
    Packed(PackedColumns<'a>),
}

#[cfg(target_arch = "x86_64")]
impl<'a> From<Matrix<'a>> for Right<'a> {
    fn from(view: Matrix<'a>) -> Self {
        Self::View(view)
    }
}

#[cfg(target_arch = "x86_64")]
impl<'a> Right<'a> {
    /// (inputs, columns).
    pub fn shape(&self) -> (usize, usize) {
        match self {
            Self::View(view) => (view.rows, view.columns),
            Self::Packed(packed) => (packed.inputs, packed.columns),
        }
    }

    /// Inputs `start..end` (for a packed side, each a multiple of
    /// [`PANEL_INPUTS`] or the end).
    pub fn row_range(self, start: usize, end: usize) -> Self {
        match self {
            Self::View(view) => Self::View(view.row_range(start, end)),
            Self::Packed(packed) => {
                let whole = |at: usize| at.is_multiple_of(PANEL_INPUTS) || at == packed.inputs;
                assert!(
                    whole(start) && whole(end) && start <= end && end <= packed.inputs,
                    "inputs {start}..{end} of packed columns"
                );
                Self::Packed(PackedColumns {
                    inputs: end - start,
                    first_pair: packed.first_pair + start / 2,
                    ..packed
                })
            }
        }
    }

    /// The panel of columns `column_start..` (a multiple of [`COLUMNS`]), its
    /// pairs `depth_start / 2..` (`depth_start` even), `pairs` of them, the
    /// ones past `depth` inputs zero: packed into `buffer` from a view, or
    /// where a packed side holds them.
    pub(super) fn panel<'b>(
        &'b self,
        (depth_start, depth, pairs): (usize, usize, usize),
        (column_start, columns): (usize, usize),
        buffer: &'b mut Vec<u32>,
    ) -> &'b [u32] {
        let len = pairs * COLUMNS;
        match self {
            Self::View(view) => {
                if buffer.len() < len {
                    buffer.resize(len, 0);
                }
                pack_columns(*view, depth_start, depth, column_start, columns, buffer);
                buffer[depth.div_ceil(2) * COLUMNS..len].fill(0);
                &buffer[..len]
            }
            Self::Packed(packed) => {
                assert!(
                    depth_start.is_multiple_of(2),
                    "a packed panel starts at a pair"
                );
                packed
                    .skip_pairs(depth_start / 2)
                    .panel(pairs, column_start)
            }
        }
    }

    /// Inputs `depth_start..+depth` (`depth_start` even) of columns
    /// `column_start..+columns` (`column_start` a multiple of [`COLUMNS`]),
    /// packed whole: where a packed side holds them, or packed from a view into
    /// `buffer` by [`pack_all_columns`].
    pub(super) fn packed_block<'b>(
        &'b self,
        (depth_start, depth): (usize, usize),
        (column_start, columns): (usize, usize),
        buffer: &'b mut Vec<u32>,
    ) -> PackedColumns<'b> {
        match self {
            Self::View(view) => {
                let view = view
                    .row_range(depth_start, depth_start + depth)
                    .columns_from(column_start, columns);
                let len = packed_columns_len(depth, columns);
                if buffer.len() < len {
                    // At its largest at once: grown by steps, the freed
                    // smaller buffers stayed in the allocator's pages.
                    buffer.resize(len.max(MAX_RIGHT_BYTES / 4), 0);
                }
                pack_all_columns(view, buffer);
                PackedColumns::new(&buffer[..len], depth, columns)
            }
            Self::Packed(packed) => packed.block((depth_start, depth), (column_start, columns)),
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl<'a> PackedColumns<'a> {
    /// Inputs `depth_start..+depth` (`depth_start` even) of columns
    /// `column_start..+columns` (`column_start` a multiple of [`COLUMNS`]), in
    /// place.
    pub fn block(
        self,
        (depth_start, depth): (usize, usize),
        (column_start, columns): (usize, usize),
    ) -> Self {
        assert!(
            depth_start.is_multiple_of(2) && column_start.is_multiple_of(COLUMNS),
            "a packed block starts at a pair and a panel"
        );
        assert!(
            depth_start + depth <= self.inputs && column_start + columns <= self.columns,
            "a block past the packed side"
        );
        PackedColumns {
            values: &self.values[column_start / COLUMNS * self.panel_len..],
            inputs: depth,
            columns,
            ..self.skip_pairs(depth_start / 2)
        }
    }

    /// The same panels from `pairs` pairs further on.
    fn skip_pairs(self, pairs: usize) -> Self {
        Self {
            first_pair: self.first_pair + pairs,
            ..self
        }
    }

    /// The `pairs` pairs of the panel of columns `column_start..` (a multiple of
    /// [`COLUMNS`]), `COLUMNS` lanes a pair.
    pub(super) fn panel(&self, pairs: usize, column_start: usize) -> &'a [u32] {
        assert!(
            column_start.is_multiple_of(COLUMNS),
            "a packed panel starts at a panel"
        );
        assert!(
            (self.first_pair + pairs) * COLUMNS <= self.panel_len,
            "pairs past the packed panel"
        );
        let panel = column_start / COLUMNS * self.panel_len;
        &self.values[panel + self.first_pair * COLUMNS..][..pairs * COLUMNS]
    }
}

/// Packs `rhs`'s columns `column_start..+columns` (at most [`COLUMNS`]), inputs
/// `depth_start..+depth`, as `packed[pair * COLUMNS + column]`, the high half
/// of a last odd input zero; lanes of columns past them are zero or left as
/// they were (their sums are never stored).
pub(super) fn pack_columns(
    rhs: Matrix,
    depth_start: usize,
    depth: usize,
    column_start: usize,
    columns: usize,
    packed: &mut [u32],
) {
    let pairs = depth.div_ceil(2);
    let index = |input: usize, column: usize| {
        (depth_start + input) * rhs.row_stride + (column_start + column) * rhs.column_stride
    };
    if rhs.column_stride == 1 {
        for p in 0..pairs {
            let low = &rhs.values[index(2 * p, 0)..][..columns];
            let high = (2 * p + 1 < depth).then(|| &rhs.values[index(2 * p + 1, 0)..][..columns]);
            pairs_across(low, high, &mut packed[p * COLUMNS..(p + 1) * COLUMNS]);
        }
    } else if rhs.row_stride == 1 {
        // Each column's inputs are consecutive: 16 columns at a time, transposed.
        for first in (0..COLUMNS).step_by(16) {
            let count = columns.saturating_sub(first).min(16);
            let mut lines: [&[f32]; 16] = [&[]; 16];
            for (offset, line) in lines.iter_mut().enumerate().take(count) {
                *line = &rhs.values[index(0, first + offset)..][..depth];
            }
            pairs_transposed(&lines[..count], 16, &mut packed[first..], COLUMNS);
        }
    } else {
        for p in 0..pairs {
            for column in 0..COLUMNS {
                packed[p * COLUMNS + column] = match column < columns {
                    true => {
                        let high = match 2 * p + 1 < depth {
                            true => rhs.values[index(2 * p + 1, column)],
                            false => 0.0,
                        };
                        pair(rhs.values[index(2 * p, column)], high)
                    }
                    false => 0,
                };
            }
        }
    }
}

/// Lines of consecutive inputs (up to `width`, all as long) as pairs,
/// transposed: line `l`'s pair `p` into `packed[p * stride + l]`, zeros into
/// lanes `lines.len()..width` (`width` at most 16; with no lines, nothing is
/// written). Whole blocks of 16 pairs go through a 16 x 16 transpose in
/// registers, the rest one pair at a time.
pub(super) fn pairs_transposed(lines: &[&[f32]], width: usize, packed: &mut [u32], stride: usize) {
    assert!(
        lines.len() <= width && width <= stride.min(16),
        "too many lines"
    );
    let Some(depth) = lines.first().map(|line| line.len()) else {
        return;
    };
    assert!(
        lines.iter().all(|line| line.len() == depth),
        "lines of one length"
    );
    let pairs = depth.div_ceil(2);
    if pairs == 0 {
        return;
    }
    assert!(
        packed.len() >= (pairs - 1) * stride + width,
        "pairs past the panel"
    );
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if available() {
        while 2 * done + 32 <= depth {
            // SAFETY: AVX512-BF16 is available; every line holds 32 values from
            // `2 * done` and `packed` the 16 pairs' lanes (checked above).
            unsafe {
                transpose_16_pairs(lines, 2 * done, width, &mut packed[done * stride..], stride)
            };
            done += 16;
        }
    }
    for p in done..pairs {
        for lane in 0..width {
            packed[p * stride + lane] = match lines.get(lane) {
                Some(line) => pair(line[2 * p], line.get(2 * p + 1).copied().unwrap_or(0.0)),
                None => 0,
            };
        }
    }
}

/// Pairs `from / 2..+16` of each line (zero rows past them), transposed into
/// `packed[t * stride..][..width]` for t in 0..16.
///
/// # Safety
/// AVX512-BF16 is available; each line holds 32 values from `from`; `packed`
/// holds `15 * stride + width` values; `width` is at most 16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn transpose_16_pairs(
    lines: &[&[f32]],
    from: usize,
    width: usize,
    packed: &mut [u32],
    stride: usize,
) {
    let rows: [__m512i; 16] = std::array::from_fn(|line| match lines.get(line) {
        // SAFETY: 32 values from `from` (the contract); any 64 bytes are 16
        // valid lanes.
        Some(line) => unsafe {
            let (low, high) = (
                _mm512_loadu_ps(line.as_ptr().add(from)),
                _mm512_loadu_ps(line.as_ptr().add(from + 16)),
            );
            std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(high, low))
        },
        None => _mm512_setzero_si512(),
    });
    let pairs = transpose_16x16(rows);
    let mask = ((1u32 << width) - 1) as __mmask16;
    for (t, pairs) in pairs.into_iter().enumerate() {
        // SAFETY: `width` lanes at `t * stride` are inside `packed`.
        unsafe {
            _mm512_mask_storeu_epi32(packed.as_mut_ptr().add(t * stride).cast(), mask, pairs)
        };
    }
}

/// The transpose of 16 rows of 16 32-bit lanes: output `t` holds lane `t` of
/// every row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) fn transpose_16x16(rows: [__m512i; 16]) -> [__m512i; 16] {
    // Rows interleaved by twos, then fours, then 128-bit lanes twice.
    let twos: [__m512i; 16] = std::array::from_fn(|i| {
        let (a, b) = (rows[i & !1], rows[i | 1]);
        match i % 2 {
            0 => _mm512_unpacklo_epi32(a, b),
            _ => _mm512_unpackhi_epi32(a, b),
        }
    });
    let fours: [__m512i; 16] = std::array::from_fn(|i| {
        let (group, slot) = (i / 4 * 4, i % 4);
        let (a, b) = (twos[group + slot / 2], twos[group + 2 + slot / 2]);
        match slot % 2 {
            0 => _mm512_unpacklo_epi64(a, b),
            _ => _mm512_unpackhi_epi64(a, b),
        }
    });
    let eights: [__m512i; 16] = std::array::from_fn(|i| {
        let (half, slot) = (i / 8 * 8, i % 8);
        let (a, b) = (fours[half + slot % 4], fours[half + 4 + slot % 4]);
        match slot / 4 {
            0 => _mm512_shuffle_i32x4::<0x88>(a, b),
            _ => _mm512_shuffle_i32x4::<0xdd>(a, b),
        }
    });
    std::array::from_fn(|t| {
        let (a, b) = (eights[t % 8], eights[8 + t % 8]);
        match t / 8 {
            0 => _mm512_shuffle_i32x4::<0x88>(a, b),
            _ => _mm512_shuffle_i32x4::<0xdd>(a, b),
        }
    })
}

/// `low[i]` and `high[i]` (zero where `high` is `None`) as pairs into
/// `lanes[i]`; lanes past `low` (which is no longer than `lanes`) are zero.
pub(super) fn pairs_across(low: &[f32], high: Option<&[f32]>, lanes: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if available() {
        for (index, chunk) in lanes.chunks_mut(16).enumerate() {
            let start = (16 * index).min(low.len());
            let count = (low.len() - start).min(16);
            // SAFETY: AVX512-BF16 is available; both rows hold `count` values
            // from `start`, at most the chunk's lanes.
            unsafe {
                let high = high.map(|high| &high[start..start + count]);
                across_16(&low[start..start + count], high, chunk)
            };
        }
        return;
    }
    for (index, lane) in lanes.iter_mut().enumerate() {
        *lane = match low.get(index) {
            Some(&value) => pair(value, high.map_or(0.0, |high| high[index])),
            None => 0,
        };
    }
}

/// Up to 16 values of two rows as pairs; the lanes past them zero.
///
/// # Safety
/// AVX512-BF16 is available; `lanes` holds at most 16 values, `low` (and
/// `high`) at most as many.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn across_16(low: &[f32], high: Option<&[f32]>, lanes: &mut [u32]) {
    let first = |count: usize| ((1u32 << count) - 1) as __mmask16;
    // SAFETY: AVX512-BF16 is available; the mask covers `low`'s values.
    let pairs = unsafe { pairs_16(first(low.len()), low, high) };
    // SAFETY: the masked store writes only `lanes`.
    unsafe { _mm512_mask_storeu_epi32(lanes.as_mut_ptr().cast(), first(lanes.len()), pairs) };
}

/// The values of `low` and `high` (zero where `None`) that `mask` selects as
/// 16 pairs, zero in the other lanes.
///
/// # Safety
/// AVX512-BF16 is available; both rows hold the values `mask` selects.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn pairs_16(mask: __mmask16, low: &[f32], high: Option<&[f32]>) -> __m512i {
    let widen = |values: __m512| -> __m512i {
        // SAFETY: 32 bytes as 16 halves; every bit pattern is valid.
        let halves =
            unsafe { std::mem::transmute::<__m256bh, __m256i>(_mm512_cvtneps_pbh(values)) };
        _mm512_cvtepu16_epi32(halves)
    };
    // SAFETY: the masked loads read only the values the caller vouches for.
    let low = widen(unsafe { _mm512_maskz_loadu_ps(mask, low.as_ptr()) });
    let high = match high {
        // SAFETY: as for `low`.
        Some(high) => widen(unsafe { _mm512_maskz_loadu_ps(mask, high.as_ptr()) }),
        None => _mm512_setzero_si512(),
    };
    _mm512_or_si512(low, _mm512_slli_epi32::<16>(high))
}

/// Rows of `low` and `high` (zero where `None`) as pairs into panels of
/// [`ROWS`] lanes `panel_stride` apart in `lanes` (panel `q` at `q *
/// panel_stride`), four panels (48 rows) at a time where the CPU has
/// AVX512-BF16: three vectors of pairs split across the four panels in
/// registers, where one [`pairs_across`] call a panel spent most of its time
/// outside the conversion. Returns how many panels it packed (the caller packs
/// the rest).
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
fn pairs_across_panels(
    low: &[f32],
    high: Option<&[f32]>,
    lanes: &mut [u32],
    panel_stride: usize,
) -> usize {
    #[cfg(target_arch = "x86_64")]
    if available() {
        const GROUP: usize = 4 * ROWS;
        let groups = low.len() / GROUP;
        if groups == 0 {
            return 0;
        }
        assert!(
            high.is_none_or(|high| high.len() >= groups * GROUP),
            "rows of one length"
        );
        assert!(
            lanes.len() >= (4 * groups - 1) * panel_stride + ROWS,
            "panels past the packed lanes"
        );
        for group in 0..groups {
            let rows = group * GROUP..(group + 1) * GROUP;
            let high = high.map(|high| &high[rows.clone()]);
            // SAFETY: AVX512-BF16 is available; the rows hold 48 values and
            // the four panels' 12 lanes lie in `lanes` (checked above).
            unsafe {
                let out = lanes.as_mut_ptr().add(4 * group * panel_stride);
                across_48(&low[rows], high, out, panel_stride)
            };
        }
        return 4 * groups;
    }
    0
}

/// 48 values of two rows as pairs into four panels of [`ROWS`] lanes,
/// `panel_stride` apart from `out`.
///
/// # Safety
/// AVX512-BF16 is available; the rows hold 48 values and the panels' lanes
/// lie in one buffer from `out`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn across_48(low: &[f32], high: Option<&[f32]>, out: *mut u32, panel_stride: usize) {
    // SAFETY: the rows hold 48 values.
    let pairs: [__m512i; 3] = std::array::from_fn(|i| unsafe {
        pairs_16(0xffff, &low[16 * i..], high.map(|high| &high[16 * i..]))
    });
    // Panel lanes 0..12 from pairs 0..12, 12..24, 24..36 and 36..48.
    let second = _mm512_setr_epi32(12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 0, 0, 0, 0);
    let third = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 0, 0, 0, 0);
    let panels = [
        pairs[0],
        _mm512_permutex2var_epi32(pairs[0], second, pairs[1]),
        _mm512_permutex2var_epi32(pairs[1], third, pairs[2]),
        _mm512_alignr_epi32::<4>(pairs[2], pairs[2]),
    ];
    for (panel, values) in panels.into_iter().enumerate() {
        // SAFETY: the panel's 12 lanes lie in the buffer (the contract).
        unsafe {
            let at = out.add(panel * panel_stride);
            _mm512_mask_storeu_epi32(at.cast(), 0x0fff, values)
        };
    }
}

/// The 12 x 32 tile of `pairs` packed pairs: `left[pair * ROWS + row]` times
/// `right[pair * COLUMNS + column]`, summed in f32, scaled into `tile`.
///
/// # Safety
/// AVX512-BF16 is available; `left` holds `pairs * ROWS` and `right` `pairs *
/// COLUMNS` values; the tile's rows and columns (at most ROWS and COLUMNS) lie
/// in the output.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn micro_kernel(pairs: usize, left: *const u32, right: *const u32, tile: Tile) {
    let mut sums = [[_mm512_setzero_ps(); 2]; ROWS];
    for p in 0..pairs {
        // SAFETY: pair `p` of both panels is in bounds (the contract), and any
        // 64 bytes are 32 valid bf16 values.
        let (low, high) = unsafe {
            (
                std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(
                    right.add(p * COLUMNS).cast(),
                )),
                std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(
                    right.add(p * COLUMNS + 16).cast(),
                )),
            )
        };
        for (row, sum) in sums.iter_mut().enumerate() {
            // SAFETY: as above.
            let broadcast = unsafe {
                std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(
                    *left.add(p * ROWS + row) as i32,
                ))
            };
            sum[0] = _mm512_dpbf16_ps(sum[0], broadcast, low);
            sum[1] = _mm512_dpbf16_ps(sum[1], broadcast, high);
        }
    }
    for (row, &sum) in sums.iter().enumerate().take(tile.rows) {
        // SAFETY: the row is in the tile, which lies in the output.
        unsafe { tile.store_row(row, sum) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::transformer::test_support;

    /// Products of every layout, at sizes that leave partial panels, odd
    /// inputs and several depth and row blocks, and a real one (SmolLM2's k and
    /// v projections of 64 tokens), equal the product of the rounded operands.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn products_of_every_layout_equal_the_rounded_product() {
        if !available() {
            println!("skipped: this CPU lacks AVX512-BF16 (the f32 fallback runs instead)");
            return;
        }
        let shapes = [
            (1, 1, 1),
            (13, 7, 33),
            (25, 257, 70),
            (800, 300, 40),
            (5, 1600, 3),
            (64, 576, 192),
        ];
        // SAFETY: AVX512-BF16 is available.
        unsafe { test_support::assert_bf16_products(product_raw, &shapes) };
    }

    /// Sides packed from rows that lie far apart (read an input at a time
    /// across all the panels) equal those packed from a contiguous copy, at
    /// sizes that leave partial panels, odd inputs and several depth blocks.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn sides_packed_across_rows_equal_those_packed_from_a_copy() {
        for (rows, inputs) in [(1, 1), (13, 7), (25, 1657), (40, 64), (100, 9), (96, 4)] {
            let values = test_support::xorshift_values(rows * inputs, 5);
            // The transpose of (inputs, rows) values: adjacent rows.
            let transposed = Matrix::new(&values, inputs, rows).unwrap().t();
            let copy: Vec<f32> = (0..rows)
                .flat_map(|row| {
                    let values = &values;
                    (0..inputs).map(move |input| values[input * rows + row])
                })
                .collect();
            let copy = Matrix::new(&copy, rows, inputs).unwrap();
            let mut panels = [
                vec![u32::MAX; packed_len(rows, inputs)],
                vec![0; packed_len(rows, inputs)],
            ];
            for (view, packed) in [transposed, copy].into_iter().zip(&mut panels) {
                pack_panels(view, packed);
            }
            assert_eq!(panels[0], panels[1], "left side of {rows} x {inputs}");
            // As a right-hand side: (inputs, columns) with contiguous rows, and
            // its transpose's copy (each column's inputs contiguous).
            let (right, copy) = (transposed.t(), copy.t());
            let len = packed_columns_len(inputs, rows);
            let mut columns = [vec![u32::MAX; len], vec![u32::MAX; len]];
            for (view, packed) in [right, copy].into_iter().zip(&mut columns) {
                pack_all_columns(view, packed);
            }
            assert_eq!(columns[0], columns[1], "right side of {inputs} x {rows}");
        }
    }

    /// Rounding is to nearest with ties to even, as the hardware converts, and
    /// the packed pair puts the first input in the low half.
    #[test]
    fn pairs_round_to_nearest_even() {
        let tie_down = f32::from_bits(0x3f80_8000); // 1 + 2^-8: a tie, 1.0 is even
        let tie_up = f32::from_bits(0x3f81_8000); // a tie above an odd bf16
        assert_eq!(pair(tie_down, tie_up), 0x3f82_3f80);
        let values: Vec<f32> = (0..67)
            .map(|i| f32::from_bits(0x3f80_0000 + i * 0x3fff))
            .collect();
        // 13 lines of 67 values (two blocks of 16 pairs and 2 more), transposed
        // into lanes of 14 (the last one zero), 15 apart.
        let lines: Vec<Vec<f32>> = (0..13)
            .map(|line| {
                values
                    .iter()
                    .map(|v| v * (1.0 + line as f32 / 64.0))
                    .collect()
            })
            .collect();
        let lines: Vec<&[f32]> = lines.iter().map(Vec::as_slice).collect();
        let mut transposed = vec![u32::MAX; 34 * 15];
        pairs_transposed(&lines, 14, &mut transposed, 15);
        for p in 0..34 {
            for lane in 0..15 {
                let got = transposed[p * 15 + lane];
                let want = match lines.get(lane) {
                    Some(line) => pair(line[2 * p], line.get(2 * p + 1).copied().unwrap_or(0.0)),
                    None if lane < 14 => 0,
                    None => u32::MAX,
                };
                assert_eq!(got, want, "pair {p}, lane {lane}");
            }
        }
        let mut across = [u32::MAX; 32];
        pairs_across(&values[..20], Some(&values[20..40]), &mut across);
        for (index, &lane) in across.iter().enumerate() {
            let want = match index < 20 {
                true => pair(values[index], values[20 + index]),
                false => 0,
            };
            assert_eq!(lane, want, "lane {index}");
        }
    }
}
