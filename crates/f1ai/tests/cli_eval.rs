//! `f1ai eval` over predictions files written as `f1ai baseline` writes them.

mod common;

use common::{f1ai, fails_with, stderr, stdout};
use serde_json::{json, Value};

fn prediction(id: &str, mode: &str, answer: &str, gold: &str) -> String {
    json!({
        "id": id, "model": "smollm2", "method": "base", "mode": mode,
        "family": "race_winner", "fact_id": format!("race_winner:{id}"), "test_kind": "unseen",
        "question": "Who won?", "reference": format!("{gold} won the race."),
        "prediction": answer, "gold": [{"text": gold, "aliases": [gold]}],
        "retrieved": [], "prompt_tokens": 30, "generated_tokens": 6, "latency_s": 0.5,
        "finish_reason": "stop"
    })
    .to_string()
}

fn write_run(work: &std::path::Path, name: &str, lines: &[String]) {
    let dir = work.join("results/predictions");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.jsonl")), lines.join("\n")).unwrap();
}

#[test]
fn scores_every_run_with_intervals_and_compares_them() {
    let work = tempfile::tempdir().unwrap();
    let winners = [
        "Max Verstappen",
        "Lewis Hamilton",
        "Fernando Alonso",
        "Nico Rosberg",
    ];
    let good: Vec<String> = (0..40)
        .map(|i| {
            let gold = winners[i % 4];
            prediction(
                &i.to_string(),
                "rag",
                &format!("{gold} won the race."),
                gold,
            )
        })
        .collect();
    let bad: Vec<String> = (0..40)
        .map(|i| {
            let gold = winners[i % 4];
            let answer = if i % 4 == 0 {
                format!("{gold} won.")
            } else if i % 4 == 1 {
                // Right, but naming another driver: wrong strictly, right leniently.
                format!("{gold} won, ahead of {}.", winners[(i + 1) % 4])
            } else {
                winners[(i + 1) % 4].to_string()
            };
            prediction(&i.to_string(), "zero-shot", &answer, gold)
        })
        .collect();
    write_run(work.path(), "smollm2-base-rag", &good);
    write_run(work.path(), "smollm2-base-zero-shot", &bad);
    let run = work.path().join("models/artifacts/smollm2-lora");
    std::fs::create_dir_all(&run).unwrap();
    let summary = json!({
        "run_name": "smollm2-lora", "model": "smollm2", "method": "lora", "steps": 150,
        "epochs_started": 1, "tokens_seen": 91764, "wall_seconds": 1261.3,
        "tokens_per_second": 72.75, "trainable_parameters": 1843200,
        "total_parameters": 136358208, "peak_rss_mib": 2590.0, "first_loss": 2.14,
        "final_loss": 1.15, "initial_val_loss": 2.153, "final_val_loss": 0.98,
        "best_val_loss": 0.98, "exported_step": 150, "stopped_early": false
    });
    std::fs::write(run.join("training_summary.json"), summary.to_string()).unwrap();
    let output = f1ai(work.path(), &["eval"]);
    assert!(output.status.success(), "{}", stderr(&output));
    // Cost: the training run's summary and each predictions run's latency.
    assert!(
        stdout(&output).contains(
            "| smollm2-lora | lora | 1843200 (1.35%) | 150 | 21.0 min | 72.8 | 2590 MiB | 2.153 -> 0.980 |"
        ),
        "{}",
        stdout(&output)
    );
    assert!(stdout(&output).contains("| smollm2-base-rag | 40 | 0.50 | 6.0 | 12.0 |"));
    let system: Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("results/metrics/system.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(system["training"][0]["peak_rss_mib"], 2590.0);
    assert_eq!(
        system["inference"]["smollm2-base-zero-shot"]["mean_latency_s"],
        0.5
    );
    assert!(
        stdout(&output).contains(
            "| smollm2-base-rag | 40 | 100.0 [100.0, 100.0] | 100.0 [100.0, 100.0] | 100.0"
        ),
        "{}",
        stdout(&output)
    );
    let text = stdout(&output);
    let row: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("| smollm2-base-zero-shot | 40 |"))
        .expect("the zero-shot run's metrics row")
        .split(" | ")
        .collect();
    assert!(
        row[2].starts_with("25.0 [") && row[3].starts_with("50.0 ["),
        "{row:?}"
    );

    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("results/metrics/summary.json")).unwrap(),
    )
    .unwrap();
    let zero = &summary["runs"]["smollm2-base-zero-shot"];
    assert_eq!(zero["fact_accuracy"]["value"], 0.25);
    assert!(zero["fact_accuracy"]["low"].as_f64().unwrap() < 0.25);
    assert!(zero["fact_accuracy"]["high"].as_f64().unwrap() > 0.25);
    assert_eq!(zero["by_test_kind"]["unseen"]["n"], 40);
    assert_eq!(zero["gold_stated"]["value"], 0.5);
    assert!(zero["gold_stated"]["low"].as_f64().unwrap() < 0.5);
    assert_eq!(zero["by_test_kind"]["unseen"]["gold_stated"], 0.5);
    assert_eq!(zero["by_family"]["race_winner"]["gold_stated"], 0.5);
    let comparison = &summary["comparisons"][0]["comparison"];
    assert_eq!(comparison["shared"], 40);
    assert!(comparison["fact_accuracy_p"].as_f64().unwrap() < 0.01);
    assert!(work.path().join("results/metrics/smollm2.json").is_file());
}

