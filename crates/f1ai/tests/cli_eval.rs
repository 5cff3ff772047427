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
            } else {
                winners[(i + 1) % 4].to_string()
            };
            prediction(&i.to_string(), "zero-shot", &answer, gold)
        })
        .collect();
    write_run(work.path(), "smollm2-base-rag", &good);
    write_run(work.path(), "smollm2-base-zero-shot", &bad);
    let output = f1ai(work.path(), &["eval"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("| smollm2-base-rag | 40 | 100.0 [100.0, 100.0] | 100.0"),
        "{}",
        stdout(&output)
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
}
