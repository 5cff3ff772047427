//! Typed questions to the knowledge base. Every SQL string of the project lives here.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::error::Result;
use crate::store;

/// A race weekend and where it was held.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Race {
    pub race_id: i64,
    pub season: i64,
    pub round: i64,
    pub name: String,
    pub date: String,
    pub circuit_id: i64,
    pub circuit_name: String,
    pub location: Option<String>,
    pub country: Option<String>,
}

impl Race {
    /// "2021 Abu Dhabi Grand Prix".
    pub fn label(&self) -> String {
        format!("{} {}", self.season, self.name)
    }
}

/// A driver's profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Driver {
    pub driver_id: i64,
    pub driver_ref: String,
    pub forename: String,
    pub surname: String,
    pub code: Option<String>,
    pub number: Option<i64>,
    pub dob: Option<String>,
    pub nationality: Option<String>,
}

impl Driver {
    /// "Forename Surname".
    pub fn full_name(&self) -> String {
        format!("{} {}", self.forename, self.surname)
    }
}

/// A constructor's (team's) profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Constructor {
    pub constructor_id: i64,
    pub constructor_ref: String,
    pub name: String,
    pub nationality: Option<String>,
}

/// A circuit and where it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Circuit {
    pub circuit_id: i64,
    pub circuit_ref: String,
    pub name: String,
    pub location: Option<String>,
    pub country: Option<String>,
}

/// One car's result in a race or sprint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RaceResult {
    /// The row's key in `results` or `sprint_results`.
    pub result_id: i64,
    pub driver_id: i64,
    pub driver_name: String,
    pub constructor_id: i64,
    pub constructor_name: String,
    pub number: Option<i64>,
    pub grid: i64,
    /// Classified finishing position; None when not classified.
    pub position: Option<i64>,
    /// Ergast's position text: the position, or `R` retired, `D` disqualified,
    /// `E` excluded, `W` withdrawn, `F` failed to qualify, `N` not classified.
    pub position_text: String,
    pub position_order: i64,
    pub points: f64,
    pub laps: i64,
    pub time: Option<String>,
    pub status: String,
}

/// One driver's qualifying session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualifyingResult {
    pub driver_id: i64,
    pub driver_name: String,
    pub constructor_name: String,
    pub position: Option<i64>,
    pub q1: Option<String>,
    pub q2: Option<String>,
    pub q3: Option<String>,
}

/// The fastest lap of a race (rank 1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FastestLap {
    pub result_id: i64,
    pub driver_id: i64,
    pub driver_name: String,
    pub constructor_name: String,
    pub lap: Option<i64>,
    pub time: String,
    pub speed_kph: Option<f64>,
}

/// A line of the drivers' or constructors' championship table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Standing {
    /// The row's key in `driver_standings` or `constructor_standings`.
    pub row_id: i64,
    pub position: Option<i64>,
    /// driver_id or constructor_id.
    pub id: i64,
    pub name: String,
    pub points: f64,
    pub wins: i64,
}

/// Career totals of a driver or constructor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CareerTotals {
    /// Races with a result row (entries, including non-qualifications).
    pub entries: i64,
    /// Races actually started (excludes non-qualifications, withdrawals, exclusions).
    pub starts: i64,
    pub wins: i64,
    pub podiums: i64,
    /// Races started from grid position 1.
    pub poles: i64,
    pub titles: i64,
}

/// A driver's teammate in a season.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Teammate {
    pub driver: Driver,
    pub constructor_name: String,
}

/// One pit stop.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PitStop {
    pub driver_id: i64,
    pub driver_name: String,
    pub stop: i64,
    pub lap: i64,
    pub duration: Option<String>,
    pub milliseconds: Option<i64>,
}

/// Races entered, by driver id and by constructor id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryCounts {
    pub drivers: HashMap<i64, i64>,
    pub constructors: HashMap<i64, i64>,
}

