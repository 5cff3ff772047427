//! Quantized weights multiplied with 8-bit integer dot products (AVX512-VNNI's
//! `vpdpbusd`): faster than llama.cpp's kernels (`quantized_matmul`,
//! `k_quant_matmul`), not its bits.
//!
//! ggml's x86 kernels spend most of a product on the chain that turns each
//! (weight row, block) pair into eight f32 lanes (unpack, `maddubs`, `madd`,
//! convert, fused multiply-add), one weight row at a time. Here the weight is
//! unpacked once, when the model is loaded, into tiles of 16 rows whose bytes
//! interleave four at a time (4-bit formats two fours a byte), so one `vpdpbusd`
//! adds four products to each of 16 rows' integer sums, against one activation
//! row's four bytes broadcast. Each group of 16 or 32 inputs (the format's scale
//! block) ends with one conversion and one or two multiply-adds for all 16 rows.
//! The activations are rounded to 8 bits per 32 values as llama.cpp rounds them
//! (`quantize_row_q8_0`, and Q8_1's scaled sum for the minimums); every weight
//! value is `scale * (q - zero) + min` with an unsigned `q`, so Q4_1, Q5_0,
//! Q8_0, Q4_K and Q6_K share one kernel. The integer sums are exact: for Q4_1,
//! Q5_0 and Q8_0 only the f32 sums over groups are ordered differently from
//! ggml's, so outputs differ from its by f32 rounding; llama.cpp rounds the
//! k-quants' activations per 256 values, so there they differ by that rounding
//! (ours lands closer to the f32 product; both checked in the tests). A row's
//! outputs do not depend on the rows multiplied beside it.
//!
//! Where the CPU has AMX tiles (Sapphire Rapids and later) and enough rows come
//! at once (batched decoding, prompts), one tile instruction multiplies 16 rows
//! by a tile's group instead: the same integer sums, scaled in the same order,
//! so the outputs are the same to the bit.
//!
//! Written by hand because no maintained crate multiplies GGUF's formats with
//! VNNI or AMX.

use std::mem::MaybeUninit;
use std::sync::Once;

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{bail, DType, Result, Tensor};
use half::f16;

use super::amx;
use super::cpu_pool::{self, for_each_chunk, for_each_index};
use super::k_quant_matmul::q4_k_scales;
use super::quantized_blocks::SharedCells;
use super::tensor_values::values;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Weight rows per tile: one i32 lane each in a 512-bit register.
const LANES: usize = 16;
/// Inputs per activation scale (llama.cpp's 8-bit block).
const ACTIVATION_BLOCK: usize = 32;
/// Activation rows each kernel call takes (the tile's bytes loaded once for all).
const ROWS: usize = 8;
/// How many groups ahead of the one multiplied the kernel prefetches the weight.
const PREFETCH_GROUPS: usize = 8;

/// 64 bytes: four consecutive inputs of each of a tile's 16 rows, or of 4-bit
/// formats eight: the second four in the high nibbles.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Quad([u8; 64]);

/// One value per tile row.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct PerRow([f32; LANES]);

/// Whether this CPU runs the int8 kernels (AVX-512 F/BW with VNNI). The
/// choice is logged once.
pub fn available() -> bool {
    static LOGGED: Once = Once::new();
    let available = cpu_has_vnni();
    LOGGED.call_once(|| match available {
        true if amx::int8_available() => tracing::info!(
            "quantized products: int8 dot products (AVX512-VNNI, and AMX tiles for many rows)"
        ),
        true => tracing::info!("quantized products: int8 dot products (AVX512-VNNI)"),
        false => tracing::info!(
            "quantized products: llama.cpp's kernels (this CPU lacks AVX512-VNNI for the int8 ones)"
        ),
    });
    available
}

fn cpu_has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether [`Int8Weight`] holds this weight's format.
pub fn handles(weight: &QTensor) -> bool {
    matches!(
        weight.dtype(),
        GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q8_0 | GgmlDType::Q4K | GgmlDType::Q6K
    )
}

/// A quantized weight (outputs, inputs) unpacked into 16-row tiles.
pub struct Int8Weight {
    outputs: usize,
    inputs: usize,
    /// Inputs per weight scale: 16 (Q6_K) or 32.
    group: usize,
    /// Subtracted from every `q` (the format's zero point).
    zero: i32,
    /// Per tile, per group: the 16 rows' `q`s, four inputs a quad, or eight for
    /// the 4-bit formats (see [`Int8Weight::nibbles`]).
    quads: Vec<Quad>,
    /// Per tile, per group: each row's scale.
    scales: Vec<PerRow>,
    /// Per tile, per group: each row's added minimum (Q4_1, Q4_K), else empty.
    mins: Vec<PerRow>,
}

impl std::fmt::Debug for Int8Weight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Int8Weight")
            .field("outputs", &self.outputs)
            .field("inputs", &self.inputs)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// One weight row decoded: `scale[g] * (q - zero) + min[g]` for input `i` of group `g`.
struct DecodedRow {
    q: Vec<u8>,
    scales: Vec<f32>,
    mins: Vec<f32>,
}