#[test]
fn bad_predictions_fail_clearly() {
    let work = tempfile::tempdir().unwrap();
    fails_with(work.path(), &["eval"], 1, "run `f1ai baseline` first");

    let mut broken: Value = serde_json::from_str(&prediction("1", "rag", "x", "y")).unwrap();
    broken.as_object_mut().unwrap().remove("reference");
    write_run(
        work.path(),
        "smollm2-base-rag",
        &[prediction("0", "rag", "x", "y"), broken.to_string()],
    );
    fails_with(
        work.path(),
        &["eval"],
        1,
        "smollm2-base-rag.jsonl:2: missing field `reference`",
    );

    write_run(work.path(), "smollm2-base-rag", &[]);
    fails_with(
        work.path(),
        &["eval"],
        1,
        "no predictions (an empty run has no average)",
    );

    write_run(
        work.path(),
        "smollm2-base-rag",
        &[prediction("0", "rag", "x", "y")],
    );
    let config = work.path().join("eval.yaml");
    std::fs::write(&config, "bootstrap_resamples: 10\nsamples: 3\n").unwrap();
    fails_with(
        work.path(),
        &["eval", "--config", config.to_str().unwrap()],
        1,
        "unknown field `samples`",
    );

    let run = work.path().join("models/artifacts/broken");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("training_summary.json"), "{\"run_name\": 3}").unwrap();
    fails_with(work.path(), &["eval"], 1, "broken/training_summary.json");
}

/// A run of `method` whose answers are the gold answer (`right`) or another driver.
fn judged_run(work: &std::path::Path, method: &str, right: bool) {
    let mut line: Value = serde_json::from_str(&prediction(
        "0",
        "zero-shot",
        if right {
            "Ayrton Senna won the race."
        } else {
            "Alain Prost won the race."
        },
        "Ayrton Senna",
    ))
    .unwrap();
    line["method"] = json!(method);
    line["question"] = json!("Who won the 1988 Japanese Grand Prix?");
    write_run(
        work,
        &format!("smollm2-{method}-zero-shot"),
        &[line.to_string()],
    );
}

#[test]
fn a_local_judge_reports_agreement_and_position_consistency_and_caches() {
    let work = tempfile::tempdir().unwrap();
    judged_run(work.path(), "base", false);
    judged_run(work.path(), "lora", true);
    let config = work.path().join("eval.yaml");
    std::fs::write(
        &config,
        "bootstrap_resamples: 50\njudge:\n  max_answers: 1\n  max_tokens: 8\n  retries: 1\n",
    )
    .unwrap();
    let args = [
        "eval",
        "--config",
        config.to_str().unwrap(),
        "--judge-local",
        "smollm2",
    ];
    let output = f1ai(work.path(), &args);
    assert!(output.status.success(), "{}", stderr(&output));
    let path = work.path().join("results/metrics/judge.json");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(report["judge"]["model"], "smollm2");
    assert!(
        report["stats"]["requests"].as_u64().unwrap() >= 6,
        "{report}"
    );
    for run in ["smollm2-base-zero-shot", "smollm2-lora-zero-shot"] {
        let judged = &report["runs"][run];
        assert_eq!(judged["n"], 1, "{judged}");
        // Each rating is either a verdict within 1-10 or a counted failure.
        let ratings = judged["ratings"].as_array().unwrap();
        let failed = judged["rating_failed"].as_u64().unwrap() as usize;
        assert_eq!(ratings.iter().filter(|r| r.is_null()).count(), failed);
        for rating in ratings.iter().filter_map(Value::as_f64) {
            assert!((1.0..=10.0).contains(&rating), "{rating}");
        }
        if let Some(agreement) = judged["agreement_with_fact_accuracy"].as_object() {
            let kappa = agreement["kappa"].as_f64().unwrap();
            assert!((-1.0..=1.0).contains(&kappa));
            assert_eq!(agreement["n"], 1);
        }
    }
    let pair = &report["pairs"][0];
    assert_eq!(pair["first"], "smollm2-base-zero-shot");
    assert_eq!(pair["n"], 1);
    let outcomes = ["first_wins", "second_wins", "ties", "failed"]
        .iter()
        .map(|k| pair[k].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(outcomes, 1, "{pair}");
    assert!(stdout(&output).contains("## LLM-as-judge (smollm2"));

    // Every judgment is cached: a rerun asks the judge nothing.
    let again = f1ai(work.path(), &args);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("judge smollm2: 0 requests, 6 from cache"),
        "{}",
        stdout(&again)
    );
    let rerun: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(rerun["runs"], report["runs"]);
}

