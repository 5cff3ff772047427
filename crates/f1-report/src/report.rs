//! Assembles the report from a [`Study`]: which charts and tables, in what
//! order, and where they are written.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use f1_eval::bootstrap::Interval;
use f1_eval::facts::{grade, Asked, FamilyEntities};
use f1_train::metrics::RunSummary;
use plotters::style::RGBColor;

use crate::chart::{self, Figure};
use crate::document::{self, Document, Table};
use crate::error::Result;
use crate::findings::{self, percent};
use crate::study::{Run, Study, TrainingRun};
use f1_train::metrics::StepRecord;

/// Where the report goes.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// report.html and report.md.
    pub reports: PathBuf,
    /// Every chart as SVG and PNG.
    pub charts: PathBuf,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    pub html: PathBuf,
    pub markdown: PathBuf,
    /// The SVG and PNG files.
    pub charts: Vec<PathBuf>,
    pub findings: Vec<String>,
}

/// Example answers shown side by side.
const EXAMPLES: usize = 8;

fn method_colour(method: &str) -> RGBColor {
    match method {
        "base" => chart::series_colour(7),
        "lora" => chart::series_colour(0),
        "full" => chart::series_colour(1),
        _ => chart::series_colour(4),
    }
}

fn metric_bars(study: &Study, axis: &str, pick: impl Fn(&Run) -> Interval) -> chart::IntervalBars {
    chart::IntervalBars {
        axis: axis.to_string(),
        bars: study
            .runs
            .iter()
            .map(|run| chart::bars::Bar {
                label: run.name.clone(),
                value: pick(run),
                colour: method_colour(&run.method),
            })
            .collect(),
    }
}

/// Each training run's colour: its method's, lighter for each further run of
/// the same method, so every chart keeps one hue per method.
fn run_colours(study: &Study) -> HashMap<String, RGBColor> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    study
        .training
        .iter()
        .map(|t| {
            let n = seen.entry(t.method_name()).or_default();
            let base = method_colour(t.method_name());
            let shade = (*n as f64 * 0.22).min(0.66);
            *n += 1;
            let mix = |c: u8| (f64::from(c) + (255.0 - f64::from(c)) * shade) as u8;
            (
                t.summary.run_name.clone(),
                RGBColor(mix(base.0), mix(base.1), mix(base.2)),
            )
        })
        .collect()
}

/// Each training run's (minutes, value %) at its evaluations, from minute 0
/// when the value before training was recorded.
fn evaluated(
    run: &TrainingRun,
    start: Option<f64>,
    value: impl Fn(&StepRecord) -> Option<f64>,
) -> Vec<(f64, f64)> {
    start
        .map(|s| (0.0, s * 100.0))
        .into_iter()
        .chain(
            run.log
                .iter()
                .filter(|r| r.val_loss.is_some())
                .filter_map(|r| Some((r.step_seconds / 60.0, value(r)? * 100.0))),
        )
        .collect()
}

fn learning_curves(study: &Study) -> Option<chart::LearningCurves> {
    let colours = run_colours(study);
    let curves: Vec<chart::learning::LearningCurve> = study
        .training
        .iter()
        .filter_map(|t| {
            let start = t.initial.map(|v| v.probe);
            let solid = evaluated(t, start.and_then(|s| s.recall), |r| r.probe_recall);
            let dashed = evaluated(t, start.and_then(|s| s.unseen), |r| r.probe_unseen);
            (solid.len() > 1 || dashed.len() > 1).then(|| chart::learning::LearningCurve {
                label: t.summary.run_name.clone(),
                colour: colours[&t.summary.run_name],
                solid,
                dashed,
            })
        })
        .collect();
    (!curves.is_empty()).then(|| chart::LearningCurves {
        axis: "validation-probe fact accuracy (%)".into(),
        names: ["recall".into(), "unseen".into()],
        curves,
    })
}

