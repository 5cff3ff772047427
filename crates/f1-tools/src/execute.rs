//! Running a call: its arguments resolved to rows, the answer read from the
//! knowledge base's typed queries (every argument a bound parameter, never SQL).

use std::collections::BTreeMap;
use std::path::Path;

use f1_data::query::{Race, RaceResult};
use f1_data::KnowledgeBase;
use serde_json::{json, Value};

use crate::call::ToolCall;
use crate::error::ToolError;
use crate::resolve::Resolver;

/// The knowledge base and everything a name can resolve to.
pub struct Toolbox {
    kb: KnowledgeBase,
    resolver: Resolver,
}

/// A call's result as the model reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The result or the error as JSON text, cut to the budget with a marker.
    pub text: String,
    /// `ok`, or the error's kind (`not_found`, `invalid_arguments`...).
    pub status: &'static str,
}

impl Outcome {
    /// Whether the call ran (false: the text is an error).
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

/// What a truncated result ends with.
pub const TRUNCATED: &str = "…[truncated]";

/// `text` cut to at most `max_chars` characters, ending with [`TRUNCATED`] when cut.
pub fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let keep = max_chars.saturating_sub(TRUNCATED.chars().count());
    text.chars().take(keep).collect::<String>() + TRUNCATED
}

impl Toolbox {
    /// Opens the knowledge base at `db_path` and loads the names.
    pub fn open(db_path: &Path) -> Result<Self, ToolError> {
        Self::new(KnowledgeBase::open(db_path)?)
    }

    pub fn new(kb: KnowledgeBase) -> Result<Self, ToolError> {
        let resolver = Resolver::load(&kb)?;
        Ok(Self { kb, resolver })
    }

    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// Runs `call` and renders what the model reads: the result, or the error, as
    /// JSON of at most `max_chars` characters.
    pub fn outcome(&self, call: &ToolCall, max_chars: usize) -> Outcome {
        let (value, status) = match self.run(call) {
            Ok(value) => (value, "ok"),
            Err(error) => (error.to_json(), error.kind()),
        };
        Outcome {
            text: truncate(&value.to_string(), max_chars),
            status,
        }
    }

    /// `call` with its race taken from the fan's own `words`, when it names a race
    /// and they name exactly one ([`Resolver::race_in_words`]): for a call whose
    /// race the resolver could not find ("third at bahrain 2014").
    pub fn with_race_from(&self, call: &ToolCall, words: &str) -> Option<ToolCall> {
        call.arguments.get("race")?;
        let race = self.resolver.race_in_words(words)?;
        let mut arguments = call.arguments.clone();
        arguments.insert("race".to_string(), Value::from(race.label()));
        arguments.remove("season");
        Some(ToolCall {
            name: call.name.clone(),
            arguments,
        })
    }

    /// Validates `call` against its tool and runs it.
    pub fn run(&self, call: &ToolCall) -> Result<Value, ToolError> {
        let tool = call.validate()?;
        let text = |name: &str| call.arguments.get(name).and_then(Value::as_str);
        let season = || match call.arguments.get("season") {
            Some(value) => self.resolver.season(value).map(Some),
            None => Ok(None),
        };
        let race = || {
            self.resolver.race(
                text("race").unwrap_or_default(),
                call.arguments.get("season"),
            )
        };
        match tool.name {
            "race_result" => self.race_result(&race()?),
            "qualifying" => self.qualifying(&race()?),
            "fastest_lap" => self.fastest_lap(&race()?),
            "pit_stops" => self.pit_stops(&race()?),
            "sprint_result" => self.sprint_result(&race()?),
            "season_summary" => self.season_summary(season()?.unwrap_or_default()),
            "standings" => self.standings(
                season()?.unwrap_or_default(),
                call.arguments.get("after_round").and_then(Value::as_i64),
                text("championship") == Some("constructors"),
            ),
            "driver_profile" => self.driver_profile(text("driver").unwrap_or_default()),
            "driver_season" => {
                let season = season()?.unwrap_or_default();
                self.driver_season(text("driver").unwrap_or_default(), season)
            }
            "head_to_head" => self.head_to_head(
                text("driver").unwrap_or_default(),
                text("other").unwrap_or_default(),
                season()?.unwrap_or_default(),
            ),
            "team_profile" => self.team_profile(text("team").unwrap_or_default()),
            "circuit_info" => self.circuit_info(text("circuit").unwrap_or_default()),
            other => unreachable!("validated tool {other} has no runner"),
        }
    }

