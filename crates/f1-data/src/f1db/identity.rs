//! Which knowledge-base row each F1DB driver, constructor and circuit is.
//!
//! Slugs differ between the sources (F1DB `kimi-antonelli`, Ergast `antonelli`), so
//! drivers are matched by date of birth and name, constructors by the car a matched
//! driver drove in a race both sources hold (else by name), circuits by the race
//! held there in the same season and round (else by position within 2 km). What
//! matches nothing becomes a new row whose reference is F1DB's slug in Ergast's
//! spelling (`_` for `-`).

use std::collections::{BTreeMap, HashMap};

use rusqlite::{OptionalExtension, Transaction};

use super::source::{self, Source};
use crate::error::Result;
use crate::jolpica::api;
use crate::names::key;

/// How many entities matched an existing row and how many are new.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MatchCounts {
    pub drivers_matched: u64,
    pub drivers_new: u64,
    pub constructors_matched: u64,
    pub constructors_new: u64,
    pub circuits_matched: u64,
    pub circuits_new: u64,
}

/// F1DB ids mapped to the knowledge base's entities, as the upsert writes them.
#[derive(Debug, Default)]
pub struct Identities {
    pub drivers: HashMap<String, api::Driver>,
    pub constructors: HashMap<String, api::Constructor>,
    pub circuits: HashMap<String, api::Circuit>,
    pub counts: MatchCounts,
}

impl Identities {
    /// Resolves every entity the races of `source` name against the database.
    pub fn resolve(tx: &Transaction, source: &Source) -> Result<Self> {
        let mut identities = Self::default();
        let mut driver_ids = BTreeMap::new();
        let mut constructor_ids = BTreeMap::new();
        for race in &source.races {
            for row in race.results.iter().chain(&race.sprint_results) {
                driver_ids.insert(row.driver_id.clone(), &race.dir);
                constructor_ids.insert(row.constructor_id.clone(), &race.dir);
            }
            for row in &race.qualifying {
                driver_ids.insert(row.driver_id.clone(), &race.dir);
                constructor_ids.insert(row.constructor_id.clone(), &race.dir);
            }
            for row in &race.driver_standings {
                driver_ids.insert(row.driver_id.clone(), &race.dir);
            }
            for row in &race.pit_stops {
                driver_ids.insert(row.driver_id.clone(), &race.dir);
            }
            for row in &race.constructor_standings {
                constructor_ids.insert(row.constructor_id.clone(), &race.dir);
            }
        }
        for (id, dir) in driver_ids {
            let driver = source
                .drivers
                .get(&id)
                .ok_or_else(|| unknown(dir, "driverId", &id, "drivers"))?;
            identities.driver(tx, source, driver)?;
        }
        identities.constructors_from_shared_races(tx, source)?;
        for (id, dir) in constructor_ids {
            if identities.constructors.contains_key(&id) {
                continue;
            }
            let constructor = source
                .constructors
                .get(&id)
                .ok_or_else(|| unknown(dir, "constructorId", &id, "constructors"))?;
            identities.constructor(tx, source, constructor)?;
        }
        for race in &source.races {
            if identities.circuits.contains_key(&race.info.circuit_id) {
                continue;
            }
            let circuit = source.circuits.get(&race.info.circuit_id).ok_or_else(|| {
                unknown(&race.dir, "circuitId", &race.info.circuit_id, "circuits")
            })?;
            identities.circuit(tx, source, race, circuit)?;
        }
        Ok(identities)
    }

