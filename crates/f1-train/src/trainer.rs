//! The training loop: accumulation, clipping, AdamW, validation with early
//! stopping, checkpoints and exact resume.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::quantized::GgmlDType;
use candle_core::{Device, Tensor};
use f1_model::chat::ChatTemplate;
use f1_model::transformer::{ForwardOptions, Transformer, WeightFormat};
use f1_model::Tokenizer;
use indicatif::{ProgressBar, ProgressStyle};

use crate::base::BaseModel;
use crate::checkpoint::{Checkpoints, Progress};
use crate::config::{Method, SelectOn, TrainConfig};
use crate::data::{epoch_batches, fixed_batches, read_conversations, Batch, Encoder, Sequence};
use crate::error::{Error, Result};
use crate::export;
use crate::loss::{summed_nll, summed_nll_value};
use crate::metrics::{
    memory_mib, read_log, reset_peak_memory, write_atomic, RunSummary, StepLog, StepRecord,
};
use crate::optimizer::{clipping, AdamW};
use crate::probe::{Probe, ProbeScore};
use crate::schedule::learning_rate;
use crate::scorer::ScoringModel;
use crate::trainable::{attach_lora, count, make_full_trainable, Parameter};

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

/// A model being trained, with its tokenizer and the trainable parameters.
pub struct TrainingModel {
    pub transformer: Transformer,
    pub base: BaseModel,
    pub tokenizer: Tokenizer,
    pub template: ChatTemplate,
    pub parameters: Vec<Parameter>,
}

impl TrainingModel {
    /// Loads `path` (a GGUF file or a Hugging Face folder) and makes the
    /// configured weights trainable. Full training holds every weight in f32;
    /// LoRA keeps a GGUF's frozen projections as stored and dequantizes them for
    /// each product (the same f32 numbers, a quarter of the memory or less).
    pub fn load(path: &Path, config: &TrainConfig, device: &Device) -> Result<Self> {
        let base = BaseModel::open(path)?;
        let format = match config.method {
            Method::Lora => WeightFormat::Dequantized,
            Method::Full => WeightFormat::F32,
        };
        let mut transformer = base.transformer(format, device)?;
        let parameters = match config.method {
            Method::Lora => attach_lora(&mut transformer, &config.lora, config.training.seed)?,
            Method::Full => make_full_trainable(&mut transformer, &config.full)?,
        };
        Ok(Self {
            tokenizer: base.tokenizer()?,
            template: base.template(&transformer)?,
            transformer,
            base,
            parameters,
        })
    }

    /// Tokenizes a conversation file; conversations that keep no assistant token
    /// after truncation are dropped (and counted in the log).
    pub fn sequences(
        &self,
        path: &Path,
        limit: usize,
        config: &TrainConfig,
    ) -> Result<Vec<Sequence>> {
        let encoder = Encoder {
            tokenizer: &self.tokenizer,
            template: &self.template,
            system_prompt: &config.data.system_prompt,
            max_tokens: config.data.max_seq_len,
        };
        let mut sequences = Vec::new();
        let mut cut = 0;
        let conversations = read_conversations(path, limit)?;
        for conversation in &conversations {
            let (sequence, length) = encoder.encode_measured(conversation)?;
            cut += usize::from(length > sequence.ids.len());
            if sequence.scored_tokens() > 0 {
                sequences.push(sequence);
            }
        }
        if cut > 0 {
            tracing::warn!(
                "{}: {cut} of {} conversations are longer than data.max_seq_len {} and were cut to it (their later tokens are not trained on)",
                path.display(),
                conversations.len(),
                config.data.max_seq_len
            );
        }
        let dropped = conversations.len() - sequences.len();
        if dropped > 0 {
            tracing::warn!(
                "{}: {dropped} conversations have no assistant token within max_seq_len {} and are skipped",
                path.display(),
                config.data.max_seq_len
            );
        }
        if sequences.is_empty() {
            return Err(Error::Data {
                path: path.to_path_buf(),
                message: "no conversation has an assistant token to learn".into(),
            });
        }
        Ok(sequences)
    }

