//! Questions about a driver: profile, career totals, debut, teams and teammates.

use std::collections::BTreeMap;

use f1_data::query::{Driver, Standing};

use super::{FactContext, Family};
use crate::fact::{Entity, Fact, Source};
use crate::text::{count, long_date, ordinal, points};
use crate::Result;

/// Career-total questions are asked of drivers with at least this many starts.
const CAREER_MIN_STARTS: i64 = 20;

fn driver_fact(
    family: &'static str,
    d: &Driver,
    short: String,
    full: String,
    gold: Vec<Entity>,
) -> Fact {
    Fact {
        slots: vec![("driver", d.full_name())],
        short,
        full,
        gold,
        sources: vec![Source::new("drivers", "driver_id", d.driver_id)],
        ..Fact::about(family, "driver", &d.driver_ref)
    }
}

fn each_driver(
    ctx: &FactContext,
    min_starts: i64,
    make: impl Fn(&FactContext, &Driver) -> Result<Option<Fact>>,
) -> Result<Vec<Fact>> {
    let mut facts = Vec::new();
    for driver in ctx.kb.drivers_with_starts(min_starts)? {
        if ctx.is_unique_name(&driver) {
            facts.extend(make(ctx, &driver)?);
        }
    }
    Ok(facts)
}

fn nationality(_: &FactContext, d: &Driver) -> Result<Option<Fact>> {
    Ok(d.nationality.as_ref().map(|n| {
        driver_fact(
            "driver_nationality",
            d,
            format!("{n}."),
            format!("{} is {} {n} driver.", d.full_name(), article(n)),
            vec![Entity::text(n)],
        )
    }))
}

fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('A' | 'E' | 'I' | 'O' | 'U') => "an",
        _ => "a",
    }
}

fn birth_date(_: &FactContext, d: &Driver) -> Result<Option<Fact>> {
    Ok(d.dob.as_ref().map(|dob| {
        driver_fact(
            "driver_birth_date",
            d,
            format!("{}.", long_date(dob)),
            format!(
                "{} was born on {}.{}",
                d.full_name(),
                long_date(dob),
                d.nationality
                    .as_ref()
                    .map(|n| format!(" They race under the {n} flag."))
                    .unwrap_or_default()
            ),
            vec![Entity::date(dob)],
        )
    }))
}

fn number(_: &FactContext, d: &Driver) -> Result<Option<Fact>> {
    Ok(d.number.map(|n| {
        driver_fact(
            "driver_number",
            d,
            format!("{n}."),
            format!("{} races with the permanent number {n}.", d.full_name()),
            vec![Entity::number(n)],
        )
    }))
}

fn code(_: &FactContext, d: &Driver) -> Result<Option<Fact>> {
    Ok(d.code.as_ref().map(|code| {
        driver_fact(
            "driver_code",
            d,
            format!("{code}."),
            format!("{}'s three-letter timing code is {code}.", d.full_name()),
            vec![Entity::text(code)],
        )
    }))
}

/// One career statistic: how to read it and how to say it.
struct Stat {
    family: &'static str,
    pick: fn(&f1_data::query::CareerTotals) -> i64,
    /// Short answer units, singular and plural.
    units: (&'static str, &'static str),
    /// "won {n} World Championship races" in the past tense, "has won" when active.
    past: fn(i64) -> String,
    present: fn(i64) -> String,
}

const WINS: Stat = Stat {
    family: "driver_career_wins",
    pick: |t| t.wins,
    units: ("win", "wins"),
    past: |n| match n {
        0 => "never won a World Championship race".into(),
        _ => format!(
            "won {}",
            count(n, "World Championship race", "World Championship races")
        ),
    },
    present: |n| match n {
        0 => "has yet to win a World Championship race".into(),
        _ => format!(
            "has won {}",
            count(n, "World Championship race", "World Championship races")
        ),
    },
};
const PODIUMS: Stat = Stat {
    family: "driver_career_podiums",
    pick: |t| t.podiums,
    units: ("podium", "podiums"),
    past: |n| match n {
        0 => "never finished on the podium".into(),
        _ => format!("finished on the podium {}", count(n, "time", "times")),
    },
    present: |n| match n {
        0 => "has yet to finish on the podium".into(),
        _ => format!("has finished on the podium {}", count(n, "time", "times")),
    },
};
const POLES: Stat = Stat {
    family: "driver_career_poles",
    pick: |t| t.poles,
    units: ("pole", "poles"),
    past: |n| match n {
        0 => "never started from pole position".into(),
        _ => format!("started from pole position {}", count(n, "time", "times")),
    },
    present: |n| match n {
        0 => "has yet to start from pole position".into(),
        _ => format!(
            "has started from pole position {}",
            count(n, "time", "times")
        ),
    },
};
const STARTS: Stat = Stat {
    family: "driver_career_starts",
    pick: |t| t.starts,
    units: ("start", "starts"),
    past: |n| {
        format!(
            "started {}",
            count(n, "World Championship race", "World Championship races")
        )
    },
    present: |n| {
        format!(
            "has started {}",
            count(n, "World Championship race", "World Championship races")
        )
    },
};