/// The general-ability score at each evaluation, for runs that measured it.
fn forgetting_curves(study: &Study) -> Option<chart::LearningCurves> {
    let colours = run_colours(study);
    let curves: Vec<chart::learning::LearningCurve> = study
        .training
        .iter()
        .filter_map(|t| {
            let solid = evaluated(t, t.initial.and_then(|v| v.general), |r| r.general);
            (solid.len() > 1).then(|| chart::learning::LearningCurve {
                label: t.summary.run_name.clone(),
                colour: colours[&t.summary.run_name],
                solid,
                dashed: Vec::new(),
            })
        })
        .collect();
    (!curves.is_empty()).then(|| chart::LearningCurves {
        axis: "general ability (mean acc_norm %)".into(),
        names: ["general ability".into(), String::new()],
        curves,
    })
}

fn learning_forgetting(study: &Study) -> Option<chart::LearningForgetting> {
    let colours = run_colours(study);
    let points: Vec<chart::tradeoff::TradeoffPoint> = study
        .models()
        .into_iter()
        .filter_map(|model| crate::question::tuned_runs(study, model))
        .flat_map(|(_, tuned)| tuned)
        .filter_map(|t| {
            let learning = t.recall_gain.as_ref()?.difference.scaled(100.0);
            let forgetting = t.forgetting?.forgetting.drop;
            let variant = t.run.variant();
            Some(chart::tradeoff::TradeoffPoint {
                colour: colours
                    .get(&variant)
                    .copied()
                    .unwrap_or_else(|| method_colour(&t.run.method)),
                label: variant,
                forgetting,
                learning,
            })
        })
        .collect();
    (!points.is_empty()).then_some(chart::LearningForgetting { points })
}

fn loss_curves(study: &Study) -> chart::LossCurves {
    let colours = run_colours(study);
    chart::LossCurves {
        curves: study
            .training
            .iter()
            .map(|t| {
                let initial = t.summary.initial_val_loss.map(|loss| (0.0, loss));
                chart::loss::Curve {
                    label: t.summary.run_name.clone(),
                    colour: colours[&t.summary.run_name],
                    train: t.log.iter().map(|r| (r.step as f64, r.loss)).collect(),
                    validation: initial
                        .into_iter()
                        .chain(
                            t.log
                                .iter()
                                .filter_map(|r| r.val_loss.map(|v| (r.step as f64, v))),
                        )
                        .collect(),
                }
            })
            .collect(),
    }
}

/// Quality against a training cost, over the primary mode's runs; None when no
/// fine-tuned run has a training summary.
fn quality_cost(
    study: &Study,
    axis: &str,
    cost: impl Fn(&RunSummary) -> f64,
) -> Option<chart::QualityCost> {
    let mut points = Vec::new();
    let mut trained = false;
    for run in study.primary_runs() {
        let value = if run.method == "base" {
            0.0
        } else {
            let training = study.training_of(run)?;
            trained = true;
            cost(&training.summary)
        };
        points.push(chart::scatter::Point {
            label: match run.method.as_str() {
                "base" => format!("{} base", run.model),
                _ => run.variant(),
            },
            colour: method_colour(&run.method),
            cost: value,
            accuracy: run.metrics.fact_accuracy.scaled(100.0),
        });
    }
    trained.then(|| chart::QualityCost {
        axis: axis.to_string(),
        points,
    })
}

fn rating_histogram(study: &Study) -> Option<chart::RatingHistogram> {
    let judgments = study.judgments.as_ref()?;
    let runs: Vec<chart::histogram::Ratings> = study
        .runs
        .iter()
        .filter_map(|run| {
            let judged = judgments.runs.get(&run.name)?;
            let ratings: Vec<f64> = judged.ratings.iter().flatten().copied().collect();
            (!ratings.is_empty()).then(|| chart::histogram::Ratings {
                label: run.name.clone(),
                colour: method_colour(&run.method),
                ratings,
            })
        })
        .collect();
    (!runs.is_empty()).then_some(chart::RatingHistogram { runs })
}