/// A server on loopback that answers every request with `response` after
/// `delay`, for `connections` connections.
fn broken_endpoint(
    response: &'static str,
    delay: std::time::Duration,
    connections: usize,
) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let mut stream = stream.unwrap();
            let mut buffer = [0u8; 65536];
            let _ = stream.read(&mut buffer);
            std::thread::sleep(delay);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    url
}

#[test]
fn a_judge_that_returns_garbage_or_times_out_fails_clearly() {
    let work = tempfile::tempdir().unwrap();
    judged_run(work.path(), "base", false);
    let config = work.path().join("eval.yaml");
    std::fs::write(
        &config,
        "bootstrap_resamples: 10\njudge:\n  max_answers: 1\n  retries: 1\n  timeout_s: 1\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let garbage = broken_endpoint(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 11\r\nconnection: close\r\n\r\nnot json!!!",
        std::time::Duration::ZERO,
        4,
    );
    fails_with(
        work.path(),
        &["eval", "--config", config, "--judge-url", &garbage],
        1,
        "the answer is not JSON: not json!!!",
    );
    // Nothing was cached from a failed endpoint, and no judge.json claims a score.
    assert!(!work.path().join("results/metrics/judge.json").exists());

    let silent = broken_endpoint("", std::time::Duration::from_secs(3), 4);
    fails_with(
        work.path(),
        &["eval", "--config", config, "--judge-url", &silent],
        1,
        "no answer within 1s",
    );
}

#[test]
fn perplexity_scores_the_test_replies_with_an_interval() {
    let work = common::curated_workspace();
    write_run(
        work.path(),
        "smollm2-base-rag",
        &[prediction("0", "rag", "Ayrton Senna", "Ayrton Senna")],
    );
    let model = common::tiny_model(work.path(), "smollm2");
    let output = f1ai(
        work.path(),
        &[
            "eval",
            "--perplexity",
            "--perplexity-model",
            model.to_str().unwrap(),
            "--perplexity-limit",
            "6",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("## Perplexity of the reference replies (6 test conversations)")
    );
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("results/metrics/perplexity.json")).unwrap(),
    )
    .unwrap();
    let scored = &report["models"]["tiny-smollm2"];
    assert_eq!(scored["conversations"], 6);
    let examples = scored["per_example"].as_array().unwrap();
    assert_eq!(examples.len(), 6);
    let (nll, tokens) = examples.iter().fold((0.0, 0.0), |(n, t), e| {
        (
            n + e["nll"].as_f64().unwrap(),
            t + e["tokens"].as_f64().unwrap(),
        )
    });
    let p = &scored["perplexity"];
    let value = p["value"].as_f64().unwrap();
    // The corpus perplexity is exp(total NLL / total tokens), inside its interval;
    // a random model over a 49k vocabulary is far from fluent.
    assert!((value / (nll / tokens).exp() - 1.0).abs() < 1e-9);
    assert!(p["low"].as_f64().unwrap() <= value && value <= p["high"].as_f64().unwrap());
    assert!(value > 1000.0, "{value}");
}

