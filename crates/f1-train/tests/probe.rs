//! The validation probe on the real SmolLM2: greedy answers graded for fact
//! accuracy, recall and unseen questions apart, inside a training model.

mod common;

use f1_train::config::TrainConfig;
use f1_train::probe::Probe;
use f1_train::training_model::TrainingModel;

fn case(id: &str, kind: Option<&str>, question: &str, gold: &[&str]) -> String {
    serde_json::json!({
        "messages": [{"role": "user", "content": question},
                     {"role": "assistant", "content": gold[0]}],
        "metadata": {"id": id, "family": "general", "fact_id": id, "test_kind": kind,
                     "gold": [{"text": gold[0], "aliases": gold}]}
    })
    .to_string()
}

#[test]
fn the_probe_grades_greedy_answers_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let val = dir.path().join("val.jsonl");
    let lines = [
        case(
            "r1",
            Some("recall"),
            "What is the capital of France?",
            &["Paris"],
        ),
        case(
            "r2",
            Some("recall"),
            "What is the capital of Italy?",
            &["Rome"],
        ),
        // Wrong on purpose: the gold is not what the model will say.
        case(
            "r3",
            Some("recall"),
            "What is the capital of Germany?",
            &["Lisbon"],
        ),
        case("u1", None, "What is the capital of Spain?", &["Madrid"]),
    ];
    std::fs::write(&val, lines.join("\n") + "\n").unwrap();
    let config: TrainConfig =
        serde_norway::from_str("run_name: probe\nmodel: smollm2\nmethod: lora\n").unwrap();
    let mut model = TrainingModel::load(
        &common::real_model("smollm2"),
        &config,
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let probe = Probe::read(
        &val,
        (10, 10),
        12,
        "Answer with one word.",
        &model.tokenizer,
        &model.template,
    )
    .unwrap()
    .expect("questions were asked for");
    assert_eq!(probe.counts(), (3, 1));
    let score = probe.run(&mut model.transformer, &model.tokenizer).unwrap();
    assert_eq!(score.recall, Some(2.0 / 3.0), "{score:?}");
    assert_eq!(score.unseen, Some(1.0), "{score:?}");
    // The same again: the KV cache the probe filled was emptied.
    let again = probe.run(&mut model.transformer, &model.tokenizer).unwrap();
    assert_eq!(again, score);

    let recall_only = Probe::read(&val, (10, 0), 12, "", &model.tokenizer, &model.template)
        .unwrap()
        .unwrap();
    assert_eq!(recall_only.counts(), (3, 0), "0 asks for none");
    assert!(
        Probe::read(&val, (0, 0), 12, "", &model.tokenizer, &model.template)
            .unwrap()
            .is_none()
    );
    std::fs::write(&val, case("u1", None, "Q?", &["A"]) + "\n").unwrap();
    let error = Probe::read(&val, (5, 0), 12, "", &model.tokenizer, &model.template)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("val_recall_fraction"), "{error}");
}
