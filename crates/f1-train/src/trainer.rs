//! The training loop: accumulation, clipping, AdamW, validation with early
//! stopping, checkpoints and exact resume.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::quantized::GgmlDType;
use candle_core::Device;
use indicatif::{ProgressBar, ProgressStyle};

use crate::checkpoint::{Checkpoints, Progress};
use crate::config::{Method, TrainConfig};
use crate::data::{fixed_batches, Batch};
use crate::epoch_cursor::EpochCursor;
use crate::error::{Error, Result};
use crate::export;
use crate::metrics::{memory_mib, read_log, reset_peak_memory, RunSummary, StepLog, StepRecord};
use crate::optimizer::{clipping, AdamW};
use crate::probe::Probe;
use crate::schedule::learning_rate;
use crate::trainable::count;
use crate::training_model::TrainingModel;
use crate::validation::{patience_spent, read_initial, GeneralEval, INITIAL_VAL_FILE};

/// Everything a run needs besides its configuration.
pub struct RunPaths {
    /// The base model: a GGUF file or a Hugging Face model folder.
    pub model: PathBuf,
    /// Resolves the configuration's relative data paths.
    pub workspace: PathBuf,
    /// models/checkpoints/<run>/.
    pub checkpoints: PathBuf,
    /// models/artifacts/<run>/.
    pub artifacts: PathBuf,
}

/// How a call to [`train`] ended.
#[derive(Debug)]
pub enum Outcome {
    /// Training finished (budget spent or early stopping) and artifacts were written.
    Finished(Box<RunSummary>),
    /// Stopped on request after a step, as an interruption would; resume with the
    /// same configuration.
    Interrupted { step: usize },
}

/// Options of one invocation.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Continue from the newest checkpoint.
    pub resume: bool,
    /// Stop right after this step (and its checkpoint), without artifacts.
    pub stop_after_step: Option<usize>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// Where the model trains.
    pub device: Device,
}

