//! Matrix products straight into a custom op's output, in f32 with gemm (the
//! crate candle's CPU matmul calls) or in bf16 (`bf16_tiles`, `bf16_product`). Through
//! candle's tensors, each product in a custom op copied its input in, its result
//! out, and needed a separate pass to add a second product; these read strided
//! inputs in place and accumulate.

use super::bf16_product;
#[cfg(target_arch = "x86_64")]
use super::bf16_product::{PackedColumns, Right};
#[cfg(target_arch = "x86_64")]
use super::bf16_tiles;
use super::cpu_pool;
pub use super::matrix::Matrix;
use candle_core::Result;

/// The operands a product multiplies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProductPrecision {
    /// f32, as stored.
    #[default]
    F32,
    /// Rounded to bf16, the products summed in f32: mixed-precision training's
    /// matmul (see `bf16_product`).
    Bf16,
}

/// The kernel that runs bf16 products on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bf16Kernel {
    /// AMX tiles' `tdpbf16ps` (Intel Sapphire Rapids and later).
    Tiles,
    /// AVX512-BF16's `vdpbf16ps` (AMD Zen 4, Intel Cooper Lake and later).
    DotProducts,
    /// gemm's f32 product of the operands rounded to bf16 (same results as
    /// the others up to summation order, at f32 speed).
    RoundedF32,
}

/// The variable that picks a bf16 kernel below the CPU's best
/// (`tiles`, `dot-products` or `rounded-f32`), as oneDNN's `ONEDNN_MAX_CPU_ISA`
/// does: to measure or test AVX512-BF16's kernel on an AMX machine.
pub const BF16_KERNEL_VARIABLE: &str = "F1AI_BF16_KERNEL";

/// The bf16 kernel, chosen by CPU features (and [`BF16_KERNEL_VARIABLE`]) once
/// and logged.
pub fn bf16_kernel() -> Bf16Kernel {
    static KERNEL: std::sync::OnceLock<Bf16Kernel> = std::sync::OnceLock::new();
    *KERNEL.get_or_init(|| {
        let requested = std::env::var(BF16_KERNEL_VARIABLE).ok();
        #[cfg(target_arch = "x86_64")]
        let tiles = bf16_tiles::available();
        // Asked for, the tiles run in software where the CPU has none (tests).
        #[cfg(all(target_arch = "x86_64", feature = "emulated-amx"))]
        let tiles = tiles
            || (requested.as_deref().map(str::trim) == Some("tiles") && bf16_product::available());
        #[cfg(not(target_arch = "x86_64"))]
        let tiles = false;
        let kernel = choose_bf16_kernel(tiles, bf16_product::available(), requested.as_deref())
            .unwrap_or_else(|(message, best)| {
                tracing::warn!("{BF16_KERNEL_VARIABLE}: {message}");
                best
            });
        tracing::info!(
            "bf16 products: {}",
            match kernel {
                Bf16Kernel::Tiles if super::amx::emulated() =>
                    "AMX tiles (tdpbf16ps), emulated in software: this CPU has none",
                Bf16Kernel::Tiles => "AMX tiles (tdpbf16ps)",
                Bf16Kernel::DotProducts => "AVX512-BF16 dot products (vdpbf16ps)",
                Bf16Kernel::RoundedF32 =>
                    "operands rounded to bf16 and multiplied by the f32 kernel",
            }
        );
        kernel
    })
}

/// The best kernel the CPU runs (`tiles`, `dot_products`: whether it has AMX,
/// AVX512-BF16), or the `requested` one; a request the CPU cannot run, or
/// that names no kernel, gives a message and the best.
fn choose_bf16_kernel(
    tiles: bool,
    dot_products: bool,
    requested: Option<&str>,
) -> std::result::Result<Bf16Kernel, (String, Bf16Kernel)> {
    let best = match (tiles, dot_products) {
        (true, _) => Bf16Kernel::Tiles,
        (false, true) => Bf16Kernel::DotProducts,
        (false, false) => Bf16Kernel::RoundedF32,
    };
    let Some(requested) = requested else {
        return Ok(best);
    };
    let (kernel, runs) = match requested.trim() {
        "tiles" => (Bf16Kernel::Tiles, tiles),
        "dot-products" => (Bf16Kernel::DotProducts, dot_products),
        "rounded-f32" => (Bf16Kernel::RoundedF32, true),
        other => {
            let message = format!(
                "\"{other}\" is no bf16 kernel (tiles, dot-products or rounded-f32); using {best:?}"
            );
            return Err((message, best));
        }
    };
    match runs {
        true => Ok(kernel),
        false => Err((
            format!("this CPU cannot run {kernel:?}; using {best:?}"),
            best,
        )),
    }
}

/// `out = scale * lhs · rhs`, or `out += scale * lhs · rhs` when `accumulate`;
/// `out` is row-major (lhs rows, rhs columns). Runs on all of candle's threads:
/// each thread takes one block of the output's columns and multiplies it alone.
/// gemm's own threading splits every product into small tiles behind barriers;
/// on two cores one block per thread was faster for this crate's shapes.
pub fn product_into(
    out: &mut [f32],
    accumulate: bool,
    lhs: Matrix,
    rhs: Matrix,
    scale: f32,
    precision: ProductPrecision,
) -> Result<()> {
    check_shapes(out.len(), lhs, (rhs.rows, rhs.columns))?;
    // SAFETY: the shapes are checked above.
    unsafe { parallel_product(out.as_mut_ptr(), accumulate, lhs, rhs, scale, precision) };
    Ok(())
}