/// A career total, qualified by the career's span.
fn career(ctx: &FactContext, d: &Driver, stat: &Stat) -> Result<Option<Fact>> {
    let n = (stat.pick)(&ctx.kb.driver_career(d.driver_id)?);
    let span = ctx.span(&ctx.kb.driver_seasons(d.driver_id)?);
    let verb = if span.is_active() {
        (stat.present)(n)
    } else {
        (stat.past)(n)
    };
    Ok(Some(driver_fact(
        stat.family,
        d,
        format!("{}.", count(n, stat.units.0, stat.units.1)),
        format!("{} {verb}{}.", d.full_name(), span.describe()),
        vec![Entity::number(n)],
    )))
}

/// How many drivers' titles a driver won; also a follow-up of the champion question.
pub fn titles_fact(ctx: &FactContext, driver_id: i64) -> Result<Fact> {
    let d = ctx.driver(driver_id);
    let titles: Vec<i64> = ctx
        .kb
        .all_champions()?
        .into_iter()
        .filter(|c| c.driver_id == Some(driver_id))
        .map(|c| c.season)
        .collect();
    let n = titles.len() as i64;
    let seasons = titles.iter().map(i64::to_string).collect::<Vec<_>>();
    let detail = match n {
        0 => String::new(),
        _ => format!(" ({})", crate::text::join_names(&seasons)),
    };
    let active = ctx.span(&ctx.kb.driver_seasons(driver_id)?).is_active();
    let as_of = if active {
        format!(
            ", counting complete seasons up to {}",
            ctx.last_complete_season
        )
    } else {
        String::new()
    };
    let mut fact = driver_fact(
        "driver_titles",
        d,
        format!("{}.", count(n, "title", "titles")),
        format!(
            "{} {}{detail}{as_of}.",
            d.full_name(),
            match n {
                0 => "never won the drivers' championship".to_string(),
                _ => format!(
                    "won {}",
                    count(n, "drivers' championship", "drivers' championships")
                ),
            },
        ),
        vec![Entity::number(n)],
    );
    fact.sources.extend(
        titles
            .iter()
            .map(|s| Source::new("season_champions", "year", *s)),
    );
    Ok(fact)
}

fn debut(ctx: &FactContext, d: &Driver) -> Result<Option<Fact>> {
    let Some(&first) = ctx.kb.driver_seasons(d.driver_id)?.first() else {
        return Ok(None);
    };
    let team = ctx
        .kb
        .driver_teams(d.driver_id, first)?
        .into_iter()
        .next()
        .unwrap_or_default();
    Ok(Some(driver_fact(
        "driver_debut",
        d,
        format!("{first}."),
        format!(
            "{} made their World Championship debut in {first}, driving for {team}.",
            d.full_name()
        ),
        vec![Entity::text(first.to_string())],
    )))
}

/// A driver's single team in one season, with the teammate as a follow-up.
fn team_in_season(ctx: &FactContext, d: &Driver, season: i64) -> Result<Option<Fact>> {
    let teams = ctx.kb.driver_teams(d.driver_id, season)?;
    let [team] = teams.as_slice() else {
        return Ok(None);
    };
    let mut fact = season_driver_fact(
        "driver_team_season",
        d,
        season,
        format!("{team}."),
        format!("In {season}, {} drove for {team}.", d.full_name()),
        vec![Entity::text(team)],
    );
    fact.slots.push(("team", team.clone()));
    Ok(Some(fact))
}

