//! API responses into the knowledge base's schema, keeping existing ids stable.
//!
//! Entities (circuits, drivers, constructors, statuses, races) are matched by their
//! Ergast reference and updated in place; a race's classification, qualifying and
//! standings are replaced as a whole, reusing the ids of rows that were already there.

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension, Transaction};

use super::api;
use crate::error::{Error, Result};
use crate::gap::normalize_gap;

/// Row counts written by one upsert.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UpsertCounts {
    pub races: u64,
    pub results: u64,
    pub sprint_results: u64,
    pub qualifying: u64,
    pub driver_standings: u64,
    pub constructor_standings: u64,
    pub drivers: u64,
    pub constructors: u64,
    pub circuits: u64,
}

/// Hands out the existing id for a key, or the next free one.
struct IdAllocator<K> {
    ids: HashMap<K, i64>,
    next: i64,
}

impl<K: std::hash::Hash + Eq> IdAllocator<K> {
    fn id_for(&mut self, key: &K) -> i64 {
        self.ids.get(key).copied().unwrap_or_else(|| {
            self.next += 1;
            self.next - 1
        })
    }
}

/// Writes API objects through one open transaction.
pub struct Upserter<'a> {
    tx: &'a Transaction<'a>,
    /// Names the response in error messages.
    source_name: String,
    pub counts: UpsertCounts,
}

impl<'a> Upserter<'a> {
    pub fn new(tx: &'a Transaction<'a>, source_name: impl Into<String>) -> Self {
        Self {
            tx,
            source_name: source_name.into(),
            counts: UpsertCounts::default(),
        }
    }

    fn int(&self, value: &str, field: &str) -> Result<i64> {
        value.trim().parse().map_err(|_| self.bad(field, value))
    }

    fn real(&self, value: &str, field: &str) -> Result<f64> {
        value.trim().parse().map_err(|_| self.bad(field, value))
    }

    fn opt_int(&self, value: Option<&str>, field: &str) -> Result<Option<i64>> {
        value.map(|v| self.int(v, field)).transpose()
    }

    fn bad(&self, field: &str, value: &str) -> Error {
        Error::Response {
            source_name: self.source_name.clone(),
            message: format!("field '{field}' is not a number: '{value}'"),
        }
    }

    fn season(&self, year: i64) -> Result<()> {
        self.tx
            .execute("INSERT OR IGNORE INTO seasons (year) VALUES (?1)", [year])?;
        Ok(())
    }