    /// The race's results, or an error saying it has none yet.
    fn results(&self, race: &Race) -> Result<Vec<RaceResult>, ToolError> {
        let results = self.kb.results(race.race_id)?;
        if results.is_empty() {
            return Err(ToolError::NoData(format!(
                "the {} ({}) has no results in the data",
                race.label(),
                race.date
            )));
        }
        Ok(results)
    }

    fn race_result(&self, race: &Race) -> Result<Value, ToolError> {
        let results = self.results(race)?;
        let retired: Vec<&str> = results
            .iter()
            .filter(|r| r.position_text == "R")
            .map(|r| r.driver_name.as_str())
            .collect();
        let gain = |r: &&RaceResult| r.position.filter(|_| r.grid > 0).map(|p| r.grid - p);
        let best = results
            .iter()
            .filter_map(|r| gain(&r))
            .max()
            .filter(|g| *g > 0);
        let gainers: Vec<&RaceResult> = results
            .iter()
            .filter(|r| best.is_some() && gain(r) == best)
            .collect();
        let mut value = describe(race);
        add_places(&mut value, &results);
        value["retirements"] =
            json!({"count": retired.len(), "drivers": &retired[..retired.len().min(6)]});
        if let [driver] = gainers.as_slice() {
            value["most_places_gained"] = json!({
                "driver": driver.driver_name,
                "grid": driver.grid,
                "finish": driver.position,
            });
        }
        Ok(value)
    }

    fn qualifying(&self, race: &Race) -> Result<Value, ToolError> {
        let results = self.results(race)?;
        let mut grid: Vec<&RaceResult> = results.iter().filter(|r| r.grid > 0).collect();
        grid.sort_by_key(|r| r.grid);
        let mut value = describe(race);
        for (place, r) in ["pole", "second", "third"].into_iter().zip(&grid) {
            value[place] = json!({"driver": r.driver_name, "team": r.constructor_name});
        }
        if let Some(pole) = self
            .kb
            .qualifying(race.race_id)?
            .into_iter()
            .find(|q| q.position == Some(1))
        {
            value["pole_lap"] = json!(pole.q3.or(pole.q2).or(pole.q1));
        }
        Ok(value)
    }

    fn fastest_lap(&self, race: &Race) -> Result<Value, ToolError> {
        let lap = self.kb.fastest_lap(race.race_id)?.ok_or_else(|| {
            ToolError::NoData(format!(
                "no fastest lap is recorded for the {}",
                race.label()
            ))
        })?;
        let mut value = describe(race);
        value["fastest_lap"] = json!({
            "driver": lap.driver_name,
            "team": lap.constructor_name,
            "lap": lap.lap,
            "time": lap.time,
        });
        Ok(value)
    }

    fn pit_stops(&self, race: &Race) -> Result<Value, ToolError> {
        let stops = self.kb.pit_stops(race.race_id)?;
        let best = stops
            .iter()
            .filter_map(|s| s.milliseconds)
            .min()
            .ok_or_else(|| {
                ToolError::NoData(format!(
                    "no pit stops are recorded for the {}",
                    race.label()
                ))
            })?;
        let mut value = describe(race);
        value["stops"] = stops.len().into();
        value["fastest"] = stops
            .iter()
            .filter(|s| s.milliseconds == Some(best))
            .map(
                |s| json!({"driver": s.driver_name, "seconds": best as f64 / 1000.0, "lap": s.lap}),
            )
            .collect();
        Ok(value)
    }

    fn sprint_result(&self, race: &Race) -> Result<Value, ToolError> {
        let results = self.kb.sprint_results(race.race_id)?;
        if results.is_empty() {
            return Err(ToolError::NoData(format!(
                "the {} weekend had no sprint in the data",
                race.label()
            )));
        }
        let mut value = describe(race);
        add_places(&mut value, &results);
        Ok(value)
    }

