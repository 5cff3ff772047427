//! Attention between the projections, as one autograd node for training on the
//! CPU: queries, keys and values as the projections give them (batch, tokens,
//! heads * head_dim) in, the heads' weighted values merged the same way out.
//! Composed from candle ops it is some twelve nodes per layer (head split,
//! transposes, copies, RoPE, scores, scale, mask, softmax, weighted sum, merge),
//! and candle's backward allocates, zeroes and adds a gradient for every input of
//! every one. Here each (row, key-value head) runs on one thread with gemm; the
//! backward recomputes the attention weights from the inputs (as
//! FlashAttention does) instead of keeping a (tokens, tokens) tensor per head,
//! and, as FlashAttention does, takes the queries in blocks that multiply only
//! the keys the mask leaves them (with a causal mask, none past the block).

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rten_simd::SimdOp;
use rten_vecmath::Softmax;

use super::cpu_pool::new_chunked;
use super::dense_product::{serial_product_into, Matrix, ProductPrecision};
use super::lane_sums;
use super::tensor_values::{cpu_values, values};

/// The heads of one attention layer.
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// Multiplies the scores (`1 / sqrt(head_dim)`).
    pub scale: f32,
}

/// The rotation of queries and keys: cosine and sine tables, (tokens, head_dim
/// / 2) shared by every row or (batch, tokens, head_dim / 2).
#[derive(Clone, Copy)]
pub struct Rotation<'a> {
    pub cos: &'a Tensor,
    pub sin: &'a Tensor,
    /// Pairs adjacent dimensions (else the two halves).
    pub interleaved: bool,
}

/// Softmax-weighted values of rotated queries and keys, with an additive `mask`
/// (rows, 1, 1, tokens, tokens) where rows is 1 or batch.
pub fn attention_core(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: Heads,
    rotation: Rotation,
    mask: Option<&Tensor>,
) -> Result<Tensor> {
    let op = AttentionCore::new(q, heads, rotation, mask, ProductPrecision::F32)?;
    q.contiguous()?
        .apply_op3(&k.contiguous()?, &v.contiguous()?, op)
}

pub(crate) struct AttentionCore {
    heads: Heads,
    batch: usize,
    tokens: usize,
    /// (table_rows, tokens, head_dim / 2) each.
    cos: Vec<f32>,
    sin: Vec<f32>,
    /// 1 (every batch row at the same positions) or batch.
    table_rows: usize,
    interleaved: bool,
    /// (mask_rows, tokens, tokens), additive.
    mask: Option<Vec<f32>>,
    /// 1 (the same mask for every batch row) or batch.
    mask_rows: usize,
    /// For each (mask row, query): one past the last key the mask leaves
    /// visible. Keys past a row block's largest are skipped, not multiplied.
    key_extents: Option<Vec<usize>>,
    /// Query rows per block ([`ROW_BLOCK`]; smaller in tests).
    row_block: usize,
    /// The operands of the score and value products.
    precision: ProductPrecision,
}

/// Query rows whose scores one product computes: with a causal mask, each block
/// multiplies only the keys up to its last query, about 5/8 of the (tokens,
/// tokens) scores for 128 tokens (4 blocks).
const ROW_BLOCK: usize = 32;

/// Query rows `start..end` of one batch row, which see keys `0..keys` at most.
struct RowBlock {
    start: usize,
    end: usize,
    keys: usize,
}

/// For each row of `mask`'s (rows, tokens) additive values: one past the last
/// finite one (`tokens` for a row with none, which the softmax leaves NaN).
fn key_extents(mask: &[f32], tokens: usize) -> Vec<usize> {
    mask.chunks_exact(tokens)
        .map(|row| {
            row.iter()
                .rposition(|m| m.is_finite())
                .map_or(tokens, |last| last + 1)
        })
        .collect()
}

/// One head's tokens in one batch row: `values` from the first token's first
/// element on, each token `row_stride` after the one before.
#[derive(Clone, Copy)]
struct HeadRows<'a> {
    values: &'a [f32],
    row_stride: usize,
}

/// What the heads of one (batch row, key-value head) share: their rotated keys
/// (tokens, head_dim) and their values.
struct KeyValueUnit<'a> {
    row: usize,
    kv: usize,
    keys: Vec<f32>,
    values: Matrix<'a>,
}

impl AttentionCore {
    fn group(&self) -> usize {
        self.heads.heads / self.heads.kv_heads
    }

