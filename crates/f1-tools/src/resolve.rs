//! From a fan's words to rows: drivers, teams, circuits, races and seasons.
//!
//! A name matches an entity when it equals one of the entity's keys (accents,
//! case and punctuation ignored), else when it is within a small edit distance of
//! one (a misspelling). Several matches are told apart by the season when there
//! is one, then by weight: one that raced at least [`DOMINANCE`] times as often as
//! every other is the one meant ("Hamilton" is Lewis, not Duncan). Anything else
//! is an error with the candidates, never a guess.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use f1_data::query::{Circuit, Constructor, Driver, Race};
use f1_data::KnowledgeBase;
use serde_json::Value;

use crate::error::ToolError;

/// How many times more races the meant entity has than any other match.
pub const DOMINANCE: i64 = 5;

/// Names fans use that are not a driver's forename, surname or code.
pub const NICKNAMES: &[(&str, &str)] = &[
    ("checo", "perez"),
    ("schumi", "michael_schumacher"),
    ("nando", "alonso"),
    ("seb", "vettel"),
    ("iceman", "raikkonen"),
    ("the iceman", "raikkonen"),
    ("the professor", "prost"),
    ("kmag", "kevin_magnussen"),
    ("danny ric", "ricciardo"),
    ("lando", "norris"),
    ("mad max", "max_verstappen"),
];

/// Places fans name a circuit by that are not its name or its town in the tables.
pub const CIRCUIT_ALIASES: &[(&str, &str)] = &[("barcelona", "catalunya"), ("cota", "americas")];

pub use f1_data::names::key;

/// An entity's keys, display name and weight.
struct Named<T> {
    item: T,
    name: String,
    /// The full name first.
    keys: Vec<String>,
    weight: i64,
}

/// Edits a misspelling of `query` may have: none up to 4 letters, then one per
/// six or so ("hamiltn", "montana park circuit").
fn edit_budget(query: &str) -> usize {
    match query.len() {
        0..=4 => 0,
        5..=7 => 1,
        n => (n / 6).max(2),
    }
}

/// The entities whose keys match `query` (or `query` without filler words,
/// `stripped`): those whose full name it is, else exact matches of any key, else
/// the closest misspellings of either within its edit budget.
fn matches<'a, T>(entities: &'a [Named<T>], query: &str, stripped: &str) -> Vec<&'a Named<T>> {
    let full_name: Vec<_> = entities.iter().filter(|e| e.keys[0] == query).collect();
    if !full_name.is_empty() {
        return full_name;
    }
    let exact: Vec<_> = entities
        .iter()
        .filter(|e| e.keys.iter().any(|k| k == query || k == stripped))
        .collect();
    if !exact.is_empty() {
        return exact;
    }
    let within = |key: &str, q: &str| {
        let d = strsim::levenshtein(key, q);
        (d <= edit_budget(q)).then_some(d)
    };
    let distance = |e: &Named<T>| {
        e.keys
            .iter()
            .flat_map(|k| [within(k, query), within(k, stripped)])
            .flatten()
            .min()
    };
    let Some(best) = entities.iter().filter_map(distance).min() else {
        return Vec::new();
    };
    entities
        .iter()
        .filter(|e| distance(e) == Some(best))
        .collect()
}

/// The entities matching `query` (see [`matches`]; `filler` words may be
/// left out), or a not-found error with the closest names.
fn lookup<'a, T>(
    entities: &'a [Named<T>],
    what: &'static str,
    query: &str,
    filler: &[&str],
) -> Result<Vec<&'a Named<T>>, ToolError> {
    let raw = key(query);
    let stripped = strip_words(&raw, filler);
    let found = matches(entities, &raw, &stripped);
    if found.is_empty() {
        return Err(ToolError::NotFound {
            what,
            query: query.to_string(),
            candidates: suggestions(entities, &stripped),
        });
    }
    Ok(found)
}

