//! Which test facts a pretrained model already knows, probed before training as
//! Gekhman et al. (2024) do with SliCK: few-shot prompts of the question's own
//! family with several exemplar sets, answered greedily, plus a few sampled
//! answers. A fact is *known* when every greedy answer is right, *maybe* when
//! some greedy or sampled answer is, and *unknown* when none is.

use f1_model::assistant::Assistant;
use f1_model::chat::ChatMessage;
use f1_model::generate::GenerationConfig;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::prompt::SYSTEM_PROMPT;
use crate::testset::{family_entities, Case};
use crate::Result;

/// What the model knew of a fact before training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Knowledge {
    Known,
    Maybe,
    Unknown,
}

impl Knowledge {
    pub const ALL: [Knowledge; 3] = [Knowledge::Known, Knowledge::Maybe, Knowledge::Unknown];

    pub fn name(self) -> &'static str {
        match self {
            Knowledge::Known => "known",
            Knowledge::Maybe => "maybe",
            Knowledge::Unknown => "unknown",
        }
    }
}

/// How hard to probe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeSettings {
    /// Few-shot prompts with different exemplars, each answered greedily.
    pub exemplar_sets: usize,
    /// Exemplars per prompt (training examples of the question's family).
    pub shots: usize,
    /// Sampled answers to the first prompt.
    pub samples: usize,
    pub temperature: f64,
    pub max_tokens: usize,
    pub seed: u64,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        Self {
            exemplar_sets: 3,
            shots: 4,
            samples: 3,
            temperature: 0.5,
            max_tokens: 24,
            seed: 42,
        }
    }
}

/// One test question's probe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FactKnowledge {
    /// The test example's id (what predictions carry).
    pub id: String,
    pub fact_id: String,
    pub test_kind: Option<String>,
    pub label: Knowledge,
    pub greedy_correct: usize,
    pub sampled_correct: usize,
}

/// Rows generated together.
const BATCH: usize = 16;

/// The few-shot prompt of exemplar set `set` for `case`: `shots` single-turn
/// training examples of its family (others when the family has too few), in
/// a seeded order.
fn prompt(case: &Case, train: &[Case], settings: &ProbeSettings, set: usize) -> Vec<ChatMessage> {
    let key = |c: &Case| Sha256::digest(format!("{}:{set}:{}", settings.seed, c.metadata.id));
    let mut pool: Vec<&Case> = train.iter().filter(|c| c.messages.len() == 2).collect();
    pool.sort_by_key(|c| (c.metadata.family != case.metadata.family, key(c)));
    let mut messages = vec![ChatMessage::new("system", SYSTEM_PROMPT)];
    for shot in pool.into_iter().take(settings.shots) {
        messages.extend(
            shot.messages
                .iter()
                .map(|m| ChatMessage::new(&m.role, &m.content)),
        );
    }
    messages.extend(
        case.conversation()
            .iter()
            .map(|m| ChatMessage::new(&m.role, &m.content)),
    );
    messages
}

/// Probes `cases`; `progress` runs after each case.
pub fn probe(
    assistant: &mut Assistant,
    cases: &[&Case],
    train: &[Case],
    settings: &ProbeSettings,
    mut progress: impl FnMut(),
) -> Result<Vec<FactKnowledge>> {
    let entities = family_entities(cases.iter().copied());
    let right = |case: &Case, answer: &str| {
        case.grade(answer, &entities[case.metadata.family.as_str()])
            .is_correct()
    };
    let greedy = GenerationConfig {
        max_tokens: settings.max_tokens,
        ..GenerationConfig::default()
    };
    let mut probed = Vec::with_capacity(cases.len());
    for chunk in cases.chunks(BATCH) {
        let mut greedy_correct = vec![0; chunk.len()];
        let mut sampled_correct = vec![0; chunk.len()];
        for set in 0..settings.exemplar_sets {
            let prompts: Vec<Vec<ChatMessage>> = chunk
                .iter()
                .map(|c| prompt(c, train, settings, set))
                .collect();
            let answers = assistant.reply_batch(&prompts, &greedy)?;
            for (i, answer) in answers.iter().enumerate() {
                greedy_correct[i] += usize::from(right(chunk[i], &answer.text));
            }
        }
        let prompts: Vec<Vec<ChatMessage>> = chunk
            .iter()
            .map(|c| prompt(c, train, settings, 0))
            .collect();
        for sample in 0..settings.samples {
            let config = GenerationConfig {
                temperature: settings.temperature,
                seed: settings.seed + 1 + sample as u64,
                ..greedy.clone()
            };
            let answers = assistant.reply_batch(&prompts, &config)?;
            for (i, answer) in answers.iter().enumerate() {
                sampled_correct[i] += usize::from(right(chunk[i], &answer.text));
            }
        }
        for (i, case) in chunk.iter().enumerate() {
            let label = if greedy_correct[i] == settings.exemplar_sets && settings.exemplar_sets > 0
            {
                Knowledge::Known
            } else if greedy_correct[i] + sampled_correct[i] > 0 {
                Knowledge::Maybe
            } else {
                Knowledge::Unknown
            };
            probed.push(FactKnowledge {
                id: case.metadata.id.clone(),
                fact_id: case.metadata.fact_id.clone(),
                test_kind: case.metadata.test_kind.clone(),
                label,
                greedy_correct: greedy_correct[i],
                sampled_correct: sampled_correct[i],
            });
            progress();
        }
    }
    Ok(probed)
}

/// Words that mark an answer as declining rather than stating something.
const ABSTAINING: [&str; 8] = [
    "don't know",
    "do not know",
    "not sure",
    "no information",
    "cannot answer",
    "can't answer",
    "unable to",
    "not available",
];

/// Whether an answer declines to answer (so a wrong one is not a confident
/// error).
pub fn abstains(answer: &str) -> bool {
    let lower = answer.to_lowercase();
    lower.trim().is_empty() || ABSTAINING.iter().any(|a| lower.contains(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, family: &str) -> Case {
        serde_json::from_value(serde_json::json!({
            "messages": [{"role": "user", "content": format!("Q {id}?")},
                         {"role": "assistant", "content": format!("A {id}.")}],
            "metadata": {"id": id, "family": family, "fact_id": id, "test_kind": null,
                         "gold": [{"text": id, "aliases": [id]}]}
        }))
        .unwrap()
    }

    #[test]
    fn exemplars_come_from_the_question_family_and_change_with_the_set() {
        let train: Vec<Case> = (0..6)
            .map(|i| case(&format!("w{i}"), "race_winner"))
            .chain((0..6).map(|i| case(&format!("c{i}"), "circuit_location")))
            .collect();
        let question = case("q", "race_winner");
        let settings = ProbeSettings {
            shots: 3,
            ..ProbeSettings::default()
        };
        let first = prompt(&question, &train, &settings, 0);
        // System, three exemplar pairs, the question.
        assert_eq!(first.len(), 1 + 3 * 2 + 1);
        assert!(first[1..7]
            .iter()
            .step_by(2)
            .all(|m| m.content.starts_with("Q w")));
        assert_eq!(first.last().unwrap().content, "Q q?");
        let other: Vec<String> = (0..4)
            .map(|set| prompt(&question, &train, &settings, set)[1].content.clone())
            .collect();
        assert!(other.iter().any(|c| *c != other[0]), "{other:?}");
    }

    #[test]
    fn abstentions_are_not_confident_errors() {
        assert!(abstains("I'm not sure who won that race."));
        assert!(abstains("  "));
        assert!(!abstains("Ayrton Senna."));
    }
}