fn family_heatmap(study: &Study) -> chart::Heatmap {
    let families: BTreeSet<&String> = study
        .runs
        .iter()
        .flat_map(|r| r.metrics.by_family.keys())
        .collect();
    chart::Heatmap {
        rows: families.iter().map(|f| f.to_string()).collect(),
        columns: study.runs.iter().map(|r| r.name.clone()).collect(),
        cells: families
            .iter()
            .map(|family| {
                study
                    .runs
                    .iter()
                    .map(|run| {
                        run.metrics
                            .by_family
                            .get(*family)
                            .map(|g| (g.fact_accuracy, g.n))
                    })
                    .collect()
            })
            .collect(),
    }
}

/// A metric charted per run.
struct MetricChart {
    name: &'static str,
    title: &'static str,
    axis: &'static str,
    /// What the stored value is multiplied by for display.
    factor: f64,
    of: fn(&Run) -> Interval,
}

const METRICS: [MetricChart; 5] = [
    MetricChart {
        name: "fact-accuracy",
        title: "Fact accuracy",
        axis: "fact accuracy (%)",
        factor: 100.0,
        of: |r| r.metrics.fact_accuracy,
    },
    MetricChart {
        name: "bleu",
        title: "BLEU",
        axis: "corpus BLEU (sacrebleu 13a)",
        factor: 1.0,
        of: |r| r.metrics.bleu,
    },
    MetricChart {
        name: "rouge-1",
        title: "ROUGE-1",
        axis: "ROUGE-1 F1 (x100)",
        factor: 100.0,
        of: |r| r.metrics.rouge1,
    },
    MetricChart {
        name: "rouge-2",
        title: "ROUGE-2",
        axis: "ROUGE-2 F1 (x100)",
        factor: 100.0,
        of: |r| r.metrics.rouge2,
    },
    MetricChart {
        name: "rouge-l",
        title: "ROUGE-L",
        axis: "ROUGE-L F1 (x100)",
        factor: 100.0,
        of: |r| r.metrics.rouge_l,
    },
];

/// A training cost that quality is charted against.
struct CostChart {
    name: &'static str,
    title: &'static str,
    axis: &'static str,
    of: fn(&RunSummary) -> f64,
}

const COSTS: [CostChart; 2] = [
    CostChart {
        name: "quality-vs-time",
        title: "Quality against training time",
        axis: "training wall time (min)",
        of: |s| s.wall_seconds / 60.0,
    },
    CostChart {
        name: "quality-vs-memory",
        title: "Quality against training memory",
        axis: "training peak memory (GiB)",
        of: |s| s.peak_rss_mib / 1024.0,
    },
];