    /// Inserts or updates a circuit by reference; returns its id.
    pub fn circuit(&mut self, c: &api::Circuit) -> Result<i64> {
        let lat = c
            .location
            .lat
            .as_deref()
            .map(|v| self.real(v, "lat"))
            .transpose()?;
        let lng = c
            .location
            .long
            .as_deref()
            .map(|v| self.real(v, "long"))
            .transpose()?;
        Ok(self.tx.query_row(
            "INSERT INTO circuits (circuit_id, circuit_ref, name, location, country, lat, lng, url)
             VALUES ((SELECT coalesce(max(circuit_id), 0) + 1 FROM circuits), ?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(circuit_ref) DO UPDATE SET name = excluded.name,
               location = coalesce(excluded.location, location), country = coalesce(excluded.country, country),
               lat = coalesce(excluded.lat, lat), lng = coalesce(excluded.lng, lng), url = coalesce(excluded.url, url)
             RETURNING circuit_id",
            params![c.circuit_ref, c.name, c.location.locality, c.location.country, lat, lng, c.url],
            |r| r.get(0),
        )?)
    }

    /// Inserts or updates a driver by reference; returns its id.
    pub fn driver(&mut self, d: &api::Driver) -> Result<i64> {
        let number = self.opt_int(d.permanent_number.as_deref(), "permanentNumber")?;
        Ok(self.tx.query_row(
            "INSERT INTO drivers (driver_id, driver_ref, number, code, forename, surname, dob, nationality, url)
             VALUES ((SELECT coalesce(max(driver_id), 0) + 1 FROM drivers), ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(driver_ref) DO UPDATE SET number = coalesce(excluded.number, number),
               code = coalesce(excluded.code, code), forename = excluded.forename, surname = excluded.surname,
               dob = coalesce(excluded.dob, dob), nationality = coalesce(excluded.nationality, nationality),
               url = coalesce(excluded.url, url)
             RETURNING driver_id",
            params![
                d.driver_ref, number, d.code, d.given_name, d.family_name,
                d.date_of_birth, d.nationality, d.url
            ],
            |r| r.get(0),
        )?)
    }

    /// Inserts or updates a constructor by reference; returns its id.
    pub fn constructor(&mut self, c: &api::Constructor) -> Result<i64> {
        Ok(self.tx.query_row(
            "INSERT INTO constructors (constructor_id, constructor_ref, name, nationality, url)
             VALUES ((SELECT coalesce(max(constructor_id), 0) + 1 FROM constructors), ?1, ?2, ?3, ?4)
             ON CONFLICT(constructor_ref) DO UPDATE SET name = excluded.name,
               nationality = coalesce(excluded.nationality, nationality), url = coalesce(excluded.url, url)
             RETURNING constructor_id",
            params![c.constructor_ref, c.name, c.nationality, c.url],
            |r| r.get(0),
        )?)
    }

    fn status(&self, status: &str) -> Result<i64> {
        Ok(self.tx.query_row(
            "INSERT INTO status (status_id, status)
             VALUES ((SELECT coalesce(max(status_id), 0) + 1 FROM status), ?1)
             ON CONFLICT(status) DO UPDATE SET status = status
             RETURNING status_id",
            [status],
            |r| r.get(0),
        )?)
    }

    /// The id of an existing race, for standings that arrive without race details.
    fn existing_race(&self, season: i64, round: i64) -> Result<i64> {
        self.tx
            .query_row(
                "SELECT race_id FROM races WHERE year = ?1 AND round = ?2",
                [season, round],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| Error::Response {
                source_name: self.source_name.clone(),
                message: format!("standings for {season} round {round}, a race not in the database (fetch races first)"),
            })
    }

    /// Inserts or updates a race and everything it carries (results, sprint, qualifying).
    pub fn race(&mut self, race: &api::Race) -> Result<i64> {
        let season = self.int(&race.season, "season")?;
        let round = self.int(&race.round, "round")?;
        self.season(season)?;
        let circuit_id = self.circuit(&race.circuit)?;
        let session = |s: &Option<api::Session>| {
            s.as_ref()
                .map(|s| (Some(s.date.clone()), s.time.as_deref().map(strip_zulu)))
                .unwrap_or((None, None))
        };
        let (fp1_date, fp1_time) = session(&race.first_practice);
        let (fp2_date, fp2_time) = session(&race.second_practice);
        let (fp3_date, fp3_time) = session(&race.third_practice);
        let (quali_date, quali_time) = session(&race.qualifying);
        let (sprint_date, sprint_time) = session(&race.sprint);
        let race_id: i64 = self.tx.query_row(
            "INSERT INTO races (race_id, year, round, circuit_id, name, date, time, url,
               fp1_date, fp1_time, fp2_date, fp2_time, fp3_date, fp3_time,
               quali_date, quali_time, sprint_date, sprint_time)
             VALUES ((SELECT coalesce(max(race_id), 0) + 1 FROM races),
               ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
             ON CONFLICT(year, round) DO UPDATE SET circuit_id = excluded.circuit_id,
               name = excluded.name, date = excluded.date, time = coalesce(excluded.time, time),
               url = coalesce(excluded.url, url),
               fp1_date = coalesce(excluded.fp1_date, fp1_date), fp1_time = coalesce(excluded.fp1_time, fp1_time),
               fp2_date = coalesce(excluded.fp2_date, fp2_date), fp2_time = coalesce(excluded.fp2_time, fp2_time),
               fp3_date = coalesce(excluded.fp3_date, fp3_date), fp3_time = coalesce(excluded.fp3_time, fp3_time),
               quali_date = coalesce(excluded.quali_date, quali_date), quali_time = coalesce(excluded.quali_time, quali_time),
               sprint_date = coalesce(excluded.sprint_date, sprint_date), sprint_time = coalesce(excluded.sprint_time, sprint_time)
             RETURNING race_id",
            params![
                season, round, circuit_id, race.race_name, race.date,
                race.time.as_deref().map(strip_zulu), race.url,
                fp1_date, fp1_time, fp2_date, fp2_time, fp3_date, fp3_time,
                quali_date, quali_time, sprint_date, sprint_time
            ],
            |r| r.get(0),
        )?;
        self.counts.races += 1;
        if !race.results.is_empty() {
            self.counts.results += self.classification("results", race_id, &race.results)?;
        }
        if !race.sprint_results.is_empty() {
            self.counts.sprint_results +=
                self.classification("sprint_results", race_id, &race.sprint_results)?;
        }
        if !race.qualifying_results.is_empty() {
            self.counts.qualifying += self.qualifying(race_id, &race.qualifying_results)?;
        }
        Ok(race_id)
    }

    /// Remembers the ids of a race's rows in `table` by key, then deletes the rows.
    fn take_ids<K: std::hash::Hash + Eq>(
        &self,
        sql: &str,
        id_column: &str,
        table: &str,
        race_id: i64,
        key: impl Fn(&rusqlite::Row) -> rusqlite::Result<K>,
    ) -> Result<IdAllocator<K>> {
        let mut stmt = self.tx.prepare(sql)?;
        let ids = stmt
            .query_map([race_id], |r| Ok((key(r)?, r.get(0)?)))?
            .collect::<rusqlite::Result<HashMap<K, i64>>>()?;
        let next: i64 = self.tx.query_row(
            &format!("SELECT coalesce(max({id_column}), 0) + 1 FROM {table}"),
            [],
            |r| r.get(0),
        )?;
        self.tx.execute(
            &format!("DELETE FROM {table} WHERE race_id = ?1"),
            [race_id],
        )?;
        Ok(IdAllocator { ids, next })
    }

    fn classification(
        &mut self,
        table: &str,
        race_id: i64,
        results: &[api::RaceResult],
    ) -> Result<u64> {
        let mut ids = self.take_ids(
            &format!("SELECT result_id, driver_id, number FROM {table} WHERE race_id = ?1"),
            "result_id",
            table,
            race_id,
            |r| Ok((r.get::<_, i64>(1)?, r.get::<_, Option<i64>>(2)?)),
        )?;
        let with_speed = table == "results";
        let speed_column = if with_speed {
            ", fastest_lap_speed"
        } else {
            ""
        };
        let speed_value = if with_speed { ", ?18" } else { "" };
        let sql = format!(
            "INSERT INTO {table} (result_id, race_id, driver_id, constructor_id, number, grid, position,
               position_text, position_order, points, laps, time, milliseconds, fastest_lap, rank,
               fastest_lap_time, status_id{speed_column})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17{speed_value})"
        );
        for r in results {
            let driver_id = self.driver(&r.driver)?;
            let constructor_id = self.constructor(&r.constructor)?;
            let status_id = self.status(&r.status)?;
            let number = self.opt_int(r.number.as_deref(), "number")?;
            let result_id = ids.id_for(&(driver_id, number));
            let classified = r.position_text.bytes().all(|b| b.is_ascii_digit());
            let position = classified
                .then(|| self.int(&r.position_text, "positionText"))
                .transpose()?;
            let time = r.time.as_ref();
            let lap = r.fastest_lap.as_ref();
            let lap_time = lap
                .and_then(|l| l.time.as_ref())
                .and_then(|t| t.time.clone());
            let speed = lap
                .and_then(|l| l.average_speed.as_ref())
                .map(|s| self.real(&s.speed, "AverageSpeed.speed"))
                .transpose()?;
            let mut values: Vec<rusqlite::types::Value> = vec![
                result_id.into(),
                race_id.into(),
                driver_id.into(),
                constructor_id.into(),
                number.into(),
                self.int(&r.grid, "grid")?.into(),
                position.into(),
                r.position_text.clone().into(),
                self.int(&r.position, "position")?.into(),
                self.real(&r.points, "points")?.into(),
                self.int(&r.laps, "laps")?.into(),
                time.and_then(|t| t.time.as_deref())
                    .map(|t| normalize_gap(t).into_owned())
                    .into(),
                self.opt_int(time.and_then(|t| t.millis.as_deref()), "Time.millis")?
                    .into(),
                self.opt_int(lap.and_then(|l| l.lap.as_deref()), "FastestLap.lap")?
                    .into(),
                self.opt_int(lap.and_then(|l| l.rank.as_deref()), "FastestLap.rank")?
                    .into(),
                lap_time.into(),
                status_id.into(),
            ];
            if with_speed {
                values.push(speed.into());
            }
            self.tx.execute(&sql, rusqlite::params_from_iter(values))?;
        }
        Ok(results.len() as u64)
    }