    fn season_summary(&self, season: i64) -> Result<Value, ToolError> {
        // The titles first: a result cut to a budget loses its tail.
        let mut value = json!({"season": season});
        let standings = self.kb.driver_standings(season, None)?;
        match self.kb.season_champions(season)? {
            Some(champions) => {
                value["drivers_champion"] = champions.driver_name.into();
                value["constructors_champion"] = champions.constructor_name.into();
                if let [first, second, ..] = standings.as_slice() {
                    value["champion_points"] = first.points.into();
                    value["runner_up"] = json!({"driver": second.name, "points": second.points});
                    value["title_margin"] = (first.points - second.points).into();
                }
            }
            None => {
                value["drivers_champion"] = "not decided in the data".into();
                if let Some(leader) = standings.first() {
                    value["leader"] = json!({"driver": leader.name, "points": leader.points});
                }
            }
        }
        let races = self.kb.season_races(season)?;
        value["races"] = races.len().into();
        let mut wins: BTreeMap<String, i64> = BTreeMap::new();
        let mut winners: Vec<String> = Vec::new();
        for race in &races {
            for result in self.kb.results(race.race_id)? {
                if result.position == Some(1) {
                    if !winners.contains(&result.driver_name) {
                        winners.push(result.driver_name.clone());
                    }
                    *wins.entry(result.driver_name).or_default() += 1;
                }
            }
        }
        if let Some(most) = wins.values().max() {
            let top: Vec<&String> = wins
                .iter()
                .filter(|(_, n)| *n == most)
                .map(|(d, _)| d)
                .collect();
            value["most_wins"] = json!({"drivers": top, "wins": most});
        }
        value["race_winners"] = json!({"count": winners.len(), "drivers": winners});
        Ok(value)
    }

    fn standings(
        &self,
        season: i64,
        after_round: Option<i64>,
        constructors: bool,
    ) -> Result<Value, ToolError> {
        let table = match constructors {
            true => self.kb.constructor_standings(season, after_round)?,
            false => self.kb.driver_standings(season, after_round)?,
        };
        if table.is_empty() {
            return Err(ToolError::NoData(format!(
                "no {} standings for {season}{}",
                if constructors {
                    "constructors'"
                } else {
                    "drivers'"
                },
                after_round
                    .map(|r| format!(" after round {r}"))
                    .unwrap_or_default()
            )));
        }
        Ok(json!({
            "season": season,
            "after_round": after_round.map_or(Value::from("last"), Value::from),
            "table": table.iter().take(10).map(|s| json!({
                "position": s.position, "name": s.name, "points": s.points, "wins": s.wins,
            })).collect::<Vec<_>>(),
        }))
    }

    fn driver_profile(&self, name: &str) -> Result<Value, ToolError> {
        let driver = self.resolver.driver(&self.kb, name, None)?;
        let career = self.kb.driver_career(driver.driver_id)?;
        let seasons = self.kb.driver_seasons(driver.driver_id)?;
        let titles: Vec<i64> = self
            .kb
            .all_champions()?
            .into_iter()
            .filter(|c| c.driver_id == Some(driver.driver_id))
            .map(|c| c.season)
            .collect();
        let value = json!({
            "driver": driver.full_name(),
            "nationality": driver.nationality,
            "born": driver.dob,
            "number": driver.number,
            "code": driver.code,
            "starts": career.starts,
            "wins": career.wins,
            "podiums": career.podiums,
            "poles": career.poles,
            "titles": titles.len(),
            "title_seasons": titles,
        });
        self.dated(value, &seasons)
    }

    /// `value` with the first and last of `seasons`, and, for a subject still
    /// active in the data's last season, `as_of` the last race with results
    /// ("the 2025 Singapore Grand Prix").
    fn dated(&self, mut value: Value, seasons: &[i64]) -> Result<Value, ToolError> {
        value["first_season"] = seasons.first().copied().into();
        value["last_season"] = seasons.last().copied().into();
        if seasons.last() == Some(&self.resolver.current_season) {
            let race = self.kb.latest_race_with_results()?;
            value["as_of"] = race.map(|r| format!("the {}", r.label())).into();
        }
        Ok(value)
    }

    fn driver_season(&self, name: &str, season: i64) -> Result<Value, ToolError> {
        let driver = self.resolver.driver(&self.kb, name, Some(season))?;
        let teams = self.kb.driver_teams(driver.driver_id, season)?;
        if teams.is_empty() {
            return Err(ToolError::NoData(format!(
                "{} did not race in {season}",
                driver.full_name()
            )));
        }
        let teammates: Vec<Value> = self
            .kb
            .teammates(driver.driver_id, season)?
            .iter()
            .map(|m| json!({"driver": m.driver.full_name(), "team": m.constructor_name}))
            .collect();
        let mut value = json!({
            "driver": driver.full_name(),
            "season": season,
            "teams": teams,
        });
        // The standings before the teammates, a long list in the 1950s: a result
        // cut to a budget loses its tail.
        let standings = self.kb.driver_standings(season, None)?;
        if let Some(line) = standings.iter().find(|s| s.id == driver.driver_id) {
            value["championship_position"] = line.position.into();
            value["points"] = line.points.into();
            value["wins"] = line.wins.into();
        }
        value["teammates"] = teammates.into();
        Ok(value)
    }

