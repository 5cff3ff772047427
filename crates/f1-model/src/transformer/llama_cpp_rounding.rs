//! Element-wise kernels and attention that round as llama.cpp's CPU backend does
//! (ggml built for x86 with AVX-512, as the golden logits were made; its AVX2
//! build sums in eight lanes and finishes exp differently, an ulp apart), so
//! that inference reproduces its logits.
//!
//! The quantized products (`quantized_matmul`) give ggml's bits; what still moved
//! the logits were the steps between them. ggml's RMS norm sums the squares in
//! f64 and multiplies by the reciprocal root (candle sums in f32 and divides); its
//! SiLU and softmax take exp from a polynomial (Arm's optimized-routines `expf`,
//! within about 2 ulp) instead of libm; its GELU reads a table of f16 values at
//! the input rounded to f16; its rotary angles are multiplied on pair by pair;
//! its attention sums products in sixteen lanes (tinyBLAS). Each differs from
//! candle's by an ulp or so, but the next product rounds its input to 8 bits, and
//! an ulp that crosses one of those rounding boundaries grew, layer by layer, into
//! logits 0.1-0.6 apart. Written out because no crate reproduces ggml's roundings.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use candle_core::{DType, Result, Tensor};
use half::f16;

use super::cpu_pool::{new_chunked, piece};
use super::gated_activation::{Activation, CUBIC, SQRT_2_OVER_PI};
use super::ggml_vectors;
use super::quantized_matmul::has_x86_features;
use super::tensor_values::{row_blocks, values, with_dense_rows, Values};

/// Rows per work item on the thread pool.
const ROWS: usize = 8;

/// Values ggml's vectorized loops take at a time (one AVX-512 register); the rest
/// of a row goes through its scalar code, with libm's `expf`.
const LANES: usize = 16;

/// RMS norm over the last dimension, then the scale `weight`, as ggml's
/// `rms_norm` followed by `mul`. `x` and `weight` are f32 on the CPU.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f32) -> Result<Tensor> {
    let x = x.contiguous()?;
    let weight = weight.contiguous()?;
    let (x_values, weight_values) = (values(&x)?, values(&weight)?);
    let width = weight_values.len();
    if x.dims().last() != Some(&width) {
        candle_core::bail!("rms norm: input {:?} and scale of {width} values", x.dims());
    }
    let chunk = ROWS * width;
    let [out] = new_chunked(
        [(x_values.len(), chunk)],
        x_values.len().div_ceil(chunk),
        |index, [out]| {
            let rows = piece(&x_values, chunk, index).chunks_exact(width);
            for (row, y) in rows.zip(out.chunks_exact_mut(width)) {
                // Each square rounded to f32, then summed in f64 in order.
                let sum: f64 = row.iter().map(|&v| f64::from(v * v)).sum();
                let mean = (sum / width as f64) as f32;
                let scale = 1.0 / (mean + eps).sqrt();
                for ((y, &v), &w) in y.iter_mut().zip(row).zip(weight_values.iter()) {
                    *y = v * scale * w;
                }
            }
            Ok(())
        },
    )?;
    Tensor::from_vec(out, x.shape(), x.device())
}

/// `act(gate) * up` over the last dimension, as ggml's `swiglu` (SiLU with its
/// polynomial exp) and `geglu` (GELU from its f16 table). f32 CPU tensors.
pub fn gated_activation(gate: &Tensor, up: &Tensor, activation: Activation) -> Result<Tensor> {
    if gate.dims() != up.dims() {
        candle_core::bail!(
            "gated activation: gate {:?} and up {:?} differ",
            gate.dims(),
            up.dims()
        );
    }
    let (gate, up) = (gate.contiguous()?, up.contiguous()?);
    let (g, u) = (values(&gate)?, values(&up)?);
    let width = gate.dims().last().copied().unwrap_or(1).max(1);
    let chunk = ROWS * width;
    let table = (activation == Activation::GeluTanh).then(gelu_table);
    let vector_loops = ggml_vectors::available();
    let [out] = new_chunked(
        [(g.len(), chunk)],
        g.len().div_ceil(chunk),
        |index, [out]| {
            let (g, u) = (piece(&g, chunk, index), piece(&u, chunk, index));
            for ((y, g), u) in out
                .chunks_exact_mut(width)
                .zip(g.chunks_exact(width))
                .zip(u.chunks_exact(width))
            {
                match table {
                    Some(table) => {
                        for ((y, &x), &u) in y.iter_mut().zip(g).zip(u) {
                            *y = geglu(table, x, u);
                        }
                    }
                    None => {
                        let vectorized = width / LANES * LANES;
                        if vector_loops {
                            let (y, g, u) =
                                (&mut y[..vectorized], &g[..vectorized], &u[..vectorized]);
                            // SAFETY: `vector_loops` holds only where the CPU has AVX-512F.
                            unsafe { ggml_vectors::swiglu(g, u, y) };
                        } else {
                            for i in 0..vectorized {
                                y[i] = g[i] / (1.0 + exp(0.0 - g[i])) * u[i];
                            }
                        }
                        for i in vectorized..width {
                            y[i] = g[i] / (1.0 + (-g[i]).exp()) * u[i];
                        }
                    }
                }
            }
            Ok(())
        },
    )?;
    Tensor::from_vec(out, gate.shape(), gate.device())
}

/// ggml's vectorized `expf`: Arm's optimized-routines polynomial, operation for
/// operation (fused where ggml fuses), exact powers of two applied at the end.
#[inline]
fn exp(x: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0; // 1.5 * 2^23
    let [log2_e, ln2_high, ln2_low] = [0x3fb8_aa3b, 0x3f31_7200, 0x35bf_be8e].map(f32::from_bits);
    let [c0, c1, c2, c3, c4] = [
        0x3f7f_fff6,
        0x3eff_fedb,
        0x3e2a_af33,
        0x3d2b_9f17,
        0x3c07_2010,
    ]
    .map(f32::from_bits);
    let n = x.mul_add(log2_e, SHIFT) - SHIFT;
    let b = (-n).mul_add(ln2_low, (-n).mul_add(ln2_high, x));
    let u = b * b;
    let j = c4
        .mul_add(b, c3)
        .mul_add(u, c2.mul_add(b, c1))
        .mul_add(u, c0.mul_add(b, 1.0));
    // j * 2^n is exact in f64 and rounds once to f32, as AVX-512's `scalef`
    // (2^n built from its exponent bits; n is an integer in f32).
    let exponent = n.clamp(-200.0, 200.0) as i32 + 1023;
    let scaled = (f64::from(j) * f64::from_bits((exponent as u64) << 52)) as f32;
    if n.abs() > 192.0 {
        if n <= 0.0 {
            0.0
        } else {
            f32::INFINITY
        }
    } else {
        scaled
    }
}

