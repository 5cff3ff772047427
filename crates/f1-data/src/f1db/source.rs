//! F1DB's YAML source tree (`src/data/` of f1db/f1db), read into typed records.
//!
//! Only what the knowledge base's schema can hold is read; every file that fails to
//! parse is named with serde's line and field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{Error, Result};

/// A driver (`drivers/<id>.yml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Driver {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub full_name: String,
    pub abbreviation: Option<String>,
    pub permanent_number: Option<i64>,
    pub date_of_birth: Option<String>,
    pub place_of_birth: Option<String>,
    pub nationality_country_id: String,
}

/// A constructor (`constructors/<id>.yml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Constructor {
    pub id: String,
    pub name: String,
    pub country_id: String,
}

/// A circuit (`circuits/<id>.yml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Circuit {
    pub id: String,
    pub full_name: String,
    pub place_name: String,
    pub country_id: String,
    pub latitude: f64,
    pub longitude: f64,
}

/// A Grand Prix name (`grands-prix/<id>.yml`): "Australian Grand Prix".
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrandPrix {
    pub id: String,
    pub full_name: String,
}

/// A country (`countries/<id>.yml`): its name and demonym.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Country {
    pub id: String,
    pub name: String,
    pub demonym: Option<String>,
}

/// A race's schedule (`seasons/<year>/races/<NN-slug>/race.yml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RaceInfo {
    pub round: i64,
    pub date: String,
    pub time: Option<String>,
    pub grand_prix_id: String,
    pub circuit_id: String,
    pub qualifying_date: Option<String>,
    pub qualifying_time: Option<String>,
    pub sprint_race_date: Option<String>,
    pub sprint_race_time: Option<String>,
    pub free_practice_1_date: Option<String>,
    pub free_practice_1_time: Option<String>,
    pub free_practice_2_date: Option<String>,
    pub free_practice_2_time: Option<String>,
    pub free_practice_3_date: Option<String>,
    pub free_practice_3_time: Option<String>,
}

/// One row of a race or sprint classification. `position` is a number or
/// DNF, DNS, DSQ, NC (F1DB's spelling); times are text as F1DB writes them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClassifiedRow {
    pub position: serde_norway::Value,
    pub driver_number: Option<i64>,
    pub driver_id: String,
    pub constructor_id: String,
    pub laps: Option<i64>,
    pub time: Option<String>,
    pub gap: Option<String>,
    pub reason_retired: Option<String>,
    pub points: Option<f64>,
    pub grid_position: Option<serde_norway::Value>,
}

/// One row of qualifying.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QualifyingRow {
    pub position: serde_norway::Value,
    pub driver_number: Option<i64>,
    pub driver_id: String,
    pub constructor_id: String,
    pub q1: Option<String>,
    pub q2: Option<String>,
    pub q3: Option<String>,
}

/// One row of the fastest laps.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FastestLapRow {
    pub position: serde_norway::Value,
    pub driver_id: String,
    pub lap: Option<i64>,
    pub time: Option<String>,
}

/// One pit stop; `time` is how long the car was in the pit lane ("21.789").
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PitStopRow {
    pub driver_id: String,
    pub stop: i64,
    pub lap: i64,
    pub time: Option<String>,
}

/// A driver's standing after a race.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriverStanding {
    pub position: serde_norway::Value,
    pub driver_id: String,
    pub points: f64,
}

/// A constructor's standing after a race.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConstructorStanding {
    pub position: serde_norway::Value,
    pub constructor_id: String,
    pub points: f64,
}

/// Everything F1DB holds about one race weekend; empty lists where the file is
/// absent (a race not run yet).
#[derive(Debug, Clone)]
pub struct Race {
    pub year: i64,
    /// The race's folder, for messages.
    pub dir: PathBuf,
    pub info: RaceInfo,
    pub results: Vec<ClassifiedRow>,
    pub sprint_results: Vec<ClassifiedRow>,
    pub qualifying: Vec<QualifyingRow>,
    pub fastest_laps: Vec<FastestLapRow>,
    pub pit_stops: Vec<PitStopRow>,
    pub driver_standings: Vec<DriverStanding>,
    pub constructor_standings: Vec<ConstructorStanding>,
}

