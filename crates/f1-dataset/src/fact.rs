//! A fact: one question's grounded answer, with its evidence and follow-ups.

use serde::Serialize;

/// A gold answer entity: the canonical text and the other spellings that count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entity {
    pub text: String,
    /// Every accepted spelling, the canonical one included.
    pub aliases: Vec<String>,
}

impl Entity {
    /// A plain entity with no other spellings.
    pub fn text(text: impl Into<String>) -> Self {
        let text = text.into();
        Self {
            aliases: vec![text.clone()],
            text,
        }
    }

    /// A person: full name and surname (the surname's last word too, "Häkkinen").
    pub fn person(full_name: &str, surname: &str) -> Self {
        let mut entity = Self::text(full_name);
        entity.add_alias(surname);
        entity
    }

    /// A count or year: digits and, up to 999, words ("7", "seven").
    pub fn number(n: i64) -> Self {
        let mut entity = Self::text(n.to_string());
        if let Some(words) = crate::text::number_words(n) {
            entity.add_alias(&words);
        }
        if n == 0 {
            // As the answers put a count of nothing: "never won", "has yet to win".
            entity.add_alias("never");
            entity.add_alias("yet to");
        }
        entity
    }

    /// A points total or margin, e.g. "8", "0.5".
    pub fn points(points: f64) -> Self {
        let mut entity = Self::text(crate::text::points(points));
        if points.fract() == 0.0 {
            if let Some(words) = crate::text::number_words(points as i64) {
                entity.add_alias(&words);
            }
        } else if points == 0.5 {
            entity.add_alias("half a point");
        }
        entity
    }

    /// An ISO date, accepted as "12 December 2021", "December 12, 2021" or "2021-12-12".
    pub fn date(iso: &str) -> Self {
        let mut entity = Self::text(crate::text::long_date(iso));
        if let Some(us) = crate::text::us_date(iso) {
            entity.add_alias(&us);
        }
        entity.add_alias(iso);
        entity
    }

    /// Adds a spelling unless it is already there.
    pub fn add_alias(&mut self, alias: &str) {
        if !alias.is_empty() && !self.aliases.iter().any(|a| a == alias) {
            self.aliases.push(alias.to_string());
        }
    }
}

/// A database row an answer was derived from: table and primary key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub table: &'static str,
    pub key: Vec<(&'static str, i64)>,
}

impl Source {
    pub fn new(table: &'static str, column: &'static str, id: i64) -> Self {
        Self {
            table,
            key: vec![(column, id)],
        }
    }
}

/// One grounded question-answer fact.
#[derive(Debug, Clone)]
pub struct Fact {
    pub family: &'static str,
    /// Unique id, e.g. `race_winner:2021-22`.
    pub id: String,
    /// The unit the split assigns: facts about one race, season, driver... share it,
    /// so a test fact's whole subject is unseen in training.
    pub group: String,
    /// Values for the family's question templates (`{race}` -> "2021 Abu Dhabi Grand Prix").
    pub slots: Vec<(&'static str, String)>,
    /// The short answer style.
    pub short: String,
    /// The full-sentence answer style, with context.
    pub full: String,
    pub gold: Vec<Entity>,
    pub sources: Vec<Source>,
    /// Questions that only make sense after this one ("And who finished second?").
    pub follow_ups: Vec<FollowUp>,
}

impl Fact {
    /// An empty fact about `subject` (`2021-22`, `hamilton`, `monza`...) of a kind of
    /// subject (`race`, `driver`...): id `family:subject`, group `kind:subject`. The
    /// caller fills in the question slots, answers, gold and sources.
    pub fn about(family: &'static str, kind: &str, subject: &str) -> Self {
        Self {
            family,
            id: format!("{family}:{subject}"),
            group: format!("{kind}:{subject}"),
            slots: Vec::new(),
            short: String::new(),
            full: String::new(),
            gold: Vec::new(),
            sources: Vec::new(),
            follow_ups: Vec::new(),
        }
    }

    /// The season the fact is about: its `season` slot, or its race's year.
    pub fn season(&self) -> Option<i64> {
        self.slots.iter().find_map(|(name, value)| match *name {
            "season" => value.parse().ok(),
            "race" => value.get(..4)?.parse().ok(),
            _ => None,
        })
    }
}

/// A follow-up turn: context-dependent question variants and the fact they ask for.
#[derive(Debug, Clone)]
pub struct FollowUp {
    pub questions: &'static [&'static str],
    pub fact: Fact,
}
