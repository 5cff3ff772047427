//! Tool conversations: each example asked again, with the assistant looking the
//! fact up before answering (user -> call -> tool result -> the same answer).
//! They keep their example's split, so the leakage check covers them unchanged.

use std::collections::HashSet;

use f1_tools::{ToolCall, Toolbox};
use serde_json::{json, Value};

use crate::compose::Splits;
use crate::example::{Example, Message, Metadata, Split, Style, TestKind, Turn};
use crate::fact::Entity;
use crate::fan_wording::{self, RelativeSeasons};
use crate::keyed::Keyed;
use crate::recovery::{self, RECOVERY_EVERY};

/// The longest tool result a conversation carries, in characters.
pub const MAX_RESULT_CHARS: usize = 600;

/// What the tool conversations are made from, beside the splits' examples.
pub struct ToolData<'a> {
    pub toolbox: &'a Toolbox,
    pub seed: u64,
    /// The last season with results: unanswerable questions ask about later ones.
    pub cutoff_season: i64,
    /// Training examples of the families the splits leave out
    /// ([`crate::tool_coverage`]).
    pub coverage: &'a [Example],
    /// Training examples about "last season" and "this season"
    /// ([`crate::recent_coverage`]), each also asked in a fan's wording.
    pub recent: &'a [Example],
    /// Share of single-turn training conversations also asked in a fan's
    /// wording ([`crate::fan_wording`]).
    pub fan_wording: f64,
    /// Tool results no training conversation may hold (the hand-written test
    /// questions' lookups), so that test asks about lookups training never made.
    pub held_out_results: &'a HashSet<String>,
}

/// Every example of `splits` as a tool conversation (those whose every turn has a
/// call), in the same order and split. Training also gets the coverage and
/// recent examples' conversations, a fan's rewording of every recent one and of
/// a share of the rest (and two-fact questions made of those, one per
/// [`PAIR_EVERY`], and both of a season's titles asked at once), a recovery from
/// a vague call for one per [`RECOVERY_EVERY`] of those naming a race, one
/// question the data cannot answer for every [`UNANSWERABLE_EVERY`]
/// conversations and a follow-up conversation for every race result and one
/// per [`FOLLOW_UP_EVERY`] of the rest; then every
/// conversation holding a held-out result is dropped.
pub fn tool_splits(splits: &Splits, data: &ToolData) -> Splits {
    let convert = |examples: &[Example]| -> Vec<Example> {
        examples
            .iter()
            .filter_map(|e| conversation(e, data.toolbox))
            .collect()
    };
    let keyed = Keyed::new(data.seed);
    let mut train = convert(&splits.train);
    train.extend(convert(data.coverage));
    let recent_conversations = convert(data.recent);
    let recent: HashSet<String> = recent_conversations
        .iter()
        .map(|e| e.metadata.id.clone())
        .collect();
    let mut seen: HashSet<String> = train.iter().map(|e| e.metadata.id.clone()).collect();
    train.extend(
        recent_conversations
            .into_iter()
            .filter(|e| seen.insert(e.metadata.id.clone())),
    );
    let seasons = RelativeSeasons::of(data.toolbox);
    let reworded: Vec<Example> = train
        .iter()
        .filter(|e| {
            recent.contains(&e.metadata.id)
                || keyed.unit(&["fan wording", &e.metadata.id]) < data.fan_wording
        })
        .filter_map(|e| fan_wording::rewrite(e, data.toolbox, &keyed, seasons, MAX_RESULT_CHARS))
        .collect();
    let mut pairs = pairs(&reworded, &keyed);
    pairs.extend(
        reworded
            .iter()
            .filter_map(|e| fan_wording::both_titles(e, &keyed)),
    );
    train.extend(reworded);
    let recoveries: Vec<Example> = train
        .iter()
        .filter(|e| keyed.unit(&["recovery", &e.metadata.id]) < 1.0 / RECOVERY_EVERY as f64)
        .filter_map(|e| recovery::recover(e, data.toolbox, &keyed, MAX_RESULT_CHARS))
        .collect();
    let unanswerable: Vec<Example> = train
        .iter()
        .step_by(UNANSWERABLE_EVERY)
        .enumerate()
        .map(|(i, e)| unanswerable(e, i, &keyed, data.toolbox, data.cutoff_season))
        .collect();
    let follow_ups: Vec<Example> = train
        .iter()
        .enumerate()
        .filter(|(i, e)| i % FOLLOW_UP_EVERY == 0 || asks_about_a_race(e))
        .filter_map(|(_, e)| follow_up(e, &keyed))
        .collect();
    train.extend(unanswerable);
    train.extend(follow_ups);
    train.extend(pairs);
    train.extend(recoveries);
    let test = convert(&splits.test);
    // The future tests' facts and lookups are events after training: no
    // training conversation may ask one or hold its result.
    let future: Vec<&Example> = test
        .iter()
        .filter(|e| e.metadata.test_kind == Some(TestKind::Future))
        .collect();
    let future_facts: HashSet<&str> = future.iter().flat_map(|e| e.fact_ids()).collect();
    let future_results: HashSet<&str> = future
        .iter()
        .flat_map(|e| &e.messages)
        .filter(|m| m.role == "tool")
        .map(|m| m.content.as_str())
        .collect();
    let before = train.len();
    train.retain(|e| {
        !e.messages.iter().any(|m| {
            m.role == "tool"
                && (data.held_out_results.contains(&m.content)
                    || future_results.contains(m.content.as_str()))
        }) && !e.fact_ids().any(|f| future_facts.contains(f))
    });
    tracing::info!(
        dropped = before - train.len(),
        kept = train.len(),
        "training tool conversations holding a held-out or future lookup dropped"
    );
    keyed.shuffle(&mut train, |e| format!("tools\u{1f}{}", e.metadata.id));
    Splits {
        train,
        val: convert(&splits.val),
        test,
    }
}

