//! Samples 200 examples (every family represented) and re-derives each turn's gold
//! answer from the database with SQL written here, independent of the generator and
//! of the query layer.

use std::collections::BTreeMap;
use std::path::PathBuf;

use f1_data::KnowledgeBase;
use f1_dataset::example::Example;
use f1_dataset::DataConfig;
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

fn text(value: Value) -> String {
    match value {
        Value::Integer(i) => i.to_string(),
        Value::Real(r) if r.fract() == 0.0 => format!("{r:.0}"),
        Value::Real(r) => r.to_string(),
        Value::Text(t) => t,
        other => panic!("unexpected {other:?}"),
    }
}

fn query(conn: &Connection, sql: &str, params: &[&str]) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    let rows = stmt
        .query_map(params_from_iter(params), |r| r.get::<_, Value>(0))
        .unwrap();
    rows.map(|v| text(v.unwrap())).collect()
}

const NAME: &str = "d.forename || ' ' || d.surname";
const STARTED: &str = "x.position_text NOT IN ('F', 'W') AND NOT (x.laps = 0 AND x.grid = 0 AND x.position_text IN ('E', 'D'))";
const RACE: &str = "(SELECT race_id FROM races WHERE year = ?1 AND round = ?2)";
const FINAL: &str = "(SELECT race_id FROM races WHERE year = ?1 ORDER BY round DESC LIMIT 1)";
const COMPLETE: &str = "WITH complete AS (
    SELECT r.year, max(r.round) AS last FROM races r GROUP BY r.year
    HAVING count(*) = sum(EXISTS (SELECT 1 FROM results x WHERE x.race_id = r.race_id)))";

