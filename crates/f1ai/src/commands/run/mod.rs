//! `f1ai run`: the whole study as one command. The profile's stages (fetch the
//! models, import and build the data, baselines, each training run and its
//! answers, evaluation, report) run in order, in this process; each is skipped
//! when its inputs are unchanged since it last finished, and an interrupted
//! training run continues from its checkpoints.

mod profile;
mod stage;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use clap::Parser;
use f1_train::config::TrainConfig;

use self::profile::Profile;
use self::stage::{Ledger, Plan, Stage, Stamp};
use crate::cli::{Cli, RunArgs};
use crate::workspace::Workspace;

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

/// The GGUF a model name or path stands for, fetched when registered.
fn model_file(workspace: &Workspace, model: &str) -> Result<PathBuf> {
    if f1_model::registry::find(model).is_ok() {
        workspace.base_model(model)
    } else {
        Ok(PathBuf::from(model))
    }
}

fn predictions(workspace: &Workspace, stem: &str, modes: &[String]) -> Vec<PathBuf> {
    modes
        .iter()
        .map(|mode| workspace.predictions(stem, mode))
        .collect()
}

fn mode_args(modes: &[String]) -> Vec<String> {
    modes
        .iter()
        .flat_map(|m| ["--mode".to_string(), m.clone()])
        .collect()
}

