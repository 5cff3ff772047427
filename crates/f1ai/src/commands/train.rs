//! `f1ai train`: fine-tunes a model as a training configuration says.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use f1_train::{train, Outcome, RunPaths, TrainConfig, TrainOptions};

use crate::cli::TrainArgs;
use crate::workspace::Workspace;

pub fn run(args: TrainArgs, workspace: &Workspace) -> Result<()> {
    let config = TrainConfig::read(&args.config)?;
    let model = workspace
        .model_path(&config.model)
        .with_context(|| args.config.display().to_string())?;
    let paths = RunPaths {
        model,
        workspace: workspace.root().to_path_buf(),
        checkpoints: workspace.checkpoints(&config.run_name),
        artifacts: workspace.artifacts(&config.run_name),
    };
    let options = TrainOptions {
        resume: args.resume,
        stop_after_step: args.stop_after_step,
        progress: std::io::stderr().is_terminal(),
        device: args.device.open()?,
    };
    let outcome = train(&config, &paths, &options)
        .with_context(|| format!("training run '{}'", config.run_name))?;
    match outcome {
        Outcome::Interrupted { step } => println!(
            "stopped after step {step}; checkpoints in {}; continue with --resume",
            paths.checkpoints.display()
        ),
        Outcome::Finished(summary) => {
            let loss = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
            println!(
                "{}: {} steps, {} tokens in {:.1}s ({:.0} tokens/s), peak RSS {:.0} MiB; \
                 val loss {} -> {} (best {} at step {}); {} of {} parameters trained; \
                 artifacts in {}",
                summary.run_name,
                summary.steps,
                summary.tokens_seen,
                summary.wall_seconds,
                summary.tokens_per_second,
                summary.peak_rss_mib,
                loss(summary.initial_val_loss),
                loss(summary.final_val_loss),
                loss(summary.best_val_loss),
                summary.exported_step,
                summary.trainable_parameters,
                summary.total_parameters,
                paths.artifacts.display()
            );
        }
    }
    Ok(())
}