/// The champions of one complete season.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeasonChampions {
    pub season: i64,
    pub driver_name: String,
    pub driver_id: Option<i64>,
    /// None before the constructors' championship began (1958).
    pub constructor_name: Option<String>,
}

/// An entry that started the race: not failed to (pre)qualify (`F`), not withdrawn
/// (`W`), and not excluded or disqualified from qualifying (grid 0, no laps).
const STARTED: &str = "x.position_text NOT IN ('F', 'W')
     AND NOT (x.laps = 0 AND x.grid = 0 AND x.position_text IN ('E', 'D'))";

const RACE_COLUMNS: &str =
    "r.race_id, r.year, r.round, r.name, r.date, c.circuit_id, c.name, c.location, c.country
     FROM races r JOIN circuits c ON c.circuit_id = r.circuit_id";

const DRIVER_FIELDS: &str =
    "d.driver_id, d.driver_ref, d.forename, d.surname, d.code, d.number, d.dob, d.nationality";

fn race_from(row: &Row) -> rusqlite::Result<Race> {
    Ok(Race {
        race_id: row.get(0)?,
        season: row.get(1)?,
        round: row.get(2)?,
        name: row.get(3)?,
        date: row.get(4)?,
        circuit_id: row.get(5)?,
        circuit_name: row.get(6)?,
        location: row.get(7)?,
        country: row.get(8)?,
    })
}

fn driver_from(row: &Row) -> rusqlite::Result<Driver> {
    Ok(Driver {
        driver_id: row.get(0)?,
        driver_ref: row.get(1)?,
        forename: row.get(2)?,
        surname: row.get(3)?,
        code: row.get(4)?,
        number: row.get(5)?,
        dob: row.get(6)?,
        nationality: row.get(7)?,
    })
}

fn constructor_from(row: &Row) -> rusqlite::Result<Constructor> {
    Ok(Constructor {
        constructor_id: row.get(0)?,
        constructor_ref: row.get(1)?,
        name: row.get(2)?,
        nationality: row.get(3)?,
    })
}

fn circuit_from(row: &Row) -> rusqlite::Result<Circuit> {
    Ok(Circuit {
        circuit_id: row.get(0)?,
        circuit_ref: row.get(1)?,
        name: row.get(2)?,
        location: row.get(3)?,
        country: row.get(4)?,
    })
}

fn result_from(row: &Row) -> rusqlite::Result<RaceResult> {
    Ok(RaceResult {
        result_id: row.get(0)?,
        driver_id: row.get(1)?,
        driver_name: row.get(2)?,
        constructor_id: row.get(3)?,
        constructor_name: row.get(4)?,
        number: row.get(5)?,
        grid: row.get(6)?,
        position: row.get(7)?,
        position_text: row.get(8)?,
        position_order: row.get(9)?,
        points: row.get(10)?,
        laps: row.get(11)?,
        time: row.get(12)?,
        status: row.get(13)?,
    })
}

fn standing_from(row: &Row) -> rusqlite::Result<Standing> {
    Ok(Standing {
        row_id: row.get(0)?,
        position: row.get(1)?,
        id: row.get(2)?,
        name: row.get(3)?,
        points: row.get(4)?,
        wins: row.get(5)?,
    })
}

/// Read-only access to the F1 knowledge base.
pub struct KnowledgeBase {
    conn: Connection,
}

impl KnowledgeBase {
    /// Opens `data/processed/f1.sqlite` (or any database this crate built).
    pub fn open(db_path: &Path) -> Result<Self> {
        Ok(Self {
            conn: store::open_read_only(db_path)?,
        })
    }

    /// Wraps an open connection.
    pub fn from_connection(conn: Connection) -> Self {
        Self { conn }
    }

    /// Where the data came from: `ergast:<dir>` or `fallback`.
    pub fn source(&self) -> Result<Option<String>> {
        store::meta(&self.conn, "source")
    }