fn figures(study: &Study, dir: &Path) -> Result<Vec<Figure>> {
    let mut figures = Vec::new();
    if let Some(curves) = learning_curves(study) {
        figures.push(chart::render(
            &curves,
            "learning-curves",
            "Fact accuracy against training time",
            "The validation probe at each evaluation: solid lines, recall questions (facts the \
             run trained on, asked in a held-out phrasing); dashed, facts it never saw. Minute 0 \
             is the untrained model. Blue: LoRA, red: full fine-tuning (lighter: further runs).",
            dir,
        )?);
    }
    if let Some(curves) = forgetting_curves(study) {
        figures.push(chart::render(
            &curves,
            "forgetting-curves",
            "General ability against training time",
            "Mean acc_norm over the general-ability tasks' fixed samples at each evaluation of \
             the runs that measured it (general_eval.per_task); minute 0 is the untrained model.",
            dir,
        )?);
    }
    if let Some(tradeoff) = learning_forgetting(study) {
        figures.push(chart::render(
            &tradeoff,
            "learning-vs-forgetting",
            "Learning against forgetting",
            "One point per fine-tuned run: recall fact accuracy gained over its base model (up) \
             against general ability lost (right: mean acc_norm over ARC-Easy, ARC-Challenge, \
             PIQA, HellaSwag); whiskers: paired bootstrap 95% CIs. Blue: LoRA, red: full.",
            dir,
        )?);
    }
    if study.training.iter().any(|t| !t.log.is_empty()) {
        figures.push(chart::render(
            &loss_curves(study),
            "loss-curves",
            "Training and validation loss",
            "Thin lines: training loss per optimizer step; thick lines with dots: validation \
             loss (step 0 is the untrained model).",
            dir,
        )?);
    }
    for metric in METRICS {
        figures.push(chart::render(
            &metric_bars(study, metric.axis, |r| (metric.of)(r).scaled(metric.factor)),
            metric.name,
            &format!("{} per run", metric.title),
            "Bars: the value over the run's answers; whiskers: bootstrap 95% confidence \
             interval. Grey: base, blue: LoRA, red: full fine-tuning.",
            dir,
        )?);
    }
    if !study.perplexity.is_empty() {
        let bars = variant_bars(
            study,
            "perplexity of the reference answers (lower is better)",
            study.perplexity.iter().map(|(v, p)| (v, p.perplexity)),
        );
        figures.push(chart::render(
            &bars,
            "perplexity",
            "Perplexity per model",
            "Teacher-forced perplexity of the test split's reference answers (assistant tokens \
             only); whiskers: bootstrap 95% CI over conversations.",
            dir,
        )?);
    }
    if !study.multiple_choice.is_empty() {
        let bars = variant_bars(
            study,
            "multiple-choice accuracy %",
            study
                .multiple_choice
                .iter()
                .map(|(v, m)| (v, m.acc.scaled(100.0))),
        );
        figures.push(chart::render(
            &bars,
            "multiple-choice",
            "Multiple-choice accuracy per model",
            "The likeliest of the choices by log-likelihood, as lm-evaluation-harness's acc \
             (the same questions for every model); whiskers: bootstrap 95% CI.",
            dir,
        )?);
    }
    let mode = study.primary_mode().to_string();
    for cost in COSTS {
        if let Some(chart) = quality_cost(study, cost.axis, cost.of) {
            figures.push(chart::render(
                &chart,
                cost.name,
                cost.title,
                &format!(
                    "Fact accuracy ({mode}, 95% CI) against what training cost; the base model \
                     sits at 0."
                ),
                dir,
            )?);
        }
    }
    if let Some(histogram) = rating_histogram(study) {
        figures.push(chart::render(
            &histogram,
            "judge-ratings",
            "Judge ratings",
            "How often the LLM judge gave each rating (1-10); unrated answers are left out.",
            dir,
        )?);
    }
    figures.push(chart::render(
        &family_heatmap(study),
        "accuracy-by-family",
        "Fact accuracy per question family",
        "Each cell: the share of a family's questions answered with the right fact, and (in \
         brackets) how many questions that is.",
        dir,
    )?);
    Ok(figures)
}

fn metrics_table(study: &Study) -> Table {
    Table {
        id: "metrics".into(),
        title: "Metrics per run".into(),
        header: [
            "run",
            "n",
            "fact accuracy %",
            "states gold %",
            "BLEU",
            "ROUGE-1",
            "ROUGE-2",
            "ROUGE-L",
            "latency s",
        ]
        .map(String::from)
        .to_vec(),
        rows: study
            .runs
            .iter()
            .map(|r| {
                let m = &r.metrics;
                vec![
                    r.name.clone(),
                    m.n.to_string(),
                    m.fact_accuracy.scaled(100.0).format(1),
                    m.gold_stated
                        .map_or("-".into(), |g| g.scaled(100.0).format(1)),
                    m.bleu.scaled(1.0).format(1),
                    m.rouge1.scaled(100.0).format(1),
                    m.rouge2.scaled(100.0).format(1),
                    m.rouge_l.scaled(100.0).format(1),
                    format!("{:.2}", m.mean_latency_s.value),
                ]
            })
            .collect(),
        note: "Values with bootstrap 95% confidence intervals in brackets. Fact accuracy: the \
               answer states every gold entity and no other of its family as an answer; states \
               gold: every gold entity, whatever else it names (the lenient reading)."
            .into(),
    }
}

