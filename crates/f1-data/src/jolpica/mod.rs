//! The Jolpica F1 API (the Ergast successor): fetch a season or round and upsert it.

pub(crate) mod api;
mod client;
pub(crate) mod upsert;

use std::path::Path;
use std::str::FromStr;

pub use client::{ClientConfig, JolpicaClient, RequestStats, DEFAULT_BASE_URL};
pub use upsert::UpsertCounts;

use crate::error::{Error, Result};
use crate::store;
use upsert::Upserter;

/// One kind of API resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Races,
    Results,
    Qualifying,
    Sprint,
    DriverStandings,
    ConstructorStandings,
    Drivers,
    Constructors,
    Circuits,
}

impl Resource {
    /// Every resource, races first (standings refer to them).
    pub const ALL: [Resource; 9] = [
        Resource::Races,
        Resource::Circuits,
        Resource::Drivers,
        Resource::Constructors,
        Resource::Results,
        Resource::Qualifying,
        Resource::Sprint,
        Resource::DriverStandings,
        Resource::ConstructorStandings,
    ];

    fn endpoint(self) -> Option<&'static str> {
        match self {
            Resource::Races => None,
            Resource::Results => Some("results"),
            Resource::Qualifying => Some("qualifying"),
            Resource::Sprint => Some("sprint"),
            Resource::DriverStandings => Some("driverStandings"),
            Resource::ConstructorStandings => Some("constructorStandings"),
            Resource::Drivers => Some("drivers"),
            Resource::Constructors => Some("constructors"),
            Resource::Circuits => Some("circuits"),
        }
    }

    /// The API path, e.g. `2020/5/results`.
    pub fn path(self, season: i64, round: Option<i64>) -> String {
        let mut path = season.to_string();
        if let Some(round) = round {
            path.push_str(&format!("/{round}"));
        }
        if let Some(endpoint) = self.endpoint() {
            path.push('/');
            path.push_str(endpoint);
        }
        path
    }
}

impl FromStr for Resource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "races" => Resource::Races,
            "results" => Resource::Results,
            "qualifying" => Resource::Qualifying,
            "sprint" => Resource::Sprint,
            "driverstandings" | "driver-standings" => Resource::DriverStandings,
            "constructorstandings" | "constructor-standings" => Resource::ConstructorStandings,
            "drivers" => Resource::Drivers,
            "constructors" => Resource::Constructors,
            "circuits" => Resource::Circuits,
            other => {
                return Err(format!(
                    "unknown resource '{other}' (expected races, results, qualifying, sprint, \
                 driver-standings, constructor-standings, drivers, constructors or circuits)"
                ))
            }
        })
    }
}

/// What a fetch did.
#[derive(Debug, Clone, Copy)]
pub struct FetchSummary {
    pub requests: RequestStats,
    pub written: UpsertCounts,
}

/// Fetches `resources` of `season` (one round, or all) and upserts them into the
/// database at `db_path` in one transaction: all or nothing.
pub async fn fetch_into_database(
    client: &JolpicaClient,
    db_path: &Path,
    season: i64,
    round: Option<i64>,
    resources: &[Resource],
) -> Result<FetchSummary> {
    let mut ordered: Vec<Resource> = Resource::ALL
        .into_iter()
        .filter(|r| resources.contains(r))
        .collect();
    ordered.dedup();
    let mut responses = Vec::new();
    for resource in &ordered {
        let path = resource.path(season, round);
        let mut merged = api::MrData::default();
        for page in client.get_all_pages(&path).await? {
            let page: api::MrData = serde_json::from_value(page).map_err(|e| Error::Response {
                source_name: path.clone(),
                message: e.to_string(),
            })?;
            merged.append_page(page);
        }
        responses.push((path, merged));
    }

    let mut conn = store::open_for_update(db_path)?;
    let tx = conn.transaction()?;
    let mut written = UpsertCounts::default();
    for (path, response) in &responses {
        let mut upserter = Upserter::new(&tx, path.clone());
        apply_response(&mut upserter, response)?;
        add_counts(&mut written, &upserter.counts);
    }
    let violations: i64 =
        tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })?;
    if violations > 0 {
        return Err(Error::Integrity(format!(
            "{violations} foreign-key violation(s) after the upsert; nothing was written"
        )));
    }
    store::derive_season_champions(&tx)?;
    tx.commit()?;
    Ok(FetchSummary {
        requests: client.stats(),
        written,
    })
}

