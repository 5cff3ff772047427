//! f32 matrix products straight into a custom op's output, with gemm (the crate
//! candle's CPU matmul calls). Through candle's tensors, each product in a custom
//! op copied its input in, its result out, and needed a separate pass to add a
//! second product; gemm reads strided inputs in place and accumulates.

use candle_core::Result;

/// A read-only (rows, columns) view of f32 values with arbitrary strides.
#[derive(Clone, Copy)]
pub struct Matrix<'a> {
    values: &'a [f32],
    rows: usize,
    columns: usize,
    row_stride: usize,
    column_stride: usize,
}

impl<'a> Matrix<'a> {
    /// Row-major (rows, columns) values.
    pub fn new(values: &'a [f32], rows: usize, columns: usize) -> Result<Self> {
        if values.len() != rows * columns {
            candle_core::bail!(
                "dense product: {} values are not a ({rows}, {columns}) matrix",
                values.len()
            );
        }
        Ok(Self {
            values,
            rows,
            columns,
            row_stride: columns,
            column_stride: 1,
        })
    }

    /// `rows` rows of `columns` values, each `row_stride` after the one before
    /// (a column block of a wider row-major matrix).
    pub fn strided(
        values: &'a [f32],
        rows: usize,
        columns: usize,
        row_stride: usize,
    ) -> Result<Self> {
        if rows > 0 && (rows - 1) * row_stride + columns > values.len() {
            candle_core::bail!(
                "dense product: {} values hold no ({rows}, {columns}) matrix at row stride {row_stride}",
                values.len()
            );
        }
        Ok(Self {
            values,
            rows,
            columns,
            row_stride,
            column_stride: 1,
        })
    }

    /// The transpose, as a view of the same values.
    pub fn t(self) -> Self {
        Self {
            rows: self.columns,
            columns: self.rows,
            row_stride: self.column_stride,
            column_stride: self.row_stride,
            ..self
        }
    }
}

/// `out = scale * lhs · rhs`, or `out += scale * lhs · rhs` when `accumulate`;
/// `out` is row-major (lhs rows, rhs columns). Runs on all of candle's threads.
pub fn product_into(
    out: &mut [f32],
    accumulate: bool,
    lhs: Matrix,
    rhs: Matrix,
    scale: f32,
) -> Result<()> {
    let threads = candle_core::utils::get_num_threads();
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    gemm_into(out, accumulate, lhs, rhs, scale, parallelism)
}

/// [`product_into`] on the calling thread alone, for small products that a
/// caller already runs side by side.
pub fn serial_product_into(
    out: &mut [f32],
    accumulate: bool,
    lhs: Matrix,
    rhs: Matrix,
    scale: f32,
) -> Result<()> {
    gemm_into(out, accumulate, lhs, rhs, scale, gemm::Parallelism::None)
}

fn gemm_into(
    out: &mut [f32],
    accumulate: bool,
    lhs: Matrix,
    rhs: Matrix,
    scale: f32,
    parallelism: gemm::Parallelism,
) -> Result<()> {
    let (m, k, n) = (lhs.rows, lhs.columns, rhs.columns);
    if rhs.rows != k || out.len() != m * n {
        candle_core::bail!(
            "dense product: ({m}, {k}) · ({}, {n}) into {} values",
            rhs.rows,
            out.len()
        );
    }
    // SAFETY: the shapes are checked above and every view's values hold its
    // (rows, columns) at its strides (constructed only by `Matrix::new`,
    // `Matrix::strided` and `t`, which check it).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
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
            parallelism,
        );
    }
    Ok(())
}

/// A new (lhs rows, rhs columns) product `scale * lhs · rhs`.
pub fn product(lhs: Matrix, rhs: Matrix, scale: f32) -> Result<Vec<f32>> {
    let mut out = vec![0f32; lhs.rows * rhs.columns];
    product_into(&mut out, false, lhs, rhs, scale)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

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
        let ab = product(am, bm.t(), 2.0).unwrap();
        assert_eq!(
            ab,
            expected(ta.matmul(&tb.t().unwrap()).map(|t| (t * 2.0).unwrap()))
        );
        // (5, 3)^T · (5, 7), then accumulating (3, 7) more.
        let mut ca = product(cm.t(), am, 1.0).unwrap();
        product_into(&mut ca, true, cm.t(), am, 1.0).unwrap();
        assert_eq!(
            ca,
            expected(tc.t().unwrap().matmul(&ta).map(|t| (t * 2.0).unwrap()))
        );
        assert!(
            product(am, bm, 1.0).is_err(),
            "(5, 7) · (3, 7) has no product"
        );
        // Columns 2..5 of `a` as a strided view equal the same columns copied out.
        let block: Vec<f32> = a.chunks(7).flat_map(|row| row[2..5].to_vec()).collect();
        let strided = Matrix::strided(&a[2..], 5, 3, 7).unwrap();
        let copied = Matrix::new(&block, 5, 3).unwrap();
        assert_eq!(
            product(strided.t(), cm, 1.0).unwrap(),
            product(copied.t(), cm, 1.0).unwrap()
        );
        assert!(
            Matrix::strided(&a[5..], 5, 3, 7).is_err(),
            "the last row would run past the values"
        );
    }
}