fn kind_table(study: &Study) -> Option<Table> {
    let kinds: BTreeSet<&String> = study
        .runs
        .iter()
        .flat_map(|r| r.metrics.by_test_kind.keys())
        .filter(|k| k.as_str() != "-")
        .collect();
    if kinds.is_empty() {
        return None;
    }
    Some(Table {
        id: "test-kinds".into(),
        title: "Fact accuracy by test kind".into(),
        header: std::iter::once("run".to_string())
            .chain(kinds.iter().map(|k| k.to_string()))
            .collect(),
        rows: study
            .runs
            .iter()
            .map(|r| {
                std::iter::once(r.name.clone())
                    .chain(kinds.iter().map(|k| {
                        r.metrics.by_test_kind.get(*k).map_or("-".into(), |g| {
                            format!("{:.1}% ({})", g.fact_accuracy * 100.0, g.n)
                        })
                    }))
                    .collect()
            })
            .collect(),
        note: "recall: facts the training split taught; unseen: facts it never showed. In \
               brackets: questions."
            .into(),
    })
}

fn general_table(study: &Study) -> Option<Table> {
    let general = study.general.as_ref()?;
    let forgetting: HashMap<&str, &crate::study::NamedForgetting> = general
        .forgetting
        .iter()
        .map(|f| (f.model.as_str(), f))
        .collect();
    let mut header = vec!["model".to_string()];
    header.extend(general.tasks.iter().cloned());
    header.extend(["mean".to_string(), "lost vs base (points)".to_string()]);
    Some(Table {
        id: "general-ability".into(),
        title: "General ability and forgetting".into(),
        header,
        rows: general
            .models
            .iter()
            .map(|(model, scores)| {
                let mut row = vec![model.clone()];
                row.extend(general.tasks.iter().map(|task| {
                    scores
                        .tasks
                        .get(task)
                        .map_or("-".into(), |t| t.metrics.acc_norm.scaled(100.0).format(1))
                }));
                row.push(format!("{:.1}", scores.score));
                row.push(forgetting.get(model.as_str()).map_or("-".into(), |f| {
                    format!(
                        "{} (p = {:.3})",
                        f.forgetting.drop.format(1),
                        f.forgetting.p
                    )
                }));
                row
            })
            .collect(),
        note: format!(
            "acc_norm % (lm-evaluation-harness's plain prompts, {} questions per task, bootstrap \
             95% CI); lost: the base model's mean minus the fine-tuned model's, paired bootstrap \
             over questions within each task.",
            general.per_task
        ),
    })
}

fn knowledge_table(study: &Study) -> Option<Table> {
    if study.knowledge.is_empty() {
        return None;
    }
    let labels = ["known", "maybe", "unknown"];
    let mut header = vec!["run".to_string()];
    header.extend(
        labels
            .iter()
            .map(|l| format!("{l}: accuracy / hallucination")),
    );
    Some(Table {
        id: "knowledge".into(),
        title: "By what the base model knew before training".into(),
        header,
        rows: study
            .knowledge
            .iter()
            .map(|(run, groups)| {
                let mut row = vec![run.clone()];
                row.extend(labels.iter().map(|label| {
                    groups.get(*label).map_or("-".into(), |g| {
                        match (g.accuracy, g.hallucination_rate) {
                            (Some(a), Some(h)) => {
                                format!("{:.0}% / {:.0}% ({})", a * 100.0, h * 100.0, g.n)
                            }
                            _ => format!("- ({})", g.n),
                        }
                    })
                }));
                row
            })
            .collect(),
        note: "Test facts labelled before training by `f1ai knowledge` (few-shot greedy and \
               sampled answers of the base model, as SliCK): known (every greedy answer right), \
               maybe (some answer right), unknown (none). Hallucination: a wrong answer that does \
               not decline. Questions in brackets."
            .into(),
    })
}

