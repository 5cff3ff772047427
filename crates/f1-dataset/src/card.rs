//! The dataset card, data/curated/README.md.

use std::fmt::Write;

use crate::compose::{counts, Splits};
use crate::config::DataConfig;
use crate::example::Example;

/// What the card says about where the data came from.
pub struct Provenance {
    pub source: String,
    pub cutoff: String,
    /// Lengths in a model's tokens, when a tokenizer was given.
    pub tokens: Option<TokenStats>,
}

/// Length statistics in one model's tokens.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenStats {
    pub tokenizer: String,
    pub question: Lengths,
    pub answer: Lengths,
    /// Every message of a conversation together, as training sees it (no template).
    pub conversation: Lengths,
}

impl TokenStats {
    /// Counts every turn and conversation with `count` (a tokenizer's length).
    pub fn measure(
        splits: &Splits,
        tokenizer: &str,
        count: impl Fn(&str) -> usize,
    ) -> Option<Self> {
        let turns = |role: &'static str| -> Vec<usize> {
            splits
                .all()
                .flat_map(|e| e.messages.iter().filter(move |m| m.role == role))
                .map(|m| count(&m.content))
                .collect()
        };
        let conversations = splits
            .all()
            .map(|e| e.messages.iter().map(|m| count(&m.content)).sum());
        Some(Self {
            tokenizer: tokenizer.to_string(),
            question: Lengths::of(turns("user").into_iter())?,
            answer: Lengths::of(turns("assistant").into_iter())?,
            conversation: Lengths::of(conversations)?,
        })
    }
}

/// Length statistics of some texts, in words.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Lengths {
    pub min: usize,
    pub mean: f64,
    pub median: usize,
    pub p95: usize,
    pub max: usize,
}

impl Lengths {
    pub fn of(texts: impl Iterator<Item = usize>) -> Option<Self> {
        let mut lengths: Vec<usize> = texts.collect();
        if lengths.is_empty() {
            return None;
        }
        lengths.sort_unstable();
        let at = |q: f64| lengths[((lengths.len() - 1) as f64 * q).round() as usize];
        Some(Self {
            min: lengths[0],
            mean: lengths.iter().sum::<usize>() as f64 / lengths.len() as f64,
            median: at(0.5),
            p95: at(0.95),
            max: lengths[lengths.len() - 1],
        })
    }
}

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Word counts of every user turn and every assistant turn.
pub fn turn_lengths(splits: &Splits) -> (Option<Lengths>, Option<Lengths>) {
    let turns = |role: &'static str| {
        splits
            .all()
            .flat_map(move |e| e.messages.iter().filter(move |m| m.role == role))
            .map(|m| words(&m.content))
    };
    (Lengths::of(turns("user")), Lengths::of(turns("assistant")))
}

/// Share of examples with more than one question.
pub fn multi_turn_share(examples: &[Example]) -> f64 {
    if examples.is_empty() {
        return 0.0;
    }
    examples
        .iter()
        .filter(|e| e.metadata.turns.len() > 1)
        .count() as f64
        / examples.len() as f64
}