/// One two-fact question per this many reworded conversations of a family.
pub const PAIR_EVERY: usize = 2;

/// Two-fact questions from consecutive reworded conversations of each family.
fn pairs(reworded: &[Example], keyed: &Keyed) -> Vec<Example> {
    let mut by_family: std::collections::BTreeMap<&str, Vec<&Example>> = Default::default();
    for example in reworded {
        by_family
            .entry(example.metadata.last.family)
            .or_default()
            .push(example);
    }
    by_family
        .values()
        .flat_map(|examples| examples.chunks_exact(2).step_by(PAIR_EVERY / 2))
        .filter_map(|two| fan_wording::pair(two[0], two[1], keyed))
        .collect()
}

/// One unanswerable question per this many training conversations.
pub const UNANSWERABLE_EVERY: usize = 20;
/// One follow-up conversation per this many training conversations that do not
/// look a race result up (those all get one).
pub const FOLLOW_UP_EVERY: usize = 3;

/// Whether `example`'s first call looks a race's result up.
fn asks_about_a_race(example: &Example) -> bool {
    example
        .metadata
        .turns
        .first()
        .and_then(|turn| turn.tool_call.as_ref())
        .is_some_and(|call| call.name == "race_result")
}

/// The question a fan asks next after each family, when it fits: a race's
/// winner is followed by who was second, a champion by the runner-up.
fn next_question(family: &str) -> Option<&'static str> {
    match family {
        "race_winner" | "race_winner_team" => Some("race_runner_up"),
        "drivers_champion" => Some("championship_runner_up"),
        _ => None,
    }
}

/// A question that only makes sense after the first ("And who finished
/// second?"): the family it asks, its phrasings, and where in the first call's
/// result its answer is.
struct ResultFollowUp {
    tool: &'static str,
    family: &'static str,
    questions: &'static [&'static str],
    /// The answer and its gold entity.
    answer: fn(&Value) -> Option<(String, Entity)>,
}