impl Int8Weight {
    /// Unpacks `weight` (Q4_1, Q5_0, Q8_0, Q4_K or Q6_K) into tiles; the rows
    /// past the last tile's end are zero.
    pub fn new(weight: &QTensor) -> Result<Self> {
        let (outputs, inputs) = weight.shape().dims2()?;
        let dtype = weight.dtype();
        let (group, zero) = match dtype {
            GgmlDType::Q4_1 | GgmlDType::Q4K => (32, 0),
            GgmlDType::Q5_0 => (32, 16),
            GgmlDType::Q8_0 => (32, 128),
            GgmlDType::Q6K => (16, 32),
            other => bail!("int8 matmul: {other:?} weights are not handled"),
        };
        let block = dtype.block_size();
        if !inputs.is_multiple_of(block) {
            bail!("int8 matmul: {inputs} inputs are not whole {dtype:?} blocks");
        }
        let bytes = weight.data()?;
        let row_bytes = inputs / block * dtype.type_size();
        if bytes.len() != outputs * row_bytes {
            bail!(
                "int8 matmul: {} bytes for a ({outputs}, {inputs}) {dtype:?} weight",
                bytes.len()
            );
        }
        // The 4-bit formats, which alone have minimums and no zero point.
        let nibbles = matches!(dtype, GgmlDType::Q4_1 | GgmlDType::Q4K);
        debug_assert!(!nibbles || zero == 0);
        let (tiles, groups) = (outputs.div_ceil(LANES), inputs / group);
        let quads_per_group = if nibbles { group / 8 } else { group / 4 };
        let mut weight = Self {
            outputs,
            inputs,
            group,
            zero,
            quads: vec![Quad([0; 64]); tiles * groups * quads_per_group],
            scales: vec![PerRow([0.0; LANES]); tiles * groups],
            mins: vec![PerRow([0.0; LANES]); if nibbles { tiles * groups } else { 0 }],
        };
        for (output, row) in bytes.chunks_exact(row_bytes).enumerate() {
            let decoded = decode_row(dtype, row, inputs);
            let (tile, lane) = (output / LANES, output % LANES);
            for g in 0..groups {
                let at = tile * groups + g;
                weight.scales[at].0[lane] = decoded.scales[g];
                if nibbles {
                    weight.mins[at].0[lane] = decoded.mins[g];
                }
                for (four, q) in decoded.q[g * group..(g + 1) * group]
                    .chunks_exact(4)
                    .enumerate()
                {
                    // Fours past the quads' count go to the high nibbles.
                    let (quad, shift) = (four % quads_per_group, 4 * (four / quads_per_group));
                    let bytes = &mut weight.quads[at * quads_per_group + quad].0[4 * lane..];
                    for (byte, q) in bytes.iter_mut().zip(q) {
                        *byte |= q << shift;
                    }
                }
            }
        }
        Ok(weight)
    }

    /// Whether each quad holds two fours of inputs (the 4-bit formats, Q4_1 and
    /// Q4_K, the ones with minimums), which halves the bytes a product reads.
    fn nibbles(&self) -> bool {
        !self.mins.is_empty()
    }

    /// `x W^T` for `x` of any rank ending in the weight's input size. Call only
    /// where [`available`] holds.
    pub fn matmul(&self, x: &Tensor) -> Result<Tensor> {
        let [y] = matmul_each([self], x)?;
        Ok(y)
    }

    /// Activation rows from which AMX tiles multiply this weight faster than
    /// VNNI (measured on Sapphire Rapids, docs/BENCHMARKS.md): a tile product
    /// costs as much for one row as for 16, and each group's sums need a store,
    /// so few rows stay on VNNI. Groups of 32 whole bytes (Q5_0, Q8_0) pay from
    /// 8 rows; nibbles, which are unpacked for the tile, and Q6_K's groups of 16
    /// from 12.
    fn amx_min_rows(&self) -> usize {
        match self.nibbles() || self.group == 16 {
            true => 12,
            false => 8,
        }
    }

    /// Tile `tile`'s outputs of every row of `rows`, written to `out` (rows,
    /// outputs): on AMX tiles 16 rows at a time where they pay, else eight rows
    /// a kernel call and the rest four, two or one at a time.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F and BW and VNNI; no other thread may touch
    /// this tile's cells meanwhile.
    unsafe fn tile_of_rows(&self, tile: usize, rows: &Activations, out: &SharedCells) {
        let mut first = 0;
        if amx::int8_available() {
            while rows.count() - first >= self.amx_min_rows() {
                let taken = amx::ROWS.min(rows.count() - first);
                // SAFETY: AMX is usable (checked above); the caller's promises.
                unsafe { self.amx_tile(tile, rows, first..first + taken, out) };
                first += taken;
            }
        }
        self.vnni_tile_of_rows(tile, rows, first, out);
    }

    /// [`Self::tile_of_rows`] on VNNI for the rows from `first` on: eight rows
    /// a kernel call, and the rest four, two or one at a time.
    ///
    /// # Safety
    /// As [`Self::tile_of_rows`].
    unsafe fn vnni_tile_of_rows(
        &self,
        tile: usize,
        rows: &Activations,
        first: usize,
        out: &SharedCells,
    ) {
        let (start, end) = (first, rows.count());
        let whole = start + (end - start) / ROWS * ROWS;
        // The rows past the last eight four, two or one at a time, so that each
        // pass reads the tile once for as many rows as it can.
        let mut first = whole;
        while first < end {
            first += match end - first {
                4.. => self.tile::<4>(tile, rows, first, out),
                2..=3 => self.tile::<2>(tile, rows, first, out),
                _ => self.tile::<1>(tile, rows, first, out),
            };
        }
        for first in (start..whole).step_by(ROWS) {
            self.tile::<ROWS>(tile, rows, first, out);
        }
    }

    /// A tile's 16 outputs for the `R` rows of `rows` from `first` on, written
    /// to the same rows of `out`; returns `R`.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F and BW and VNNI; no other thread may touch
    /// those cells meanwhile.
    unsafe fn tile<const R: usize>(
        &self,
        tile: usize,
        rows: &Activations,
        first: usize,
        out: &SharedCells,
    ) -> usize {
        match (self.group, self.nibbles()) {
            (16, false) => tile_product::<16, R, false>(self, tile, rows, first, out),
            (32, false) => tile_product::<32, R, false>(self, tile, rows, first, out),
            (32, true) => tile_product::<32, R, true>(self, tile, rows, first, out),
            _ => unreachable!("Int8Weight::new makes groups of 16 or 32, nibbles of 32"),
        }
        R
    }

    /// [`Self::tile`] on AMX tiles for up to 16 rows (`which`).
    ///
    /// # Safety
    /// [`amx::int8_available`] must hold; no other thread may touch those cells
    /// meanwhile.
    unsafe fn amx_tile(
        &self,
        tile: usize,
        rows: &Activations,
        which: std::ops::Range<usize>,
        out: &SharedCells,
    ) {
        match (self.group, self.nibbles()) {
            (16, false) => amx_tile_product::<16, false>(self, tile, rows, which, out),
            (32, false) => amx_tile_product::<32, false>(self, tile, rows, which, out),
            (32, true) => amx_tile_product::<32, true>(self, tile, rows, which, out),
            _ => unreachable!("Int8Weight::new makes groups of 16 or 32, nibbles of 32"),
        }
    }
}