/// [`product_into`] at a raw pointer.
///
/// # Safety
/// The shapes passed [`check_shapes`] for `out`'s (lhs rows, rhs columns) values;
/// `out` may be uninitialised unless `accumulate`.
unsafe fn parallel_product(
    out: *mut f32,
    accumulate: bool,
    lhs: Matrix,
    rhs: Matrix,
    scale: f32,
    precision: ProductPrecision,
) {
    let n = rhs.columns;
    let threads = cpu_pool::threads();
    // bf16 packs the whole left operand in each thread: where it is the larger
    // operand, the threads split its rows instead, each packing its own.
    if precision == ProductPrecision::Bf16 && lhs.rows > n && lhs.columns > 0 {
        if let Some(block) = block_size(lhs.rows, threads, 16) {
            let out = SharedOutput { values: out };
            cpu_pool::for_each_index(lhs.rows.div_ceil(block), |index| {
                let (start, end) = (index * block, ((index + 1) * block).min(lhs.rows));
                // SAFETY: each block writes its own rows of the checked output.
                unsafe {
                    let out_rows = out.at(start * n);
                    let lhs = lhs.row_range(start, end);
                    raw_product(out_rows, n, accumulate, lhs, rhs, scale, precision)
                }
            });
            return;
        }
    }
    // The blocks run on candle's barrier pool, the threads that run candle's own
    // kernels, so no second pool competes with its waiting workers for the cores.
    let block = match block_size(n, threads, 16) {
        Some(block) if lhs.rows > 0 && lhs.columns > 0 => block,
        _ => return raw_product(out, n, accumulate, lhs, rhs, scale, precision),
    };
    #[cfg(target_arch = "x86_64")]
    if let Some(kernel) = packing_bf16_kernel(precision) {
        let shared = (block, MAX_SHARED_LEFT_BYTES);
        return shared_left_product(kernel, out, accumulate, lhs, rhs, scale, shared);
    }
    for_each_column_block(out, n, block, |start, width, out_block| {
        // SAFETY: the block's output columns are its own (see
        // `for_each_column_block`), and the view is a block of the checked rhs.
        unsafe {
            raw_product(
                out_block,
                n,
                accumulate,
                lhs,
                rhs.columns_from(start, width),
                scale,
                precision,
            )
        }
    });
}

/// The most bytes a left-hand side packed once and shared by the threads takes
/// (a product over the vocabulary's 49,152 inputs packed whole took 48 MiB,
/// kept between products).
#[cfg(target_arch = "x86_64")]
const MAX_SHARED_LEFT_BYTES: usize = 2 << 20;

/// The kernel that packs bf16 operands (tiles or dot products), if `precision`
/// is bf16 and the CPU has one: its products share one packing of the left side
/// among the threads (each thread packing all of it was a tenth of a bf16
/// training step on the tiles), and read right sides packed beforehand.
#[cfg(target_arch = "x86_64")]
pub(super) fn packing_bf16_kernel(precision: ProductPrecision) -> Option<Bf16Kernel> {
    let kernel = bf16_kernel();
    let packs = matches!(kernel, Bf16Kernel::Tiles | Bf16Kernel::DotProducts);
    (precision == ProductPrecision::Bf16 && packs).then_some(kernel)
}

/// [`parallel_product`] on a kernel with a shared left side: packed once for
/// all threads, as many inputs at a time as fit `max_bytes`, then each thread
/// multiplies a block of `block` columns.
///
/// # Safety
/// As for [`parallel_product`]; `kernel` runs here and `lhs` has rows and
/// columns.
#[cfg(target_arch = "x86_64")]
unsafe fn shared_left_product(
    kernel: Bf16Kernel,
    out: *mut f32,
    accumulate: bool,
    lhs: Matrix,
    rhs: Matrix,
    scale: f32,
    (block, max_bytes): (usize, usize),
) {
    let n = rhs.columns;
    let rows = lhs.rows.next_multiple_of(32);
    let inputs = (max_bytes / (2 * rows)) / bf16_tiles::GROUP_INPUTS;
    let inputs = inputs.max(1) * bf16_tiles::GROUP_INPUTS;
    for start in (0..lhs.columns).step_by(inputs) {
        let end = (start + inputs).min(lhs.columns);
        let (lhs, rhs) = (
            lhs.columns_from(start, end - start),
            rhs.row_range(start, end),
        );
        let accumulate = accumulate || start > 0;
        with_shared_left(kernel, lhs, |packed| {
            for_each_column_block(out, n, block, |start, width, out_block| {
                // SAFETY: the kernel runs here; the block's output columns are
                // its own, and the views are blocks of the checked operands.
                unsafe {
                    let rhs = rhs.columns_from(start, width).into();
                    packed.product_raw(out_block, n, accumulate, rhs, scale)
                }
            })
        });
    }
}