    fn head_to_head(&self, name: &str, other: &str, season: i64) -> Result<Value, ToolError> {
        let a = self.resolver.driver(&self.kb, name, Some(season))?;
        let b = self.resolver.driver(&self.kb, other, Some(season))?;
        let started = |r: &RaceResult| {
            (r.grid > 0 || r.laps > 0) && !matches!(r.position_text.as_str(), "F" | "W")
        };
        let (mut a_ahead, mut b_ahead) = (0, 0);
        let mut teams: Vec<String> = Vec::new();
        for race in self.kb.season_races(season)? {
            let results = self.kb.results(race.race_id)?;
            let find = |id| results.iter().find(|r| r.driver_id == id && started(r));
            if let (Some(x), Some(y)) = (find(a.driver_id), find(b.driver_id)) {
                if x.constructor_id != y.constructor_id {
                    continue;
                }
                if !teams.contains(&x.constructor_name) {
                    teams.push(x.constructor_name.clone());
                }
                match x.position_order < y.position_order {
                    true => a_ahead += 1,
                    false => b_ahead += 1,
                }
            }
        }
        if a_ahead + b_ahead == 0 {
            return Err(ToolError::NoData(format!(
                "{} and {} did not race for the same team in {season}",
                a.full_name(),
                b.full_name()
            )));
        }
        Ok(json!({
            "season": season,
            "teams": teams,
            "races_together": a_ahead + b_ahead,
            "finished_ahead": {a.full_name(): a_ahead, b.full_name(): b_ahead},
        }))
    }

    fn team_profile(&self, name: &str) -> Result<Value, ToolError> {
        let team = self.resolver.team(name)?;
        let career = self.kb.constructor_career(team.constructor_id)?;
        let seasons = self.kb.constructor_seasons(team.constructor_id)?;
        let titles: Vec<i64> = self
            .kb
            .all_champions()?
            .into_iter()
            .filter(|c| c.constructor_name.as_deref() == Some(team.name.as_str()))
            .map(|c| c.season)
            .collect();
        let value = json!({
            "team": team.name,
            "nationality": team.nationality,
            "races_entered": career.entries,
            "wins": career.wins,
            "podiums": career.podiums,
            "poles": career.poles,
            "constructors_titles": titles.len(),
            "title_seasons": titles,
        });
        self.dated(value, &seasons)
    }

    fn circuit_info(&self, name: &str) -> Result<Value, ToolError> {
        let circuit = self.resolver.circuit(name)?;
        let races = self.kb.races_at_circuit(circuit.circuit_id)?;
        let mut held = Vec::new();
        for race in &races {
            if !self.kb.results(race.race_id)?.is_empty() {
                held.push(race);
            }
        }
        Ok(json!({
            "circuit": circuit.name,
            "location": circuit.location,
            "country": circuit.country,
            "first_grand_prix": races.first().map(|r| json!({"race": r.label(), "date": r.date})),
            "races_held": held.len(),
            "latest_race": held.last().map(|r| r.label()),
        }))
    }
}

/// A race's name, round, date and venue.
fn describe(race: &Race) -> Value {
    json!({
        "race": race.label(),
        "round": race.round,
        "date": race.date,
        "circuit": race.circuit_name,
        "location": race.location,
        "country": race.country,
    })
}

/// Positions 1 to 3 of a classification, each held by exactly one car, under
/// the words a question uses ("winner", "second", "third"): a small model reads
/// a named field more surely than an array's n-th entry.
fn add_places(value: &mut Value, results: &[RaceResult]) {
    for (p, place) in (1..=3).zip(["winner", "second", "third"]) {
        let mut at = results.iter().filter(|r| r.position == Some(p));
        if let (Some(r), None) = (at.next(), at.next()) {
            value[place] = json!({"driver": r.driver_name, "team": r.constructor_name});
        }
    }
}
