//! From facts to examples: split assignment, phrasings, styles, conversations, and
//! the leakage check.

use std::collections::{BTreeMap, HashSet};

use crate::config::DataConfig;
use crate::error::{Error, Result};
use crate::example::{Example, Message, Metadata, Split, Style, TestKind, Turn};
use crate::fact::{Fact, FollowUp};
use crate::families::Family;
use crate::keyed::Keyed;
use crate::text::fill;

/// The three splits, each in a seeded order.
#[derive(Debug, Default)]
pub struct Splits {
    pub train: Vec<Example>,
    pub val: Vec<Example>,
    pub test: Vec<Example>,
}

impl Splits {
    pub fn all(&self) -> impl Iterator<Item = &Example> {
        self.train.iter().chain(&self.val).chain(&self.test)
    }
}

/// Facts of each family, after the profile's cap.
pub struct FamilyFacts {
    pub family: &'static Family,
    pub facts: Vec<Fact>,
    /// Facts of the latest season, asked only as `future` tests.
    pub future: Vec<Fact>,
}

struct Composer<'a> {
    keyed: Keyed,
    config: &'a DataConfig,
    /// Chance that a fact with eligible follow-ups becomes a conversation.
    conversation_chance: f64,
}

impl Composer<'_> {
    fn split_of(&self, group: &str) -> Split {
        let u = self.keyed.unit(&["split", group]);
        let r = self.config.split;
        if u < r.train {
            Split::Train
        } else if u < r.train + r.val {
            Split::Val
        } else {
            Split::Test
        }
    }

    /// Follow-ups whose facts fall in the same split as the conversation's first fact.
    fn eligible<'f>(&self, fact: &'f Fact) -> Vec<&'f FollowUp> {
        let split = self.split_of(&fact.group);
        fact.follow_ups
            .iter()
            .filter(|f| self.split_of(&f.fact.group) == split)
            .collect()
    }

    fn style(&self, parts: &[&str]) -> Style {
        [Style::Short, Style::Full][self.keyed.pick(parts, 2)]
    }

    /// One example for `fact` asked with phrasing `phrasing_id`; `paraphrase`
    /// counts a training fact's phrasings (each one alternates the answer style
    /// and draws its own follow-ups; 0 for every other example).
    /// `fact` asked once, in its first phrasing, as a test of `kind`.
    fn test_question(&self, family: &Family, fact: &Fact, kind: TestKind) -> Example {
        let phrasing = self
            .keyed
            .permutation(&["phrasing", &fact.id], family.phrasings.len())[0];
        self.example(family, fact, phrasing, Split::Test, Some(kind), 0)
    }

    fn example(
        &self,
        family: &Family,
        fact: &Fact,
        phrasing_id: usize,
        split: Split,
        test_kind: Option<TestKind>,
        paraphrase: usize,
    ) -> Example {
        let kind = match paraphrase {
            0 => kind_name(split, test_kind).to_string(),
            n => format!("{}-{n}", kind_name(split, test_kind)),
        };
        let kind = kind.as_str();
        let mut messages = Vec::new();
        let mut turns = Vec::new();
        let first_style = self.style(&["style", &fact.id, kind_name(split, test_kind)]);
        let style = match paraphrase % 2 {
            0 => first_style,
            _ => first_style.other(),
        };
        push_turn(
            &mut messages,
            &mut turns,
            fill(family.phrasings[phrasing_id], &fact.slots),
            fact,
            phrasing_id,
            style,
        );

        let eligible = self.eligible(fact);
        if !eligible.is_empty()
            && self.keyed.unit(&["conversation", &fact.id, kind]) < self.conversation_chance
        {
            let extra = 1 + self.keyed.pick(&["turns", &fact.id, kind], 2);
            let order = self
                .keyed
                .permutation(&["follow-ups", &fact.id, kind], eligible.len());
            for &i in order.iter().take(extra) {
                let follow_up = eligible[i];
                let variant = self.keyed.pick(
                    &["variant", &fact.id, &follow_up.fact.id],
                    follow_up.questions.len(),
                );
                let style = self.style(&["style", &follow_up.fact.id, &fact.id, kind]);
                push_turn(
                    &mut messages,
                    &mut turns,
                    follow_up.questions[variant].to_string(),
                    &follow_up.fact,
                    variant,
                    style,
                );
            }
        }
        let id = format!("{}:{}:p{phrasing_id}", kind_name(split, test_kind), fact.id);
        Example {
            messages,
            metadata: Metadata {
                id,
                split,
                test_kind,
                last: turns.last().expect("at least one turn").clone(),
                turns,
            },
        }
    }
}

/// `train`, `val`, `val-recall`, `test-recall`, `test-unseen` or `test-future`: names an
/// example's kind in its id and in the keys of its seeded choices.
fn kind_name(split: Split, test_kind: Option<TestKind>) -> &'static str {
    match (split, test_kind) {
        (Split::Train, _) => "train",
        (Split::Val, Some(TestKind::Recall)) => "val-recall",
        (Split::Val, _) => "val",
        (Split::Test, Some(TestKind::Recall)) => "test-recall",
        (Split::Test, Some(TestKind::Future)) => "test-future",
        (Split::Test, _) => "test-unseen",
    }
}