/// The closest names to `query`, for a not-found error.
fn suggestions<T>(entities: &[Named<T>], query: &str) -> Vec<String> {
    let mut scored: Vec<(f64, &str)> = entities
        .iter()
        .map(|e| {
            let score = e
                .keys
                .iter()
                .map(|k| strsim::jaro_winkler(k, query))
                .fold(0.0, f64::max);
            (score, e.name.as_str())
        })
        .filter(|(score, _)| *score >= 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored
        .into_iter()
        .take(5)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// One entity out of several matches: the dominant one, else an ambiguity error.
fn one<'a, T>(
    mut found: Vec<&'a Named<T>>,
    what: &'static str,
    query: &str,
) -> Result<&'a Named<T>, ToolError> {
    found.sort_by_key(|e| std::cmp::Reverse(e.weight));
    match found.as_slice() {
        [] => unreachable!("callers handle no match"),
        [only] => Ok(only),
        [first, second, ..] if first.weight >= DOMINANCE * second.weight.max(1) => Ok(first),
        _ => Err(ToolError::Ambiguous {
            what,
            query: query.to_string(),
            candidates: found.iter().take(8).map(|e| e.name.clone()).collect(),
        }),
    }
}

/// Everything a name can resolve to, loaded once.
pub struct Resolver {
    drivers: Vec<Named<Driver>>,
    teams: Vec<Named<Constructor>>,
    circuits: Vec<Named<Circuit>>,
    /// Every race with its keys: its name, and its circuit's.
    races: Vec<(Race, Vec<String>)>,
    /// The latest season with champions: "last season".
    pub last_complete_season: i64,
    /// The latest season with a race result: "this season".
    pub current_season: i64,
    /// The latest race with a result: "the latest race".
    latest_raced: Option<(i64, i64)>,
    /// The first and last seasons with races.
    seasons: RangeInclusive<i64>,
}

impl Resolver {
    pub fn load(kb: &KnowledgeBase) -> Result<Self, ToolError> {
        let entries = kb.entry_counts()?;
        let (driver_entries, team_entries) = (entries.drivers, entries.constructors);
        let drivers = kb
            .drivers_with_starts(0)?
            .into_iter()
            .map(|d| {
                let mut keys = vec![
                    key(&d.full_name()),
                    key(&d.surname),
                    key(&d.forename),
                    key(&d.driver_ref),
                ];
                keys.extend(d.code.as_deref().map(key));
                // "Checo" and "Checo Perez".
                let surname = key(&d.surname);
                keys.extend(
                    NICKNAMES
                        .iter()
                        .filter(|(_, r)| *r == d.driver_ref)
                        .flat_map(|(n, _)| [n.to_string(), format!("{n} {surname}")]),
                );
                Named {
                    name: d.full_name(),
                    keys,
                    weight: driver_entries.get(&d.driver_id).copied().unwrap_or(0),
                    item: d,
                }
            })
            .collect();
        let teams = kb
            .constructors_with_races(1)?
            .into_iter()
            .map(|c| Named {
                name: c.name.clone(),
                keys: team_keys(&c),
                weight: team_entries.get(&c.constructor_id).copied().unwrap_or(0),
                item: c,
            })
            .collect();
        let races = kb.all_races()?;
        let mut circuit_races: HashMap<i64, i64> = HashMap::new();
        for race in &races {
            *circuit_races.entry(race.circuit_id).or_default() += 1;
        }
        let circuits: Vec<Named<Circuit>> = kb
            .circuits_with_races()?
            .into_iter()
            .map(|c| Named {
                name: c.name.clone(),
                keys: circuit_keys(&c),
                weight: circuit_races.get(&c.circuit_id).copied().unwrap_or(0),
                item: c,
            })
            .collect();
        let races = races
            .into_iter()
            .map(|r| {
                let mut keys = vec![strip_words(&key(&r.name), RACE_FILLER)];
                keys.extend(r.country.as_deref().map(key));
                if let Some(c) = circuits.iter().find(|c| c.item.circuit_id == r.circuit_id) {
                    keys.extend(c.keys.iter().cloned());
                }
                (r, keys)
            })
            .collect::<Vec<_>>();
        let latest_raced = kb.latest_race_with_results()?.map(|r| (r.season, r.round));
        let current_season = latest_raced.map_or(0, |(season, _)| season);
        let last_complete_season = kb.all_champions()?.last().map_or(0, |c| c.season);
        let season_of = |race: Option<&(Race, Vec<String>)>| race.map_or(0, |(r, _)| r.season);
        let seasons = season_of(races.first())..=season_of(races.last());
        Ok(Self {
            drivers,
            teams,
            circuits,
            races,
            last_complete_season,
            current_season,
            latest_raced,
            seasons,
        })
    }

