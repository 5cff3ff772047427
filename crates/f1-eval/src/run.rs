//! Scoring one run's answers, summarising them with confidence intervals, and
//! comparing two runs on the questions they share.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::bleu::BleuStats;
use crate::bootstrap::{confidence_interval, mean_at, paired_p_value, Interval};
use crate::facts::{grade, Asked, FamilyEntities};
use crate::rouge::RougeScorer;

/// One answer to grade.
#[derive(Debug, Clone)]
pub struct Answer {
    pub id: String,
    pub family: String,
    pub test_kind: Option<String>,
    /// The question asked (its last user turn).
    pub question: String,
    pub reference: String,
    pub prediction: String,
    /// Each gold entity's aliases.
    pub gold: Vec<Vec<String>>,
    pub latency_s: f64,
    pub generated_tokens: usize,
}

/// Per-answer scores of a run, in answer order.
#[derive(Debug, Clone)]
pub struct RunScores {
    pub ids: Vec<String>,
    pub families: Vec<String>,
    pub kinds: Vec<String>,
    pub bleu: Vec<BleuStats>,
    pub rouge1: Vec<f64>,
    pub rouge2: Vec<f64>,
    pub rouge_l: Vec<f64>,
    /// 1 when the fact is right, else 0.
    pub fact: Vec<f64>,
    /// 1 when every gold entity is stated, whatever else is, else 0.
    pub gold_stated: Vec<f64>,
    pub latency_s: Vec<f64>,
    pub generated_tokens: Vec<usize>,
}

/// Gold entities of every family seen in `answers`: the alternatives a wrong
/// answer may state.
pub fn family_entities<'a>(
    answers: impl IntoIterator<Item = &'a Answer>,
) -> HashMap<String, FamilyEntities> {
    let mut families: HashMap<String, FamilyEntities> = HashMap::new();
    for answer in answers {
        let family = families.entry(answer.family.clone()).or_default();
        for entity in &answer.gold {
            family.add(entity);
        }
    }
    families
}

/// Scores every answer.
pub fn score(
    answers: &[Answer],
    entities: &HashMap<String, FamilyEntities>,
    rouge: &RougeScorer,
) -> RunScores {
    let empty = FamilyEntities::default();
    let mut scores = RunScores {
        ids: Vec::new(),
        families: Vec::new(),
        kinds: Vec::new(),
        bleu: Vec::new(),
        rouge1: Vec::new(),
        rouge2: Vec::new(),
        rouge_l: Vec::new(),
        fact: Vec::new(),
        gold_stated: Vec::new(),
        latency_s: Vec::new(),
        generated_tokens: Vec::new(),
    };
    for answer in answers {
        let r = rouge.score(&answer.reference, &answer.prediction);
        let family = entities.get(&answer.family).unwrap_or(&empty);
        let asked = Asked {
            question: &answer.question,
            reference: &answer.reference,
        };
        let verdict = grade(asked, &answer.prediction, &answer.gold, family);
        scores.ids.push(answer.id.clone());
        scores.families.push(answer.family.clone());
        scores
            .kinds
            .push(answer.test_kind.clone().unwrap_or_else(|| "-".into()));
        scores
            .bleu
            .push(BleuStats::segment(&answer.prediction, &answer.reference));
        scores.rouge1.push(r.rouge1);
        scores.rouge2.push(r.rouge2);
        scores.rouge_l.push(r.rouge_l);
        scores.fact.push(f64::from(u8::from(verdict.is_correct())));
        scores
            .gold_stated
            .push(f64::from(u8::from(verdict.states_gold())));
        scores.latency_s.push(answer.latency_s);
        scores.generated_tokens.push(answer.generated_tokens);
    }
    scores
}

fn corpus_bleu_at(stats: &[BleuStats], indices: &[usize]) -> f64 {
    let mut total = BleuStats::default();
    for &i in indices {
        total += stats[i];
    }
    total.score(false)
}

/// Accuracy of a group of answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupAccuracy {
    pub n: usize,
    pub fact_accuracy: f64,
    /// The share that states every gold entity (absent from summaries written
    /// before it was scored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gold_stated: Option<f64>,
}

/// A run's metrics, each with a bootstrap 95% CI.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunMetrics {
    pub n: usize,
    /// Answers that state every gold entity and no other of its family.
    pub fact_accuracy: Interval,
    /// Answers that state every gold entity, whatever else they name: the
    /// lenient reading, an upper bound where `fact_accuracy` is the lower one
    /// (absent from summaries written before it was scored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gold_stated: Option<Interval>,
    pub bleu: Interval,
    pub rouge1: Interval,
    pub rouge2: Interval,
    pub rouge_l: Interval,
    pub mean_latency_s: Interval,
    pub mean_generated_tokens: f64,
    pub by_family: BTreeMap<String, GroupAccuracy>,
    pub by_test_kind: BTreeMap<String, GroupAccuracy>,
}