    /// The model, to score text with.
    pub fn scoring(&mut self) -> ScoringModel<'_> {
        ScoringModel {
            transformer: &mut self.transformer,
            tokenizer: &self.tokenizer,
            template: &self.template,
        }
    }

    /// The validation loss over `batches` and, where given, the probe's
    /// accuracies and the general-ability score.
    pub fn validate(
        &mut self,
        batches: &[Batch],
        probe: Option<&Probe>,
        general: Option<&GeneralEval>,
    ) -> Result<Validation> {
        let loss = self.evaluate(batches)?;
        let probe = match probe {
            Some(probe) => probe.run(&mut self.transformer, &self.tokenizer)?,
            None => ProbeScore::default(),
        };
        let general = general.map(|g| g.score(self)).transpose()?;
        Ok(Validation {
            loss,
            probe,
            general,
        })
    }

    /// Mean loss per scored token over `batches`, without dropout.
    pub fn evaluate(&mut self, batches: &[Batch]) -> Result<f64> {
        let options = ForwardOptions::scoring();
        let mut total = 0.0;
        let mut scored = 0usize;
        for batch in batches {
            total += summed_nll_value(&mut self.transformer, batch, &options)?;
            scored += batch.targets.len();
        }
        Ok(total / scored.max(1) as f64)
    }

    /// One optimizer step's gradients over `batches`: the mean loss per scored
    /// token of all of them together (as one large batch would give), and the
    /// gradient of every parameter.
    pub fn gradients(
        &mut self,
        batches: &[Batch],
        dropout_seed: Option<u64>,
    ) -> Result<(f64, Vec<Tensor>)> {
        let scored: usize = batches.iter().map(|b| b.targets.len()).sum();
        let mut sums: Vec<Option<Tensor>> = vec![None; self.parameters.len()];
        let mut loss = 0.0;
        for (micro, batch) in batches.iter().enumerate() {
            let seed =
                dropout_seed.map(|s| s ^ (micro as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
            let options = ForwardOptions::training(seed);
            let nll = summed_nll(&mut self.transformer, batch, &options)?;
            loss += nll.to_scalar::<f32>()? as f64;
            let grads = self.transformer.backward(&(nll / scored.max(1) as f64)?)?;
            for (sum, p) in sums.iter_mut().zip(&self.parameters) {
                if let Some(g) = grads.get(p.var.as_tensor()) {
                    // A gradient can still point at the activations it was computed
                    // from; detached, it keeps none of them (and nothing built from
                    // it, such as AdamW's moments, chains one step to the next).
                    let g = g.detach();
                    *sum = Some(match sum.take() {
                        Some(s) => (s + g)?,
                        None => g,
                    });
                }
            }
        }
        let gradients = sums
            .into_iter()
            .zip(&self.parameters)
            .map(|(g, p)| match g {
                Some(g) => Ok(g),
                None => Ok(p.var.zeros_like()?),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((loss / scored.max(1) as f64, gradients))
    }
}

/// Trains as `config` says and writes checkpoints, the step log, the summary and
/// the artifacts.
pub fn train(config: &TrainConfig, paths: &RunPaths, options: &TrainOptions) -> Result<Outcome> {
    reset_peak_memory();
    let t = &config.training;
    let mut model = TrainingModel::load(&paths.model, config, &options.device)?;
    let train_path = paths.workspace.join(&config.data.train);
    let val_path = paths.workspace.join(&config.data.val);
    let train_set = model.sequences(&train_path, config.data.max_train_examples, config)?;
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
    let batches_per_epoch = epoch_batches(
        &train_set,
        t.seed,
        0,
        t.batch_size,
        config.data.packing,
        config.data.max_seq_len,
    )
    .len();
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
    let mut progress = Progress {
        step: 0,
        epoch: 0,
        batch_in_epoch: 0,
        tokens_seen: 0,
        best_val_loss: None,
        best_probe_recall: None,
        best_step: 0,
        evals_since_best: 0,
        elapsed_seconds: 0.0,
        step_seconds: 0.0,
    };
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
        write_atomic(&paths.artifacts.join(INITIAL_VAL_FILE), json.as_bytes())?;
    }
    let initial_val_loss = initial.map(|v| v.loss);
    let prior_seconds = progress.elapsed_seconds;
    let bar = progress_bar(options.progress, total_steps, progress.step);
    let session = Instant::now();
    let mut batches = epoch_batches(
        &train_set,
        t.seed,
        progress.epoch,
        t.batch_size,
        config.data.packing,
        config.data.max_seq_len,
    );
    let mut last_val = None;
    let mut stopped_early = false;
    let mut last_checkpoint: Option<PathBuf> = existing.last().cloned();
    while progress.step < total_steps {
        let started = Instant::now();
        let mut step_batches = Vec::with_capacity(t.gradient_accumulation);
        while step_batches.len() < t.gradient_accumulation {
            if progress.batch_in_epoch == batches.len() {
                if !step_batches.is_empty() {
                    break; // an epoch's last step may be short
                }
                progress.epoch += 1;
                progress.batch_in_epoch = 0;
                batches = epoch_batches(
                    &train_set,
                    t.seed,
                    progress.epoch,
                    t.batch_size,
                    config.data.packing,
                    config.data.max_seq_len,
                );
            }
            step_batches.push(batches[progress.batch_in_epoch].clone());
            progress.batch_in_epoch += 1;
        }
        let dropout_seed = t.seed ^ (progress.step as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let (loss, gradients) = model.gradients(&step_batches, Some(dropout_seed))?;
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
        let patience_spent =
            t.early_stopping_patience > 0 && progress.evals_since_best >= t.early_stopping_patience;
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
            export::lora(&paths.artifacts, &model, config, &base_model)?
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
    };
    let json = serde_json::to_string_pretty(&summary).expect("summary serializes");
    write_atomic(&paths.artifacts.join(SUMMARY_FILE), json.as_bytes())?;
    Ok(Outcome::Finished(Box::new(summary)))
}

/// The step log in an artifacts folder.
pub const LOG_FILE: &str = "training_log.jsonl";
/// The run summary in an artifacts folder.
pub const SUMMARY_FILE: &str = "training_summary.json";
/// The validation before training, kept beside the log for resumed runs and
/// for the learning curves' first point.
pub const INITIAL_VAL_FILE: &str = "initial_validation.json";

fn read_summary(artifacts: &Path) -> Option<RunSummary> {
    let text = std::fs::read_to_string(artifacts.join(SUMMARY_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

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
            let invalid = |message: String| Error::Data {
                path: dir.clone(),
                message,
            };
            let task = f1_eval::general::task(name).map_err(invalid)?;
            let questions = task.questions(&dir, settings.per_task).map_err(invalid)?;
            tasks.push((task, questions));
        }
        Ok(Some(Self { tasks }))
    }

    /// Mean `acc_norm` over the tasks.
    pub fn score(&self, model: &mut TrainingModel) -> Result<f64> {
        let mut scoring = model.scoring();
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
    fn better_than(&self, progress: &Progress, select_on: SelectOn) -> bool {
        let lower_loss = progress.best_val_loss.is_none_or(|b| self.loss < b);
        match (select_on, self.probe.recall, progress.best_probe_recall) {
            (SelectOn::ProbeRecall, Some(recall), Some(best)) => {
                recall > best || (recall == best && lower_loss)
            }
            (SelectOn::ProbeRecall, Some(_), None) => true,
            _ => lower_loss,
        }
    }

    fn probe_text(&self) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(loss: Option<f64>, recall: Option<f64>) -> Progress {
        Progress {
            step: 10,
            epoch: 0,
            batch_in_epoch: 0,
            tokens_seen: 0,
            best_val_loss: loss,
            best_probe_recall: recall,
            best_step: 5,
            evals_since_best: 0,
            elapsed_seconds: 0.0,
            step_seconds: 0.0,
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