/// A left-hand side packed once for all threads' products.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
enum SharedLeft<'a> {
    Tiles(bf16_tiles::PackedRows<'a>),
    DotProducts(bf16_product::PackedPanels<'a>),
}

#[cfg(target_arch = "x86_64")]
impl SharedLeft<'_> {
    /// The kernel's `packed_product_raw`.
    ///
    /// # Safety
    /// As for the kernels' `packed_product_raw`.
    unsafe fn product_raw(
        self,
        out: *mut f32,
        out_row_stride: usize,
        accumulate: bool,
        rhs: Right,
        scale: f32,
    ) {
        // SAFETY: the caller's contract.
        unsafe {
            match self {
                Self::Tiles(lhs) => {
                    bf16_tiles::packed_product_raw(out, out_row_stride, accumulate, lhs, rhs, scale)
                }
                Self::DotProducts(lhs) => bf16_product::packed_product_raw(
                    out,
                    out_row_stride,
                    accumulate,
                    lhs,
                    rhs,
                    scale,
                ),
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
thread_local! {
    /// A left-hand side packed for a bf16 kernel, shared by the threads of one
    /// product (kept by the calling thread from one product to the next).
    static SHARED_LEFT: std::cell::RefCell<Vec<u32>> = std::cell::RefCell::default();
    /// A thread's block of a [`ColumnBlocks`] right-hand side packed for a
    /// bf16 kernel (kept from one product to the next).
    static PACKED_RIGHT: std::cell::RefCell<Vec<u32>> = std::cell::RefCell::default();
}

/// The values `kernel` packs `rows` rows of `inputs` into.
#[cfg(target_arch = "x86_64")]
fn shared_left_len(kernel: Bf16Kernel, rows: usize, inputs: usize) -> usize {
    match kernel {
        Bf16Kernel::Tiles => bf16_tiles::packed_len(rows, inputs),
        _ => bf16_product::packed_len(rows, inputs),
    }
}

/// Calls `multiply` with `lhs` packed for `kernel` (tiles or dot products)
/// once, its rows packed on all of candle's threads.
///
/// `lhs` has rows and columns.
#[cfg(target_arch = "x86_64")]
fn with_shared_left(kernel: Bf16Kernel, lhs: Matrix, multiply: impl FnOnce(SharedLeft)) {
    SHARED_LEFT.with_borrow_mut(|buffer| {
        let (m, k) = (lhs.rows, lhs.columns);
        let len = shared_left_len(kernel, m, k);
        if buffer.len() < len {
            buffer.resize(len, 0);
        }
        // Chunks of whole panels, so that each thread's rows are its own values:
        // (rows a panel packs, values a row takes).
        let (panel_rows, row_len) = match kernel {
            Bf16Kernel::Tiles => (1, bf16_tiles::row_pairs(k)),
            _ => (bf16_product::PANEL_ROWS, k.div_ceil(2)),
        };
        let rows_per_chunk = m.div_ceil(cpu_pool::threads()).next_multiple_of(panel_rows);
        let chunk = rows_per_chunk * row_len;
        let chunks = m.div_ceil(rows_per_chunk);
        cpu_pool::for_each_chunk([(&mut buffer[..len], chunk)], chunks, |index, [packed]| {
            let start = index * rows_per_chunk;
            let rows = lhs.row_range(start, (start + rows_per_chunk).min(m));
            match kernel {
                Bf16Kernel::Tiles => bf16_tiles::pack_rows(rows, packed),
                _ => bf16_product::pack_panels(rows, packed),
            }
            Ok(())
        })
        .expect("the chunks cover the packed rows");
        let values = &buffer[..len];
        multiply(match kernel {
            Bf16Kernel::Tiles => SharedLeft::Tiles(bf16_tiles::PackedRows::new(values, m, k)),
            _ => SharedLeft::DotProducts(bf16_product::PackedPanels::new(values, m, k)),
        })
    });
}

/// Calls `multiply(start, width, out_block)` for each block of `block` columns
/// of the row-major output `out` (`n` values a row) on all of candle's threads,
/// where `out_block` points at the block's first column of the first row.
///
/// # Safety
/// `out` holds whole rows of `n` values and `multiply` writes only columns
/// `start..start + width` of them, so no two blocks overlap.
unsafe fn for_each_column_block(
    out: *mut f32,
    n: usize,
    block: usize,
    multiply: impl Fn(usize, usize, *mut f32) + Sync,
) {
    let out = SharedOutput { values: out };
    cpu_pool::for_each_index(n.div_ceil(block), |index| {
        let start = index * block;
        // SAFETY: `start < n`, the row stride.
        multiply(start, block.min(n - start), unsafe { out.at(start) });
    });
}

/// The size of the blocks `threads` threads split `columns` (or rows) into: a
/// multiple of `alignment` (16 for whole AVX-512 registers), none thinner than 64;
/// `None` when one block would hold them all.
fn block_size(columns: usize, threads: usize, alignment: usize) -> Option<usize> {
    let block = columns
        .div_ceil(threads.max(1))
        .next_multiple_of(alignment.max(16))
        .max(64);
    (columns > block).then_some(block)
}

/// A right-hand side (k, n) that is never held whole: [`blockwise_product`] has
/// each thread write its own block of columns into a buffer of its own (a
/// quantized weight's slice decoded where the product reads it, in cache).
pub trait ColumnBlocks: Sync {
    /// (k, n).
    fn dims(&self) -> (usize, usize);

    /// Blocks start at multiples of this.
    fn alignment(&self) -> usize;

    /// Writes columns `start..start + width` into the empty `buffer`, row-major
    /// as (k, width) values or, when it returns `true`, as their transpose.
    fn write_block(&self, start: usize, width: usize, buffer: &mut Vec<f32>) -> bool;

    /// Inputs `depth.0..depth.0 + depth.1` of columns `start..start + width`
    /// packed whole for the bf16 kernels: rounded to bf16 straight from what is
    /// stored into `buffer` (grown as needed, see [`pack_into`]), or read in
    /// place where the side is held packed. The depth range is the whole `k` or
    /// starts and ends at multiples of [`DEPTH_ALIGNMENT`] (or at `k`). Called
    /// only where AVX512-BF16 is.
    #[cfg(target_arch = "x86_64")]
    fn packed_block<'a>(
        &'a self,
        depth: (usize, usize),
        columns: (usize, usize),
        buffer: &'a mut Vec<u32>,
    ) -> PackedColumns<'a>;
}

/// `depth` inputs of `width` columns packed by `pack` into `buffer`, grown to
/// `bf16_product::packed_columns_len(depth, width)` values where it is shorter.
#[cfg(target_arch = "x86_64")]
pub fn pack_into(
    buffer: &mut Vec<u32>,
    (depth, width): (usize, usize),
    pack: impl FnOnce(&mut [u32]),
) -> PackedColumns<'_> {
    let len = bf16_product::packed_columns_len(depth, width);
    if buffer.len() < len {
        buffer.resize(len, 0);
    }
    pack(&mut buffer[..len]);
    PackedColumns::new(&buffer[..len], depth, width)
}

/// What the depth ranges a [`ColumnBlocks`] side packs start at multiples of:
/// the k-quants' blocks of 256 inputs (a whole number of Q4_1's, Q8_0's and
/// the tiles' groups).
#[cfg(target_arch = "x86_64")]
pub const DEPTH_ALIGNMENT: usize = 256;

/// The most bytes a thread's block of a [`ColumnBlocks`] side takes packed
/// where the left side is shared: wider blocks are packed and multiplied this
/// much at a time (the head's 24,576 columns a thread had packed at once took
/// 28 MiB on SmolLM2, 168 MiB on Gemma 3, and went out to memory and back).
#[cfg(target_arch = "x86_64")]
const MAX_PACKED_RIGHT_BYTES: usize = 1 << 20;

/// A new (lhs rows, rhs columns) product `scale * lhs · rhs` for a right-hand side
/// built a column block at a time.
pub fn blockwise_product(
    lhs: Matrix,
    rhs: &impl ColumnBlocks,
    scale: f32,
    precision: ProductPrecision,
) -> Result<Vec<f32>> {
    let len = lhs.rows * rhs.dims().1;
    check_shapes(len, lhs, rhs.dims())?;
    let mut out = Vec::with_capacity(len);
    // SAFETY: as in `product`: a product that does not accumulate writes every
    // value, and every column block is multiplied.
    unsafe {
        parallel_blockwise(out.as_mut_ptr(), lhs, rhs, scale, precision);
        out.set_len(len);
    }
    Ok(out)
}

/// [`blockwise_product`] at a raw pointer.
///
/// # Safety
/// The shapes passed [`check_shapes`] for `out`'s values (which may be
/// uninitialised).
unsafe fn parallel_blockwise(
    out: *mut f32,
    lhs: Matrix,
    rhs: &impl ColumnBlocks,
    scale: f32,
    precision: ProductPrecision,
) {
    let (k, n) = rhs.dims();
    let block = block_size(n, cpu_pool::threads(), rhs.alignment()).unwrap_or(n.max(1));
    #[cfg(target_arch = "x86_64")]
    if let Some(kernel) = packing_bf16_kernel(precision) {
        // SAFETY: the kernel runs here; the caller's contract.
        return unsafe { packed_blockwise(kernel, out, lhs, rhs, scale, block) };
    }
    for_each_column_block(out, n, block, |start, width, out_block| {
        let mut buffer = Vec::with_capacity(k * width);
        let rhs_block = column_block(rhs, start, width, &mut buffer);
        // SAFETY: the block's output columns are its own (see
        // `for_each_column_block`); its shape is checked above.
        unsafe { raw_product(out_block, n, false, lhs, rhs_block, scale, precision) }
    });
}

/// [`parallel_blockwise`] on a kernel that packs: each thread has its block of
/// `block` columns packed straight from what `rhs` stores (no f32 block
/// written and read back), or read in place where `rhs` is held packed. The left
/// side is packed once for all where it fits, or else, where it is no taller
/// than `rhs` is wide (the head's input gradient: 512 rows by the vocabulary),
/// a depth range at a time that fits, the products of the ranges summed.
///
/// # Safety
/// As for [`parallel_blockwise`]; `kernel` (tiles or dot products) runs here.
#[cfg(target_arch = "x86_64")]
unsafe fn packed_blockwise(
    kernel: Bf16Kernel,
    out: *mut f32,
    lhs: Matrix,
    rhs: &impl ColumnBlocks,
    scale: f32,
    block: usize,
) {
    let (k, n) = rhs.dims();
    // Inputs `depth` of every column block times `left` (those inputs of `lhs`
    // packed, or `None`: each thread packs `lhs` itself), into `out` or added.
    let multiply = |left: Option<SharedLeft>, depth: (usize, usize), accumulate: bool| {
        for_each_column_block(out, n, block, |start, width, out_block| {
            // With a shared left side, a thread's block is packed a part at a
            // time; unshared, each part would pack the left side again.
            let part = match left {
                Some(_) => packed_right_columns(depth.1, rhs.alignment()).min(width),
                None => width,
            };
            for offset in (0..width).step_by(part.max(1)) {
                let (start, width) = (start + offset, part.min(width - offset));
                PACKED_RIGHT.with_borrow_mut(|packed| {
                    let rhs_block = Right::Packed(rhs.packed_block(depth, (start, width), packed));
                    // SAFETY: the kernel runs here; the part's output columns
                    // are its block's own and its shape is checked by the caller.
                    unsafe {
                        let out = out_block.add(offset);
                        match left {
                            Some(left) => left.product_raw(out, n, accumulate, rhs_block, scale),
                            None => {
                                let lhs = lhs.columns_from(depth.0, depth.1);
                                packing_product_raw(
                                    kernel, out, n, accumulate, lhs, rhs_block, scale,
                                )
                            }
                        }
                    }
                })
            }
        })
    };
    let bytes = 4 * shared_left_len(kernel, lhs.rows, lhs.columns);
    let shares = lhs.rows > 0 && k > 0 && n > block;
    if shares && bytes <= MAX_SHARED_LEFT_BYTES {
        with_shared_left(kernel, lhs, |left| multiply(Some(left), (0, k), false));
    } else if shares && lhs.rows <= n {
        let rows = lhs.rows.next_multiple_of(32);
        let depth = (MAX_SHARED_LEFT_BYTES / (2 * rows)) / DEPTH_ALIGNMENT * DEPTH_ALIGNMENT;
        let depth = depth.max(DEPTH_ALIGNMENT);
        for first in (0..k).step_by(depth) {
            let range = (first, depth.min(k - first));
            let part = lhs.columns_from(range.0, range.1);
            with_shared_left(kernel, part, |left| multiply(Some(left), range, first > 0));
        }
    } else {
        multiply(None, (0, k), false);
    }
}

/// Columns of a right-hand side of `depth` inputs packed at a time within
/// [`MAX_PACKED_RIGHT_BYTES`]: whole panels, a multiple of `alignment`.
#[cfg(target_arch = "x86_64")]
fn packed_right_columns(depth: usize, alignment: usize) -> usize {
    let step = bf16_product::COLUMNS.max(alignment);
    let bytes = 4 * bf16_product::packed_columns_len(depth, step);
    (MAX_PACKED_RIGHT_BYTES / bytes.max(1)).max(1) * step
}

/// Columns `start..start + width` of `rhs`, written into the empty `buffer`.
fn column_block<'a>(
    rhs: &impl ColumnBlocks,
    start: usize,
    width: usize,
    buffer: &'a mut Vec<f32>,
) -> Matrix<'a> {
    let k = rhs.dims().0;
    let transposed = rhs.write_block(start, width, buffer);
    match transposed {
        false => Matrix::new(buffer, k, width),
        true => Matrix::new(buffer, width, k).map(Matrix::t),
    }
    .expect("a column block holds (k, width) values")
}