/// Renders the card as Markdown.
pub fn render(splits: &Splits, config: &DataConfig, provenance: &Provenance) -> String {
    let mut md = String::new();
    let all: Vec<&Example> = splits.all().collect();
    let families = counts(splits);
    let _ = writeln!(md, "# F1 grounded instruction dataset\n");
    let _ = writeln!(
        md,
        "Question-answer conversations about Formula 1, every answer derived from a row of the \
         knowledge base and checked against it. Built by `f1ai data build`.\n"
    );
    let _ = writeln!(
        md,
        "- Source: `{}`, races up to {}",
        provenance.source, provenance.cutoff
    );
    let _ = writeln!(md, "- Seed: {}; profile: {:?}", config.seed, config.profile);
    let _ = writeln!(
        md,
        "- Split of fact groups: train {}, val {}, test (unseen) {}; each training fact in {} phrasing(s); recall test questions for {:.0}% of training facts, validation probe questions for {:.0}%{}",
        config.split.train,
        config.split.val,
        config.split.test,
        config.paraphrases_per_fact,
        config.recall_fraction * 100.0,
        config.val_recall_fraction * 100.0,
        match config.val_recall_from_test_facts {
            true => " of the recall test facts (in a second held-out phrasing)",
            false => " (other facts than the recall tests')",
        }
    );
    let _ = writeln!(
        md,
        "- Examples: {} train, {} val, {} test; {} families",
        splits.train.len(),
        splits.val.len(),
        splits.test.len(),
        families.len()
    );
    let _ = writeln!(
        md,
        "- Multi-turn (2 or 3 questions): {:.1}% of train, {:.1}% of val, {:.1}% of test\n",
        multi_turn_share(&splits.train) * 100.0,
        multi_turn_share(&splits.val) * 100.0,
        multi_turn_share(&splits.test) * 100.0
    );
    let _ = writeln!(
        md,
        "Test examples are of up to three kinds: *recall* asks a training fact in a phrasing \
         training never used; *unseen* asks about a subject (race, season, driver, team, \
         circuit, teammate pairing) whose facts training never saw; *future* (when \
         `future_facts_per_family` > 0: {} per family) asks a fact of the latest season in the \
         data, of which no training example asks anything, and whose lookups no tool \
         training conversation holds: events after training. Validation probe questions (val \
         `test_kind: recall`) ask other training facts in a held-out phrasing: training \
         selects its checkpoint on them. The build fails if any test or validation question \
         appears verbatim in training, or any unseen or future fact appears in training.\n",
        config.future_facts_per_family
    );
    let _ = writeln!(md, "## Examples per family (graded turn)\n");
    let _ = writeln!(
        md,
        "| family | train | val | test recall | test unseen | test future |"
    );
    let _ = writeln!(md, "| --- | ---: | ---: | ---: | ---: | ---: |");
    for (family, [train, val, recall, unseen, future]) in &families {
        let _ = writeln!(
            md,
            "| {family} | {train} | {val} | {recall} | {unseen} | {future} |"
        );
    }
    let (questions, answers) = turn_lengths(splits);
    let _ = writeln!(md, "\n## Lengths (whitespace words per turn)\n");
    let _ = writeln!(md, "| turn | min | mean | median | p95 | max |");
    let _ = writeln!(md, "| --- | ---: | ---: | ---: | ---: | ---: |");
    for (name, lengths) in [("question", questions), ("answer", answers)] {
        if let Some(l) = lengths {
            let _ = writeln!(
                md,
                "| {name} | {} | {:.1} | {} | {} | {} |",
                l.min, l.mean, l.median, l.p95, l.max
            );
        }
    }
    match &provenance.tokens {
        Some(tokens) => {
            let _ = writeln!(md, "\n## Lengths ({} tokens)\n", tokens.tokenizer);
            let _ = writeln!(md, "| text | min | mean | median | p95 | max |");
            let _ = writeln!(md, "| --- | ---: | ---: | ---: | ---: | ---: |");
            for (name, l) in [
                ("question", tokens.question),
                ("answer", tokens.answer),
                ("conversation", tokens.conversation),
            ] {
                let _ = writeln!(
                    md,
                    "| {name} | {} | {:.1} | {} | {} | {} |",
                    l.min, l.mean, l.median, l.p95, l.max
                );
            }
            let _ = writeln!(md);
        }
        None => {
            let _ = writeln!(
                md,
                "\nFor lengths in a model's tokens, build with `--tokenizer smollm2` (or gemma3).\n"
            );
        }
    }
    let _ = writeln!(md, "## Two examples per family\n");
    for family in families.keys() {
        let _ = writeln!(md, "### {family}\n");
        for example in all
            .iter()
            .filter(|e| e.metadata.last.family == *family)
            .take(2)
        {
            let _ = writeln!(md, "`{}`\n", example.metadata.id);
            for message in &example.messages {
                let _ = writeln!(md, "> **{}:** {}  ", message.role, message.content);
            }
            let _ = writeln!(md);
        }
    }
    md
}
