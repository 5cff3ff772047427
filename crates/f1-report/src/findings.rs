//! The findings paragraph: which method won on what, with the confidence
//! intervals and paired p-values behind each claim, computed from the results
//! (nothing here is written in advance).

use std::collections::BTreeSet;

use f1_eval::bootstrap::Interval;

use crate::study::{Run, Study, TrainingRun};

/// Below this paired bootstrap p-value a difference counts as real.
pub const SIGNIFICANCE: f64 = 0.05;

/// How a method is named in prose.
pub fn method_label(method: &str) -> &str {
    match method {
        "base" => "the base model",
        "lora" => "LoRA",
        "full" => "full fine-tuning",
        other => other,
    }
}

/// `12.0% [4.0, 20.0]` for a share in [0, 1].
pub fn percent(interval: &Interval) -> String {
    let p = interval.scaled(100.0);
    format!("{:.1}% [{:.1}, {:.1}]", p.value, p.low, p.high)
}

fn p_value(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

/// The runs of one model in one mode, by method.
struct Methods<'a> {
    base: Option<&'a Run>,
    lora: Option<&'a Run>,
    full: Option<&'a Run>,
}

impl<'a> Methods<'a> {
    fn of(study: &'a Study, model: &str, mode: &str) -> Self {
        let find = |method: &str| {
            study
                .runs
                .iter()
                .find(|r| r.model == model && r.mode == mode && r.method == method)
        };
        Self {
            base: find("base"),
            lora: find("lora"),
            full: find("full"),
        }
    }

    fn present(&self) -> Vec<&'a Run> {
        [self.base, self.lora, self.full]
            .into_iter()
            .flatten()
            .collect()
    }
}

/// The fact-accuracy verdict of `a` against `b` on their shared questions.
enum Verdict {
    Better { points: f64, p: f64, shared: usize },
    Worse { points: f64, p: f64, shared: usize },
    Level { points: f64, p: f64, shared: usize },
}

fn verdict(study: &Study, a: &Run, b: &Run) -> Option<Verdict> {
    let c = study.comparison(&a.name, &b.name)?;
    // `+ 0.0` turns a negative zero into a positive one for printing.
    let points = c.fact_accuracy_difference * 100.0 + 0.0;
    let (p, shared) = (c.fact_accuracy_p, c.shared);
    Some(if p < SIGNIFICANCE && points > 0.0 {
        Verdict::Better { points, p, shared }
    } else if p < SIGNIFICANCE && points < 0.0 {
        Verdict::Worse { points, p, shared }
    } else {
        Verdict::Level { points, p, shared }
    })
}

