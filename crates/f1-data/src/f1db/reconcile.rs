//! Where F1DB and the knowledge base (Ergast) both hold a race: every driver's
//! classification and the standings after it, field by field.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Transaction};
use serde::Serialize;

use super::convert;
use super::identity::Identities;
use super::source::{self, Source};
use crate::error::Result;

/// One value the two sources give differently.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disagreement {
    /// "2025 round 2".
    pub race: String,
    /// The driver (or constructor, for constructors' standings) concerned.
    pub entry: String,
    /// `results.points`, `driver_standings.position`, ...
    pub field: String,
    pub ergast: String,
    pub f1db: String,
    /// Why the difference is a convention of one source rather than a conflict;
    /// None for a real disagreement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<&'static str>,
}

impl std::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, {}: {} is {} in the knowledge base (Ergast), {} in F1DB",
            self.race, self.entry, self.field, self.ergast, self.f1db
        )?;
        if let Some(explanation) = self.explanation {
            write!(f, " ({explanation})")?;
        }
        Ok(())
    }
}

/// The same outcome with the cause worded or attributed differently
/// ("Underweight" / "Car underweight", "Engine" / "Fuel system").
pub const STATUS_WORDING: &str =
    "the same outcome; the sources word or attribute its cause differently";
/// Ergast gives a car disqualified after the race 0 laps; F1DB the laps it ran.
pub const DISQUALIFIED_LAPS: &str = "a car disqualified after the race: Ergast records 0 laps";
/// A car that never took the start (crashed on the way to the grid): Ergast
/// writes it retired with 0 laps, F1DB did not start.
pub const NEVER_STARTED: &str = "no lap run: Ergast says retired, F1DB did not start";
/// F1DB lists a car that did not start; Ergast leaves it out.
pub const NON_STARTER_LISTED: &str = "a non-starter F1DB lists and Ergast leaves out";
/// Entries level on points that the two order differently.
pub const TIE_ORDER: &str = "level on points, ordered differently";

/// What the comparison covered and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reconciliation {
    /// Races whose classification both sources hold.
    pub races_compared: u64,
    /// Driver rows compared (race and sprint classifications).
    pub rows_compared: u64,
    /// Standings entries compared (drivers and constructors).
    pub standings_compared: u64,
    /// Values that differ with no explanation: the import refuses them unless
    /// told which source wins.
    pub disagreements: Vec<Disagreement>,
    /// Differences each source's conventions explain (see `explanation`).
    pub explained: Vec<Disagreement>,
}

impl Reconciliation {
    fn record(&mut self, difference: Disagreement) {
        if difference.explanation.is_some() {
            self.explained.push(difference);
        } else {
            self.disagreements.push(difference);
        }
    }
}

/// An Ergast row of a race's classification.
struct Row {
    position_text: String,
    points: f64,
    laps: i64,
    constructor: String,
    status: String,
}

/// What a status says happened, whatever its wording.
fn outcome(position_text: &str, status: &str) -> &'static str {
    match position_text {
        "D" => "disqualified",
        "W" => "did not start",
        _ if status == "Finished" || status.starts_with('+') => "finished",
        _ => "retired",
    }
}

/// Compares every race of `source` whose classification the database holds.
pub fn compare(tx: &Transaction, source: &Source, ids: &Identities) -> Result<Reconciliation> {
    let mut report = Reconciliation::default();
    for race in &source.races {
        let label = format!("{} round {}", race.year, race.info.round);
        let date: Option<String> = tx
            .query_row(
                "SELECT date FROM races WHERE year = ?1 AND round = ?2",
                [race.year, race.info.round],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(date) = date.filter(|d| *d != race.info.date) {
            report.record(Disagreement {
                race: label.clone(),
                entry: "the race".into(),
                field: "races.date".into(),
                ergast: date,
                f1db: race.info.date.clone(),
                explanation: None,
            });
        }
        for (table, rows) in [
            ("results", &race.results),
            ("sprint_results", &race.sprint_results),
        ] {
            let existing = classification(tx, table, race)?;
            if existing.is_empty() || rows.is_empty() {
                continue;
            }
            if table == "results" {
                report.races_compared += 1;
            }
            classifications(&mut report, &label, table, rows, &existing, race, ids)?;
        }
        standings(tx, &mut report, &label, race, ids)?;
    }
    Ok(report)
}

fn classification(
    tx: &Transaction,
    table: &str,
    race: &source::Race,
) -> Result<BTreeMap<String, Row>> {
    let mut stmt = tx.prepare(&format!(
        "SELECT d.driver_ref, x.position_text, x.points, x.laps, c.constructor_ref, s.status
         FROM {table} x JOIN races r ON r.race_id = x.race_id
         JOIN drivers d ON d.driver_id = x.driver_id
         JOIN constructors c ON c.constructor_id = x.constructor_id
         JOIN status s ON s.status_id = x.status_id
         WHERE r.year = ?1 AND r.round = ?2"
    ))?;
    let rows = stmt
        .query_map([race.year, race.info.round], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Row {
                    position_text: r.get(1)?,
                    points: r.get(2)?,
                    laps: r.get(3)?,
                    constructor: r.get(4)?,
                    status: r.get(5)?,
                },
            ))
        })?
        .collect::<rusqlite::Result<BTreeMap<_, _>>>()?;
    Ok(rows)
}