/// A product's output, shared by the threads writing its blocks.
#[derive(Clone, Copy)]
struct SharedOutput {
    values: *mut f32,
}

impl SharedOutput {
    /// The value `offset` values from the first.
    ///
    /// # Safety
    /// `offset` is inside the output.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        self.values.add(offset)
    }
}

// SAFETY: the threads holding it write disjoint column or row blocks (see
// `for_each_column_block` and `parallel_product`).
unsafe impl Send for SharedOutput {}
// SAFETY: as for `Send`: no two threads touch the same value.
unsafe impl Sync for SharedOutput {}

/// [`product_into`] on the calling thread alone, for small products that a
/// caller already runs side by side.
pub fn serial_product_into(
    out: &mut [f32],
    accumulate: bool,
    lhs: Matrix,
    rhs: Matrix,
    scale: f32,
    precision: ProductPrecision,
) -> Result<()> {
    check_shapes(out.len(), lhs, (rhs.rows, rhs.columns))?;
    // SAFETY: the shapes are checked above.
    unsafe {
        raw_product(
            out.as_mut_ptr(),
            rhs.columns,
            accumulate,
            lhs,
            rhs,
            scale,
            precision,
        )
    };
    Ok(())
}

/// Fails unless `lhs` times a right-hand side of `(rows, columns)` is defined and
/// has `out_len` values.
fn check_shapes(out_len: usize, lhs: Matrix, (rows, n): (usize, usize)) -> Result<()> {
    let (m, k) = (lhs.rows, lhs.columns);
    if rows != k || out_len != m * n {
        candle_core::bail!("dense product: ({m}, {k}) · ({rows}, {n}) into {out_len} values");
    }
    Ok(())
}

