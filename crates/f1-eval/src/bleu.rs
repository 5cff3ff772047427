//! BLEU exactly as sacrebleu 2 computes it: the 13a tokenizer, n-grams up to 4,
//! brevity penalty, `exp` smoothing; corpus BLEU and sentence BLEU (which uses the
//! effective order, as `sacrebleu.sentence_bleu` does).

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

const MAX_ORDER: usize = 4;

/// sacrebleu's `TokenizerRegexp` rules, in order.
static RULES: LazyLock<[(Regex, &'static str); 4]> = LazyLock::new(|| {
    let rule = |pattern: &str| Regex::new(pattern).expect("static pattern");
    [
        // Punctuation and symbols.
        (rule(r"([\{-~\[-` -&\(-\+:-@/])"), " $1 "),
        // Period and comma unless preceded by a digit.
        (rule(r"([^0-9])([\.,])"), "$1 $2 "),
        // Period and comma unless followed by a digit.
        (rule(r"([\.,])([^0-9])"), " $1 $2"),
        // Dash after a digit.
        (rule(r"([0-9])(-)"), "$1 $2 "),
    ]
});

/// sacrebleu's `13a` tokenization (mteval-v13a.pl).
pub fn tokenize_13a(text: &str) -> Vec<String> {
    let mut line = text
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ");
    if line.contains('&') {
        line = line
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    let mut line = format!(" {line} ");
    for (pattern, replacement) in RULES.iter() {
        line = pattern.replace_all(&line, *replacement).into_owned();
    }
    line.split_whitespace().map(str::to_string).collect()
}

/// The sufficient statistics of one or more segments.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BleuStats {
    pub hypothesis_length: usize,
    pub reference_length: usize,
    /// Clipped n-gram matches, orders 1 to 4.
    pub correct: [usize; MAX_ORDER],
    /// Hypothesis n-grams, orders 1 to 4.
    pub total: [usize; MAX_ORDER],
}

impl std::ops::AddAssign for BleuStats {
    fn add_assign(&mut self, other: Self) {
        self.hypothesis_length += other.hypothesis_length;
        self.reference_length += other.reference_length;
        for n in 0..MAX_ORDER {
            self.correct[n] += other.correct[n];
            self.total[n] += other.total[n];
        }
    }
}

fn ngram_counts(tokens: &[String], n: usize) -> HashMap<&[String], usize> {
    let mut counts = HashMap::new();
    for gram in tokens.windows(n) {
        *counts.entry(gram).or_insert(0) += 1;
    }
    counts
}

impl BleuStats {
    /// The statistics of one hypothesis against one reference.
    pub fn segment(hypothesis: &str, reference: &str) -> Self {
        let hyp = tokenize_13a(hypothesis);
        let reference = tokenize_13a(reference);
        let mut stats = BleuStats {
            hypothesis_length: hyp.len(),
            reference_length: reference.len(),
            ..Default::default()
        };
        for n in 1..=MAX_ORDER {
            let ours = ngram_counts(&hyp, n);
            let theirs = ngram_counts(&reference, n);
            stats.total[n - 1] = hyp.len().saturating_sub(n - 1);
            stats.correct[n - 1] = ours
                .iter()
                .map(|(gram, &count)| count.min(theirs.get(gram).copied().unwrap_or(0)))
                .sum();
        }
        stats
    }

    /// The score (0-100) these statistics give.
    pub fn score(&self, effective_order: bool) -> f64 {
        let mut precisions = [0.0f64; MAX_ORDER];
        let mut smooth = 1.0;
        let mut order = MAX_ORDER;
        for (n, precision) in precisions.iter_mut().enumerate() {
            let (correct, total) = (self.correct[n], self.total[n]);
            if total == 0 {
                break;
            }
            if effective_order {
                order = n + 1;
            }
            *precision = if correct == 0 {
                smooth *= 2.0;
                100.0 / (smooth * total as f64)
            } else {
                100.0 * correct as f64 / total as f64
            };
        }
        let penalty = if self.hypothesis_length >= self.reference_length {
            1.0
        } else if self.hypothesis_length > 0 {
            (1.0 - self.reference_length as f64 / self.hypothesis_length as f64).exp()
        } else {
            0.0
        };
        let log = |p: f64| if p == 0.0 { -9_999_999_999.0 } else { p.ln() };
        let mean = precisions[..order].iter().map(|&p| log(p)).sum::<f64>() / order as f64;
        penalty * mean.exp()
    }
}

/// sacrebleu's `sentence_bleu(hypothesis, [reference]).score`.
pub fn sentence_bleu(hypothesis: &str, reference: &str) -> f64 {
    BleuStats::segment(hypothesis, reference).score(true)
}

/// sacrebleu's `BLEU().corpus_score(hypotheses, [references]).score`.
pub fn corpus_bleu<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> f64 {
    let mut stats = BleuStats::default();
    for (hypothesis, reference) in pairs {
        stats += BleuStats::segment(hypothesis, reference);
    }
    stats.score(false)
}
