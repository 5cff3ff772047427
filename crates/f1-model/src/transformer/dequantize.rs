//! Dequantizing a weight to f32 on every core. candle's `QTensor::dequantize`
//! runs on one, and training's frozen quantized base dequantizes each projection
//! twice a step (forward and backward): 4-5% of a LoRA step single-threaded.
//! Q4_1 (SmolLM2's format) is decoded here rather than by candle's scalar
//! `to_float`; every format writes a new buffer that each thread zeroes only piece
//! by piece, just before decoding into it (no separate pass over the whole
//! buffer): with candle's decoder and a whole-buffer zero-fill that was 7% of a
//! LoRA step.

use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8K,
    BlockQ8_0, GgmlType,
};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Result, Tensor};
use std::borrow::Cow;

use super::cpu_pool::new_chunked;
use super::dense_product::ColumnBlocks;
#[cfg(target_arch = "x86_64")]
use super::q4_1_bf16;
use super::quantized_blocks::blocks;
use super::quantized_matmul::{self, BLOCK};

/// `weight` in f32, its blocks decoded in parallel on the CPU (on other devices,
/// or for unquantized types, candle's own dequantize).
pub fn dequantize(weight: &QTensor) -> Result<Tensor> {
    if !weight.device().is_cpu() {
        return weight.dequantize(&weight.device());
    }
    match weight.dtype() {
        GgmlDType::Q4_0 => decode::<BlockQ4_0>(weight),
        GgmlDType::Q4_1 => decode_q4_1(weight),
        GgmlDType::Q5_0 => decode::<BlockQ5_0>(weight),
        GgmlDType::Q5_1 => decode::<BlockQ5_1>(weight),
        GgmlDType::Q8_0 => decode::<BlockQ8_0>(weight),
        GgmlDType::Q2K => decode::<BlockQ2K>(weight),
        GgmlDType::Q3K => decode::<BlockQ3K>(weight),
        GgmlDType::Q4K => decode::<BlockQ4K>(weight),
        GgmlDType::Q5K => decode::<BlockQ5K>(weight),
        GgmlDType::Q6K => decode::<BlockQ6K>(weight),
        GgmlDType::Q8K => decode::<BlockQ8K>(weight),
        _ => weight.dequantize(&weight.device()),
    }
}

/// Blocks decoded per work item: big enough to amortise the hand-off.
const BLOCKS_PER_ITEM: usize = 256;

fn decode<T: GgmlType + Sync>(weight: &QTensor) -> Result<Tensor> {
    let elements = weight.shape().elem_count();
    let bytes = weight.data()?;
    let weight_blocks = blocks::<T>(&bytes, elements / T::BLCK_SIZE)?;
    let items = weight_blocks.len().div_ceil(BLOCKS_PER_ITEM);
    let [out] = new_chunked(
        [(elements, BLOCKS_PER_ITEM * T::BLCK_SIZE)],
        items,
        |item, [values]| {
            let first = item * BLOCKS_PER_ITEM;
            let last = (first + BLOCKS_PER_ITEM).min(weight_blocks.len());
            T::to_float(&weight_blocks[first..last], values);
            Ok(())
        },
    )?;
    Tensor::from_vec(out, weight.shape(), &candle_core::Device::Cpu)
}

/// A Q4_1 weight in f32: each value `d * q + m`, low nibbles first.
fn decode_q4_1(weight: &QTensor) -> Result<Tensor> {
    let bytes = weight.data()?;
    let elements = weight.shape().elem_count();
    let blocks = blocks::<quantized_matmul::BlockQ4_1>(&bytes, elements / BLOCK)?;
    let [out] = new_chunked(
        [(blocks.len() * BLOCK, BLOCKS_PER_ITEM * BLOCK)],
        blocks.len().div_ceil(BLOCKS_PER_ITEM),
        |item, [values]| {
            let first = item * BLOCKS_PER_ITEM;
            for (block, values) in blocks[first..].iter().zip(values.chunks_exact_mut(BLOCK)) {
                for (value, decoded) in values.iter_mut().zip(block.values()) {
                    *value = decoded;
                }
            }
            Ok(())
        },
    )?;
    Tensor::from_vec(out, weight.shape(), &candle_core::Device::Cpu)
}

/// A Q4_1 weight (out, in) as the right-hand side of a product, `W` or (when
/// `transposed`) `W^T`, decoded a column block at a time by the thread that
/// multiplies it: no weight-sized f32 buffer is written and read back.
pub struct Q4_1Rows<'a> {
    bytes: Cow<'a, [u8]>,
    outputs: usize,
    inputs: usize,
    transposed: bool,
}

impl<'a> Q4_1Rows<'a> {
    /// Fails unless `weight` is a 2-d Q4_1 tensor on the CPU.
    pub fn new(weight: &'a QTensor, transposed: bool) -> Result<Self> {
        let (outputs, inputs) = weight.shape().dims2()?;
        if weight.dtype() != GgmlDType::Q4_1 || !weight.device().is_cpu() {
            candle_core::bail!("Q4_1 rows: a {:?} weight", weight.dtype());
        }
        let rows = Self {
            bytes: weight.data()?,
            outputs,
            inputs,
            transposed,
        };
        blocks::<quantized_matmul::BlockQ4_1>(&rows.bytes, rows.block_count())?;
        Ok(rows)
    }

    fn block_count(&self) -> usize {
        self.outputs * self.inputs / BLOCK
    }

    fn blocks(&self) -> &[quantized_matmul::BlockQ4_1] {
        blocks(&self.bytes, self.block_count()).expect("checked when the rows were made")
    }
}

