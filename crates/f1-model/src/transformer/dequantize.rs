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
use super::k_quant_matmul;
#[cfg(target_arch = "x86_64")]
use super::quantized_bf16;
use super::quantized_blocks::blocks;
use super::quantized_matmul::{self, BLOCK};
#[cfg(target_arch = "x86_64")]
use super::{bf16_product::PackedColumns, dense_product::pack_into};

/// `weight` in f32, its blocks decoded in parallel on the CPU (on other devices,
/// or for unquantized types, candle's own dequantize).
pub fn dequantize(weight: &QTensor) -> Result<Tensor> {
    let decode = match decoder(weight.dtype()) {
        Some(decode) if weight.device().is_cpu() => decode,
        _ => return weight.dequantize(&weight.device()),
    };
    let dtype = weight.dtype();
    let (block_inputs, block_bytes) = (dtype.block_size(), dtype.type_size());
    let elements = weight.shape().elem_count();
    let bytes = weight.data()?;
    let block_count = elements / block_inputs;
    if bytes.len() != block_count * block_bytes {
        candle_core::bail!(
            "a {dtype:?} weight of {elements} values in {} bytes",
            bytes.len()
        );
    }
    let [out] = new_chunked(
        [(elements, BLOCKS_PER_ITEM * block_inputs)],
        block_count.div_ceil(BLOCKS_PER_ITEM),
        |item, [values]| {
            let first = item * BLOCKS_PER_ITEM * block_bytes;
            decode(
                &bytes[first..][..values.len() / block_inputs * block_bytes],
                values,
            );
            Ok(())
        },
    )?;
    Tensor::from_vec(out, weight.shape(), &candle_core::Device::Cpu)
}

/// Blocks decoded per work item: big enough to amortise the hand-off.
const BLOCKS_PER_ITEM: usize = 256;

/// The most inputs a block format's block holds (the k-quants' 256).
const MAX_BLOCK_INPUTS: usize = 256;

/// Decodes whole blocks (bytes) into f32 values.
type Decoder = fn(&[u8], &mut [f32]);

/// The block format `dtype`'s decoder: Q4_1 here, the others candle's
/// `to_float`.
fn decoder(dtype: GgmlDType) -> Option<Decoder> {
    Some(match dtype {
        GgmlDType::Q4_0 => decode_bytes::<BlockQ4_0>,
        GgmlDType::Q4_1 => decode_q4_1_bytes,
        GgmlDType::Q5_0 => decode_bytes::<BlockQ5_0>,
        GgmlDType::Q5_1 => decode_bytes::<BlockQ5_1>,
        GgmlDType::Q8_0 => decode_bytes::<BlockQ8_0>,
        GgmlDType::Q2K => decode_bytes::<BlockQ2K>,
        GgmlDType::Q3K => decode_bytes::<BlockQ3K>,
        GgmlDType::Q4K => decode_bytes::<BlockQ4K>,
        GgmlDType::Q5K => decode_bytes::<BlockQ5K>,
        GgmlDType::Q6K => decode_bytes::<BlockQ6K>,
        GgmlDType::Q8K => decode_bytes::<BlockQ8K>,
        _ => return None,
    })
}

/// Whole blocks of `T` in `bytes` decoded into `out` by candle.
fn decode_bytes<T: GgmlType>(bytes: &[u8], out: &mut [f32]) {
    let count = bytes.len() / size_of::<T>();
    T::to_float(
        blocks::<T>(bytes, count).expect("whole blocks, aligned as candle stores them"),
        out,
    );
}

/// Whole Q4_1 blocks in `bytes` decoded into `out`: each value `d * q + m`,
/// low nibbles first.
fn decode_q4_1_bytes(bytes: &[u8], out: &mut [f32]) {
    let count = bytes.len() / size_of::<quantized_matmul::BlockQ4_1>();
    let blocks = blocks::<quantized_matmul::BlockQ4_1>(bytes, count)
        .expect("whole blocks, aligned as candle stores them");
    for (block, out) in blocks.iter().zip(out.chunks_exact_mut(BLOCK)) {
        out.copy_from_slice(&block.values());
    }
}

/// A quantized weight (out, in) as the right-hand side of a product, `W` or
/// (when `transposed`) `W^T`, decoded a column block at a time by the thread
/// that multiplies it: no weight-sized f32 buffer is written and read back.
pub struct QuantizedRows<'a> {
    bytes: Cow<'a, [u8]>,
    /// Which bf16 packer takes it (Q4_1, Q5_0, Q8_0 and Q4_K decode in
    /// registers).
    #[cfg(target_arch = "x86_64")]
    dtype: GgmlDType,
    outputs: usize,
    inputs: usize,
    transposed: bool,
    /// Inputs and bytes a block holds.
    block: (usize, usize),
    /// Decodes whole blocks, as [`dequantize`] does.
    decode: Decoder,
}

