//! Questions about one race: winner, podium, pole, fastest lap, venue, pit stops...

use f1_data::query::{Race, RaceResult};

use super::{FactContext, Family};
use crate::fact::{Entity, Fact, FollowUp, Source};
use crate::text::{count, join_names, long_date, ordinal};
use crate::Result;

/// A race and its classification, with its question label.
struct RaceFacts<'a> {
    race: &'a Race,
    /// "2021 Abu Dhabi Grand Prix".
    label: String,
    results: &'a [RaceResult],
}

impl RaceFacts<'_> {
    fn fact(&self, family: &'static str, short: String, full: String, gold: Vec<Entity>) -> Fact {
        let subject = format!("{}-{:02}", self.race.season, self.race.round);
        Fact {
            slots: vec![("race", self.label.clone())],
            short,
            full,
            gold,
            sources: vec![Source::new("races", "race_id", self.race.race_id)],
            ..Fact::about(family, "race", &subject)
        }
    }

    /// The single result in `position`, None when absent or shared.
    fn at(&self, position: i64) -> Option<&RaceResult> {
        let mut found = self.results.iter().filter(|r| r.position == Some(position));
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }
}

fn person(result: &RaceResult, ctx: &FactContext) -> Entity {
    ctx.person(result.driver_id, &result.driver_name)
}

/// Applies `make` to every race with a unique label.
fn each_race(
    ctx: &FactContext,
    mut make: impl FnMut(&RaceFacts, &FactContext) -> Result<Option<Fact>>,
) -> Result<Vec<Fact>> {
    let mut facts = Vec::new();
    for (race, results) in &ctx.races {
        let info = RaceFacts {
            race,
            label: race.label(),
            results,
        };
        if let Some(fact) = make(&info, ctx)? {
            facts.push(fact);
        }
    }
    Ok(facts)
}

fn winner_fact(r: &RaceFacts, ctx: &FactContext) -> Result<Option<Fact>> {
    let Some(winner) = r.at(1) else {
        return Ok(None);
    };
    let mut fact = r.fact(
        "race_winner",
        format!("{}.", winner.driver_name),
        format!(
            "{} won the {}, driving for {}. It was round {} of the {} season, held at {}.",
            winner.driver_name,
            r.label,
            winner.constructor_name,
            r.race.round,
            r.race.season,
            r.race.circuit_name
        ),
        vec![person(winner, ctx)],
    );
    fact.sources
        .push(Source::new("results", "result_id", winner.result_id));
    Ok(Some(fact))
}

fn runner_up_fact(r: &RaceFacts, ctx: &FactContext) -> Result<Option<Fact>> {
    let (Some(second), Some(winner)) = (r.at(2), r.at(1)) else {
        return Ok(None);
    };
    let mut fact = r.fact(
        "race_runner_up",
        format!("{}.", second.driver_name),
        format!(
            "{} finished second in the {} for {}, behind the winner {}.",
            second.driver_name, r.label, second.constructor_name, winner.driver_name
        ),
        vec![person(second, ctx)],
    );
    fact.sources
        .push(Source::new("results", "result_id", second.result_id));
    Ok(Some(fact))
}

fn winner_team_fact(r: &RaceFacts) -> Result<Option<Fact>> {
    let Some(winner) = r.at(1) else {
        return Ok(None);
    };
    let mut fact = r.fact(
        "race_winner_team",
        format!("{}.", winner.constructor_name),
        format!(
            "{} won the {}, with {} driving.",
            winner.constructor_name, r.label, winner.driver_name
        ),
        vec![Entity::text(&winner.constructor_name)],
    );
    fact.sources
        .push(Source::new("results", "result_id", winner.result_id));
    Ok(Some(fact))
}

