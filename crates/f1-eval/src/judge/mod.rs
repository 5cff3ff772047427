//! LLM-as-judge through any OpenAI-compatible endpoint: single-answer grading
//! (plain or reference-guided) and pairwise comparison in both orders, with
//! retries of malformed verdicts, a cache of every judgment, and the statistics
//! that say how far to trust the judge.

pub mod agreement;
pub mod cache;
pub mod client;
pub mod prompt;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bootstrap::{confidence_interval, mean_at, Interval};
use crate::error::{Error, Result};
use agreement::{agreement, combine, Agreement, PairOutcome};
use cache::{prompt_hash, Cache};
use client::{Client, Endpoint};
use prompt::{parse_preference, parse_rating, Message};

/// Calls made and saved, and what went wrong.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct JudgeStats {
    pub requests: usize,
    pub cache_hits: usize,
    /// Outputs without a verdict (each retried).
    pub malformed: usize,
    /// Judgments given up on: transport errors or malformed after every retry.
    pub failures: usize,
}

/// A judge model behind an endpoint, with its cache.
pub struct Judge {
    client: Client,
    cache: Cache,
    retries: usize,
    pub stats: JudgeStats,
    /// Why the latest judgment given up on failed.
    pub last_error: Option<String>,
}

impl Judge {
    /// A judge at `endpoint` caching in `cache_path`; a malformed verdict is asked
    /// again up to `retries` times (sampled, so the retry can differ).
    pub fn new(endpoint: Endpoint, cache_path: &Path, retries: usize) -> Result<Self> {
        Ok(Self {
            client: Client::new(endpoint)?,
            cache: Cache::open(cache_path)?,
            retries,
            stats: JudgeStats::default(),
            last_error: None,
        })
    }

    /// The judge's verdict on `messages`. The first try asks plainly (greedy);
    /// each retry prefills the assistant's reply with `forced` (e.g. `Rating: [[`),
    /// sampled, so a judge that rambles still has to commit to a verdict.
    fn ask<T>(
        &mut self,
        messages: &[Message],
        forced: &str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<T> {
        let judge = self.client.endpoint().model.clone();
        let hash = prompt_hash(messages);
        if let Some(output) = self.cache.get(&judge, &hash) {
            self.stats.cache_hits += 1;
            let Some(verdict) = parse(output) else {
                let error = format!("malformed verdict (cached): {}", first_line(output));
                self.stats.failures += 1;
                self.last_error = Some(error.clone());
                return Err(Error::Judge(error));
            };
            return Ok(verdict);
        }
        let mut last_error = String::new();
        for attempt in 0..=self.retries {
            self.stats.requests += 1;
            let answer = if attempt == 0 {
                self.client.complete(messages, 0.0, 0)
            } else {
                let mut prefilled = messages.to_vec();
                prefilled.push(("assistant", forced.to_string()));
                self.client
                    .complete(&prefilled, 0.7, attempt as u64)
                    .map(|rest| format!("{forced}{rest}"))
            };
            match answer {
                Ok(output) => {
                    if let Some(verdict) = parse(&output) {
                        self.cache.put(&judge, &hash, &output)?;
                        return Ok(verdict);
                    }
                    self.stats.malformed += 1;
                    tracing::debug!(attempt, output, "malformed verdict");
                    last_error = format!("malformed verdict: {}", first_line(&output));
                    if attempt == self.retries {
                        // Kept, so a rerun does not ask again for what will not parse.
                        self.cache.put(&judge, &hash, &output)?;
                    }
                }
                Err(error) => {
                    tracing::warn!(attempt, %error, "judge request failed");
                    last_error = error.to_string();
                }
            }
        }
        self.stats.failures += 1;
        self.last_error = Some(last_error.clone());
        Err(Error::Judge(last_error))
    }

    /// A 1-10 rating of `answer`; with `reference`, graded against the gold answer.
    pub fn rate(&mut self, question: &str, answer: &str, reference: Option<&str>) -> Result<f64> {
        self.ask(
            &prompt::single(question, answer, reference),
            "Rating: [[",
            parse_rating,
        )
    }

    /// Compares two answers in both orders; returns who won and whether the two
    /// verdicts agreed.
    pub fn compare(
        &mut self,
        question: &str,
        first: &str,
        second: &str,
        reference: Option<&str>,
    ) -> Result<(PairOutcome, bool)> {
        let forward = self.ask(
            &prompt::pairwise(question, first, second, reference),
            "Final verdict: [[",
            parse_preference,
        )?;
        let backward = self.ask(
            &prompt::pairwise(question, second, first, reference),
            "Final verdict: [[",
            parse_preference,
        )?;
        Ok(combine(forward, backward))
    }

    pub fn cached_judgments(&self) -> usize {
        self.cache.len()
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(120)
        .collect()
}

/// One answer to judge, with what fact accuracy said of it.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub question: String,
    pub answer: String,
    pub reference: String,
    pub fact_correct: bool,
}

/// A run's judgments: mean ratings with bootstrap 95% CIs over the answers the
/// judge rated (failures are counted, never averaged in), and the agreement of
/// the reference-guided verdict (rating >= threshold means right) with fact accuracy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunJudgment {
    pub n: usize,
    pub rating: Option<Interval>,
    pub rating_failed: usize,
    pub reference_rating: Option<Interval>,
    pub reference_failed: usize,
    pub threshold: f64,
    pub agreement_with_fact_accuracy: Option<Agreement>,
    /// Every rating, in item order (None where the judge failed).
    pub ratings: Vec<Option<f64>>,
    pub reference_ratings: Vec<Option<f64>>,
}

