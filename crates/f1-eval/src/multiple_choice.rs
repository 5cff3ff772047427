//! Multiple-choice questions in lm-evaluation-harness's shape
//! (`{question, choices, answer}`), graded as the harness grades them: `acc`
//! picks the choice with the highest log-likelihood, `acc_norm` the highest
//! log-likelihood per character of the choice.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bootstrap::{confidence_interval, mean_at, paired_p_value, Interval};
use crate::error::{Error, Result};

/// One question; `id`, `family` and `test_kind` are optional in user files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChoiceQuestion {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_kind: Option<String>,
    pub question: String,
    pub choices: Vec<String>,
    /// Index of the right choice.
    pub answer: usize,
}

/// Reads up to `limit` questions (0: all) of a JSONL file. A line that is not a
/// question, has fewer than two choices, an empty or repeated choice, or an
/// answer outside the choices is an error naming the file, line and field.
pub fn read_questions(path: &Path, limit: usize) -> Result<Vec<ChoiceQuestion>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut questions = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if limit > 0 && questions.len() == limit {
            break;
        }
        let at = |message: String| Error::Line {
            path: path.to_path_buf(),
            line: index + 1,
            message,
        };
        let question: ChoiceQuestion = serde_json::from_str(line).map_err(|e| at(e.to_string()))?;
        question.validate().map_err(at)?;
        questions.push(question);
    }
    if questions.is_empty() {
        return Err(Error::invalid(path, "no questions"));
    }
    Ok(questions)
}

impl ChoiceQuestion {
    fn validate(&self) -> Result<(), String> {
        if self.question.trim().is_empty() {
            return Err("`question` is empty".into());
        }
        if self.choices.len() < 2 {
            return Err(format!(
                "`choices` needs at least two entries, has {}",
                self.choices.len()
            ));
        }
        for (i, choice) in self.choices.iter().enumerate() {
            if choice.trim().is_empty() {
                return Err(format!("`choices[{i}]` is empty"));
            }
            if self.choices[..i].contains(choice) {
                return Err(format!("`choices[{i}]` repeats {choice:?}"));
            }
        }
        if self.answer >= self.choices.len() {
            return Err(format!(
                "`answer` is {} but there are {} choices (answers count from 0)",
                self.answer,
                self.choices.len()
            ));
        }
        Ok(())
    }
}

/// How one question went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Graded {
    /// The most likely choice (the first on a tie, as numpy's argmax).
    pub picked: usize,
    /// The most likely choice per character.
    pub picked_norm: usize,
    pub correct: bool,
    pub correct_norm: bool,
}

/// Grades a question from each choice's log-likelihood.
pub fn grade(question: &ChoiceQuestion, log_likelihoods: &[f64]) -> Graded {
    assert_eq!(question.choices.len(), log_likelihoods.len());
    let per_char: Vec<f64> = question
        .choices
        .iter()
        .zip(log_likelihoods)
        .map(|(choice, ll)| ll / choice.chars().count() as f64)
        .collect();
    let picked = argmax(log_likelihoods);
    let picked_norm = argmax(&per_char);
    Graded {
        picked,
        picked_norm,
        correct: picked == question.answer,
        correct_norm: picked_norm == question.answer,
    }
}

fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Accuracy of a group of questions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupChoiceAccuracy {
    pub n: usize,
    pub acc: f64,
    pub acc_norm: f64,
}

/// One model's multiple-choice results, with bootstrap 95% CIs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChoiceMetrics {
    pub n: usize,
    pub acc: Interval,
    pub acc_norm: Interval,
    /// What guessing uniformly would score.
    pub chance: f64,
    pub by_family: BTreeMap<String, GroupChoiceAccuracy>,
    pub by_test_kind: BTreeMap<String, GroupChoiceAccuracy>,
}

fn indicator(graded: &[Graded], norm: bool) -> Vec<f64> {
    graded
        .iter()
        .map(|g| f64::from(u8::from(if norm { g.correct_norm } else { g.correct })))
        .collect()
}

/// Summarises graded questions (in the same order as `questions`).
pub fn summarize(
    questions: &[ChoiceQuestion],
    graded: &[Graded],
    resamples: usize,
    seed: u64,
) -> ChoiceMetrics {
    let n = graded.len();
    let (acc, acc_norm) = (indicator(graded, false), indicator(graded, true));
    let groups = |key: fn(&ChoiceQuestion) -> Option<&String>| {
        let mut members: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, question) in questions.iter().enumerate() {
            let name = key(question).cloned().unwrap_or_else(|| "-".into());
            members.entry(name).or_default().push(i);
        }
        members
            .into_iter()
            .map(|(name, indices)| {
                let group = GroupChoiceAccuracy {
                    n: indices.len(),
                    acc: mean_at(&acc, &indices),
                    acc_norm: mean_at(&acc_norm, &indices),
                };
                (name, group)
            })
            .collect()
    };
    ChoiceMetrics {
        n,
        acc: confidence_interval(n, resamples, seed, |s| mean_at(&acc, s)),
        acc_norm: confidence_interval(n, resamples, seed, |s| mean_at(&acc_norm, s)),
        chance: questions
            .iter()
            .map(|q| 1.0 / q.choices.len() as f64)
            .sum::<f64>()
            / n.max(1) as f64,
        by_family: groups(|q| q.family.as_ref()),
        by_test_kind: groups(|q| q.test_kind.as_ref()),
    }
}