/// `x W^T` for each of `weights` (all of `x`'s input size, e.g. a layer's
/// query, key and value projections): `x`'s rows rounded to 8 bits once per
/// group size, and every weight's tiles in one parallel loop. Call only where
/// [`available`] holds.
pub fn matmul_each<const N: usize>(weights: [&Int8Weight; N], x: &Tensor) -> Result<[Tensor; N]> {
    let mut dims = x.dims().to_vec();
    let inputs = dims.pop();
    for weight in weights {
        if inputs != Some(weight.inputs) || x.dtype() != DType::F32 {
            bail!(
                "int8 matmul: input {:?} {:?} does not fit a ({}, {}) weight",
                x.dims(),
                x.dtype(),
                weight.outputs,
                weight.inputs
            );
        }
    }
    if !cpu_has_vnni() {
        bail!("int8 matmul: this CPU lacks AVX512-VNNI");
    }
    // Read where it lies (a copy only if it is not contiguous).
    let x = x.contiguous()?;
    let x = values(&x)?;
    let count = x.len() / inputs.unwrap_or(1).max(1);
    // Laid out for AMX tiles too where enough rows come for a weight to use them.
    let tiled = amx::int8_available() && weights.iter().any(|w| count >= w.amx_min_rows());
    // The activations' sums are per weight group: one rounding per group size.
    let mut rounded: Vec<Activations> = Vec::new();
    for weight in weights {
        if !rounded.iter().any(|rows| rows.group == weight.group) {
            rounded.push(Activations::new(&x, weight.inputs, weight.group, tiled));
        }
    }
    let rows_of = |weight: &Int8Weight| {
        (rounded.iter().find(|rows| rows.group == weight.group))
            .expect("rounded for every group size")
    };
    let mut outs: [Vec<f32>; N] =
        std::array::from_fn(|i| Vec::with_capacity(count * weights[i].outputs));
    let cells: [SharedCells; N] = std::array::from_fn(|i| {
        let len = count * weights[i].outputs;
        SharedCells::new_uninit(&mut outs[i].spare_capacity_mut()[..len], weights[i].outputs)
    });
    let tiles: [usize; N] = weights.map(|weight| weight.outputs.div_ceil(LANES));
    for_each_index(tiles.iter().sum(), |mut index| {
        let mut which = 0;
        while index >= tiles[which] {
            index -= tiles[which];
            which += 1;
        }
        let weight = weights[which];
        // SAFETY: the CPU's features are checked above; this item alone writes
        // this tile of this weight's outputs.
        unsafe { weight.tile_of_rows(index, rows_of(weight), &cells[which]) };
    });
    let mut tensors = Vec::with_capacity(N);
    for (mut out, weight) in outs.into_iter().zip(weights) {
        // SAFETY: every tile of every row was written above.
        unsafe { out.set_len(count * weight.outputs) };
        let mut dims = dims.clone();
        dims.push(weight.outputs);
        tensors.push(Tensor::from_vec(out, dims, &candle_core::Device::Cpu)?);
    }
    Ok(tensors.try_into().expect("one tensor per weight"))
}

/// A matrix's rows rounded to 8 bits per 32 values as llama.cpp rounds them
/// (scale `max / 127` held in f16, halves to even), with each weight group's
/// sum of `q`s and, per 32 values, `quantize_row_q8_1`'s scaled sum (the
/// unrounded scale times the sum, held in f16), which multiplies the minimums.
/// Row after row in one buffer each, as AMX tiles load them.
struct Activations {
    inputs: usize,
    /// Inputs per weight group (16 or 32).
    group: usize,
    /// Rows rounded (the padding not counted).
    count: usize,
    /// Per row, per input; where AMX tiles may multiply the rows, zero rows
    /// follow up to a whole tile of rows.
    q: Vec<i8>,
    /// Per row, per 32 inputs.
    scales: Vec<f32>,
    /// Per row, per weight group.
    sums: Vec<i32>,
    /// Per row, per 32 inputs.
    scaled_sums: Vec<f32>,
    /// The same per group, where AMX tiles may multiply the rows.
    by_group: Option<GroupMajor>,
}

/// [`Activations`]' scales, group sums and scaled sums group by group, each
/// group's rows side by side (zeros past the last row, up to a whole tile of
/// rows), as the AMX kernel reads a tile's 16 rows of one group.
struct GroupMajor {
    /// Rows a group holds (the padded count).
    rows: usize,
    /// Per 32 inputs, per row.
    scales: Vec<f32>,
    /// Per weight group, per row.
    sums: Vec<i32>,
    /// Per 32 inputs, per row.
    scaled_sums: Vec<f32>,
}

impl GroupMajor {
    /// `values` (per row, `per_row` each) transposed, with zeros past its
    /// rows up to `rows`.
    fn transpose<T: Copy + Default>(values: &[T], per_row: usize, rows: usize) -> Vec<T> {
        let mut out = vec![T::default(); per_row * rows];
        for (row, values) in values.chunks_exact(per_row).enumerate() {
            for (i, &value) in values.iter().enumerate() {
                out[i * rows + row] = value;
            }
        }
        out
    }

    /// Tile rows `first..first + 16`'s values of activation block `block`
    /// (scales, scaled sums) or weight group `g` (sums).
    fn scales(&self, first: usize, block: usize) -> &[f32; amx::ROWS] {
        self.tile_rows(&self.scales, first, block)
    }

    fn scaled_sums(&self, first: usize, block: usize) -> &[f32; amx::ROWS] {
        self.tile_rows(&self.scaled_sums, first, block)
    }

    fn sums(&self, first: usize, g: usize) -> &[i32; amx::ROWS] {
        self.tile_rows(&self.sums, first, g)
    }

    /// Rows `first..first + 16` of one group's values in `values`.
    fn tile_rows<'a, T>(&self, values: &'a [T], first: usize, group: usize) -> &'a [T; amx::ROWS] {
        values[group * self.rows + first..][..amx::ROWS]
            .try_into()
            .expect("a whole tile of rows")
    }
}

