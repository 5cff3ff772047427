//! The study's three arms side by side: the model answering from its weights
//! (the best fine-tuned run, unaided), from retrieved fact sentences (RAG on the
//! base model), and from tool calls on the knowledge base (a run fine-tuned to
//! call), with the calls' validity and each arm's latency.

use f1_baseline::fan_questions::FanSet;

use crate::document::Table;
use crate::findings::percent;
use crate::question::{accuracy, p_text, tuned_runs};
use crate::study::{Run, Study};

/// One base model's arms; any may be missing from a study.
pub struct Arms<'a> {
    pub parametric: Option<&'a Run>,
    pub retrieval: Option<&'a Run>,
    pub tools: Option<&'a Run>,
}

impl<'a> Arms<'a> {
    pub fn of(study: &'a Study, model: &str) -> Self {
        let parametric =
            tuned_runs(study, model).and_then(|(_, tuned)| tuned.first().map(|t| t.run));
        let retrieval = study
            .runs
            .iter()
            .find(|r| r.model == model && r.method == "base" && r.mode == "rag");
        let tools = study
            .runs
            .iter()
            .filter(|r| r.model == model && r.mode == "tools")
            .max_by(|a, b| {
                a.metrics
                    .fact_accuracy
                    .value
                    .total_cmp(&b.metrics.fact_accuracy.value)
            });
        Self {
            parametric,
            retrieval,
            tools,
        }
    }

    fn listed(&self) -> Vec<(&'static str, &'a Run)> {
        [
            ("parametric (fine-tuned, unaided)", self.parametric),
            ("retrieval (RAG)", self.retrieval),
            ("tools (fine-tuned to call)", self.tools),
        ]
        .into_iter()
        .filter_map(|(arm, run)| Some((arm, run?)))
        .collect()
    }
}

/// Calls the answers made, and how many of their first calls were valid.
fn first_calls(run: &Run) -> (usize, usize) {
    let calls: Vec<bool> = run
        .predictions
        .iter()
        .filter_map(|p| p.first_call_valid())
        .collect();
    (calls.len(), calls.iter().filter(|v| **v).count())
}

/// Answers in which the loop looked the race up as the question names it.
fn races_from_question(run: &Run) -> usize {
    run.predictions
        .iter()
        .filter(|p| p.tool_steps.iter().any(|s| s.from_question))
        .count()
}

fn mean_prompt_tokens(run: &Run) -> f64 {
    let total: usize = run.predictions.iter().map(|p| p.prompt_tokens).sum();
    total as f64 / run.predictions.len().max(1) as f64
}

/// The answers the strict grader counts wrong, and how many of those state the
/// gold all the same (naming another entity of its family beside it).
fn misses_stating_gold(run: &Run) -> Option<(usize, usize)> {
    let m = &run.metrics;
    let count = |share: f64| (share * m.n as f64).round() as usize;
    let right = count(m.fact_accuracy.value);
    let stated = count(m.gold_stated?.value);
    Some((m.n - right, stated - right))
}

fn kind_cell(run: &Run, kind: &str) -> String {
    accuracy(run, kind).map_or("-".into(), |(value, n)| format!("{value:.1}% ({n})"))
}

/// One row per arm of every model that has a tools run.
pub fn table(study: &Study) -> Option<Table> {
    let rows: Vec<Vec<String>> = study
        .models()
        .into_iter()
        .map(|model| Arms::of(study, model))
        .filter(|arms| arms.tools.is_some())
        .flat_map(|arms| arms.listed())
        .map(|(arm, run)| {
            let (made, valid) = first_calls(run);
            let validity = if run.mode == "tools" {
                format!("{valid} of {made}")
            } else {
                "-".into()
            };
            let kinds = ["recall", "unseen", "future"]
                .into_iter()
                .chain(FanSet::ALL.map(FanSet::test_kind));
            [arm.to_string(), run.name.clone()]
                .into_iter()
                .chain(kinds.map(|kind| kind_cell(run, kind)))
                .chain([
                    percent(&run.metrics.fact_accuracy),
                    run.metrics.gold_stated.as_ref().map_or("-".into(), percent),
                    validity,
                    format!("{:.0}", mean_prompt_tokens(run)),
                    format!("{:.2}", run.metrics.mean_latency_s.value),
                ])
                .collect()
        })
        .collect();
    (!rows.is_empty()).then(|| Table {
        id: "arms".into(),
        title: "Three ways to answer: weights, retrieval, tools".into(),
        header: ["arm", "run", "recall", "unseen", "future"]
            .into_iter()
            .chain(FanSet::ALL.map(FanSet::label))
            .chain([
            "all facts",
            "states gold, all facts",
            "first calls valid",
            "prompt tokens per answer",
            "latency s per answer",
        ])
        .map(String::from)
        .collect(),
        rows,
        note: "recall: facts training taught; unseen: facts it never showed; future: facts of \
               the latest season in the data, of which training asked nothing; hand-written: \
               questions written the way fans ask (questions in brackets); written blind: more of them, \
               written without reading the fan wording training was given; sealed: a third \
               set written the same way and committed before the changes made from the blind \
               set's misses. States gold: the \
               answer names the right entity, whatever else it names (the lenient reading). \
               Prompt tokens count every generation round of an answer (a tools \
               answer reads its call's result); latency is per answer as the run decoded \
               them, several at a time."
            .into(),
    })
}