/// The product of two views on the calling thread into `out`, at `precision`:
/// bf16 on [`bf16_kernel`]'s kernel.
///
/// # Safety
/// As for [`gemm_raw`].
unsafe fn raw_product(
    out: *mut f32,
    out_row_stride: usize,
    accumulate: bool,
    lhs: Matrix,
    rhs: Matrix,
    scale: f32,
    precision: ProductPrecision,
) {
    if precision == ProductPrecision::F32 {
        // SAFETY: the caller's contract.
        return unsafe { gemm_raw(out, out_row_stride, accumulate, lhs, rhs, scale) };
    }
    match bf16_kernel() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the kernel runs here (`bf16_kernel`); the rest is the
        // caller's contract.
        kernel @ (Bf16Kernel::Tiles | Bf16Kernel::DotProducts) => unsafe {
            let rhs = rhs.into();
            packing_product_raw(kernel, out, out_row_stride, accumulate, lhs, rhs, scale)
        },
        // SAFETY: the caller's contract.
        _ => unsafe { rounded_gemm_raw(out, out_row_stride, accumulate, lhs, rhs, scale) },
    }
}

/// The product on `kernel`, tiles or dot products (the kernels that pack
/// their operands).
///
/// # Safety
/// `kernel` runs on this CPU; the rest as for [`gemm_raw`], with `rhs`'s
/// inputs as its rows.
#[cfg(target_arch = "x86_64")]
unsafe fn packing_product_raw(
    kernel: Bf16Kernel,
    out: *mut f32,
    out_row_stride: usize,
    accumulate: bool,
    lhs: Matrix,
    rhs: Right,
    scale: f32,
) {
    // SAFETY: the caller's contract.
    unsafe {
        match kernel {
            Bf16Kernel::Tiles => {
                bf16_tiles::product_raw(out, out_row_stride, accumulate, lhs, rhs, scale)
            }
            _ => bf16_product::product_raw(out, out_row_stride, accumulate, lhs, rhs, scale),
        }
    }
}