impl Activations {
    /// `x`'s rows of `inputs`, several rows at once on candle's pool, and
    /// where `tiled`, padded and laid out for AMX tiles too. Call only where
    /// [`cpu_has_vnni`] holds.
    fn new(x: &[f32], inputs: usize, group: usize, tiled: bool) -> Self {
        let count = x.len() / inputs;
        let blocks = inputs / ACTIVATION_BLOCK;
        // Whole tiles of rows, however few rows the last holds.
        let padded = match tiled {
            true => count.next_multiple_of(amx::ROWS),
            false => count,
        };
        let mut rows = Self {
            inputs,
            group,
            count,
            q: vec![0; padded * inputs],
            scales: vec![0.0; count * blocks],
            sums: vec![0; count * (inputs / group)],
            scaled_sums: vec![0.0; count * blocks],
            by_group: None,
        };
        // Each row's pieces of the four buffers.
        let mut slots: Vec<_> = (rows.q[..count * inputs].chunks_exact_mut(inputs))
            .zip(rows.scales.chunks_exact_mut(blocks))
            .zip(rows.sums.chunks_exact_mut(inputs / group))
            .zip(rows.scaled_sums.chunks_exact_mut(blocks))
            .collect();
        let rows_per_item = ROWS.min(count.div_ceil(cpu_pool::threads())).max(1);
        for_each_chunk(
            [(&mut slots, rows_per_item)],
            count.div_ceil(rows_per_item),
            |index, [slots]| {
                for (i, (((q, scales), sums), scaled_sums)) in slots.iter_mut().enumerate() {
                    let x = &x[(index * rows_per_item + i) * inputs..][..inputs];
                    round_into(x, group, q, scales, sums, scaled_sums);
                }
                Ok(())
            },
        )
        .expect("each row's slot is in range");
        if tiled {
            rows.by_group = Some(GroupMajor {
                rows: padded,
                scales: GroupMajor::transpose(&rows.scales, blocks, padded),
                sums: GroupMajor::transpose(&rows.sums, inputs / group, padded),
                scaled_sums: GroupMajor::transpose(&rows.scaled_sums, blocks, padded),
            });
        }
        rows
    }

    fn count(&self) -> usize {
        self.count
    }

    /// Row `row`'s `q`s.
    fn q(&self, row: usize) -> &[i8] {
        &self.q[row * self.inputs..][..self.inputs]
    }

    /// Row `row`'s scale of the 32 inputs from `input` on.
    fn scale(&self, row: usize, input: usize) -> f32 {
        self.scales[(row * self.inputs + input) / ACTIVATION_BLOCK]
    }

    /// Row `row`'s sum of weight group `g`'s `q`s.
    fn sum(&self, row: usize, g: usize) -> i32 {
        self.sums[row * (self.inputs / self.group) + g]
    }

    /// Row `row`'s scaled sum of the 32 inputs from `input` on.
    fn scaled_sum(&self, row: usize, input: usize) -> f32 {
        self.scaled_sums[(row * self.inputs + input) / ACTIVATION_BLOCK]
    }
}

/// One row of [`Activations`] rounded into its pieces of the buffers.
fn round_into(
    x: &[f32],
    group: usize,
    q: &mut [i8],
    scales: &mut [f32],
    sums: &mut [i32],
    scaled_sums: &mut [f32],
) {
    let mut unrounded = vec![0.0; scales.len()];
    let mut sixteens = vec![0; 2 * scales.len()];
    // SAFETY: the caller checked the CPU's features; the lengths fit.
    unsafe { round_row(x, q, (scales, &mut unrounded), &mut sixteens) };
    for ((scaled, pair), d) in scaled_sums
        .iter_mut()
        .zip(sixteens.chunks_exact(2))
        .zip(&unrounded)
    {
        *scaled = f16::from_f32(d * (pair[0] + pair[1]) as f32).to_f32();
    }
    match group {
        16 => sums.copy_from_slice(&sixteens),
        _ => {
            for (sum, pair) in sums.iter_mut().zip(sixteens.chunks_exact(2)) {
                *sum = pair[0] + pair[1];
            }
        }
    }
}