/// A driver's line in the final table of `season` (the latest round's while the
/// season runs), with " so far" for a season still running.
fn championship_line(
    ctx: &FactContext,
    d: &Driver,
    season: i64,
) -> Result<Option<(Standing, &'static str)>> {
    let line = ctx
        .kb
        .driver_standings(season, None)?
        .into_iter()
        .find(|s| s.id == d.driver_id);
    let so_far = if season > ctx.last_complete_season {
        " so far"
    } else {
        ""
    };
    Ok(line.map(|line| (line, so_far)))
}

fn season_wins(ctx: &FactContext, d: &Driver, season: i64) -> Result<Option<Fact>> {
    let Some((line, so_far)) = championship_line(ctx, d, season)? else {
        return Ok(None);
    };
    if line.wins == 0 {
        return Ok(None);
    }
    let wins = count(line.wins, "race", "races");
    let mut fact = season_driver_fact(
        "driver_season_wins",
        d,
        season,
        format!("{}.", count(line.wins, "win", "wins")),
        format!("{} won {wins} in {season}{so_far}.", d.full_name()),
        vec![Entity::number(line.wins)],
    );
    fact.sources.push(Source::new(
        "driver_standings",
        "driver_standings_id",
        line.row_id,
    ));
    Ok(Some(fact))
}

fn season_points(ctx: &FactContext, d: &Driver, season: i64) -> Result<Option<Fact>> {
    let Some((line, so_far)) = championship_line(ctx, d, season)? else {
        return Ok(None);
    };
    if line.points <= 0.0 {
        return Ok(None);
    }
    let place = line
        .position
        .map(|p| format!(", {} in the championship", ordinal(p)))
        .unwrap_or_default();
    let mut fact = season_driver_fact(
        "driver_season_points",
        d,
        season,
        format!("{} points.", points(line.points)),
        format!(
            "{} scored {} points in {season}{so_far}{place}.",
            d.full_name(),
            points(line.points)
        ),
        vec![Entity::points(line.points)],
    );
    fact.sources.push(Source::new(
        "driver_standings",
        "driver_standings_id",
        line.row_id,
    ));
    Ok(Some(fact))
}

fn season_driver_fact(
    family: &'static str,
    d: &Driver,
    season: i64,
    short: String,
    full: String,
    gold: Vec<Entity>,
) -> Fact {
    Fact {
        slots: vec![("driver", d.full_name()), ("season", season.to_string())],
        short,
        full,
        gold,
        sources: vec![Source::new("drivers", "driver_id", d.driver_id)],
        ..Fact::about(
            family,
            "driver-season",
            &format!("{}/{season}", d.driver_ref),
        )
    }
}

/// The one teammate a driver had all season (None when there were several).
fn teammate(ctx: &FactContext, d: &Driver, season: i64) -> Result<Option<Fact>> {
    let mates = ctx.kb.teammates(d.driver_id, season)?;
    let [mate] = mates.as_slice() else {
        return Ok(None);
    };
    if !ctx.is_unique_name(&mate.driver) {
        return Ok(None);
    }
    let mut fact = season_driver_fact(
        "teammate_in_season",
        d,
        season,
        format!("{}.", mate.driver.full_name()),
        format!(
            "{}'s teammate at {} in {season} was {}.",
            d.full_name(),
            mate.constructor_name,
            mate.driver.full_name()
        ),
        vec![Entity::person(
            &mate.driver.full_name(),
            &mate.driver.surname,
        )],
    );
    fact.slots.push(("team", mate.constructor_name.clone()));
    fact.sources
        .push(Source::new("drivers", "driver_id", mate.driver.driver_id));
    Ok(Some(fact))
}

fn each_driver_season(
    ctx: &FactContext,
    make: impl Fn(&FactContext, &Driver, i64) -> Result<Option<Fact>>,
) -> Result<Vec<Fact>> {
    each_driver_all(ctx, |ctx, d| {
        let mut facts = Vec::new();
        for season in ctx.kb.driver_seasons(d.driver_id)? {
            facts.extend(make(ctx, d, season)?);
        }
        Ok(facts)
    })
}