fn groups(keys: &[String], fact: &[f64], gold_stated: &[f64]) -> BTreeMap<String, GroupAccuracy> {
    let mut members: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, key) in keys.iter().enumerate() {
        members.entry(key.clone()).or_default().push(i);
    }
    members
        .into_iter()
        .map(|(key, indices)| {
            let group = GroupAccuracy {
                n: indices.len(),
                fact_accuracy: mean_at(fact, &indices),
                gold_stated: Some(mean_at(gold_stated, &indices)),
            };
            (key, group)
        })
        .collect()
}

/// Summarises a run with `resamples` bootstrap resamples.
pub fn summarize(scores: &RunScores, resamples: usize, seed: u64) -> RunMetrics {
    let n = scores.ids.len();
    let ci = |values: &[f64]| confidence_interval(n, resamples, seed, |s| mean_at(values, s));
    RunMetrics {
        n,
        fact_accuracy: ci(&scores.fact),
        gold_stated: Some(ci(&scores.gold_stated)),
        bleu: confidence_interval(n, resamples, seed, |s| corpus_bleu_at(&scores.bleu, s)),
        rouge1: ci(&scores.rouge1),
        rouge2: ci(&scores.rouge2),
        rouge_l: ci(&scores.rouge_l),
        mean_latency_s: ci(&scores.latency_s),
        mean_generated_tokens: scores.generated_tokens.iter().sum::<usize>() as f64
            / n.max(1) as f64,
        by_family: groups(&scores.families, &scores.fact, &scores.gold_stated),
        by_test_kind: groups(&scores.kinds, &scores.fact, &scores.gold_stated),
    }
}

/// Paired bootstrap p-values of two runs over the questions both answered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    pub shared: usize,
    pub fact_accuracy_difference: f64,
    pub fact_accuracy_p: f64,
    pub bleu_p: f64,
    pub rouge_l_p: f64,
    /// The fact-accuracy difference on each test kind's shared questions
    /// (recall, unseen).
    #[serde(default)]
    pub by_test_kind: BTreeMap<String, KindComparison>,
}

/// Two runs' fact-accuracy difference on one kind of question.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KindComparison {
    pub shared: usize,
    /// `a - b`, as a share, with a paired bootstrap 95% CI.
    pub difference: Interval,
    pub p: f64,
}

pub fn compare(a: &RunScores, b: &RunScores, resamples: usize, seed: u64) -> Comparison {
    let positions: HashMap<&str, usize> = b
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let pairs: Vec<(usize, usize)> = a
        .ids
        .iter()
        .enumerate()
        .filter_map(|(i, id)| positions.get(id.as_str()).map(|&j| (i, j)))
        .collect();
    let n = pairs.len();
    let pick = |values: &[f64], side: usize| -> Vec<f64> {
        pairs
            .iter()
            .map(|p| values[if side == 0 { p.0 } else { p.1 }])
            .collect()
    };
    let (fact_a, fact_b) = (pick(&a.fact, 0), pick(&b.fact, 1));
    let (rouge_a, rouge_b) = (pick(&a.rouge_l, 0), pick(&b.rouge_l, 1));
    let bleu_a: Vec<BleuStats> = pairs.iter().map(|p| a.bleu[p.0]).collect();
    let bleu_b: Vec<BleuStats> = pairs.iter().map(|p| b.bleu[p.1]).collect();
    let all: Vec<usize> = (0..n).collect();
    let mut kinds: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (k, &(i, _)) in pairs.iter().enumerate() {
        kinds.entry(a.kinds[i].clone()).or_default().push(k);
    }
    let by_test_kind = kinds
        .into_iter()
        .map(|(kind, members)| {
            let pick =
                |values: &[f64]| -> Vec<f64> { members.iter().map(|&k| values[k]).collect() };
            let (x, y) = (pick(&fact_a), pick(&fact_b));
            let m = members.len();
            let difference =
                confidence_interval(m, resamples, seed, |s| mean_at(&x, s) - mean_at(&y, s));
            let p = paired_p_value(m, resamples, seed, |s| mean_at(&x, s), |s| mean_at(&y, s));
            (
                kind,
                KindComparison {
                    shared: m,
                    difference,
                    p,
                },
            )
        })
        .collect();
    Comparison {
        shared: n,
        by_test_kind,
        fact_accuracy_difference: mean_at(&fact_a, &all) - mean_at(&fact_b, &all),
        fact_accuracy_p: paired_p_value(
            n,
            resamples,
            seed,
            |s| mean_at(&fact_a, s),
            |s| mean_at(&fact_b, s),
        ),
        bleu_p: paired_p_value(
            n,
            resamples,
            seed,
            |s| corpus_bleu_at(&bleu_a, s),
            |s| corpus_bleu_at(&bleu_b, s),
        ),
        rouge_l_p: paired_p_value(
            n,
            resamples,
            seed,
            |s| mean_at(&rouge_a, s),
            |s| mean_at(&rouge_b, s),
        ),
    }
}