    fn all<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl FnMut(&Row) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params, map)?;
        Ok(rows.collect::<rusqlite::Result<Vec<T>>>()?)
    }

    fn one<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl FnOnce(&Row) -> rusqlite::Result<T>,
    ) -> Result<Option<T>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        Ok(stmt.query_row(params, map).optional()?)
    }

    /// The race of `season` and `round`.
    pub fn race(&self, season: i64, round: i64) -> Result<Option<Race>> {
        self.one(
            &format!("SELECT {RACE_COLUMNS} WHERE r.year = ?1 AND r.round = ?2"),
            [season, round],
            race_from,
        )
    }

    /// Races whose name, circuit, locality or country contains `name` (any case),
    /// optionally within one season, in date order.
    pub fn find_races(&self, name: &str, season: Option<i64>) -> Result<Vec<Race>> {
        self.all(
            &format!(
                "SELECT {RACE_COLUMNS}
                 WHERE (?2 IS NULL OR r.year = ?2)
                   AND (r.name LIKE '%' || ?1 || '%' OR c.name LIKE '%' || ?1 || '%'
                        OR c.location LIKE '%' || ?1 || '%' OR c.country LIKE '%' || ?1 || '%')
                 ORDER BY r.date"
            ),
            rusqlite::params![name, season],
            race_from,
        )
    }

    /// Every race of a season, in round order.
    pub fn season_races(&self, season: i64) -> Result<Vec<Race>> {
        self.all(
            &format!("SELECT {RACE_COLUMNS} WHERE r.year = ?1 ORDER BY r.round"),
            [season],
            race_from,
        )
    }

    /// The first and last season in the database.
    pub fn season_range(&self) -> Result<Option<(i64, i64)>> {
        self.one(
            "SELECT min(year), max(year) FROM races HAVING count(*) > 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// The most recent race that has results.
    pub fn latest_race_with_results(&self) -> Result<Option<Race>> {
        self.one(
            &format!(
                "SELECT {RACE_COLUMNS} WHERE EXISTS (SELECT 1 FROM results x WHERE x.race_id = r.race_id)
                 ORDER BY r.year DESC, r.round DESC LIMIT 1"
            ),
            [],
            race_from,
        )
    }

    fn results_in(&self, table: &str, race_id: i64) -> Result<Vec<RaceResult>> {
        self.all(
            &format!(
                "SELECT x.result_id, x.driver_id, d.forename || ' ' || d.surname, x.constructor_id, k.name, x.number,
                        x.grid, x.position, x.position_text, x.position_order, x.points, x.laps, x.time, s.status
                 FROM {table} x
                 JOIN drivers d ON d.driver_id = x.driver_id
                 JOIN constructors k ON k.constructor_id = x.constructor_id
                 JOIN status s ON s.status_id = x.status_id
                 WHERE x.race_id = ?1 ORDER BY x.position_order, x.result_id"
            ),
            [race_id],
            result_from,
        )
    }

    /// A race's full classification, in finishing order.
    pub fn results(&self, race_id: i64) -> Result<Vec<RaceResult>> {
        self.results_in("results", race_id)
    }

    /// A sprint's classification, in finishing order (empty for non-sprint weekends).
    pub fn sprint_results(&self, race_id: i64) -> Result<Vec<RaceResult>> {
        self.results_in("sprint_results", race_id)
    }

    /// The classified finishers in positions 1 to 3.
    pub fn podium(&self, race_id: i64) -> Result<Vec<RaceResult>> {
        Ok(self
            .results(race_id)?
            .into_iter()
            .filter(|r| matches!(r.position, Some(1..=3)))
            .collect())
    }

    /// The race winner (the first of them for a shared winning car).
    pub fn winner(&self, race_id: i64) -> Result<Option<RaceResult>> {
        Ok(self
            .results(race_id)?
            .into_iter()
            .find(|r| r.position == Some(1)))
    }

    /// The driver who started from grid position 1.
    pub fn pole_sitter(&self, race_id: i64) -> Result<Option<RaceResult>> {
        Ok(self.results(race_id)?.into_iter().find(|r| r.grid == 1))
    }

    /// The qualifying session's classification (recorded from 1994 on).
    pub fn qualifying(&self, race_id: i64) -> Result<Vec<QualifyingResult>> {
        self.all(
            "SELECT q.driver_id, d.forename || ' ' || d.surname, k.name, q.position, q.q1, q.q2, q.q3
             FROM qualifying q
             JOIN drivers d ON d.driver_id = q.driver_id
             JOIN constructors k ON k.constructor_id = q.constructor_id
             WHERE q.race_id = ?1 ORDER BY q.position IS NULL, q.position",
            [race_id],
            |r| {
                Ok(QualifyingResult {
                    driver_id: r.get(0)?,
                    driver_name: r.get(1)?,
                    constructor_name: r.get(2)?,
                    position: r.get(3)?,
                    q1: r.get(4)?,
                    q2: r.get(5)?,
                    q3: r.get(6)?,
                })
            },
        )
    }

    /// The race's fastest lap (rank 1), where lap times were recorded.
    pub fn fastest_lap(&self, race_id: i64) -> Result<Option<FastestLap>> {
        self.one(
            "SELECT x.result_id, x.driver_id, d.forename || ' ' || d.surname, k.name, x.fastest_lap,
                    x.fastest_lap_time, x.fastest_lap_speed
             FROM results x
             JOIN drivers d ON d.driver_id = x.driver_id
             JOIN constructors k ON k.constructor_id = x.constructor_id
             WHERE x.race_id = ?1 AND x.rank = 1 AND x.fastest_lap_time IS NOT NULL",
            [race_id],
            |r| {
                Ok(FastestLap {
                    result_id: r.get(0)?,
                    driver_id: r.get(1)?,
                    driver_name: r.get(2)?,
                    constructor_name: r.get(3)?,
                    lap: r.get(4)?,
                    time: r.get(5)?,
                    speed_kph: r.get(6)?,
                })
            },
        )
    }

    /// A driver by Ergast reference, e.g. `max_verstappen`.
    pub fn driver(&self, driver_ref: &str) -> Result<Option<Driver>> {
        self.one(
            &format!("SELECT {DRIVER_FIELDS} FROM drivers d WHERE d.driver_ref = ?1"),
            [driver_ref],
            driver_from,
        )
    }

    /// A driver by id.
    pub fn driver_by_id(&self, driver_id: i64) -> Result<Option<Driver>> {
        self.one(
            &format!("SELECT {DRIVER_FIELDS} FROM drivers d WHERE d.driver_id = ?1"),
            [driver_id],
            driver_from,
        )
    }

    /// Drivers whose full name, surname or three-letter code equals `name` (any case).
    pub fn find_drivers(&self, name: &str) -> Result<Vec<Driver>> {
        self.all(
            &format!(
                "SELECT {DRIVER_FIELDS} FROM drivers d
                 WHERE lower(d.forename || ' ' || d.surname) = lower(?1)
                    OR lower(d.surname) = lower(?1) OR lower(d.code) = lower(?1)
                 ORDER BY d.driver_id"
            ),
            [name],
            driver_from,
        )
    }

    /// A constructor by Ergast reference (`red_bull`) or exact name (`Red Bull`).
    pub fn constructor(&self, name_or_ref: &str) -> Result<Option<Constructor>> {
        self.one(
            "SELECT constructor_id, constructor_ref, name, nationality FROM constructors
             WHERE constructor_ref = ?1 OR lower(name) = lower(?1) ORDER BY constructor_ref = ?1 DESC LIMIT 1",
            [name_or_ref],
            constructor_from,
        )
    }

    /// A circuit by Ergast reference (`monza`) or exact name.
    pub fn circuit(&self, name_or_ref: &str) -> Result<Option<Circuit>> {
        self.one(
            "SELECT circuit_id, circuit_ref, name, location, country FROM circuits
             WHERE circuit_ref = ?1 OR lower(name) = lower(?1) ORDER BY circuit_ref = ?1 DESC LIMIT 1",
            [name_or_ref],
            circuit_from,
        )
    }

    /// Every race held at a circuit, oldest first.
    pub fn races_at_circuit(&self, circuit_id: i64) -> Result<Vec<Race>> {
        self.all(
            &format!("SELECT {RACE_COLUMNS} WHERE r.circuit_id = ?1 ORDER BY r.date"),
            [circuit_id],
            race_from,
        )
    }

    /// The race id whose standings describe `season` after `round`, or after the
    /// latest round with standings when `round` is None.
    fn standings_race(&self, table: &str, season: i64, round: Option<i64>) -> Result<Option<i64>> {
        self.one(
            &format!(
                "SELECT r.race_id FROM races r
                 WHERE r.year = ?1 AND (?2 IS NULL OR r.round <= ?2)
                   AND EXISTS (SELECT 1 FROM {table} s WHERE s.race_id = r.race_id)
                 ORDER BY r.round DESC LIMIT 1"
            ),
            rusqlite::params![season, round],
            |r| r.get(0),
        )
    }

    /// The drivers' championship after `round` of `season` (None: the latest round).
    pub fn driver_standings(&self, season: i64, round: Option<i64>) -> Result<Vec<Standing>> {
        let Some(race_id) = self.standings_race("driver_standings", season, round)? else {
            return Ok(Vec::new());
        };
        self.all(
            "SELECT s.driver_standings_id, s.position, s.driver_id, d.forename || ' ' || d.surname, s.points, s.wins
             FROM driver_standings s JOIN drivers d ON d.driver_id = s.driver_id
             WHERE s.race_id = ?1 ORDER BY s.position IS NULL, s.position",
            [race_id],
            standing_from,
        )
    }

    /// The constructors' championship after `round` of `season` (None: the latest round).
    pub fn constructor_standings(&self, season: i64, round: Option<i64>) -> Result<Vec<Standing>> {
        let Some(race_id) = self.standings_race("constructor_standings", season, round)? else {
            return Ok(Vec::new());
        };
        self.all(
            "SELECT s.constructor_standings_id, s.position, s.constructor_id, k.name, s.points, s.wins
             FROM constructor_standings s JOIN constructors k ON k.constructor_id = s.constructor_id
             WHERE s.race_id = ?1 ORDER BY s.position IS NULL, s.position",
            [race_id],
            standing_from,
        )
    }

    /// The champions of a complete season; None for an unfinished or unknown season.
    pub fn season_champions(&self, season: i64) -> Result<Option<SeasonChampions>> {
        self.one(
            "SELECT year, driver_name, driver_id, constructor_name FROM season_champions WHERE year = ?1",
            [season],
            |r| {
                Ok(SeasonChampions {
                    season: r.get(0)?,
                    driver_name: r.get(1)?,
                    driver_id: r.get(2)?,
                    constructor_name: r.get(3)?,
                })
            },
        )
    }

    /// The champions of every complete season, oldest first.
    pub fn all_champions(&self) -> Result<Vec<SeasonChampions>> {
        self.all(
            "SELECT year, driver_name, driver_id, constructor_name FROM season_champions ORDER BY year",
            [],
            |r| {
                Ok(SeasonChampions {
                    season: r.get(0)?,
                    driver_name: r.get(1)?,
                    driver_id: r.get(2)?,
                    constructor_name: r.get(3)?,
                })
            },
        )
    }

    /// A driver's career totals over every race in the database.
    pub fn driver_career(&self, driver_id: i64) -> Result<CareerTotals> {
        let sql = format!(
            "SELECT count(DISTINCT x.race_id),
                    count(DISTINCT CASE WHEN {STARTED} THEN x.race_id END),
                    count(DISTINCT CASE WHEN x.position = 1 THEN x.race_id END),
                    count(DISTINCT CASE WHEN x.position <= 3 THEN x.race_id END),
                    count(DISTINCT CASE WHEN x.grid = 1 THEN x.race_id END),
                    (SELECT count(*) FROM season_champions c WHERE c.driver_id = ?1)
             FROM results x WHERE x.driver_id = ?1"
        );
        let totals = self.one(&sql, [driver_id], career_from)?;
        Ok(totals.expect("an aggregate query returns one row"))
    }

    /// A constructor's totals: races entered and started, wins, podiums, poles, titles.
    pub fn constructor_career(&self, constructor_id: i64) -> Result<CareerTotals> {
        let sql = format!(
            "SELECT count(DISTINCT x.race_id),
                    count(DISTINCT CASE WHEN {STARTED} THEN x.race_id END),
                    count(DISTINCT CASE WHEN x.position = 1 THEN x.race_id END),
                    count(CASE WHEN x.position <= 3 THEN 1 END),
                    count(DISTINCT CASE WHEN x.grid = 1 THEN x.race_id END),
                    (SELECT count(*) FROM season_champions c WHERE c.constructor_id = ?1)
             FROM results x WHERE x.constructor_id = ?1"
        );
        let totals = self.one(&sql, [constructor_id], career_from)?;
        Ok(totals.expect("an aggregate query returns one row"))
    }

    /// The drivers who raced for the same constructor as `driver_id` in `season`.
    pub fn teammates(&self, driver_id: i64, season: i64) -> Result<Vec<Teammate>> {
        self.all(
            &format!(
                "SELECT DISTINCT {DRIVER_FIELDS}, k.name
                 FROM results mine
                 JOIN races r ON r.race_id = mine.race_id AND r.year = ?2
                 JOIN results theirs ON theirs.race_id = mine.race_id
                   AND theirs.constructor_id = mine.constructor_id AND theirs.driver_id != mine.driver_id
                 JOIN drivers d ON d.driver_id = theirs.driver_id
                 JOIN constructors k ON k.constructor_id = mine.constructor_id
                 WHERE mine.driver_id = ?1
                 ORDER BY d.driver_id, k.name"
            ),
            [driver_id, season],
            |r| {
                Ok(Teammate {
                    driver: driver_from(r)?,
                    constructor_name: r.get(8)?,
                })
            },
        )
    }

    /// The constructors a driver raced for in a season, most races first.
    pub fn driver_teams(&self, driver_id: i64, season: i64) -> Result<Vec<String>> {
        self.all(
            "SELECT k.name FROM results x
             JOIN races r ON r.race_id = x.race_id AND r.year = ?2
             JOIN constructors k ON k.constructor_id = x.constructor_id
             WHERE x.driver_id = ?1 GROUP BY k.constructor_id ORDER BY count(*) DESC, min(r.round)",
            [driver_id, season],
            |r| r.get(0),
        )
    }

    /// A race's pit stops in the order they happened.
    pub fn pit_stops(&self, race_id: i64) -> Result<Vec<PitStop>> {
        self.all(
            "SELECT p.driver_id, d.forename || ' ' || d.surname, p.stop, p.lap, p.duration, p.milliseconds
             FROM pit_stops p JOIN drivers d ON d.driver_id = p.driver_id
             WHERE p.race_id = ?1 ORDER BY p.lap, p.time",
            [race_id],
            |r| {
                Ok(PitStop {
                    driver_id: r.get(0)?,
                    driver_name: r.get(1)?,
                    stop: r.get(2)?,
                    lap: r.get(3)?,
                    duration: r.get(4)?,
                    milliseconds: r.get(5)?,
                })
            },
        )
    }

    /// Every race that has results, oldest first.
    pub fn races_with_results(&self) -> Result<Vec<Race>> {
        self.all(
            &format!(
                "SELECT {RACE_COLUMNS} WHERE EXISTS (SELECT 1 FROM results x WHERE x.race_id = r.race_id)
                 ORDER BY r.year, r.round"
            ),
            [],
            race_from,
        )
    }

    /// Every driver with at least `min_starts` race starts, by id.
    pub fn drivers_with_starts(&self, min_starts: i64) -> Result<Vec<Driver>> {
        self.all(
            &format!(
                "SELECT {DRIVER_FIELDS} FROM drivers d
                 WHERE (SELECT count(DISTINCT x.race_id) FROM results x
                        WHERE x.driver_id = d.driver_id AND {STARTED}) >= ?1
                 ORDER BY d.driver_id"
            ),
            [min_starts],
            driver_from,
        )
    }

    /// Every constructor with at least `min_races` races entered, by id.
    pub fn constructors_with_races(&self, min_races: i64) -> Result<Vec<Constructor>> {
        self.all(
            "SELECT k.constructor_id, k.constructor_ref, k.name, k.nationality FROM constructors k
             WHERE (SELECT count(DISTINCT x.race_id) FROM results x WHERE x.constructor_id = k.constructor_id) >= ?1
             ORDER BY k.constructor_id",
            [min_races],
            constructor_from,
        )
    }

    /// Every circuit that has held a race, by id.
    pub fn circuits_with_races(&self) -> Result<Vec<Circuit>> {
        self.all(
            "SELECT c.circuit_id, c.circuit_ref, c.name, c.location, c.country FROM circuits c
             WHERE EXISTS (SELECT 1 FROM races r WHERE r.circuit_id = c.circuit_id)
             ORDER BY c.circuit_id",
            [],
            circuit_from,
        )
    }

    /// The seasons a driver started at least one race in.
    pub fn driver_seasons(&self, driver_id: i64) -> Result<Vec<i64>> {
        self.all(
            &format!(
                "SELECT DISTINCT r.year FROM results x JOIN races r ON r.race_id = x.race_id
                 WHERE x.driver_id = ?1 AND {STARTED} ORDER BY r.year"
            ),
            [driver_id],
            |r| r.get(0),
        )
    }

    /// The seasons a constructor entered at least one race in.
    pub fn constructor_seasons(&self, constructor_id: i64) -> Result<Vec<i64>> {
        self.all(
            "SELECT DISTINCT r.year FROM results x JOIN races r ON r.race_id = x.race_id
             WHERE x.constructor_id = ?1 ORDER BY r.year",
            [constructor_id],
            |r| r.get(0),
        )
    }

    /// Races entered by each driver and by each constructor, the weight that
    /// tells the Hamilton most people mean from another.
    pub fn entry_counts(&self) -> Result<EntryCounts> {
        let count = |column: &str| -> Result<HashMap<i64, i64>> {
            Ok(self
                .all(
                    &format!(
                        "SELECT {column}, count(DISTINCT race_id) FROM results GROUP BY {column}"
                    ),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?
                .into_iter()
                .collect())
        };
        Ok(EntryCounts {
            drivers: count("driver_id")?,
            constructors: count("constructor_id")?,
        })
    }

    /// Every race of every season, results or not, in date order.
    pub fn all_races(&self) -> Result<Vec<Race>> {
        self.all(
            &format!("SELECT {RACE_COLUMNS} ORDER BY r.year, r.round"),
            [],
            race_from,
        )
    }

    /// Row counts of every table, for `f1ai data stats`.
    pub fn table_counts(&self) -> Result<Vec<(String, i64)>> {
        let tables: Vec<String> = self.all(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
            [],
            |r| r.get(0),
        )?;
        tables
            .into_iter()
            .map(|t| {
                let n = self
                    .conn
                    .query_row(&format!("SELECT count(*) FROM \"{t}\""), [], |r| r.get(0))?;
                Ok((t, n))
            })
            .collect()
    }
}

fn career_from(row: &Row) -> rusqlite::Result<CareerTotals> {
    Ok(CareerTotals {
        entries: row.get(0)?,
        starts: row.get(1)?,
        wins: row.get(2)?,
        podiums: row.get(3)?,
        poles: row.get(4)?,
        titles: row.get(5)?,
    })
}
