//! Questions about a circuit: where it is, its first Grand Prix, races held there.

use f1_data::query::Circuit;

use super::{FactContext, Family};
use crate::fact::{Entity, Fact, Source};
use crate::text::{count, long_date};
use crate::Result;

fn circuit_fact(
    family: &'static str,
    c: &Circuit,
    short: String,
    full: String,
    gold: Entity,
) -> Fact {
    Fact {
        slots: vec![("circuit", c.name.clone())],
        short,
        full,
        gold: vec![gold],
        sources: vec![Source::new("circuits", "circuit_id", c.circuit_id)],
        ..Fact::about(family, "circuit", &c.circuit_ref)
    }
}

fn each_circuit(
    ctx: &FactContext,
    make: impl Fn(&FactContext, &Circuit) -> Result<Option<Fact>>,
) -> Result<Vec<Fact>> {
    let mut facts = Vec::new();
    for circuit in ctx.kb.circuits_with_races()? {
        facts.extend(make(ctx, &circuit)?);
    }
    Ok(facts)
}

fn location(_: &FactContext, c: &Circuit) -> Result<Option<Fact>> {
    let (Some(location), Some(country)) = (&c.location, &c.country) else {
        return Ok(None);
    };
    let mut gold = Entity::text(country);
    gold.add_alias(location);
    Ok(Some(circuit_fact(
        "circuit_location",
        c,
        format!("{location}, {country}."),
        format!("{} is in {location}, {country}.", c.name),
        gold,
    )))
}

fn first_race(ctx: &FactContext, c: &Circuit) -> Result<Option<Fact>> {
    let races = ctx.kb.races_at_circuit(c.circuit_id)?;
    let Some(first) = races.first() else {
        return Ok(None);
    };
    let mut fact = circuit_fact(
        "circuit_first_gp",
        c,
        format!("{}, the {} {}.", first.season, first.season, first.name),
        format!(
            "The first World Championship race at {} was the {} {}, held on {}.",
            c.name,
            first.season,
            first.name,
            long_date(&first.date)
        ),
        Entity::text(first.season.to_string()),
    );
    fact.sources
        .push(Source::new("races", "race_id", first.race_id));
    Ok(Some(fact))
}

fn race_count(ctx: &FactContext, c: &Circuit) -> Result<Option<Fact>> {
    let races = ctx.kb.races_at_circuit(c.circuit_id)?;
    let held: Vec<_> = races
        .iter()
        .filter(|r| ctx.has_results(r.race_id))
        .collect();
    let n = held.len() as i64;
    if n == 0 {
        return Ok(None);
    }
    let seasons: Vec<i64> = held.iter().map(|r| r.season).collect();
    let span = ctx.span(&seasons);
    let verb = if span.is_active() { "has held" } else { "held" };
    let mut fact = circuit_fact(
        "races_at_circuit",
        c,
        format!("{}.", count(n, "race", "races")),
        format!(
            "{} {verb} {}{}.",
            c.name,
            count(n, "World Championship race", "World Championship races"),
            span.describe()
        ),
        Entity::number(n),
    );
    fact.sources = held
        .iter()
        .map(|r| Source::new("races", "race_id", r.race_id))
        .collect();
    Ok(Some(fact))
}

pub const FAMILIES: &[Family] = &[
    Family {
        name: "circuit_location",
        phrasings: &[
            "Where is {circuit}?",
            "In which country is {circuit}?",
            "Where is the {circuit} located?",
            "Which country hosts {circuit}?",
        ],
        facts: |ctx| each_circuit(ctx, location),
    },
    Family {
        name: "circuit_first_gp",
        phrasings: &[
            "When was the first World Championship race held at {circuit}?",
            "In which year did {circuit} first host a Grand Prix?",
            "What year was the first Formula One race at {circuit}?",
            "When did {circuit} host its first World Championship Grand Prix?",
        ],
        facts: |ctx| each_circuit(ctx, first_race),
    },
    Family {
        name: "races_at_circuit",
        phrasings: &[
            "How many World Championship races have been held at {circuit}?",
            "How many Grands Prix has {circuit} hosted?",
            "How many Formula One races have taken place at {circuit}?",
            "How many times has {circuit} held a World Championship race?",
        ],
        facts: |ctx| each_circuit(ctx, race_count),
    },
];