fn cost_table(study: &Study) -> Option<Table> {
    if study.training.is_empty() {
        return None;
    }
    Some(Table {
        id: "cost".into(),
        title: "Training cost".into(),
        header: [
            "training run",
            "method",
            "trainable parameters",
            "steps",
            "wall min",
            "tokens/s",
            "peak memory GiB",
            "val loss before -> best",
        ]
        .map(String::from)
        .to_vec(),
        rows: study
            .training
            .iter()
            .map(|t| {
                let s = &t.summary;
                let loss = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3}"));
                vec![
                    s.run_name.clone(),
                    t.method_name().to_string(),
                    format!(
                        "{} ({:.2}%)",
                        s.trainable_parameters,
                        100.0 * s.trainable_parameters as f64 / s.total_parameters.max(1) as f64
                    ),
                    s.steps.to_string(),
                    format!("{:.1}", s.wall_seconds / 60.0),
                    format!("{:.1}", s.tokens_per_second),
                    format!("{:.2}", s.peak_rss_mib / 1024.0),
                    format!("{} -> {}", loss(s.initial_val_loss), loss(s.best_val_loss)),
                ]
            })
            .collect(),
        note: "From each run's training_summary.json.".into(),
    })
}

fn comparison_table(study: &Study) -> Option<Table> {
    if study.comparisons.is_empty() {
        return None;
    }
    Some(Table {
        id: "comparisons".into(),
        title: "Paired comparisons".into(),
        header: [
            "run A",
            "run B",
            "shared questions",
            "fact accuracy A - B (points)",
            "p (fact)",
            "p (BLEU)",
            "p (ROUGE-L)",
        ]
        .map(String::from)
        .to_vec(),
        rows: study
            .comparisons
            .iter()
            .map(|c| {
                let x = &c.comparison;
                vec![
                    c.a.clone(),
                    c.b.clone(),
                    x.shared.to_string(),
                    format!("{:+.1}", x.fact_accuracy_difference * 100.0),
                    format!("{:.3}", x.fact_accuracy_p),
                    format!("{:.3}", x.bleu_p),
                    format!("{:.3}", x.rouge_l_p),
                ]
            })
            .collect(),
        note: format!(
            "Paired bootstrap p-values over the questions both runs answered; below {} counts \
             as a real difference in the findings.",
            findings::SIGNIFICANCE
        ),
    })
}

/// Up to [`EXAMPLES`] questions that every primary-mode run of a model
/// answered, those where the methods disagree on the fact first.
fn examples_table(study: &Study) -> Option<Table> {
    // The model with the most methods compared.
    let primary: Vec<&Run> = study.primary_runs().collect();
    let model = study
        .models()
        .into_iter()
        .max_by_key(|m| primary.iter().filter(|r| r.model == *m).count())?
        .to_string();
    let runs: Vec<&Run> = primary.into_iter().filter(|r| r.model == model).collect();
    if runs.len() < 2 {
        return None;
    }
    let mut families: HashMap<&str, FamilyEntities> = HashMap::new();
    for run in &study.runs {
        for p in &run.predictions {
            let family = families.entry(p.family.as_str()).or_default();
            for gold in &p.gold {
                family.add(&gold.aliases);
            }
        }
    }
    let by_id: Vec<BTreeMap<&str, &f1_baseline::Prediction>> = runs
        .iter()
        .map(|r| r.predictions.iter().map(|p| (p.id.as_str(), p)).collect())
        .collect();
    let empty = FamilyEntities::default();
    let mut rows: Vec<(bool, Vec<String>)> = Vec::new();
    for (id, first) in &by_id[0] {
        let Some(answers) = by_id
            .iter()
            .map(|m| m.get(id).copied())
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        let gold: Vec<Vec<String>> = first.gold.iter().map(|g| g.aliases.clone()).collect();
        let family = families.get(first.family.as_str()).unwrap_or(&empty);
        let asked = Asked {
            question: &first.question,
            reference: &first.reference,
        };
        let right: Vec<bool> = answers
            .iter()
            .map(|a| grade(asked, &a.prediction, &gold, family).is_correct())
            .collect();
        let disagree = right.iter().any(|r| *r != right[0]);
        let mut row = vec![first.question.clone(), first.reference.clone()];
        row.extend(
            answers
                .iter()
                .zip(&right)
                .map(|(a, ok)| format!("{} {}", if *ok { "✓" } else { "✗" }, a.prediction.trim())),
        );
        rows.push((disagree, row));
    }
    if rows.is_empty() {
        return None;
    }
    // Disagreements first, then spread over the rest in question order.
    rows.sort_by_key(|(disagree, _)| !disagree);
    let rows: Vec<Vec<String>> = rows.into_iter().take(EXAMPLES).map(|(_, r)| r).collect();
    let mut header = vec!["question".to_string(), "reference".to_string()];
    header.extend(runs.iter().map(|r| r.method.clone()));
    Some(Table {
        id: "examples".into(),
        title: format!("Example answers ({model}, {})", study.primary_mode()),
        header,
        rows,
        note: "✓: the answer states the gold fact and no conflicting one (fact accuracy); ✗: \
               it does not. Questions where the methods disagree come first."
            .into(),
    })
}