fn describe(study: &Study, a: &Run, b: &Run) -> Option<String> {
    let (x, y) = (method_label(&a.method), method_label(&b.method));
    Some(match verdict(study, a, b)? {
        Verdict::Better { points, p, shared } => format!(
            "{x} beat {y} by {points:+.1} points ({}, {shared} shared questions)",
            p_value(p)
        ),
        Verdict::Worse { points, p, shared } => format!(
            "{x} trailed {y} by {:.1} points ({}, {shared} shared questions)",
            -points,
            p_value(p)
        ),
        Verdict::Level { points, p, shared } => format!(
            "{x} and {y} differ by {points:+.1} points, which is within noise ({}, {shared} \
             shared questions)",
            p_value(p)
        ),
    })
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `method value` for each run that has a value, and how many do.
fn listed(runs: &[&Run], value: impl Fn(&Run) -> Option<String>) -> (String, usize) {
    let items: Vec<String> = runs
        .iter()
        .filter_map(|r| Some(format!("{} {}", method_label(&r.method), value(r)?)))
        .collect();
    (items.join("; "), items.len())
}

fn accuracy_sentence(methods: &Methods, model: &str, mode: &str) -> Option<String> {
    let runs = methods.present();
    let n = runs.first()?.metrics.n;
    let (listed, _) = listed(&runs, |r| Some(percent(&r.metrics.fact_accuracy)));
    let questions =
        |run: &Run| -> BTreeSet<String> { run.predictions.iter().map(|p| p.id.clone()).collect() };
    let first = questions(runs[0]);
    if runs.iter().all(|r| questions(r) == first) {
        Some(format!(
            "On {model}'s {n} {mode} test questions, fact accuracy (95% CI) was: {listed}."
        ))
    } else {
        Some(format!(
            "{model}'s {mode} fact accuracy (95% CI) was: {listed}; these runs answered different \
             questions, so only paired comparisons on shared ones are like for like."
        ))
    }
}

fn rouge_sentence(methods: &Methods) -> Option<String> {
    let (listed, count) = listed(&methods.present(), |r| {
        Some(r.metrics.rouge_l.scaled(100.0).format(1))
    });
    (count >= 2).then(|| format!("Overlap with the reference answers (ROUGE-L F1 x100): {listed}."))
}

fn perplexity_sentence(study: &Study, methods: &Methods) -> Option<String> {
    let (listed, count) = listed(&methods.present(), |r| {
        Some(study.perplexity.get(&r.variant())?.perplexity.format(2))
    });
    (count >= 2)
        .then(|| format!("Perplexity of the reference answers (lower is better): {listed}."))
}

fn multiple_choice_sentence(study: &Study, methods: &Methods) -> Option<String> {
    let present = methods.present();
    let (listed, count) = listed(&present, |r| {
        Some(
            study
                .multiple_choice
                .get(&r.variant())?
                .acc
                .scaled(100.0)
                .format(1),
        )
    });
    let first = present
        .iter()
        .find_map(|r| study.multiple_choice.get(&r.variant()))?;
    (count >= 2).then(|| {
        format!(
            "Multiple choice by log-likelihood ({} questions, chance {:.0}%), accuracy %: {listed}.",
            first.n,
            first.chance * 100.0
        )
    })
}

fn gib(mib: f64) -> f64 {
    mib / 1024.0
}

fn cost_sentence(lora: Option<&TrainingRun>, full: Option<&TrainingRun>) -> Option<String> {
    let describe = |t: &TrainingRun| {
        let s = &t.summary;
        format!(
            "{} trained {:.2}% of {:.0}M parameters for {} steps in {:.1} min at {:.1} GiB peak memory",
            method_label(t.method_name()),
            100.0 * s.trainable_parameters as f64 / s.total_parameters.max(1) as f64,
            s.total_parameters as f64 / 1e6,
            s.steps,
            s.wall_seconds / 60.0,
            gib(s.peak_rss_mib)
        )
    };
    match (lora, full) {
        (Some(l), Some(f)) => Some(format!(
            "{}; {}: {:.1}x the time and {:.1}x the memory of LoRA.",
            capitalised(&describe(l)),
            describe(f),
            f.summary.wall_seconds / l.summary.wall_seconds.max(f64::MIN_POSITIVE),
            f.summary.peak_rss_mib / l.summary.peak_rss_mib.max(f64::MIN_POSITIVE)
        )),
        (Some(one), None) | (None, Some(one)) => Some(format!("{}.", capitalised(&describe(one)))),
        (None, None) => None,
    }
}

fn verdict_sentences(study: &Study, methods: &Methods, cost_ratio: Option<f64>) -> Vec<String> {
    let mut sentences = Vec::new();
    if let (Some(lora), Some(full)) = (methods.lora, methods.full) {
        let cost = cost_ratio
            .map(|r| format!(" at {r:.1}x LoRA's training time"))
            .unwrap_or_default();
        sentences.push(match verdict(study, full, lora) {
            Some(Verdict::Better { points, p, .. }) => format!(
                "Was full fine-tuning worth it over LoRA? On fact accuracy, yes: {points:+.1} \
                 points ({}){cost}.",
                p_value(p)
            ),
            Some(Verdict::Worse { points, p, .. }) => format!(
                "Was full fine-tuning worth it over LoRA? No: it was {:.1} points less accurate \
                 ({}){cost}.",
                -points,
                p_value(p)
            ),
            Some(Verdict::Level { points, p, .. }) => format!(
                "Was full fine-tuning worth it over LoRA? Not measurably: {points:+.1} points of \
                 fact accuracy ({}){cost}.",
                p_value(p)
            ),
            None => "Full fine-tuning and LoRA answered no shared questions, so they are not \
                     compared."
                .to_string(),
        });
    }
    if let Some(base) = methods.base {
        for tuned in [methods.lora, methods.full].into_iter().flatten() {
            if let Some(text) = describe(study, tuned, base) {
                sentences.push(format!("{}.", capitalised(&text)));
            }
        }
    }
    sentences
}

fn judge_sentence(study: &Study, runs: &[&Run]) -> Option<String> {
    let judgments = study.judgments.as_ref()?;
    let listed: Vec<String> = runs
        .iter()
        .filter_map(|r| {
            let j = judgments.runs.get(&r.name)?;
            let rating = j.rating.as_ref()?;
            let mut text = format!("{} {}", r.name, rating.format(1));
            if j.rating_failed > 0 {
                text.push_str(&format!(" ({} unrated)", j.rating_failed));
            }
            if let Some(a) = &j.agreement_with_fact_accuracy {
                text.push_str(&format!(
                    ", agreeing with fact accuracy on {:.0}% (kappa {:.2})",
                    a.accuracy * 100.0,
                    a.kappa
                ));
            }
            Some(text)
        })
        .collect();
    (!listed.is_empty()).then(|| {
        format!(
            "The judge ({}) rated answers 1-10: {}.",
            judgments.judge.model,
            listed.join("; ")
        )
    })
}

fn retrieval_sentence(study: &Study, model: &str, best_tuned: Option<&Run>) -> Option<String> {
    let rag = study
        .runs
        .iter()
        .find(|r| r.model == model && r.method == "base" && r.mode == "rag")?;
    let mut text = format!(
        "With retrieval instead of training, the base model reached {} fact accuracy",
        percent(&rag.metrics.fact_accuracy)
    );
    if let Some(tuned) = best_tuned {
        if let Some(c) = study.comparison(&rag.name, &tuned.name) {
            text.push_str(&format!(
                " ({:+.1} points against {} zero-shot, {})",
                c.fact_accuracy_difference * 100.0,
                method_label(&tuned.method),
                p_value(c.fact_accuracy_p)
            ));
        }
    }
    text.push('.');
    Some(text)
}

/// One paragraph per model, then the judge's.
pub fn findings(study: &Study) -> Vec<String> {
    let mode = study.primary_mode();
    let mut paragraphs = Vec::new();
    for model in study.models() {
        let methods = Methods::of(study, model, mode);
        let training = |run: Option<&Run>| run.and_then(|r| study.training_of(r));
        let (lora_training, full_training) = (training(methods.lora), training(methods.full));
        let cost_ratio = match (lora_training, full_training) {
            (Some(l), Some(f)) => {
                Some(f.summary.wall_seconds / l.summary.wall_seconds.max(f64::MIN_POSITIVE))
            }
            _ => None,
        };
        let best_tuned = [methods.lora, methods.full]
            .into_iter()
            .flatten()
            .max_by(|a, b| {
                a.metrics
                    .fact_accuracy
                    .value
                    .total_cmp(&b.metrics.fact_accuracy.value)
            });
        let mut sentences: Vec<String> = [
            accuracy_sentence(&methods, model, mode),
            rouge_sentence(&methods),
            perplexity_sentence(study, &methods),
            multiple_choice_sentence(study, &methods),
            cost_sentence(lora_training, full_training),
        ]
        .into_iter()
        .flatten()
        .collect();
        sentences.extend(verdict_sentences(study, &methods, cost_ratio));
        sentences.extend(retrieval_sentence(study, model, best_tuned));
        if !sentences.is_empty() {
            paragraphs.push(sentences.join(" "));
        }
    }
    let primary: Vec<&Run> = study.primary_runs().collect();
    paragraphs.extend(judge_sentence(study, &primary));
    paragraphs
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use f1_eval::run::{Comparison, RunMetrics};

    use super::*;
    use crate::study::NamedComparison;

    fn interval(value: f64) -> Interval {
        Interval {
            value,
            low: value - 0.1,
            high: value + 0.1,
        }
    }

    fn run(method: &str, accuracy: f64) -> Run {
        let prediction: f1_baseline::Prediction = serde_json::from_value(serde_json::json!({
            "id": "q1", "model": "smollm2", "method": method, "mode": "zero-shot",
            "family": "race_winner", "fact_id": "f", "test_kind": null, "question": "?",
            "reference": "r", "prediction": "p", "gold": [], "prompt_tokens": 1,
            "generated_tokens": 1, "latency_s": 0.1, "finish_reason": "stop"
        }))
        .unwrap();
        Run {
            name: format!("smollm2-{method}-zero-shot"),
            model: "smollm2".into(),
            method: method.into(),
            mode: "zero-shot".into(),
            metrics: RunMetrics {
                n: 50,
                fact_accuracy: interval(accuracy),
                gold_stated: Some(interval(accuracy + 0.05)),
                bleu: interval(10.0),
                rouge1: interval(0.3),
                rouge2: interval(0.1),
                rouge_l: interval(0.3),
                mean_latency_s: interval(1.0),
                mean_generated_tokens: 10.0,
                by_family: BTreeMap::new(),
                by_test_kind: BTreeMap::new(),
            },
            predictions: vec![prediction],
        }
    }

    fn study(full_vs_lora_p: f64) -> Study {
        let comparison = |a: &str, b: &str, difference: f64, p: f64| NamedComparison {
            a: format!("smollm2-{a}-zero-shot"),
            b: format!("smollm2-{b}-zero-shot"),
            comparison: Comparison {
                shared: 50,
                fact_accuracy_difference: difference,
                fact_accuracy_p: p,
                bleu_p: 0.5,
                rouge_l_p: 0.5,
                by_test_kind: BTreeMap::new(),
            },
        };
        Study {
            runs: vec![run("base", 0.1), run("lora", 0.3), run("full", 0.36)],
            comparisons: vec![
                comparison("base", "lora", -0.2, 0.004),
                comparison("full", "lora", 0.06, full_vs_lora_p),
            ],
            perplexity: BTreeMap::new(),
            multiple_choice: BTreeMap::new(),
            judgments: None,
            training: Vec::new(),
            general: None,
            knowledge: BTreeMap::new(),
        }
    }

    #[test]
    fn the_verdict_follows_the_p_value() {
        let level = findings(&study(0.4)).join(" ");
        assert!(
            level.contains("Was full fine-tuning worth it over LoRA? Not measurably: +6.0 points of fact accuracy (p = 0.400)."),
            "{level}"
        );
        let better = findings(&study(0.01)).join(" ");
        assert!(
            better.contains("Was full fine-tuning worth it over LoRA? On fact accuracy, yes: +6.0 points (p = 0.010)."),
            "{better}"
        );
        // The comparison stored as base-vs-LoRA is read the other way round.
        assert!(
            level.contains(
                "LoRA beat the base model by +20.0 points (p = 0.004, 50 shared questions)."
            ),
            "{level}"
        );
        assert!(
            level.contains("On smollm2's 50 zero-shot test questions"),
            "{level}"
        );
    }

    #[test]
    fn runs_over_different_questions_are_flagged() {
        let mut study = study(0.4);
        study.runs[2].predictions[0].id = "q2".into();
        let text = findings(&study).join(" ");
        assert!(
            text.contains("these runs answered different questions"),
            "{text}"
        );
    }
}