/// GELU (tanh approximation) at every f16 value, rounded to f16: ggml's table.
fn gelu_table() -> &'static [f16] {
    static TABLE: OnceLock<Vec<f16>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=u16::MAX)
            .map(|bits| {
                let x = f16::from_bits(bits).to_f32();
                let inner = SQRT_2_OVER_PI * x * (CUBIC * x).mul_add(x, 1.0);
                f16::from_f32(0.5 * x * (1.0 + inner.tanh()))
            })
            .collect()
    })
}

/// `gelu(x) * up` as ggml's `geglu`: 0 below -10, `x * up` above 10, else the
/// table at `x` rounded to f16.
fn geglu(table: &[f16], x: f32, up: f32) -> f32 {
    if x <= -10.0 {
        0.0
    } else if x >= 10.0 {
        x * up
    } else {
        table[usize::from(f16::from_f32(x).to_bits())].to_f32() * up
    }
}

/// Attention of `q` (batch, heads, tokens, head_dim) over `k` and `v` (batch,
/// kv_heads, positions, head_dim): f16 keys and values, as llama.cpp's f16 KV
/// cache holds them, and f32 queries of f16 values (its f16 copy), with the
/// additive `mask` (rows, 1, 1, tokens, positions) where some position is hidden.
/// As ggml's CPU attention without flash attention: each product summed in the
/// order of [`Order`]; the softmax with ggml's exp, summed per sixteen positions
/// into an f64 total; its weights rounded to f16. Returns (batch, heads, tokens,
/// head_dim).
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    scale: f32,
) -> Result<Tensor> {
    attention_of_sequences(q, &[KeysValues { k, v, mask }], scale)
}

/// The keys and values of some of the query rows of [`attention_of_sequences`]
/// (as [`attention`] takes them), with their mask.
pub struct KeysValues<'a> {
    pub k: &'a Tensor,
    pub v: &'a Tensor,
    pub mask: Option<&'a Tensor>,
}

