//! What a run records: one JSON line per optimizer step, and a summary.

use std::io::Write;
use std::path::{Path, PathBuf};

use f1_model::transformer::ProductPrecision;
use serde::{Deserialize, Serialize};

use crate::config::{Method, SelectOn};
use crate::error::{Error, Result};

/// One optimizer step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: usize,
    pub epoch: usize,
    /// Mean loss per scored token of the step's batches.
    pub loss: f64,
    /// Set on steps that ran a validation.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub val_loss: Option<f64>,
    /// The validation probe's recall and unseen fact accuracy, where it ran.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub probe_recall: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub probe_unseen: Option<f64>,
    /// The general-ability score (mean acc_norm), where it ran.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub general: Option<f64>,
    /// Non-padding tokens trained on up to and including this step.
    #[serde(default)]
    pub tokens_seen: usize,
    /// Seconds of optimizer steps up to and including this step (evaluations
    /// and checkpoints excluded).
    #[serde(default)]
    pub step_seconds: f64,
    pub learning_rate: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Non-padding tokens per second over this step.
    pub tokens_per_second: f64,
    pub rss_mib: f64,
}

/// The run as the report reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run_name: String,
    pub model: String,
    pub method: Method,
    pub steps: usize,
    pub epochs_started: usize,
    pub tokens_seen: usize,
    pub wall_seconds: f64,
    pub tokens_per_second: f64,
    pub trainable_parameters: usize,
    pub total_parameters: usize,
    pub peak_rss_mib: f64,
    pub first_loss: Option<f64>,
    pub final_loss: Option<f64>,
    /// Validation loss of the untrained model.
    pub initial_val_loss: Option<f64>,
    pub final_val_loss: Option<f64>,
    pub best_val_loss: Option<f64>,
    /// The probe recall accuracy of the exported step, when the run has a probe.
    #[serde(default)]
    pub best_probe_recall: Option<f64>,
    /// What chose the exported step.
    #[serde(default = "default_select_on")]
    pub select_on: SelectOn,
    /// The step whose parameters the artifacts hold (the best validation).
    pub exported_step: usize,
    pub stopped_early: bool,
    /// The training pass's product operands (`f32` or `bf16`).
    #[serde(default)]
    pub precision: ProductPrecision,
}

fn default_select_on() -> SelectOn {
    SelectOn::ValLoss
}

/// The step log, rewritten on resume so that it ends at the resumed step.
pub struct StepLog {
    path: PathBuf,
}

impl StepLog {
    /// Opens `path`, keeping only records of steps up to `resumed_step`.
    pub fn open(path: &Path, resumed_step: usize) -> Result<Self> {
        let kept: Vec<StepRecord> = read_log(path)
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.step <= resumed_step)
            .collect();
        let mut text = String::new();
        for record in &kept {
            text.push_str(&serde_json::to_string(record).expect("record serializes"));
            text.push('\n');
        }
        f1_files::write(path, text.as_bytes())?;
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    pub fn append(&self, record: &StepRecord) -> Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| Error::io(&self.path, e))?;
        let line = serde_json::to_string(record).expect("record serializes");
        writeln!(file, "{line}").map_err(|e| Error::io(&self.path, e))
    }
}

/// Reads a step log.
pub fn read_log(path: &Path) -> Result<Vec<StepRecord>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| Error::Data {
                path: path.to_path_buf(),
                message: format!("line {}: {e}", i + 1),
            })
        })
        .collect()
}

/// Starts the peak of [`memory_mib`] afresh from the current resident memory, so
/// that a run inside a longer process (`f1ai run`'s stages) reports its own peak.
/// Linux only (`/proc/self/clear_refs`); elsewhere the peak stays the process's.
pub fn reset_peak_memory() {
    if let Err(error) = std::fs::write("/proc/self/clear_refs", "5") {
        tracing::debug!("peak memory not reset: {error}");
    }
}

/// Resident and peak resident memory of this process in MiB (Linux; 0 elsewhere).
pub fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_peak_can_be_started_afresh() {
        // 256 MiB touched, then freed: the peak keeps it until reset.
        let mut block = vec![0u8; 256 << 20];
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        let with_block = memory_mib().1;
        drop(block);
        assert!(
            memory_mib().1 > with_block - 8.0,
            "the peak outlives the block"
        );
        reset_peak_memory();
        let (now, peak) = memory_mib();
        assert!(
            peak < with_block - 128.0,
            "peak {peak} after reset, {with_block} before"
        );
        assert!(peak >= now - 1.0);
    }
}