/// The gold values of one fact, in order, straight from the tables.
fn expected(conn: &Connection, family: &str, subject: &str) -> Vec<String> {
    let race = || {
        subject
            .split_once('-')
            .map(|(y, r)| [y.to_string(), r.trim_start_matches('0').to_string()])
            .unwrap()
    };
    let q = |sql: String, params: &[&str]| query(conn, &sql, params);
    let in_race = |condition: &str| {
        let [y, r] = race();
        q(format!("SELECT {NAME} FROM results x JOIN drivers d USING (driver_id) WHERE x.race_id = {RACE} AND {condition} ORDER BY x.position"), &[&y, &r])
    };
    let at_race = |select: &str| {
        let [y, r] = race();
        q(format!("SELECT {select} FROM races r JOIN circuits c USING (circuit_id) WHERE r.race_id = {RACE}"), &[&y, &r])
    };
    let driver_count = |condition: &str| {
        q(format!("SELECT count(DISTINCT x.race_id) FROM results x JOIN drivers d USING (driver_id) WHERE d.driver_ref = ?1 AND {condition}"), &[subject])
    };
    let standing = |table: &str, name: &str, join: &str, position: i64| {
        q(format!("SELECT {name} FROM {table} s JOIN {join} WHERE s.race_id = {FINAL} AND s.position = {position}"), &[subject])
    };
    match family {
        "race_winner" => in_race("x.position = 1"),
        "race_runner_up" => in_race("x.position = 2"),
        "race_podium" => in_race("x.position BETWEEN 1 AND 3"),
        "pole_position" => in_race("x.grid = 1"),
        "fastest_lap" => in_race("x.rank = 1"),
        "biggest_gain" => in_race("x.position IS NOT NULL AND x.grid > 0 AND x.grid - x.position = (SELECT max(grid - position) FROM results WHERE race_id = x.race_id AND position IS NOT NULL AND grid > 0)"),
        "race_winner_team" => {
            let [y, r] = race();
            q(format!("SELECT k.name FROM results x JOIN constructors k USING (constructor_id) WHERE x.race_id = {RACE} AND x.position = 1"), &[&y, &r])
        }
        "fastest_lap_lap" => {
            let [y, r] = race();
            q(format!("SELECT fastest_lap FROM results WHERE race_id = {RACE} AND rank = 1"), &[&y, &r])
        }
        "race_retirements" => {
            let [y, r] = race();
            q(format!("SELECT count(*) FROM results WHERE race_id = {RACE} AND position_text = 'R'"), &[&y, &r])
        }
        "sprint_winner" => {
            let [y, r] = race();
            q(format!("SELECT {NAME} FROM sprint_results x JOIN drivers d USING (driver_id) WHERE x.race_id = {RACE} AND x.position = 1"), &[&y, &r])
        }
        "fastest_pit_stop" => {
            let [y, r] = race();
            q(format!("SELECT {NAME} FROM pit_stops p JOIN drivers d USING (driver_id) WHERE p.race_id = {RACE} ORDER BY p.milliseconds LIMIT 1"), &[&y, &r])
        }
        "race_location" => at_race("c.name"),
        "race_date" => at_race("r.date"),
        "drivers_champion" => standing("driver_standings", NAME, "drivers d USING (driver_id)", 1),
        "championship_runner_up" => standing("driver_standings", NAME, "drivers d USING (driver_id)", 2),
        "constructors_champion" => standing("constructor_standings", "k.name", "constructors k USING (constructor_id)", 1),
        "title_margin" => q(format!(
            "SELECT (SELECT points FROM driver_standings WHERE race_id = {FINAL} AND position = 1)
                  - (SELECT points FROM driver_standings WHERE race_id = {FINAL} AND position = 2)"
        ), &[subject]),
        "season_rounds" => q("SELECT count(*) FROM races WHERE year = ?1".into(), &[subject]),
        "season_distinct_winners" => q("SELECT count(DISTINCT x.driver_id) FROM results x JOIN races r USING (race_id) WHERE r.year = ?1 AND x.position = 1".into(), &[subject]),
        "most_wins_season" => q(format!("SELECT {NAME} FROM results x JOIN races r USING (race_id) JOIN drivers d USING (driver_id) WHERE r.year = ?1 AND x.position = 1 GROUP BY x.driver_id ORDER BY count(*) DESC LIMIT 1"), &[subject]),
        "driver_nationality" | "driver_birth_date" | "driver_number" | "driver_code" => {
            let column = match family {
                "driver_nationality" => "nationality",
                "driver_birth_date" => "dob",
                "driver_number" => "number",
                _ => "code",
            };
            q(format!("SELECT {column} FROM drivers WHERE driver_ref = ?1"), &[subject])
        }
        "driver_career_wins" => driver_count("x.position = 1"),
        "driver_career_podiums" => driver_count("x.position <= 3"),
        "driver_career_poles" => driver_count("x.grid = 1"),
        "driver_career_starts" => driver_count(STARTED),
        "driver_titles" => q(format!(
            "{COMPLETE} SELECT count(*) FROM complete c JOIN races r ON r.year = c.year AND r.round = c.last
             JOIN driver_standings s ON s.race_id = r.race_id AND s.position = 1
             JOIN drivers d USING (driver_id) WHERE d.driver_ref = ?1"
        ), &[subject]),
        "driver_debut" => q(format!("SELECT min(r.year) FROM results x JOIN races r USING (race_id) JOIN drivers d USING (driver_id) WHERE d.driver_ref = ?1 AND {STARTED}"), &[subject]),
        "driver_team_season" | "teammate_in_season" => {
            let (driver, year) = subject.rsplit_once('/').unwrap();
            let sql = if family == "driver_team_season" {
                format!("SELECT DISTINCT k.name FROM results x JOIN races r USING (race_id) JOIN drivers d USING (driver_id) JOIN constructors k USING (constructor_id) WHERE d.driver_ref = ?1 AND r.year = ?2 AND {STARTED}")
            } else {
                format!("SELECT DISTINCT {NAME} FROM results mine JOIN races r USING (race_id) JOIN drivers me ON me.driver_id = mine.driver_id
                         JOIN results x ON x.race_id = mine.race_id AND x.constructor_id = mine.constructor_id AND x.driver_id != mine.driver_id
                         JOIN drivers d ON d.driver_id = x.driver_id WHERE me.driver_ref = ?1 AND r.year = ?2")
            };
            q(sql, &[driver, year])
        }
        "driver_season_wins" | "driver_season_points" => {
            let (driver, year) = subject.rsplit_once('/').unwrap();
            let column = if family == "driver_season_wins" { "s.wins" } else { "s.points" };
            q(format!("SELECT {column} FROM driver_standings s JOIN drivers d USING (driver_id)
                       WHERE d.driver_ref = ?1 AND s.race_id = (SELECT r.race_id FROM races r
                       WHERE r.year = ?2 AND EXISTS (SELECT 1 FROM driver_standings t WHERE t.race_id = r.race_id)
                       ORDER BY r.round DESC LIMIT 1)"), &[driver, year])
        }
        "standings_leader_after_round" => q(format!(
            "SELECT {NAME} FROM driver_standings s JOIN drivers d USING (driver_id)
             WHERE s.position = 1 AND s.race_id = (SELECT race_id FROM races WHERE year = ?1 AND round =
               (SELECT (max(r.round) + 1) / 2 FROM races r WHERE r.year = ?1
                AND EXISTS (SELECT 1 FROM results x WHERE x.race_id = r.race_id)))"
        ), &[subject]),
        "drivers_championship_position" => {
            let position = 3 + subject.parse::<i64>().unwrap() % 3;
            standing("driver_standings", NAME, "drivers d USING (driver_id)", position)
        }
        "constructors_championship_position" => {
            let position = 2 + subject.parse::<i64>().unwrap() % 3;
            standing("constructor_standings", "k.name", "constructors k USING (constructor_id)", position)
        }
        "teammate_head_to_head" => {
            let parts: Vec<&str> = subject.split('/').collect();
            let rows = q(
                "SELECT CASE WHEN a.position_order < b.position_order THEN 'a' ELSE 'b' END
                 FROM results a JOIN results b ON b.race_id = a.race_id AND b.constructor_id = a.constructor_id
                 JOIN races r ON r.race_id = a.race_id
                 WHERE r.year = ?1 AND a.driver_id = (SELECT driver_id FROM drivers WHERE driver_ref = ?2)
                   AND b.driver_id = (SELECT driver_id FROM drivers WHERE driver_ref = ?3)
                   AND (a.grid > 0 OR a.laps > 0) AND (b.grid > 0 OR b.laps > 0)
                   AND a.position_text NOT IN ('F', 'W') AND b.position_text NOT IN ('F', 'W')"
                    .into(),
                &parts,
            );
            let a_ahead = rows.iter().filter(|r| *r == "a").count();
            let winner = if a_ahead * 2 > rows.len() { parts[1] } else { parts[2] };
            q(format!("SELECT {NAME} FROM drivers d WHERE driver_ref = ?1"), &[winner])
        }
        "constructor_wins" => q("SELECT count(DISTINCT x.race_id) FROM results x JOIN constructors k USING (constructor_id) WHERE k.constructor_ref = ?1 AND x.position = 1".into(), &[subject]),
        "constructor_titles" => q(format!(
            "{COMPLETE} SELECT count(*) FROM complete c JOIN races r ON r.year = c.year AND r.round = c.last
             JOIN constructor_standings s ON s.race_id = r.race_id AND s.position = 1
             JOIN constructors k USING (constructor_id) WHERE k.constructor_ref = ?1"
        ), &[subject]),
        "constructor_nationality" => q("SELECT nationality FROM constructors WHERE constructor_ref = ?1".into(), &[subject]),
        "circuit_location" => q("SELECT country FROM circuits WHERE circuit_ref = ?1".into(), &[subject]),
        "circuit_first_gp" => q("SELECT min(r.year) FROM races r JOIN circuits c USING (circuit_id) WHERE c.circuit_ref = ?1".into(), &[subject]),
        "races_at_circuit" => q("SELECT count(*) FROM races r JOIN circuits c USING (circuit_id) WHERE c.circuit_ref = ?1 AND EXISTS (SELECT 1 FROM results x WHERE x.race_id = r.race_id)".into(), &[subject]),
        other => panic!("no re-derivation for family {other}"),
    }
}

/// Up to `n` examples, taking one from each family in turn, so every family is checked.
fn stratified(examples: &[Example], n: usize) -> Vec<&Example> {
    let mut by_family: BTreeMap<&str, Vec<&Example>> = BTreeMap::new();
    for example in examples {
        by_family
            .entry(example.metadata.turns[0].family)
            .or_default()
            .push(example);
    }
    let mut sample = Vec::new();
    let mut round = 0;
    while sample.len() < n && by_family.values().any(|v| v.len() > round) {
        for examples in by_family.values() {
            if let Some(e) = examples.get(round) {
                if sample.len() < n {
                    sample.push(*e);
                }
            }
        }
        round += 1;
    }
    sample
}

#[test]
fn two_hundred_gold_answers_rederive_from_the_database() {
    let data = std::env::var_os("F1AI_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f1.sqlite");
    f1_data::import_ergast(&data.join("ergast"), &db).unwrap();
    let kb = KnowledgeBase::open(&db).unwrap();
    let splits = f1_dataset::build(&kb, &DataConfig::default()).unwrap();
    let examples: Vec<Example> = splits.all().cloned().collect();
    let conn = Connection::open(&db).unwrap();

    let sample = stratified(&examples, 200);
    assert_eq!(sample.len(), 200);
    let mut checked_families = std::collections::BTreeSet::new();
    let mut checked_turns = 0;
    for example in sample {
        for turn in &example.metadata.turns {
            let subject = turn.fact_id.split_once(':').unwrap().1;
            let values = expected(&conn, turn.family, subject);
            assert_eq!(
                values.len(),
                turn.gold.len(),
                "{}: {values:?} vs {:?}",
                turn.fact_id,
                turn.gold
            );
            for (value, gold) in values.iter().zip(&turn.gold) {
                assert!(
                    gold.aliases.contains(value),
                    "{}: the database says {value:?}, the gold answer is {:?}",
                    turn.fact_id,
                    gold.aliases
                );
            }
            checked_families.insert(turn.family);
            checked_turns += 1;
        }
    }
    assert!(checked_families.len() >= 35, "{checked_families:?}");
    assert!(checked_turns > 200);
}