/// The reference tables and every race of the seasons present.
#[derive(Debug, Clone)]
pub struct Source {
    pub dir: PathBuf,
    pub drivers: BTreeMap<String, Driver>,
    pub constructors: BTreeMap<String, Constructor>,
    pub circuits: BTreeMap<String, Circuit>,
    pub grands_prix: BTreeMap<String, GrandPrix>,
    pub countries: BTreeMap<String, Country>,
    /// Races in season then round order.
    pub races: Vec<Race>,
}

impl Source {
    /// Reads the tree at `dir` (`drivers/`, `constructors/`, `circuits/`,
    /// `grands-prix/`, `countries/`, `seasons/<year>/races/`).
    pub fn read(dir: &Path) -> Result<Self> {
        let seasons = dir.join("seasons");
        if !seasons.is_dir() {
            return Err(Error::MissingTable { path: seasons });
        }
        let mut races = Vec::new();
        for season in sorted_entries(&seasons)? {
            let Some(year) = file_name(&season).parse::<i64>().ok() else {
                continue;
            };
            let races_dir = season.join("races");
            if !races_dir.is_dir() {
                continue;
            }
            for race_dir in sorted_entries(&races_dir)? {
                if race_dir.is_dir() {
                    races.push(read_race(year, &race_dir)?);
                }
            }
        }
        races.sort_by_key(|r| (r.year, r.info.round));
        if let Some(pair) = races
            .windows(2)
            .find(|w| (w[0].year, w[0].info.round) == (w[1].year, w[1].info.round))
        {
            return Err(Error::Source {
                path: pair[1].dir.join("race.yml"),
                message: format!(
                    "field 'round': {} round {} is also {}",
                    pair[1].year,
                    pair[1].info.round,
                    pair[0].dir.display()
                ),
            });
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            drivers: read_records(&dir.join("drivers"), |d: &Driver| d.id.clone())?,
            constructors: read_records(&dir.join("constructors"), |c: &Constructor| c.id.clone())?,
            circuits: read_records(&dir.join("circuits"), |c: &Circuit| c.id.clone())?,
            grands_prix: read_records(&dir.join("grands-prix"), |g: &GrandPrix| g.id.clone())?,
            countries: read_records(&dir.join("countries"), |c: &Country| c.id.clone())?,
            races,
        })
    }

    /// The country's demonym ("Italian"), or its name when F1DB has none.
    pub fn demonym(&self, country_id: &str) -> Option<String> {
        self.countries
            .get(country_id)
            .map(|c| c.demonym.clone().unwrap_or_else(|| c.name.clone()))
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|entry| entry.map(|e| e.path()).map_err(|e| Error::io(dir, e)))
        .collect::<Result<Vec<_>>>()?;
    entries.sort();
    Ok(entries)
}

/// Parses one YAML file, naming it (and serde's line and field) on failure.
fn parse<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_norway::from_str(&text).map_err(|e| Error::Source {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// A file's records when it exists, none when it does not.
fn parse_list<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    if path.is_file() {
        Ok(parse::<Option<Vec<T>>>(path)?.unwrap_or_default())
    } else {
        Ok(Vec::new())
    }
}

/// Every `*.yml` record of a folder, keyed by `key`; a record whose key is not
/// its file's name is an error (F1DB names files by id).
fn read_records<T: DeserializeOwned>(
    dir: &Path,
    key: impl Fn(&T) -> String,
) -> Result<BTreeMap<String, T>> {
    let mut records = BTreeMap::new();
    for path in sorted_entries(dir)? {
        if path.extension().is_some_and(|e| e == "yml") {
            let record: T = parse(&path)?;
            let id = key(&record);
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            if stem.as_deref() != Some(id.as_str()) {
                return Err(Error::Source {
                    path,
                    message: format!("field 'id' is '{id}', not the file's name"),
                });
            }
            records.insert(id, record);
        }
    }
    Ok(records)
}

fn read_race(year: i64, dir: &Path) -> Result<Race> {
    Ok(Race {
        year,
        dir: dir.to_path_buf(),
        info: parse(&dir.join("race.yml"))?,
        results: parse_list(&dir.join("race-results.yml"))?,
        sprint_results: parse_list(&dir.join("sprint-race-results.yml"))?,
        qualifying: parse_list(&dir.join("qualifying-results.yml"))?,
        fastest_laps: parse_list(&dir.join("fastest-laps.yml"))?,
        pit_stops: parse_list(&dir.join("pit-stops.yml"))?,
        driver_standings: parse_list(&dir.join("driver-standings.yml"))?,
        constructor_standings: parse_list(&dir.join("constructor-standings.yml"))?,
    })
}