/// Rounds `x` to 8 bits per 32 values into `q` and `scales` (f16; `unrounded`
/// as computed), with the sum of each 16 `q`s in `sums` (the scalar rounding of
/// `quantize_row_q8_0`, 16 values at a time: `roundscale` rounds halves to even
/// as `nearbyint` does).
///
/// # Safety
/// The CPU must have AVX-512 F and BW; `q` as long as `x`, a scale per 32 values
/// and a sum per 16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn round_row(
    x: &[f32],
    q: &mut [i8],
    (scales, unrounded): (&mut [f32], &mut [f32]),
    sums: &mut [i32],
) {
    assert!(q.len() == x.len() && scales.len() * 32 == x.len() && sums.len() * 16 == x.len());
    assert!(unrounded.len() == scales.len());
    for (block, x) in x.chunks_exact(ACTIVATION_BLOCK).enumerate() {
        let halves = [
            _mm512_loadu_ps(x.as_ptr()),
            _mm512_loadu_ps(x.as_ptr().add(16)),
        ];
        let max = _mm512_reduce_max_ps(_mm512_max_ps(
            _mm512_abs_ps(halves[0]),
            _mm512_abs_ps(halves[1]),
        ));
        let inverse = _mm512_set1_ps(if max != 0.0 { 127.0 / max } else { 0.0 });
        unrounded[block] = max / 127.0;
        scales[block] = f16::from_f32(unrounded[block]).to_f32();
        for (half, values) in halves.into_iter().enumerate() {
            let rounded = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                _mm512_mul_ps(values, inverse),
            );
            let integers = _mm512_cvtps_epi32(rounded);
            sums[2 * block + half] = _mm512_reduce_add_epi32(integers);
            let at = block * ACTIVATION_BLOCK + 16 * half;
            _mm_storeu_si128(
                q.as_mut_ptr().add(at).cast(),
                _mm512_cvtepi32_epi8(integers),
            );
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn round_row(_: &[f32], _: &mut [i8], _: (&mut [f32], &mut [f32]), _: &mut [i32]) {
    unreachable!("`available` is false off x86_64")
}

/// [`Int8Weight::tile`] for groups of `G` inputs, their `q`s in nibbles
/// (with each row's minimum times the activation group's scaled sum added)
/// where `NIBBLES`. Each row's sums are stored straight from their register.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline(never)]
unsafe fn tile_product<const G: usize, const R: usize, const NIBBLES: bool>(
    weight: &Int8Weight,
    tile: usize,
    rows: &Activations,
    first: usize,
    out: &SharedCells,
) {
    let groups = weight.inputs / G;
    let quads_per_group = if NIBBLES { G / 8 } else { G / 4 };
    let low_nibbles = _mm512_set1_epi8(0x0F);
    let which: [usize; R] = std::array::from_fn(|i| first + i);
    let mut acc = [_mm512_setzero_ps(); R];
    for g in 0..groups {
        let at = tile * groups + g;
        let quads = &weight.quads[at * quads_per_group..(at + 1) * quads_per_group];
        // The weight comes from memory once a step. Multiplied with several
        // rows, the kernel is slow enough to ask for the lines a few groups on
        // (this tile's, then the next tile's) before it needs them; for one
        // row the hardware's prefetcher keeps up alone (prefetching here cost
        // 8% of a one-row step).
        if R >= 2 {
            prefetch_group::<NIBBLES>(weight, at + PREFETCH_GROUPS, quads_per_group);
        }
        let mut sums = [_mm512_setzero_si512(); R];
        // Adds the products of four inputs from `input` on, `w` holding the rows' `q`s.
        let mut add = |w: __m512i, input: usize| {
            for (sum, &row) in sums.iter_mut().zip(&which) {
                let x = rows.q(row).as_ptr().add(g * G + input);
                let x = std::ptr::read_unaligned(x.cast::<i32>());
                *sum = _mm512_dpbusd_epi32(*sum, w, _mm512_set1_epi32(x));
            }
        };
        for (i, quad) in quads.iter().enumerate() {
            let w = _mm512_load_si512(quad.0.as_ptr().cast());
            if NIBBLES {
                add(_mm512_and_si512(w, low_nibbles), 4 * i);
                add(
                    _mm512_and_si512(_mm512_srli_epi16(w, 4), low_nibbles),
                    G / 2 + 4 * i,
                );
            } else {
                add(w, 4 * i);
            }
        }
        for ((acc, sum), &row) in acc.iter_mut().zip(sums).zip(&which) {
            accumulate::<NIBBLES>(
                acc,
                sum,
                weight,
                at,
                row_of_group::<G, NIBBLES>(rows, row, g),
            );
        }
    }
    for (acc, row) in acc.into_iter().zip(which) {
        store_outputs(acc, out, row, tile);
    }
}

/// [`tile_product`] on AMX tiles for up to 16 rows (`which`): per group, one
/// `tdpbsud` multiplies the rows' `q`s (tile 0) by the weight's (tile 1, the
/// tile's quads as they lie, or the nibbles unpacked) into each row's 16 sums
/// (tile 2), which are stored and scaled as [`tile_product`] scales its
/// registers' sums: the same outputs to the bit.
///
/// The tile always holds 16 rows (past the activations' last come zero rows,
/// whose outputs are not stored), so that the 16 rows' scaling is unrolled,
/// their sums in registers and each group's activation values read side by
/// side ([`GroupMajor`]): scaled row by row in a loop, with the sums in memory
/// and each value's index computed, the scaling took as long as the tile
/// products.
///
/// # Safety
/// [`amx::int8_available`] must hold (which implies AVX-512 F and BW); no
/// other thread may touch those cells meanwhile.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
#[inline(never)]
unsafe fn amx_tile_product<const G: usize, const NIBBLES: bool>(
    weight: &Int8Weight,
    tile: usize,
    rows: &Activations,
    which: std::ops::Range<usize>,
    out: &SharedCells,
) {
    let by_group = rows.by_group.as_ref().expect("rows padded for AMX tiles");
    assert!(!which.is_empty() && which.len() <= amx::ROWS && which.end <= rows.count());
    assert!(which.start + amx::ROWS <= by_group.rows);
    let groups = weight.inputs / G;
    let quads_per_group = if NIBBLES { G / 8 } else { G / 4 };
    let stride = rows.inputs;
    let config = (amx::TileConfig::new())
        .with(0, amx::ROWS, G)
        .with(1, G / 4, 64)
        .with(2, amx::ROWS, 64);
    // Each buffer two deep: a tile load right behind the stores that fill its
    // bytes (or vector loads right behind a tile store) wait for the stores to
    // reach the cache, so group `g`'s nibbles are unpacked while group `g - 1`
    // is multiplied, and its sums scaled while group `g + 1` is (a Q4_1
    // product of 16 rows 1.3x faster than without). Not zeroed (that cost 3% of
    // a 16-row step): the tile store writes the sums' rows before they are
    // read, the unpacking the quads.
    let mut sums = [[MaybeUninit::<PerRowSums>::uninit(); amx::ROWS]; 2];
    let mut unpacked = [[MaybeUninit::<Quad>::uninit(); 8]; 2];
    let mut acc = [_mm512_setzero_ps(); amx::ROWS];
    let x = rows.q.as_ptr().add(which.start * stride);
    let quads_of = |g: usize| {
        let at = (tile * groups + g) * quads_per_group;
        &weight.quads[at..at + quads_per_group]
    };
    if NIBBLES {
        unpack_nibbles(quads_of(0), &mut unpacked[0]);
    }
    amx::configure(&config);
    for g in 0..=groups {
        if g < groups {
            let at = tile * groups + g;
            prefetch_group::<NIBBLES>(weight, at + PREFETCH_GROUPS, quads_per_group);
            if NIBBLES && g + 1 < groups {
                unpack_nibbles(quads_of(g + 1), &mut unpacked[(g + 1) % 2]);
            }
            let weight_tile = match NIBBLES {
                true => unpacked[g % 2].as_ptr().cast::<Quad>(),
                false => quads_of(g).as_ptr(),
            };
            amx::zero::<2>();
            amx::load::<0>(x.add(g * G).cast(), stride);
            amx::load::<1>(weight_tile.cast(), 64);
            amx::add_signed_by_unsigned::<2, 0, 1>();
            amx::store::<2>(sums[g % 2].as_mut_ptr().cast(), 64);
        }
        if g > 0 {
            let (g, at) = (g - 1, tile * groups + g - 1);
            let block = g * G / ACTIVATION_BLOCK;
            let scales = by_group.scales(which.start, block);
            let row_sums = by_group.sums(which.start, g);
            let scaled_sums = by_group.scaled_sums(which.start, block);
            for (r, (acc, sum)) in acc.iter_mut().zip(&sums[g % 2]).enumerate() {
                let sum = _mm512_load_si512(sum.as_ptr().cast());
                let row = (scales[r], row_sums[r], scaled_sums[r]);
                accumulate::<NIBBLES>(acc, sum, weight, at, row);
            }
        }
    }
    amx::release();
    for (acc, row) in acc.into_iter().zip(which) {
        store_outputs(acc, out, row, tile);
    }
}

/// A 4-bit group's quads as an AMX tile multiplies them: four inputs a tile
/// row, the low nibbles' fours, then the high ones'.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn unpack_nibbles(quads: &[Quad], unpacked: &mut [MaybeUninit<Quad>; 8]) {
    let low_nibbles = _mm512_set1_epi8(0x0F);
    let (low, high) = unpacked.split_at_mut(quads.len());
    for ((quad, low), high) in quads.iter().zip(low).zip(high) {
        let w = _mm512_load_si512(quad.0.as_ptr().cast());
        _mm512_store_si512(low.as_mut_ptr().cast(), _mm512_and_si512(w, low_nibbles));
        let shifted = _mm512_srli_epi16(w, 4);
        _mm512_store_si512(
            high.as_mut_ptr().cast(),
            _mm512_and_si512(shifted, low_nibbles),
        );
    }
}

/// One row's 16 integer sums, as a tile row stores them.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct PerRowSums([i32; LANES]);

/// Asks for group `ahead`'s weight lines (quads, scales, minimums) to be
/// brought into L1 (a hint: past the weight's end it does nothing).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn prefetch_group<const NIBBLES: bool>(weight: &Int8Weight, ahead: usize, quads: usize) {
    let base = weight.quads.as_ptr().wrapping_add(ahead * quads);
    for line in 0..quads {
        _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(line).cast());
    }
    _mm_prefetch::<_MM_HINT_T0>(weight.scales.as_ptr().wrapping_add(ahead).cast());
    if NIBBLES {
        _mm_prefetch::<_MM_HINT_T0>(weight.mins.as_ptr().wrapping_add(ahead).cast());
    }
}

