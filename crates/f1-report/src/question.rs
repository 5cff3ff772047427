//! The study's own question, answered from its numbers: how many of the facts
//! training taught each method learned (recall), per unit of compute, what it
//! cost in general ability (forgetting), where retrieval stands, and whether
//! that agrees with the papers the design follows.

use f1_eval::bootstrap::Interval;
use f1_eval::run::KindComparison;

use crate::findings::{method_label, SIGNIFICANCE};
use crate::study::{NamedForgetting, Run, Study};

/// A fine-tuned run against its base model on one base model's questions.
pub struct Tuned<'a> {
    pub run: &'a Run,
    /// Recall-question accuracy gain over the base model.
    pub recall_gain: Option<KindComparison>,
    /// Unseen-question accuracy gain over the base model.
    pub unseen_gain: Option<KindComparison>,
    /// Minutes of optimizer steps.
    pub minutes: Option<f64>,
    pub forgetting: Option<&'a NamedForgetting>,
}

impl Tuned<'_> {
    pub fn label(&self) -> String {
        format!(
            "{} ({})",
            self.run.variant(),
            method_label(&self.run.method)
        )
    }

    fn recall_points(&self) -> Option<Interval> {
        self.recall_gain
            .as_ref()
            .map(|g| g.difference.scaled(100.0))
    }

    /// Recall points gained per minute of training.
    fn gain_per_minute(&self) -> Option<f64> {
        Some(self.recall_points()?.value / self.minutes?.max(1e-9))
    }
}

/// A p-value as prose: "p = 0.012", or "p < 0.001".
pub fn p_text(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

/// A run's accuracy in percent on one test kind, and its questions.
pub fn accuracy(run: &Run, kind: &str) -> Option<(f64, usize)> {
    let group = run.metrics.by_test_kind.get(kind)?;
    Some((group.fact_accuracy * 100.0, group.n))
}

/// The base model's primary-mode run and its fine-tuned runs, best recall first.
pub fn tuned_runs<'a>(study: &'a Study, model: &str) -> Option<(&'a Run, Vec<Tuned<'a>>)> {
    let mode = study.primary_mode();
    let base = study
        .runs
        .iter()
        .find(|r| r.model == model && r.mode == mode && r.method == "base")?;
    let mut tuned: Vec<Tuned> = study
        .runs
        .iter()
        .filter(|r| r.model == model && r.mode == mode && r.method != "base")
        .map(|run| {
            let gain = |kind: &str| {
                study
                    .comparison(&run.name, &base.name)
                    .and_then(|c| c.by_test_kind.get(kind).cloned())
            };
            let (recall_gain, unseen_gain) = (gain("recall"), gain("unseen"));
            let minutes = study
                .training_of(run)
                .and_then(|t| t.log.last())
                .map(|last| last.step_seconds / 60.0)
                .filter(|m| *m > 0.0);
            let forgetting = study
                .general
                .as_ref()
                .and_then(|g| g.forgetting.iter().find(|f| f.model == run.variant()));
            Tuned {
                run,
                recall_gain,
                unseen_gain,
                minutes,
                forgetting,
            }
        })
        .collect();
    tuned.sort_by(|a, b| {
        let recall = |t: &Tuned| accuracy(t.run, "recall").map_or(-1.0, |a| a.0);
        recall(b).total_cmp(&recall(a))
    });
    Some((base, tuned))
}

fn recall_sentence(base: &Run, tuned: &[Tuned]) -> Option<String> {
    let (base_accuracy, n) = accuracy(base, "recall")?;
    let listed: Vec<String> = tuned
        .iter()
        .filter_map(|t| {
            let (value, _) = accuracy(t.run, "recall")?;
            let gain = t.recall_gain.as_ref()?;
            let points = gain.difference.scaled(100.0);
            Some(format!(
                "{} {value:.1}% ({:+.1} points [{:.1}, {:.1}], {})",
                t.label(),
                points.value,
                points.low,
                points.high,
                p_text(gain.p)
            ))
        })
        .collect();
    (!listed.is_empty()).then(|| {
        format!(
            "Recall: on the {n} facts training taught, asked in a phrasing it never used, the \
             base model was right on {base_accuracy:.1}%; after fine-tuning: {}.",
            listed.join("; ")
        )
    })
}

