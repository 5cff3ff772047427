//! One evaluation of a model being trained (validation loss, the probe's fact
//! accuracies, general ability), how evaluations compare when choosing the
//! checkpoint to export, and when early stopping ends a run.

use std::path::Path;

use crate::checkpoint::Progress;
use crate::config::{SelectOn, TrainConfig};
use crate::error::{Error, Result};
use crate::probe::ProbeScore;
use crate::scorer::ScoringModel;

/// The validation before training, kept beside the log for resumed runs and
/// for the learning curves' first point.
pub const INITIAL_VAL_FILE: &str = "initial_validation.json";

/// The validation before training of a run's artifacts folder, if recorded.
pub fn read_initial(artifacts: &Path) -> Option<Validation> {
    let text = std::fs::read_to_string(artifacts.join(INITIAL_VAL_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// One evaluation: the validation loss and, where configured, the probe's
/// accuracies and the general-ability score.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Validation {
    pub loss: f64,
    #[serde(default)]
    pub probe: ProbeScore,
    /// Mean `acc_norm` over the general-ability tasks' fixed samples.
    #[serde(default)]
    pub general: Option<f64>,
}

/// The general-ability tasks' fixed samples, scored at each evaluation.
pub struct GeneralEval {
    tasks: Vec<(
        f1_eval::general::Task,
        Vec<f1_eval::multiple_choice::ChoiceQuestion>,
    )>,
}

impl GeneralEval {
    /// The configured samples; `Ok(None)` when `general_eval.per_task` is 0.
    pub fn load(config: &TrainConfig) -> Result<Option<Self>> {
        let settings = &config.general_eval;
        if settings.per_task == 0 {
            return Ok(None);
        }
        let Some(dir) = settings.folder() else {
            return Err(Error::Config {
                path: "general_eval.dir".into(),
                message: "general_eval.per_task is set but general_eval.dir is empty and F1AI_GENERAL_EVAL_DIR is unset".into(),
            });
        };
        let mut tasks = Vec::new();
        for name in &settings.tasks {
            let task = f1_eval::general::task(name)?;
            let questions = task.questions(&dir, settings.per_task)?;
            tasks.push((task, questions));
        }
        Ok(Some(Self { tasks }))
    }

    /// Mean `acc_norm` over the tasks.
    pub fn score(&self, scoring: &mut ScoringModel<'_>) -> Result<f64> {
        let graded = self
            .tasks
            .iter()
            .map(|(task, questions)| scoring.grade_task(task, questions, || {}))
            .collect::<Result<Vec<_>>>()?;
        Ok(f1_eval::general::score(&graded))
    }
}

impl Validation {
    /// Whether this evaluation beats the best one so far by `select_on`.
    pub(crate) fn better_than(&self, progress: &Progress, select_on: SelectOn) -> bool {
        let lower_loss = progress.best_val_loss.is_none_or(|b| self.loss < b);
        match (select_on, self.probe.recall, progress.best_probe_recall) {
            (SelectOn::ProbeRecall, Some(recall), Some(best)) => {
                recall > best || (recall == best && lower_loss)
            }
            (SelectOn::ProbeRecall, Some(_), None) => true,
            _ => lower_loss,
        }
    }

    pub(crate) fn probe_text(&self) -> String {
        let share = |s: Option<f64>| s.map_or("-".into(), |s| format!("{:.1}%", s * 100.0));
        let mut text = match (self.probe.recall, self.probe.unseen) {
            (None, None) => String::new(),
            (recall, unseen) => {
                format!(", probe recall {} unseen {}", share(recall), share(unseen))
            }
        };
        if let Some(general) = self.general {
            text.push_str(&format!(", general {}", share(Some(general))));
        }
        text
    }
}

/// Whether early stopping ends the run: `patience` evaluations in a row without
/// a better one (0: never).
pub(crate) fn patience_spent(progress: &Progress, patience: usize) -> bool {
    patience > 0 && progress.evals_since_best >= patience
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(loss: Option<f64>, recall: Option<f64>) -> Progress {
        Progress {
            step: 10,
            best_val_loss: loss,
            best_probe_recall: recall,
            best_step: 5,
            ..Progress::default()
        }
    }

    fn validation(loss: f64, recall: Option<f64>) -> Validation {
        Validation {
            loss,
            probe: ProbeScore {
                recall,
                unseen: None,
            },
            general: None,
        }
    }

    #[test]
    fn patience_counts_evaluations_without_a_better_one() {
        let mut stalled = progress(Some(1.0), None);
        stalled.evals_since_best = 2;
        assert!(!patience_spent(&stalled, 3));
        assert!(patience_spent(&stalled, 2));
        assert!(!patience_spent(&stalled, 0), "patience 0 never stops");
    }

    #[test]
    fn the_best_evaluation_is_chosen_by_the_configured_measure() {
        let best = progress(Some(1.0), Some(0.4));
        // A lower loss with fewer facts right: better by loss, worse by recall.
        let lower_loss = validation(0.8, Some(0.3));
        assert!(lower_loss.better_than(&best, SelectOn::ValLoss));
        assert!(!lower_loss.better_than(&best, SelectOn::ProbeRecall));
        // More facts right at a higher loss: the other way round.
        let more_facts = validation(1.2, Some(0.5));
        assert!(!more_facts.better_than(&best, SelectOn::ValLoss));
        assert!(more_facts.better_than(&best, SelectOn::ProbeRecall));
        // A tie on recall goes to the lower loss.
        assert!(validation(0.9, Some(0.4)).better_than(&best, SelectOn::ProbeRecall));
        assert!(!validation(1.1, Some(0.4)).better_than(&best, SelectOn::ProbeRecall));
        // The first evaluation is always the best so far.
        assert!(
            validation(5.0, Some(0.0)).better_than(&progress(None, None), SelectOn::ProbeRecall)
        );
    }
}