    fn qualifying(&mut self, race_id: i64, rows: &[api::QualifyingResult]) -> Result<u64> {
        let mut ids = self.take_ids(
            "SELECT qualify_id, driver_id FROM qualifying WHERE race_id = ?1",
            "qualify_id",
            "qualifying",
            race_id,
            |r| r.get::<_, i64>(1),
        )?;
        for q in rows {
            let driver_id = self.driver(&q.driver)?;
            let constructor_id = self.constructor(&q.constructor)?;
            let id = ids.id_for(&driver_id);
            self.tx.execute(
                "INSERT INTO qualifying (qualify_id, race_id, driver_id, constructor_id, number, position, q1, q2, q3)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    id, race_id, driver_id, constructor_id, self.int(&q.number, "number")?,
                    self.opt_int(q.position.as_deref(), "position")?, q.q1, q.q2, q.q3
                ],
            )?;
        }
        Ok(rows.len() as u64)
    }

    /// Replaces the drivers' and constructors' standings after one round.
    pub fn standings(&mut self, list: &api::StandingsList) -> Result<()> {
        let race_id = self.existing_race(
            self.int(&list.season, "season")?,
            self.int(&list.round, "round")?,
        )?;
        if !list.driver_standings.is_empty() {
            let mut ids = self.take_ids(
                "SELECT driver_standings_id, driver_id FROM driver_standings WHERE race_id = ?1",
                "driver_standings_id",
                "driver_standings",
                race_id,
                |r| r.get::<_, i64>(1),
            )?;
            for s in &list.driver_standings {
                let driver_id = self.driver(&s.driver)?;
                let id = ids.id_for(&driver_id);
                self.tx.execute(
                    "INSERT INTO driver_standings (driver_standings_id, race_id, driver_id, points, position, position_text, wins)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        id, race_id, driver_id, self.real(&s.points, "points")?,
                        self.opt_int(s.position.as_deref(), "position")?, s.position_text,
                        self.int(&s.wins, "wins")?
                    ],
                )?;
                self.counts.driver_standings += 1;
            }
        }
        if !list.constructor_standings.is_empty() {
            let mut ids = self.take_ids(
                "SELECT constructor_standings_id, constructor_id FROM constructor_standings WHERE race_id = ?1",
                "constructor_standings_id",
                "constructor_standings",
                race_id,
                |r| r.get::<_, i64>(1),
            )?;
            for s in &list.constructor_standings {
                let constructor_id = self.constructor(&s.constructor)?;
                let id = ids.id_for(&constructor_id);
                self.tx.execute(
                    "INSERT INTO constructor_standings (constructor_standings_id, race_id, constructor_id, points, position, position_text, wins)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        id, race_id, constructor_id, self.real(&s.points, "points")?,
                        self.opt_int(s.position.as_deref(), "position")?, s.position_text,
                        self.int(&s.wins, "wins")?
                    ],
                )?;
                self.counts.constructor_standings += 1;
            }
        }
        Ok(())
    }
}

/// The API writes UTC times as `13:10:00Z`; the tables store `13:10:00`.
fn strip_zulu(time: &str) -> String {
    time.trim_end_matches('Z').to_string()
}
