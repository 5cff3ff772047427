//! LLM-assisted augmentation (the seed's GPT-4 step): a model rephrases a
//! grounded question and writes a fuller answer, and the pair is kept only when
//! the facts survive: every gold entity is still stated in the answer, and every
//! number and name of the original question is still in the new one.

use regex::Regex;
use serde_json::Value;

use f1_eval::facts::normalize;

/// A single-turn training example to augment.
#[derive(Debug, Clone, PartialEq)]
pub struct Seed {
    pub id: String,
    pub question: String,
    pub answer: String,
    /// Each gold entity's aliases.
    pub gold: Vec<Vec<String>>,
}

/// Why a model's rewrite was not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No `Question:` and `Answer:` lines.
    Malformed,
    /// The question came back the same.
    Unchanged,
    /// The answer no longer states this gold entity.
    LostGold(String),
    /// The question lost this number or name.
    LostDetail(String),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed => write!(f, "no 'Question:' and 'Answer:' lines"),
            Self::Unchanged => write!(f, "the question is unchanged"),
            Self::LostGold(entity) => write!(f, "the answer lost the gold entity '{entity}'"),
            Self::LostDetail(detail) => write!(f, "the question lost '{detail}'"),
        }
    }
}

impl Seed {
    /// The seed in a dataset line, when it is a single question and answer.
    pub fn from_example(example: &Value) -> Option<Self> {
        let messages = example["messages"].as_array()?;
        let [user, assistant] = messages.as_slice() else {
            return None;
        };
        if user["role"] != "user" || assistant["role"] != "assistant" {
            return None;
        }
        let gold = example["metadata"]["gold"]
            .as_array()?
            .iter()
            .map(|g| {
                g["aliases"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect();
        Some(Self {
            id: example["metadata"]["id"].as_str()?.to_string(),
            question: user["content"].as_str()?.to_string(),
            answer: assistant["content"].as_str()?.to_string(),
            gold,
        })
    }

    /// The chat messages (role, content) asking for a rewrite.
    pub fn prompt(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "system",
                "You rewrite Formula 1 question-answer pairs for a training set. Keep every \
                 name, number and date exactly as given."
                    .into(),
            ),
            (
                "user",
                format!(
                    "Rephrase the question in different words, and write a fuller answer of one \
                     or two sentences that states the same facts.\n\nQuestion: {}\nAnswer: {}\n\n\
                     Reply in exactly this form:\nQuestion: <the rephrased question>\nAnswer: \
                     <the fuller answer>",
                    self.question, self.answer
                ),
            ),
        ]
    }

    /// Checks a rewrite; `Ok` holds the new question and answer.
    pub fn check(&self, reply: &str) -> Result<(String, String), Rejection> {
        let (question, answer) = parse(reply).ok_or(Rejection::Malformed)?;
        // normalize() pads its words with spaces, so `contains` matches whole words.
        if normalize(&question) == normalize(&self.question) {
            return Err(Rejection::Unchanged);
        }
        let said = normalize(&answer);
        for entity in &self.gold {
            let stated = entity.iter().any(|alias| {
                let alias = normalize(alias);
                !alias.trim().is_empty() && said.contains(&alias)
            });
            if !stated {
                let name = entity.first().cloned().unwrap_or_default();
                return Err(Rejection::LostGold(name));
            }
        }
        let asked = normalize(&question);
        for detail in details(&self.question) {
            if !asked.contains(&normalize(&detail)) {
                return Err(Rejection::LostDetail(detail));
            }
        }
        Ok((question, answer))
    }
}

/// The `Question:` and `Answer:` of a reply (the answer may run over lines).
fn parse(reply: &str) -> Option<(String, String)> {
    let mut question = None;
    let mut answer: Option<String> = None;
    for line in reply.lines() {
        let line = line.trim().trim_start_matches(['*', '#', ' ']);
        if let Some(rest) = line.strip_prefix("Question:") {
            if answer.is_some() {
                break;
            }
            question = Some(rest.trim().trim_matches('*').trim().to_string());
        } else if let Some(rest) = line.strip_prefix("Answer:") {
            answer = Some(rest.trim().trim_matches('*').trim().to_string());
        } else if let Some(text) = answer.as_mut() {
            if !line.is_empty() {
                text.push(' ');
                text.push_str(line);
            }
        }
    }
    let (question, answer) = (question?, answer?);
    (!question.is_empty() && !answer.is_empty()).then_some((question, answer))
}

/// The numbers and capitalised names in a question (a name's words together),
/// leaving out its first word, which is capitalised anyway.
fn details(question: &str) -> Vec<String> {
    let pattern =
        Regex::new(r"\d+|\p{Lu}[\p{L}'’.-]*(?:\s+\p{Lu}[\p{L}'’.-]*)*").expect("a valid pattern");
    let first_word_end = question.find(char::is_whitespace).unwrap_or(question.len());
    pattern
        .find_iter(question)
        .filter(|m| {
            m.start() >= first_word_end || m.as_str().starts_with(|c: char| c.is_ascii_digit())
        })
        .map(|m| m.as_str().to_string())
        .collect()
}

/// `example` with the new question and answer; its id gains `:aug` and its
/// metadata says where it came from.
pub fn augmented(example: &Value, question: &str, answer: &str) -> Value {
    let mut out = example.clone();
    out["messages"][0]["content"] = question.into();
    out["messages"][1]["content"] = answer.into();
    let id = example["metadata"]["id"].as_str().unwrap_or_default();
    out["metadata"]["id"] = format!("{id}:aug").into();
    out["metadata"]["augmented_from"] = id.into();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Seed {
        Seed {
            id: "train:race_winner:2008-01:p0".into(),
            question: "Who won the 2008 Australian Grand Prix?".into(),
            answer: "Lewis Hamilton.".into(),
            gold: vec![vec!["Lewis Hamilton".into(), "Hamilton".into()]],
        }
    }

    #[test]
    fn a_faithful_rewrite_is_kept() {
        let reply = "Question: Which driver took victory at the Australian Grand Prix in 2008?\n\
                     Answer: The 2008 Australian Grand Prix was won by Lewis Hamilton, driving for McLaren.";
        let (q, a) = seed().check(reply).unwrap();
        assert!(q.starts_with("Which driver"));
        assert!(a.contains("McLaren"));
    }

    #[test]
    fn lost_facts_are_rejected_with_the_reason() {
        let s = seed();
        assert_eq!(
            s.check("Question: Who won the Australian Grand Prix in 2008?\nAnswer: Sebastian Vettel won it."),
            Err(Rejection::LostGold("Lewis Hamilton".into()))
        );
        assert_eq!(
            s.check(
                "Question: Who won the 2009 Australian Grand Prix?\nAnswer: Lewis Hamilton won."
            ),
            Err(Rejection::LostDetail("2008".into()))
        );
        assert_eq!(
            s.check("Question: Who won the 2008 race in Melbourne?\nAnswer: Lewis Hamilton won."),
            Err(Rejection::LostDetail("Australian Grand Prix".into()))
        );
        assert_eq!(
            s.check("Question: Who won the 2008 Australian Grand Prix?\nAnswer: Lewis Hamilton."),
            Err(Rejection::Unchanged)
        );
        assert_eq!(
            s.check("Lewis Hamilton won, of course."),
            Err(Rejection::Malformed)
        );
        // "Hamiltonian" is not "Hamilton".
        assert_eq!(
            s.check("Question: In 2008, who won the Australian Grand Prix?\nAnswer: A Hamiltonian driver."),
            Err(Rejection::LostGold("Lewis Hamilton".into()))
        );
    }

    #[test]
    fn seeds_come_from_single_turn_examples_only() {
        let line = serde_json::json!({
            "messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}],
            "metadata": {"id": "x", "gold": [{"text": "A", "aliases": ["A", "Ay"]}]}
        });
        let s = Seed::from_example(&line).unwrap();
        assert_eq!(s.gold, vec![vec!["A".to_string(), "Ay".to_string()]]);
        let out = augmented(&line, "Q2?", "A, fully.");
        assert_eq!(out["metadata"]["id"], "x:aug");
        assert_eq!(out["metadata"]["augmented_from"], "x");
        assert_eq!(out["messages"][1]["content"], "A, fully.");
        let mut two_turns = line.clone();
        two_turns["messages"]
            .as_array_mut()
            .unwrap()
            .push(line["messages"][0].clone());
        assert!(Seed::from_example(&two_turns).is_none());
    }
}