fn each_driver_all(
    ctx: &FactContext,
    make: impl Fn(&FactContext, &Driver) -> Result<Vec<Fact>>,
) -> Result<Vec<Fact>> {
    let mut facts = Vec::new();
    for driver in ctx.kb.drivers_with_starts(1)? {
        if ctx.is_unique_name(&driver) {
            facts.extend(make(ctx, &driver)?);
        }
    }
    Ok(facts)
}

/// Teammates' race head-to-head: who finished ahead more often, over the races both
/// started for the same (single) team that season.
fn head_to_heads(ctx: &FactContext) -> Result<Vec<Fact>> {
    // (season, constructor) -> driver pair -> (first ahead, second ahead, result ids)
    type Tally = (i64, i64, Vec<i64>);
    let mut pairs: BTreeMap<(i64, i64, i64, i64), Tally> = BTreeMap::new();
    for (race, results) in &ctx.races {
        let started: Vec<_> = results
            .iter()
            .filter(|r| r.grid > 0 || r.laps > 0)
            .filter(|r| !matches!(r.position_text.as_str(), "F" | "W"))
            .collect();
        for a in &started {
            for b in &started {
                if a.constructor_id == b.constructor_id && a.driver_id < b.driver_id {
                    let tally = pairs
                        .entry((race.season, a.constructor_id, a.driver_id, b.driver_id))
                        .or_default();
                    if a.position_order < b.position_order {
                        tally.0 += 1;
                    } else {
                        tally.1 += 1;
                    }
                    tally.2.extend([a.result_id, b.result_id]);
                }
            }
        }
    }
    let mut facts = Vec::new();
    for ((season, _, first, second), (a, b, result_ids)) in pairs {
        let races = a + b;
        let teams_a = ctx.kb.driver_teams(first, season)?;
        let teams_b = ctx.kb.driver_teams(second, season)?;
        if races < 5 || a == b || teams_a.len() != 1 || teams_b.len() != 1 {
            continue;
        }
        let (d1, d2) = (ctx.driver(first), ctx.driver(second));
        if !ctx.is_unique_name(d1) || !ctx.is_unique_name(d2) {
            continue;
        }
        let (winner, loser, wins) = if a > b { (d1, d2, a) } else { (d2, d1, b) };
        let subject = format!("{season}/{}/{}", d1.driver_ref, d2.driver_ref);
        facts.push(Fact {
            slots: vec![
                ("season", season.to_string()),
                ("driver", d1.full_name()),
                ("other", d2.full_name()),
            ],
            short: format!("{}.", winner.full_name()),
            full: format!(
                "{} finished ahead of {} in {wins} of the {races} races they both started for {} in {season}.",
                winner.full_name(),
                loser.full_name(),
                teams_a[0]
            ),
            gold: vec![Entity::person(&winner.full_name(), &winner.surname)],
            sources: result_ids
                .into_iter()
                .map(|id| Source::new("results", "result_id", id))
                .collect(),
            ..Fact::about("teammate_head_to_head", "pair", &subject)
        });
    }
    Ok(facts)
}