fn unseen_sentence(base: &Run, tuned: &[Tuned]) -> Option<String> {
    let (base_accuracy, n) = accuracy(base, "unseen")?;
    let listed: Vec<String> = tuned
        .iter()
        .filter_map(|t| {
            Some(format!(
                "{} {:.1}%",
                t.label(),
                accuracy(t.run, "unseen")?.0
            ))
        })
        .collect();
    let changed: Vec<String> = tuned
        .iter()
        .filter_map(|t| {
            let gain = t.unseen_gain.as_ref().filter(|g| g.p < SIGNIFICANCE)?;
            Some(format!(
                "{} {:+.1} points ({})",
                t.label(),
                gain.difference.value * 100.0,
                p_text(gain.p)
            ))
        })
        .collect();
    let verdict = if changed.is_empty() {
        "no measurable change: fine-tuning did not teach what it never showed".to_string()
    } else {
        format!(
            "measurably changed: {}; the unseen questions share answers and patterns with \
             the facts training taught",
            changed.join(", ")
        )
    };
    (!listed.is_empty()).then(|| {
        format!(
            "On the {n} unseen facts (subjects training never showed) the base model had \
             {base_accuracy:.1}% and the fine-tuned ones {}: {verdict}.",
            listed.join(", ")
        )
    })
}

fn compute_sentence(tuned: &[Tuned]) -> Option<String> {
    let rated: Vec<(&Tuned, f64)> = tuned
        .iter()
        .filter_map(|t| Some((t, t.gain_per_minute()?)))
        .collect();
    if rated.len() < 2 {
        return None;
    }
    let listed: Vec<String> = rated
        .iter()
        .map(|(t, rate)| {
            format!(
                "{} {rate:+.1} points per minute ({:.1} min of optimizer steps)",
                t.label(),
                t.minutes.unwrap_or(0.0)
            )
        })
        .collect();
    let best = rated.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
    Some(format!(
        "Per unit of compute, recall gained: {}; {} learned the most facts per minute of \
         training.",
        listed.join("; "),
        best.0.label()
    ))
}

fn forgetting_sentence(study: &Study, tuned: &[Tuned]) -> Option<String> {
    let general = study.general.as_ref()?;
    let listed: Vec<String> = tuned
        .iter()
        .filter_map(|t| {
            let f = &t.forgetting?.forgetting;
            let (d, p) = (&f.drop, p_text(f.p));
            Some(if f.p >= SIGNIFICANCE {
                format!(
                    "{} no measurable change ({:+.1} points [{:.1}, {:.1}], {p})",
                    t.label(),
                    -d.value,
                    -d.high,
                    -d.low
                )
            } else if d.value > 0.0 {
                format!(
                    "{} lost {:.1} points [{:.1}, {:.1}] ({p})",
                    t.label(),
                    d.value,
                    d.low,
                    d.high
                )
            } else {
                format!(
                    "{} gained {:.1} points [{:.1}, {:.1}] ({p})",
                    t.label(),
                    -d.value,
                    -d.high,
                    -d.low
                )
            })
        })
        .collect();
    let base = tuned.first()?.forgetting?.base.clone();
    let score = general.models.get(&base)?.score;
    (!listed.is_empty()).then(|| {
        format!(
            "General ability (mean acc_norm over {}, {} questions each): the base model scored \
             {score:.1}; change after fine-tuning: {}.",
            general.tasks.join(", "),
            general.per_task,
            listed.join("; ")
        )
    })
}

fn retrieval_sentence(study: &Study, base: &Run, tuned: &[Tuned]) -> Option<String> {
    let rag = study
        .runs
        .iter()
        .find(|r| r.model == base.model && r.method == "base" && r.mode == "rag")?;
    let (recall, _) = accuracy(rag, "recall")?;
    let mut text = format!(
        "Retrieval (the base model with BM25 fact sentences) reached {recall:.1}% on recall"
    );
    if let Some((unseen, _)) = accuracy(rag, "unseen") {
        text.push_str(&format!(" and {unseen:.1}% on unseen facts"));
    }
    if let Some(best) = tuned.first() {
        if let Some(c) = study.comparison(&rag.name, &best.run.name) {
            for kind in ["recall", "unseen"] {
                if let Some(k) = c.by_test_kind.get(kind) {
                    text.push_str(&format!(
                        "; on {kind} {:+.1} points against {} ({})",
                        k.difference.value * 100.0,
                        best.label(),
                        p_text(k.p)
                    ));
                }
            }
        }
    }
    text.push('.');
    Some(text)
}

