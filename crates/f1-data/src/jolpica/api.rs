//! The Ergast/Jolpica JSON shapes, as the API sends them (numbers as strings).

use serde::Deserialize;

/// The part of one page's `MRData` that the upsert reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MrData {
    pub race_table: Option<RaceTable>,
    pub standings_table: Option<StandingsTable>,
    pub driver_table: Option<DriverTable>,
    pub constructor_table: Option<ConstructorTable>,
    pub circuit_table: Option<CircuitTable>,
}

impl MrData {
    /// Appends the next page of the same query. A race or standings list cut by the
    /// page boundary continues at the start of the next page and is joined back up.
    pub fn append_page(&mut self, next: MrData) {
        fn join<T, U>(
            into: &mut Option<T>,
            next: Option<T>,
            items: impl Fn(&mut T) -> &mut Vec<U>,
            same: impl Fn(&U, &U) -> bool,
            extend: impl Fn(&mut U, U),
        ) {
            let Some(mut next) = next else { return };
            let Some(into) = into else {
                *into = Some(next);
                return;
            };
            let mut incoming = std::mem::take(items(&mut next)).into_iter();
            let list = items(into);
            if let (Some(first), Some(last)) = (incoming.next(), list.last_mut()) {
                if same(last, &first) {
                    extend(last, first);
                } else {
                    list.push(first);
                }
            }
            list.extend(incoming);
        }
        join(
            &mut self.race_table,
            next.race_table,
            |t| &mut t.races,
            |a, b| a.season == b.season && a.round == b.round,
            |a, b| {
                a.results.extend(b.results);
                a.sprint_results.extend(b.sprint_results);
                a.qualifying_results.extend(b.qualifying_results);
            },
        );
        join(
            &mut self.standings_table,
            next.standings_table,
            |t| &mut t.standings_lists,
            |a, b| a.season == b.season && a.round == b.round,
            |a, b| {
                a.driver_standings.extend(b.driver_standings);
                a.constructor_standings.extend(b.constructor_standings);
            },
        );
        join(
            &mut self.driver_table,
            next.driver_table,
            |t| &mut t.drivers,
            |_, _| false,
            |_, _| {},
        );
        join(
            &mut self.constructor_table,
            next.constructor_table,
            |t| &mut t.constructors,
            |_, _| false,
            |_, _| {},
        );
        join(
            &mut self.circuit_table,
            next.circuit_table,
            |t| &mut t.circuits,
            |_, _| false,
            |_, _| {},
        );
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RaceTable {
    pub races: Vec<Race>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DriverTable {
    pub drivers: Vec<Driver>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConstructorTable {
    pub constructors: Vec<Constructor>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CircuitTable {
    pub circuits: Vec<Circuit>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StandingsTable {
    pub standings_lists: Vec<StandingsList>,
}

#[derive(Debug, Deserialize)]
pub struct Race {
    pub season: String,
    pub round: String,
    pub url: Option<String>,
    #[serde(rename = "raceName")]
    pub race_name: String,
    #[serde(rename = "Circuit")]
    pub circuit: Circuit,
    pub date: String,
    pub time: Option<String>,
    #[serde(rename = "FirstPractice")]
    pub first_practice: Option<Session>,
    #[serde(rename = "SecondPractice")]
    pub second_practice: Option<Session>,
    #[serde(rename = "ThirdPractice")]
    pub third_practice: Option<Session>,
    #[serde(rename = "Qualifying")]
    pub qualifying: Option<Session>,
    #[serde(rename = "Sprint")]
    pub sprint: Option<Session>,
    #[serde(rename = "Results", default)]
    pub results: Vec<RaceResult>,
    #[serde(rename = "SprintResults", default)]
    pub sprint_results: Vec<RaceResult>,
    #[serde(rename = "QualifyingResults", default)]
    pub qualifying_results: Vec<QualifyingResult>,
}

#[derive(Debug, Deserialize)]
pub struct Session {
    pub date: String,
    pub time: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Circuit {
    #[serde(rename = "circuitId")]
    pub circuit_ref: String,
    pub url: Option<String>,
    #[serde(rename = "circuitName")]
    pub name: String,
    #[serde(rename = "Location")]
    pub location: Location,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Location {
    pub lat: Option<String>,
    pub long: Option<String>,
    pub locality: Option<String>,
    pub country: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Driver {
    #[serde(rename = "driverId")]
    pub driver_ref: String,
    #[serde(rename = "permanentNumber")]
    pub permanent_number: Option<String>,
    pub code: Option<String>,
    pub url: Option<String>,
    #[serde(rename = "givenName")]
    pub given_name: String,
    #[serde(rename = "familyName")]
    pub family_name: String,
    #[serde(rename = "dateOfBirth")]
    pub date_of_birth: Option<String>,
    pub nationality: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Constructor {
    #[serde(rename = "constructorId")]
    pub constructor_ref: String,
    pub url: Option<String>,
    pub name: String,
    pub nationality: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RaceResult {
    pub number: Option<String>,
    /// The API's position is the CSV's positionOrder: set for every car.
    pub position: String,
    #[serde(rename = "positionText")]
    pub position_text: String,
    pub points: String,
    #[serde(rename = "Driver")]
    pub driver: Driver,
    #[serde(rename = "Constructor")]
    pub constructor: Constructor,
    pub grid: String,
    pub laps: String,
    pub status: String,
    #[serde(rename = "Time")]
    pub time: Option<RaceTime>,
    #[serde(rename = "FastestLap")]
    pub fastest_lap: Option<FastestLap>,
}

#[derive(Debug, Deserialize)]
pub struct RaceTime {
    pub millis: Option<String>,
    pub time: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct FastestLap {
    pub rank: Option<String>,
    pub lap: Option<String>,
    #[serde(rename = "Time")]
    pub time: Option<RaceTime>,
    #[serde(rename = "AverageSpeed")]
    pub average_speed: Option<AverageSpeed>,
}

#[derive(Debug, Deserialize)]
pub struct AverageSpeed {
    pub speed: String,
}

#[derive(Debug, Deserialize)]
pub struct QualifyingResult {
    pub number: String,
    pub position: Option<String>,
    #[serde(rename = "Driver")]
    pub driver: Driver,
    #[serde(rename = "Constructor")]
    pub constructor: Constructor,
    #[serde(rename = "Q1")]
    pub q1: Option<String>,
    #[serde(rename = "Q2")]
    pub q2: Option<String>,
    #[serde(rename = "Q3")]
    pub q3: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct StandingsList {
    pub season: String,
    pub round: String,
    #[serde(rename = "DriverStandings", default)]
    pub driver_standings: Vec<DriverStanding>,
    #[serde(rename = "ConstructorStandings", default)]
    pub constructor_standings: Vec<ConstructorStanding>,
}

#[derive(Debug, Deserialize)]
pub struct DriverStanding {
    pub position: Option<String>,
    #[serde(rename = "positionText")]
    pub position_text: String,
    pub points: String,
    pub wins: String,
    #[serde(rename = "Driver")]
    pub driver: Driver,
}

#[derive(Debug, Deserialize)]
pub struct ConstructorStanding {
    pub position: Option<String>,
    #[serde(rename = "positionText")]
    pub position_text: String,
    pub points: String,
    pub wins: String,
    #[serde(rename = "Constructor")]
    pub constructor: Constructor,
}