impl ColumnBlocks for Q4_1Rows<'_> {
    fn dims(&self) -> (usize, usize) {
        match self.transposed {
            true => (self.inputs, self.outputs),
            false => (self.outputs, self.inputs),
        }
    }

    /// `W`'s columns are cut at block boundaries; `W^T`'s are whole rows of `W`.
    fn alignment(&self) -> usize {
        if self.transposed {
            1
        } else {
            BLOCK
        }
    }

    fn write_block(&self, start: usize, width: usize, buffer: &mut Vec<f32>) -> bool {
        let per_row = self.inputs / BLOCK;
        let blocks = self.blocks();
        let mut decode = |blocks: &[quantized_matmul::BlockQ4_1]| {
            for block in blocks {
                buffer.extend_from_slice(&block.values());
            }
        };
        if self.transposed {
            // Rows `start..start + width` of W: (width, in), the block's transpose.
            decode(&blocks[start * per_row..(start + width) * per_row]);
        } else {
            // Inputs `start..start + width` of every row: (out, width).
            let (first, count) = (start / BLOCK, width / BLOCK);
            for row in blocks.chunks_exact(per_row) {
                decode(&row[first..first + count]);
            }
        }
        self.transposed
    }

    #[cfg(target_arch = "x86_64")]
    fn pack_bf16_block(&self, start: usize, width: usize, packed: &mut [u32]) {
        let per_row = self.inputs / BLOCK;
        match self.transposed {
            true => q4_1_bf16::pack_rows(self.blocks(), per_row, start, width, packed),
            false => {
                let shape = (self.outputs, per_row);
                q4_1_bf16::pack_inputs(self.blocks(), shape, start, width, packed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Every block type decodes exactly as candle's one-thread dequantize, over
    /// more work items than threads and a last item that is not full.
    #[test]
    fn matches_candles_dequantize_for_every_block_type() {
        let (rows, columns) = (3 * BLOCKS_PER_ITEM / 2 + 1, 256);
        let values: Vec<f32> = (0..rows * columns)
            .map(|i| ((i * 7919) % 1001) as f32 / 500.0 - 1.0)
            .collect();
        let dense = Tensor::from_vec(values, (rows, columns), &Device::Cpu).unwrap();
        for dtype in [
            GgmlDType::Q4_0,
            GgmlDType::Q4_1,
            GgmlDType::Q5_0,
            GgmlDType::Q5_1,
            GgmlDType::Q8_0,
            GgmlDType::Q2K,
            GgmlDType::Q3K,
            GgmlDType::Q4K,
            GgmlDType::Q5K,
            GgmlDType::Q6K,
        ] {
            let q = QTensor::quantize(&dense, dtype).unwrap();
            let ours = dequantize(&q).unwrap().to_vec2::<f32>().unwrap();
            let candles = q
                .dequantize(&Device::Cpu)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            assert_eq!(ours, candles, "{dtype:?}");
        }
        // Not only matrices: a 3-d Q4_1 tensor decodes as candle's does too.
        let cube: Vec<f32> = (0..4 * 256).map(|i| (i % 37) as f32 / 18.0 - 1.0).collect();
        let cube = Tensor::from_vec(cube, (2, 2, 256), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&cube, GgmlDType::Q4_1).unwrap();
        assert_eq!(
            dequantize(&q).unwrap().to_vec3::<f32>().unwrap(),
            q.dequantize(&Device::Cpu)
                .unwrap()
                .to_vec3::<f32>()
                .unwrap()
        );
    }

    /// Products with a Q4_1 weight decoded a column block at a time, `x W^T`
    /// and `g W`, equal products with the weight dequantized whole, in f32 and
    /// in bf16 (packed straight from the blocks where the kernel packs), over
    /// more than one column block and within one.
    #[test]
    fn blockwise_q4_1_products_match_the_dequantized_weight() {
        use super::super::dense_product::{blockwise_product, product, Matrix, ProductPrecision};
        let values = |n: usize, seed: usize| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 7919 + seed * 31) % 1001) as f32 / 500.0 - 1.0)
                .collect()
        };
        for (rows, outputs, inputs) in [(3, 200, 256), (5, 40, 64)] {
            let dense =
                Tensor::from_vec(values(outputs * inputs, 1), (outputs, inputs), &Device::Cpu)
                    .unwrap();
            let q = QTensor::quantize(&dense, GgmlDType::Q4_1).unwrap();
            let w = dequantize(&q)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let w = Matrix::new(&w, outputs, inputs).unwrap();
            let (x, g) = (values(rows * inputs, 2), values(rows * outputs, 3));
            let (x, g) = (
                Matrix::new(&x, rows, inputs).unwrap(),
                Matrix::new(&g, rows, outputs).unwrap(),
            );
            for precision in [ProductPrecision::F32, ProductPrecision::Bf16] {
                for (lhs, transposed, rhs) in [(x, true, w.t()), (g, false, w)] {
                    let expected = product(lhs, rhs, 2.0, precision).unwrap();
                    let q_rows = Q4_1Rows::new(&q, transposed).unwrap();
                    let got = blockwise_product(lhs, &q_rows, 2.0, precision).unwrap();
                    assert_eq!(got.len(), expected.len());
                    for (a, b) in got.iter().zip(&expected) {
                        assert!(
                            (a - b).abs() < 1e-3,
                            "{precision:?}, {transposed}: {a} vs {b}"
                        );
                    }
                }
            }
        }
        let dense = Tensor::from_vec(values(64 * 64, 1), (64, 64), &Device::Cpu).unwrap();
        let q8 = QTensor::quantize(&dense, GgmlDType::Q8_0).unwrap();
        assert!(Q4_1Rows::new(&q8, false).is_err(), "only Q4_1");
    }
}
