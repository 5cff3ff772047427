//! Multiple-choice questions from the test split: each single-turn question with
//! one gold entity, its right answer and distractors that are gold answers of
//! other facts of the same family (other drivers' nationalities, other races'
//! winners), so every choice is a plausible answer of the right kind.

use std::collections::{BTreeMap, HashSet};

use f1_eval::facts::normalize;
use f1_eval::multiple_choice::ChoiceQuestion;

use crate::compose::Splits;
use crate::example::Example;
use crate::keyed::Keyed;

/// Choices per question, as in most harness tasks.
pub const CHOICES: usize = 4;

/// The test split's questions in `{question, choices, answer}` form, with `id`,
/// `family` and `test_kind`. A question is left out when it is a follow-up (it
/// needs the conversation), has several gold entities, or its family has too few
/// other answers to draw distractors from.
pub fn from_splits(splits: &Splits, seed: u64) -> Vec<ChoiceQuestion> {
    let keyed = Keyed::new(seed);
    // Every family's answers over all splits (the first spelling of each normalized
    // form), and every fact's accepted spellings.
    let mut answers: BTreeMap<&str, BTreeMap<String, &str>> = BTreeMap::new();
    let mut spellings: BTreeMap<&str, HashSet<String>> = BTreeMap::new();
    for turn in splits.all().flat_map(|e| &e.metadata.turns) {
        if let [entity] = turn.gold.as_slice() {
            answers
                .entry(turn.family)
                .or_default()
                .entry(normalize(&entity.text))
                .or_insert(&entity.text);
        }
        let fact = spellings.entry(&turn.fact_id).or_default();
        for entity in &turn.gold {
            fact.extend(entity.aliases.iter().map(|a| normalize(a)));
        }
    }
    splits
        .test
        .iter()
        .filter_map(|example| {
            let question = single_question(example)?;
            let last = &example.metadata.last;
            let [gold] = last.gold.as_slice() else {
                return None;
            };
            let right = &spellings[last.fact_id.as_str()];
            let mut distractors: Vec<&str> = answers[last.family]
                .iter()
                .filter(|(key, _)| !right.contains(*key))
                .map(|(_, text)| *text)
                .collect();
            keyed.shuffle(&mut distractors, |text| {
                format!("mc\u{1f}{}\u{1f}{text}", example.metadata.id)
            });
            if distractors.len() < CHOICES - 1 {
                return None;
            }
            let mut choices: Vec<String> = distractors[..CHOICES - 1]
                .iter()
                .map(|t| t.to_string())
                .collect();
            let answer = keyed.pick(&["mc-answer", &example.metadata.id], CHOICES);
            choices.insert(answer, gold.text.clone());
            Some(ChoiceQuestion {
                id: Some(example.metadata.id.clone()),
                family: Some(last.family.to_string()),
                test_kind: example.metadata.test_kind.map(|k| k.as_str().to_string()),
                question: question.to_string(),
                choices,
                answer,
            })
        })
        .collect()
}

/// The user's question when the conversation is a single question and answer.
fn single_question(example: &Example) -> Option<&str> {
    match example.messages.as_slice() {
        [user, _] if user.role == "user" => Some(&user.content),
        _ => None,
    }
}
