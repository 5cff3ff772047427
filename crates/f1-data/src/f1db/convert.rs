//! F1DB races and standings as the records the Jolpica upsert writes, in Ergast's
//! conventions: position text `R`/`D`/`W`/`N`, status "Finished" / "+1 Lap" / the
//! reason retired, the winner's time and the others' gaps, standings with wins.

use std::collections::HashMap;

use serde_norway::Value;

use super::identity::Identities;
use super::source::{self, ClassifiedRow};
use crate::error::{Error, Result};
use crate::jolpica::api;

/// The number of a position; None for DNF, DNS, DSQ or NC.
pub fn position_number(value: &Value) -> Option<i64> {
    value.as_i64()
}

/// Ergast's position text for F1DB's position: the number, or R (retired),
/// D (disqualified), W (did not start), N (not classified).
pub fn position_text(value: &Value, dir: &std::path::Path) -> Result<String> {
    if let Some(n) = value.as_i64() {
        return Ok(n.to_string());
    }
    match value.as_str() {
        Some("DNF") => Ok("R".into()),
        Some("DSQ") => Ok("D".into()),
        Some("DNS") | Some("DNQ") | Some("DNPQ") => Ok("W".into()),
        Some("NC") => Ok("N".into()),
        Some("EX") => Ok("E".into()),
        _ => Err(Error::Source {
            path: dir.to_path_buf(),
            message: format!("field 'position' is not a position: {value:?}"),
        }),
    }
}

/// Ergast's status: "Finished" on the winner's lap, "+N Lap(s)" when lapped and
/// classified, else the reason F1DB gives.
pub fn status(row: &ClassifiedRow, text: &str, winner_laps: i64) -> String {
    let laps = row.laps.unwrap_or(0);
    let reason = row.reason_retired.clone().filter(|r| !r.is_empty());
    match text {
        "D" => reason.unwrap_or_else(|| "Disqualified".into()),
        "W" => reason.unwrap_or_else(|| "Did not start".into()),
        t if t.bytes().all(|b| b.is_ascii_digit()) && reason.is_none() => {
            match winner_laps - laps {
                0 => "Finished".into(),
                1 => "+1 Lap".into(),
                n => format!("+{n} Laps"),
            }
        }
        _ => reason.unwrap_or_else(|| "Retired".into()),
    }
}

/// Milliseconds of "1:42:06.304" / "30:39.965" / "13.341".
pub fn millis(time: &str) -> Option<i64> {
    let mut total = 0f64;
    for part in time.split(':') {
        total = total * 60.0 + part.trim().parse::<f64>().ok()?;
    }
    Some((total * 1000.0).round() as i64)
}

fn integer_text(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_i64).map(|n| n.to_string())
}

/// Converts one race of `source` (the schedule and whatever results it has).
pub fn race(race: &source::Race, source: &source::Source, ids: &Identities) -> Result<api::Race> {
    let info = &race.info;
    let name = source
        .grands_prix
        .get(&info.grand_prix_id)
        .map(|g| g.full_name.clone())
        .ok_or_else(|| Error::Source {
            path: race.dir.join("race.yml"),
            message: format!(
                "field 'grandPrixId' names '{}', which no file in grands-prix/ defines",
                info.grand_prix_id
            ),
        })?;
    let session = |date: &Option<String>, time: &Option<String>| {
        date.as_ref().map(|d| api::Session {
            date: d.clone(),
            time: time.as_ref().map(|t| seconds(t)),
        })
    };
    let fastest: HashMap<&str, &source::FastestLapRow> = race
        .fastest_laps
        .iter()
        .map(|f| (f.driver_id.as_str(), f))
        .collect();
    Ok(api::Race {
        season: race.year.to_string(),
        round: info.round.to_string(),
        url: None,
        race_name: name,
        circuit: ids.circuits[&info.circuit_id].clone(),
        date: info.date.clone(),
        time: info.time.as_ref().map(|t| seconds(t)),
        first_practice: session(&info.free_practice_1_date, &info.free_practice_1_time),
        second_practice: session(&info.free_practice_2_date, &info.free_practice_2_time),
        third_practice: session(&info.free_practice_3_date, &info.free_practice_3_time),
        qualifying: session(&info.qualifying_date, &info.qualifying_time),
        sprint: session(&info.sprint_race_date, &info.sprint_race_time),
        results: classification(&race.results, race, ids, Some(&fastest))?,
        sprint_results: classification(&race.sprint_results, race, ids, None)?,
        qualifying_results: race
            .qualifying
            .iter()
            .enumerate()
            .map(|(i, q)| api::QualifyingResult {
                number: q.driver_number.unwrap_or_default().to_string(),
                position: Some(
                    position_number(&q.position)
                        .unwrap_or(i as i64 + 1)
                        .to_string(),
                ),
                driver: ids.drivers[&q.driver_id].clone(),
                constructor: ids.constructors[&q.constructor_id].clone(),
                q1: q.q1.clone(),
                q2: q.q2.clone(),
                q3: q.q3.clone(),
            })
            .collect(),
    })
}

