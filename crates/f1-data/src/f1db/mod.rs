//! F1DB (f1db/f1db, CC BY 4.0) as a second source: its YAML tree merged into the
//! knowledge base, reconciled first with what the knowledge base already holds.
//!
//! The merge writes to a copy of the database and renames it over the original only
//! after the integrity checks pass, so a refused or failed import leaves the previous
//! file byte-identical.

mod convert;
mod identity;
pub mod reconcile;
pub mod source;

use std::collections::HashMap;
use std::path::Path;

use rusqlite::Transaction;

use crate::error::{Error, Result};
use crate::integrity::{self, IntegrityReport};
use crate::jolpica::upsert::{UpsertCounts, Upserter};
use crate::store;
use identity::Identities;
pub use identity::MatchCounts;
use reconcile::Reconciliation;
use source::Source;

/// Which source wins where the two disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefer {
    F1db,
    Ergast,
}

impl std::str::FromStr for Prefer {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "f1db" => Ok(Prefer::F1db),
            "ergast" => Ok(Prefer::Ergast),
            other => Err(format!("'{other}': expected f1db or ergast")),
        }
    }
}

/// What an F1DB import found and wrote.
#[derive(Debug)]
pub struct F1dbImport {
    pub reconciliation: Reconciliation,
    pub matches: MatchCounts,
    /// Rows written; None when the import was refused because the sources
    /// disagree and no preference was given (the database is unchanged).
    pub written: Option<UpsertCounts>,
    /// The integrity checks of the merged database (None when refused).
    pub integrity: Option<IntegrityReport>,
}

/// Merges the F1DB tree at `dir` into the knowledge base at `base` (an empty one
/// when None) and writes the result to `db_path`. Races the base already
/// classifies are compared and kept as they are unless `prefer` is
/// [`Prefer::F1db`]; an unexplained disagreement without a preference refuses
/// the whole import, and `db_path` is left as it was.
pub fn import_f1db(
    dir: &Path,
    base: Option<&Path>,
    db_path: &Path,
    prefer: Option<Prefer>,
) -> Result<F1dbImport> {
    let source = Source::read(dir)?;
    let (temp, mut conn) = match base {
        Some(base) => store::copy_temp(base, db_path)?,
        None => store::create_temp(db_path)?,
    };
    conn.pragma_update(None, "foreign_keys", true)?;
    let tx = conn.transaction()?;
    let ids = Identities::resolve(&tx, &source)?;
    let reconciliation = reconcile::compare(&tx, &source, &ids)?;
    if !reconciliation.disagreements.is_empty() && prefer.is_none() {
        return Ok(F1dbImport {
            reconciliation,
            matches: ids.counts,
            written: None,
            integrity: None,
        });
    }
    let written = merge(&tx, &source, &ids, prefer)?;
    store::derive_season_champions(&tx)?;
    let origin = match store::meta(&tx, "source")? {
        Some(source) if base.is_some() => format!("{source} + f1db:{}", dir.display()),
        _ => format!("f1db:{}", dir.display()),
    };
    store::set_meta(&tx, "source", &origin)?;
    tx.commit()?;
    conn.execute_batch("ANALYZE")?;
    let integrity = integrity::check(&conn, &[])?;
    if let Some(failure) = integrity.first_failure() {
        return Err(Error::Integrity(failure));
    }
    store::persist(temp, conn, db_path)?;
    Ok(F1dbImport {
        reconciliation,
        matches: ids.counts,
        written: Some(written),
        integrity: Some(integrity),
    })
}

/// Replaces a race's pit stops with F1DB's (durations; no time of day).
fn pit_stops(tx: &Transaction, race_id: i64, race: &source::Race, ids: &Identities) -> Result<()> {
    if race.pit_stops.is_empty() {
        return Ok(());
    }
    tx.execute("DELETE FROM pit_stops WHERE race_id = ?1", [race_id])?;
    let mut insert = tx.prepare(
        "INSERT INTO pit_stops (race_id, driver_id, stop, lap, time, duration, milliseconds)
         VALUES (?1, (SELECT driver_id FROM drivers WHERE driver_ref = ?2), ?3, ?4, NULL, ?5, ?6)",
    )?;
    for stop in &race.pit_stops {
        let duration = stop.time.as_deref();
        insert.execute(rusqlite::params![
            race_id,
            ids.drivers[&stop.driver_id].driver_ref,
            stop.stop,
            stop.lap,
            duration,
            duration.and_then(convert::millis),
        ])?;
    }
    Ok(())
}

/// Whether `table` has rows for the race of `year` and `round`.
fn holds(tx: &Transaction, table: &str, year: i64, round: i64) -> Result<bool> {
    Ok(tx.query_row(
        &format!(
            "SELECT EXISTS (SELECT 1 FROM {table} x JOIN races r ON r.race_id = x.race_id
             WHERE r.year = ?1 AND r.round = ?2)"
        ),
        [year, round],
        |r| r.get(0),
    )?)
}

fn merge(
    tx: &Transaction,
    source: &Source,
    ids: &Identities,
    prefer: Option<Prefer>,
) -> Result<UpsertCounts> {
    let keep_existing = prefer != Some(Prefer::F1db);
    let mut upserter = Upserter::new(tx, source.dir.display().to_string());
    // Grand Prix wins so far in the season being merged (races come in season
    // then round order).
    let mut season = None;
    let mut driver_wins: HashMap<String, i64> = HashMap::new();
    let mut constructor_wins: HashMap<String, i64> = HashMap::new();
    for race in &source.races {
        let (year, round) = (race.year, race.info.round);
        if season != Some(year) {
            season = Some(year);
            driver_wins.clear();
            constructor_wins.clear();
        }
        if let Some(winner) = race
            .results
            .iter()
            .find(|r| convert::position_number(&r.position) == Some(1))
        {
            *driver_wins.entry(winner.driver_id.clone()).or_default() += 1;
            *constructor_wins
                .entry(winner.constructor_id.clone())
                .or_default() += 1;
        }
        if !(keep_existing && holds(tx, "results", year, round)?) {
            let race_id = upserter.race(&convert::race(race, source, ids)?)?;
            pit_stops(tx, race_id, race, ids)?;
        }
        let has_standings =
            !race.driver_standings.is_empty() || !race.constructor_standings.is_empty();
        if has_standings && !(keep_existing && holds(tx, "driver_standings", year, round)?) {
            upserter.standings(&convert::standings(
                race,
                ids,
                &driver_wins,
                &constructor_wins,
            ))?;
        }
    }
    Ok(upserter.counts)
}
