//! ROUGE-1, ROUGE-2 and ROUGE-L F-measures as Google's `rouge-score` computes them:
//! lowercase, runs of anything but `[a-z0-9]` split tokens, and optionally tokens
//! longer than three characters are stemmed. The stemmer is Snowball English
//! (Porter2, `rust-stemmers`); rouge-score uses NLTK's Porter, which differs on rare
//! words ("generously"), and agrees on every golden pair.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use rust_stemmers::{Algorithm, Stemmer};

static NON_ALPHANUMERIC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[^a-z0-9]+").expect("static pattern"));

/// ROUGE F-measures of one prediction against one reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RougeScores {
    pub rouge1: f64,
    pub rouge2: f64,
    pub rouge_l: f64,
}

/// Tokenizes (and optionally stems) as `rouge_score.tokenize` does.
pub struct RougeScorer {
    stemmer: Option<Stemmer>,
}

impl RougeScorer {
    pub fn new(use_stemmer: bool) -> Self {
        Self {
            stemmer: use_stemmer.then(|| Stemmer::create(Algorithm::English)),
        }
    }

    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let lower = text.to_lowercase();
        NON_ALPHANUMERIC
            .replace_all(&lower, " ")
            .split_whitespace()
            .map(|token| match &self.stemmer {
                Some(stemmer) if token.chars().count() > 3 => stemmer.stem(token).into_owned(),
                _ => token.to_string(),
            })
            .filter(|token| !token.is_empty())
            .collect()
    }

    /// `RougeScorer(["rouge1", "rouge2", "rougeL"]).score(reference, prediction)`.
    pub fn score(&self, reference: &str, prediction: &str) -> RougeScores {
        let target = self.tokenize(reference);
        let predicted = self.tokenize(prediction);
        RougeScores {
            rouge1: ngram_f1(&target, &predicted, 1),
            rouge2: ngram_f1(&target, &predicted, 2),
            rouge_l: lcs_f1(&target, &predicted),
        }
    }
}

fn f_measure(matches: usize, target: usize, predicted: usize) -> f64 {
    let precision = matches as f64 / predicted.max(1) as f64;
    let recall = matches as f64 / target.max(1) as f64;
    if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    }
}

fn ngrams(tokens: &[String], n: usize) -> HashMap<&[String], usize> {
    let mut counts = HashMap::new();
    for gram in tokens.windows(n) {
        *counts.entry(gram).or_insert(0) += 1;
    }
    counts
}

fn ngram_f1(target: &[String], predicted: &[String], n: usize) -> f64 {
    let ours = ngrams(predicted, n);
    let theirs = ngrams(target, n);
    let matches = ours
        .iter()
        .map(|(gram, &count)| count.min(theirs.get(gram).copied().unwrap_or(0)))
        .sum();
    f_measure(matches, theirs.values().sum(), ours.values().sum())
}

fn lcs_f1(target: &[String], predicted: &[String]) -> f64 {
    if target.is_empty() || predicted.is_empty() {
        return 0.0;
    }
    let mut row = vec![0usize; predicted.len() + 1];
    for t in target {
        let mut diagonal = 0;
        for (j, p) in predicted.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if t == p {
                diagonal + 1
            } else {
                above.max(row[j])
            };
            diagonal = above;
        }
    }
    f_measure(row[predicted.len()], target.len(), predicted.len())
}
