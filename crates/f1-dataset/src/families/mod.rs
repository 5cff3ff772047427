//! The question families: each turns knowledge-base rows into grounded facts.

mod circuit;
mod constructor;
mod driver;
pub mod links;
mod race;
mod season;

use std::collections::{HashMap, HashSet};

use f1_data::query::{Driver, Race, RaceResult};
use f1_data::KnowledgeBase;

use crate::fact::{Entity, Fact};
use crate::Result;

/// A kind of question, its phrasings and how to find every fact of it.
pub struct Family {
    pub name: &'static str,
    /// Question templates with `{slot}` placeholders; at least four per family.
    pub phrasings: &'static [&'static str],
    pub facts: fn(&FactContext) -> Result<Vec<Fact>>,
}

/// Every family, in a fixed order.
pub fn all() -> impl Iterator<Item = &'static Family> {
    race::FAMILIES
        .iter()
        .chain(season::FAMILIES)
        .chain(driver::FAMILIES)
        .chain(constructor::FAMILIES)
        .chain(circuit::FAMILIES)
}

/// Looks a family up by name.
pub fn by_name(name: &str) -> Option<&'static Family> {
    all().find(|f| f.name == name)
}

/// The period a career total covers.
pub enum Span {
    /// Still active: the total is as of this race.
    Active(String),
    /// First and last season.
    Closed(i64, i64),
}

impl Span {
    /// " between 1978 and 1991", " in 1958" or ", as of the 2025 Singapore Grand Prix".
    pub fn describe(&self) -> String {
        match self {
            Span::Active(race) => format!(", as of {race}"),
            Span::Closed(first, last) if first == last => format!(" in {first}"),
            Span::Closed(first, last) => format!(" between {first} and {last}"),
        }
    }

    pub fn is_active(&self) -> bool {
        matches!(self, Span::Active(_))
    }
}

/// What the families read, loaded once.
pub struct FactContext<'a> {
    pub kb: &'a KnowledgeBase,
    /// Every race with results whose season and name identify it, with its results.
    pub races: Vec<(Race, Vec<RaceResult>)>,
    races_with_results: HashSet<i64>,
    drivers: HashMap<i64, Driver>,
    /// Full names shared by several drivers, which questions cannot name.
    ambiguous_names: HashSet<String>,
    /// "the 2025 Singapore Grand Prix": the last race with results.
    pub cutoff: String,
    /// The season of that race: subjects active in it get "as of" answers.
    pub cutoff_season: i64,
    /// The last season with champions.
    pub last_complete_season: i64,
}

impl<'a> FactContext<'a> {
    pub fn load(kb: &'a KnowledgeBase) -> Result<Self> {
        let mut labels: HashMap<(i64, String), usize> = HashMap::new();
        let all_races = kb.races_with_results()?;
        for race in &all_races {
            *labels.entry((race.season, race.name.clone())).or_default() += 1;
        }
        let races_with_results = all_races.iter().map(|r| r.race_id).collect();
        let mut races = Vec::new();
        for race in all_races {
            if labels[&(race.season, race.name.clone())] == 1 {
                let results = kb.results(race.race_id)?;
                races.push((race, results));
            }
        }
        let drivers: HashMap<i64, Driver> = kb
            .drivers_with_starts(0)?
            .into_iter()
            .map(|d| (d.driver_id, d))
            .collect();
        let mut seen = HashSet::new();
        let mut ambiguous_names = HashSet::new();
        for driver in drivers.values() {
            if !seen.insert(driver.full_name()) {
                ambiguous_names.insert(driver.full_name());
            }
        }
        let latest = kb.latest_race_with_results()?;
        let cutoff = latest
            .as_ref()
            .map(|r| format!("the {}", r.label()))
            .unwrap_or_else(|| "the last complete season".to_string());
        let cutoff_season = latest.map_or(0, |r| r.season);
        let last_complete_season = kb.all_champions()?.last().map_or(0, |c| c.season);
        Ok(Self {
            kb,
            races,
            races_with_results,
            drivers,
            ambiguous_names,
            cutoff,
            cutoff_season,
            last_complete_season,
        })
    }

    /// A driver loaded at start-up (every driver in the database).
    pub fn driver(&self, driver_id: i64) -> &Driver {
        &self.drivers[&driver_id]
    }

    /// Whether questions can name this driver without ambiguity.
    pub fn is_unique_name(&self, driver: &Driver) -> bool {
        !self.ambiguous_names.contains(&driver.full_name())
    }

    pub fn has_results(&self, race_id: i64) -> bool {
        self.races_with_results.contains(&race_id)
    }

    /// How a career total is qualified: "as of the 2025 Singapore Grand Prix" while
    /// the subject is active in the data's last season, else "from 1978 to 1991".
    pub fn span(&self, seasons: &[i64]) -> Span {
        match (seasons.first(), seasons.last()) {
            (Some(_), Some(&last)) if last == self.cutoff_season => {
                Span::Active(self.cutoff.clone())
            }
            (Some(&first), Some(&last)) => Span::Closed(first, last),
            _ => Span::Closed(0, 0),
        }
    }

    /// A driver as a gold entity: full name and surname.
    pub fn person(&self, driver_id: i64, name: &str) -> Entity {
        match self.drivers.get(&driver_id) {
            Some(d) => Entity::person(name, &d.surname),
            None => Entity::text(name),
        }
    }

    /// A person who may be known only by name (the fallback fact set has no ids).
    pub fn person_or_name(&self, driver_id: Option<i64>, name: &str) -> Entity {
        match driver_id {
            Some(id) => self.person(id, name),
            None => {
                let surname = name.rsplit(' ').next().unwrap_or(name);
                Entity::person(name, surname)
            }
        }
    }
}