/// The best run of `method`, if any.
fn best<'a, 'b>(tuned: &'b [Tuned<'a>], method: &str) -> Option<&'b Tuned<'a>> {
    tuned.iter().find(|t| t.run.method == method)
}

fn papers_sentence(study: &Study, tuned: &[Tuned]) -> Option<String> {
    let (lora, full) = (best(tuned, "lora")?, best(tuned, "full")?);
    let mut parts = Vec::new();
    // Learning: full against LoRA on the recall questions both answered.
    if let Some(k) = study
        .comparison(&full.run.name, &lora.run.name)
        .and_then(|c| c.by_test_kind.get("recall").cloned())
    {
        let points = k.difference.value * 100.0;
        let learned = if k.p >= SIGNIFICANCE {
            format!(
                "learned as many facts as LoRA ({points:+.1} points, {})",
                p_text(k.p)
            )
        } else if points > 0.0 {
            format!(
                "learned more facts than LoRA ({points:+.1} points, {})",
                p_text(k.p)
            )
        } else {
            format!(
                "learned fewer facts than LoRA ({points:+.1} points, {})",
                p_text(k.p)
            )
        };
        parts.push(format!("full fine-tuning {learned}"));
    }
    if let (Some(fl), Some(ff)) = (lora.forgetting, full.forgetting) {
        let (l, f) = (&fl.forgetting.drop, &ff.forgetting.drop);
        let forgot = if l.high < f.low {
            "LoRA forgot less (the intervals do not overlap)"
        } else if f.high < l.low {
            "full fine-tuning forgot less (the intervals do not overlap)"
        } else {
            "their general-ability changes are not told apart (overlapping intervals)"
        };
        parts.push(forgot.to_string());
    }
    let retrieval = retrieval_verdict(study, tuned).unwrap_or_default();
    (!parts.is_empty()).then(|| {
        format!(
            "Against the papers: Biderman et al. (2024) found that LoRA learns less and forgets \
             less; here {}.{retrieval} Gekhman et al. (2024) and Allen-Zhu & Li found new facts \
             are learned slowly, over many exposures in several phrasings: see the learning \
             curves and the accuracy by what the base model knew.",
            parts.join(", and ")
        )
    })
}

/// Ovadia et al.'s finding against the study's: retrieval against the best
/// fine-tuned run on the facts training never showed.
fn retrieval_verdict(study: &Study, tuned: &[Tuned]) -> Option<String> {
    let best = tuned.first()?;
    let rag = study
        .runs
        .iter()
        .find(|r| r.model == best.run.model && r.method == "base" && r.mode == "rag")?;
    let k = study
        .comparison(&rag.name, &best.run.name)?
        .by_test_kind
        .get("unseen")
        .cloned()?;
    let points = k.difference.value * 100.0;
    let verdict = match (k.p < SIGNIFICANCE, points > 0.0) {
        (true, true) => "agrees: retrieval beat",
        (true, false) => "disagrees: retrieval trailed",
        (false, _) => "is not resolved here: retrieval and",
    };
    let tail = match (k.p < SIGNIFICANCE, points > 0.0) {
        (false, _) => format!(" {} are level", best.label()),
        _ => format!(" {}", best.label()),
    };
    Some(format!(
        " Ovadia et al. (2024) found that retrieval beats fine-tuning for new facts; this \
         study {verdict}{tail} on unseen facts ({points:+.1} points, {}).",
        p_text(k.p)
    ))
}

/// One paragraph per base model with fine-tuned runs.
pub fn paragraphs(study: &Study) -> Vec<String> {
    study
        .models()
        .into_iter()
        .filter_map(|model| {
            let (base, tuned) = tuned_runs(study, model)?;
            if tuned.is_empty() {
                return None;
            }
            let sentences: Vec<String> = [
                recall_sentence(base, &tuned),
                compute_sentence(&tuned),
                forgetting_sentence(study, &tuned),
                unseen_sentence(base, &tuned),
                retrieval_sentence(study, base, &tuned),
                papers_sentence(study, &tuned),
            ]
            .into_iter()
            .flatten()
            .collect();
            (!sentences.is_empty()).then(|| sentences.join(" "))
        })
        .collect()
}