/// Adds a group's 16 integer sums of one activation row (with the tile's rows
/// at weight position `at`) to `acc`: less the zero point times the row's
/// `sum` of the group's `q`s, times both scales (the row's is `scale`), plus
/// the minimums times the row's `scaled_sum` for the 4-bit formats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn accumulate<const NIBBLES: bool>(
    acc: &mut __m512,
    sums: __m512i,
    weight: &Int8Weight,
    at: usize,
    (scale, sum, scaled_sum): (f32, i32, f32),
) {
    // The 4-bit formats have no zero point (their minimum is added below).
    let sums = match NIBBLES {
        true => sums,
        false => _mm512_sub_epi32(sums, _mm512_set1_epi32(weight.zero * sum)),
    };
    let weight_scale = _mm512_load_ps(weight.scales[at].0.as_ptr());
    let scale = _mm512_mul_ps(weight_scale, _mm512_set1_ps(scale));
    *acc = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(sums), *acc);
    if NIBBLES {
        let min = _mm512_load_ps(weight.mins[at].0.as_ptr());
        *acc = _mm512_fmadd_ps(min, _mm512_set1_ps(scaled_sum), *acc);
    }
}

/// Row `row`'s activation values of group `g` as [`accumulate`] takes them,
/// each read only where the format needs it.
#[inline]
fn row_of_group<const G: usize, const NIBBLES: bool>(
    rows: &Activations,
    row: usize,
    g: usize,
) -> (f32, i32, f32) {
    let input = g * G;
    match NIBBLES {
        true => (rows.scale(row, input), 0, rows.scaled_sum(row, input)),
        false => (rows.scale(row, input), rows.sum(row, g), 0.0),
    }
}