fn mean_interval(values: &[f64], resamples: usize, seed: u64) -> Option<Interval> {
    (!values.is_empty())
        .then(|| confidence_interval(values.len(), resamples, seed, |i| mean_at(values, i)))
}

/// Rates every item plainly and against its reference.
pub fn judge_run(
    judge: &mut Judge,
    items: &[Item],
    threshold: f64,
    resamples: usize,
    seed: u64,
    mut progress: impl FnMut(),
) -> RunJudgment {
    let mut ratings = Vec::with_capacity(items.len());
    let mut reference_ratings = Vec::with_capacity(items.len());
    for item in items {
        let plain = judge.rate(&item.question, &item.answer, None);
        let guided = judge.rate(&item.question, &item.answer, Some(&item.reference));
        for (outcome, kind) in [(&plain, "rating"), (&guided, "reference rating")] {
            if let Err(error) = outcome {
                tracing::warn!(id = item.id, kind, %error, "judgment failed");
            }
        }
        ratings.push(plain.ok());
        reference_ratings.push(guided.ok());
        progress();
    }
    let rated: Vec<f64> = ratings.iter().flatten().copied().collect();
    let guided: Vec<f64> = reference_ratings.iter().flatten().copied().collect();
    let pairs: Vec<(bool, bool)> = items
        .iter()
        .zip(&reference_ratings)
        .filter_map(|(item, rating)| rating.map(|r| (r >= threshold, item.fact_correct)))
        .collect();
    RunJudgment {
        n: items.len(),
        rating: mean_interval(&rated, resamples, seed),
        rating_failed: items.len() - rated.len(),
        reference_rating: mean_interval(&guided, resamples, seed),
        reference_failed: items.len() - guided.len(),
        threshold,
        agreement_with_fact_accuracy: (!pairs.is_empty()).then(|| agreement(&pairs)),
        ratings,
        reference_ratings,
    }
}

/// Two runs compared answer by answer (reference-guided, both orders).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairJudgment {
    pub first: String,
    pub second: String,
    pub n: usize,
    pub first_wins: usize,
    pub second_wins: usize,
    pub ties: usize,
    pub failed: usize,
    /// The share of compared answers whose verdict survived swapping the order.
    pub position_consistency: Option<f64>,
}

/// Compares `first` and `second` on the items they share (matched by id).
pub fn judge_pair(
    judge: &mut Judge,
    names: (&str, &str),
    first: &[Item],
    second: &[Item],
    mut progress: impl FnMut(),
) -> PairJudgment {
    let mut result = PairJudgment {
        first: names.0.to_string(),
        second: names.1.to_string(),
        n: 0,
        first_wins: 0,
        second_wins: 0,
        ties: 0,
        failed: 0,
        position_consistency: None,
    };
    let mut consistent = 0;
    for a in first {
        let Some(b) = second.iter().find(|b| b.id == a.id) else {
            continue;
        };
        result.n += 1;
        match judge.compare(&a.question, &a.answer, &b.answer, Some(&a.reference)) {
            Ok((outcome, agreed)) => {
                consistent += usize::from(agreed);
                match outcome {
                    PairOutcome::First => result.first_wins += 1,
                    PairOutcome::Second => result.second_wins += 1,
                    PairOutcome::Tie => result.ties += 1,
                }
            }
            Err(error) => {
                tracing::warn!(id = a.id, %error, "comparison failed");
                result.failed += 1;
            }
        }
        progress();
    }
    let compared = result.n - result.failed;
    result.position_consistency = (compared > 0).then(|| consistent as f64 / compared as f64);
    result
}
