//! Fact accuracy: an answer is right when it states every gold entity (any alias;
//! case, accents and punctuation ignored) and no other entity of the same family
//! and kind as a competing answer (see [`grade`]): "Hamilton's teammate in 2016 was
//! Rosberg" answers "who was Hamilton's teammate?", and "Ocon was second, behind
//! the winner Verstappen" answers "who was second?", as the reference answers
//! put it.
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

    /// Every gold entity is stated, whether or not another of the family is named
    /// as an answer too ("Hamilton, or maybe Rosberg" for the runner-up).
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

/// What an answer is graded in: the question it answers and the reference
/// answer written for it.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub question: &'a str,
    pub reference: &'a str,
}

/// Grades an `answer` to what was `asked` against the gold entities (each a list
/// of aliases) and the other entities of the family. Another entity competes
/// with the gold unless it is of another kind, or the question names it ("who was
/// Hamilton's teammate?") and not the gold too (an either/or question: "Button or
/// Hamilton?"), or the reference answer names it as well and the answer names it
/// only after stating every gold entity, not as an alternative ("Ocon was second,
/// behind the winner Verstappen"; not "Ocon, or maybe Verstappen").
pub fn grade(
    asked: Asked<'_>,
    answer: &str,
    gold: &[Vec<String>],
    family: &FamilyEntities,
) -> Verdict {
    let mut text = normalize(answer);
    let mut gold_aliases: Vec<String> = Vec::new();
    let mut gold_kinds = BTreeSet::new();
    // Where the answer has stated every gold entity (each at its first mention).
    let mut all_stated_at = 0;
    for entity in gold {
        let aliases: Vec<String> = entity.iter().map(|a| normalize(a)).collect();
        let Some(first) = aliases.iter().filter_map(|a| text.find(a.as_str())).min() else {
            return Verdict::Missing(entity.first().cloned().unwrap_or_default());
        };
        all_stated_at = all_stated_at.max(first);
        gold_kinds.insert(is_number(&aliases));
        gold_aliases.extend(aliases);
    }
    // Blank out what states the gold (longest first, keeping every position) so
    // its parts ("Schumacher" of "Michael Schumacher") do not read as another
    // entity.
    gold_aliases.sort_by_key(|a| std::cmp::Reverse(a.len()));
    for alias in &gold_aliases {
        for start in occurrences(&text.clone(), alias) {
            let blank = format!(" {} ", "#".repeat(alias.len() - 2));
            text.replace_range(start..start + alias.len(), &blank);
        }
    }
    let (question, reference) = (normalize(asked.question), normalize(asked.reference));
    let named_in =
        |words: &str, entity: &[String]| entity.iter().any(|a| words.contains(a.as_str()));
    let either_or = gold_aliases.iter().any(|a| question.contains(a.as_str()));
    for entity in &family.entities {
        if entity.iter().any(|a| gold_aliases.contains(a))
            || !gold_kinds.contains(&is_number(entity))
            || (!either_or && named_in(&question, entity))
        {
            continue;
        }
        let Some((at, alias)) = entity
            .iter()
            .filter_map(|a| text.find(a.as_str()).map(|at| (at, a)))
            .min()
        else {
            continue;
        };
        // Offered as an alternative ("Ocon, or maybe Verstappen") it is a hedge
        // (`at` is the space its match starts with).
        let context = at > all_stated_at
            && !text[all_stated_at..=at].contains(" or ")
            && named_in(&reference, entity);
        if !context {
            return Verdict::Conflicting(alias.trim().to_string());
        }
    }
    Verdict::Correct
}
