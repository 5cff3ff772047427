//! Recovering from a failed lookup: a question whose first call names the race
//! too vaguely (its year alone, or its place without the year the question
//! gives), the resolver's error, then the call the question's words give. The
//! vague call stays in the conversation with weight 0, so training teaches the
//! recovery, never the vague call.

use f1_tools::Toolbox;
use serde_json::Value;

use crate::example::{Example, Message};
use crate::keyed::Keyed;

/// One recovery per this many training conversations (those naming a race
/// with its year can make one).
pub const RECOVERY_EVERY: usize = 4;

/// `example` (a single-turn conversation whose call names a race with its
/// year) with a vague call and its error before its own call; None when the
/// vague call would not fail.
pub fn recover(
    example: &Example,
    toolbox: &Toolbox,
    keyed: &Keyed,
    max_result_chars: usize,
) -> Option<Example> {
    if example.messages.len() != 5 {
        return None;
    }
    let call = example.metadata.last.tool_call.as_ref()?;
    let race = call.arguments.get("race")?.as_str()?;
    let words: Vec<&str> = race.split_whitespace().collect();
    let year = *words
        .iter()
        .find(|w| w.len() == 4 && w.parse::<u16>().is_ok())?;
    let place: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| *w != year && *w != "in")
        .collect();
    let vague = match keyed.pick(&["recovery form", &example.metadata.id], 2) {
        0 => year.to_string(),
        _ => place.join(" "),
    };
    if vague.is_empty() {
        return None;
    }
    let mut first = call.clone();
    first.arguments.insert("race".into(), Value::from(vague));
    let outcome = toolbox.outcome(&first, max_result_chars);
    if outcome.is_ok() {
        return None;
    }
    let mut messages = example.messages[..2].to_vec();
    messages.push(Message {
        weight: Some(0),
        ..Message::new("assistant", first.render())
    });
    messages.push(Message::new("tool", outcome.text));
    messages.extend(example.messages[2..].iter().cloned());
    let mut metadata = example.metadata.clone();
    metadata.id = format!("{}:recovery", metadata.id);
    Some(Example { messages, metadata })
}
