//! Sums over f32 rows in SIMD lanes, for the training step's RMS norms and
//! softmax backward (rten-simd picks AVX-512, AVX2 or scalar code at run time).
//! `iter().sum()` adds one value at a time, each add waiting for the one
//! before; in lanes, 8 or 16 run at once (in a different order, so the sums
//! differ from the sequential ones in the last bits). rten-vecmath has sums of
//! squares but no dot product, so [`dot`] is written here on rten-simd's vectors.

use rten_simd::ops::{BitOps, NumOps};
use rten_simd::{Isa, Simd, SimdIterable, SimdOp};
use rten_vecmath::SumSquare;

/// `a · b`: the products summed in 16 (AVX-512) or 8 (AVX2) lanes, then the lanes.
///
/// # Panics
/// If the rows differ in length.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot product of rows of different lengths");
    Dot { a, b }.dispatch()
}

/// The sum of `row`'s squares, in lanes as [`dot`].
pub fn sum_of_squares(row: &[f32]) -> f32 {
    SumSquare::new(row).dispatch()
}

struct Dot<'a> {
    a: &'a [f32],
    b: &'a [f32],
}

impl SimdOp for Dot<'_> {
    type Output = f32;

    #[inline(always)]
    fn eval<I: Isa>(self, isa: I) -> f32 {
        let ops = isa.f32();
        // The last vectors are padded with zeros, whose products add nothing.
        let lanes = self
            .a
            .simd_iter_pad(ops)
            .zip(self.b.simd_iter_pad(ops))
            .fold(ops.zero(), |sum, (a, b)| ops.mul_add(a, b, sum));
        lanes.to_array().into_iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Over lengths that fill whole vectors and ones that leave a tail, both
    /// sums equal the one-at-a-time sums in f64 to f32 rounding.
    #[test]
    fn lane_sums_match_sums_in_f64() {
        for len in [0, 1, 7, 16, 33, 128, 576, 1000] {
            let a: Vec<f32> = (0..len)
                .map(|i| ((i * 37) % 19) as f32 / 7.0 - 1.3)
                .collect();
            let b: Vec<f32> = (0..len)
                .map(|i| ((i * 11) % 23) as f32 / 5.0 - 2.1)
                .collect();
            let exact_dot: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(x * y)).sum();
            let exact_squares: f64 = a.iter().map(|x| f64::from(x * x)).sum();
            let scale: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| f64::from((x * y).abs()))
                .sum();
            let tolerance = 1e-5 * scale.max(1.0);
            assert!(
                (f64::from(dot(&a, &b)) - exact_dot).abs() <= tolerance,
                "dot of {len}: {} vs {exact_dot}",
                dot(&a, &b)
            );
            assert!(
                (f64::from(sum_of_squares(&a)) - exact_squares).abs()
                    <= 1e-5 * exact_squares.max(1.0),
                "squares of {len}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "different lengths")]
    fn rows_of_different_lengths_are_refused() {
        dot(&[1.0, 2.0], &[1.0]);
    }
}
