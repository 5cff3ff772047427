//! A strided (rows, columns) view of f32 values: the operands of the dense
//! products (f32 and bf16), which read transposes and column blocks in place.

use candle_core::Result;

/// A read-only (rows, columns) view of f32 values with arbitrary strides.
#[derive(Clone, Copy)]
pub struct Matrix<'a> {
    pub(super) values: &'a [f32],
    pub(super) rows: usize,
    pub(super) columns: usize,
    pub(super) row_stride: usize,
    pub(super) column_stride: usize,
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

    /// Columns `start..start + width` of this view, as a view of the same values.
    pub(super) fn columns_from(self, start: usize, width: usize) -> Self {
        assert!(start + width <= self.columns, "column block past the view");
        Self {
            values: &self.values[start * self.column_stride..],
            columns: width,
            ..self
        }
    }

    /// Rows `start..end` of this view, as a view of the same values.
    pub fn row_range(self, start: usize, end: usize) -> Self {
        assert!(start <= end && end <= self.rows, "row range past the view");
        Self {
            values: &self.values[(start * self.row_stride).min(self.values.len())..],
            rows: end - start,
            ..self
        }
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