/// Trains as `config` says and writes checkpoints, the step log, the summary and
/// the artifacts.
pub fn train(config: &TrainConfig, paths: &RunPaths, options: &TrainOptions) -> Result<Outcome> {
    reset_peak_memory();
    let t = &config.training;
    let mut model = TrainingModel::load(&paths.model, config, &options.device)?;
    let train_path = paths.workspace.join(&config.data.train);
    let val_path = paths.workspace.join(&config.data.val);
    let mut train_set = model.sequences(&train_path, config.data.max_train_examples, config)?;
    for extra in &config.data.extra_train {
        train_set.extend(model.sequences(&paths.workspace.join(extra), 0, config)?);
    }
    let val_set = model.sequences(&val_path, config.data.max_val_examples, config)?;
    let val_batches = fixed_batches(&val_set, t.batch_size);
    let general = GeneralEval::load(config)?;
    let probe = Probe::read(
        &val_path,
        (config.probe.recall_questions, config.probe.unseen_questions),
        config.probe.max_tokens,
        &config.data.system_prompt,
        &model.tokenizer,
        &model.template,
    )?;
    if let Some(probe) = &probe {
        let (recall, unseen) = probe.counts();
        tracing::info!("validation probe: {recall} recall and {unseen} unseen questions");
    }
    let batches_per_epoch = EpochCursor::new(&train_set, config, 0).batches_per_epoch();
    let steps_per_epoch = batches_per_epoch.div_ceil(t.gradient_accumulation);
    let eval_every = match t.evaluations_per_epoch {
        0 => t.eval_every,
        n => steps_per_epoch.div_ceil(n).max(1),
    };
    let total_steps = if t.max_steps > 0 {
        t.max_steps
    } else {
        t.epochs * steps_per_epoch
    };
    let trainable = count(&model.parameters);
    let base_parameters = model.transformer.parameter_count()?;
    let total_parameters = match config.method {
        Method::Lora => base_parameters + trainable,
        Method::Full => base_parameters,
    };
    tracing::info!(
        "{}: {} training and {} validation conversations, {steps_per_epoch} steps per epoch, {total_steps} steps; {trainable} trainable of {total_parameters} parameters",
        config.run_name, train_set.len(), val_set.len()
    );

    let checkpoints = Checkpoints::new(paths.checkpoints.clone());
    let mut optimizer = AdamW::new(&model.parameters, t)?;
    let mut progress = Progress::default();
    let existing = checkpoints.list()?;
    if options.resume {
        match checkpoints.restore_latest(
            config,
            &model.parameters,
            &mut optimizer,
            &options.device,
        )? {
            Some((path, restored)) => {
                tracing::info!("resuming from {} (step {})", path.display(), restored.step);
                progress = restored;
            }
            None => tracing::warn!(
                "--resume: no checkpoint in {}; starting from step 0",
                checkpoints.dir().display()
            ),
        }
    } else if !existing.is_empty() {
        return Err(Error::Artifact {
            path: checkpoints.dir().to_path_buf(),
            message: "this run already has checkpoints; pass --resume to continue it, or choose another run_name".into(),
        });
    }
    if progress.step >= total_steps {
        if let Some(summary) = read_summary(&paths.artifacts) {
            tracing::info!(
                "{} already finished at step {}",
                config.run_name,
                progress.step
            );
            return Ok(Outcome::Finished(Box::new(summary)));
        }
    }
    let log = StepLog::open(&paths.artifacts.join(LOG_FILE), progress.step)?;
    let initial = match progress.step {
        0 => Some(model.validate(&val_batches, probe.as_ref(), general.as_ref())?),
        _ => None,
    };
    if let Some(initial) = &initial {
        tracing::info!(
            "before training: validation loss {:.4}{}",
            initial.loss,
            initial.probe_text()
        );
        let json = serde_json::to_string(initial).expect("a validation serializes");
        f1_files::write(&paths.artifacts.join(INITIAL_VAL_FILE), json.as_bytes())?;
    }
    let initial_val_loss = initial.map(|v| v.loss);
    let prior_seconds = progress.elapsed_seconds;
    let bar = progress_bar(options.progress, total_steps, progress.step);
    let session = Instant::now();
    let mut cursor = EpochCursor::new(&train_set, config, progress.epoch);
    let mut last_val = None;
    let mut stopped_early = false;
    let mut last_checkpoint: Option<PathBuf> = existing.last().cloned();
    while progress.step < total_steps {
        let started = Instant::now();
        let step_batches = cursor.next_step(&mut progress, t.gradient_accumulation);
        let step_seed = t.seed ^ (progress.step as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let (loss, gradients) = model.gradients(&step_batches, Some(step_seed))?;
        let (grad_norm, gradient_scale) = clipping(&gradients, t.max_grad_norm)?;
        if !loss.is_finite() || !grad_norm.is_finite() {
            let kept = match &last_checkpoint {
                Some(path) => format!("the last good checkpoint is {}", path.display()),
                None => "no checkpoint was written yet".into(),
            };
            return Err(Error::Diverged(format!(
                "training diverged at step {}: loss {loss}, gradient norm {grad_norm}; the parameters were not updated and {kept}. Lower training.learning_rate, keep training.max_grad_norm on, or check the data",
                progress.step + 1
            )));
        }
        let lr = learning_rate(
            t.learning_rate,
            progress.step,
            t.warmup_steps,
            total_steps,
            t.decay,
        );
        optimizer.update(&model.parameters, &gradients, gradient_scale, lr)?;
        progress.step += 1;
        let tokens: usize = step_batches.iter().map(Batch::tokens).sum();
        progress.tokens_seen += tokens;
        let seconds = started.elapsed().as_secs_f64();
        progress.step_seconds += seconds;
        let mut record = StepRecord {
            step: progress.step,
            epoch: progress.epoch,
            loss,
            val_loss: None,
            probe_recall: None,
            probe_unseen: None,
            general: None,
            tokens_seen: progress.tokens_seen,
            step_seconds: progress.step_seconds,
            learning_rate: lr,
            grad_norm,
            tokens_per_second: tokens as f64 / seconds.max(1e-9),
            rss_mib: memory_mib().0,
        };
        let last_step = progress.step == total_steps;
        if (eval_every > 0 && progress.step.is_multiple_of(eval_every)) || last_step {
            let validation = model.validate(&val_batches, probe.as_ref(), general.as_ref())?;
            record.val_loss = Some(validation.loss);
            record.probe_recall = validation.probe.recall;
            record.probe_unseen = validation.probe.unseen;
            record.general = validation.general;
            last_val = Some(validation.loss);
            if validation.better_than(&progress, t.select_on) {
                progress.best_val_loss = Some(validation.loss);
                progress.best_probe_recall = validation.probe.recall;
                progress.evals_since_best = 0;
                progress.best_step = progress.step;
                checkpoints.save_best(&model.parameters)?;
            } else {
                progress.evals_since_best += 1;
            }
            bar.println(format!(
                "step {}: val loss {:.4}{}",
                progress.step,
                validation.loss,
                validation.probe_text()
            ));
        }
        log.append(&record)?;
        bar.set_position(progress.step as u64);
        bar.set_message(format!(
            "loss {loss:.4} lr {lr:.2e} {:.0} tok/s",
            record.tokens_per_second
        ));
        let patience_spent = patience_spent(&progress, t.early_stopping_patience);
        let interrupt = options.stop_after_step == Some(progress.step);
        let save_due = t.save_every > 0 && progress.step.is_multiple_of(t.save_every);
        if save_due || last_step || patience_spent || interrupt {
            progress.elapsed_seconds = prior_seconds + session.elapsed().as_secs_f64();
            let saved = checkpoints.save(
                config,
                &progress,
                &model.parameters,
                &optimizer,
                t.keep_checkpoints,
            )?;
            last_checkpoint = Some(saved);
        }
        if interrupt {
            bar.abandon();
            return Ok(Outcome::Interrupted {
                step: progress.step,
            });
        }
        if patience_spent {
            tracing::info!(
                "early stopping at step {}: no better validation ({:?}) in {} evaluations",
                progress.step,
                t.select_on,
                t.early_stopping_patience
            );
            stopped_early = true;
            break;
        }
    }
    bar.finish();
    let exported_step = if progress.best_val_loss.is_some() && progress.best_step != progress.step {
        tracing::info!(
            "exporting step {}, the best validation ({:?})",
            progress.best_step,
            t.select_on
        );
        checkpoints.load_best(&model.parameters, &options.device)?;
        progress.best_step
    } else {
        progress.step
    };
    match config.method {
        Method::Lora => {
            let base_model = model.base.adapter_base_name(&config.model);
            export::lora(
                &paths.artifacts,
                &model.transformer,
                &model.parameters,
                config,
                &base_model,
            )?
        }
        Method::Full => model.base.write_full(
            &paths.artifacts,
            &mut model.transformer,
            Some(GgmlDType::F16),
        )?,
    }
    let log = read_log(&paths.artifacts.join(LOG_FILE))?;
    let wall_seconds = prior_seconds + session.elapsed().as_secs_f64();
    let summary = RunSummary {
        run_name: config.run_name.clone(),
        model: config.model.clone(),
        method: config.method,
        steps: progress.step,
        epochs_started: progress.epoch + 1,
        tokens_seen: progress.tokens_seen,
        wall_seconds,
        tokens_per_second: progress.tokens_seen as f64 / wall_seconds.max(1e-9),
        trainable_parameters: trainable,
        total_parameters,
        peak_rss_mib: memory_mib().1,
        first_loss: log.first().map(|r| r.loss),
        final_loss: log.last().map(|r| r.loss),
        initial_val_loss: initial_val_loss
            .or_else(|| read_initial(&paths.artifacts).map(|v| v.loss)),
        final_val_loss: last_val,
        best_val_loss: progress.best_val_loss,
        best_probe_recall: progress.best_probe_recall,
        select_on: t.select_on,
        exported_step,
        stopped_early,
        precision: config.precision,
    };
    let json = serde_json::to_string_pretty(&summary).expect("summary serializes");
    f1_files::write(&paths.artifacts.join(SUMMARY_FILE), json.as_bytes())?;
    Ok(Outcome::Finished(Box::new(summary)))
}

/// The step log in an artifacts folder.
pub const LOG_FILE: &str = "training_log.jsonl";
/// The run summary in an artifacts folder.
pub const SUMMARY_FILE: &str = "training_summary.json";
fn progress_bar(visible: bool, total: usize, done: usize) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] step {pos}/{len} {msg} (ETA {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_position(done as u64);
    bar
}

fn read_summary(artifacts: &Path) -> Option<RunSummary> {
    let text = std::fs::read_to_string(artifacts.join(SUMMARY_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}
