//! `f1ai train` on tiny random-weight models (with the real tokenizers): exact
//! resume, artifacts, and the errors a user can run into.

mod common;

use std::path::{Path, PathBuf};

use common::{f1ai, fails_with, stderr, stdout, tiny_model};
use f1_model::gguf::GgufMetadata;

fn write_conversations(path: &Path, count: usize) {
    let mut text = String::new();
    for i in 0..count {
        let line = serde_json::json!({"messages": [
            {"role": "user", "content": format!("Who won race {i} of {}?", 1980 + i)},
            {"role": "assistant", "content": format!("Driver number {i}.")},
        ]});
        text.push_str(&format!("{line}\n"));
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A workspace with a tiny model and a small dataset; returns it and the model.
fn workspace() -> (tempfile::TempDir, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let model = tiny_model(work.path(), "smollm2");
    write_conversations(&work.path().join("data/curated/train.jsonl"), 24);
    write_conversations(&work.path().join("data/curated/val.jsonl"), 6);
    (work, model)
}

fn write_config(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, body).unwrap();
    path
}

fn lora_config(model: &Path, run: &str, extra_training: &str) -> String {
    format!(
        "run_name: {run}\nmodel: {}\nmethod: lora\nlora: {{r: 4, alpha: 8, dropout: 0.1}}\n\
         training:\n  max_steps: 20\n  batch_size: 2\n  gradient_accumulation: 2\n  \
         learning_rate: 0.01\n  warmup_steps: 3\n  eval_every: 5\n  save_every: 5\n  \
         early_stopping_patience: 0\n{extra_training}",
        model.display()
    )
}

fn losses(workspace: &Path, run: &str) -> Vec<(usize, f64, Option<f64>)> {
    let log = workspace.join(format!("models/artifacts/{run}/training_log.jsonl"));
    std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                v["step"].as_u64().unwrap() as usize,
                v["loss"].as_f64().unwrap(),
                v["val_loss"].as_f64(),
            )
        })
        .collect()
}

/// The losses of the runs `straight` and `split` (stopped and resumed), which
/// must be the same `steps` rows, with the same bytes in the `artifact` each
/// exported.
fn same_runs(workspace: &Path, steps: usize, artifact: &str) -> Vec<(usize, f64, Option<f64>)> {
    let (a, b) = (losses(workspace, "straight"), losses(workspace, "split"));
    assert_eq!(a.len(), steps);
    assert_eq!(
        a, b,
        "the resumed run's losses differ from the straight run's"
    );
    let exported = |run: &str| {
        std::fs::read(workspace.join(format!("models/artifacts/{run}/{artifact}"))).unwrap()
    };
    assert!(
        exported("straight") == exported("split"),
        "{artifact} differs"
    );
    a
}

fn train(workspace: &Path, config: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["train", "--config", config.to_str().unwrap()];
    args.extend(extra);
    f1ai(workspace, &args)
}