/// The study's stages, in order; fetching the models happens here.
fn stages(profile: &Profile, workspace: &Workspace) -> Result<Vec<Stage>> {
    let root = workspace.root();
    let database = workspace.database();
    let curated = workspace.curated();
    let splits = ["train", "val", "test"].map(|s| curated.join(format!("{s}.jsonl")));
    let tool_splits = ["train", "val", "test"].map(|s| curated.join(format!("tools-{s}.jsonl")));
    // Tools mode asks the test questions from their tool conversations.
    let tool_questions = |modes: &[String]| {
        modes
            .iter()
            .any(|m| m == f1_baseline::Mode::Tools.name())
            .then(|| tool_splits[2].clone())
    };
    let mut stages = Vec::new();

    let mut import = owned(&["data", "import"]);
    let ergast = profile
        .data
        .ergast_dir
        .clone()
        .or_else(|| std::env::var_os("F1AI_ERGAST_DIR").map(PathBuf::from));
    if let Some(dir) = &ergast {
        import.extend(["--ergast-dir".to_string(), path_arg(dir)]);
    }
    let f1db = profile
        .data
        .f1db_dir
        .clone()
        .or_else(|| std::env::var_os("F1AI_F1DB_DIR").map(PathBuf::from));
    if let Some(dir) = &f1db {
        import.extend(["--f1db".to_string(), path_arg(dir)]);
    }
    stages.push(Stage {
        name: "import".into(),
        argv: import,
        inputs: ergast.into_iter().chain(f1db).collect(),
        outputs: vec![database.clone()],
        checkpoints: None,
    });

    let mut build = owned(&["data", "build", "--config"]);
    build.push(path_arg(&profile.data.config));
    let mut build_inputs = vec![profile.data.config.clone(), database.clone()];
    if let Some(size) = &profile.data.size {
        build.extend(["--profile".to_string(), size.clone()]);
    }
    if let Some(tokenizer) = &profile.data.tokenizer {
        build.extend(["--tokenizer".to_string(), tokenizer.clone()]);
        build_inputs.push(model_file(workspace, tokenizer)?);
    }
    stages.push(Stage {
        name: "build".into(),
        argv: build,
        inputs: build_inputs,
        outputs: splits
            .iter()
            .cloned()
            .chain(tool_splits.iter().cloned())
            .chain([curated.join(f1_dataset::MULTIPLE_CHOICE_FILE)])
            .collect(),
        checkpoints: None,
    });

    let answer_args = |model: &str, modes: &[String]| {
        let mut argv = owned(&["baseline", "--model", model]);
        argv.extend(mode_args(modes));
        argv.extend([
            "--limit".to_string(),
            profile.baseline.limit.to_string(),
            "--max-tokens".to_string(),
            profile.baseline.max_tokens.to_string(),
            "--batch-size".to_string(),
            profile.baseline.batch_size.to_string(),
            "--precision".to_string(),
            profile.baseline.precision.clone(),
        ]);
        if profile.baseline.fan_questions {
            argv.push("--fan-questions".into());
        }
        argv
    };
    for model in &profile.models {
        let label = crate::catalog::labelled(workspace, model, None)?;
        stages.push(Stage {
            name: format!("baseline-{}", label.model),
            argv: answer_args(model, &profile.baseline.modes),
            inputs: vec![label.source.weights.clone(), database.clone()]
                .into_iter()
                .chain(splits.clone())
                .chain(tool_questions(&profile.baseline.modes))
                .collect(),
            outputs: predictions(
                workspace,
                &label.predictions_stem(),
                &profile.baseline.modes,
            ),
            checkpoints: None,
        });
        if let Some(knowledge) = &profile.knowledge {
            stages.push(Stage {
                name: format!("knowledge-{}", label.model),
                argv: owned(&[
                    "knowledge",
                    "--model",
                    model,
                    "--limit",
                    &profile.baseline.limit.to_string(),
                    "--exemplar-sets",
                    &knowledge.exemplar_sets.to_string(),
                    "--shots",
                    &knowledge.shots.to_string(),
                    "--samples",
                    &knowledge.samples.to_string(),
                    "--precision",
                    &profile.baseline.precision,
                ]),
                inputs: vec![
                    label.source.weights.clone(),
                    splits[0].clone(),
                    splits[2].clone(),
                ],
                outputs: vec![workspace.knowledge(&label.model)],
                checkpoints: None,
            });
        }
    }

    let mut scored_models = profile.models.clone();
    for training in &profile.training {
        let config_path = training.config().to_path_buf();
        let modes = training.modes(&profile.baseline.tuned_modes);
        let config = TrainConfig::read(&config_path)?;
        scored_models.push(config.run_name.clone());
        let run = config.run_name.clone();
        let artifacts = workspace.artifacts(&run);
        stages.push(Stage {
            name: format!("train-{run}"),
            argv: owned(&["train", "--config", &path_arg(&config_path)]),
            inputs: [
                config_path.clone(),
                model_file(workspace, &config.model)?,
                root.join(&config.data.train),
                root.join(&config.data.val),
            ]
            .into_iter()
            .chain(config.data.extra_train.iter().map(|p| root.join(p)))
            .collect(),
            outputs: vec![artifacts.join(f1_train::trainer::SUMMARY_FILE)],
            checkpoints: Some(workspace.checkpoints(&run)),
        });
        stages.push(Stage {
            name: format!("answers-{run}"),
            argv: answer_args(&run, modes),
            inputs: [
                artifacts,
                database.clone(),
                splits[0].clone(),
                splits[2].clone(),
            ]
            .into_iter()
            .chain(tool_questions(modes))
            .collect(),
            outputs: predictions(workspace, &run, modes),
            checkpoints: None,
        });
    }

    for adapter in &profile.external {
        ensure!(
            adapter.join(f1_train::peft::CONFIG_FILE).is_file(),
            "external run {}: not a PEFT adapter folder (no {})",
            adapter.display(),
            f1_train::peft::CONFIG_FILE
        );
        let label = crate::catalog::labelled(workspace, &path_arg(adapter), None)?;
        let run = label.predictions_stem();
        scored_models.push(path_arg(adapter));
        stages.push(Stage {
            name: format!("answers-{run}"),
            argv: answer_args(&path_arg(adapter), &profile.baseline.tuned_modes),
            inputs: vec![adapter.clone(), database.clone(), splits[2].clone()],
            outputs: predictions(workspace, &run, &profile.baseline.tuned_modes),
            checkpoints: None,
        });
    }

    let metrics = workspace.metrics_dir();
    let mut eval = owned(&["eval", "--config", &path_arg(&profile.eval.config)]);
    if let Some(limit) = profile.eval.perplexity_limit {
        eval.extend(owned(&[
            "--perplexity",
            "--perplexity-limit",
            &limit.to_string(),
        ]));
    }
    if let Some(limit) = profile.eval.multiple_choice_limit {
        eval.extend(owned(&[
            "--multiple-choice",
            "--mc-limit",
            &limit.to_string(),
        ]));
    }
    let mut eval_inputs = vec![
        profile.eval.config.clone(),
        workspace.predictions_dir(),
        workspace.artifacts_dir(),
        splits[2].clone(),
        curated.join(f1_dataset::MULTIPLE_CHOICE_FILE),
    ];
    if let Some(limit) = profile.eval.general_limit {
        let dir = profile
            .eval
            .general_dir
            .clone()
            .or_else(|| std::env::var_os("F1AI_GENERAL_EVAL_DIR").map(PathBuf::from))
            .context(
                "the profile scores general ability (eval.general_limit): set eval.general_dir or F1AI_GENERAL_EVAL_DIR",
            )?;
        eval.extend([
            "--general".to_string(),
            "--general-dir".to_string(),
            path_arg(&dir),
            "--general-limit".to_string(),
            limit.to_string(),
        ]);
        eval_inputs.push(dir);
    }
    if profile.knowledge.is_some() {
        eval_inputs.extend(profile.models.iter().filter_map(|m| {
            crate::catalog::labelled(workspace, m, None)
                .ok()
                .map(|l| workspace.knowledge(&l.model))
        }));
    }
    for model in scored_models {
        for (flag, wanted) in [
            (
                "--perplexity-model",
                profile.eval.perplexity_limit.is_some(),
            ),
            ("--mc-model", profile.eval.multiple_choice_limit.is_some()),
            ("--general-model", profile.eval.general_limit.is_some()),
        ] {
            if wanted {
                eval.extend([flag.to_string(), model.clone()]);
            }
        }
    }
    stages.push(Stage {
        name: "eval".into(),
        argv: eval,
        inputs: eval_inputs,
        outputs: vec![metrics.join("summary.json")],
        checkpoints: None,
    });
    stages.push(Stage {
        name: "report".into(),
        argv: owned(&["report"]),
        inputs: vec![
            metrics,
            workspace.predictions_dir(),
            workspace.artifacts_dir(),
        ],
        outputs: vec![workspace.report_html()],
        checkpoints: None,
    });
    Ok(stages)
}