pub const FAMILIES: &[Family] = &[
    Family {
        name: "driver_nationality",
        phrasings: &[
            "What nationality is {driver}?",
            "What is {driver}'s nationality?",
            "Which nationality does {driver} race under?",
            "Of what nationality is the driver {driver}?",
        ],
        facts: |ctx| each_driver(ctx, 1, nationality),
    },
    Family {
        name: "driver_birth_date",
        phrasings: &[
            "When was {driver} born?",
            "What is {driver}'s date of birth?",
            "On what date was {driver} born?",
            "What is the birth date of {driver}?",
        ],
        facts: |ctx| each_driver(ctx, 1, birth_date),
    },
    Family {
        name: "driver_number",
        phrasings: &[
            "What is {driver}'s permanent race number?",
            "Which car number does {driver} race with?",
            "What number does {driver} use?",
            "What is {driver}'s driver number?",
        ],
        facts: |ctx| each_driver(ctx, 1, number),
    },
    Family {
        name: "driver_code",
        phrasings: &[
            "What is {driver}'s three-letter code?",
            "Which abbreviation stands for {driver} on timing screens?",
            "What is the timing code for {driver}?",
            "What three-letter abbreviation identifies {driver}?",
        ],
        facts: |ctx| each_driver(ctx, 1, code),
    },
    Family {
        name: "driver_career_wins",
        phrasings: &[
            "How many Grands Prix has {driver} won?",
            "How many World Championship race wins does {driver} have?",
            "How many race victories has {driver} taken in Formula One?",
            "What is {driver}'s career win total?",
        ],
        facts: |ctx| each_driver(ctx, CAREER_MIN_STARTS, |ctx, d| career(ctx, d, &WINS)),
    },
    Family {
        name: "driver_career_podiums",
        phrasings: &[
            "How many podiums has {driver} scored?",
            "How many podium finishes does {driver} have?",
            "How many times has {driver} finished in the top three?",
            "What is {driver}'s career podium count?",
        ],
        facts: |ctx| each_driver(ctx, CAREER_MIN_STARTS, |ctx, d| career(ctx, d, &PODIUMS)),
    },
    Family {
        name: "driver_career_poles",
        phrasings: &[
            "How many times has {driver} started from pole position?",
            "How many pole positions does {driver} have?",
            "How many races has {driver} started from pole?",
            "What is {driver}'s career pole count?",
        ],
        facts: |ctx| each_driver(ctx, CAREER_MIN_STARTS, |ctx, d| career(ctx, d, &POLES)),
    },
    Family {
        name: "driver_career_starts",
        phrasings: &[
            "How many Grands Prix has {driver} started?",
            "How many race starts does {driver} have?",
            "In how many World Championship races has {driver} started?",
            "What is {driver}'s number of career starts?",
        ],
        facts: |ctx| each_driver(ctx, CAREER_MIN_STARTS, |ctx, d| career(ctx, d, &STARTS)),
    },
    Family {
        name: "driver_titles",
        phrasings: &[
            "How many world championships has {driver} won?",
            "How many drivers' titles does {driver} have?",
            "How many times was {driver} world champion?",
            "How many Formula One titles did {driver} win?",
        ],
        facts: |ctx| {
            each_driver(ctx, CAREER_MIN_STARTS, |ctx, d| {
                titles_fact(ctx, d.driver_id).map(Some)
            })
        },
    },
    Family {
        name: "driver_debut",
        phrasings: &[
            "In which season did {driver} make their Formula One debut?",
            "When did {driver} start their first World Championship race?",
            "In what year did {driver} first race in Formula One?",
            "Which year was {driver}'s first World Championship season?",
        ],
        facts: |ctx| each_driver(ctx, 1, debut),
    },
    Family {
        name: "driver_team_season",
        phrasings: &[
            "Which team did {driver} drive for in {season}?",
            "Who did {driver} race for in {season}?",
            "Which constructor was {driver} with in {season}?",
            "In {season}, which team did {driver} drive for?",
        ],
        facts: |ctx| each_driver_season(ctx, team_in_season),
    },
    Family {
        name: "teammate_in_season",
        phrasings: &[
            "Who was {driver}'s teammate at {team} in {season}?",
            "Who partnered {driver} at {team} in {season}?",
            "In {season}, who drove alongside {driver} at {team}?",
            "Which driver was {driver}'s teammate at {team} during {season}?",
        ],
        facts: |ctx| each_driver_season(ctx, teammate),
    },
    Family {
        name: "driver_season_wins",
        phrasings: &[
            "How many races did {driver} win in {season}?",
            "How many Grands Prix did {driver} win in the {season} season?",
            "In {season}, how many wins did {driver} take?",
            "How many victories did {driver} score in {season}?",
        ],
        facts: |ctx| each_driver_season(ctx, season_wins),
    },
    Family {
        name: "driver_season_points",
        phrasings: &[
            "How many points did {driver} score in {season}?",
            "How many championship points did {driver} get in {season}?",
            "In {season}, how many points did {driver} finish with?",
            "What was {driver}'s points total in {season}?",
        ],
        facts: |ctx| each_driver_season(ctx, season_points),
    },
    Family {
        name: "teammate_head_to_head",
        phrasings: &[
            "Who finished ahead more often in {season}, {driver} or {other}?",
            "In {season}, did {driver} or {other} finish ahead in more races?",
            "Between teammates {driver} and {other}, who won the {season} race head-to-head?",
            "Which of {driver} and {other} beat the other more often in {season} races?",
        ],
        facts: head_to_heads,
    },
];