fn push_turn(
    messages: &mut Vec<Message>,
    turns: &mut Vec<Turn>,
    question: String,
    fact: &Fact,
    phrasing_id: usize,
    style: Style,
) {
    let answer = match style {
        Style::Short => fact.short.clone(),
        Style::Full => fact.full.clone(),
    };
    messages.push(Message::new("user", question));
    messages.push(Message::new("assistant", answer));
    turns.push(Turn {
        family: fact.family,
        fact_id: fact.id.clone(),
        phrasing_id,
        style,
        gold: fact.gold.clone(),
        sources: fact.sources.clone(),
        tool_call: crate::lookup::call_for(fact),
    });
}

/// Builds the splits from every family's facts and checks them for leakage.
pub fn compose(families: &[FamilyFacts], config: &DataConfig) -> Result<Splits> {
    let keyed = Keyed::new(config.seed);
    let mut composer = Composer {
        keyed,
        config,
        conversation_chance: 0.0,
    };
    // Conversations can only start from facts with eligible follow-ups; raise their
    // chance so that the requested share of all examples has several turns.
    let total: usize = families.iter().map(|f| f.facts.len()).sum();
    let with_follow_ups = families
        .iter()
        .flat_map(|f| &f.facts)
        .filter(|fact| !composer.eligible(fact).is_empty())
        .count();
    if with_follow_ups > 0 {
        composer.conversation_chance =
            (config.multi_turn_fraction * total as f64 / with_follow_ups as f64).min(1.0);
    }

    let mut splits = Splits::default();
    for FamilyFacts {
        family,
        facts,
        future,
    } in families
    {
        for fact in future {
            splits
                .test
                .push(composer.test_question(family, fact, TestKind::Future));
        }
        for fact in facts {
            let phrasings = composer
                .keyed
                .permutation(&["phrasing", &fact.id], family.phrasings.len());
            let paraphrases = config.paraphrases_per_fact;
            match composer.split_of(&fact.group) {
                Split::Train => {
                    for (i, &phrasing) in phrasings[..paraphrases].iter().enumerate() {
                        splits.train.push(composer.example(
                            family,
                            fact,
                            phrasing,
                            Split::Train,
                            None,
                            i,
                        ));
                    }
                    // A held-out phrasing asks the fact again, as a recall test or
                    // as a validation probe question (both, in a second held-out
                    // phrasing, when the probe shares the test's facts).
                    let held_out = &phrasings[paraphrases..];
                    let draw = composer.keyed.unit(&["recall", &fact.id]);
                    let test = draw < config.recall_fraction;
                    let val = if config.val_recall_from_test_facts {
                        test && composer.keyed.unit(&["val-recall", &fact.id])
                            < config.val_recall_fraction
                    } else {
                        !test && draw < config.recall_fraction + config.val_recall_fraction
                    };
                    if test {
                        splits.test.push(composer.example(
                            family,
                            fact,
                            held_out[0],
                            Split::Test,
                            Some(TestKind::Recall),
                            0,
                        ));
                    }
                    if val {
                        let phrasing = held_out[usize::from(config.val_recall_from_test_facts)];
                        splits.val.push(composer.example(
                            family,
                            fact,
                            phrasing,
                            Split::Val,
                            Some(TestKind::Recall),
                            0,
                        ));
                    }
                }
                Split::Val => splits.val.push(composer.example(
                    family,
                    fact,
                    phrasings[0],
                    Split::Val,
                    None,
                    0,
                )),
                Split::Test => {
                    splits
                        .test
                        .push(composer.test_question(family, fact, TestKind::Unseen))
                }
            }
        }
    }
    for split in [&mut splits.train, &mut splits.val, &mut splits.test] {
        keyed.shuffle(split, |e| e.metadata.id.clone());
    }
    check_leakage(&splits)?;
    Ok(splits)
}

/// Fails when a validation or test question text appears in training, or when an
/// unseen or future test fact appears anywhere in training.
pub fn check_leakage(splits: &Splits) -> Result<()> {
    let train_questions: HashSet<String> =
        splits.train.iter().map(Example::question_text).collect();
    let train_facts: HashSet<&str> = splits.train.iter().flat_map(Example::fact_ids).collect();
    for example in splits.val.iter().chain(&splits.test) {
        if train_questions.contains(&example.question_text()) {
            return Err(Error::Leakage(format!(
                "{} asks a question that training asks verbatim: {:?}",
                example.metadata.id,
                example.question_text()
            )));
        }
        if let Some(kind @ (TestKind::Unseen | TestKind::Future)) = example.metadata.test_kind {
            if let Some(fact) = example.fact_ids().find(|f| train_facts.contains(f)) {
                return Err(Error::Leakage(format!(
                    "{} is an {}-fact test but training contains fact {fact}",
                    example.metadata.id,
                    kind.as_str()
                )));
            }
        }
    }
    Ok(())
}

/// Examples per family (of the graded turn) in each split, for the card and stats.
pub fn counts(splits: &Splits) -> BTreeMap<&'static str, [usize; 5]> {
    let mut counts: BTreeMap<&'static str, [usize; 5]> = BTreeMap::new();
    for example in splits.all() {
        let column = match (example.metadata.split, example.metadata.test_kind) {
            (Split::Train, _) => 0,
            (Split::Val, _) => 1,
            (Split::Test, Some(TestKind::Recall)) => 2,
            (Split::Test, Some(TestKind::Future)) => 4,
            (Split::Test, _) => 3,
        };
        counts.entry(example.metadata.last.family).or_default()[column] += 1;
    }
    counts
}
