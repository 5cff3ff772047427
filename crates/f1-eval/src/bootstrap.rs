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

fn resample(rng: &mut StdRng, sizes: &[usize], sample: &mut [Vec<usize>]) {
    for (stratum, &n) in sample.iter_mut().zip(sizes) {
        stratum.clear();
        stratum.extend((0..n).map(|_| rng.random_range(0..n)));
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index]
}

fn everything(sizes: &[usize]) -> Vec<Vec<usize>> {
    sizes.iter().map(|&n| (0..n).collect()).collect()
}

/// `statistic` over all `n` examples, with the 2.5th and 97.5th percentiles of
/// `resamples` resamples drawn with replacement (seeded).
pub fn confidence_interval(
    n: usize,
    resamples: usize,
    seed: u64,
    statistic: impl Fn(&[usize]) -> f64,
) -> Interval {
    stratified_interval(&[n], resamples, seed, |s| statistic(&s[0]))
}

/// [`confidence_interval`] for examples in strata (the tasks of a benchmark,
/// say) of `sizes`: each resample draws every stratum's examples from that
/// stratum alone, so each keeps its size.
pub fn stratified_interval(
    sizes: &[usize],
    resamples: usize,
    seed: u64,
    statistic: impl Fn(&[Vec<usize>]) -> f64,
) -> Interval {
    let value = statistic(&everything(sizes));
    if sizes.iter().sum::<usize>() == 0 || resamples == 0 {
        return Interval {
            value,
            low: value,
            high: value,
        };
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut sample = vec![Vec::new(); sizes.len()];
    let mut values: Vec<f64> = (0..resamples)
        .map(|_| {
            resample(&mut rng, sizes, &mut sample);
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
    stratified_paired_p_value(&[n], resamples, seed, |s| a(&s[0]), |s| b(&s[0]))
}

/// [`paired_p_value`] with the examples in strata, resampled as in
/// [`stratified_interval`].
pub fn stratified_paired_p_value(
    sizes: &[usize],
    resamples: usize,
    seed: u64,
    a: impl Fn(&[Vec<usize>]) -> f64,
    b: impl Fn(&[Vec<usize>]) -> f64,
) -> f64 {
    let all = everything(sizes);
    let observed = a(&all) - b(&all);
    if sizes.iter().sum::<usize>() == 0 || resamples == 0 || observed == 0.0 {
        return 1.0;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut sample = vec![Vec::new(); sizes.len()];
    let flipped = (0..resamples)
        .filter(|_| {
            resample(&mut rng, sizes, &mut sample);
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
