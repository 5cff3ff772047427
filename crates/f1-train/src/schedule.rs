//! Learning-rate schedules: linear warm-up, then cosine, linear or no decay.

use std::f64::consts::PI;

use crate::config::Decay;

/// The learning rate of optimizer step `step` (0-based) of `total`.
pub fn learning_rate(peak: f64, step: usize, warmup: usize, total: usize, decay: Decay) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let progress = ((step - warmup) as f64 / span).min(1.0);
    match decay {
        Decay::Constant => peak,
        Decay::Linear => peak * (1.0 - progress),
        Decay::Cosine => peak * 0.5 * (1.0 + (PI * progress).cos()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_then_decays_to_zero() {
        let lr = |step, decay| learning_rate(1.0, step, 4, 14, decay);
        assert_eq!(lr(0, Decay::Cosine), 0.25);
        assert_eq!(lr(3, Decay::Cosine), 1.0);
        assert_eq!(lr(4, Decay::Cosine), 1.0);
        assert!((lr(9, Decay::Cosine) - 0.5).abs() < 1e-12);
        assert!((lr(9, Decay::Linear) - 0.5).abs() < 1e-12);
        assert!(lr(13, Decay::Cosine) < 0.03);
        assert_eq!(lr(13, Decay::Constant), 1.0);
        assert!(lr(7, Decay::Cosine) > lr(8, Decay::Cosine));
    }
}
