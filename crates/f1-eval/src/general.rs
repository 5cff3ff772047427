//! General ability: lm-evaluation-harness's ARC-Easy, ARC-Challenge, PIQA and
//! HellaSwag as `{id, question, choices, answer}` files (one folder per task,
//! as ../shared/data/general-eval holds them), scored before and after
//! fine-tuning to measure what it cost (forgetting).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bootstrap::{stratified_interval, stratified_paired_p_value, Interval};
use crate::error::{Error, Result};
use crate::multiple_choice::{read_questions, ChoiceQuestion, Graded};

/// How a task puts its question to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskPrompt {
    /// `Question: {question}\nAnswer:` then ` {choice}` (ARC, PIQA).
    QuestionAnswer,
    /// The context as given, then ` {choice}` (HellaSwag).
    Continuation,
}

/// One general-ability task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Task {
    pub name: &'static str,
    pub prompt: TaskPrompt,
}

/// The tasks, in the order reports list them.
pub const TASKS: [Task; 4] = [
    Task {
        name: "arc_easy",
        prompt: TaskPrompt::QuestionAnswer,
    },
    Task {
        name: "arc_challenge",
        prompt: TaskPrompt::QuestionAnswer,
    },
    Task {
        name: "piqa",
        prompt: TaskPrompt::QuestionAnswer,
    },
    Task {
        name: "hellaswag",
        prompt: TaskPrompt::Continuation,
    },
];

/// Looks a task up by name.
pub fn task(name: &str) -> Result<Task> {
    TASKS
        .iter()
        .copied()
        .find(|t| t.name == name)
        .ok_or_else(|| {
            let known: Vec<&str> = TASKS.iter().map(|t| t.name).collect();
            Error::UnknownTask {
                name: name.to_string(),
                known: known.join(", "),
            }
        })
}

impl Task {
    /// `dir/<task>/<task>.jsonl`.
    pub fn file(&self, dir: &Path) -> PathBuf {
        dir.join(self.name).join(format!("{}.jsonl", self.name))
    }

    /// `limit` questions spread evenly over the task's file (all when 0): the
    /// same fixed sample every time. A bad line is an error naming file and line.
    pub fn questions(&self, dir: &Path, limit: usize) -> Result<Vec<ChoiceQuestion>> {
        let all = read_questions(&self.file(dir), 0)?;
        if limit == 0 || limit >= all.len() {
            return Ok(all);
        }
        Ok((0..limit)
            .map(|i| all[i * all.len() / limit].clone())
            .collect())
    }
}

/// The general-ability score: the mean over tasks of `acc_norm`.
pub fn score(tasks: &[Vec<Graded>]) -> f64 {
    let all: Vec<Vec<usize>> = tasks.iter().map(|t| (0..t.len()).collect()).collect();
    stratified_mean(tasks, &all)
}

fn stratified_mean(tasks: &[Vec<Graded>], samples: &[Vec<usize>]) -> f64 {
    let means: Vec<f64> = tasks
        .iter()
        .zip(samples)
        .filter(|(_, s)| !s.is_empty())
        .map(|(graded, sample)| {
            sample.iter().filter(|&&i| graded[i].correct_norm).count() as f64 / sample.len() as f64
        })
        .collect();
    means.iter().sum::<f64>() / means.len().max(1) as f64
}

/// What fine-tuning cost: the base model's general-ability score minus the
/// tuned model's (positive: forgotten), on the same questions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forgetting {
    /// Points of mean `acc_norm` lost, with a paired bootstrap 95% CI (questions
    /// resampled within each task).
    pub drop: Interval,
    /// Paired bootstrap p-value that the two differ.
    pub p: f64,
}

/// Compares `base` with `tuned`, graded on the same questions of each task.
pub fn forgetting(
    base: &[Vec<Graded>],
    tuned: &[Vec<Graded>],
    resamples: usize,
    seed: u64,
) -> Forgetting {
    assert_eq!(base.len(), tuned.len(), "the same tasks");
    let sizes: Vec<usize> = base.iter().map(Vec::len).collect();
    let drop = stratified_interval(&sizes, resamples, seed, |s| {
        stratified_mean(base, s) - stratified_mean(tuned, s)
    });
    let p = stratified_paired_p_value(
        &sizes,
        resamples,
        seed,
        |s| stratified_mean(base, s),
        |s| stratified_mean(tuned, s),
    );
    Forgetting {
        drop: drop.scaled(100.0),
        p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graded(right: &[bool]) -> Vec<Graded> {
        right
            .iter()
            .map(|&r| Graded {
                picked: 0,
                picked_norm: 0,
                correct: r,
                correct_norm: r,
            })
            .collect()
    }

    #[test]
    fn the_score_averages_tasks_not_questions() {
        let tasks = vec![graded(&[true, true, true, true]), graded(&[false, true])];
        assert!((score(&tasks) - 0.75).abs() < 1e-12, "(1.0 + 0.5) / 2");
    }

    #[test]
    fn forgetting_is_the_drop_with_an_interval_around_it() {
        let base = vec![graded(&[true; 40]), graded(&[true; 20])];
        let mut half = vec![true; 20];
        half.extend([false; 20]);
        let tuned = vec![graded(&half), graded(&[true; 20])];
        let f = forgetting(&base, &tuned, 500, 3);
        assert!((f.drop.value - 25.0).abs() < 1e-9, "{:?}", f.drop);
        assert!(
            f.drop.low > 0.0 && f.drop.high > f.drop.value,
            "{:?}",
            f.drop
        );
        assert!(f.p < 0.01, "{}", f.p);
        let same = forgetting(&base, &base, 500, 3);
        assert_eq!((same.drop.value, same.p), (0.0, 1.0));
    }

    #[test]
    fn a_fixed_sample_spreads_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let task = task("piqa").unwrap();
        std::fs::create_dir_all(dir.path().join("piqa")).unwrap();
        let lines: String = (0..10)
            .map(|i| {
                format!("{{\"id\": \"q{i}\", \"question\": \"Q{i}?\", \"choices\": [\"a\", \"b\"], \"answer\": 0}}\n")
            })
            .collect();
        std::fs::write(task.file(dir.path()), lines).unwrap();
        let ids: Vec<String> = task
            .questions(dir.path(), 4)
            .unwrap()
            .into_iter()
            .filter_map(|q| q.id)
            .collect();
        assert_eq!(ids, ["q0", "q2", "q5", "q7"]);
        assert_eq!(task.questions(dir.path(), 0).unwrap().len(), 10);
        std::fs::write(task.file(dir.path()), "{\"question\": \"Q?\"}\n").unwrap();
        let error = task.questions(dir.path(), 4).unwrap_err().to_string();
        assert!(error.contains("piqa.jsonl: line 1"), "{error}");
        assert!(super::task("mmlu")
            .unwrap_err()
            .to_string()
            .contains("unknown general-ability task"));
    }
}