fn classifications(
    report: &mut Reconciliation,
    label: &str,
    table: &str,
    rows: &[source::ClassifiedRow],
    existing: &BTreeMap<String, Row>,
    race: &source::Race,
    ids: &Identities,
) -> Result<()> {
    let mut seen = Vec::new();
    let winner_laps = rows.first().and_then(|r| r.laps).unwrap_or(0);
    for row in rows {
        let driver = &ids.drivers[&row.driver_id];
        seen.push(driver.driver_ref.clone());
        let text = convert::position_text(&row.position, &race.dir)?;
        let status = convert::status(row, &text, winner_laps);
        let laps = row.laps.unwrap_or(0);
        if existing.contains_key(&driver.driver_ref) {
            report.rows_compared += 1;
        }
        let mut differ = |field: &str, ergast: String, f1db: String, explanation| {
            report.record(Disagreement {
                race: label.to_string(),
                entry: format!("{} {}", driver.given_name, driver.family_name),
                field: format!("{table}.{field}"),
                ergast,
                f1db,
                explanation,
            });
        };
        let Some(theirs) = existing.get(&driver.driver_ref) else {
            let explanation = (text == "W" && laps == 0).then_some(NON_STARTER_LISTED);
            differ("entry", "absent".into(), "present".into(), explanation);
            continue;
        };
        let never_started = text == "W" && theirs.position_text == "R" && theirs.laps == 0;
        if text != theirs.position_text {
            let explanation = never_started.then_some(NEVER_STARTED);
            differ(
                "position_text",
                theirs.position_text.clone(),
                text.clone(),
                explanation,
            );
        }
        let points = row.points.unwrap_or(0.0);
        if (points - theirs.points).abs() > 1e-9 {
            differ(
                "points",
                theirs.points.to_string(),
                points.to_string(),
                None,
            );
        }
        if laps != theirs.laps {
            let explanation = (text == "D" && theirs.laps == 0).then_some(DISQUALIFIED_LAPS);
            differ(
                "laps",
                theirs.laps.to_string(),
                laps.to_string(),
                explanation,
            );
        }
        let constructor = &ids.constructors[&row.constructor_id].constructor_ref;
        if *constructor != theirs.constructor {
            differ(
                "constructor",
                theirs.constructor.clone(),
                constructor.clone(),
                None,
            );
        }
        if status != theirs.status {
            let same = outcome(&text, &status) == outcome(&theirs.position_text, &theirs.status);
            let explanation = if never_started {
                Some(NEVER_STARTED)
            } else {
                same.then_some(STATUS_WORDING)
            };
            differ("status", theirs.status.clone(), status, explanation);
        }
    }
    for (driver_ref, _) in existing.iter().filter(|(r, _)| !seen.contains(r)) {
        report.record(Disagreement {
            race: label.to_string(),
            entry: driver_ref.clone(),
            field: format!("{table}.entry"),
            ergast: "present".into(),
            f1db: "absent".into(),
            explanation: None,
        });
    }
    Ok(())
}

/// One standings table after a race: reference -> (position, points).
type Standings = BTreeMap<String, (Option<i64>, f64)>;

fn standings(
    tx: &Transaction,
    report: &mut Reconciliation,
    label: &str,
    race: &source::Race,
    ids: &Identities,
) -> Result<()> {
    let query = |table: &str, entity: &str, key: &str, id: &str| -> Result<Standings> {
        let mut stmt = tx.prepare(&format!(
            "SELECT e.{key}, s.position, s.points FROM {table} s
             JOIN races r ON r.race_id = s.race_id JOIN {entity} e ON e.{id} = s.{id}
             WHERE r.year = ?1 AND r.round = ?2"
        ))?;
        let rows = stmt
            .query_map([race.year, race.info.round], |r| {
                Ok((r.get(0)?, (r.get(1)?, r.get(2)?)))
            })?
            .collect::<rusqlite::Result<Standings>>()?;
        Ok(rows)
    };
    let drivers: Standings = race
        .driver_standings
        .iter()
        .map(|s| {
            let reference = ids.drivers[&s.driver_id].driver_ref.clone();
            (reference, (convert::position_number(&s.position), s.points))
        })
        .collect();
    let constructors: Standings = race
        .constructor_standings
        .iter()
        .map(|s| {
            let reference = ids.constructors[&s.constructor_id].constructor_ref.clone();
            (reference, (convert::position_number(&s.position), s.points))
        })
        .collect();
    for (table, ours, theirs) in [
        (
            "driver_standings",
            drivers,
            query("driver_standings", "drivers", "driver_ref", "driver_id")?,
        ),
        (
            "constructor_standings",
            constructors,
            query(
                "constructor_standings",
                "constructors",
                "constructor_ref",
                "constructor_id",
            )?,
        ),
    ] {
        if theirs.is_empty() {
            continue;
        }
        for (reference, &(position, points)) in &ours {
            report.standings_compared += 1;
            let mut differ = |field: &str, ergast: String, f1db: String, explanation| {
                report.record(Disagreement {
                    race: label.to_string(),
                    entry: reference.clone(),
                    field: format!("{table}.{field}"),
                    ergast,
                    f1db,
                    explanation,
                });
            };
            let Some(&(their_position, their_points)) = theirs.get(reference) else {
                differ("entry", "absent".into(), "present".into(), None);
                continue;
            };
            if (their_points - points).abs() > 1e-9 {
                differ("points", their_points.to_string(), points.to_string(), None);
            } else if their_position != position {
                let level = ours
                    .iter()
                    .any(|(other, &(_, p))| other != reference && (p - points).abs() < 1e-9);
                differ(
                    "position",
                    position_label(their_position),
                    position_label(position),
                    level.then_some(TIE_ORDER),
                );
            }
        }
    }
    Ok(())
}

fn position_label(position: Option<i64>) -> String {
    position.map_or_else(|| "none".into(), |p| p.to_string())
}