/// [`attention`] of sequences with keys and values of their own (a decode step
/// of several sequences, each with its cache): query rows (batch, heads, tokens,
/// head_dim) go in turn to `sequences`, each taking as many as its keys' batch.
/// One parallel loop over every row's heads; each row computes what it would
/// alone.
pub fn attention_of_sequences(q: &Tensor, sequences: &[KeysValues], scale: f32) -> Result<Tensor> {
    let (batch, heads, tokens, dim) = q.dims4()?;
    let mut rows = Vec::with_capacity(batch);
    let mut operands = Vec::with_capacity(sequences.len());
    for (index, sequence) in sequences.iter().enumerate() {
        let (rows_here, kv_heads, positions, _) = sequence.k.dims4()?;
        if sequence.k.dims() != sequence.v.dims() || sequence.k.dims()[3] != dim {
            candle_core::bail!(
                "attention: queries {:?}, keys {:?}, values {:?}",
                q.dims(),
                sequence.k.dims(),
                sequence.v.dims()
            );
        }
        if kv_heads == 0 || heads % kv_heads != 0 {
            candle_core::bail!("attention: {heads} heads over {kv_heads} key/value heads");
        }
        let mask = sequence
            .mask
            .map(|m| {
                m.broadcast_as((rows_here, 1, 1, tokens, positions))?
                    .contiguous()
            })
            .transpose()?;
        // The keys and values are read where the cache holds them.
        if sequence.k.dtype() != DType::F16 || sequence.v.dtype() != DType::F16 {
            candle_core::bail!(
                "attention: keys {:?} and values {:?} are not f16 (llama.cpp's KV cache)",
                sequence.k.dtype(),
                sequence.v.dtype()
            );
        }
        let (k, v) = (with_dense_rows(sequence.k)?, with_dense_rows(sequence.v)?);
        operands.push((k, v, mask, heads / kv_heads, positions));
        rows.extend((0..rows_here).map(|row| (index, row)));
    }
    if rows.len() != batch {
        candle_core::bail!(
            "attention: {batch} query rows for sequences of {} rows",
            rows.len()
        );
    }
    let q = q.contiguous()?;
    let qs = values(&q)?;
    let sequences = operands
        .iter()
        .map(|(k, v, mask, _, positions)| {
            Ok(SequenceOperands {
                keys: row_blocks(k)?,
                values: row_blocks(v)?,
                mask: mask.as_ref().map(values).transpose()?,
                positions: *positions,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // ggml multiplies one new token as vectors, more as tiles; tinyBLAS declines
    // rows that are not whole lanes. Its key/value rows are padded to 256.
    let single = tokens == 1;
    let scores_order = if single || dim % LANES != 0 {
        Order::Vectors
    } else {
        Order::Tiles
    };
    let values_order = if single { Order::Vectors } else { Order::Tiles };
    // The same sums sixteen keys at a time where the CPU has AVX-512.
    let vector_loops = ggml_vectors::available();
    let vector_scores =
        vector_loops && matches!(scores_order, Order::Vectors) && ggml_vectors::scores_take(dim);
    let vector_values =
        vector_loops && matches!(values_order, Order::Vectors) && ggml_vectors::values_take(dim);
    let group = operands.first().map_or(1, |o| o.3);
    if operands.iter().any(|o| o.3 != group) {
        candle_core::bail!("attention: sequences with different numbers of key/value heads");
    }
    // A unit of work is one row's head, or in the vector loops for one token
    // all the heads that share a key/value head (each key and value widened
    // once for them). Several tokens of one row keep a unit per head, so that
    // a prompt's heads spread over the threads.
    let grouped = single && vector_scores && vector_values;
    let unit_heads = if grouped { group } else { 1 };
    let width = tokens * dim;
    let [out] = new_chunked(
        [(qs.len(), unit_heads * width)],
        batch * heads / unit_heads,
        |unit, [out]| {
            let first_head = unit * unit_heads;
            let (sequence, b) = rows[first_head / heads];
            let kv_head = first_head % heads / group;
            let operands = &sequences[sequence];
            let positions = operands.positions;
            let keys = head_block(&operands.keys, b, kv_head, positions * dim);
            let vals = head_block(&operands.values, b, kv_head, positions * dim);
            // Query rows of heads `first_head..`, one token each where grouped.
            let queries = &qs[first_head * width..][..unit_heads * width];
            if grouped {
                let hidden = operands
                    .mask
                    .as_ref()
                    .map(|m| &m[b * positions..][..positions]);
                let at_once = ggml_vectors::MAX_HEADS * dim;
                for (queries, out) in queries.chunks(at_once).zip(out.chunks_mut(at_once)) {
                    // SAFETY: `grouped` holds only where the CPU has AVX-512F and
                    // both loops take `dim`.
                    unsafe {
                        match queries.len() / dim {
                            1 => attend_heads::<1>(queries, keys, vals, scale, hidden, out),
                            2 => attend_heads::<2>(queries, keys, vals, scale, hidden, out),
                            _ => attend_heads::<3>(queries, keys, vals, scale, hidden, out),
                        }
                    }
                }
                return Ok(());
            }
            let mut weights = vec![0f32; positions];
            // The scalar scores' key, widened.
            let mut key = Vec::new();
            let key_tiles = (matches!(scores_order, Order::Tiles) && has_x86_features())
                .then(|| key_tiles(keys, dim));
            // One head: `queries` and `out` are its rows.
            for (t, out) in out.chunks_exact_mut(dim).enumerate() {
                let query = &queries[t * dim..][..dim];
                let hidden = operands
                    .mask
                    .as_ref()
                    .map(|m| &m[(b * tokens + t) * positions..][..positions]);
                match &key_tiles {
                    Some(tiles) => {
                        let tiles = tiles.chunks_exact(LANES * dim);
                        for (tile, (weights, keys)) in
                            weights.chunks_mut(LANES).zip(tiles).enumerate()
                        {
                            let hidden = hidden.map(|h| &h[tile * LANES..][..weights.len()]);
                            // A hidden position's score is -inf whatever its product.
                            if hidden.is_some_and(|h| h.iter().all(|&h| h == f32::NEG_INFINITY)) {
                                weights.fill(f32::NEG_INFINITY);
                                continue;
                            }
                            // SAFETY: tiles are made only where the CPU has AVX2 and FMA.
                            let scores = unsafe { tile_scores(query, keys) };
                            for (i, w) in weights.iter_mut().enumerate() {
                                *w = scores[i] * scale + hidden.map_or(0.0, |h| h[i]);
                            }
                        }
                    }
                    // SAFETY: `vector_loops` holds only where the CPU has AVX-512F, and
                    // the scores are taken only for whole blocks of 64.
                    None if vector_scores => unsafe {
                        ggml_vectors::scores([query], keys, scale, hidden, [&mut weights])
                    },
                    None => {
                        for (p, w) in weights.iter_mut().enumerate() {
                            let hidden = hidden.map_or(0.0, |h| h[p]);
                            key.clear();
                            key.extend(keys[p * dim..][..dim].iter().map(|k| k.to_f32()));
                            *w = scores_order.dot(query, &key) * scale + hidden;
                        }
                    }
                }
                match vector_loops {
                    // SAFETY: the CPU has AVX-512F.
                    true => unsafe { ggml_vectors::softmax_f16(&mut weights) },
                    false => softmax_f16(&mut weights),
                }
                match vector_values {
                    // SAFETY: `vector_loops` holds only where the CPU has AVX-512F, and
                    // the values are taken only in whole registers.
                    true => unsafe { ggml_vectors::weighted_values([&weights], vals, [out]) },
                    false => weighted_values(values_order, &weights, vals, out),
                }
            }
            Ok(())
        },
    )?;
    Tensor::from_vec(out, q.shape(), q.device())
}

/// One token of `H` heads that share `keys` and `values` (f16 rows), through
/// the vector loops: `queries` and `out` hold the heads' rows one after
/// another.
///
/// # Safety
/// The CPU must have AVX-512F, and both vector loops must take the rows' size.
unsafe fn attend_heads<const H: usize>(
    queries: &[f32],
    keys: &[f16],
    values: &[f16],
    scale: f32,
    hidden: Option<&[f32]>,
    out: &mut [f32],
) {
    let dim = queries.len() / H;
    let positions = keys.len() / dim;
    let mut weights = vec![0f32; H * positions];
    let queries: [&[f32]; H] = std::array::from_fn(|h| &queries[h * dim..][..dim]);
    {
        let mut heads = weights.chunks_exact_mut(positions);
        let weights: [&mut [f32]; H] = std::array::from_fn(|_| heads.next().expect("H heads"));
        // SAFETY: the caller's promises.
        unsafe { ggml_vectors::scores::<H>(queries, keys, scale, hidden, weights) };
    }
    for weights in weights.chunks_exact_mut(positions) {
        // SAFETY: the CPU has AVX-512F.
        unsafe { ggml_vectors::softmax_f16(weights) };
    }
    let weights: [&[f32]; H] = std::array::from_fn(|h| &weights[h * positions..][..positions]);
    let mut outs = out.chunks_exact_mut(dim);
    let outs: [&mut [f32]; H] = std::array::from_fn(|_| outs.next().expect("H heads"));
    // SAFETY: the caller's promises.
    unsafe { ggml_vectors::weighted_values::<H>(weights, values, outs) };
}

/// `out[d]` = the sum over positions `p` of `weights[p] * values[p][d]` (values
/// as `(positions, dim)` rows), each sum in `order`: accumulator `p %
/// accumulators` of every dimension takes position `p`'s term, then
/// [`Order::fold`]. A zero weight adds nothing (the accumulators start at +0, so
/// no sign of zero is lost either).
fn weighted_values(order: Order, weights: &[f32], values: &[f16], out: &mut [f32]) {
    let dim = out.len();
    let accumulators = order.accumulators();
    let mut lanes = vec![0f32; accumulators * dim];
    for (p, &w) in weights.iter().enumerate() {
        if w == 0.0 {
            continue;
        }
        let lane = &mut lanes[p % accumulators * dim..][..dim];
        for (acc, &value) in lane.iter_mut().zip(&values[p * dim..][..dim]) {
            *acc = w.mul_add(value.to_f32(), *acc);
        }
    }
    order.fold(&mut lanes, dim);
    out.copy_from_slice(&lanes[..dim]);
}

/// One sequence's keys and values as [`attention_of_sequences`] reads them.
struct SequenceOperands<'a> {
    keys: (Values<'a, f16>, [usize; 2]),
    values: (Values<'a, f16>, [usize; 2]),
    mask: Option<Values<'a>>,
    positions: usize,
}

/// The `len` values of (row `b`, head `head`) in keys or values read by
/// [`row_blocks`].
fn head_block<'a>(
    (values, strides): &'a (Values<'_, f16>, [usize; 2]),
    b: usize,
    head: usize,
    len: usize,
) -> &'a [f16] {
    &values[b * strides[0] + head * strides[1]..][..len]
}

/// The keys (positions, dim) dimension-major in tiles of [`LANES`] positions:
/// value `d` of position `p` at `(p / LANES * dim + d) * LANES + p % LANES`; the
/// last tile padded with zeros.
fn key_tiles(keys: &[f16], dim: usize) -> Vec<f32> {
    let positions = keys.len() / dim;
    let mut tiles = vec![0f32; positions.div_ceil(LANES) * LANES * dim];
    for (p, key) in keys.chunks_exact(dim).enumerate() {
        let tile = &mut tiles[p / LANES * LANES * dim..][..LANES * dim];
        for (d, &value) in key.iter().enumerate() {
            tile[d * LANES + p % LANES] = value.to_f32();
        }
    }
    tiles
}

/// `query`'s products with a tile's [`LANES`] keys (see [`key_tiles`]), each
/// summed exactly as [`Order::Tiles`] sums one, eight keys side by side in vector
/// lanes: the terms fused per lane in turn, then the lanes added as
/// [`sum_lanes`] adds them.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_scores(query: &[f32], tile: &[f32]) -> [f32; LANES] {
    use std::arch::x86_64::*;
    assert!(query.len().is_multiple_of(LANES) && tile.len() == LANES * query.len());
    let mut scores = [0f32; LANES];
    for (half, scores) in scores.chunks_exact_mut(8).enumerate() {
        let mut lanes = [_mm256_setzero_ps(); LANES];
        for (chunk, q) in query.chunks_exact(LANES).enumerate() {
            let columns = &tile[chunk * LANES * LANES..][..LANES * LANES];
            for (l, lane) in lanes.iter_mut().enumerate() {
                let keys = _mm256_loadu_ps(columns[l * LANES + half * 8..][..8].as_ptr());
                *lane = _mm256_fmadd_ps(_mm256_set1_ps(q[l]), keys, *lane);
            }
        }
        let eighths: [_; 8] = std::array::from_fn(|i| _mm256_add_ps(lanes[i], lanes[i + 8]));
        let quarters: [_; 4] = std::array::from_fn(|i| _mm256_add_ps(eighths[i], eighths[i + 4]));
        let total = _mm256_add_ps(
            _mm256_add_ps(quarters[0], quarters[2]),
            _mm256_add_ps(quarters[1], quarters[3]),
        );
        _mm256_storeu_ps(scores.as_mut_ptr(), total);
    }
    scores
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn tile_scores(_: &[f32], _: &[f32]) -> [f32; LANES] {
    unreachable!("keys are tiled only on x86_64 with AVX2 and FMA")
}

/// How ggml sums the terms of an f16 product on AVX-512.
#[derive(Debug, Clone, Copy)]
enum Order {
    /// tinyBLAS (several tokens): term i fused into lane i % 16, then the lanes.
    Tiles,
    /// `ggml_vec_dot_f16` (one token): term i fused into lane i % 16 of register
    /// (i / 16) % 4; registers 0 + 2 and 1 + 3, then those two, then the lanes;
    /// terms past the last whole 64 added in f64.
    Vectors,
}

impl Order {
    /// Accumulators the terms are spread over, in turn.
    fn accumulators(self) -> usize {
        match self {
            Self::Tiles => LANES,
            Self::Vectors => 4 * LANES,
        }
    }

    /// Adds up the accumulators of `width` sums side by side (accumulator `a` of
    /// sum `j` at `a * width + j`), leaving the totals in the first `width`: for
    /// [`Self::Vectors`] accumulator `l` + `l + 32` and `l + 16` + `l + 48`, the
    /// two added; then (both orders) sixteen lanes as [`sum_lanes`] adds them.
    /// Each addition is one of the scalar order's, a whole row of sums at a time.
    fn fold(self, lanes: &mut [f32], width: usize) {
        let mut half = self.accumulators() / 2;
        while half > 0 {
            let (low, high) = lanes.split_at_mut(half * width);
            for (sum, other) in low.iter_mut().zip(&high[..half * width]) {
                *sum += *other;
            }
            half /= 2;
        }
    }

    /// The dot product of `a` and `b` summed in this order.
    fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Self::Tiles => self.dot_in::<LANES>(a, b),
            Self::Vectors => self.dot_in::<{ 4 * LANES }>(a, b),
        }
    }

    /// [`Self::dot`] with its `N` accumulators.
    fn dot_in<const N: usize>(self, a: &[f32], b: &[f32]) -> f32 {
        let mut lanes = [0f32; N];
        let (a_blocks, b_blocks) = (a.chunks_exact(N), b.chunks_exact(N));
        let (a_rest, b_rest) = (a_blocks.remainder(), b_blocks.remainder());
        for (a, b) in a_blocks.zip(b_blocks) {
            for i in 0..N {
                lanes[i] = a[i].mul_add(b[i], lanes[i]);
            }
        }
        self.fold(&mut lanes, 1);
        let total = lanes[0];
        if a_rest.is_empty() {
            return total;
        }
        let total = (a_rest.iter().zip(b_rest))
            .fold(f64::from(total), |sum, (&a, &b)| sum + f64::from(a * b));
        total as f32
    }
}

