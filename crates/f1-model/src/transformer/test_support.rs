//! Tensors for the transformer's unit tests.

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
