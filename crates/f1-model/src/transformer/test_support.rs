//! Tensors for the transformer's unit tests.

#[cfg(target_arch = "x86_64")]
use super::bf16_product::{self, Right};
use super::matrix::Matrix;
use candle_core::quantized::QTensor;
use candle_core::{Device, Tensor};

/// Deterministic pseudo-random values in [-1, 1).
pub fn random(shape: &[usize], seed: u64) -> Tensor {
    let count: usize = shape.iter().product();
    let values: Vec<f32> = (0..count)
        .map(|i| (((i as u64 + 1) * 2654435761 + seed * 97) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

/// `len` values in [-1, 1) from a seeded xorshift generator, finer than bf16
/// (23 random bits), so rounding to bf16 moves them.
pub fn xorshift_values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// `rhs` packed whole as the bf16 kernels read it ([`bf16_product::pack_all_columns`]).
#[cfg(target_arch = "x86_64")]
pub fn packed_columns(rhs: Matrix) -> Vec<u32> {
    let mut packed = vec![0; bf16_product::packed_columns_len(rhs.rows, rhs.columns)];
    bf16_product::pack_all_columns(rhs, &mut packed);
    packed
}

/// `scale * lhs · rhs` in f32 of the operands rounded to bf16: what a bf16
/// product equals up to f32 summation order.
#[cfg(target_arch = "x86_64")]
pub fn rounded_product(lhs: Matrix, rhs: Matrix, scale: f32) -> Vec<f32> {
    use super::dense_product::{product, ProductPrecision};
    let (a, b) = (
        bf16_product::round_to_bf16(lhs),
        bf16_product::round_to_bf16(rhs),
    );
    let rounded_lhs = Matrix::new(&a, lhs.rows, lhs.columns).unwrap();
    let rounded_rhs = Matrix::new(&b, rhs.rows, rhs.columns).unwrap();
    product(rounded_lhs, rounded_rhs, scale, ProductPrecision::F32).unwrap()
}

/// A bf16 product into a raw output, as the bf16 kernels' `product_raw`: (out,
/// out row stride, accumulate, lhs, rhs, scale).
#[cfg(target_arch = "x86_64")]
pub type RawProduct = unsafe fn(*mut f32, usize, bool, Matrix, Right, f32);

/// Checks a bf16 kernel on row-major, transposed and strided (both strides
/// above one) views of each (m, k, n), and on the row-major right side packed
/// whole: `0.5 * lhs · rhs` equals the f64 product of the bf16-rounded
/// operands to within 1e-6 of the terms' magnitude, adding `-0.5 * lhs · rhs`
/// to it leaves (nearly) zero, and the unscaled product, written and then
/// added, is the product and twice it; an empty inner size writes zeros, or
/// keeps the output when accumulating.
///
/// # Safety
/// `product` may run on this CPU.
#[cfg(target_arch = "x86_64")]
pub unsafe fn assert_bf16_products(product: RawProduct, shapes: &[(usize, usize, usize)]) {
    let rounded = |view: Matrix, row: usize, column: usize| {
        let value = view.values[row * view.row_stride + column * view.column_stride];
        half::bf16::from_f32(value).to_f64()
    };
    for &(m, k, n) in shapes {
        let (a, b) = (xorshift_values(m * k, 1), xorshift_values(k * n, 2));
        // Every other value of rows twice as long (plus one).
        let (a2, b2) = (
            xorshift_values(m * (2 * k + 1), 3),
            xorshift_values(k * (2 * n + 1), 4),
        );
        let strided = |values, rows, columns| Matrix {
            values,
            rows,
            columns,
            row_stride: 2 * columns + 1,
            column_stride: 2,
        };
        let layouts = [
            (
                Matrix::new(&a, m, k).unwrap(),
                Matrix::new(&b, k, n).unwrap(),
            ),
            (
                Matrix::new(&a, k, m).unwrap().t(),
                Matrix::new(&b, n, k).unwrap().t(),
            ),
            (strided(&a2, m, k), strided(&b2, k, n)),
        ];
        let mut packed = vec![u32::MAX; bf16_product::packed_columns_len(k, n)];
        bf16_product::pack_all_columns(layouts[0].1, &mut packed);
        let packed = Right::Packed(bf16_product::PackedColumns::new(&packed, k, n));
        let rights = layouts.iter().map(|&(_, rhs)| Right::View(rhs));
        for ((lhs, rhs), right) in layouts
            .into_iter()
            .chain([layouts[0]])
            .zip(rights.chain([packed]))
        {
            let mut out = vec![f32::NAN; m * n];
            // SAFETY: the caller's contract; `out` is (m, n).
            unsafe { product(out.as_mut_ptr(), n, false, lhs, right, 0.5) };
            let mut wants = Vec::with_capacity(m * n);
            for (index, &got) in out.iter().enumerate() {
                let (row, column) = (index / n, index % n);
                let terms = (0..k).map(|p| rounded(lhs, row, p) * rounded(rhs, p, column));
                let (want, magnitude) =
                    terms.fold((0.0, 0.0), |(sum, size), t| (sum + t, size + t.abs()));
                let bound = 1e-6 * f64::max(magnitude, 1.0);
                assert!(
                    (got as f64 - 0.5 * want).abs() <= bound,
                    "({m}, {k}, {n}) at ({row}, {column}): {got} vs {}",
                    0.5 * want
                );
                wants.push((want, bound));
            }
            // SAFETY: as above; `out` is initialised now.
            unsafe { product(out.as_mut_ptr(), n, true, lhs, right, -0.5) };
            for (&got, &(_, bound)) in out.iter().zip(&wants) {
                assert!(
                    got.abs() as f64 <= 2.0 * bound,
                    "{got}: a product minus itself"
                );
            }
            // Unscaled, fresh and then accumulated (sums the tiles may keep in
            // the output itself).
            for (accumulate, times) in [(false, 1.0), (true, 2.0)] {
                // SAFETY: as above.
                unsafe { product(out.as_mut_ptr(), n, accumulate, lhs, right, 1.0) };
                for (&got, &(want, bound)) in out.iter().zip(&wants) {
                    assert!(
                        (got as f64 - times * want).abs() <= 2.0 * times * bound,
                        "({m}, {k}, {n}): {got} vs {}",
                        times * want
                    );
                }
            }
        }
    }
    let (lhs, rhs) = (
        Matrix::new(&[], 3, 0).unwrap(),
        Matrix::new(&[], 0, 2).unwrap(),
    );
    let (rhs, mut out) = (Right::View(rhs), vec![7.0f32; 6]);
    // SAFETY: the caller's contract; `out` is (3, 2).
    unsafe { product(out.as_mut_ptr(), 2, true, lhs, rhs, 1.0) };
    assert_eq!(
        out, [7.0; 6],
        "accumulating an empty product keeps the output"
    );
    // SAFETY: as above.
    unsafe { product(out.as_mut_ptr(), 2, false, lhs, rhs, 1.0) };
    assert_eq!(out, [0.0; 6], "an empty product is zero");
}

/// The largest element-wise difference of two same-shaped tensors.
pub fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap()
}

/// Uniform values in [-1, 1) from a seeded generator, (rows, columns).
pub fn uniform(rows: usize, columns: usize, seed: u64) -> Tensor {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let values: Vec<f32> = (0..rows * columns)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    Tensor::from_vec(values, (rows, columns), &Device::Cpu).unwrap()
}

/// Asserts that `ours` (rows, outputs) is `x` times the dequantized `q` to within
/// the rounding of the activations to 8 bits, which moves each term by at most
/// 1/254 of its block's largest input.
pub fn assert_near_dequantized_product(ours: &Tensor, x: &Tensor, q: &QTensor) {
    let dense = q.dequantize(&Device::Cpu).unwrap();
    let exact = x.matmul(&dense.t().unwrap()).unwrap();
    let scale = x
        .abs()
        .unwrap()
        .matmul(&dense.abs().unwrap().t().unwrap())
        .unwrap();
    let ours = ours.to_vec2::<f32>().unwrap();
    let (exact, scale) = (
        exact.to_vec2::<f32>().unwrap(),
        scale.to_vec2::<f32>().unwrap(),
    );
    for (row, ((ours, exact), scale)) in ours.iter().zip(&exact).zip(&scale).enumerate() {
        for (output, ((&a, &b), &bound)) in ours.iter().zip(exact).zip(scale).enumerate() {
            assert!(
                (a - b).abs() <= 0.01 * bound,
                "{:?} [{row}, {output}]: {a} vs {b}",
                q.dtype()
            );
        }
    }
}