    /// A driver; with a season, only drivers who raced in it count when several match.
    pub fn driver(
        &self,
        kb: &KnowledgeBase,
        query: &str,
        season: Option<i64>,
    ) -> Result<Driver, ToolError> {
        let mut found = lookup(&self.drivers, "driver", query, &[])?;
        if let (Some(season), true) = (season, found.len() > 1) {
            let mut in_season = Vec::new();
            for named in &found {
                if kb.driver_seasons(named.item.driver_id)?.contains(&season) {
                    in_season.push(*named);
                }
            }
            if !in_season.is_empty() {
                found = in_season;
            }
        }
        Ok(one(found, "driver", query)?.item.clone())
    }

    /// A constructor.
    pub fn team(&self, query: &str) -> Result<Constructor, ToolError> {
        let found = lookup(&self.teams, "team", query, TEAM_FILLER)?;
        Ok(one(found, "team", query)?.item.clone())
    }

    /// A circuit.
    pub fn circuit(&self, query: &str) -> Result<Circuit, ToolError> {
        let found = lookup(&self.circuits, "circuit", query, CIRCUIT_FILLER)?;
        Ok(one(found, "circuit", query)?.item.clone())
    }

    /// A season: a year in the data, or "last season" (the latest complete one),
    /// "this season" (the latest with a result).
    pub fn season(&self, value: &Value) -> Result<i64, ToolError> {
        let text = match value {
            Value::Number(n) => n.to_string(),
            Value::String(s) => key(s),
            other => other.to_string(),
        };
        let year = match self.relative_season(&text) {
            Some(year) => year,
            None => self.year_named(&text).ok_or_else(|| ToolError::NotFound {
                what: "season",
                query: text.clone(),
                candidates: Vec::new(),
            })?,
        };
        if !self.seasons.contains(&year) {
            return Err(ToolError::NoData(format!(
                "the data covers the seasons {} to {}, not {year}",
                self.seasons.start(),
                self.seasons.end()
            )));
        }
        Ok(year)
    }

    fn relative_season(&self, text: &str) -> Option<i64> {
        if LAST_SEASON.iter().any(|w| text.contains(w)) {
            Some(self.last_complete_season)
        } else if THIS_SEASON.iter().any(|w| text.contains(w)) {
            Some(self.current_season)
        } else {
            None
        }
    }

    /// A race from words such as "2021 Abu Dhabi Grand Prix", "Interlagos 2016",
    /// "the 2021 finale" or "round 5", in `season` when the words name no year.
    pub fn race(&self, query: &str, season: Option<&Value>) -> Result<Race, ToolError> {
        let mut q = key(query);
        let named = self.relative_season(&q).or_else(|| self.year_named(&q));
        let season = match (named, season) {
            (Some(year), _) => Some(year),
            (None, Some(value)) => Some(self.season(value)?),
            (None, None) => None,
        };
        q = without_years(&q);
        for phrase in LAST_SEASON.iter().chain(THIS_SEASON) {
            q = q.replace(phrase, " ");
        }
        // "first race" and "latest race" are read before "race" is dropped as filler.
        let position = positional(&q);
        let q = strip_words(&q, RACE_FILLER);
        let pool: Vec<&(Race, Vec<String>)> = self
            .races
            .iter()
            .filter(|(r, _)| season.is_none_or(|s| r.season == s))
            .collect();
        if pool.is_empty() {
            return Err(ToolError::NoData(format!(
                "no races in {}",
                season.map_or("the data".to_string(), |s| s.to_string())
            )));
        }
        let races: Vec<&Race> = pool.iter().map(|(r, _)| r).collect();
        let found: Vec<&Race> = match position {
            Some(Position::Round(n)) => races.iter().copied().filter(|r| r.round == n).collect(),
            Some(Position::First) => races.iter().copied().filter(|r| r.round == 1).collect(),
            Some(Position::Latest) => {
                let latest = races
                    .iter()
                    .map(|r| (r.season, r.round))
                    .filter(|raced| self.latest_raced.is_some_and(|latest| *raced <= latest))
                    .max();
                races
                    .iter()
                    .copied()
                    .filter(|r| Some((r.season, r.round)) == latest)
                    .collect()
            }
            Some(Position::Last) => {
                let last = races.iter().map(|r| r.round).max();
                races
                    .iter()
                    .copied()
                    .filter(|r| Some(r.round) == last)
                    .collect()
            }
            None => race_matches(&pool, &q),
        };
        let described = |races: &[&Race]| -> Vec<String> {
            races.iter().rev().take(8).map(|r| r.label()).collect()
        };
        match found.as_slice() {
            [] => Err(ToolError::NotFound {
                what: "race",
                query: query.to_string(),
                candidates: match season {
                    Some(_) => described(&races),
                    None => Vec::new(),
                },
            }),
            [race] => Ok((*race).clone()),
            _ if season.is_none() => Err(ToolError::Ambiguous {
                what: "race",
                query: format!("{query} (which season?)"),
                candidates: described(&found),
            }),
            _ => Err(ToolError::Ambiguous {
                what: "race",
                query: query.to_string(),
                candidates: described(&found),
            }),
        }
    }