/// gemm's product of the two views' values rounded to bf16: the bf16 product
/// on CPUs without AVX512-BF16.
///
/// # Safety
/// As for [`gemm_raw`].
unsafe fn rounded_gemm_raw(
    out: *mut f32,
    out_row_stride: usize,
    accumulate: bool,
    lhs: Matrix,
    rhs: Matrix,
    scale: f32,
) {
    let (a, b) = (
        bf16_product::round_to_bf16(lhs),
        bf16_product::round_to_bf16(rhs),
    );
    let (lhs, rhs) = (
        Matrix::new(&a, lhs.rows, lhs.columns).expect("a row-major copy of the view"),
        Matrix::new(&b, rhs.rows, rhs.columns).expect("a row-major copy of the view"),
    );
    // SAFETY: the copies have the views' shapes.
    unsafe { gemm_raw(out, out_row_stride, accumulate, lhs, rhs, scale) }
}

/// gemm's product of two views on the calling thread into `out`: (lhs rows, rhs
/// columns) values, each row `out_row_stride` after the one before (read only
/// when `accumulate`).
///
/// # Safety
/// `lhs.columns == rhs.rows` and `out` holds (lhs rows, rhs columns) values at
/// that row stride. Every view's values hold its (rows, columns) at its strides
/// (views are made only by `Matrix::new`, `Matrix::strided`, `t` and
/// `columns_from`, which check it).
unsafe fn gemm_raw(
    out: *mut f32,
    out_row_stride: usize,
    accumulate: bool,
    lhs: Matrix,
    rhs: Matrix,
    scale: f32,
) {
    gemm::gemm(
        lhs.rows,
        rhs.columns,
        lhs.columns,
        out,
        1,
        out_row_stride as isize,
        accumulate,
        lhs.values.as_ptr(),
        lhs.column_stride as isize,
        lhs.row_stride as isize,
        rhs.values.as_ptr(),
        rhs.column_stride as isize,
        rhs.row_stride as isize,
        1.0,
        scale,
        false,
        false,
        false,
        gemm::Parallelism::None,
    );
}