/// What an update fetched.
#[derive(Debug, Clone)]
pub struct UpdateSummary {
    /// The season brought up to date (the database's latest, or the next one
    /// when the API already has its calendar).
    pub season: Option<i64>,
    /// Rounds whose results were fetched, in order.
    pub rounds: Vec<i64>,
    /// The first round due by `until` that the API has no results for yet.
    pub pending: Option<i64>,
    pub requests: RequestStats,
    pub written: UpsertCounts,
}

/// Brings the knowledge base up to date: the rounds of the current season held
/// on or before `until` (`YYYY-MM-DD`) that have no results yet, each fetched
/// (results, then qualifying, sprint and both standings) and upserted in its own
/// transaction. When `until` is in a later year than the database's latest
/// season, that year's calendar is fetched first. Stops at the first round the
/// API has not classified yet.
pub async fn update_database(
    client: &JolpicaClient,
    db_path: &Path,
    until: &str,
) -> Result<UpdateSummary> {
    let latest = latest_season(db_path)?;
    let mut written = UpsertCounts::default();
    let mut season = latest;
    let year: Option<i64> = until.get(..4).and_then(|y| y.parse().ok());
    if let (Some(latest), Some(year)) = (latest, year) {
        if year > latest {
            let calendar =
                fetch_into_database(client, db_path, year, None, &[Resource::Races]).await?;
            add_counts(&mut written, &calendar.written);
            if calendar.written.races > 0 {
                season = Some(year);
            }
        }
    }
    let mut summary = UpdateSummary {
        season,
        rounds: Vec::new(),
        pending: None,
        requests: client.stats(),
        written,
    };
    let Some(season) = season else {
        return Ok(summary);
    };
    for round in rounds_without_results(db_path, season, until)? {
        let results =
            fetch_into_database(client, db_path, season, Some(round), &[Resource::Results]).await?;
        add_counts(&mut summary.written, &results.written);
        if results.written.results == 0 {
            summary.pending = Some(round);
            break;
        }
        let rest = [
            Resource::Qualifying,
            Resource::Sprint,
            Resource::DriverStandings,
            Resource::ConstructorStandings,
        ];
        let details = fetch_into_database(client, db_path, season, Some(round), &rest).await?;
        add_counts(&mut summary.written, &details.written);
        summary.rounds.push(round);
    }
    summary.requests = client.stats();
    Ok(summary)
}

fn latest_season(db_path: &Path) -> Result<Option<i64>> {
    let conn = store::open_read_only(db_path)?;
    Ok(conn.query_row("SELECT max(year) FROM races", [], |r| r.get(0))?)
}

/// The rounds of `season` held on or before `until` that have no results.
fn rounds_without_results(db_path: &Path, season: i64, until: &str) -> Result<Vec<i64>> {
    let conn = store::open_read_only(db_path)?;
    let mut stmt = conn.prepare(
        "SELECT r.round FROM races r
         WHERE r.year = ?1 AND r.date <= ?2
           AND NOT EXISTS (SELECT 1 FROM results x WHERE x.race_id = r.race_id)
         ORDER BY r.round",
    )?;
    let rounds = stmt
        .query_map(rusqlite::params![season, until], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    Ok(rounds)
}

fn apply_response(upserter: &mut Upserter, page: &api::MrData) -> Result<()> {
    if let Some(table) = &page.race_table {
        for race in &table.races {
            upserter.race(race)?;
        }
    }
    if let Some(table) = &page.standings_table {
        for list in &table.standings_lists {
            upserter.standings(list)?;
        }
    }
    if let Some(table) = &page.circuit_table {
        for circuit in &table.circuits {
            upserter.circuit(circuit)?;
            upserter.counts.circuits += 1;
        }
    }
    if let Some(table) = &page.driver_table {
        for driver in &table.drivers {
            upserter.driver(driver)?;
            upserter.counts.drivers += 1;
        }
    }
    if let Some(table) = &page.constructor_table {
        for constructor in &table.constructors {
            upserter.constructor(constructor)?;
            upserter.counts.constructors += 1;
        }
    }
    Ok(())
}

fn add_counts(total: &mut UpsertCounts, page: &UpsertCounts) {
    total.races += page.races;
    total.results += page.results;
    total.sprint_results += page.sprint_results;
    total.qualifying += page.qualifying;
    total.driver_standings += page.driver_standings;
    total.constructor_standings += page.constructor_standings;
    total.drivers += page.drivers;
    total.constructors += page.constructors;
    total.circuits += page.circuits;
}