/// "04:00" as Ergast's "04:00:00".
fn seconds(time: &str) -> String {
    if time.matches(':').count() == 1 {
        format!("{time}:00")
    } else {
        time.to_string()
    }
}

fn classification(
    rows: &[ClassifiedRow],
    race: &source::Race,
    ids: &Identities,
    fastest: Option<&HashMap<&str, &source::FastestLapRow>>,
) -> Result<Vec<api::RaceResult>> {
    let winner_laps = rows.first().and_then(|r| r.laps).unwrap_or(0);
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let text = position_text(&row.position, &race.dir)?;
            let time = if i == 0 {
                row.time.clone()
            } else {
                row.gap.clone().filter(|_| row.time.is_some())
            };
            let lap = fastest.and_then(|f| f.get(row.driver_id.as_str()));
            Ok(api::RaceResult {
                number: row.driver_number.map(|n| n.to_string()),
                position: (i + 1).to_string(),
                position_text: text.clone(),
                points: row.points.unwrap_or(0.0).to_string(),
                driver: ids.drivers[&row.driver_id].clone(),
                constructor: ids.constructors[&row.constructor_id].clone(),
                grid: integer_text(row.grid_position.as_ref()).unwrap_or_else(|| "0".into()),
                laps: row.laps.unwrap_or(0).to_string(),
                status: status(row, &text, winner_laps),
                time: time.map(|t| api::RaceTime {
                    millis: row.time.as_deref().and_then(millis).map(|m| m.to_string()),
                    time: Some(t),
                }),
                fastest_lap: lap.map(|l| api::FastestLap {
                    rank: integer_text(Some(&l.position)),
                    lap: l.lap.map(|n| n.to_string()),
                    time: l.time.clone().map(|t| api::RaceTime {
                        millis: None,
                        time: Some(t),
                    }),
                    average_speed: None,
                }),
            })
        })
        .collect()
}

/// The standings after `race`; `driver_wins` and `constructor_wins` are each
/// entry's Grand Prix wins that season up to this race.
pub fn standings(
    race: &source::Race,
    ids: &Identities,
    driver_wins: &HashMap<String, i64>,
    constructor_wins: &HashMap<String, i64>,
) -> api::StandingsList {
    let text = |value: &Value, i: usize| position_number(value).unwrap_or(i as i64 + 1);
    api::StandingsList {
        season: race.year.to_string(),
        round: race.info.round.to_string(),
        driver_standings: race
            .driver_standings
            .iter()
            .enumerate()
            .map(|(i, s)| api::DriverStanding {
                position: Some(text(&s.position, i).to_string()),
                position_text: text(&s.position, i).to_string(),
                points: s.points.to_string(),
                wins: driver_wins
                    .get(&s.driver_id)
                    .copied()
                    .unwrap_or(0)
                    .to_string(),
                driver: ids.drivers[&s.driver_id].clone(),
            })
            .collect(),
        constructor_standings: race
            .constructor_standings
            .iter()
            .enumerate()
            .map(|(i, s)| api::ConstructorStanding {
                position: Some(text(&s.position, i).to_string()),
                position_text: text(&s.position, i).to_string(),
                points: s.points.to_string(),
                wins: constructor_wins
                    .get(&s.constructor_id)
                    .copied()
                    .unwrap_or(0)
                    .to_string(),
                constructor: ids.constructors[&s.constructor_id].clone(),
            })
            .collect(),
    }
}
