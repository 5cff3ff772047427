//! Questions about a constructor: wins, titles, nationality.

use f1_data::query::Constructor;

use super::{FactContext, Family};
use crate::fact::{Entity, Fact, Source};
use crate::text::count;
use crate::Result;

/// Constructors with fewer races entered are left out.
const MIN_RACES: i64 = 20;

fn constructor_fact(
    family: &'static str,
    c: &Constructor,
    short: String,
    full: String,
    gold: Entity,
) -> Fact {
    Fact {
        slots: vec![("team", c.name.clone())],
        short,
        full,
        gold: vec![gold],
        sources: vec![Source::new(
            "constructors",
            "constructor_id",
            c.constructor_id,
        )],
        ..Fact::about(family, "constructor", &c.constructor_ref)
    }
}

fn each_constructor(
    ctx: &FactContext,
    make: impl Fn(&FactContext, &Constructor) -> Result<Option<Fact>>,
) -> Result<Vec<Fact>> {
    let mut facts = Vec::new();
    for constructor in ctx.kb.constructors_with_races(MIN_RACES)? {
        facts.extend(make(ctx, &constructor)?);
    }
    Ok(facts)
}

fn wins(ctx: &FactContext, c: &Constructor) -> Result<Option<Fact>> {
    let totals = ctx.kb.constructor_career(c.constructor_id)?;
    let span = ctx.span(&ctx.kb.constructor_seasons(c.constructor_id)?);
    let verb = if span.is_active() { "has won" } else { "won" };
    Ok(Some(constructor_fact(
        "constructor_wins",
        c,
        format!("{}.", count(totals.wins, "win", "wins")),
        format!(
            "{} {verb} {} of the {} World Championship races it entered{}.",
            c.name,
            totals.wins,
            totals.entries,
            span.describe()
        ),
        Entity::number(totals.wins),
    )))
}

fn titles(ctx: &FactContext, c: &Constructor) -> Result<Option<Fact>> {
    let seasons: Vec<i64> = ctx
        .kb
        .all_champions()?
        .into_iter()
        .filter(|s| s.constructor_name.as_deref() == Some(c.name.as_str()))
        .map(|s| s.season)
        .collect();
    let n = seasons.len() as i64;
    let list = seasons.iter().map(i64::to_string).collect::<Vec<_>>();
    let detail = if (1..=8).contains(&n) {
        format!(" ({})", crate::text::join_names(&list))
    } else {
        String::new()
    };
    let mut fact = constructor_fact(
        "constructor_titles",
        c,
        format!("{}.", count(n, "title", "titles")),
        format!(
            "{} won the constructors' championship {}{detail}.",
            c.name,
            count(n, "time", "times"),
        ),
        Entity::number(n),
    );
    fact.sources.extend(
        seasons
            .iter()
            .map(|s| Source::new("season_champions", "year", *s)),
    );
    Ok(Some(fact))
}

fn nationality(_: &FactContext, c: &Constructor) -> Result<Option<Fact>> {
    Ok(c.nationality.as_ref().map(|n| {
        constructor_fact(
            "constructor_nationality",
            c,
            format!("{n}."),
            format!("{} is a {n} constructor.", c.name),
            Entity::text(n),
        )
    }))
}

pub const FAMILIES: &[Family] = &[
    Family {
        name: "constructor_wins",
        phrasings: &[
            "How many Grands Prix has {team} won?",
            "How many World Championship race wins does {team} have?",
            "How many races has the {team} team won?",
            "What is {team}'s total of Grand Prix victories?",
        ],
        facts: |ctx| each_constructor(ctx, wins),
    },
    Family {
        name: "constructor_titles",
        phrasings: &[
            "How many constructors' championships has {team} won?",
            "How many constructors' titles does {team} have?",
            "How many times did {team} win the constructors' championship?",
            "What is {team}'s number of constructors' titles?",
        ],
        facts: |ctx| each_constructor(ctx, titles),
    },
    Family {
        name: "constructor_nationality",
        phrasings: &[
            "What nationality is the {team} team?",
            "Which nationality is the constructor {team}?",
            "What is the nationality of {team}?",
            "Under which nationality does {team} compete?",
        ],
        facts: |ctx| each_constructor(ctx, nationality),
    },
];