fn subtitle(study: &Study) -> String {
    let runs = study.runs.len();
    let questions: BTreeSet<&str> = study
        .runs
        .iter()
        .flat_map(|r| r.predictions.iter().map(|p| p.id.as_str()))
        .collect();
    format!(
        "{runs} prediction runs over {} distinct test questions, {} training runs; primary \
         comparison: {} answers.",
        questions.len(),
        study.training.len(),
        study.primary_mode()
    )
}

fn relative_link(from: &Path, to: &Path) -> String {
    match (from.parent(), to.parent()) {
        (Some(a), Some(b)) if a == b => format!(
            "../{}/",
            to.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        ),
        _ => format!("{}/", to.display()),
    }
}

/// Draws every chart and writes report.html and report.md.
pub fn write(study: &Study, outputs: &Outputs) -> Result<Written> {
    let figures = figures(study, &outputs.charts)?;
    let mut findings = crate::question::paragraphs(study);
    findings.extend(crate::arms::paragraphs(study));
    findings.extend(findings::findings(study));
    let document = Document {
        title: "F1 conversational AI: what fine-tuning bought".into(),
        subtitle: subtitle(study),
        findings: findings.clone(),
        tables: [
            Some(metrics_table(study)),
            kind_table(study),
            crate::arms::table(study),
            general_table(study),
            knowledge_table(study),
            comparison_table(study),
            cost_table(study),
        ]
        .into_iter()
        .flatten()
        .collect(),
        figures,
        appendix: examples_table(study).into_iter().collect(),
    };
    let html = outputs.reports.join("report.html");
    f1_files::write(&html, document::html(&document)?.as_bytes())?;
    let link = relative_link(&outputs.reports, &outputs.charts);
    let markdown = outputs.reports.join("report.md");
    let text = document::markdown(&document, |f| format!("{link}{}.png", f.name));
    f1_files::write(&markdown, text.as_bytes())?;
    let charts = document
        .figures
        .iter()
        .flat_map(|f| ["svg", "png"].map(|ext| outputs.charts.join(format!("{}.{ext}", f.name))))
        .collect();
    Ok(Written {
        html,
        markdown,
        charts,
        findings,
    })
}

/// The primary-mode accuracy of each run, for a one-line summary.
pub fn headline(study: &Study) -> String {
    study
        .primary_runs()
        .map(|r| format!("{} {}", r.name, percent(&r.metrics.fact_accuracy)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One bar per model variant (`smollm2`, `smollm2-lora`, ...), coloured by
/// its training run's method (grey for a pretrained model).
fn variant_bars<'a>(
    study: &Study,
    axis: &str,
    values: impl Iterator<Item = (&'a String, Interval)>,
) -> chart::IntervalBars {
    let colours = run_colours(study);
    chart::IntervalBars {
        axis: axis.into(),
        bars: values
            .map(|(variant, value)| chart::bars::Bar {
                label: variant.clone(),
                value,
                colour: colours
                    .get(variant)
                    .copied()
                    .unwrap_or_else(|| method_colour("base")),
            })
            .collect(),
    }
}