fn podium_fact(r: &RaceFacts, ctx: &FactContext) -> Result<Option<Fact>> {
    let podium: Vec<&RaceResult> = (1..=3).filter_map(|p| r.at(p)).collect();
    if podium.len() != 3 {
        return Ok(None);
    }
    let names: Vec<&str> = podium.iter().map(|p| p.driver_name.as_str()).collect();
    let described: Vec<String> = podium
        .iter()
        .map(|p| {
            format!(
                "{} ({}, {})",
                p.driver_name,
                ordinal(p.position.unwrap_or(0)),
                p.constructor_name
            )
        })
        .collect();
    let gold = podium.iter().map(|p| person(p, ctx)).collect();
    let mut fact = r.fact(
        "race_podium",
        format!("{}.", join_names(&names)),
        format!(
            "The podium of the {} was {}.",
            r.label,
            join_names(&described)
        ),
        gold,
    );
    fact.sources.extend(
        podium
            .iter()
            .map(|p| Source::new("results", "result_id", p.result_id)),
    );
    Ok(Some(fact))
}

fn pole_fact(r: &RaceFacts, ctx: &FactContext) -> Result<Option<Fact>> {
    let mut on_pole = r.results.iter().filter(|x| x.grid == 1);
    let (Some(pole), None) = (on_pole.next(), on_pole.next()) else {
        return Ok(None);
    };
    let finish = match pole.position {
        Some(1) => "went on to win".to_string(),
        Some(p) => format!("finished {}", ordinal(p)),
        None => "did not finish classified".to_string(),
    };
    let mut fact = r.fact(
        "pole_position",
        format!("{}.", pole.driver_name),
        format!(
            "{} started the {} from pole position for {} and {finish}.",
            pole.driver_name, r.label, pole.constructor_name
        ),
        vec![person(pole, ctx)],
    );
    fact.sources
        .push(Source::new("results", "result_id", pole.result_id));
    Ok(Some(fact))
}

fn fastest_lap_fact(r: &RaceFacts, ctx: &FactContext) -> Result<Option<Fact>> {
    let Some(lap) = ctx.kb.fastest_lap(r.race.race_id)? else {
        return Ok(None);
    };
    let on_lap = lap.lap.map(|l| format!(" on lap {l}")).unwrap_or_default();
    let mut fact = r.fact(
        "fastest_lap",
        format!("{}.", lap.driver_name),
        format!(
            "{} set the fastest lap of the {}, a {}{on_lap} for {}.",
            lap.driver_name, r.label, lap.time, lap.constructor_name
        ),
        vec![ctx.person(lap.driver_id, &lap.driver_name)],
    );
    fact.sources
        .push(Source::new("results", "result_id", lap.result_id));
    if let Some(n) = lap.lap {
        let mut which = r.fact(
            "fastest_lap_lap",
            format!("Lap {n}."),
            format!(
                "{} set the fastest lap of the {} on lap {n}, with a {}.",
                lap.driver_name, r.label, lap.time
            ),
            vec![Entity::number(n)],
        );
        which
            .sources
            .push(Source::new("results", "result_id", lap.result_id));
        fact.follow_ups.push(FollowUp {
            questions: &["On which lap was it set?", "Which lap was that on?"],
            fact: which,
        });
    }
    Ok(Some(fact))
}

fn location_fact(r: &RaceFacts, _ctx: &FactContext) -> Result<Option<Fact>> {
    let race = r.race;
    let mut circuit = Entity::text(&race.circuit_name);
    let place = match (&race.location, &race.country) {
        (Some(location), Some(country)) => {
            circuit.add_alias(location);
            format!(" in {location}, {country}")
        }
        _ => String::new(),
    };
    let mut fact = r.fact(
        "race_location",
        format!("{}{place}.", race.circuit_name),
        format!(
            "The {} was held at {}{place}, on {}.",
            r.label,
            race.circuit_name,
            long_date(&race.date)
        ),
        vec![circuit],
    );
    fact.sources
        .push(Source::new("circuits", "circuit_id", race.circuit_id));
    Ok(Some(fact))
}

fn date_fact(r: &RaceFacts, _ctx: &FactContext) -> Result<Option<Fact>> {
    Ok(Some(r.fact(
        "race_date",
        format!("{}.", long_date(&r.race.date)),
        format!(
            "The {} took place on {}, at {}.",
            r.label,
            long_date(&r.race.date),
            r.race.circuit_name
        ),
        vec![Entity::date(&r.race.date)],
    )))
}