    fn driver(&mut self, tx: &Transaction, source: &Source, d: &source::Driver) -> Result<()> {
        let mut stmt = tx.prepare(
            "SELECT driver_ref, number, code, forename, surname, dob, nationality, url
             FROM drivers WHERE dob = ?1",
        )?;
        let born_that_day = stmt
            .query_map([&d.date_of_birth], |r| {
                Ok(api::Driver {
                    driver_ref: r.get(0)?,
                    permanent_number: r.get::<_, Option<i64>>(1)?.map(|n| n.to_string()),
                    code: r.get(2)?,
                    given_name: r.get(3)?,
                    family_name: r.get(4)?,
                    date_of_birth: r.get(5)?,
                    nationality: r.get(6)?,
                    url: r.get(7)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let names = [
            key(&d.full_name),
            key(&format!("{} {}", d.first_name, d.last_name)),
        ];
        let same_name: Vec<&api::Driver> = born_that_day
            .iter()
            .filter(|e| {
                let full = key(&format!("{} {}", e.given_name, e.family_name));
                // "Carlos Sainz" / "Carlos Sainz Jr.", "Andrea Kimi Antonelli" / "Kimi Antonelli".
                let (theirs, ours) = (key(&e.family_name), key(&d.last_name));
                names.contains(&full) || ours.contains(&theirs) || theirs.contains(&ours)
            })
            .collect();
        let driver = match same_name.as_slice() {
            [existing] => {
                self.counts.drivers_matched += 1;
                (*existing).clone()
            }
            _ => {
                self.counts.drivers_new += 1;
                api::Driver {
                    driver_ref: free_ref(tx, "drivers", "driver_ref", &d.id)?,
                    permanent_number: d.permanent_number.map(|n| n.to_string()),
                    code: d.abbreviation.clone(),
                    given_name: d.first_name.clone(),
                    family_name: d.last_name.clone(),
                    date_of_birth: d.date_of_birth.clone(),
                    nationality: source.demonym(&d.nationality_country_id),
                    url: None,
                }
            }
        };
        self.drivers.insert(d.id.clone(), driver);
        Ok(())
    }

    /// Constructors of races whose results both sources hold: the team a
    /// matched driver drove for there.
    fn constructors_from_shared_races(&mut self, tx: &Transaction, source: &Source) -> Result<()> {
        let mut stmt = tx.prepare(
            "SELECT c.constructor_ref, c.name, c.nationality, c.url
             FROM results x JOIN races r ON r.race_id = x.race_id
             JOIN drivers d ON d.driver_id = x.driver_id
             JOIN constructors c ON c.constructor_id = x.constructor_id
             WHERE r.year = ?1 AND r.round = ?2 AND d.driver_ref = ?3",
        )?;
        for race in &source.races {
            for row in &race.results {
                if self.constructors.contains_key(&row.constructor_id) {
                    continue;
                }
                let Some(driver) = self.drivers.get(&row.driver_id) else {
                    continue;
                };
                let existing = stmt
                    .query_row(
                        rusqlite::params![race.year, race.info.round, driver.driver_ref],
                        |r| {
                            Ok(api::Constructor {
                                constructor_ref: r.get(0)?,
                                name: r.get(1)?,
                                nationality: r.get(2)?,
                                url: r.get(3)?,
                            })
                        },
                    )
                    .optional()?;
                if let Some(existing) = existing {
                    self.counts.constructors_matched += 1;
                    self.constructors
                        .insert(row.constructor_id.clone(), existing);
                }
            }
        }
        Ok(())
    }

    fn constructor(
        &mut self,
        tx: &Transaction,
        source: &Source,
        c: &source::Constructor,
    ) -> Result<()> {
        let mut stmt =
            tx.prepare("SELECT constructor_ref, name, nationality, url FROM constructors")?;
        let named = stmt
            .query_map([], |r| {
                Ok(api::Constructor {
                    constructor_ref: r.get(0)?,
                    name: r.get(1)?,
                    nationality: r.get(2)?,
                    url: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?
            .into_iter()
            .filter(|e| key(&e.name) == key(&c.name))
            .collect::<Vec<_>>();
        let constructor = match named.as_slice() {
            [existing] => {
                self.counts.constructors_matched += 1;
                existing.clone()
            }
            _ => {
                self.counts.constructors_new += 1;
                api::Constructor {
                    constructor_ref: free_ref(tx, "constructors", "constructor_ref", &c.id)?,
                    name: c.name.clone(),
                    nationality: source.demonym(&c.country_id),
                    url: None,
                }
            }
        };
        self.constructors.insert(c.id.clone(), constructor);
        Ok(())
    }

    fn circuit(
        &mut self,
        tx: &Transaction,
        source: &Source,
        race: &source::Race,
        c: &source::Circuit,
    ) -> Result<()> {
        let columns = "c.circuit_ref, c.name, c.location, c.country, c.lat, c.lng, c.url";
        let to_api = |r: &rusqlite::Row| {
            Ok(api::Circuit {
                circuit_ref: r.get(0)?,
                name: r.get(1)?,
                url: r.get(6)?,
                location: api::Location {
                    locality: r.get(2)?,
                    country: r.get(3)?,
                    lat: r.get::<_, Option<f64>>(4)?.map(|v| v.to_string()),
                    long: r.get::<_, Option<f64>>(5)?.map(|v| v.to_string()),
                },
            })
        };
        let same_race = tx
            .query_row(
                &format!(
                    "SELECT {columns} FROM races r JOIN circuits c ON c.circuit_id = r.circuit_id
                     WHERE r.year = ?1 AND r.round = ?2 AND r.date = ?3"
                ),
                rusqlite::params![race.year, race.info.round, race.info.date],
                to_api,
            )
            .optional()?;
        // About 2 km either way.
        let nearby = || {
            tx.query_row(
                &format!(
                    "SELECT {columns} FROM circuits c
                     WHERE abs(c.lat - ?1) < 0.02 AND abs(c.lng - ?2) < 0.02
                     ORDER BY abs(c.lat - ?1) + abs(c.lng - ?2) LIMIT 1"
                ),
                rusqlite::params![c.latitude, c.longitude],
                to_api,
            )
            .optional()
        };
        let circuit = match same_race.map(Ok).or_else(|| nearby().transpose()) {
            Some(existing) => {
                self.counts.circuits_matched += 1;
                existing?
            }
            None => {
                self.counts.circuits_new += 1;
                api::Circuit {
                    circuit_ref: free_ref(tx, "circuits", "circuit_ref", &c.id)?,
                    name: c.full_name.clone(),
                    url: None,
                    location: api::Location {
                        locality: Some(c.place_name.clone()),
                        country: source.countries.get(&c.country_id).map(|k| k.name.clone()),
                        lat: Some(c.latitude.to_string()),
                        long: Some(c.longitude.to_string()),
                    },
                }
            }
        };
        self.circuits.insert(c.id.clone(), circuit);
        Ok(())
    }
}

/// `slug` in Ergast's spelling, or with `_f1db` appended when another row has it.
fn free_ref(tx: &Transaction, table: &str, column: &str, slug: &str) -> Result<String> {
    let spelled = slug.replace('-', "_");
    let taken: bool = tx.query_row(
        &format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE {column} = ?1)"),
        [&spelled],
        |r| r.get(0),
    )?;
    Ok(if taken {
        format!("{spelled}_f1db")
    } else {
        spelled
    })
}

/// A reference to an id no reference file defines.
fn unknown(dir: &std::path::Path, field: &str, id: &str, folder: &str) -> crate::Error {
    crate::Error::Source {
        path: dir.to_path_buf(),
        message: format!("field '{field}' names '{id}', which no file in {folder}/ defines"),
    }
}
