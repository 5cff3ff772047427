//! Tensors for the transformer's unit tests.

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