/// Writes a tile's 16 outputs of row `row`, less those past the weight's end.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn store_outputs(acc: __m512, out: &SharedCells, row: usize, tile: usize) {
    // The last tile's rows past the weight's end are not outputs.
    let (at, count) = out.row_from(row, tile * LANES);
    let present = (1u32 << count.min(LANES)).wrapping_sub(1) as u16;
    _mm512_mask_storeu_ps(at, present, acc);
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn tile_product<const G: usize, const R: usize, const MIN: bool>(
    _: &Int8Weight,
    _: usize,
    _: &Activations,
    _: usize,
    _: &SharedCells,
) {
    unreachable!("`available` is false off x86_64")
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn amx_tile_product<const G: usize, const NIBBLES: bool>(
    _: &Int8Weight,
    _: usize,
    _: &Activations,
    _: std::ops::Range<usize>,
    _: &SharedCells,
) {
    unreachable!("`available` is false off x86_64")
}

/// A weight row's `q`s, scales and minimums, from its GGUF blocks (ggml's
/// `dequantize_row_*` layouts).
fn decode_row(dtype: GgmlDType, bytes: &[u8], inputs: usize) -> DecodedRow {
    let half = |at: usize| f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32();
    let mut row = DecodedRow {
        q: Vec::with_capacity(inputs),
        scales: Vec::new(),
        mins: Vec::new(),
    };
    let size = dtype.type_size();
    for start in (0..bytes.len()).step_by(size) {
        let block = &bytes[start..start + size];
        let half = |at: usize| half(start + at);
        match dtype {
            GgmlDType::Q4_1 => {
                row.scales.push(half(0));
                row.mins.push(half(2));
                let qs = &block[4..20];
                row.q.extend(qs.iter().map(|q| q & 0x0F));
                row.q.extend(qs.iter().map(|q| q >> 4));
            }
            GgmlDType::Q5_0 => {
                row.scales.push(half(0));
                let high = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
                let qs = &block[6..22];
                let fifth = |i: usize| (((high >> i) & 1) << 4) as u8;
                row.q
                    .extend(qs.iter().enumerate().map(|(i, q)| (q & 0x0F) | fifth(i)));
                row.q
                    .extend(qs.iter().enumerate().map(|(i, q)| (q >> 4) | fifth(i + 16)));
            }
            GgmlDType::Q8_0 => {
                row.scales.push(half(0));
                row.q
                    .extend(block[2..34].iter().map(|&q| (q as i8 as i16 + 128) as u8));
            }
            GgmlDType::Q4K => {
                let (d, dmin) = (half(0), half(2));
                let scales = q4_k_scales(block[4..16].try_into().expect("12 bytes"));
                for (pair, qs) in block[16..144].chunks_exact(32).enumerate() {
                    for (sub, shift) in [(2 * pair, 0), (2 * pair + 1, 4)] {
                        row.scales.push(d * f32::from(scales[sub]));
                        row.mins.push(-(dmin * f32::from(scales[8 + sub])));
                        row.q.extend(qs.iter().map(|q| (q >> shift) & 0x0F));
                    }
                }
            }
            GgmlDType::Q6K => {
                let (low, high, scales) = (&block[..128], &block[128..192], &block[192..208]);
                let d = half(208);
                row.scales
                    .extend(scales.iter().map(|&s| d * f32::from(s as i8)));
                for half_block in 0..2 {
                    let (low, high) = (&low[64 * half_block..], &high[32 * half_block..]);
                    let mut q = [0u8; 128];
                    for l in 0..32 {
                        let h = high[l];
                        q[l] = (low[l] & 0x0F) | ((h & 3) << 4);
                        q[l + 32] = (low[l + 32] & 0x0F) | (((h >> 2) & 3) << 4);
                        q[l + 64] = (low[l] >> 4) | (((h >> 4) & 3) << 4);
                        q[l + 96] = (low[l + 32] >> 4) | (((h >> 6) & 3) << 4);
                    }
                    row.q.extend(q);
                }
            }
            other => unreachable!("Int8Weight::new refuses {other:?}"),
        }
    }
    row
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use crate::transformer::quantized_matmul;
    use crate::transformer::test_support::{assert_near_dequantized_product, uniform};
    use candle_core::Device;

    const FORMATS: [GgmlDType; 5] = [
        GgmlDType::Q4_1,
        GgmlDType::Q5_0,
        GgmlDType::Q8_0,
        GgmlDType::Q4K,
        GgmlDType::Q6K,
    ];

    /// Whether the CPU runs these kernels; says so when it does not.
    fn runs_here() -> bool {
        if !cpu_has_vnni() {
            println!("skipped: this CPU lacks AVX512-VNNI, so the int8 kernels never run on it");
        }
        cpu_has_vnni()
    }

    #[test]
    fn decoded_rows_are_the_dequantized_weights() {
        // No CPU feature needed: the unpacking is plain code.
        for dtype in FORMATS {
            let (outputs, inputs) = (3, 512);
            let q = QTensor::quantize(&uniform(outputs, inputs, 11), dtype).unwrap();
            let dense = q
                .dequantize(&Device::Cpu)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            let bytes = q.data().unwrap();
            let row_bytes = bytes.len() / outputs;
            let zero = Int8Weight::new(&q).unwrap().zero;
            for (row, dense) in bytes.chunks_exact(row_bytes).zip(&dense) {
                let decoded = decode_row(dtype, row, inputs);
                let group = inputs / decoded.scales.len();
                for (i, &expected) in dense.iter().enumerate() {
                    let g = i / group;
                    let min = decoded.mins.get(g).copied().unwrap_or(0.0);
                    let value = decoded.scales[g] * (i32::from(decoded.q[i]) - zero) as f32 + min;
                    assert!(
                        (value - expected).abs() <= 1e-6 * (1.0 + expected.abs()),
                        "{dtype:?} input {i}: {value} vs {expected}"
                    );
                }
            }
        }
    }

    /// The largest difference of `a` from `b`, each as a share of that output's
    /// `sum |x| |w|`.
    fn largest_relative_difference(a: &Tensor, b: &Tensor, scale: &Tensor) -> f32 {
        let [a, b, scale] =
            [a, b, scale].map(|t| t.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        a.iter()
            .zip(&b)
            .zip(&scale)
            .map(|((a, b), s)| (a - b).abs() / s)
            .fold(0f32, f32::max)
    }

    #[test]
    fn products_match_the_dequantized_weights_and_llama_cpps_kernels() {
        if !runs_here() {
            return;
        }
        // 37 outputs: two whole tiles and a part; 11 rows: a kernel's group of
        // 8 and 3 alone.
        let x = uniform(11, 512, 1);
        for dtype in FORMATS {
            let q = QTensor::quantize(&uniform(37, 512, 2), dtype).unwrap();
            let ours = Int8Weight::new(&q).unwrap().matmul(&x).unwrap();
            assert_eq!(ours.dims(), [11, 37]);
            assert_near_dequantized_product(&ours, &x, &q);
            let dense = q.dequantize(&Device::Cpu).unwrap().t().unwrap();
            let scale = x.abs().unwrap().matmul(&dense.abs().unwrap()).unwrap();
            let f32_product = x.matmul(&dense).unwrap();
            let exact = quantized_matmul::matmul(&x, &q).unwrap();
            let from_f32 = largest_relative_difference(&ours, &f32_product, &scale);
            let llama_from_f32 = largest_relative_difference(&exact, &f32_product, &scale);
            let from_llama = largest_relative_difference(&ours, &exact, &scale);
            println!("{dtype:?}: from f32 {from_f32:e} (llama.cpp's {llama_from_f32:e}), from llama.cpp's {from_llama:e}");
            // The activations' rounding is the error: no larger than llama.cpp's
            // kernels make (which round the k-quants' per 256 values).
            assert!(from_f32 <= 1.2 * llama_from_f32, "{dtype:?}");
            if matches!(dtype, GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q8_0) {
                assert!(from_llama <= 1e-6, "{dtype:?}");
            }
        }
    }

    #[test]
    fn each_row_is_computed_as_if_alone() {
        if !runs_here() {
            return;
        }
        // 21 rows: VNNI kernel calls of 8 rows twice, then of 4 and 1; where the
        // CPU has AMX, a tile call of 16 rows, then VNNI's 4 and 1.
        let x = uniform(21, 256, 3).reshape((3, 7, 256)).unwrap();
        for dtype in FORMATS {
            let weight =
                Int8Weight::new(&QTensor::quantize(&uniform(20, 256, 4), dtype).unwrap()).unwrap();
            let batch = weight.matmul(&x).unwrap();
            assert_eq!(batch.dims(), [3, 7, 20]);
            let batch = batch.flatten_to(1).unwrap().to_vec2::<f32>().unwrap();
            let rows = x.flatten_to(1).unwrap();
            for (row, values) in batch.iter().enumerate() {
                let alone = weight.matmul(&rows.get(row).unwrap()).unwrap();
                assert_eq!(
                    &alone.to_vec1::<f32>().unwrap(),
                    values,
                    "{dtype:?} row {row}"
                );
            }
        }
    }

    #[test]
    fn products_of_one_input_together_equal_each_alone() {
        if !runs_here() {
            return;
        }
        // Formats of both group sizes (Q6_K's 16 rounds the input apart), whole
        // and partial tiles, 11 rows (a group of 8 and 3 alone).
        let x = uniform(11, 512, 6).reshape((11, 1, 512)).unwrap();
        let weights: Vec<Int8Weight> = [
            (GgmlDType::Q4_1, 37),
            (GgmlDType::Q6K, 20),
            (GgmlDType::Q8_0, 64),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, (dtype, outputs))| {
            let q = QTensor::quantize(&uniform(outputs, 512, 7 + i as u64), dtype).unwrap();
            Int8Weight::new(&q).unwrap()
        })
        .collect();
        let together = matmul_each([&weights[0], &weights[1], &weights[2]], &x).unwrap();
        for (weight, product) in weights.iter().zip(&together) {
            let alone = weight.matmul(&x).unwrap();
            assert_eq!(product.dims(), [11, 1, weight.outputs]);
            let bits = |t: &Tensor| -> Vec<u32> {
                let values = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                values.into_iter().map(f32::to_bits).collect()
            };
            assert_eq!(bits(product), bits(&alone));
        }
        let other =
            Int8Weight::new(&QTensor::quantize(&uniform(16, 256, 9), GgmlDType::Q8_0).unwrap())
                .unwrap();
        assert!(matmul_each([&weights[0], &other], &x).is_err());
    }

    #[test]
    fn activations_round_as_llama_cpp_does() {
        if !runs_here() {
            return;
        }
        // Halves go to the even neighbour at scale 1; the rest as `round_ties_even`.
        let mut x: Vec<f32> = uniform(1, 64, 9).to_vec2::<f32>().unwrap().remove(0);
        x[..6].copy_from_slice(&[127.0, 0.5, 1.5, 2.5, -0.5, -2.5]);
        let rows = Activations::new(&x, 64, 16, false);
        assert_eq!(rows.q(0)[..6], [127, 0, 2, 2, 0, -2]);
        assert_eq!(rows.scale(0, 0), 1.0);
        let max = x[32..].iter().fold(0f32, |m, v| m.max(v.abs()));
        for (i, &v) in x[32..].iter().enumerate() {
            assert_eq!(
                rows.q(0)[32 + i],
                (v * (127.0 / max)).round_ties_even() as i8
            );
        }
        let sum =
            |r: std::ops::Range<usize>| rows.q(0)[r].iter().map(|&q| i32::from(q)).sum::<i32>();
        assert_eq!(
            rows.sums,
            [sum(0..16), sum(16..32), sum(32..48), sum(48..64)]
        );
        let by_32 = Activations::new(&x, 64, 32, false);
        assert_eq!(by_32.sums, [sum(0..32), sum(32..64)]);
        assert_eq!(
            by_32.scaled_sum(0, 32),
            f16::from_f32(max / 127.0 * sum(32..64) as f32).to_f32()
        );
        assert_eq!(Activations::new(&[0.0; 32], 32, 32, false).q, [0; 32]);
        // Rows lie one after another, each rounded alone.
        let two: Vec<f32> = [&x[..], &x[..]].concat();
        let both = Activations::new(&two, 64, 16, false);
        assert_eq!((both.count(), both.q(1)), (2, rows.q(0)));
        assert_eq!(both.scale(1, 32), rows.scale(0, 32));
        assert_eq!(both.sum(1, 3), rows.sum(0, 3));
        // Laid out for tiles: zero rows up to 16, each group's rows side by side.
        let tiled = Activations::new(&two, 64, 16, true);
        assert_eq!((tiled.count(), tiled.q.len()), (2, 16 * 64));
        assert!(tiled.q[2 * 64..].iter().all(|&q| q == 0));
        let by_group = tiled.by_group.as_ref().unwrap();
        let padded = |first: f32, second: f32| {
            let mut values = [0.0; 16];
            values[..2].copy_from_slice(&[first, second]);
            values
        };
        let scale = rows.scale(0, 32);
        assert_eq!(*by_group.scales(0, 1), padded(scale, scale));
        let scaled_sum = rows.scaled_sum(0, 32);
        assert_eq!(*by_group.scaled_sums(0, 1), padded(scaled_sum, scaled_sum));
        let mut sums = [0; 16];
        sums[..2].copy_from_slice(&[rows.sum(0, 3); 2]);
        assert_eq!(*by_group.sums(0, 3), sums);
    }

    #[test]
    fn amx_tiles_give_the_vnni_kernels_outputs_to_the_bit() {
        if !runs_here() {
            return;
        }
        amx::say_if_emulated();
        // Whole and partial tiles of outputs; 1 to 16 rows in one tile call.
        for dtype in FORMATS {
            let q = QTensor::quantize(&uniform(37, 512, 12), dtype).unwrap();
            let weight = Int8Weight::new(&q).unwrap();
            for count in [1, 3, 8, 13, 16] {
                let x = uniform(count, 512, 13 + count as u64)
                    .flatten_all()
                    .unwrap();
                let rows = Activations::new(&values(&x).unwrap(), 512, weight.group, true);
                let [mut amx_out, mut vnni_out] = [(); 2].map(|_| vec![0f32; count * 37]);
                let (amx_cells, vnni_cells) = (
                    SharedCells::new(&mut amx_out, 37),
                    SharedCells::new(&mut vnni_out, 37),
                );
                for tile in 0..37usize.div_ceil(LANES) {
                    // SAFETY: VNNI is checked above, the tiles run here (or in
                    // software); one thread.
                    unsafe {
                        weight.amx_tile(tile, &rows, 0..count, &amx_cells);
                        for row in 0..count {
                            weight.tile::<1>(tile, &rows, row, &vnni_cells);
                        }
                    }
                }
                let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&amx_out), bits(&vnni_out), "{dtype:?}, {count} rows");
            }
        }
    }

    #[test]
    fn misfit_inputs_are_refused() {
        let q = QTensor::quantize(&uniform(16, 64, 5), GgmlDType::Q8_0).unwrap();
        let weight = Int8Weight::new(&q).unwrap();
        let wrong = Tensor::zeros((1, 32), DType::F32, &Device::Cpu).unwrap();
        assert!(weight.matmul(&wrong).is_err());
        let f32_weight = QTensor::quantize(&uniform(16, 64, 5), GgmlDType::F32).unwrap();
        assert!(!handles(&f32_weight) && Int8Weight::new(&f32_weight).is_err());
    }
}