/// Paired bootstrap comparison of two models on the same questions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChoiceComparison {
    pub acc_difference: f64,
    pub acc_p: f64,
    pub acc_norm_difference: f64,
    pub acc_norm_p: f64,
}

/// Compares `a` with `b`, graded on the same questions in the same order.
pub fn compare(a: &[Graded], b: &[Graded], resamples: usize, seed: u64) -> ChoiceComparison {
    assert_eq!(a.len(), b.len(), "both models answer the same questions");
    let n = a.len();
    let all: Vec<usize> = (0..n).collect();
    let one = |norm: bool| {
        let (x, y) = (indicator(a, norm), indicator(b, norm));
        let difference = mean_at(&x, &all) - mean_at(&y, &all);
        let p = paired_p_value(n, resamples, seed, |s| mean_at(&x, s), |s| mean_at(&y, s));
        (difference, p)
    };
    let (acc_difference, acc_p) = one(false);
    let (acc_norm_difference, acc_norm_p) = one(true);
    ChoiceComparison {
        acc_difference,
        acc_p,
        acc_norm_difference,
        acc_norm_p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(choices: &[&str], answer: usize) -> ChoiceQuestion {
        ChoiceQuestion {
            id: None,
            family: Some("race_winner".into()),
            test_kind: None,
            question: "Who won?".into(),
            choices: choices.iter().map(|c| c.to_string()).collect(),
            answer,
        }
    }

    #[test]
    fn acc_takes_the_likeliest_and_acc_norm_the_likeliest_per_character() {
        // "Ayrton Senna" (12 chars) at -6.0 is -0.5/char; "Prost" (5) at -4.0 is -0.8/char.
        let q = question(&["Prost", "Ayrton Senna"], 1);
        let g = grade(&q, &[-4.0, -6.0]);
        assert_eq!((g.picked, g.picked_norm), (0, 1));
        assert!(!g.correct && g.correct_norm);
        // Characters, not bytes: "Räikkönen" is 9 characters, 11 bytes.
        let q = question(&["Räikkönen", "Alonso12"], 0);
        let g = grade(&q, &[-9.0, -8.4]);
        assert_eq!(g.picked_norm, 0, "-1.0/char vs -1.05/char");
    }

    #[test]
    fn ties_go_to_the_first_choice() {
        let g = grade(&question(&["A", "B", "C"], 1), &[-1.0, -1.0, -1.0]);
        assert_eq!((g.picked, g.picked_norm), (0, 0));
    }

    #[test]
    fn bad_lines_name_the_file_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mc.jsonl");
        let cases = [
            (
                r#"{"question": "Q?", "choices": ["a"], "answer": 0}"#,
                "at least two",
            ),
            (
                r#"{"question": "Q?", "choices": ["a", "b"], "answer": 2}"#,
                "`answer` is 2",
            ),
            (
                r#"{"question": "Q?", "choices": ["a", "a"], "answer": 0}"#,
                "repeats",
            ),
            (
                r#"{"question": "Q?", "choices": ["a", " "], "answer": 0}"#,
                "`choices[1]` is empty",
            ),
            (
                r#"{"question": "Q?", "answer": 0}"#,
                "missing field `choices`",
            ),
            (
                r#"{"question": "Q?", "choices": ["a", "b"], "answer": -1}"#,
                "invalid value",
            ),
        ];
        for (line, expected) in cases {
            let good = r#"{"question": "Ok?", "choices": ["x", "y"], "answer": 1}"#;
            std::fs::write(&path, format!("{good}\n{line}\n")).unwrap();
            let error = read_questions(&path, 0).unwrap_err().to_string();
            assert!(error.contains("mc.jsonl: line 2:"), "{error}");
            assert!(error.contains(expected), "{error}");
        }
        std::fs::write(&path, "\n").unwrap();
        assert!(read_questions(&path, 0)
            .unwrap_err()
            .to_string()
            .contains("no questions"));
    }

    #[test]
    fn summary_and_comparison_count_what_was_right() {
        let questions = vec![
            question(&["a", "b"], 0),
            question(&["a", "b"], 1),
            question(&["a", "b", "c", "d"], 0),
            question(&["a", "b", "c", "d"], 3),
        ];
        let right = |q: &ChoiceQuestion| {
            let mut lls = vec![-5.0; q.choices.len()];
            lls[q.answer] = -1.0;
            grade(q, &lls)
        };
        let all_right: Vec<Graded> = questions.iter().map(right).collect();
        let first_always: Vec<Graded> = questions
            .iter()
            .map(|q| {
                grade(
                    q,
                    &(0..q.choices.len())
                        .map(|i| -(i as f64))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        let m = summarize(&questions, &first_always, 200, 7);
        assert_eq!(m.n, 4);
        assert_eq!(m.acc.value, 0.5);
        assert!((m.chance - 0.375).abs() < 1e-12);
        assert_eq!(m.by_family["race_winner"].n, 4);
        assert_eq!(m.by_test_kind["-"].acc, 0.5);
        let c = compare(&all_right, &first_always, 200, 7);
        assert_eq!(c.acc_difference, 0.5);
        assert!(c.acc_p > 0.0 && c.acc_p <= 1.0);
        assert_eq!(compare(&all_right, &all_right, 200, 7).acc_p, 1.0);
    }
}