#[test]
fn multiple_choice_scores_the_built_questions_and_user_files() {
    let work = common::curated_workspace();
    write_run(
        work.path(),
        "smollm2-base-rag",
        &[prediction("0", "rag", "Ayrton Senna", "Ayrton Senna")],
    );
    let smollm2 = common::tiny_model(work.path(), "smollm2");
    let gemma3 = common::tiny_model(work.path(), "gemma3");
    let output = f1ai(
        work.path(),
        &[
            "eval",
            "--multiple-choice",
            "--mc-model",
            smollm2.to_str().unwrap(),
            "--mc-model",
            gemma3.to_str().unwrap(),
            "--mc-limit",
            "8",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("## Multiple choice by log-likelihood (8 questions, chat format)")
    );
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("results/metrics/multiple_choice.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["questions"], 8);
    for model in ["tiny-smollm2", "tiny-gemma3"] {
        let scored = &report["models"][model];
        let rows = scored["per_question"].as_array().unwrap();
        assert_eq!(rows.len(), 8);
        let mut right = 0;
        for row in rows {
            let lls: Vec<f64> = row["log_likelihoods"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(lls.len(), 4);
            assert!(lls.iter().all(|l| l.is_finite() && *l < 0.0), "{lls:?}");
            let best = (0..4).fold(0, |b, i| if lls[i] > lls[b] { i } else { b });
            assert_eq!(row["picked"], best);
            right += usize::from(row["picked"] == row["answer"]);
        }
        let metrics = &scored["metrics"];
        assert_eq!(metrics["n"], 8);
        assert_eq!(
            metrics["acc"]["value"].as_f64().unwrap(),
            right as f64 / 8.0
        );
        assert_eq!(metrics["chance"], 0.25);
    }
    assert_eq!(report["comparisons"].as_array().unwrap().len(), 1);

    // Any file of the harness's shape; a bad line names the file, line and field.
    let user = work.path().join("mine.jsonl");
    std::fs::write(
        &user,
        "{\"question\": \"Who won the 1988 title?\", \"choices\": [\"Prost\", \"Senna\"], \"answer\": 1}\n",
    )
    .unwrap();
    let args = |file: &str| {
        vec![
            "eval".to_string(),
            "--multiple-choice".into(),
            "--mc-file".into(),
            file.into(),
            "--mc-model".into(),
            smollm2.to_str().unwrap().into(),
        ]
    };
    let output = f1ai(
        work.path(),
        &args(user.to_str().unwrap())
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("results/metrics/multiple_choice.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["models"]["tiny-smollm2"]["metrics"]["chance"], 0.5);
    let mut text = std::fs::read_to_string(&user).unwrap();
    text.push_str("{\"question\": \"Who?\", \"choices\": [\"A\", \"B\"], \"answer\": 2}\n");
    std::fs::write(&user, text).unwrap();
    let bad = args(user.to_str().unwrap());
    fails_with(
        work.path(),
        &bad.iter().map(String::as_str).collect::<Vec<_>>(),
        1,
        "mine.jsonl: line 2: `answer` is 2 but there are 2 choices",
    );
    let missing = args("nowhere.jsonl");
    fails_with(
        work.path(),
        &missing.iter().map(String::as_str).collect::<Vec<_>>(),
        1,
        "nowhere.jsonl does not exist",
    );
}

#[test]
fn a_bad_general_ability_file_is_named_and_nothing_is_written() {
    let work = tempfile::tempdir().unwrap();
    write_run(
        work.path(),
        "smollm2-base-zero-shot",
        &[prediction(
            "1",
            "zero-shot",
            "Ayrton Senna won.",
            "Ayrton Senna",
        )],
    );
    let general = work.path().join("general-eval");
    std::fs::create_dir_all(general.join("arc_easy")).unwrap();
    std::fs::write(
        general.join("arc_easy/arc_easy.jsonl"),
        "{\"id\": \"a\", \"question\": \"Q?\", \"choices\": [\"x\", \"y\"], \"answer\": 0}\n\
         {\"id\": \"b\", \"question\": \"Q?\", \"choices\": [\"x\"], \"answer\": 0}\n",
    )
    .unwrap();
    let dir = general.to_str().unwrap();
    fails_with(
        work.path(),
        &[
            "eval",
            "--general",
            "--general-dir",
            dir,
            "--general-task",
            "arc_easy",
        ],
        1,
        "arc_easy.jsonl: line 2: `choices` needs at least two entries",
    );
    fails_with(
        work.path(),
        &[
            "eval",
            "--general",
            "--general-dir",
            dir,
            "--general-task",
            "mmlu",
        ],
        1,
        "unknown general-ability task 'mmlu'",
    );
    let metrics = work.path().join("results/metrics");
    let written: Vec<_> = std::fs::read_dir(&metrics)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(written.is_empty(), "nothing was written: {written:?}");
}
