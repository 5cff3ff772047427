//! `f1ai run`: the whole study on the real data with a tiny random-weight model,
//! killed with SIGKILL in training, resumed, rerun with nothing changed, and
//! rerun after a change that only some stages depend on.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ergast_dir, f1ai, stderr, stdout, tiny_model};

const STEPS: usize = 150;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A LoRA adapter trained "elsewhere" (another workspace) for a few steps.
fn external_adapter(work: &Path, model: &Path) -> PathBuf {
    let elsewhere = work.join("elsewhere");
    let curated = elsewhere.join("data/curated");
    std::fs::create_dir_all(&curated).unwrap();
    let line = r#"{"messages": [{"role": "user", "content": "Who won in 1988?"}, {"role": "assistant", "content": "Senna."}]}"#;
    for split in ["train", "val"] {
        std::fs::write(
            curated.join(format!("{split}.jsonl")),
            format!("{line}\n{line}\n"),
        )
        .unwrap();
    }
    let config = elsewhere.join("lora.yaml");
    std::fs::write(
        &config,
        format!(
            "run_name: elsewhere-lora\nmodel: {}\nmethod: lora\nlora: {{r: 2, alpha: 4}}\n\
             training: {{max_steps: 2, batch_size: 1, learning_rate: 0.01, warmup_steps: 0}}\n",
            model.display()
        ),
    )
    .unwrap();
    let trained = f1ai(&elsewhere, &["train", "--config", config.to_str().unwrap()]);
    assert!(trained.status.success(), "{}", stderr(&trained));
    elsewhere.join("models/artifacts/elsewhere-lora")
}

fn write_profile(work: &Path, model: &Path, limit: usize) -> PathBuf {
    let config = repository().join("config");
    let external = match work.join("elsewhere/models/artifacts/elsewhere-lora") {
        adapter if adapter.is_dir() => adapter,
        _ => external_adapter(work, model),
    };
    let training = work.join("tiny-full.yaml");
    std::fs::write(
        &training,
        format!(
            "run_name: tiny-full\nmodel: {}\nmethod: full\n\
             data: {{max_seq_len: 64, max_val_examples: 4, packing: true}}\n\
             probe: {{unseen_questions: 3, max_tokens: 4}}\n\
             training: {{max_steps: {STEPS}, batch_size: 2, learning_rate: 0.001, warmup_steps: 2, \
             eval_every: 50, save_every: 5, keep_checkpoints: 2}}\n",
            model.display()
        ),
    )
    .unwrap();
    let profile = work.join("profile.yaml");
    std::fs::write(
        &profile,
        format!(
            "models: [{model}]\n\
             data: {{ergast_dir: {ergast}, config: {data}, size: quick}}\n\
             baseline: {{modes: [zero-shot], tuned_modes: [zero-shot], limit: {limit}, max_tokens: 6}}\n\
             knowledge: {{exemplar_sets: 1, samples: 1}}\n\
             training: [{training}]\n\
             external: [{external}]\n\
             eval: {{config: {eval}, perplexity_limit: 4, multiple_choice_limit: 6, general_limit: 3, \
             general_dir: {general}}}\n",
            model = model.display(),
            ergast = ergast_dir().display(),
            general = ergast_dir().join("../general-eval").display(),
            data = config.join("data_config.yaml").display(),
            training = training.display(),
            external = external.display(),
            eval = config.join("evaluation_config.yaml").display(),
        ),
    )
    .unwrap();
    profile
}

fn study(work: &Path, profile: &Path) -> std::process::Output {
    f1ai(work, &["run", "--profile", profile.to_str().unwrap()])
}

/// Starts the study and SIGKILLs it once training has written a checkpoint.
fn study_killed_in_training(work: &Path, profile: &Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_f1ai"))
        .arg("--workspace")
        .arg(work)
        .args(["run", "--profile", profile.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.join("killed.log")).unwrap())
        .spawn()
        .unwrap();
    let checkpoints = work.join("models/checkpoints/tiny-full");
    let started = Instant::now();
    loop {
        let saved = std::fs::read_dir(&checkpoints).map_or(0, |d| d.count());
        if saved > 0 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the study ended before training checkpointed: {}",
            std::fs::read_to_string(work.join("killed.log")).unwrap_or_default()
        );
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no checkpoint"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !work
            .join("models/artifacts/tiny-full/training_summary.json")
            .exists(),
        "training finished before the kill: raise STEPS"
    );
}