/// Sixteen lanes added in the order of AVX-512's `_mm512_reduce_add_ps`: the
/// halves, then the quarters, then pairs.
fn sum_lanes(lane: impl Fn(usize) -> f32) -> f32 {
    let eighths: [f32; 8] = std::array::from_fn(|i| lane(i) + lane(i + 8));
    let quarters: [f32; 4] = std::array::from_fn(|i| eighths[i] + eighths[i + 4]);
    (quarters[0] + quarters[2]) + (quarters[1] + quarters[3])
}

/// ggml's softmax of `x` in place (its exp, each sixteen values summed in lanes,
/// the sums added in f64), the results then rounded to f16.
fn softmax_f16(x: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0f64;
    for chunk in x.chunks_mut(LANES) {
        // Hidden positions (a causal prompt's later half) weigh exactly 0.
        if chunk.iter().all(|&v| v == f32::NEG_INFINITY) {
            chunk.fill(0.0);
            continue;
        }
        let mut lanes = [0f32; LANES];
        for (lane, v) in lanes.iter_mut().zip(chunk.iter_mut()) {
            *v = exp(*v - max);
            *lane = *v;
        }
        sum += f64::from(sum_lanes(|i| lanes[i]));
    }
    let inverse = (1.0 / sum) as f32;
    for v in x {
        *v = f16::from_f32(*v * inverse).to_f32();
    }
}

/// Rotary embeddings of `x` (batch, heads, tokens, head_dim) as ggml's `rope`:
/// pair `i`'s angle is the position times `base^(-2/head_dim)` multiplied on
/// pair by pair in f32, its cosine and sine libm's, and each rotated value one
/// fused multiply-add. `position(b, t)` is token `t` of row `b`'s position;
/// `interleaved` pairs adjacent dimensions, else the two halves.
pub fn rope(
    x: &Tensor,
    position: impl Fn(usize, usize) -> usize + Sync,
    base: f32,
    interleaved: bool,
) -> Result<Tensor> {
    let (batch, heads, tokens, dim) = x.dims4()?;
    let half = dim / 2;
    if half == 0 || dim % 2 != 0 {
        candle_core::bail!("rope: head dimension {dim} is not a positive even number");
    }
    let positions: Vec<usize> = (0..batch * tokens)
        .map(|i| position(i / tokens, i % tokens))
        .collect();
    let table = rope_angles(positions, tokens, dim, base)?;
    let x = x.contiguous()?;
    let xs = values(&x)?;
    let rows = tokens * dim;
    // One piece per row of the batch: a token's heads are too little to share.
    let [out] = new_chunked([(xs.len(), heads * rows)], batch, |b, [out]| {
        let input = &xs[b * heads * rows..][..heads * rows];
        let angles = table[b * rows..][..rows].chunks_exact(dim).cycle();
        for ((y, x), angles) in out
            .chunks_exact_mut(dim)
            .zip(input.chunks_exact(dim))
            .zip(angles)
        {
            for (i, angle) in angles.chunks_exact(2).enumerate() {
                let (a, b) = if interleaved {
                    (2 * i, 2 * i + 1)
                } else {
                    (i, i + half)
                };
                let (cos, sin) = (angle[0], angle[1]);
                y[a] = x[a].mul_add(cos, -(x[b] * sin));
                y[b] = x[a].mul_add(sin, x[b] * cos);
            }
        }
        Ok(())
    })?;
    Tensor::from_vec(out, x.shape(), x.device())
}