    /// The one race a fan's message names: one season (a year, or "last
    /// season") and a race's name, country or circuit among its words ("who won
    /// at spa in 98?"), or its place in that season ("the 2013 opener"). None
    /// when the words name no race, or several.
    pub fn race_in_words(&self, words: &str) -> Option<Race> {
        let text = key(words);
        let years: Vec<i64> = year_words(&text)
            .into_iter()
            .filter_map(|w| self.year_of(w))
            .collect();
        let season = match (self.relative_season(&text), years.as_slice()) {
            (Some(year), []) => year,
            (None, [year, rest @ ..]) if rest.iter().all(|y| y == year) => *year,
            _ => return None,
        };
        let words: Vec<&str> = text.split(' ').collect();
        let named: Vec<&Race> = self
            .races
            .iter()
            .filter(|(r, keys)| r.season == season && keys.iter().any(|k| names(&words, k)))
            .map(|(r, _)| r)
            .collect();
        match named.as_slice() {
            [race] => Some((*race).clone()),
            [] if positional(&text).is_some() => self.race(&text, Some(&Value::from(season))).ok(),
            _ => None,
        }
    }

    /// The season a query's words name: a 19xx or 20xx year, else a two-digit
    /// one in the data ("spa 98"; not a round's number).
    fn year_named(&self, text: &str) -> Option<i64> {
        year_in(text).or_else(|| year_words(text).into_iter().find_map(|w| self.year_of(w)))
    }

    /// `word` as a season in the data: "2016", or "16" and "98" as fans write them.
    fn year_of(&self, word: &str) -> Option<i64> {
        let n: i64 = word.parse().ok()?;
        let year = match word.len() {
            4 => n,
            2 if 2000 + n <= self.current_season => 2000 + n,
            2 => 1900 + n,
            _ => return None,
        };
        self.seasons.contains(&year).then_some(year)
    }
}

/// Whether `key` is one of the words, or a run of them; a one-word key of five or
/// more letters also matches a misspelling of it ("monacco").
fn names(words: &[&str], key: &str) -> bool {
    let key_words: Vec<&str> = key.split(' ').collect();
    if key_words.len() > 1 {
        return words
            .windows(key_words.len())
            .any(|w| w == key_words.as_slice());
    }
    let misspells =
        |w: &str| key.len() >= 5 && w.len() >= 5 && strsim::levenshtein(w, key) <= edit_budget(w);
    words.iter().any(|w| *w == key || misspells(w))
}

/// The words that may be years: four digits, or two not after "round".
fn year_words(text: &str) -> Vec<&str> {
    let words: Vec<&str> = text.split(' ').collect();
    (0..words.len())
        .filter(|&i| {
            let w = words[i];
            let two_digits = w.len() == 2 && (i == 0 || words[i - 1] != "round");
            w.bytes().all(|b| b.is_ascii_digit()) && (w.len() == 4 || two_digits)
        })
        .map(|i| words[i])
        .collect()
}