    /// Head `head` of batch row `row` in a (batch, tokens, count * head_dim) input.
    fn head_rows<'a>(&self, x: &'a [f32], row: usize, head: usize, count: usize) -> HeadRows<'a> {
        let d = self.heads.head_dim;
        HeadRows {
            values: &x[(row * self.tokens * count + head) * d..],
            row_stride: count * d,
        }
    }

    /// Head `head` of batch row `row` in a (batch, tokens, count * head_dim)
    /// input, as a (tokens, head_dim) matrix.
    fn head_matrix<'a>(
        &self,
        x: &'a [f32],
        row: usize,
        head: usize,
        count: usize,
    ) -> Result<Matrix<'a>> {
        let rows = self.head_rows(x, row, head, count);
        Matrix::strided(
            rows.values,
            self.tokens,
            self.heads.head_dim,
            rows.row_stride,
        )
    }

    /// Unit `unit`'s batch row, key-value head, rotated keys and values.
    fn key_value_unit<'a>(&self, k: &[f32], v: &'a [f32], unit: usize) -> Result<KeyValueUnit<'a>> {
        let kv_heads = self.heads.kv_heads;
        let (row, kv) = (unit / kv_heads, unit % kv_heads);
        let mut keys = vec![0f32; self.tokens * self.heads.head_dim];
        self.rotate(self.head_rows(k, row, kv, kv_heads), row, 1.0, &mut keys);
        Ok(KeyValueUnit {
            row,
            kv,
            keys,
            values: self.head_matrix(v, row, kv, kv_heads)?,
        })
    }

    /// Head `j` of `unit`'s group: its rotated queries into `queries`; returns
    /// the head's index.
    fn rotated_queries(
        &self,
        q: &[f32],
        unit: &KeyValueUnit,
        j: usize,
        queries: &mut [f32],
    ) -> usize {
        let head = unit.kv * self.group() + j;
        self.rotate(
            self.head_rows(q, unit.row, head, self.heads.heads),
            unit.row,
            1.0,
            queries,
        );
        head
    }

    /// Rotates contiguous (tokens, head_dim) gradients of batch row `row` back
    /// into `out`: a rotation's gradient is the inverse rotation.
    fn rotate_back(&self, rotated: &[f32], row: usize, out: &mut [f32]) {
        let rows = HeadRows {
            values: rotated,
            row_stride: self.heads.head_dim,
        };
        self.rotate(rows, row, -1.0, out);
    }

    /// Rotates `rows` (tokens, head_dim) of batch row `row` into `out`
    /// (contiguous); `sign` -1 rotates back, which is a rotation's gradient.
    fn rotate(&self, rows: HeadRows, row: usize, sign: f32, out: &mut [f32]) {
        let d = self.heads.head_dim;
        let half = d / 2;
        let table = (row % self.table_rows) * self.tokens * half;
        // One loop a pairing, without indexing, so that each vectorises.
        for i in 0..self.tokens {
            let x = &rows.values[i * rows.row_stride..][..d];
            let y = &mut out[i * d..][..d];
            let cos = &self.cos[table + i * half..][..half];
            let sin = &self.sin[table + i * half..][..half];
            let angles = cos.iter().zip(sin);
            if self.interleaved {
                let pairs = y.chunks_exact_mut(2).zip(x.chunks_exact(2));
                for ((y, x), (&c, &s)) in pairs.zip(angles) {
                    let s = sign * s;
                    y[0] = x[0] * c - x[1] * s;
                    y[1] = x[0] * s + x[1] * c;
                }
            } else {
                let ((x_low, x_high), (y_low, y_high)) = (x.split_at(half), y.split_at_mut(half));
                let lows = y_low.iter_mut().zip(x_low);
                let highs = y_high.iter_mut().zip(x_high);
                for (((y_a, &a), (y_b, &b)), (&c, &s)) in lows.zip(highs).zip(angles) {
                    let s = sign * s;
                    *y_a = a * c - b * s;
                    *y_b = a * s + b * c;
                }
            }
        }
    }

    /// Batch row `row`'s query rows in blocks of [`ROW_BLOCK`], each with the
    /// keys any of its rows can see.
    fn row_blocks(&self, row: usize) -> impl Iterator<Item = RowBlock> + '_ {
        let t = self.tokens;
        let extents = self
            .key_extents
            .as_deref()
            .map(|e| &e[(row % self.mask_rows) * t..][..t]);
        (0..t).step_by(self.row_block).map(move |start| {
            let end = t.min(start + self.row_block);
            let keys = extents.map_or(t, |e| e[start..end].iter().copied().max().unwrap_or(t));
            RowBlock { start, end, keys }
        })
    }

    /// Attention weights of `block`'s rotated queries (from `q`, (tokens,
    /// head_dim)) over the rotated keys `k` it can see, in batch row `row`: the
    /// first (block rows, block keys) values of `weights`, which it returns.
    fn block_weights<'w>(
        &self,
        q: &[f32],
        k: &[f32],
        row: usize,
        block: &RowBlock,
        weights: &'w mut [f32],
    ) -> Result<&'w [f32]> {
        let (t, d) = (self.tokens, self.heads.head_dim);
        let (rows, keys) = (block.end - block.start, block.keys);
        let weights = &mut weights[..rows * keys];
        serial_product_into(
            weights,
            false,
            Matrix::new(q, t, d)?.row_range(block.start, block.end),
            Matrix::new(&k[..keys * d], keys, d)?.t(),
            self.heads.scale,
            self.precision,
        )?;
        let mask = self
            .mask
            .as_deref()
            .map(|m| &m[(row % self.mask_rows) * t * t..][..t * t]);
        for (i, scores) in weights.chunks_exact_mut(keys).enumerate() {
            if let Some(mask) = mask {
                let mask = &mask[(block.start + i) * t..][..keys];
                scores.iter_mut().zip(mask).for_each(|(s, m)| *s += m);
            }
            Softmax::new_mut(scores).dispatch();
        }
        Ok(weights)
    }

    /// The forward pass of batch row `row`, key-value head `kv`: its group's
    /// heads' outputs into `out`, (group, tokens, head_dim).
    fn forward_unit(
        &self,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        unit: usize,
        out: &mut [f32],
    ) -> Result<()> {
        let (t, d) = (self.tokens, self.heads.head_dim);
        let unit = self.key_value_unit(k, v, unit)?;
        let mut queries = vec![0f32; t * d];
        let mut weights = vec![0f32; self.row_block.min(t) * t];
        for (j, out) in out.chunks_exact_mut(t * d).enumerate() {
            self.rotated_queries(q, &unit, j, &mut queries);
            for block in self.row_blocks(unit.row) {
                let p = self.block_weights(&queries, &unit.keys, unit.row, &block, &mut weights)?;
                serial_product_into(
                    &mut out[block.start * d..block.end * d],
                    false,
                    Matrix::new(p, block.end - block.start, block.keys)?,
                    unit.values.row_range(0, block.keys),
                    1.0,
                    self.precision,
                )?;
            }
        }
        Ok(())
    }

    /// The backward pass of one (row, key-value head): the gradients of its
    /// group's queries (group, tokens, head_dim), its keys and its values
    /// (tokens, head_dim) each, which must come zeroed.
    fn backward_unit(
        &self,
        inputs: [&[f32]; 3],
        grad: &[f32],
        unit: usize,
        grad_q: &mut [f32],
        grad_k: &mut [f32],
        grad_v: &mut [f32],
    ) -> Result<()> {
        let [q, k, v] = inputs;
        let (t, d, scale) = (self.tokens, self.heads.head_dim, self.heads.scale);
        let unit = self.key_value_unit(k, v, unit)?;
        let mut queries = vec![0f32; t * d];
        let mut weights = vec![0f32; self.row_block.min(t) * t];
        let mut grad_scores = vec![0f32; self.row_block.min(t) * t];
        let mut grad_rotated = vec![0f32; t * d];
        let mut grad_keys = vec![0f32; t * d];
        for (j, grad_q) in grad_q.chunks_exact_mut(t * d).enumerate() {
            let head = self.rotated_queries(q, &unit, j, &mut queries);
            let grad_out = self.head_matrix(grad, unit.row, head, self.heads.heads)?;
            for block in self.row_blocks(unit.row) {
                let (rows, keys) = (block.end - block.start, block.keys);
                let p = self.block_weights(&queries, &unit.keys, unit.row, &block, &mut weights)?;
                let weights_matrix = Matrix::new(p, rows, keys)?;
                let grad_out = grad_out.row_range(block.start, block.end);
                // dV += Pᵀ dO; dP = dO Vᵀ.
                serial_product_into(
                    &mut grad_v[..keys * d],
                    true,
                    weights_matrix.t(),
                    grad_out,
                    1.0,
                    self.precision,
                )?;
                let grad_p = &mut grad_scores[..rows * keys];
                let values = unit.values.row_range(0, keys);
                serial_product_into(grad_p, false, grad_out, values.t(), 1.0, self.precision)?;
                // dS = P (dP - rowsum(dP P)), the softmax's backward.
                for (ds, p) in grad_p.chunks_exact_mut(keys).zip(p.chunks_exact(keys)) {
                    let dot = lane_sums::dot(ds, p);
                    ds.iter_mut().zip(p).for_each(|(g, p)| *g = p * (*g - dot));
                }
                let grad_s = Matrix::new(grad_p, rows, keys)?;
                // dQ = scale dS K, dK += scale dSᵀ Q, both still rotated.
                let block_keys = Matrix::new(&unit.keys[..keys * d], keys, d)?;
                let grad_q_rows = &mut grad_rotated[block.start * d..block.end * d];
                serial_product_into(
                    grad_q_rows,
                    false,
                    grad_s,
                    block_keys,
                    scale,
                    self.precision,
                )?;
                let block_queries = Matrix::new(&queries, t, d)?.row_range(block.start, block.end);
                serial_product_into(
                    &mut grad_keys[..keys * d],
                    true,
                    grad_s.t(),
                    block_queries,
                    scale,
                    self.precision,
                )?;
            }
            self.rotate_back(&grad_rotated, unit.row, grad_q);
        }
        self.rotate_back(&grad_keys, unit.row, grad_k);
        Ok(())
    }

    /// (batch, heads, tokens, head_dim) values as (batch, tokens, heads * head_dim).
    fn merge_heads(&self, x: &[f32], heads: usize) -> Result<Vec<f32>> {
        let (t, d) = (self.tokens, self.heads.head_dim);
        let row_len = heads * d;
        let [out] = new_chunked([(x.len(), row_len)], x.len() / row_len, |index, [row]| {
            let (b, i) = (index / t, index % t);
            for (h, dst) in row.chunks_exact_mut(d).enumerate() {
                dst.copy_from_slice(&x[((b * heads + h) * t + i) * d..][..d]);
            }
            Ok(())
        })?;
        Ok(out)
    }

    fn check(&self, q: &Shape, k: &Shape, v: &Shape) -> Result<()> {
        let Heads {
            heads,
            kv_heads,
            head_dim,
            ..
        } = self.heads;
        let (b, t) = (self.batch, self.tokens);
        let expected = [(q, heads), (k, kv_heads), (v, kv_heads)];
        if heads % kv_heads != 0
            || head_dim % 2 != 0
            || expected
                .iter()
                .any(|(shape, n)| shape.dims() != [b, t, n * head_dim])
        {
            candle_core::bail!(
                "attention core: q {q:?}, k {k:?}, v {v:?} do not fit {heads} heads, \
                 {kv_heads} key-value heads of {head_dim}"
            );
        }
        let table = self.table_rows * t * head_dim / 2;
        if self.cos.len() != table || self.sin.len() != table {
            candle_core::bail!(
                "attention core: RoPE tables of {} values, expected {table}",
                self.cos.len()
            );
        }
        if let Some(mask) = &self.mask {
            if mask.len() != self.mask_rows * t * t {
                candle_core::bail!(
                    "attention core: a mask of {} values for {t} tokens",
                    mask.len()
                );
            }
        }
        Ok(())
    }
}

