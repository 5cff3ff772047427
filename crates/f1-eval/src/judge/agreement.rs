//! How far the judge can be trusted: agreement with fact accuracy (raw and
//! Cohen's kappa) and consistency when the answers swap places.

use serde::{Deserialize, Serialize};

use super::prompt::Preference;

/// Agreement between two binary raters over the same items.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub n: usize,
    /// The share of items both raters call the same.
    pub accuracy: f64,
    /// Cohen's kappa: agreement beyond chance; NaN-free (0 when chance is certain).
    pub kappa: f64,
}

/// Agreement between `pairs` of (judge says right, fact accuracy says right).
pub fn agreement(pairs: &[(bool, bool)]) -> Agreement {
    let n = pairs.len();
    if n == 0 {
        return Agreement {
            n,
            accuracy: 0.0,
            kappa: 0.0,
        };
    }
    let total = n as f64;
    let observed = pairs.iter().filter(|(a, b)| a == b).count() as f64 / total;
    let a_yes = pairs.iter().filter(|(a, _)| *a).count() as f64 / total;
    let b_yes = pairs.iter().filter(|(_, b)| *b).count() as f64 / total;
    let chance = a_yes * b_yes + (1.0 - a_yes) * (1.0 - b_yes);
    let kappa = if chance >= 1.0 {
        0.0
    } else {
        (observed - chance) / (1.0 - chance)
    };
    Agreement {
        n,
        accuracy: observed,
        kappa,
    }
}

/// Which of two systems won one comparison run in both orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PairOutcome {
    First,
    Second,
    Tie,
}

/// Combines the verdict with the first system as A and the verdict with it as B:
/// only a verdict that survives the swap counts, anything else is a tie. Returns
/// the outcome and whether the two verdicts were consistent.
pub fn combine(first_as_a: Preference, first_as_b: Preference) -> (PairOutcome, bool) {
    match (first_as_a, first_as_b) {
        (Preference::A, Preference::B) => (PairOutcome::First, true),
        (Preference::B, Preference::A) => (PairOutcome::Second, true),
        (Preference::Tie, Preference::Tie) => (PairOutcome::Tie, true),
        _ => (PairOutcome::Tie, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kappa_matches_a_worked_example() {
        // 50 items: both yes 20, both no 15, judge-only yes 5, facts-only yes 10.
        let mut pairs = vec![(true, true); 20];
        pairs.extend(vec![(false, false); 15]);
        pairs.extend(vec![(true, false); 5]);
        pairs.extend(vec![(false, true); 10]);
        let a = agreement(&pairs);
        assert_eq!(a.n, 50);
        assert!((a.accuracy - 0.7).abs() < 1e-12);
        // p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5, kappa = (0.7 - 0.5) / 0.5 = 0.4.
        assert!((a.kappa - 0.4).abs() < 1e-12, "{}", a.kappa);
        assert_eq!(agreement(&[(true, true), (true, true)]).kappa, 0.0);
        assert_eq!(agreement(&[(true, false), (false, true)]).kappa, -1.0);
    }

    #[test]
    fn only_verdicts_that_survive_the_swap_count() {
        assert_eq!(
            combine(Preference::A, Preference::B),
            (PairOutcome::First, true)
        );
        assert_eq!(
            combine(Preference::B, Preference::A),
            (PairOutcome::Second, true)
        );
        assert_eq!(
            combine(Preference::A, Preference::A),
            (PairOutcome::Tie, false)
        );
        assert_eq!(
            combine(Preference::Tie, Preference::B),
            (PairOutcome::Tie, false)
        );
        assert_eq!(
            combine(Preference::Tie, Preference::Tie),
            (PairOutcome::Tie, true)
        );
    }
}