fn text_at(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A name as the whole answer: "Lewis Hamilton."
fn named(value: &Value, pointer: &str) -> Option<(String, Entity)> {
    text_at(value, pointer).map(|name| (format!("{name}."), Entity::text(name)))
}

const RESULT_FOLLOW_UPS: &[ResultFollowUp] = &[
    ResultFollowUp {
        tool: "race_result",
        family: "race_runner_up",
        questions: &[
            "And who finished second?",
            "Who came second in that race?",
            "And who was second?",
            "Who was runner-up there?",
        ],
        answer: |v| named(v, "/second/driver"),
    },
    ResultFollowUp {
        tool: "race_result",
        family: "race_winner",
        questions: &["And who won that race?", "Who won it?"],
        answer: |v| named(v, "/winner/driver"),
    },
    ResultFollowUp {
        tool: "race_result",
        family: "race_winner_team",
        questions: &[
            "Which team was the winner driving for?",
            "And the winning team?",
        ],
        answer: |v| named(v, "/winner/team"),
    },
    ResultFollowUp {
        tool: "race_result",
        family: "race_date",
        questions: &["When was it held?", "And on what date?"],
        answer: |v| {
            text_at(v, "/date")
                .map(|d| (format!("{}.", crate::text::long_date(&d)), Entity::date(&d)))
        },
    },
    ResultFollowUp {
        tool: "season_summary",
        family: "championship_runner_up",
        questions: &[
            "And who was runner-up?",
            "Who finished second in the championship?",
        ],
        answer: |v| named(v, "/runner_up/driver"),
    },
    ResultFollowUp {
        tool: "season_summary",
        family: "constructors_champion",
        questions: &["Which team won the constructors' title that year?"],
        answer: |v| named(v, "/constructors_champion"),
    },
    ResultFollowUp {
        tool: "season_summary",
        family: "drivers_champion",
        questions: &[
            "And who was the drivers' champion?",
            "Who won the drivers' title?",
        ],
        answer: |v| named(v, "/drivers_champion"),
    },
    ResultFollowUp {
        tool: "driver_profile",
        family: "driver_career_wins",
        questions: &[
            "How many races has that driver won?",
            "And how many wins do they have?",
        ],
        answer: |v| {
            let n = v.pointer("/wins").and_then(Value::as_i64)?;
            Some((
                format!("{}.", crate::text::count(n, "win", "wins")),
                Entity::number(n),
            ))
        },
    },
    ResultFollowUp {
        tool: "driver_profile",
        family: "driver_nationality",
        questions: &["What nationality are they?"],
        answer: |v| named(v, "/nationality"),
    },
    ResultFollowUp {
        tool: "circuit_info",
        family: "circuit_first_gp",
        questions: &["When did it first host a Grand Prix?"],
        answer: |v| named(v, "/first_grand_prix/race"),
    },
];

/// `example` (a one-turn tool conversation) with a follow-up question whose
/// answer is in the same lookup: the call is made again with the subject taken
/// from the first turn. None when no follow-up fits.
fn follow_up(example: &Example, keyed: &Keyed) -> Option<Example> {
    let first = &example.metadata.last;
    let call = first.tool_call.as_ref()?;
    let result: Value = serde_json::from_str(&example.messages.get(3)?.content).ok()?;
    let fitting: Vec<(&ResultFollowUp, (String, Entity))> = RESULT_FOLLOW_UPS
        .iter()
        .filter(|f| f.tool == call.name && f.family != first.family)
        .filter_map(|f| Some((f, (f.answer)(&result)?)))
        .collect();
    if fitting.is_empty() || example.metadata.turns.len() != 1 {
        return None;
    }
    let id = &example.metadata.id;
    let next = next_question(first.family)
        .and_then(|family| fitting.iter().position(|(f, _)| f.family == family));
    let pick = next.unwrap_or_else(|| keyed.pick(&["follow-up", id], fitting.len()));
    let (follow, (answer, gold)) = &fitting[pick];
    let question =
        follow.questions[keyed.pick(&["follow-up question", id], follow.questions.len())];
    let mut messages = example.messages.clone();
    messages.extend([
        user(question.to_string()),
        assistant(call.render()),
        example.messages[3].clone(),
        assistant(answer.clone()),
    ]);
    let turn = Turn {
        family: follow.family,
        fact_id: format!("{}:follow-up", first.fact_id),
        phrasing_id: 0,
        style: Style::Short,
        gold: vec![gold.clone()],
        sources: first.sources.clone(),
        tool_call: Some(call.clone()),
    };
    let mut metadata = example.metadata.clone();
    metadata.id = format!("{id}:follow-up");
    metadata.turns.push(turn.clone());
    metadata.last = turn;
    Some(Example { messages, metadata })
}

/// The system message of every tool conversation.
fn system() -> Message {
    Message::new("system", f1_tools::prompt::system_prompt())
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
            messages.push(Message::new("tool", outcome.text));
        }
        messages.push(message.clone());
    }
    let mut metadata = example.metadata.clone();
    metadata.id = format!("tools:{}", metadata.id);
    Some(Example { messages, metadata })
}

fn assistant(content: String) -> Message {
    Message::new("assistant", content)
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
            let call = ToolCall::new("season_summary", json!({"season": season.to_string()}));
            let outcome = toolbox.outcome(&call, MAX_RESULT_CHARS);
            (
                format!("Who will be the {season} Formula One world champion?"),
                vec![
                    assistant(call.render()),
                    Message::new("tool", outcome.text),
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
    Message::new("user", content)
}