fn retirements_fact(r: &RaceFacts, _ctx: &FactContext) -> Result<Option<Fact>> {
    let retired: Vec<&RaceResult> = r
        .results
        .iter()
        .filter(|x| x.position_text == "R")
        .collect();
    let n = retired.len() as i64;
    let names: Vec<&str> = retired.iter().map(|x| x.driver_name.as_str()).collect();
    let who = match n {
        0 => String::new(),
        1..=6 => format!(": {}", join_names(&names)),
        _ => format!(", among them {}", join_names(&names[..3])),
    };
    let mut fact = r.fact(
        "race_retirements",
        format!("{}.", count(n, "driver", "drivers")),
        format!(
            "{} retired from the {}{who}.",
            capitalize(&count(n, "driver", "drivers")),
            r.label
        ),
        vec![Entity::number(n)],
    );
    fact.sources.extend(
        retired
            .iter()
            .map(|x| Source::new("results", "result_id", x.result_id)),
    );
    Ok(Some(fact))
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn sprint_fact(r: &RaceFacts, ctx: &FactContext) -> Result<Option<Fact>> {
    let sprint = ctx.kb.sprint_results(r.race.race_id)?;
    let Some(winner) = sprint.iter().find(|x| x.position == Some(1)) else {
        return Ok(None);
    };
    let mut fact = r.fact(
        "sprint_winner",
        format!("{}.", winner.driver_name),
        format!(
            "{} won the sprint at the {} weekend, driving for {}.",
            winner.driver_name, r.label, winner.constructor_name
        ),
        vec![person(winner, ctx)],
    );
    fact.sources
        .push(Source::new("sprint_results", "result_id", winner.result_id));
    Ok(Some(fact))
}

fn pit_stop_fact(r: &RaceFacts, ctx: &FactContext) -> Result<Option<Fact>> {
    let stops = ctx.kb.pit_stops(r.race.race_id)?;
    let Some(best) = stops.iter().filter_map(|s| s.milliseconds).min() else {
        return Ok(None);
    };
    let mut fastest = stops.iter().filter(|s| s.milliseconds == Some(best));
    let (Some(stop), None) = (fastest.next(), fastest.next()) else {
        return Ok(None);
    };
    let seconds = format!("{:.3}", best as f64 / 1000.0);
    let mut fact = r.fact(
        "fastest_pit_stop",
        format!("{}.", stop.driver_name),
        format!(
            "{} had the shortest pit stop of the {}: {seconds} seconds in the pit lane, on lap {}.",
            stop.driver_name, r.label, stop.lap
        ),
        vec![ctx.person(stop.driver_id, &stop.driver_name)],
    );
    fact.sources.push(Source {
        table: "pit_stops",
        key: vec![
            ("race_id", r.race.race_id),
            ("driver_id", stop.driver_id),
            ("stop", stop.stop),
        ],
    });
    Ok(Some(fact))
}

fn biggest_gain_fact(r: &RaceFacts, ctx: &FactContext) -> Result<Option<Fact>> {
    let gain = |x: &RaceResult| x.position.filter(|_| x.grid > 0).map(|p| x.grid - p);
    let Some(best) = r.results.iter().filter_map(gain).max().filter(|g| *g > 0) else {
        return Ok(None);
    };
    let mut top = r.results.iter().filter(|x| gain(x) == Some(best));
    let (Some(driver), None) = (top.next(), top.next()) else {
        return Ok(None);
    };
    let mut fact = r.fact(
        "biggest_gain",
        format!("{}.", driver.driver_name),
        format!(
            "{} gained the most places in the {}: {}, from {} on the grid to {} at the finish.",
            driver.driver_name,
            r.label,
            count(best, "place", "places"),
            ordinal(driver.grid),
            ordinal(driver.position.unwrap_or(0))
        ),
        vec![person(driver, ctx)],
    );
    fact.sources
        .push(Source::new("results", "result_id", driver.result_id));
    Ok(Some(fact))
}

pub const FAMILIES: &[Family] = &[
    Family {
        name: "race_winner",
        phrasings: &[
            "Who won the {race}?",
            "Which driver won the {race}?",
            "Who took victory at the {race}?",
            "Who was the winner of the {race}?",
            "Tell me who won the {race}.",
        ],
        facts: |ctx| each_race(ctx, winner_fact),
    },
    Family {
        name: "race_runner_up",
        phrasings: &[
            "Who finished second at the {race}?",
            "Which driver came second in the {race}?",
            "Who was the runner-up at the {race}?",
            "Who took second place in the {race}?",
        ],
        facts: |ctx| each_race(ctx, runner_up_fact),
    },
    Family {
        name: "race_winner_team",
        phrasings: &[
            "Which constructor won the {race}?",
            "Which team won the {race}?",
            "What team took the win at the {race}?",
            "Which team's car won the {race}?",
        ],
        facts: |ctx| each_race(ctx, |r, _| winner_team_fact(r)),
    },
    Family {
        name: "race_podium",
        phrasings: &[
            "Who finished on the podium at the {race}?",
            "Who were the top three finishers at the {race}?",
            "Which drivers made the podium in the {race}?",
            "Name the podium finishers of the {race}.",
        ],
        facts: |ctx| each_race(ctx, podium_fact),
    },
    Family {
        name: "pole_position",
        phrasings: &[
            "Who started from pole position at the {race}?",
            "Who was on pole for the {race}?",
            "Which driver started first on the grid at the {race}?",
            "Who lined up on pole for the {race}?",
        ],
        facts: |ctx| each_race(ctx, pole_fact),
    },
    Family {
        name: "fastest_lap",
        phrasings: &[
            "Who set the fastest lap of the {race}?",
            "Which driver recorded the fastest lap at the {race}?",
            "Who had the quickest lap in the {race}?",
            "Whose lap was the fastest at the {race}?",
        ],
        facts: |ctx| each_race(ctx, fastest_lap_fact),
    },
    Family {
        name: "race_location",
        phrasings: &[
            "Where was the {race} held?",
            "At which circuit did the {race} take place?",
            "Which track hosted the {race}?",
            "Where did the {race} take place?",
        ],
        facts: |ctx| each_race(ctx, location_fact),
    },
    Family {
        name: "race_date",
        phrasings: &[
            "When was the {race} held?",
            "On what date did the {race} take place?",
            "What was the date of the {race}?",
            "When did the {race} happen?",
        ],
        facts: |ctx| each_race(ctx, date_fact),
    },
    Family {
        name: "race_retirements",
        phrasings: &[
            "How many drivers retired from the {race}?",
            "How many retirements were there in the {race}?",
            "How many cars retired from the {race}?",
            "How many starters of the {race} retired?",
        ],
        facts: |ctx| each_race(ctx, retirements_fact),
    },
    Family {
        name: "sprint_winner",
        phrasings: &[
            "Who won the sprint at the {race} weekend?",
            "Which driver won the sprint race at the {race}?",
            "Who took victory in the sprint at the {race}?",
            "Who was the sprint winner at the {race} weekend?",
        ],
        facts: |ctx| each_race(ctx, sprint_fact),
    },
    Family {
        name: "fastest_pit_stop",
        phrasings: &[
            "Who had the fastest pit stop at the {race}?",
            "Who made the quickest pit stop in the {race}?",
            "Which driver had the shortest pit stop at the {race}?",
            "Whose pit stop was the fastest at the {race}?",
        ],
        facts: |ctx| each_race(ctx, pit_stop_fact),
    },
    Family {
        name: "biggest_gain",
        phrasings: &[
            "Who gained the most places at the {race}?",
            "Which driver made up the most positions in the {race}?",
            "Who climbed the most places from the grid in the {race}?",
            "Who had the biggest grid-to-finish gain at the {race}?",
        ],
        facts: |ctx| each_race(ctx, biggest_gain_fact),
    },
];
