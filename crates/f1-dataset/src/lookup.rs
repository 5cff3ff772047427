//! The call that looks a fact up: each family's tool, with the question's slots
//! as arguments.

use f1_tools::spec::Kind;
use f1_tools::ToolCall;
use serde_json::{json, Value};

use crate::fact::Fact;

/// The tool that answers a family's facts, or None for a family no tool covers.
pub fn tool_for(family: &str) -> Option<&'static str> {
    Some(match family {
        "race_winner" | "race_runner_up" | "race_winner_team" | "race_podium" | "race_location"
        | "race_date" | "race_retirements" | "biggest_gain" => "race_result",
        "pole_position" => "qualifying",
        "fastest_lap" | "fastest_lap_lap" => "fastest_lap",
        "fastest_pit_stop" => "pit_stops",
        "sprint_winner" => "sprint_result",
        "drivers_champion"
        | "constructors_champion"
        | "championship_runner_up"
        | "title_margin"
        | "season_rounds"
        | "season_distinct_winners"
        | "most_wins_season" => "season_summary",
        "driver_nationality"
        | "driver_birth_date"
        | "driver_number"
        | "driver_code"
        | "driver_career_wins"
        | "driver_career_podiums"
        | "driver_career_poles"
        | "driver_career_starts"
        | "driver_titles"
        | "driver_debut" => "driver_profile",
        "standings_leader_after_round"
        | "drivers_championship_position"
        | "constructors_championship_position" => "standings",
        "driver_team_season"
        | "teammate_in_season"
        | "driver_season_wins"
        | "driver_season_points" => "driver_season",
        "teammate_head_to_head" => "head_to_head",
        "constructor_wins" | "constructor_titles" | "constructor_nationality" => "team_profile",
        "circuit_location" | "circuit_first_gp" | "races_at_circuit" => "circuit_info",
        _ => return None,
    })
}

/// The call that looks `fact` up: its tool, with the question's slots of the
/// same names as arguments (a round as a number, a season as a string).
pub fn call_for(fact: &Fact) -> Option<ToolCall> {
    let tool = f1_tools::spec::by_name(tool_for(fact.family)?)?;
    let mut arguments = serde_json::Map::new();
    for parameter in tool.parameters {
        let Some((_, value)) = fact.slots.iter().find(|(s, _)| *s == parameter.name) else {
            continue;
        };
        // A season is always a string ("2021", "last season"): one form for the
        // model to write, whether the fan gave a year or words.
        let value = match parameter.kind {
            Kind::Integer => value
                .parse::<i64>()
                .map_or_else(|_| json!(value), Value::from),
            Kind::Season | Kind::Text | Kind::Choice(_) => json!(value),
        };
        arguments.insert(parameter.name.to_string(), value);
    }
    Some(ToolCall {
        name: tool.name.to_string(),
        arguments,
    })
}
