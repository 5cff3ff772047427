//! Tool conversations: each example asked again, with the assistant looking the
//! fact up before answering (user -> call -> tool result -> the same answer).
//! They keep their example's split, so the leakage check covers them unchanged.

use f1_tools::{ToolCall, Toolbox};
use serde_json::{json, Value};

use crate::compose::Splits;
use crate::example::{Example, Message, Metadata, Split, Style, Turn};
use crate::fact::Fact;
use crate::keyed::Keyed;

/// The longest tool result a conversation carries, in characters.
pub const MAX_RESULT_CHARS: usize = 600;

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
        "driver_team_season" | "teammate_in_season" => "driver_season",
        "teammate_head_to_head" => "head_to_head",
        "constructor_wins" | "constructor_titles" | "constructor_nationality" => "team_profile",
        "circuit_location" | "circuit_first_gp" | "races_at_circuit" => "circuit_info",
        _ => return None,
    })
}

/// The call that looks `fact` up: its tool, with the question's slots of the
/// same names as arguments (a season as a number).
pub fn call_for(fact: &Fact) -> Option<ToolCall> {
    let tool = f1_tools::spec::by_name(tool_for(fact.family)?)?;
    let mut arguments = serde_json::Map::new();
    for parameter in tool.parameters {
        let Some((_, value)) = fact.slots.iter().find(|(s, _)| *s == parameter.name) else {
            continue;
        };
        let value = match parameter.name {
            "season" => value
                .parse::<i64>()
                .map_or_else(|_| json!(value), Value::from),
            _ => json!(value),
        };
        arguments.insert(parameter.name.to_string(), value);
    }
    Some(ToolCall {
        name: tool.name.to_string(),
        arguments,
    })
}

/// Every example of `splits` as a tool conversation (those whose every turn has a
/// call), in the same order and split, plus, in training, one question the data
/// cannot answer for every [`UNANSWERABLE_EVERY`] examples.
pub fn tool_splits(splits: &Splits, toolbox: &Toolbox, seed: u64, cutoff_season: i64) -> Splits {
    let convert = |examples: &[Example]| -> Vec<Example> {
        examples
            .iter()
            .filter_map(|e| conversation(e, toolbox))
            .collect()
    };
    let mut train = convert(&splits.train);
    let keyed = Keyed::new(seed);
    let extra: Vec<Example> = train
        .iter()
        .step_by(UNANSWERABLE_EVERY)
        .enumerate()
        .map(|(i, e)| unanswerable(e, i, &keyed, toolbox, cutoff_season))
        .collect();
    train.extend(extra);
    keyed.shuffle(&mut train, |e| format!("tools\u{1f}{}", e.metadata.id));
    Splits {
        train,
        val: convert(&splits.val),
        test: convert(&splits.test),
    }
}

/// One unanswerable question per this many training conversations.
pub const UNANSWERABLE_EVERY: usize = 20;

/// The system message of every tool conversation.
fn system() -> Message {
    Message {
        role: "system",
        content: f1_tools::prompt::system_prompt(),
    }
}

/// `example` with a call and its result before each answer; None when a turn's
/// family has no tool or its call fails (the answer would not be grounded).
pub fn conversation(example: &Example, toolbox: &Toolbox) -> Option<Example> {
    let mut messages = vec![system()];
    let mut turns = example.metadata.turns.iter();
    for message in &example.messages {
        if message.role == "assistant" {
            let call = turns.next()?.tool_call.clone()?;
            let outcome = toolbox.outcome(&call, MAX_RESULT_CHARS);
            if !outcome.is_ok() {
                return None;
            }
            messages.push(assistant(call.render()));
            messages.push(Message {
                role: "tool",
                content: outcome.text,
            });
        }
        messages.push(message.clone());
    }
    let mut metadata = example.metadata.clone();
    metadata.id = format!("tools:{}", metadata.id);
    Some(Example { messages, metadata })
}

fn assistant(content: String) -> Message {
    Message {
        role: "assistant",
        content,
    }
}

/// A question the data cannot answer, about `example`'s subject: a race after the
/// data ends (the call fails and the answer says why), an opinion, or a statistic
/// the tables lack (no call; the answer says what can be looked up).
fn unanswerable(
    example: &Example,
    index: usize,
    keyed: &Keyed,
    toolbox: &Toolbox,
    cutoff_season: i64,
) -> Example {
    let id = format!("{}:{index}", example.metadata.id);
    let (question, reply) = match keyed.pick(&["unanswerable", &id], 3) {
        0 => {
            let season = cutoff_season + 2;
            let call = ToolCall::new("season_summary", json!({"season": season}));
            let outcome = toolbox.outcome(&call, MAX_RESULT_CHARS);
            (
                format!("Who will be the {season} Formula One world champion?"),
                vec![
                    assistant(call.render()),
                    Message {
                        role: "tool",
                        content: outcome.text,
                    },
                    assistant(format!(
                        "I can't say: the data has no results for {season}. It ends with the {cutoff_season} season."
                    )),
                ],
            )
        }
        1 => (
            "Who is the greatest Formula One driver of all time?".to_string(),
            vec![assistant(
                "That is a matter of opinion, not a fact I can look up. I can tell you \
                 any driver's wins, poles and titles."
                    .into(),
            )],
        ),
        _ => (
            "What was the top speed on the straight in the last race?".to_string(),
            vec![assistant(
                "The data does not record top speeds. I can look up results, \
                 qualifying, fastest laps, pit stops and standings."
                    .into(),
            )],
        ),
    };
    let call = match reply.first() {
        Some(m) => match f1_tools::parse_reply(&m.content) {
            f1_tools::Reply::Call(call) => Some(call),
            _ => None,
        },
        None => None,
    };
    let mut messages = vec![system(), user(question)];
    messages.extend(reply);
    let turn = Turn {
        family: "unanswerable",
        fact_id: format!("unanswerable:{id}"),
        phrasing_id: 0,
        style: Style::Full,
        gold: Vec::new(),
        sources: Vec::new(),
        tool_call: call,
    };
    Example {
        messages,
        metadata: Metadata {
            id: format!("tools:unanswerable:{id}"),
            split: Split::Train,
            test_kind: None,
            last: turn.clone(),
            turns: vec![turn],
        },
    }
}

fn user(content: String) -> Message {
    Message {
        role: "user",
        content,
    }
}