impl AttentionCore {
    /// The kernel for queries `q` (batch, tokens, heads * head_dim); see
    /// [`attention_core`].
    pub(crate) fn new(
        q: &Tensor,
        heads: Heads,
        rotation: Rotation,
        mask: Option<&Tensor>,
        precision: ProductPrecision,
    ) -> Result<Self> {
        let (batch, tokens, _) = q.dims3()?;
        let values = |t: &Tensor| t.flatten_all()?.to_vec1::<f32>();
        let table_rows = if rotation.cos.rank() == 3 { batch } else { 1 };
        let mask_rows = mask.map_or(Ok(1), |m| m.dim(0))?;
        let mask = mask.map(values).transpose()?;
        let key_extents = mask.as_deref().map(|m| key_extents(m, tokens));
        Ok(Self {
            heads,
            batch,
            tokens,
            cos: values(rotation.cos)?,
            sin: values(rotation.sin)?,
            table_rows,
            interleaved: rotation.interleaved,
            mask,
            mask_rows,
            key_extents,
            row_block: ROW_BLOCK,
            precision,
        })
    }

    /// The gradients of the queries, keys and values.
    pub(crate) fn gradients(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        grad: &Tensor,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let (t, d) = (self.tokens, self.heads.head_dim);
        let grad = grad.contiguous()?;
        let (qs, ks, vs, g) = (values(q)?, values(k)?, values(v)?, values(&grad)?);
        let units = ks.len() / (t * d);
        let [grad_q, grad_k, grad_v] = new_chunked(
            [
                (qs.len(), self.group() * t * d),
                (ks.len(), t * d),
                (vs.len(), t * d),
            ],
            units,
            |unit, [gq, gk, gv]| self.backward_unit([&qs, &ks, &vs], &g, unit, gq, gk, gv),
        )?;
        let kv_heads = self.heads.kv_heads;
        let tensor =
            |values: Vec<f32>, like: &Tensor| Tensor::from_vec(values, like.shape(), like.device());
        Ok((
            tensor(self.merge_heads(&grad_q, self.heads.heads)?, q)?,
            tensor(self.merge_heads(&grad_k, kv_heads)?, k)?,
            tensor(self.merge_heads(&grad_v, kv_heads)?, v)?,
        ))
    }
}