/// A stage's command line as `f1ai` parses it.
fn parse(workspace: &Workspace, argv: &[String]) -> Result<Cli> {
    let mut full = vec![
        "f1ai".to_string(),
        "--workspace".to_string(),
        path_arg(workspace.root()),
    ];
    full.extend_from_slice(argv);
    Cli::try_parse_from(&full).with_context(|| format!("f1ai {}", argv.join(" ")))
}

pub fn run(args: RunArgs, workspace: &Workspace) -> Result<()> {
    let started = Instant::now();
    let path = Profile::locate(&args.profile);
    let profile = Profile::read(&path)?;
    println!("study profile {}", path.display());
    let stages = stages(&profile, workspace)?;
    if args.dry_run {
        for (i, stage) in stages.iter().enumerate() {
            parse(workspace, &stage.argv).with_context(|| format!("stage {}", stage.name))?;
            let position = format!("[{}/{}] {}", i + 1, stages.len(), stage.name);
            println!("{position}: f1ai {}", stage.argv.join(" "));
        }
        return Ok(());
    }
    let mut ledger = Ledger::open(workspace.run_ledger_dir())?;
    for (i, stage) in stages.iter().enumerate() {
        let fingerprint = ledger.fingerprint(stage)?;
        let plan = if args.force {
            Plan::Run
        } else {
            ledger.plan(stage, &fingerprint)
        };
        let position = format!("[{}/{}] {}", i + 1, stages.len(), stage.name);
        if plan == Plan::Skip {
            println!("{position}: unchanged, skipped");
            continue;
        }
        let mut argv = stage.argv.clone();
        match (plan, &stage.checkpoints) {
            (Plan::Resume, _) => argv.push("--resume".into()),
            (_, Some(dir)) if dir.is_dir() => {
                tracing::info!(dir = %dir.display(), "inputs changed: old checkpoints removed");
                std::fs::remove_dir_all(dir)
                    .with_context(|| format!("removing {}", dir.display()))?;
            }
            _ => {}
        }
        println!("{position}: f1ai {}", argv.join(" "));
        let begun = Instant::now();
        let mut stamp = Stamp {
            fingerprint: fingerprint.clone(),
            finished: false,
            seconds: 0.0,
        };
        ledger.record(&stage.name, &stamp)?;
        parse(workspace, &argv)
            .and_then(crate::dispatch)
            .with_context(|| format!("stage {}", stage.name))?;
        stamp.finished = true;
        stamp.seconds = begun.elapsed().as_secs_f64();
        ledger.record(&stage.name, &stamp)?;
        println!("{position}: done in {:.1} s", stamp.seconds);
    }
    println!(
        "study finished in {:.1} s; report: {}",
        started.elapsed().as_secs_f64(),
        workspace.report_html().display()
    );
    Ok(())
}
