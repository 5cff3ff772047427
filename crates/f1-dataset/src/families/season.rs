//! Questions about a season: champions, runner-up, margin, rounds, winners.

use std::collections::BTreeMap;

use f1_data::query::SeasonChampions;

use super::{FactContext, Family};
use crate::fact::{Entity, Fact, FollowUp, Source};
use crate::text::{count, join_names, ordinal, points};
use crate::Result;

fn season_fact(
    family: &'static str,
    season: i64,
    slots: Vec<(&'static str, String)>,
    short: String,
    full: String,
    gold: Vec<Entity>,
) -> Fact {
    let mut slots = slots;
    slots.insert(0, ("season", season.to_string()));
    Fact {
        slots,
        short,
        full,
        gold,
        sources: vec![Source::new("season_champions", "year", season)],
        ..Fact::about(family, "season", &season.to_string())
    }
}

fn drivers_champion(ctx: &FactContext, c: &SeasonChampions) -> Result<Fact> {
    let season = c.season;
    let standings = ctx.kb.driver_standings(season, None)?;
    let team = match c.driver_id {
        Some(id) => ctx.kb.driver_teams(id, season)?.into_iter().next(),
        None => None,
    };
    let mut full = format!(
        "{} won the {season} Formula One drivers' championship",
        c.driver_name
    );
    if let Some(team) = &team {
        full.push_str(&format!(", driving for {team}"));
    }
    if let [first, second, ..] = standings.as_slice() {
        full.push_str(&format!(
            ", with {} points to runner-up {}'s {}",
            points(first.points),
            second.name,
            points(second.points)
        ));
    }
    full.push('.');
    let mut fact = season_fact(
        "drivers_champion",
        season,
        vec![],
        format!("{}.", c.driver_name),
        full,
        vec![ctx.person_or_name(c.driver_id, &c.driver_name)],
    );
    if let Some(titles) = c
        .driver_id
        .map(|id| super::driver::titles_fact(ctx, id))
        .transpose()?
    {
        fact.follow_ups.push(FollowUp {
            questions: &[
                "How many world titles did that driver win in total?",
                "How many championships did the champion win altogether?",
            ],
            fact: titles,
        });
    }
    Ok(fact)
}

fn constructors_champion(c: &SeasonChampions) -> Option<Fact> {
    let team = c.constructor_name.as_ref()?;
    Some(season_fact(
        "constructors_champion",
        c.season,
        vec![],
        format!("{team}."),
        format!(
            "{team} won the {} Formula One constructors' championship.",
            c.season
        ),
        vec![Entity::text(team)],
    ))
}

fn runner_up(ctx: &FactContext, season: i64) -> Result<Option<Fact>> {
    if ctx.kb.season_champions(season)?.is_none() {
        return Ok(None);
    }
    let standings = ctx.kb.driver_standings(season, None)?;
    let [first, second, ..] = standings.as_slice() else {
        return Ok(None);
    };
    if second.position != Some(2) {
        return Ok(None);
    }
    let margin = first.points - second.points;
    let mut fact = season_fact(
        "championship_runner_up",
        season,
        vec![],
        format!("{}.", second.name),
        format!(
            "{} finished second in the {season} drivers' championship with {} points, {} behind champion {}.",
            second.name,
            points(second.points),
            count_points(margin),
            first.name
        ),
        vec![ctx.person(second.id, &second.name)],
    );
    fact.sources.push(Source::new(
        "driver_standings",
        "driver_standings_id",
        second.row_id,
    ));
    Ok(Some(fact))
}

fn count_points(p: f64) -> String {
    if p == 1.0 {
        "1 point".to_string()
    } else {
        format!("{} points", points(p))
    }
}

fn title_margin(ctx: &FactContext, season: i64) -> Result<Option<Fact>> {
    let standings = ctx.kb.driver_standings(season, None)?;
    let [first, second, ..] = standings.as_slice() else {
        return Ok(None);
    };
    let margin = first.points - second.points;
    let mut fact = season_fact(
        "title_margin",
        season,
        vec![
            ("champion", first.name.clone()),
            ("runner_up", second.name.clone()),
        ],
        format!("{}.", count_points(margin)),
        format!(
            "{} won the {season} title by {}: {} points to {}'s {}.",
            first.name,
            count_points(margin),
            points(first.points),
            second.name,
            points(second.points)
        ),
        vec![Entity::points(margin)],
    );
    fact.sources.extend([
        Source::new("driver_standings", "driver_standings_id", first.row_id),
        Source::new("driver_standings", "driver_standings_id", second.row_id),
    ]);
    Ok(Some(fact))
}

/// Race winners of a complete season: (driver id, name) per race, in round order.
fn season_winners(ctx: &FactContext, season: i64) -> Vec<(i64, String, i64)> {
    ctx.races
        .iter()
        .filter(|(race, _)| race.season == season)
        .flat_map(|(_, results)| results.iter().filter(|r| r.position == Some(1)))
        .map(|r| (r.driver_id, r.driver_name.clone(), r.result_id))
        .collect()
}

fn rounds(ctx: &FactContext, season: i64) -> Result<Option<Fact>> {
    let races = ctx.kb.season_races(season)?;
    if races.is_empty() {
        return Ok(None);
    }
    let n = races.len() as i64;
    let indy = races.iter().any(|r| r.name == "Indianapolis 500");
    let note = if indy {
        ", including the Indianapolis 500"
    } else {
        ""
    };
    let mut fact = season_fact(
        "season_rounds",
        season,
        vec![],
        format!("{}.", count(n, "race", "races")),
        format!(
            "The {season} Formula One World Championship had {}{note}.",
            count(n, "race", "races")
        ),
        vec![Entity::number(n)],
    );
    fact.sources = races
        .iter()
        .map(|r| Source::new("races", "race_id", r.race_id))
        .collect();
    Ok(Some(fact))
}

fn distinct_winners(ctx: &FactContext, season: i64) -> Result<Option<Fact>> {
    let winners = season_winners(ctx, season);
    if winners.is_empty() {
        return Ok(None);
    }
    let mut names: Vec<&str> = Vec::new();
    for (_, name, _) in &winners {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    let n = names.len() as i64;
    let list = if n <= 8 {
        format!(": {}", join_names(&names))
    } else {
        String::new()
    };
    let mut fact = season_fact(
        "season_distinct_winners",
        season,
        vec![],
        format!("{}.", count(n, "driver", "drivers")),
        format!(
            "{} won at least one race in {season}{list}.",
            capitalize_count(n)
        ),
        vec![Entity::number(n)],
    );
    fact.sources = winners
        .iter()
        .map(|(_, _, id)| Source::new("results", "result_id", *id))
        .collect();
    Ok(Some(fact))
}

fn capitalize_count(n: i64) -> String {
    if n == 1 {
        "One driver".to_string()
    } else {
        format!("{n} different drivers")
    }
}

fn most_wins(ctx: &FactContext, season: i64) -> Result<Option<Fact>> {
    let winners = season_winners(ctx, season);
    let mut wins: BTreeMap<i64, (String, i64)> = BTreeMap::new();
    for (id, name, _) in &winners {
        wins.entry(*id).or_insert_with(|| (name.clone(), 0)).1 += 1;
    }
    let Some(best) = wins.values().map(|(_, n)| *n).max() else {
        return Ok(None);
    };
    let mut top = wins.iter().filter(|(_, (_, n))| *n == best);
    let (Some((&driver_id, (name, _))), None) = (top.next(), top.next()) else {
        return Ok(None);
    };
    let rounds = ctx.kb.season_races(season)?.len() as i64;
    let mut fact = season_fact(
        "most_wins_season",
        season,
        vec![],
        format!("{name}."),
        format!("{name} won the most races in {season}: {best} of the {rounds} rounds."),
        vec![ctx.person(driver_id, name)],
    );
    fact.sources = winners
        .iter()
        .filter(|(id, _, _)| *id == driver_id)
        .map(|(_, _, result)| Source::new("results", "result_id", *result))
        .collect();
    Ok(Some(fact))
}

/// Who led the drivers' championship after the middle round of `season` (of
/// the rounds run so far, for a season still running).
fn leader_after_round(ctx: &FactContext, season: i64) -> Result<Option<Fact>> {
    let Some(last_round) = ctx
        .races
        .iter()
        .filter(|(race, _)| race.season == season)
        .map(|(race, _)| race.round)
        .max()
    else {
        return Ok(None);
    };
    let round = (last_round + 1) / 2;
    let standings = ctx.kb.driver_standings(season, Some(round))?;
    let [leader, second, ..] = standings.as_slice() else {
        return Ok(None);
    };
    if leader.position != Some(1) || second.points == leader.points {
        return Ok(None);
    }
    let mut fact = season_fact(
        "standings_leader_after_round",
        season,
        vec![("after_round", round.to_string())],
        format!("{}.", leader.name),
        format!(
            "{} led the {season} drivers' championship after round {round}, with {} points.",
            leader.name,
            points(leader.points)
        ),
        vec![ctx.person(leader.id, &leader.name)],
    );
    fact.sources = vec![Source::new(
        "driver_standings",
        "driver_standings_id",
        leader.row_id,
    )];
    Ok(Some(fact))
}

/// Who finished 3rd, 4th or 5th (by season) in a complete season's drivers'
/// championship, or 2nd, 3rd or 4th in the constructors'.
fn championship_position(
    ctx: &FactContext,
    season: i64,
    constructors: bool,
) -> Result<Option<Fact>> {
    let (standings, position, family, championship) = if constructors {
        (
            ctx.kb.constructor_standings(season, None)?,
            2 + season.rem_euclid(3),
            "constructors_championship_position",
            "constructors",
        )
    } else {
        (
            ctx.kb.driver_standings(season, None)?,
            3 + season.rem_euclid(3),
            "drivers_championship_position",
            "drivers",
        )
    };
    let mut at = standings.iter().filter(|s| s.position == Some(position));
    let (Some(line), None) = (at.next(), at.next()) else {
        return Ok(None);
    };
    let place = ordinal(position);
    let gold = if constructors {
        Entity::text(&line.name)
    } else {
        ctx.person(line.id, &line.name)
    };
    let mut slots = vec![("position", place.clone())];
    if constructors {
        slots.push(("championship", championship.to_string()));
    }
    let mut fact = season_fact(
        family,
        season,
        slots,
        format!("{}.", line.name),
        format!(
            "{} finished {place} in the {season} {championship}' championship with {} points.",
            line.name,
            points(line.points)
        ),
        vec![gold],
    );
    let table = if constructors {
        ("constructor_standings", "constructor_standings_id")
    } else {
        ("driver_standings", "driver_standings_id")
    };
    fact.sources = vec![Source::new(table.0, table.1, line.row_id)];
    Ok(Some(fact))
}

/// Applies `make` to every season with results, the running one included.
fn each_season_run(
    ctx: &FactContext,
    make: impl Fn(&FactContext, i64) -> Result<Option<Fact>>,
) -> Result<Vec<Fact>> {
    let seasons: std::collections::BTreeSet<i64> =
        ctx.races.iter().map(|(race, _)| race.season).collect();
    let mut facts = Vec::new();
    for season in seasons {
        facts.extend(make(ctx, season)?);
    }
    Ok(facts)
}

/// Applies `make` to every complete season.
fn each_season(
    ctx: &FactContext,
    make: impl Fn(&FactContext, &SeasonChampions) -> Result<Option<Fact>>,
) -> Result<Vec<Fact>> {
    let mut facts = Vec::new();
    for champions in ctx.kb.all_champions()? {
        facts.extend(make(ctx, &champions)?);
    }
    Ok(facts)
}

pub const FAMILIES: &[Family] = &[
    Family {
        name: "drivers_champion",
        phrasings: &[
            "Who won the {season} Formula One World Championship?",
            "Who was the {season} Formula One world champion?",
            "Which driver won the {season} drivers' championship?",
            "Who took the drivers' title in {season}?",
        ],
        facts: |ctx| each_season(ctx, |ctx, c| drivers_champion(ctx, c).map(Some)),
    },
    Family {
        name: "constructors_champion",
        phrasings: &[
            "Which constructor won the {season} constructors' championship?",
            "Which team won the {season} constructors' title?",
            "Who were the {season} constructors' champions?",
            "Which team took the {season} Formula One constructors' championship?",
        ],
        facts: |ctx| each_season(ctx, |_, c| Ok(constructors_champion(c))),
    },
    Family {
        name: "championship_runner_up",
        phrasings: &[
            "Who finished runner-up in the {season} drivers' championship?",
            "Who came second in the {season} drivers' standings?",
            "Which driver was second in the {season} championship?",
            "Who was the {season} championship runner-up?",
        ],
        facts: |ctx| each_season(ctx, |ctx, c| runner_up(ctx, c.season)),
    },
    Family {
        name: "title_margin",
        phrasings: &[
            "By how many points did {champion} win the {season} title?",
            "What was {champion}'s winning margin in the {season} championship?",
            "How many points separated {champion} and {runner_up} at the end of {season}?",
            "How big was {champion}'s championship margin in {season}?",
        ],
        facts: |ctx| each_season(ctx, |ctx, c| title_margin(ctx, c.season)),
    },
    Family {
        name: "season_rounds",
        phrasings: &[
            "How many races were in the {season} Formula One season?",
            "How many rounds did the {season} championship have?",
            "How many Grands Prix counted for the {season} World Championship?",
            "How many World Championship races took place in {season}?",
        ],
        facts: |ctx| each_season(ctx, |ctx, c| rounds(ctx, c.season)),
    },
    Family {
        name: "season_distinct_winners",
        phrasings: &[
            "How many different drivers won a race in {season}?",
            "How many drivers won at least one Grand Prix in {season}?",
            "In {season}, how many different race winners were there?",
            "How many different Grand Prix winners did the {season} season have?",
        ],
        facts: |ctx| each_season(ctx, |ctx, c| distinct_winners(ctx, c.season)),
    },
    Family {
        name: "most_wins_season",
        phrasings: &[
            "Who won the most races in {season}?",
            "Which driver had the most wins in {season}?",
            "Who was the most successful race winner of {season}?",
            "Which driver took the most victories in the {season} season?",
        ],
        facts: |ctx| each_season(ctx, |ctx, c| most_wins(ctx, c.season)),
    },
    Family {
        name: "standings_leader_after_round",
        phrasings: &[
            "Who led the {season} drivers' championship after round {after_round}?",
            "Who was top of the {season} standings after round {after_round}?",
            "After round {after_round} of {season}, who led the championship?",
            "Which driver led the {season} title race after {after_round} rounds?",
        ],
        facts: |ctx| each_season_run(ctx, leader_after_round),
    },
    Family {
        name: "drivers_championship_position",
        phrasings: &[
            "Who finished {position} in the {season} drivers' championship?",
            "Which driver was {position} in the {season} standings?",
            "Who ended the {season} season {position} in the championship?",
            "In {season}, who finished {position} in the drivers' standings?",
        ],
        facts: |ctx| each_season(ctx, |ctx, c| championship_position(ctx, c.season, false)),
    },
    Family {
        name: "constructors_championship_position",
        phrasings: &[
            "Which team finished {position} in the {season} constructors' championship?",
            "Which constructor was {position} in the {season} constructors' standings?",
            "Who ended {season} {position} in the constructors' championship?",
            "In {season}, which team finished {position} among the constructors?",
        ],
        facts: |ctx| each_season(ctx, |ctx, c| championship_position(ctx, c.season, true)),
    },
];