impl CustomOp3 for AttentionCore {
    fn name(&self) -> &'static str {
        "attention-core"
    }

    fn cpu_fwd(
        &self,
        q: &CpuStorage,
        q_layout: &Layout,
        k: &CpuStorage,
        k_layout: &Layout,
        v: &CpuStorage,
        v_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.check(q_layout.shape(), k_layout.shape(), v_layout.shape())?;
        let (q, k, v) = (
            cpu_values(q, q_layout)?,
            cpu_values(k, k_layout)?,
            cpu_values(v, v_layout)?,
        );
        let unit_len = self.group() * self.tokens * self.heads.head_dim;
        let units = q.len() / unit_len;
        let [heads_first] = new_chunked([(q.len(), unit_len)], units, |unit, [out]| {
            self.forward_unit(q, k, v, unit, out)
        })?;
        let out = self.merge_heads(&heads_first, self.heads.heads)?;
        Ok((CpuStorage::F32(out), q_layout.shape().clone()))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (grad_q, grad_k, grad_v) = self.gradients(q, k, v, grad)?;
        Ok((Some(grad_q), Some(grad_k), Some(grad_v)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{max_diff, random};
    use super::*;
    use candle_core::{Var, D};

    /// candle's composed attention, as the transformer's inference path runs it.
    fn composed(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        heads: Heads,
        rotation: &Rotation,
        mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (b, t, _) = q.dims3()?;
        let d = heads.head_dim;
        let split = |x: &Tensor, n: usize| x.reshape((b, t, n, d))?.transpose(1, 2)?.contiguous();
        // The training path's RoPE node (checked against candle's composed RoPE
        // in `autograd`), as candle's composed one has no per-row tables.
        let rotate = |x: Tensor| {
            super::super::autograd::rope(&x, rotation.cos, rotation.sin, rotation.interleaved)
        };
        let q = rotate(split(q, heads.heads)?)?;
        let k = rotate(split(k, heads.kv_heads)?)?;
        let v = split(v, heads.kv_heads)?;
        let group = heads.heads / heads.kv_heads;
        let q = q.reshape((b, heads.kv_heads, group * t, d))?;
        let mut scores = (q.matmul(&k.t()?)? * heads.scale as f64)?;
        if let Some(mask) = mask {
            scores = scores
                .reshape((b, heads.kv_heads, group, t, t))?
                .broadcast_add(mask)?
                .reshape((b, heads.kv_heads, group * t, t))?;
        }
        candle_nn::ops::softmax(&scores, D::Minus1)?
            .matmul(&v)?
            .reshape((b, heads.heads, t, d))?
            .transpose(1, 2)?
            .reshape((b, t, heads.heads * d))
    }

    /// A causal mask per row whose first `padding[row]` positions see only
    /// themselves, as the transformer's masks are.
    fn padded_causal_mask(tokens: usize, padding: &[usize]) -> Tensor {
        let mut values = Vec::new();
        for &pad in padding {
            for i in 0..tokens {
                for j in 0..tokens {
                    let visible = if i < pad { i == j } else { j <= i && j >= pad };
                    values.push(if visible { 0f32 } else { f32::NEG_INFINITY });
                }
            }
        }
        Tensor::from_vec(
            values,
            (padding.len(), 1, 1, tokens, tokens),
            &candle_core::Device::Cpu,
        )
        .unwrap()
    }

    /// Values and the gradients of queries, keys and values equal candle's
    /// autodiff of the composed attention: grouped heads, both RoPE layouts,
    /// shared and per-row tables, no mask, a causal mask and a padded one.
    #[test]
    fn gradients_match_autodiff_of_composed_attention() {
        let heads = Heads {
            heads: 4,
            kv_heads: 2,
            head_dim: 8,
            scale: 0.35,
        };
        let (b, t) = (2, 5);
        let shared = random(&[t, 4], 4);
        let per_row = random(&[b, t, 4], 5);
        let causal = padded_causal_mask(t, &[0]);
        let padded = padded_causal_mask(t, &[0, 2]);
        let cases = [
            (&shared, true, None),
            (&shared, false, Some(&causal)),
            (&per_row, true, Some(&padded)),
            (&per_row, false, Some(&padded)),
        ];
        for (angles, interleaved, mask) in cases {
            let (cos, sin) = (angles.cos().unwrap(), angles.sin().unwrap());
            let rotation = Rotation {
                cos: &cos,
                sin: &sin,
                interleaved,
            };
            let q = Var::from_tensor(&random(&[b, t, 32], 1)).unwrap();
            let k = Var::from_tensor(&random(&[b, t, 16], 2)).unwrap();
            let v = Var::from_tensor(&random(&[b, t, 16], 3)).unwrap();
            let r = random(&[b, t, 32], 6);
            let run = |y: Tensor| {
                let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
                let grad = |x: &Var| grads.get(x.as_tensor()).unwrap().clone();
                [y, grad(&q), grad(&k), grad(&v)]
            };
            let reference = run(composed(&q, &k, &v, heads, &rotation, mask).unwrap());
            // Whole (5, 5) scores, and blocks of 2 query rows (the last of 1)
            // that skip the keys a causal mask hides.
            for row_block in [ROW_BLOCK, 2] {
                let mut op =
                    AttentionCore::new(&q, heads, rotation, mask, ProductPrecision::F32).unwrap();
                op.row_block = row_block;
                let fused = run(q.as_tensor().apply_op3(&k, &v, op).unwrap());
                for (name, (a, b)) in ["values", "q", "k", "v"]
                    .iter()
                    .zip(fused.iter().zip(&reference))
                {
                    let diff = max_diff(a, b);
                    assert!(
                        diff < 1e-5,
                        "{name} differ by {diff} (interleaved {interleaved}, mask {}, \
                         blocks of {row_block})",
                        mask.is_some()
                    );
                }
            }
        }
    }

    /// A row's extent ends after its last visible key: causal rows at their own
    /// position, rows with no visible key at the end.
    #[test]
    fn key_extents_end_after_the_last_visible_key() {
        let padded = padded_causal_mask(4, &[2]).flatten_all().unwrap();
        assert_eq!(key_extents(&padded.to_vec1().unwrap(), 4), [1, 2, 3, 4]);
        let (hidden, seen) = (f32::NEG_INFINITY, 0.0);
        let mask = [
            seen, hidden, seen, hidden, hidden, hidden, hidden, hidden, seen,
        ];
        assert_eq!(key_extents(&mask, 3), [3, 3, 3]);
        assert_eq!(key_extents(&[seen, hidden, hidden, hidden], 2), [1, 2]);
    }

    #[test]
    fn rejects_inputs_that_do_not_fit_the_heads_mask_or_tables() {
        let heads = Heads {
            heads: 4,
            kv_heads: 2,
            head_dim: 8,
            scale: 1.0,
        };
        let angles = random(&[3, 4], 1);
        let (cos, sin) = (angles.cos().unwrap(), angles.sin().unwrap());
        let rotation = Rotation {
            cos: &cos,
            sin: &sin,
            interleaved: true,
        };
        let q = random(&[1, 3, 32], 1);
        let k = random(&[1, 3, 8], 2);
        let error = attention_core(&q, &k, &k, heads, rotation, None).unwrap_err();
        assert!(error.to_string().contains("do not fit"), "{error}");
        // A mask for a different number of positions.
        let k = random(&[1, 3, 16], 2);
        let mask = padded_causal_mask(4, &[0]);
        let error = attention_core(&q, &k, &k, heads, rotation, Some(&mask)).unwrap_err();
        assert!(error.to_string().contains("mask of 16 values"), "{error}");
        // Tables for fewer tokens than the input has.
        let short = random(&[2, 4], 3);
        let rotation = Rotation {
            cos: &short,
            sin: &short,
            interleaved: true,
        };
        let error = attention_core(&q, &k, &k, heads, rotation, None).unwrap_err();
        assert!(error.to_string().contains("RoPE tables"), "{error}");
    }
}