/// The (cos, sin) of every pair of `dim` at each of `positions` (rows of
/// `tokens`), as [`rope`] rotates by them. Every layer of a forward pass, queries
/// and keys alike, rotates the same positions, so the last table is kept (per
/// thread) and handed out again while they match.
fn rope_angles(positions: Vec<usize>, tokens: usize, dim: usize, base: f32) -> Result<Arc<[f32]>> {
    type Key = (Vec<usize>, usize, usize, u32);
    thread_local! {
        static LAST: RefCell<Option<(Key, Arc<[f32]>)>> = const { RefCell::new(None) };
    }
    let key: Key = (positions, tokens, dim, base.to_bits());
    if let Some(table) = LAST.with_borrow(|last| {
        last.as_ref()
            .filter(|(last, _)| *last == key)
            .map(|(_, table)| table.clone())
    }) {
        return Ok(table);
    }
    let positions = &key.0;
    let step = base.powf(-2.0 / dim as f32);
    let rows = positions.len() / tokens.max(1);
    let [table] = new_chunked(
        [(positions.len() * dim, tokens * dim)],
        rows,
        |b, [table]| {
            for (t, row) in table.chunks_exact_mut(dim).enumerate() {
                let mut theta = positions[b * tokens + t] as f32;
                for pair in row.chunks_exact_mut(2) {
                    pair[0] = theta.cos();
                    pair[1] = theta.sin();
                    theta *= step;
                }
            }
            Ok(())
        },
    )?;
    let table: Arc<[f32]> = table.into();
    LAST.set(Some((key, table.clone())));
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{max_diff, random};
    use super::*;
    use candle_core::{DType, Device, D};

    fn f16_values(shape: &[usize], seed: u64) -> Tensor {
        (random(shape, seed) * 3.0)
            .unwrap()
            .to_dtype(DType::F16)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
    }

    /// [`f16_values`] held as f16, as a KV cache holds keys and values.
    fn f16_tensor(shape: &[usize], seed: u64) -> Tensor {
        f16_values(shape, seed).to_dtype(DType::F16).unwrap()
    }

    /// Units in the last place between `got` and the correctly rounded `exact`.
    fn ulps(got: f32, exact: f64) -> f64 {
        let rounded = exact as f32;
        let ulp = f64::from(f32::from_bits(rounded.to_bits() + 1) - rounded);
        (f64::from(got) - exact).abs() / ulp
    }

    #[test]
    fn exp_is_within_its_error_bound_and_saturates_as_ggml_does() {
        let mut worst = 0f64;
        for i in 0..=200_000 {
            // Normal results only: below about -87 they are subnormal.
            let x = -87.0 + 175.0 * i as f32 / 200_000.0;
            worst = worst.max(ulps(exp(x), f64::from(x).exp()));
        }
        // Arm's bound: 1.45 ulp plus the final rounding.
        assert!(worst <= 2.5, "{worst} ulps");
        assert!(worst > 0.5, "not libm's exp: {worst} ulps at most");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-200.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(200.0), f32::INFINITY);
    }

    #[test]
    fn rms_norm_sums_squares_in_f64() {
        let x = random(&[2, 3, 96], 1);
        let weight = random(&[96], 2);
        let ours = rms_norm(&x, &weight, 1e-5).unwrap();
        let candle = candle_nn::ops::rms_norm(&x, &weight, 1e-5).unwrap();
        assert!(max_diff(&ours, &candle) < 1e-6);

        // One large value and many small ones: an f32 running sum drops the
        // small squares, ggml's f64 sum keeps them.
        let mut row = vec![1e-3f32; 4096];
        row[0] = 1e4;
        let exact_mean = (1e8 + 4095.0 * 1e-6) / 4096.0;
        let scale = 1.0 / ((exact_mean as f32) + 1e-6).sqrt();
        let x = Tensor::from_vec(row, (1, 4096), &Device::Cpu).unwrap();
        let ones = Tensor::ones(4096, DType::F32, &Device::Cpu).unwrap();
        let y = rms_norm(&x, &ones, 1e-6).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(y[0][0], 1e4 * scale);
        assert_eq!(y[0][1], 1e-3 * scale);
        assert!(rms_norm(&x, &random(&[5], 3), 1e-6).is_err());
    }

    #[test]
    fn gated_activations_match_candle_to_their_rounding() {
        let gate = (random(&[4, 40], 4) * 6.0).unwrap();
        let up = random(&[4, 40], 5);
        let swiglu = gated_activation(&gate, &up, Activation::Silu).unwrap();
        let silu = (candle_nn::ops::silu(&gate).unwrap() * &up).unwrap();
        assert!(max_diff(&swiglu, &silu) < 1e-6);
        // GELU comes from an f16 table: within f16's precision, not f32's.
        let geglu = gated_activation(&gate, &up, Activation::GeluTanh).unwrap();
        let gelu = (gate.gelu().unwrap() * &up).unwrap();
        let diff = max_diff(&geglu, &gelu);
        assert!(diff < 1e-2 && diff > 1e-5, "{diff}");

        let gate = Tensor::new(&[[-10.5f32, 1.0, 12.0]], &Device::Cpu).unwrap();
        let up = Tensor::new(&[[2.0f32, 1.0, 0.5]], &Device::Cpu).unwrap();
        let y = gated_activation(&gate, &up, Activation::GeluTanh)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let gelu_one = 0.5 * (1.0 + (SQRT_2_OVER_PI * (1.0 + CUBIC)).tanh());
        assert_eq!(y[0], [0.0, f16::from_f32(gelu_one).to_f32(), 6.0]);
        assert!(gated_activation(&gate, &up.t().unwrap(), Activation::Silu).is_err());
    }

    /// softmax(q k^T scale + mask) v in f64, the heads of a group sharing keys.
    fn reference_attention(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: &Tensor,
        scale: f64,
    ) -> Tensor {
        let group = q.dim(1).unwrap() / k.dim(1).unwrap();
        let to64 = |t: &Tensor| t.to_dtype(DType::F64).unwrap();
        let repeat = |t: &Tensor| {
            let (b, h, p, d) = t.dims4().unwrap();
            to64(t)
                .unsqueeze(2)
                .unwrap()
                .expand((b, h, group, p, d))
                .unwrap()
                .reshape((b, h * group, p, d))
                .unwrap()
        };
        let scores = (to64(q).matmul(&repeat(k).t().unwrap()).unwrap() * scale)
            .unwrap()
            .broadcast_add(&to64(&mask.squeeze(1).unwrap()))
            .unwrap();
        let weights = candle_nn::ops::softmax(&scores, D::Minus1).unwrap();
        weights
            .matmul(&repeat(v))
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
    }

    #[test]
    fn attention_matches_a_reference_and_hides_masked_positions() {
        let (heads, kv_heads, tokens, positions, dim) = (4, 2, 3, 21, 32);
        let q = f16_values(&[2, heads, tokens, dim], 6);
        let k = f16_tensor(&[2, kv_heads, positions, dim], 7);
        let v = f16_tensor(&[2, kv_heads, positions, dim], 8);
        // Row 0 hides position 5 from every token, row 1 the last two positions.
        let mut hidden = vec![0f32; 2 * tokens * positions];
        for t in 0..tokens {
            hidden[t * positions + 5] = f32::NEG_INFINITY;
            hidden[(tokens + t) * positions + positions - 1] = f32::NEG_INFINITY;
            hidden[(tokens + t) * positions + positions - 2] = f32::NEG_INFINITY;
        }
        let mask = Tensor::from_vec(hidden, (2, 1, 1, tokens, positions), &Device::Cpu).unwrap();
        let scale = 1.0 / (dim as f64).sqrt();
        let ours = attention(&q, &k, &v, Some(&mask), scale as f32).unwrap();
        let reference = reference_attention(&q, &k, &v, &mask, scale);
        assert_eq!(ours.dims(), [2, heads, tokens, dim]);
        // The weights are rounded to f16.
        assert!(max_diff(&ours, &reference) < 5e-3);
        // One token (another order of sums) agrees with the reference too.
        let last = q.narrow(2, tokens - 1, 1).unwrap();
        let last_mask = mask.narrow(3, tokens - 1, 1).unwrap();
        let one = attention(&last, &k, &v, Some(&last_mask), scale as f32).unwrap();
        let reference = reference_attention(&last, &k, &v, &last_mask, scale);
        assert!(max_diff(&one, &reference) < 5e-3);

        // Position 5's value reaches row 1's output, not row 0's, which hides it.
        let poisoned = v
            .slice_assign(
                &[0..2, 0..kv_heads, 5..6, 0..dim],
                &Tensor::full(f16::from_f32(1e4), (2, kv_heads, 1, dim), &Device::Cpu).unwrap(),
            )
            .unwrap();
        let again = attention(&q, &k, &poisoned, Some(&mask), scale as f32).unwrap();
        assert_eq!(max_diff(&again.get(0).unwrap(), &ours.get(0).unwrap()), 0.0);
        assert!(max_diff(&again.get(1).unwrap(), &ours.get(1).unwrap()) > 1.0);
        assert!(attention(&q, &k, &v.narrow(2, 0, 3).unwrap(), None, 1.0).is_err());
        // Keys and values must be f16, as llama.cpp's cache holds them.
        let (k32, v32) = (
            k.to_dtype(DType::F32).unwrap(),
            v.to_dtype(DType::F32).unwrap(),
        );
        let error = attention(&q, &k32, &v32, Some(&mask), 1.0).unwrap_err();
        assert!(error.to_string().contains("not f16"), "{error}");

        // Keys and values in a larger cache narrowed to its filled positions (not
        // contiguous) are read where they lie, with the same result.
        let spare = Tensor::zeros((2, kv_heads, 4, dim), DType::F16, &Device::Cpu).unwrap();
        let cached = |t: &Tensor| {
            let wide = Tensor::cat(&[t, &spare], 2).unwrap();
            wide.narrow(2, 0, positions).unwrap()
        };
        let (cached_k, cached_v) = (cached(&k), cached(&v));
        assert!(!cached_k.is_contiguous());
        let from_cache = attention(&q, &cached_k, &cached_v, Some(&mask), scale as f32).unwrap();
        assert_eq!(max_diff(&from_cache, &ours), 0.0);
    }

    #[test]
    fn sequences_with_their_own_keys_attend_as_each_alone() {
        let (heads, kv_heads, dim) = (6, 2, 64);
        // A decode step: one token each over caches of 9, 40 and 17 positions
        // (the middle one masked at position 3); then two tokens each.
        for tokens in [1, 2] {
            let lengths = [9, 40, 17];
            let q = f16_values(&[lengths.len(), heads, tokens, dim], 20);
            let kv: Vec<(Tensor, Tensor)> = (0..lengths.len())
                .map(|s| {
                    let shape = [1, kv_heads, lengths[s], dim];
                    let seed = 30 + 2 * s as u64;
                    (f16_tensor(&shape, seed), f16_tensor(&shape, seed + 1))
                })
                .collect();
            let mut hidden = vec![0f32; tokens * lengths[1]];
            hidden[3] = f32::NEG_INFINITY;
            let mask =
                Tensor::from_vec(hidden, (1, 1, 1, tokens, lengths[1]), &Device::Cpu).unwrap();
            let masks = [None, Some(&mask), None];
            let sequences: Vec<KeysValues> = kv
                .iter()
                .zip(masks)
                .map(|((k, v), mask)| KeysValues { k, v, mask })
                .collect();
            let together = attention_of_sequences(&q, &sequences, 0.125).unwrap();
            assert_eq!(together.dims(), [lengths.len(), heads, tokens, dim]);
            for (s, ((k, v), mask)) in kv.iter().zip(masks).enumerate() {
                let row = q.narrow(0, s, 1).unwrap();
                let alone = attention(&row, k, v, mask, 0.125).unwrap();
                let got = together.narrow(0, s, 1).unwrap();
                assert_eq!(max_diff(&got, &alone), 0.0, "sequence {s}, {tokens} tokens");
            }
            // More query rows than the sequences hold is an error.
            assert!(attention_of_sequences(&q, &sequences[..2], 0.125).is_err());
        }
    }

    #[test]
    fn heads_sharing_keys_attend_as_each_head_alone_bit_for_bit() {
        if !vector_loops_run_here() {
            return;
        }
        // Four heads a key/value head: the vector loops take three, then one.
        let (heads, kv_heads, positions, dim) = (8, 2, 37, 64);
        let q = f16_values(&[1, heads, 1, dim], 50);
        let (k, v) = (
            f16_tensor(&[1, kv_heads, positions, dim], 51),
            f16_tensor(&[1, kv_heads, positions, dim], 52),
        );
        let mut hidden = vec![0f32; positions];
        hidden[5] = f32::NEG_INFINITY;
        let mask = Tensor::from_vec(hidden.clone(), (1, 1, 1, 1, positions), &Device::Cpu).unwrap();
        let scale = 0.125;
        let ours = attention(&q, &k, &v, Some(&mask), scale).unwrap();
        let ours = ours.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        // Each head alone through the scalar loops.
        let queries = q.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let halves = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f16>().unwrap();
        let (keys, values) = (halves(&k), halves(&v));
        let block = positions * dim;
        for head in 0..heads {
            let kv_head = head / (heads / kv_heads);
            let (keys, values) = (
                &keys[kv_head * block..][..block],
                &values[kv_head * block..][..block],
            );
            let query = &queries[head * dim..][..dim];
            let mut weights: Vec<f32> = (0..positions)
                .map(|p| {
                    let key: Vec<f32> = keys[p * dim..][..dim].iter().map(|k| k.to_f32()).collect();
                    Order::Vectors.dot(query, &key) * scale + hidden[p]
                })
                .collect();
            softmax_f16(&mut weights);
            let mut expected = vec![0f32; dim];
            weighted_values(Order::Vectors, &weights, values, &mut expected);
            let got = &ours[head * dim..][..dim];
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(got), bits(&expected), "head {head}");
        }
    }

    #[test]
    fn tiled_scores_sum_as_one_product_does() {
        for (positions, dim) in [(37, 64), (16, 32), (5, 128)] {
            let keys = f16_values(&[positions, dim], 11).flatten_all().unwrap();
            let keys = keys.to_vec1::<f32>().unwrap();
            let query = f16_values(&[dim], 12).to_vec1::<f32>().unwrap();
            assert!(has_x86_features(), "tiled scores need AVX2 and FMA");
            let halves: Vec<f16> = keys.iter().map(|&k| f16::from_f32(k)).collect();
            let tiles = key_tiles(&halves, dim);
            assert_eq!(tiles.len(), positions.div_ceil(LANES) * LANES * dim);
            for (p, key) in keys.chunks_exact(dim).enumerate() {
                let tile = &tiles[p / LANES * LANES * dim..][..LANES * dim];
                // SAFETY: the CPU's features are checked above.
                let scores = unsafe { tile_scores(&query, tile) };
                let alone = Order::Tiles.dot(&query, key);
                assert_eq!(scores[p % LANES].to_bits(), alone.to_bits(), "position {p}");
            }
        }
    }

    #[test]
    fn products_are_summed_in_ggmls_orders() {
        // Terms 0, 16, 32, 48: 2^24, 1, -2^24, 1 (the rest 0). tinyBLAS's lane 0
        // adds them in turn and loses the first 1 (2^24 + 1 rounds to 2^24);
        // `ggml_vec_dot_f16` pairs registers 0 + 2 and 1 + 3 and keeps both.
        let mut terms = [0f32; 64];
        terms[0] = 16_777_216.0;
        terms[16] = 1.0;
        terms[32] = -16_777_216.0;
        terms[48] = 1.0;
        let ones = [1f32; 64];
        assert_eq!(Order::Tiles.dot(&terms, &ones), 1.0);
        assert_eq!(Order::Vectors.dot(&terms, &ones), 2.0);
        // Past the last whole 64 terms, `ggml_vec_dot_f16` adds in f64.
        let mut longer = [0f32; 66];
        longer[..64].copy_from_slice(&terms);
        longer[64] = 0.25;
        let ones = [1f32; 66];
        assert_eq!(Order::Vectors.dot(&longer, &ones), 2.25);
    }

    /// Whether the AVX-512 loops run here; says so when they do not.
    fn vector_loops_run_here() -> bool {
        let available = ggml_vectors::available();
        if !available {
            println!("skipped: this CPU lacks AVX-512F, so the vector loops never run on it");
        }
        available
    }

    #[test]
    fn vector_scores_are_the_scalar_sums_bit_for_bit() {
        if !vector_loops_run_here() {
            return;
        }
        // Terms that cancel (as in `products_are_summed_in_ggmls_orders`) in
        // every fourth key, so a wrong order of sums changes bits.
        for (positions, dim) in [(1, 64), (15, 64), (16, 64), (37, 64), (50, 128), (9, 256)] {
            let mut query = f16_values(&[dim], 40).to_vec1::<f32>().unwrap();
            let keys = f16_values(&[positions, dim], 41).flatten_all().unwrap();
            let mut keys = keys.to_vec1::<f32>().unwrap();
            // Products 2^24, 1, -2^24, 1 from f16 keys (4096 * 4096 = 2^24).
            for term in [0, 16, 32, 48] {
                query[term] = 4096.0;
            }
            let tiny = 1.0 / 4096.0;
            for key in keys.chunks_exact_mut(dim).step_by(4) {
                key[..64].copy_from_slice(&[0.0; 64]);
                (key[0], key[16], key[32], key[48]) = (4096.0, tiny, -4096.0, tiny);
            }
            let halves: Vec<f16> = keys.iter().map(|&k| f16::from_f32(k)).collect();
            let hidden: Vec<f32> = (0..positions)
                .map(|p| if p % 5 == 3 { f32::NEG_INFINITY } else { 0.0 })
                .collect();
            for mask in [None, Some(hidden.as_slice())] {
                let scale = 0.125;
                let expected: Vec<f32> = (0..positions)
                    .map(|p| {
                        let dot = Order::Vectors.dot(&query, &keys[p * dim..][..dim]);
                        dot * scale + mask.map_or(0.0, |h| h[p])
                    })
                    .collect();
                let mut got = vec![0f32; positions];
                // SAFETY: checked above that the CPU has AVX-512F; dim is 64k.
                unsafe { ggml_vectors::scores([&query], &halves, scale, mask, [&mut got]) };
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&expected), "{positions} keys of {dim}");
            }
        }
    }

    #[test]
    fn vector_weighted_values_are_the_scalar_sums_bit_for_bit() {
        if !vector_loops_run_here() {
            return;
        }
        // Weights that cancel across the accumulators a fold adds first (p and
        // p + 32, p + 16 and p + 48) and across turns of one accumulator (p and
        // p + 64), so a wrong order of sums changes bits; zero weights too.
        for (positions, dim) in [
            (1, 64),
            (15, 16),
            (64, 64),
            (100, 64),
            (200, 32),
            (300, 128),
        ] {
            let values = f16_values(&[positions, dim], 42).flatten_all().unwrap();
            let mut values = values.to_vec1::<f32>().unwrap();
            let mut weights = f16_values(&[positions], 43).to_vec1::<f32>().unwrap();
            for (p, w) in weights.iter_mut().enumerate() {
                match p % 80 {
                    0 | 16 => *w = 16_777_216.0,
                    32 | 48 | 64 => *w = -16_777_216.0,
                    7 => *w = 0.0,
                    _ => {}
                }
            }
            for value in values.chunks_exact_mut(dim).step_by(16) {
                value.fill(1.0);
            }
            let values: Vec<f16> = values.iter().map(|&v| f16::from_f32(v)).collect();
            let mut expected = vec![0f32; dim];
            weighted_values(Order::Vectors, &weights, &values, &mut expected);
            let mut got = vec![0f32; dim];
            // SAFETY: checked above that the CPU has AVX-512F; dim is 16k.
            unsafe { ggml_vectors::weighted_values([&weights], &values, [&mut got]) };
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&expected), "{positions} values of {dim}");
        }
    }

    #[test]
    fn vector_loops_of_several_heads_are_each_heads_own() {
        if !vector_loops_run_here() {
            return;
        }
        let (positions, dim) = (45, 128);
        let keys: Vec<f16> = (f16_tensor(&[positions, dim], 60).flatten_all().unwrap())
            .to_vec1::<f16>()
            .unwrap();
        let queries: Vec<Vec<f32>> = (0..3)
            .map(|h| f16_values(&[dim], 61 + h).to_vec1::<f32>().unwrap())
            .collect();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut alone = vec![vec![0f32; positions]; 3];
        for (query, weights) in queries.iter().zip(&mut alone) {
            // SAFETY: checked above that the CPU has AVX-512F; dim is 64k.
            unsafe { ggml_vectors::scores([query], &keys, 0.5, None, [weights]) };
        }
        let [mut a, mut b, mut c] = [(); 3].map(|_| vec![0f32; positions]);
        let [q0, q1, q2] = [&queries[0][..], &queries[1][..], &queries[2][..]];
        // SAFETY: as above.
        unsafe { ggml_vectors::scores([q0, q1, q2], &keys, 0.5, None, [&mut a, &mut b, &mut c]) };
        assert_eq!(
            [bits(&a), bits(&b), bits(&c)],
            [0, 1, 2].map(|h| bits(&alone[h]))
        );
        let [mut a, mut b] = [(); 2].map(|_| vec![0f32; positions]);
        // SAFETY: as above.
        unsafe { ggml_vectors::scores([q0, q1], &keys, 0.5, None, [&mut a, &mut b]) };
        assert_eq!([bits(&a), bits(&b)], [0, 1].map(|h| bits(&alone[h])));
        // The weighted values of the same keys (as values) by each head's weights.
        let mut alone_values = vec![vec![0f32; dim]; 3];
        for (weights, out) in alone.iter().zip(&mut alone_values) {
            // SAFETY: as above; dim is 16k.
            unsafe { ggml_vectors::weighted_values([weights], &keys, [out]) };
        }
        let [mut a, mut b, mut c] = [(); 3].map(|_| vec![0f32; dim]);
        let [w0, w1, w2] = [&alone[0][..], &alone[1][..], &alone[2][..]];
        // SAFETY: as above.
        unsafe { ggml_vectors::weighted_values([w0, w1, w2], &keys, [&mut a, &mut b, &mut c]) };
        assert_eq!(
            [bits(&a), bits(&b), bits(&c)],
            [0, 1, 2].map(|h| bits(&alone_values[h]))
        );
    }

    #[test]
    fn vector_swiglu_is_the_scalar_swiglu_bit_for_bit() {
        if !vector_loops_run_here() {
            return;
        }
        let len = 16 * 40;
        let mut g = (random(&[len], 12) * 20.0)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        // Zero, both signs' saturation and values past them.
        g[..6].copy_from_slice(&[0.0, -0.0, 90.0, -90.0, 200.0, -200.0]);
        let u = random(&[len], 13).to_vec1::<f32>().unwrap();
        let expected: Vec<f32> = g
            .iter()
            .zip(&u)
            .map(|(&g, &u)| g / (1.0 + exp(0.0 - g)) * u)
            .collect();
        let mut got = vec![0f32; len];
        // SAFETY: checked above that the CPU has AVX-512F.
        unsafe { ggml_vectors::swiglu(&g, &u, &mut got) };
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&expected));
    }

    #[test]
    fn vector_softmax_is_the_scalar_softmax_bit_for_bit() {
        if !vector_loops_run_here() {
            return;
        }
        for len in [1, 5, 16, 17, 40, 333] {
            let mut x = (random(&[len], len as u64) * 30.0)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            // Hidden positions (a whole sixteen of them where there is room),
            // and values far enough below the maximum that exp saturates to 0.
            for (i, v) in x.iter_mut().enumerate() {
                if (16..32).contains(&i) || i % 7 == 6 {
                    *v = f32::NEG_INFINITY;
                } else if i % 11 == 10 {
                    *v = -1_000.0;
                } else if i % 13 == 12 {
                    *v -= 140.0;
                }
            }
            let mut expected = x.clone();
            softmax_f16(&mut expected);
            // SAFETY: checked above that the CPU has AVX-512F.
            unsafe { ggml_vectors::softmax_f16(&mut x) };
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&x), bits(&expected), "{len} values");
            assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-2);
        }
    }

    #[test]
    fn rope_matches_candles_rotation_in_both_styles() {
        let (batch, heads, tokens, dim) = (2, 3, 5, 16);
        let x = random(&[batch, heads, tokens, dim], 9);
        let base = 10_000f32;
        // Row 1 is padded by two: its tokens sit two positions earlier.
        let position = |row: usize, t: usize| (t + 7).saturating_sub(2 * row);
        let angles: Vec<f32> = (0..batch)
            .flat_map(|row| (0..tokens).map(move |t| (row, t)))
            .flat_map(|(row, t)| {
                (0..dim / 2)
                    .map(move |i| position(row, t) as f32 / base.powf(2.0 * i as f32 / dim as f32))
            })
            .collect();
        let angles = Tensor::from_vec(angles, (batch, tokens, dim / 2), &Device::Cpu).unwrap();
        let (cos, sin) = (angles.cos().unwrap(), angles.sin().unwrap());
        for interleaved in [true, false] {
            let ours = rope(&x, position, base, interleaved).unwrap();
            let candle = if interleaved {
                candle_nn::rotary_emb::rope_i(&x, &cos, &sin)
            } else {
                candle_nn::rotary_emb::rope(&x, &cos, &sin)
            }
            .unwrap();
            assert!(
                max_diff(&ours, &candle) < 1e-5,
                "interleaved: {interleaved}"
            );
        }
        assert!(rope(&x.narrow(3, 0, 5).unwrap(), position, base, true).is_err());

        // The angles kept from one call are not handed to other positions or
        // another base: each call rotates as a fresh thread would.
        let first = rope(&x, position, base, false).unwrap();
        let moved = rope(&x, |row, t| position(row, t) + 1, base, false).unwrap();
        let rebased = rope(&x, position, 500.0, false).unwrap();
        assert!(max_diff(&moved, &first) > 1e-3 && max_diff(&rebased, &first) > 1e-3);
        let copy = x.clone();
        let fresh =
            std::thread::spawn(move || rope(&copy, |row, t| position(row, t) + 1, base, false))
                .join()
                .unwrap()
                .unwrap();
        assert_eq!(max_diff(&fresh, &moved), 0.0);
        assert_eq!(
            max_diff(&rope(&x, position, base, false).unwrap(), &first),
            0.0
        );
    }
}