#[test]
fn a_resumed_run_repeats_the_straight_run_exactly() {
    let (work, model) = workspace();
    let straight = write_config(
        work.path(),
        "straight",
        &lora_config(&model, "straight", ""),
    );
    let output = train(work.path(), &straight, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("20 steps"), "{}", stdout(&output));

    let split = write_config(work.path(), "split", &lora_config(&model, "split", ""));
    let output = train(work.path(), &split, &["--stop-after-step", "10"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("stopped after step 10"),
        "{}",
        stdout(&output)
    );
    let checkpoints = work.path().join("models/checkpoints/split");
    assert!(checkpoints
        .join("step-00000010/optimizer.safetensors")
        .is_file());
    assert!(!work
        .path()
        .join("models/artifacts/split/adapter_model.safetensors")
        .exists());
    // A checkpoint a kill interrupted while it was being written is ignored.
    std::fs::create_dir_all(checkpoints.join(".staging-killed")).unwrap();
    // Starting again without --resume would overwrite the run: refused.
    fails_with(
        work.path(),
        &["train", "--config", split.to_str().unwrap()],
        1,
        "pass --resume",
    );
    let output = train(work.path(), &split, &["--resume"]);
    assert!(output.status.success(), "{}", stderr(&output));
    // ...and removed by the next checkpoint write, as no process holds it.
    assert!(!checkpoints.join(".staging-killed").exists());

    let a = same_runs(work.path(), 20, "adapter_model.safetensors");
    // Training lowered the validation loss on this tiny task.
    let first_val = a.iter().find_map(|r| r.2).unwrap();
    let last_val = a.last().unwrap().2.unwrap();
    assert!(last_val < first_val, "{first_val} -> {last_val}");
    // Only the newest two checkpoints are kept (keep_checkpoints: 2).
    let kept: Vec<_> = std::fs::read_dir(&checkpoints)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("step-"))
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            work.path()
                .join("models/artifacts/split/training_summary.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["steps"], 20);
    assert_eq!(summary["method"], "lora");
    assert!(summary["peak_rss_mib"].as_f64().unwrap() > 0.0);
    assert!(
        summary["initial_val_loss"].as_f64().unwrap() > summary["best_val_loss"].as_f64().unwrap()
    );
}

/// bf16 full fine-tuning draws its stochastic rounding from the step: a run
/// stopped and resumed repeats the straight run's losses and weights exactly.
#[test]
fn a_resumed_bf16_full_run_repeats_the_straight_run_exactly() {
    let (work, model) = workspace();
    let config = |run: &str| {
        let body = format!(
            "run_name: {run}\nmodel: {}\nmethod: full\nprecision: bf16\ntraining:\n  max_steps: 8\n  \
             batch_size: 2\n  learning_rate: 0.001\n  warmup_steps: 1\n  eval_every: 4\n  save_every: 4\n",
            model.display()
        );
        write_config(work.path(), run, &body)
    };
    let output = train(work.path(), &config("straight"), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let split = config("split");
    let output = train(work.path(), &split, &["--stop-after-step", "4"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = train(work.path(), &split, &["--resume"]);
    assert!(output.status.success(), "{}", stderr(&output));
    same_runs(work.path(), 8, "model.safetensors");
}

#[test]
fn full_training_writes_safetensors_and_a_gguf_our_loader_runs() {
    let (work, model) = workspace();
    let config = write_config(
        work.path(),
        "full",
        &format!(
            "run_name: full\nmodel: {}\nmethod: full\ntraining:\n  max_steps: 4\n  batch_size: 4\n  learning_rate: 0.001\n  warmup_steps: 1\n  eval_every: 2\n",
            model.display()
        ),
    );
    let output = train(work.path(), &config, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let artifacts = work.path().join("models/artifacts/full");
    let hf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(artifacts.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(hf["model_type"], "llama");
    assert_eq!(hf["hidden_size"], 32);
    assert_eq!(hf["tie_word_embeddings"], true);
    let weights = candle_core::safetensors::load(
        artifacts.join("model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    assert_eq!(weights["model.embed_tokens.weight"].dims()[1], 32);
    assert!(weights.contains_key("model.layers.1.mlp.down_proj.weight"));
    assert!(
        !weights.contains_key("lm_head.weight"),
        "a tied head is not stored twice"
    );
    let mut trained =
        f1_model::model::GgufModel::load(&artifacts.join("model.gguf"), &candle_core::Device::Cpu)
            .unwrap();
    let logits = trained.forward(&[1, 2, 3], 0).unwrap();
    assert!(logits.iter().all(|v| v.is_finite()));
    let mut base = f1_model::model::GgufModel::load(&model, &candle_core::Device::Cpu).unwrap();
    let before = base.forward(&[1, 2, 3], 0).unwrap();
    let moved = logits
        .iter()
        .zip(&before)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(moved > 1e-3, "training changed nothing");
}

#[test]
fn a_bf16_run_follows_the_f32_run_and_says_so() {
    let (work, model) = workspace();
    let mut runs = Vec::new();
    for precision in ["f32", "bf16"] {
        let body = format!(
            "run_name: {precision}\nmodel: {}\nmethod: full\nprecision: {precision}\ntraining:\n  \
             max_steps: 6\n  batch_size: 4\n  learning_rate: 0.001\n  warmup_steps: 1\n  \
             eval_every: 3\n",
            model.display()
        );
        let config = write_config(work.path(), precision, &body);
        let output = train(work.path(), &config, &[]);
        assert!(output.status.success(), "{}", stderr(&output));
        let summary = work.path().join(format!(
            "models/artifacts/{precision}/training_summary.json"
        ));
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
        assert_eq!(summary["precision"], precision);
        runs.push(losses(work.path(), precision));
    }
    let (f32_run, bf16_run) = (&runs[0], &runs[1]);
    assert_eq!(f32_run.len(), 6);
    for ((step, f32_loss, _), (_, bf16_loss, _)) in f32_run.iter().zip(bf16_run) {
        let relative = (bf16_loss - f32_loss).abs() / f32_loss;
        assert!(
            relative < 0.02,
            "step {step}: f32 {f32_loss}, bf16 {bf16_loss}"
        );
        assert!(bf16_loss != f32_loss, "step {step}: bf16 changed nothing");
    }
}

#[test]
fn bad_configurations_and_data_are_refused_clearly() {
    let (work, model) = workspace();
    let dir = work.path();
    let cases = [
        (
            "module",
            lora_config(&model, "m", "").replace(
                "dropout: 0.1}",
                "dropout: 0.1, target_modules: [q_proj, attn_proj]}",
            ),
            "'attn_proj' is neither a module of the model",
        ),
        (
            "preset",
            lora_config(&model, "p", "").replace(
                "dropout: 0.1}",
                "dropout: 0.1, target_modules: all-lineer}",
            ),
            "'all-lineer' is neither a module of the model (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj) nor a preset (attention, all-linear)",
        ),
        (
            "rank",
            lora_config(&model, "r", "").replace("r: 4", "r: 0"),
            "lora.r must be at least 1",
        ),
        (
            "unknown",
            lora_config(&model, "u", "  learning_rat: 0.1\n"),
            "unknown field `learning_rat`",
        ),
    ];
    for (name, body, message) in cases {
        let config = write_config(dir, name, &body);
        fails_with(
            dir,
            &["train", "--config", config.to_str().unwrap()],
            1,
            message,
        );
        assert!(
            stderr(&f1ai(dir, &["train", "--config", config.to_str().unwrap()]))
                .contains(&format!("{name}.yaml")),
            "the error names the file"
        );
    }

    std::fs::write(dir.join("data/curated/empty.jsonl"), "").unwrap();
    let empty = write_config(
        dir,
        "empty",
        &lora_config(&model, "e", "").replace(
            "method: lora",
            "method: lora\ndata: {train: data/curated/empty.jsonl}",
        ),
    );
    fails_with(
        dir,
        &["train", "--config", empty.to_str().unwrap()],
        1,
        "empty.jsonl: no conversations to train on",
    );
}

#[test]
fn a_diverging_run_stops_and_keeps_its_last_checkpoint() {
    let (work, model) = workspace();
    let body = lora_config(&model, "nan", "")
        .replace("learning_rate: 0.01", "learning_rate: 1.0e+30")
        .replace("save_every: 5", "save_every: 1");
    let config = write_config(work.path(), "nan", &body);
    let output = train(work.path(), &config, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("training diverged at step"), "{message}");
    assert!(message.contains("the last good checkpoint is"), "{message}");
    assert!(
        message.contains("Lower training.learning_rate"),
        "{message}"
    );
    let checkpoints = work.path().join("models/checkpoints/nan");
    assert!(std::fs::read_dir(&checkpoints).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("step-")));
    assert!(!work
        .path()
        .join("models/artifacts/nan/adapter_model.safetensors")
        .exists());
}

#[test]
fn baseline_answers_with_a_trained_adapter_and_refuses_one_for_another_model() {
    let work = common::curated_workspace();
    let dir = work.path();
    let config = write_config(
        dir,
        "real",
        "run_name: real-lora\nmodel: smollm2\nmethod: lora\nlora: {r: 2, alpha: 4}\n\
         data: {max_train_examples: 4, max_val_examples: 2, max_seq_len: 64}\n\
         training: {max_steps: 1, batch_size: 2, eval_every: 0}\n",
    );
    let output = train(dir, &config, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let adapter = dir.join("models/artifacts/real-lora");
    let output = f1ai(
        dir,
        &[
            "baseline",
            "--model",
            "smollm2",
            "--mode",
            "zero-shot",
            "--limit",
            "2",
            "--max-tokens",
            "8",
            "--adapter",
            adapter.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let predictions = dir.join("results/predictions/smollm2-lora-zero-shot.jsonl");
    let text = std::fs::read_to_string(&predictions).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text.contains("\"method\":\"lora\""), "{text}");

    // An adapter trained on the tiny model does not fit the real one.
    let model = tiny_model(dir, "smollm2");
    let tiny = write_config(
        dir,
        "tiny",
        &lora_config(&model, "tiny", "").replace("max_steps: 20", "max_steps: 1"),
    );
    let output = train(dir, &tiny, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let tiny_adapter = dir.join("models/artifacts/tiny");
    fails_with(
        dir,
        &[
            "baseline",
            "--model",
            "smollm2",
            "--mode",
            "zero-shot",
            "--limit",
            "1",
            "--adapter",
            tiny_adapter.to_str().unwrap(),
        ],
        1,
        "does not fit this model",
    );
}

#[test]
fn merge_folds_the_adapter_into_a_gguf_that_answers_like_base_plus_adapter() {
    let (work, model) = workspace();
    let dir = work.path();
    let config = write_config(
        dir,
        "m",
        &lora_config(&model, "m", "").replace("max_steps: 20", "max_steps: 4"),
    );
    assert!(train(dir, &config, &[]).status.success());
    let adapter = dir.join("models/artifacts/m");
    for dtype in ["f16", "q8_0"] {
        let out = dir.join(format!("merged-{dtype}"));
        let output = f1ai(
            dir,
            &[
                "merge",
                "--adapter",
                adapter.to_str().unwrap(),
                "--model",
                model.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--gguf",
                dtype,
            ],
        );
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(out.join("model.safetensors").is_file() && out.join("config.json").is_file());

        let ids = [5u32, 17, 230, 4000, 77];
        let metadata = GgufMetadata::read(&model).unwrap();
        let mut reference = f1_model::transformer::Transformer::from_gguf(
            &metadata,
            f1_model::transformer::WeightFormat::F32,
            &candle_core::Device::Cpu,
        )
        .unwrap();
        f1_train::peft::attach_adapter(&mut reference, &adapter).unwrap();
        let input = candle_core::Tensor::new(&ids[..], &candle_core::Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let options = f1_model::transformer::ForwardOptions::training(
            None,
            f1_model::transformer::ProductPrecision::F32,
        );
        let expected: Vec<f32> = reference
            .next_token_logits(&input, 0, &[], &options)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let mut merged =
            f1_model::model::GgufModel::load(&out.join("model.gguf"), &candle_core::Device::Cpu)
                .unwrap();
        let got = merged.forward(&ids, 0).unwrap();
        let worst = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        let tolerance = if dtype == "f16" { 0.02 } else { 0.1 };
        assert!(
            worst < tolerance,
            "{dtype}: merged logits differ by {worst}"
        );
    }
    fails_with(
        dir,
        &[
            "merge",
            "--adapter",
            adapter.to_str().unwrap(),
            "--gguf",
            "q4",
        ],
        1,
        "is not f16 or q8_0",
    );
}

#[test]
fn models_export_writes_a_hugging_face_folder_or_names_the_bad_input() {
    let (work, model) = workspace();
    let out = work.path().join("hf");
    let output = common::export_hugging_face(work.path(), &model, &out);
    assert!(stdout(&output).contains("tiny-smollm2: wrote"));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "LlamaForCausalLM");
    assert_eq!(config["torch_dtype"], "float32");
    let tensors =
        candle_core::safetensors::load(out.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    let metadata = GgufMetadata::read(&model).unwrap();
    let layers = metadata.u32("llama.block_count").unwrap() as usize;
    assert!(tensors.contains_key("model.embed_tokens.weight"));
    assert!(tensors.contains_key(&format!("model.layers.{}.mlp.down_proj.weight", layers - 1)));
    assert!(tensors
        .values()
        .all(|t| t.dtype() == candle_core::DType::F32));
    assert!(
        !out.join("model.gguf").exists(),
        "an export is the Hugging Face folder only"
    );

    fails_with(
        work.path(),
        &["models", "export", "nowhere.gguf"],
        1,
        "nowhere.gguf is neither a registered model (smollm2, gemma3) nor a GGUF file",
    );
}

#[test]
fn a_hugging_face_folder_trains_as_its_gguf_does_and_gets_hugging_face_artifacts() {
    let (work, model) = workspace();
    let dir = work.path();
    let hf = dir.join("hf");
    common::export_hugging_face(dir, &model, &hf);

    // The folder holds the GGUF's weights in f32: LoRA on either sees the same
    // numbers and takes the same steps.
    for (run, base) in [("from-gguf", &model), ("from-hf", &hf)] {
        let body = lora_config(base, run, "").replace("max_steps: 20", "max_steps: 6");
        let output = train(dir, &write_config(dir, run, &body), &[]);
        assert!(output.status.success(), "{run}: {}", stderr(&output));
    }
    let (gguf, folder) = (losses(dir, "from-gguf"), losses(dir, "from-hf"));
    assert_eq!(gguf.len(), 6);
    for (a, b) in gguf.iter().zip(&folder) {
        assert!((a.1 - b.1).abs() < 1e-4, "step {}: {} vs {}", a.0, a.1, b.1);
    }
    let adapter = dir.join("models/artifacts/from-hf");
    let adapter_config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(adapter.join("adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        adapter_config["base_model_name_or_path"],
        std::path::absolute(&hf).unwrap().display().to_string(),
        "PEFT names a local base by its path"
    );

    // merge finds the base through the adapter; from a byte-level BPE folder it
    // writes a GGUF too, whose tokenizer and logits are the folder's.
    let merged = dir.join("merged");
    let output = f1ai(
        dir,
        &[
            "merge",
            "--adapter",
            adapter.to_str().unwrap(),
            "--out",
            merged.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read(merged.join("tokenizer.json")).unwrap(),
        std::fs::read(hf.join("tokenizer.json")).unwrap()
    );
    let ids = [5u32, 17, 230, 4000, 77];
    let logits = |transformer: &mut f1_model::transformer::Transformer| -> Vec<f32> {
        let input = candle_core::Tensor::new(&ids[..], &candle_core::Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let options = f1_model::transformer::ForwardOptions::training(
            None,
            f1_model::transformer::ProductPrecision::F32,
        );
        transformer
            .next_token_logits(&input, 0, &[], &options)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    let load = |dir: &Path| {
        f1_model::transformer::Transformer::from_hugging_face_folder(dir, &candle_core::Device::Cpu)
            .unwrap()
    };
    let mut reference = load(&hf);
    f1_train::peft::attach_adapter(&mut reference, &adapter).unwrap();
    let expected = logits(&mut reference);
    assert!(worst_difference(&logits(&mut load(&merged)), &expected) < 1e-4);
    assert_gguf_matches_folder(&merged, &expected, &hf);

    // A tokenizer.json GGUF has no type for (here byte-level BPE behind a
    // normalizer): --gguf refuses it before merging; without --gguf the merge
    // writes the folder only.
    let normalized = dir.join("hf-normalized");
    std::fs::create_dir_all(&normalized).unwrap();
    for entry in std::fs::read_dir(&hf).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, normalized.join(path.file_name().unwrap())).unwrap();
    }
    let mut tokenizer: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(normalized.join("tokenizer.json")).unwrap())
            .unwrap();
    tokenizer["normalizer"] =
        serde_json::json!({"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"});
    std::fs::write(normalized.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    let merge_onto_normalized = |out: &str, extra: &[&str]| {
        let out = dir.join(out);
        let mut args = vec![
            "merge",
            "--adapter",
            adapter.to_str().unwrap(),
            "--model",
            normalized.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        (f1ai(dir, &args), out)
    };
    let (output, out) = merge_onto_normalized("merged-normalized-gguf", &["--gguf", "q8_0"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("only byte-level BPE tokenizers"),
        "{}",
        stderr(&output)
    );
    assert!(!out.exists(), "a refused merge writes nothing");
    let (output, out) = merge_onto_normalized("merged-normalized", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(out.join("model.safetensors").is_file() && !out.join("model.gguf").exists());

    // Full training from the folder writes a folder with the base's tokenizer.
    let body = format!(
        "run_name: full-hf\nmodel: {}\nmethod: full\ntraining:\n  max_steps: 2\n  batch_size: 4\n  learning_rate: 0.001\n  eval_every: 0\n",
        hf.display()
    );
    let output = train(dir, &write_config(dir, "full-hf", &body), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let artifacts = dir.join("models/artifacts/full-hf");
    for file in ["tokenizer.json", "tokenizer_config.json"] {
        assert_eq!(
            std::fs::read(artifacts.join(file)).unwrap(),
            std::fs::read(hf.join(file)).unwrap(),
            "{file}"
        );
    }
    let trained = logits(&mut load(&artifacts));
    assert!(
        worst_difference(&trained, &logits(&mut load(&hf))) > 1e-3,
        "training changed nothing"
    );
    assert_gguf_matches_folder(&artifacts, &trained, &hf);

    fails_with(
        dir,
        &["merge", "--adapter", adapter.to_str().unwrap(), "--model", "nowhere"],
        1,
        "model 'nowhere' is neither a registered model (smollm2, gemma3), a GGUF file, a Hugging Face model folder nor a hub model id",
    );
}

fn worst_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// `dir`/model.gguf (f16) gives the folder's next-token logits for the ids
/// 5 17 230 4000 77 (`expected`), and its tokenizer, built from the GGUF's
/// metadata, splits text and chat prompts as the Hugging Face folder `hf` does.
fn assert_gguf_matches_folder(dir: &Path, expected: &[f32], hf: &Path) {
    let gguf = dir.join("model.gguf");
    let mut model = f1_model::model::GgufModel::load(&gguf, &candle_core::Device::Cpu).unwrap();
    let got = model.forward(&[5, 17, 230, 4000, 77], 0).unwrap();
    let worst = worst_difference(&got, expected);
    assert!(worst < 0.02, "{}: logits differ by {worst}", gguf.display());
    let from_gguf = f1_model::Tokenizer::from_gguf(&gguf).unwrap();
    let from_folder = f1_model::Tokenizer::from_hugging_face(hf).unwrap();
    let text = "Max Verstappen won 63 races by 2024, 19 of them in 2023!";
    assert_eq!(
        from_gguf.encode(text).unwrap(),
        from_folder.encode(text).unwrap()
    );
    let prompt = "<|im_start|>user\nWho won in 1988?<|im_end|>\n<|im_start|>assistant\n";
    assert_eq!(
        from_gguf.encode_prompt(prompt).unwrap(),
        from_folder.encode_prompt(prompt).unwrap()
    );
    assert_eq!(from_gguf.eos(), from_folder.eos());
}
