//! Checkpoints under models/checkpoints/<run>/step-NNNNNNNN/: the trainable
//! parameters, the optimizer's moments and where training stood. Each is written
//! into a temporary folder and renamed into place, so a killed run never leaves a
//! half-written checkpoint behind.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::optimizer::AdamW;
use crate::trainable::Parameter;

const PARAMETERS: &str = "parameters.safetensors";
/// The names of checkpoints (folders) and best parameters (files) being written.
const STAGING_PREFIX: &str = ".staging-";
const OPTIMIZER: &str = "optimizer.safetensors";
const STATE: &str = "state.json";

/// Where training stood when a checkpoint was written (`default()`: at the start).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Optimizer steps taken.
    pub step: usize,
    pub epoch: usize,
    /// Micro-batches of `epoch` already consumed.
    pub batch_in_epoch: usize,
    /// Non-padding tokens seen.
    pub tokens_seen: usize,
    /// The validation loss of the best evaluation so far.
    pub best_val_loss: Option<f64>,
    /// Its probe recall accuracy, when the run has a probe.
    #[serde(default)]
    pub best_probe_recall: Option<f64>,
    /// The step of the best evaluation (its parameters are in best/).
    pub best_step: usize,
    /// Validations since the best one (for early stopping).
    pub evals_since_best: usize,
    /// Training seconds before this checkpoint (summed over resumed sessions).
    pub elapsed_seconds: f64,
    /// The part of them spent in optimizer steps (no evaluations, no saving).
    #[serde(default)]
    pub step_seconds: f64,
}

#[derive(Serialize, Deserialize)]
struct State {
    progress: Progress,
    config: TrainConfig,
}

/// A run's checkpoint folder.
pub struct Checkpoints {
    dir: PathBuf,
}

impl Checkpoints {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Saves a checkpoint and deletes all but the newest `keep`.
    pub fn save(
        &self,
        config: &TrainConfig,
        progress: &Progress,
        parameters: &[Parameter],
        optimizer: &AdamW,
        keep: usize,
    ) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        f1_files::stale::sweep(&self.dir, &[STAGING_PREFIX]);
        let staging = tempfile::Builder::new()
            .prefix(STAGING_PREFIX)
            .tempdir_in(&self.dir)
            .map_err(|e| Error::io(&self.dir, e))?;
        // Held until the folder is renamed: a later run sweeps it only if this
        // process dies first.
        let _claimed = f1_files::stale::claim(staging.path())?;
        candle_core::safetensors::save(&named(parameters), staging.path().join(PARAMETERS))?;
        optimizer.save(parameters, &staging.path().join(OPTIMIZER))?;
        let state = State {
            progress: progress.clone(),
            config: config.clone(),
        };
        let json = serde_json::to_string_pretty(&state).expect("state serializes");
        let state_path = staging.path().join(STATE);
        std::fs::write(&state_path, json).map_err(|e| Error::io(&state_path, e))?;
        let target = self.dir.join(format!("step-{:08}", progress.step));
        if target.exists() {
            std::fs::remove_dir_all(&target).map_err(|e| Error::io(&target, e))?;
        }
        let staged = staging.keep();
        std::fs::rename(&staged, &target).map_err(|e| Error::io(&target, e))?;
        for old in self.list()?.iter().rev().skip(keep) {
            std::fs::remove_dir_all(old).map_err(|e| Error::io(old, e))?;
        }
        Ok(target)
    }

    /// Keeps the parameters of the best validation so far in best/.
    pub fn save_best(&self, parameters: &[Parameter]) -> Result<()> {
        let dir = self.dir.join("best");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        f1_files::stale::sweep(&dir, &[STAGING_PREFIX]);
        let staging = tempfile::Builder::new()
            .prefix(STAGING_PREFIX)
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&dir, e))?;
        f1_files::stale::lock(staging.as_file(), staging.path())?;
        candle_core::safetensors::save(&named(parameters), staging.path())?;
        let target = dir.join(PARAMETERS);
        staging
            .persist(&target)
            .map_err(|e| Error::io(&target, e.error))?;
        Ok(())
    }

    /// Loads the parameters saved by [`Checkpoints::save_best`].
    pub fn load_best(&self, parameters: &[Parameter], device: &Device) -> Result<()> {
        load_parameters(&self.dir.join("best").join(PARAMETERS), parameters, device)
    }

    /// Complete checkpoints, oldest first.
    pub fn list(&self) -> Result<Vec<PathBuf>> {
        let mut found = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            Err(e) => return Err(Error::io(&self.dir, e)),
        };
        for entry in entries {
            let path = entry.map_err(|e| Error::io(&self.dir, e))?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.starts_with("step-") && path.join(STATE).is_file() {
                found.push(path);
            }
        }
        found.sort();
        Ok(found)
    }

    /// Loads the newest checkpoint into `parameters` and `optimizer`, checking it
    /// was written by the same configuration (apart from stopping criteria).
    pub fn restore_latest(
        &self,
        config: &TrainConfig,
        parameters: &[Parameter],
        optimizer: &mut AdamW,
        device: &Device,
    ) -> Result<Option<(PathBuf, Progress)>> {
        let Some(latest) = self.list()?.pop() else {
            return Ok(None);
        };
        let state_path = latest.join(STATE);
        let text = std::fs::read_to_string(&state_path).map_err(|e| Error::io(&state_path, e))?;
        let state: State = serde_json::from_str(&text).map_err(|e| Error::Artifact {
            path: state_path.clone(),
            message: e.to_string(),
        })?;
        if !same_run(&state.config, config) {
            return Err(Error::Artifact {
                path: latest,
                message: "this checkpoint was written with a different configuration \
                          (model, method, data or optimizer); start a new run_name or \
                          train without --resume"
                    .into(),
            });
        }
        load_parameters(&latest.join(PARAMETERS), parameters, device)?;
        optimizer.restore(
            parameters,
            &latest.join(OPTIMIZER),
            state.progress.step,
            device,
        )?;
        Ok(Some((latest, state.progress)))
    }
}

/// Whether two configurations train the same run: everything but the budget and
/// the bookkeeping may not change across a resume.
fn same_run(saved: &TrainConfig, now: &TrainConfig) -> bool {
    let budget_free = |c: &TrainConfig| {
        let mut c = c.clone();
        c.training.max_steps = 0;
        c.training.epochs = 0;
        c.training.save_every = 0;
        c.training.keep_checkpoints = 0;
        c.training.eval_every = 0;
        c.training.early_stopping_patience = 0;
        c
    };
    budget_free(saved) == budget_free(now)
}

fn named(parameters: &[Parameter]) -> HashMap<String, Tensor> {
    parameters
        .iter()
        .map(|p| (p.name.clone(), p.var.as_tensor().clone()))
        .collect()
}

/// Copies saved tensors into `parameters`; a missing name or a shape that differs
/// is an error naming the file and tensor.
pub fn load_parameters(path: &Path, parameters: &[Parameter], device: &Device) -> Result<()> {
    let saved = candle_core::safetensors::load(path, device)?;
    for p in parameters {
        let tensor = saved.get(&p.name).ok_or_else(|| Error::Artifact {
            path: path.to_path_buf(),
            message: format!("'{}' is missing", p.name),
        })?;
        if tensor.dims() != p.var.dims() {
            return Err(Error::Artifact {
                path: path.to_path_buf(),
                message: format!(
                    "'{}' has shape {:?}, the model needs {:?}",
                    p.name,
                    tensor.dims(),
                    p.var.dims()
                ),
            });
        }
        p.var.set(&tensor.to_dtype(candle_core::DType::F32)?)?;
    }
    Ok(())
}