#[test]
fn a_killed_study_resumes_and_an_unchanged_one_is_skipped() {
    let work = tempfile::tempdir().unwrap();
    let model = tiny_model(work.path(), "smollm2");
    let profile = write_profile(work.path(), &model, 4);
    study_killed_in_training(work.path(), &profile);

    let resumed = study(work.path(), &profile);
    let text = stdout(&resumed);
    assert!(resumed.status.success(), "{text}\n{}", stderr(&resumed));
    // Data and baseline finished before the kill; training continues.
    assert!(text.contains("[1/9] import: unchanged, skipped"), "{text}");
    assert!(
        text.contains("[3/9] baseline-tiny-smollm2: unchanged, skipped"),
        "{text}"
    );
    assert!(text.contains("--resume"), "{text}");
    assert!(text.contains("report: "), "{text}");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            work.path()
                .join("models/artifacts/tiny-full/training_summary.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["steps"], STEPS);
    let log = std::fs::read_to_string(
        work.path()
            .join("models/artifacts/tiny-full/training_log.jsonl"),
    )
    .unwrap();
    let steps: Vec<u64> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        steps,
        (1..=STEPS as u64).collect::<Vec<_>>(),
        "every step logged once"
    );
    for file in [
        "results/predictions/tiny-smollm2-base-zero-shot.jsonl",
        "results/predictions/tiny-full-zero-shot.jsonl",
        "results/predictions/elsewhere-lora-zero-shot.jsonl",
        "results/metrics/summary.json",
        "results/metrics/perplexity.json",
        "results/metrics/multiple_choice.json",
        "results/metrics/general.json",
        "results/metrics/knowledge-tiny-smollm2.json",
        "results/reports/report.html",
        "results/visualizations/loss-curves.svg",
        "results/visualizations/learning-curves.svg",
    ] {
        assert!(work.path().join(file).is_file(), "{file}");
    }

    // Forgetting for the study's own run and the one trained elsewhere.
    let general: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("results/metrics/general.json")).unwrap(),
    )
    .unwrap();
    let compared: Vec<&str> = general["forgetting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["model"].as_str().unwrap())
        .collect();
    assert_eq!(compared, ["tiny-full", "elsewhere-lora"], "{general}");

    let again = study(work.path(), &profile);
    let text = stdout(&again);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(text.matches("unchanged, skipped").count(), 9, "{text}");

    // Fewer questions: the answers and what reads them rerun, training does not.
    write_profile(work.path(), &model, 3);
    let changed = study(work.path(), &profile);
    let text = stdout(&changed);
    assert!(changed.status.success(), "{}", stderr(&changed));
    assert!(
        text.contains("train-tiny-full: unchanged, skipped"),
        "{text}"
    );
    for stage in [
        "baseline-tiny-smollm2",
        "knowledge-tiny-smollm2",
        "answers-tiny-full",
        "answers-elsewhere-lora",
        "eval",
        "report",
    ] {
        assert!(
            text.contains(&format!("{stage}: done in")),
            "{stage}: {text}"
        );
    }
}

#[test]
fn an_unknown_profile_key_is_named() {
    let work = tempfile::tempdir().unwrap();
    let profile = work.path().join("bad.yaml");
    std::fs::write(&profile, "models: [smollm2]\nepochs: 3\n").unwrap();
    let output = study(work.path(), &profile);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("bad.yaml"), "{}", stderr(&output));
    assert!(stderr(&output).contains("epochs"), "{}", stderr(&output));
}

/// Every shipped profile's stages parse as `f1ai` command lines, and a dry run
/// runs none of them.
#[test]
fn every_shipped_profile_plans_commands_that_parse() {
    let work = tempfile::tempdir().unwrap();
    for (profile, stages) in [("quick", 12), ("standard", 20), ("full", 12)] {
        let output = Command::new(env!("CARGO_BIN_EXE_f1ai"))
            .current_dir(repository())
            .env("F1AI_ERGAST_DIR", ergast_dir())
            .env("F1AI_F1DB_DIR", ergast_dir().with_file_name("f1db"))
            .env(
                "F1AI_GENERAL_EVAL_DIR",
                ergast_dir().join("../general-eval"),
            )
            .arg("--workspace")
            .arg(work.path())
            .args(["run", "--profile", profile, "--dry-run"])
            .output()
            .unwrap();
        let text = stdout(&output);
        assert!(output.status.success(), "{profile}: {}", stderr(&output));
        let planned: Vec<&str> = text.lines().filter(|l| l.starts_with('[')).collect();
        assert_eq!(planned.len(), stages, "{profile}: {text}");
        // Ergast, then F1DB merged in.
        assert!(
            planned[0].contains("import: f1ai data import --ergast-dir ")
                && planned[0].contains(" --f1db "),
            "{text}"
        );
        assert!(
            planned[planned.len() - 1].ends_with("report: f1ai report"),
            "{text}"
        );
        assert!(
            planned
                .iter()
                .filter(|l| l.contains(": f1ai baseline"))
                .all(|l| l.ends_with("--fan-questions")),
            "{text}"
        );
        // The third arm: a run fine-tuned to call, answered through the tools.
        if profile != "full" {
            assert!(
                planned
                    .iter()
                    .any(|l| l.contains("answers-smollm2-lora-tools: f1ai baseline --model smollm2-lora-tools --mode tools ")),
                "{text}"
            );
        }
    }
    assert!(
        !work.path().join("data/processed/f1.sqlite").exists(),
        "a dry run runs nothing"
    );
}
