//! A projection's input kept for its weight's gradient as bf16, packed as that
//! product's right-hand side. `dW = Gᵀ X` (and a LoRA adapter's `dA = Uᵀ X`
//! without dropout) multiplies the input X (tokens, features) with the tokens
//! as inputs; a bf16 product rounds X to bf16 anyway, so the forward pass keeps
//! X packed as the kernels read it (as PyTorch's autocast keeps its linear
//! layers' bf16 inputs): half of f32's bytes (100 MiB less at the peak of a
//! full SmolLM2 bf16 step, 4 x 128), and the backward packs nothing of it. Only
//! on x86-64 with a bf16 kernel that packs (tiles or dot products); the sums
//! are bit for bit those of the f32 input.

use super::bf16_product::{self, PackedColumns, COLUMNS};
use super::cpu_pool::{self, new_chunked};
use super::dense_product::{packing_bf16_kernel, ColumnBlocks, ProductPrecision};
use super::matrix::Matrix;
use candle_core::Result;

/// `x` (rows, columns), rounded to bf16 and packed whole as a right-hand side.
pub struct PackedInput {
    values: Vec<u32>,
    rows: usize,
    columns: usize,
}

impl PackedInput {
    /// Whether products at `precision` read an input packed here (bf16 on a
    /// kernel that packs): only then is it worth keeping one.
    pub fn read_by(precision: ProductPrecision) -> bool {
        packing_bf16_kernel(precision).is_some()
    }

    /// `x` packed on all of candle's threads, each its own panels of columns.
    pub fn pack(x: Matrix) -> Result<Self> {
        let (rows, columns) = (x.rows, x.columns);
        let len = bf16_product::packed_columns_len(rows, columns);
        let panels = columns.div_ceil(COLUMNS);
        let item_columns = panels.div_ceil(cpu_pool::threads()).max(1) * COLUMNS;
        let chunk = bf16_product::packed_columns_len(rows, item_columns);
        let values = match len {
            0 => Vec::new(),
            _ => {
                let items = len.div_ceil(chunk);
                let [values] = new_chunked([(len, chunk)], items, |item, [packed]| {
                    let start = item * item_columns;
                    let width = item_columns.min(columns - start);
                    bf16_product::pack_all_columns(x.columns_from(start, width), packed);
                    Ok(())
                })?;
                values
            }
        };
        Ok(Self {
            values,
            rows,
            columns,
        })
    }

    /// Values a panel of [`COLUMNS`] columns takes.
    fn panel_len(&self) -> usize {
        bf16_product::packed_columns_len(self.rows, COLUMNS)
    }

    /// Input `row`'s value in `column`, as packed (rounded to bf16).
    fn value(&self, row: usize, column: usize) -> f32 {
        let lane = column / COLUMNS * self.panel_len() + row / 2 * COLUMNS + column % COLUMNS;
        let pair = self.values[lane];
        let bits = if row.is_multiple_of(2) {
            pair << 16
        } else {
            pair & 0xffff_0000
        };
        f32::from_bits(bits)
    }
}

impl ColumnBlocks for PackedInput {
    fn dims(&self) -> (usize, usize) {
        (self.rows, self.columns)
    }

    /// Whole panels: a block's columns are then whole panels of the packed side.
    fn alignment(&self) -> usize {
        COLUMNS
    }

    fn write_block(&self, start: usize, width: usize, buffer: &mut Vec<f32>) -> bool {
        for row in 0..self.rows {
            buffer.extend((start..start + width).map(|column| self.value(row, column)));
        }
        false
    }

    /// Read in place: nothing is packed again.
    fn packed_block<'a>(
        &'a self,
        depth: (usize, usize),
        columns: (usize, usize),
        _: &'a mut Vec<u32>,
    ) -> PackedColumns<'a> {
        PackedColumns::new(&self.values, self.rows, self.columns).block(depth, columns)
    }
}

#[cfg(test)]
mod tests {
    use super::super::dense_product::{blockwise_product, product};
    use super::*;

    /// Deterministic values of both signs and many magnitudes.
    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let x = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8;
                (x % 2001) as f32 / 1000.0 - 1.0 + (i % 7) as f32 * 1e-3
            })
            .collect()
    }

    /// The weight gradient's product read from the packed input equals the one
    /// that packs the f32 input itself, bit for bit, at shapes with partial
    /// panels, an odd row count and more than one depth block; on a CPU without
    /// a packing kernel the unpacked values give the rounded product.
    #[test]
    fn gradients_read_from_the_packed_input_equal_those_of_the_f32_input() {
        for (tokens, features, outputs) in [(512, 576, 1536), (130, 45, 70), (7, 33, 5)] {
            let x = values(tokens * features, 1);
            let g = values(tokens * outputs, 2);
            let x = Matrix::new(&x, tokens, features).unwrap();
            let g = Matrix::new(&g, tokens, outputs).unwrap();
            let packed = PackedInput::pack(x).unwrap();
            let expected = product(g.t(), x, 1.0, ProductPrecision::Bf16).unwrap();
            let got = blockwise_product(g.t(), &packed, 1.0, ProductPrecision::Bf16).unwrap();
            let shape = (tokens, features, outputs);
            match PackedInput::read_by(ProductPrecision::Bf16) {
                true => assert_eq!(got, expected, "{shape:?}"),
                false => {
                    println!("no packing bf16 kernel here: the f32 path is checked instead");
                    let close = got.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-3);
                    assert!(close, "{shape:?}");
                }
            }
        }
    }

    /// The unpacked values are the input's rounded to bf16.
    #[test]
    fn unpacked_values_are_the_input_rounded_to_bf16() {
        let (rows, columns) = (9, 70);
        let x = values(rows * columns, 3);
        let view = Matrix::new(&x, rows, columns).unwrap();
        let packed = PackedInput::pack(view).unwrap();
        let mut block = Vec::new();
        assert!(!packed.write_block(32, 38, &mut block));
        let expected: Vec<f32> = (0..rows)
            .flat_map(|row| (32..70).map(move |column| (row, column)))
            .map(|(row, column)| half::bf16::from_f32(x[row * columns + column]).to_f32())
            .collect();
        assert_eq!(block, expected);
    }
}
