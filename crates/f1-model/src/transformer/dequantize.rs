//! Dequantizing a weight to f32 on every core. candle's `QTensor::dequantize`
//! runs on one, and training's frozen quantized base dequantizes each projection
//! twice a step (forward and backward): 4-5% of a LoRA step single-threaded.
//! Q4_1 (SmolLM2's format) is decoded here rather than by candle's scalar
//! `to_float`, straight into the new buffer without zero-filling it first: with
//! candle's decoder and the zero-fill that was still 7% of a LoRA step.

use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8K,
    BlockQ8_0, GgmlType,
};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Result, Tensor};

use super::cpu_pool::for_each_chunk;
use super::quantized_matmul::{self, blocks, BLOCK};

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
    let mut out = vec![0f32; elements];
    let items = weight_blocks.len().div_ceil(BLOCKS_PER_ITEM);
    for_each_chunk(
        [(&mut out, BLOCKS_PER_ITEM * T::BLCK_SIZE)],
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
    let elements = weight.shape().elem_count();
    let bytes = weight.data()?;
    let weight_blocks = blocks::<quantized_matmul::BlockQ4_1>(&bytes, elements / BLOCK)?;
    let elements = weight_blocks.len() * BLOCK;
    let mut out = Vec::with_capacity(elements);
    let items = weight_blocks.len().div_ceil(BLOCKS_PER_ITEM);
    for_each_chunk(
        [(
            &mut out.spare_capacity_mut()[..elements],
            BLOCKS_PER_ITEM * BLOCK,
        )],
        items,
        |item, [values]| {
            let first = item * BLOCKS_PER_ITEM;
            for (block, values) in weight_blocks[first..]
                .iter()
                .zip(values.chunks_exact_mut(BLOCK))
            {
                let (d, m) = (block.d.to_f32(), block.m.to_f32());
                let (low, high) = values.split_at_mut(BLOCK / 2);
                for ((low, high), &q) in low.iter_mut().zip(high).zip(&block.qs) {
                    low.write(f32::from(q & 0x0F) * d + m);
                    high.write(f32::from(q >> 4) * d + m);
                }
            }
            Ok(())
        },
    )?;
    // SAFETY: the pieces cover the first `elements` values, `elements` is a whole
    // number of blocks, and each piece's blocks wrote all of its values above.
    unsafe { out.set_len(elements) };
    Tensor::from_vec(out, weight.shape(), &candle_core::Device::Cpu)
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
    }
}