/// "tools against <other>: +x points [l, h] (p)" on each test kind.
fn against(study: &Study, tools: &Run, other: &Run, label: &str) -> Option<String> {
    let comparison = study.comparison(&tools.name, &other.name)?;
    let fan_kinds = FanSet::ALL.map(FanSet::test_kind);
    let kinds: Vec<String> = ["recall", "unseen", "future"]
        .into_iter()
        .chain(fan_kinds)
        .filter_map(|kind| {
            let k = comparison.by_test_kind.get(kind)?;
            let d = k.difference.scaled(100.0);
            Some(format!(
                "{kind} {:+.1} points [{:.1}, {:.1}] ({})",
                d.value,
                d.low,
                d.high,
                p_text(k.p)
            ))
        })
        .collect();
    (!kinds.is_empty()).then(|| format!("against {label}, {}", kinds.join(", ")))
}

fn paragraph(study: &Study, arms: &Arms) -> Option<String> {
    let tools = arms.tools?;
    let (recall, _) = accuracy(tools, "recall")?;
    let mut parts = vec![format!("{recall:.1}% of the recall facts")];
    if let Some((unseen, _)) = accuracy(tools, "unseen") {
        parts.push(format!("{unseen:.1}% of the unseen ones"));
    }
    if let Some((future, n)) = accuracy(tools, "future") {
        parts.push(format!(
            "{future:.1}% of the {n} from the latest season (after training)"
        ));
    }
    for set in FanSet::ALL {
        if let Some((share, n)) = accuracy(tools, set.test_kind()) {
            parts.push(format!("{share:.1}% of the {n} {}", set.description()));
        }
    }
    let last = parts.pop().expect("recall is there");
    let right_on = match parts.is_empty() {
        true => last,
        false => format!("{} and {last}", parts.join(", ")),
    };
    let mut sentences = vec![format!(
        "Looking facts up: the run fine-tuned to call the knowledge base's tools ({}) was \
         right on {right_on}",
        tools.name,
    )];
    let comparisons: Vec<String> = [
        arms.retrieval.map(|r| (r, "retrieval")),
        arms.parametric
            .map(|r| (r, "its best unaided fine-tuned run")),
    ]
    .into_iter()
    .flatten()
    .filter_map(|(other, label)| against(study, tools, other, label))
    .collect();
    if !comparisons.is_empty() {
        sentences[0].push_str(&format!("; {}", comparisons.join("; ")));
    }
    sentences[0].push('.');
    if let (Some((wrong, stating)), Some(lenient)) =
        (misses_stating_gold(tools), &tools.metrics.gold_stated)
    {
        if stating > 0 {
            sentences.push(format!(
                "Of its {wrong} wrong answers, {stating} stated the right one but named another \
                 of its family as an answer too, which the grader counts wrong; read leniently \
                 it was right on {}.",
                percent(lenient)
            ));
        }
    }
    let (made, valid) = first_calls(tools);
    let answers = tools.predictions.len();
    sentences.push(format!(
        "{made} of its {answers} answers made a call and {valid} of those first calls were \
         valid ({:.1}%).",
        100.0 * valid as f64 / made.max(1) as f64
    ));
    let from_question = races_from_question(tools);
    if from_question > 0 {
        sentences.push(format!(
            "In {from_question} answers the model's call found no race and the loop looked up \
             the one the question names."
        ));
    }
    if let Some(parametric) = arms.parametric {
        sentences.push(format!(
            "Each answer took {:.2} s against {:.2} s unaided ({:.0} prompt tokens against {:.0}: \
             the call's result is read before answering).",
            tools.metrics.mean_latency_s.value,
            parametric.metrics.mean_latency_s.value,
            mean_prompt_tokens(tools),
            mean_prompt_tokens(parametric)
        ));
    }
    Some(sentences.join(" "))
}

/// One paragraph per base model with a tools run.
pub fn paragraphs(study: &Study) -> Vec<String> {
    study
        .models()
        .into_iter()
        .filter_map(|model| paragraph(study, &Arms::of(study, model)))
        .collect()
}