/// A new (lhs rows, rhs columns) product `scale * lhs · rhs`.
pub fn product(
    lhs: Matrix,
    rhs: Matrix,
    scale: f32,
    precision: ProductPrecision,
) -> Result<Vec<f32>> {
    let len = lhs.rows * rhs.columns;
    check_shapes(len, lhs, (rhs.rows, rhs.columns))?;
    let mut out = Vec::with_capacity(len);
    // SAFETY: the shapes are checked above, and gemm writes every value of a
    // product it does not accumulate into (zeros when the inner size is 0), so
    // all `len` values are initialised before `set_len`.
    unsafe {
        parallel_product(out.as_mut_ptr(), false, lhs, rhs, scale, precision);
        out.set_len(len);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transformer::test_support;
    use candle_core::{Device, Tensor};
    use ProductPrecision::F32;

    /// Values in [-1, 1.13] that rounding to bf16 moves.
    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 37 + seed * 11) % 101) as f32 / 47.0 - 1.0)
            .collect()
    }

    /// Products of views and transposed views, fresh and accumulated, equal
    /// candle's matmul.
    #[test]
    fn transposed_and_accumulated_products_match_candle() {
        let values = |n: usize, seed: usize| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 31 + seed * 17) % 23) as f32 / 11.0 - 1.0)
                .collect()
        };
        let (a, b, c) = (values(5 * 7, 1), values(3 * 7, 2), values(5 * 3, 3));
        let tensor = |v: &[f32], r: usize, c: usize| Tensor::from_slice(v, (r, c), &Device::Cpu);
        let expected = |t: candle_core::Result<Tensor>| -> Vec<f32> {
            t.unwrap().flatten_all().unwrap().to_vec1().unwrap()
        };
        let (ta, tb, tc) = (
            tensor(&a, 5, 7).unwrap(),
            tensor(&b, 3, 7).unwrap(),
            tensor(&c, 5, 3).unwrap(),
        );
        let am = Matrix::new(&a, 5, 7).unwrap();
        let bm = Matrix::new(&b, 3, 7).unwrap();
        let cm = Matrix::new(&c, 5, 3).unwrap();
        // (5, 7) · (3, 7)^T, scaled.
        let ab = product(am, bm.t(), 2.0, F32).unwrap();
        assert_eq!(
            ab,
            expected(ta.matmul(&tb.t().unwrap()).map(|t| (t * 2.0).unwrap()))
        );
        // (5, 3)^T · (5, 7), then accumulating (3, 7) more.
        let mut ca = product(cm.t(), am, 1.0, F32).unwrap();
        product_into(&mut ca, true, cm.t(), am, 1.0, F32).unwrap();
        assert_eq!(
            ca,
            expected(tc.t().unwrap().matmul(&ta).map(|t| (t * 2.0).unwrap()))
        );
        assert!(
            product(am, bm, 1.0, F32).is_err(),
            "(5, 7) · (3, 7) has no product"
        );
        // Columns 2..5 of `a` as a strided view equal the same columns copied out.
        let block: Vec<f32> = a.chunks(7).flat_map(|row| row[2..5].to_vec()).collect();
        let strided = Matrix::strided(&a[2..], 5, 3, 7).unwrap();
        let copied = Matrix::new(&block, 5, 3).unwrap();
        assert_eq!(
            product(strided.t(), cm, 1.0, F32).unwrap(),
            product(copied.t(), cm, 1.0, F32).unwrap()
        );
        assert!(
            Matrix::strided(&a[5..], 5, 3, 7).is_err(),
            "the last row would run past the values"
        );
    }

    /// Wide products, which threads split into column blocks, equal candle's
    /// matmul, fresh and accumulated, with the right-hand side transposed.
    #[test]
    fn column_blocks_cover_wide_products() {
        for (columns, threads, alignment, block) in [
            (200, 2, 16, Some(112)),
            (200, 2, 32, Some(128)),
            (200, 4, 16, Some(64)),
            (100, 2, 16, Some(64)),
            (64, 2, 16, None),
        ] {
            assert_eq!(
                block_size(columns, threads, alignment),
                block,
                "{columns} on {threads}, aligned to {alignment}"
            );
        }
        assert_eq!(block_size(1000, 1, 16), None);
        let (m, k, n) = (3, 70, 200);
        let values = |len: usize, seed: usize| -> Vec<f32> {
            (0..len)
                .map(|i| ((i * 37 + seed * 11) % 29) as f32 / 14.0 - 1.0)
                .collect()
        };
        let (a, b) = (values(m * k, 1), values(n * k, 2));
        let ta = Tensor::from_slice(&a, (m, k), &Device::Cpu).unwrap();
        let tb = Tensor::from_slice(&b, (n, k), &Device::Cpu).unwrap();
        let expected: Vec<f32> = ta
            .matmul(&tb.t().unwrap())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let (am, bm) = (
            Matrix::new(&a, m, k).unwrap(),
            Matrix::new(&b, n, k).unwrap(),
        );
        let mut out = product(am, bm.t(), 1.0, F32).unwrap();
        for (got, want) in out.iter().zip(&expected) {
            assert!((got - want).abs() < 1e-4, "{got} vs {want}");
        }
        product_into(&mut out, true, am, bm.t(), -1.0, F32).unwrap();
        assert!(out.iter().all(|v| v.abs() < 1e-4), "a product minus itself");
    }

    /// `packed_blockwise` on each bf16 kernel (AMX tiles, in software where the
    /// CPU has none; AVX512-BF16), a right side packed
    /// a column block at a time, over two blocks (the left side shared) or one,
    /// blocks packed in parts, and a left side shared a depth range at a time:
    /// the product of the rounded operands.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn column_blocks_are_packed_for_either_kernel() {
        /// A dense right-hand side handed out a column block at a time.
        struct DenseColumns<'a>(Matrix<'a>);
        impl ColumnBlocks for DenseColumns<'_> {
            fn dims(&self) -> (usize, usize) {
                (self.0.rows, self.0.columns)
            }
            fn alignment(&self) -> usize {
                32
            }
            fn write_block(&self, start: usize, width: usize, buffer: &mut Vec<f32>) -> bool {
                let block = self.0.columns_from(start, width);
                for row in 0..block.rows {
                    buffer.extend((0..width).map(|c| block.values[row * block.row_stride + c]));
                }
                false
            }
            fn packed_block<'a>(
                &'a self,
                (first, depth): (usize, usize),
                (start, width): (usize, usize),
                buffer: &'a mut Vec<u32>,
            ) -> PackedColumns<'a> {
                let block = self.0.row_range(first, first + depth);
                pack_into(buffer, (depth, width), |packed| {
                    bf16_product::pack_all_columns(block.columns_from(start, width), packed)
                })
            }
        }
        let kernels = [
            // The tiles in software where the CPU has none; both pack with
            // AVX512-BF16.
            (Bf16Kernel::Tiles, bf16_product::available()),
            (Bf16Kernel::DotProducts, bf16_product::available()),
        ];
        crate::transformer::amx::say_if_emulated();
        // Two column blocks on a shared left side, or one block alone; blocks
        // wider than a thread packs at once; a left side too big to share
        // whole, shared a depth range at a time.
        for (m, k, n) in [(20, 256, 150), (20, 256, 5000), (40, 22_528, 100)] {
            let (a, b) = (values(m * k, 4), values(k * n, 5));
            let (lhs, rhs) = (
                Matrix::new(&a, m, k).unwrap(),
                Matrix::new(&b, k, n).unwrap(),
            );
            let expected = test_support::rounded_product(lhs, rhs, 0.5);
            for (kernel, available) in kernels {
                for block in [n.div_ceil(2).next_multiple_of(32), n] {
                    if !available {
                        println!("skipped: this CPU does not run {kernel:?}");
                        continue;
                    }
                    let mut out = vec![f32::NAN; m * n];
                    let columns = DenseColumns(rhs);
                    // SAFETY: the kernel runs here; `out` is (m, n).
                    unsafe {
                        packed_blockwise(kernel, out.as_mut_ptr(), lhs, &columns, 0.5, block)
                    };
                    for (got, want) in out.iter().zip(&expected) {
                        let tolerance = 1e-4 * want.abs().max(1.0) + 1e-6 * k as f32;
                        assert!(
                            (got - want).abs() < tolerance,
                            "{kernel:?}, ({m}, {k}, {n}) in blocks of {block}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    /// On each bf16 kernel (AMX tiles, in software where the CPU has none;
    /// AVX512-BF16), a left side
    /// packed in parts (here 128 inputs at a time) and shared by the threads
    /// (in whole panels) gives the product of the rounded operands, fresh and
    /// accumulated.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn shared_left_sides_are_packed_in_parts() {
        let kernels = [
            // The tiles in software where the CPU has none; both pack with
            // AVX512-BF16.
            (Bf16Kernel::Tiles, bf16_product::available()),
            (Bf16Kernel::DotProducts, bf16_product::available()),
        ];
        crate::transformer::amx::say_if_emulated();
        for (kernel, available) in kernels {
            if !available {
                println!("skipped: this CPU does not run {kernel:?}");
                continue;
            }
            let (m, k, n) = (40, 1700, 150);
            let (a, b) = (values(m * k, 1), values(n * k, 2));
            let (am, bm) = (
                Matrix::new(&a, m, k).unwrap(),
                Matrix::new(&b, n, k).unwrap().t(),
            );
            let expected = test_support::rounded_product(am, bm, 0.5);
            // 16 KiB holds 64 rows of 128 inputs; 1 MiB all 1700 (in several
            // depth blocks).
            for max_bytes in [16 << 10, 1 << 20] {
                let mut out = vec![f32::NAN; m * n];
                let shared = (64, max_bytes);
                // SAFETY: the kernel runs here, the shapes match, `out` is (m, n).
                unsafe {
                    shared_left_product(kernel, out.as_mut_ptr(), false, am, bm, 0.5, shared)
                };
                for (got, want) in out.iter().zip(&expected) {
                    assert!(
                        (got - want).abs() < 1e-4 * want.abs().max(1.0),
                        "{kernel:?}: {got} vs {want}"
                    );
                }
                // SAFETY: as above; `out` is initialised now.
                unsafe {
                    shared_left_product(kernel, out.as_mut_ptr(), true, am, bm, -0.5, shared)
                };
                assert!(
                    out.iter().all(|v| v.abs() < 1e-4),
                    "{kernel:?}: minus itself"
                );
            }
        }
    }

    /// The variable picks any kernel the CPU runs; one it cannot run, or an
    /// unknown name, falls back to the best with a message.
    #[test]
    fn the_bf16_kernel_variable_picks_a_kernel_the_cpu_runs() {
        use Bf16Kernel::*;
        assert_eq!(choose_bf16_kernel(true, true, None), Ok(Tiles));
        assert_eq!(choose_bf16_kernel(false, true, None), Ok(DotProducts));
        assert_eq!(choose_bf16_kernel(false, false, None), Ok(RoundedF32));
        assert_eq!(
            choose_bf16_kernel(true, true, Some("dot-products")),
            Ok(DotProducts)
        );
        assert_eq!(
            choose_bf16_kernel(true, true, Some("rounded-f32")),
            Ok(RoundedF32)
        );
        let (message, best) = choose_bf16_kernel(false, true, Some("tiles")).unwrap_err();
        assert_eq!(best, DotProducts);
        assert!(message.contains("cannot run Tiles"), "{message}");
        let (message, best) = choose_bf16_kernel(true, true, Some("amx")).unwrap_err();
        assert_eq!(best, Tiles);
        assert!(message.contains("\"amx\" is no bf16 kernel"), "{message}");
    }

    /// bf16 products, on whichever kernel this CPU runs, equal the f32 product
    /// of the operands rounded to bf16, threaded (by columns, and by rows where
    /// the left operand is the taller) and accumulated alike.
    #[test]
    fn bf16_products_equal_the_f32_product_of_rounded_operands() {
        println!("bf16 kernel: {:?}", bf16_kernel());
        for (m, k, n) in [(9, 300, 150), (300, 70, 40)] {
            let (a, b) = (values(m * k, 1), values(n * k, 2));
            let (am, bm) = (
                Matrix::new(&a, m, k).unwrap(),
                Matrix::new(&b, n, k).unwrap().t(),
            );
            let rounded = (
                bf16_product::round_to_bf16(am),
                bf16_product::round_to_bf16(bm),
            );
            assert!(
                rounded.0.iter().zip(&a).any(|(r, x)| r != x),
                "rounding changes values"
            );
            let expected = product(
                Matrix::new(&rounded.0, m, k).unwrap(),
                Matrix::new(&rounded.1, k, n).unwrap(),
                1.0,
                F32,
            )
            .unwrap();
            let mut got = product(am, bm, 1.0, ProductPrecision::Bf16).unwrap();
            // The fallback for CPUs without AVX512-BF16, called directly.
            let mut fallback = vec![0f32; m * n];
            // SAFETY: the shapes match and `fallback` is (m, n).
            unsafe { rounded_gemm_raw(fallback.as_mut_ptr(), n, false, am, bm, 1.0) };
            for ((got, fallback), want) in got.iter().zip(&fallback).zip(&expected) {
                assert!(
                    (got - want).abs() < 1e-4,
                    "({m}, {k}, {n}): {got} vs {want}"
                );
                assert!(
                    (fallback - want).abs() < 1e-4,
                    "fallback {fallback} vs {want}"
                );
            }
            let unrounded = product(am, bm, 1.0, F32).unwrap();
            let moved = unrounded.iter().zip(&got).map(|(u, g)| (u - g).abs());
            assert!(
                moved.fold(0f32, f32::max) > 1e-3,
                "bf16 operands move the product"
            );
            product_into(&mut got, true, am, bm, -1.0, ProductPrecision::Bf16).unwrap();
            assert!(got.iter().all(|v| v.abs() < 1e-4), "a product minus itself");
        }
    }
}