/// `text` without the words [`year_words`] finds.
fn without_years(text: &str) -> String {
    let years = year_words(text);
    text.split(' ')
        .filter(|w| !years.contains(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Words that mean the latest season with champions.
const LAST_SEASON: &[&str] = &[
    "last season",
    "last year",
    "previous season",
    "latest season",
];
/// Words that mean the latest season with a result.
const THIS_SEASON: &[&str] = &["this season", "this year", "current season"];

enum Position {
    First,
    /// A season's last round ("the finale").
    Last,
    /// The latest race with a result ("the latest race").
    Latest,
    Round(i64),
}

fn positional(q: &str) -> Option<Position> {
    const LATEST: &[&str] = &[
        "latest race",
        "most recent race",
        "latest round",
        "latest grand prix",
        "most recent grand prix",
    ];
    if LATEST.iter().any(|w| q.contains(w)) {
        return Some(Position::Latest);
    }
    const LAST: &[&str] = &[
        "finale",
        "final race",
        "last race",
        "final round",
        "last round",
    ];
    const FIRST: &[&str] = &["opener", "opening race", "first race", "first round"];
    if LAST.iter().any(|w| q.contains(w)) {
        return Some(Position::Last);
    }
    if FIRST.iter().any(|w| q.contains(w)) {
        return Some(Position::First);
    }
    let words: Vec<&str> = q.split(' ').collect();
    words
        .windows(2)
        .find(|w| w[0] == "round")
        .and_then(|w| w[1].parse().ok())
        .map(Position::Round)
}

/// Races whose name, country or circuit is `q` (or a misspelling of it); among
/// several, those whose own name matches exactly.
fn race_matches<'a>(pool: &[&'a (Race, Vec<String>)], q: &str) -> Vec<&'a Race> {
    if q.is_empty() {
        return Vec::new();
    }
    let exact: Vec<_> = pool
        .iter()
        .copied()
        .filter(|(_, keys)| keys.iter().any(|k| k == q))
        .collect();
    let found = if exact.is_empty() {
        let budget = edit_budget(q);
        pool.iter()
            .copied()
            .filter(|(_, keys)| keys.iter().any(|k| strsim::levenshtein(k, q) <= budget))
            .collect()
    } else {
        exact
    };
    let by_name: Vec<_> = found
        .iter()
        .copied()
        .filter(|(_, keys)| keys[0] == q)
        .collect();
    let chosen = if by_name.is_empty() { found } else { by_name };
    chosen.into_iter().map(|(r, _)| r).collect()
}

/// The first 19xx or 20xx word.
fn year_in(text: &str) -> Option<i64> {
    text.split(' ')
        .filter(|w| w.len() == 4 && (w.starts_with("19") || w.starts_with("20")))
        .find_map(|w| w.parse().ok())
}

const RACE_FILLER: &[&str] = &[
    "the", "grand", "prix", "gp", "race", "formula", "one", "f1", "season", "s", "of", "in", "at",
    "weekend",
];
const TEAM_FILLER: &[&str] = &["the", "team", "f1", "formula", "one", "racing", "scuderia"];
const CIRCUIT_FILLER: &[&str] = &[
    "the",
    "circuit",
    "autodromo",
    "international",
    "internacional",
    "grand",
    "prix",
    "de",
    "del",
    "di",
    "park",
    "raceway",
    "ring",
];

fn strip_words(text: &str, filler: &[&str]) -> String {
    text.split(' ')
        .filter(|w| !w.is_empty() && !filler.contains(w))
        .collect::<Vec<_>>()
        .join(" ")
}

fn team_keys(c: &Constructor) -> Vec<String> {
    let name = key(&c.name);
    let mut keys = vec![
        name.clone(),
        key(&c.constructor_ref),
        strip_words(&name, TEAM_FILLER),
    ];
    keys.dedup();
    keys
}

fn circuit_keys(c: &Circuit) -> Vec<String> {
    let name = key(&c.name);
    let mut keys = vec![
        name.clone(),
        key(&c.circuit_ref),
        strip_words(&name, CIRCUIT_FILLER),
    ];
    keys.extend(c.location.as_deref().map(key));
    keys.extend(
        CIRCUIT_ALIASES
            .iter()
            .filter(|(_, r)| *r == c.circuit_ref)
            .map(|(alias, _)| alias.to_string()),
    );
    keys.dedup();
    keys
}