impl<'a> QuantizedRows<'a> {
    /// `None` unless `weight` is a 2-d tensor on the CPU in a block format
    /// [`dequantize`] decodes.
    pub fn new(weight: &'a QTensor, transposed: bool) -> Result<Option<Self>> {
        let Some(decode) = decoder(weight.dtype()) else {
            return Ok(None);
        };
        let Ok((outputs, inputs)) = weight.shape().dims2() else {
            return Ok(None);
        };
        if !weight.device().is_cpu() {
            return Ok(None);
        }
        let dtype = weight.dtype();
        let (block_inputs, block_bytes) = (dtype.block_size(), dtype.type_size());
        let bytes = weight.data()?;
        if block_inputs > MAX_BLOCK_INPUTS
            || inputs % block_inputs != 0
            || bytes.len() != outputs * inputs / block_inputs * block_bytes
        {
            candle_core::bail!(
                "a {dtype:?} weight ({outputs}, {inputs}) of {} bytes",
                bytes.len()
            );
        }
        Ok(Some(Self {
            bytes,
            #[cfg(target_arch = "x86_64")]
            dtype,
            outputs,
            inputs,
            transposed,
            block: (block_inputs, block_bytes),
            decode,
        }))
    }

    /// Writes inputs `start..start + out.len()` (whole blocks) of row `row`
    /// into `out`.
    fn decode_inputs(&self, row: usize, start: usize, out: &mut [f32]) {
        let (block_inputs, block_bytes) = self.block;
        let first = (row * self.inputs + start) / block_inputs * block_bytes;
        let bytes = &self.bytes[first..][..out.len() / block_inputs * block_bytes];
        (self.decode)(bytes, out);
    }

    /// Appends inputs `start..start + count` (whole blocks) of row `row` to
    /// `out` a block at a time through the stack, so `out` is written once
    /// (not zeroed first).
    fn append_inputs(&self, row: usize, start: usize, count: usize, out: &mut Vec<f32>) {
        let mut values = [0f32; MAX_BLOCK_INPUTS];
        let values = &mut values[..self.block.0];
        for at in (start..start + count).step_by(self.block.0) {
            self.decode_inputs(row, at, values);
            out.extend_from_slice(values);
        }
    }

    /// Inputs `depth.0..depth.0 + depth.1` of columns `start..start + width`
    /// packed for the bf16 kernels into `packed`, which holds
    /// `bf16_product::packed_columns_len(depth.1, width)` values.
    #[cfg(target_arch = "x86_64")]
    fn pack_bf16_block(
        &self,
        depth: (usize, usize),
        start: usize,
        width: usize,
        packed: &mut [u32],
    ) {
        match self.dtype {
            GgmlDType::Q4_1 => self
                .pack_register_blocks::<quantized_matmul::BlockQ4_1>(depth, start, width, packed),
            GgmlDType::Q5_0 => self
                .pack_register_blocks::<quantized_matmul::BlockQ5_0>(depth, start, width, packed),
            GgmlDType::Q8_0 => self
                .pack_register_blocks::<quantized_matmul::BlockQ8_0>(depth, start, width, packed),
            GgmlDType::Q4K => {
                self.pack_register_blocks::<k_quant_matmul::BlockQ4K>(depth, start, width, packed)
            }
            _ => match self.transposed {
                true => {
                    let decode = |row: usize, start: usize, out: &mut [f32]| {
                        self.decode_inputs(row, start, out)
                    };
                    let shape = (depth, self.block.0);
                    quantized_bf16::pack_decoded_rows(decode, shape, start, width, packed)
                }
                false => {
                    // The depth is a range of rows.
                    let decode = |row: usize, start: usize, out: &mut [f32]| {
                        self.decode_inputs(depth.0 + row, start, out)
                    };
                    quantized_bf16::pack_decoded_inputs(decode, depth.1, start, width, packed)
                }
            },
        }
    }

    /// [`Self::pack_bf16_block`] for a format decoded in registers.
    #[cfg(target_arch = "x86_64")]
    fn pack_register_blocks<B: quantized_bf16::RegisterBlock>(
        &self,
        depth: (usize, usize),
        start: usize,
        width: usize,
        packed: &mut [u32],
    ) {
        let per_row = self.inputs / self.block.0;
        let weight = blocks::<B>(&self.bytes, self.outputs * per_row)
            .expect("checked when the rows were made");
        match self.transposed {
            true => {
                let shape = (per_row, depth);
                quantized_bf16::pack_block_rows(weight, shape, start, width, packed)
            }
            false => {
                // The depth is a range of rows.
                let rows = &weight[depth.0 * per_row..][..depth.1 * per_row];
                let shape = (depth.1, per_row);
                quantized_bf16::pack_block_inputs(rows, shape, start, width, packed)
            }
        }
    }
}

