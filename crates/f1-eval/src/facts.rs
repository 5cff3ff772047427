//! Fact accuracy: an answer is right when it states every gold entity (any alias;
//! case, accents and punctuation ignored) and no other entity of the same family
//! and kind (a number for a number, a name for a name) that the question did not
//! name itself ("Hamilton's teammate in 2016 was Rosberg" answers "who was
//! Hamilton's teammate?").
//! Whether it states the gold at all, whatever else it names, is the lenient
//! reading beside it ([`Verdict::states_gold`]).

use std::collections::BTreeSet;

/// Lowercase ASCII words: accents transliterated (`deunicode`), punctuation dropped,
/// so "Räikkönen," and "raikkonen" agree.
pub fn normalize(text: &str) -> String {
    let ascii = deunicode::deunicode(text).to_lowercase();
    let words: Vec<&str> = ascii
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    format!(" {} ", words.join(" "))
}

/// Where `needle` (normalized, padded) occurs in `haystack` as whole words.
fn occurrences(haystack: &str, needle: &str) -> Vec<usize> {
    haystack.match_indices(needle).map(|(i, _)| i).collect()
}

/// The entities of one family, for telling a wrong answer from a vague one.
#[derive(Debug, Default, Clone)]
pub struct FamilyEntities {
    /// Each entity's normalized aliases.
    entities: Vec<Vec<String>>,
}

impl FamilyEntities {
    /// Adds an entity (its aliases) unless an identical one is there.
    pub fn add(&mut self, aliases: &[String]) {
        let normalized: Vec<String> = aliases
            .iter()
            .map(|a| normalize(a))
            .filter(|a| a.trim() != "")
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !normalized.is_empty() && !self.entities.contains(&normalized) {
            self.entities.push(normalized);
        }
    }
}

/// Why an answer was judged as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Correct,
    /// A gold entity is not stated.
    Missing(String),
    /// Gold is stated, and so is another entity of the family.
    Conflicting(String),
}

impl Verdict {
    pub fn is_correct(&self) -> bool {
        *self == Verdict::Correct
    }

    /// Every gold entity is stated, whether or not another of the family is too
    /// ("Hamilton was second, behind Rosberg" for the runner-up).
    pub fn states_gold(&self) -> bool {
        !matches!(self, Verdict::Missing(_))
    }
}

/// Whether an entity is a number ("11", "387.5"): normalized aliases of digits.
fn is_number(aliases: &[String]) -> bool {
    aliases
        .iter()
        .any(|a| a.chars().all(|c| c.is_ascii_digit() || c == ' '))
}

/// Grades the `answer` to `question` against the gold entities (each a list of
/// aliases) and the other entities of the family. Only an entity of a gold's kind
/// competes with it (a driver named beside a count of wins does not). An entity
/// the question names is context, not a second answer, unless the question names
/// a gold entity too: then it is an either/or question ("Leclerc or Sainz?") and
/// the answer must pick one.
pub fn grade(
    question: &str,
    answer: &str,
    gold: &[Vec<String>],
    family: &FamilyEntities,
) -> Verdict {
    let mut text = normalize(answer);
    let mut gold_aliases: Vec<String> = Vec::new();
    let mut gold_kinds = BTreeSet::new();
    for entity in gold {
        let aliases: Vec<String> = entity.iter().map(|a| normalize(a)).collect();
        if !aliases.iter().any(|a| text.contains(a.as_str())) {
            return Verdict::Missing(entity.first().cloned().unwrap_or_default());
        }
        gold_kinds.insert(is_number(&aliases));
        gold_aliases.extend(aliases);
    }
    // Blank out what states the gold (longest first) so its parts ("Schumacher" of
    // "Michael Schumacher") do not read as another entity.
    gold_aliases.sort_by_key(|a| std::cmp::Reverse(a.len()));
    for alias in &gold_aliases {
        for start in occurrences(&text.clone(), alias) {
            let blank = format!(" {} ", "#".repeat(alias.len() - 2));
            text.replace_range(start..start + alias.len(), &blank);
        }
    }
    let question = normalize(question);
    let names = |entity: &[String]| entity.iter().any(|a| question.contains(a.as_str()));
    let either_or = gold_aliases.iter().any(|a| question.contains(a.as_str()));
    for entity in &family.entities {
        if entity.iter().any(|a| gold_aliases.contains(a))
            || !gold_kinds.contains(&is_number(entity))
            || (!either_or && names(entity))
        {
            continue;
        }
        if let Some(alias) = entity.iter().find(|a| text.contains(a.as_str())) {
            return Verdict::Conflicting(alias.trim().to_string());
        }
    }
    Verdict::Correct
}
