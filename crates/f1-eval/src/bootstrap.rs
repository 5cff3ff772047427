//! Bootstrap confidence intervals and paired bootstrap tests over examples.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A statistic and its percentile 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// Every bound multiplied by `factor` (100 turns a share into percent).
    pub fn scaled(&self, factor: f64) -> Self {
        Self {
            value: self.value * factor,
            low: self.low * factor,
            high: self.high * factor,
        }
    }

    /// `value [low, high]` with `decimals` places.
    pub fn format(&self, decimals: usize) -> String {
        format!(
            "{:.d$} [{:.d$}, {:.d$}]",
            self.value,
            self.low,
            self.high,
            d = decimals
        )
    }
}

fn resample(rng: &mut StdRng, n: usize, sample: &mut Vec<usize>) {
    sample.clear();
    sample.extend((0..n).map(|_| rng.random_range(0..n)));
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index]
}

/// `statistic` over all `n` examples, with the 2.5th and 97.5th percentiles of
/// `resamples` resamples drawn with replacement (seeded).
pub fn confidence_interval(
    n: usize,
    resamples: usize,
    seed: u64,
    statistic: impl Fn(&[usize]) -> f64,
) -> Interval {
    let all: Vec<usize> = (0..n).collect();
    let value = statistic(&all);
    if n == 0 || resamples == 0 {
        return Interval {
            value,
            low: value,
            high: value,
        };
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut sample = Vec::with_capacity(n);
    let mut values: Vec<f64> = (0..resamples)
        .map(|_| {
            resample(&mut rng, n, &mut sample);
            statistic(&sample)
        })
        .collect();
    values.sort_by(f64::total_cmp);
    Interval {
        value,
        low: percentile(&values, 0.025),
        high: percentile(&values, 0.975),
    }
}

/// Two-sided paired bootstrap p-value that systems `a` and `b`, scored on the same
/// `n` examples, differ: how often a resample's difference falls on the other side
/// of zero from the observed one, doubled.
pub fn paired_p_value(
    n: usize,
    resamples: usize,
    seed: u64,
    a: impl Fn(&[usize]) -> f64,
    b: impl Fn(&[usize]) -> f64,
) -> f64 {
    let all: Vec<usize> = (0..n).collect();
    let observed = a(&all) - b(&all);
    if n == 0 || resamples == 0 || observed == 0.0 {
        return 1.0;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut sample = Vec::with_capacity(n);
    let flipped = (0..resamples)
        .filter(|_| {
            resample(&mut rng, n, &mut sample);
            let delta = a(&sample) - b(&sample);
            delta * observed.signum() <= 0.0
        })
        .count();
    (2.0 * (flipped as f64 + 1.0) / (resamples as f64 + 1.0)).min(1.0)
}

/// The mean of `values` at `indices`.
pub fn mean_at(values: &[f64], indices: &[usize]) -> f64 {
    if indices.is_empty() {
        return f64::NAN;
    }
    indices.iter().map(|&i| values[i]).sum::<f64>() / indices.len() as f64
}