impl ColumnBlocks for QuantizedRows<'_> {
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
            self.block.0
        }
    }

    fn write_block(&self, start: usize, width: usize, buffer: &mut Vec<f32>) -> bool {
        if self.transposed {
            // Rows `start..start + width` of W: (width, in), the block's transpose.
            for row in start..start + width {
                self.append_inputs(row, 0, self.inputs, buffer);
            }
        } else {
            // Inputs `start..start + width` of every row: (out, width).
            for row in 0..self.outputs {
                self.append_inputs(row, start, width, buffer);
            }
        }
        self.transposed
    }

    #[cfg(target_arch = "x86_64")]
    fn packed_block<'a>(
        &'a self,
        depth: (usize, usize),
        (start, width): (usize, usize),
        buffer: &'a mut Vec<u32>,
    ) -> PackedColumns<'a> {
        pack_into(buffer, (depth.1, width), |packed| {
            self.pack_bf16_block(depth, start, width, packed)
        })
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

    /// A depth range of a column block, packed straight from the blocks in
    /// every format, both ways, equals the dequantized weight's range packed,
    /// bit for bit (a range inside the weight and one ending at its last row).
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn depth_ranges_pack_as_the_dequantized_weight() {
        use super::super::bf16_product::{self, packed_columns_len};
        use super::super::dense_product::Matrix;
        use super::super::test_support::packed_columns;
        if !bf16_product::available() {
            println!("skipped: this CPU lacks AVX512-BF16");
            return;
        }
        let (outputs, inputs) = (520, 512);
        let values: Vec<f32> = (0..outputs * inputs)
            .map(|i| ((i * 7919) % 1001) as f32 / 500.0 - 1.0)
            .collect();
        let dense = Tensor::from_vec(values, (outputs, inputs), &Device::Cpu).unwrap();
        let formats = [
            GgmlDType::Q4_1,
            GgmlDType::Q5_0,
            GgmlDType::Q8_0,
            GgmlDType::Q4K,
            GgmlDType::Q6K,
        ];
        for dtype in formats {
            let q = QTensor::quantize(&dense, dtype).unwrap();
            let w = dequantize(&q).unwrap().flatten_all().unwrap();
            let w = w.to_vec1::<f32>().unwrap();
            let w = Matrix::new(&w, outputs, inputs).unwrap();
            let cases = [
                (true, w.t(), (256, 256), (40, 70)),
                (false, w, (256, 256), (256, 256)),
                (false, w, (512, 8), (0, 256)),
            ];
            for (transposed, view, (first, depth), (start, width)) in cases {
                let rows = QuantizedRows::new(&q, transposed).unwrap().unwrap();
                let mut packed = vec![u32::MAX; packed_columns_len(depth, width)];
                rows.pack_bf16_block((first, depth), start, width, &mut packed);
                let block = view
                    .row_range(first, first + depth)
                    .columns_from(start, width);
                let case = format!("{dtype:?}, transposed {transposed}, depth {first}..+{depth}");
                assert_eq!(packed, packed_columns(block), "{case}");
            }
        }
    }

    /// Products with a quantized weight decoded a column block at a time, `x
    /// W^T` and `g W`, equal products with the weight dequantized whole, in f32
    /// and in bf16 (packed straight from the blocks where the kernel packs),
    /// over more than one column block and within one, for Q4_1 (its own
    /// decoder) and formats candle decodes (blocks of 32 and of 256).
    #[test]
    fn blockwise_products_match_the_dequantized_weight() {
        use super::super::dense_product::{blockwise_product, product, Matrix, ProductPrecision};
        let values = |n: usize, seed: usize| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 7919 + seed * 31) % 1001) as f32 / 500.0 - 1.0)
                .collect()
        };
        let cases = [
            (GgmlDType::Q4_1, (3, 200, 256)),
            (GgmlDType::Q4_1, (5, 40, 64)),
            (GgmlDType::Q5_0, (3, 70, 640)),
            (GgmlDType::Q8_0, (5, 40, 64)),
            (GgmlDType::Q4K, (3, 100, 768)),
            (GgmlDType::Q6K, (2, 33, 512)),
        ];
        for (dtype, (rows, outputs, inputs)) in cases {
            let dense =
                Tensor::from_vec(values(outputs * inputs, 1), (outputs, inputs), &Device::Cpu)
                    .unwrap();
            let q = QTensor::quantize(&dense, dtype).unwrap();
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
                    let q_rows = QuantizedRows::new(&q, transposed).unwrap().unwrap();
                    let got = blockwise_product(lhs, &q_rows, 2.0, precision).unwrap();
                    assert_eq!(got.len(), expected.len());
                    let case = format!("{dtype:?}, {precision:?}, transposed {transposed}");
                    for (a, b) in got.iter().zip(&expected) {
                        assert!((a - b).abs() < 1e-3, "{case}: {a} vs {b}");
                    }
                }
            }
        }
        let dense = Tensor::from_vec(values(64 * 64, 1), (64, 64), &Device::Cpu).unwrap();
        let f16 = QTensor::quantize(&dense, GgmlDType::F16).unwrap();
        assert!(
            QuantizedRows::new(&f16, false).unwrap().is_none(),
            "not blocks"
        );
    }
}
