//! BLEU and ROUGE against the values sacrebleu 2.6.0 and rouge-score gave for the
//! same pairs (../shared/golden/metrics).

use std::path::PathBuf;

use f1_eval::bleu::{corpus_bleu, sentence_bleu};
use f1_eval::rouge::RougeScorer;
use serde_json::Value;

fn golden(file: &str) -> String {
    let dir = std::env::var_os("F1AI_SHARED_GOLDEN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden")
        });
    std::fs::read_to_string(dir.join("metrics").join(file)).unwrap()
}

fn pairs() -> Vec<Value> {
    golden("pairs.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn sentence_and_corpus_bleu_match_sacrebleu() {
    let pairs = pairs();
    assert_eq!(pairs.len(), 260);
    let mut wrong = Vec::new();
    for pair in &pairs {
        let (h, r) = (
            pair["hypothesis"].as_str().unwrap(),
            pair["reference"].as_str().unwrap(),
        );
        let want = pair["sentence_bleu"].as_f64().unwrap();
        let got = sentence_bleu(h, r);
        if (got - want).abs() > 0.01 {
            wrong.push(format!("{h:?} / {r:?}: {got} vs {want}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of 260 differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    let corpus: Value = serde_json::from_str(&golden("corpus.json")).unwrap();
    let got = corpus_bleu(pairs.iter().map(|p| {
        (
            p["hypothesis"].as_str().unwrap(),
            p["reference"].as_str().unwrap(),
        )
    }));
    let want = corpus["corpus_bleu"].as_f64().unwrap();
    assert!((got - want).abs() < 0.01, "corpus BLEU {got} vs {want}");
}

fn check_rouge(stemmed: bool) {
    let scorer = RougeScorer::new(stemmed);
    let key = if stemmed { "rouge_stemmed" } else { "rouge" };
    let mut wrong = Vec::new();
    for pair in pairs() {
        let (h, r) = (
            pair["hypothesis"].as_str().unwrap(),
            pair["reference"].as_str().unwrap(),
        );
        let got = scorer.score(r, h);
        for (name, value) in [
            ("rouge1", got.rouge1),
            ("rouge2", got.rouge2),
            ("rougeL", got.rouge_l),
        ] {
            let want = pair[key][name].as_f64().unwrap();
            if (value - want).abs() > 0.001 {
                wrong.push(format!("{name} {h:?} / {r:?}: {value} vs {want}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn rouge_matches_rouge_score() {
    check_rouge(false);
}

#[test]
fn stemmed_rouge_matches_rouge_score() {
    check_rouge(true);
}

#[test]
fn stemming_joins_inflections_of_longer_words_only() {
    let plain = RougeScorer::new(false).score("The drivers raced", "The driver races");
    let stemmed = RougeScorer::new(true).score("The drivers raced", "The driver races");
    assert!((plain.rouge1 - 1.0 / 3.0).abs() < 1e-9, "{plain:?}");
    assert_eq!(stemmed.rouge1, 1.0);
    assert_eq!(stemmed.rouge_l, 1.0);
    // Three characters or fewer are left alone; punctuation and case never count.
    assert_eq!(
        RougeScorer::new(true).tokenize("Cars, WON! it's"),
        ["car", "won", "it", "s"]
    );
    assert_eq!(RougeScorer::new(false).score("", "anything").rouge_l, 0.0);
}
