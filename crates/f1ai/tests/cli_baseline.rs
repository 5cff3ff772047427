//! `f1ai baseline` with the real SmolLM2 on the real test split.

mod common;

use common::{curated_workspace, f1ai, fails_with, stderr, stdout};
use serde_json::Value;

fn predictions(work: &std::path::Path, mode: &str) -> Vec<Value> {
    let path = work.join(format!("results/predictions/smollm2-base-{mode}.jsonl"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn every_mode_answers_the_test_split() {
    let work = curated_workspace();
    let output = f1ai(
        work.path(),
        &["baseline", "--model", "smollm2", "--limit", "3"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("smollm2 base rag: 3 answers"),
        "{}",
        stdout(&output)
    );

    let zero = predictions(work.path(), "zero-shot");
    let few = predictions(work.path(), "few-shot");
    let rag = predictions(work.path(), "rag");
    for (mode, rows) in [("zero-shot", &zero), ("few-shot", &few), ("rag", &rag)] {
        assert_eq!(rows.len(), 3, "{mode}");
        for row in rows.iter() {
            assert_eq!(row["mode"], mode);
            assert_eq!(row["method"], "base");
            assert!(!row["reference"].as_str().unwrap().is_empty());
            assert!(!row["gold"].as_array().unwrap().is_empty());
            assert!(row["generated_tokens"].as_u64().unwrap() > 0, "{row}");
            assert!(row["latency_s"].as_f64().unwrap() > 0.0);
        }
    }
    // The same questions in each mode; examples and facts make prompts longer.
    for i in 0..3 {
        assert_eq!(zero[i]["id"], rag[i]["id"]);
        let tokens = |rows: &[Value]| rows[i]["prompt_tokens"].as_u64().unwrap();
        assert!(tokens(&few) > tokens(&zero) + 20);
        assert!(tokens(&rag) > tokens(&zero) + 20);
        assert_eq!(rag[i]["retrieved"].as_array().unwrap().len(), 5);
        assert!(zero[i]["retrieved"].as_array().unwrap().is_empty());
    }
    // Retrieval finds the sentence that states the gold answer for most questions.
    let grounded = rag
        .iter()
        .filter(|row| {
            let gold = row["gold"][0]["text"].as_str().unwrap();
            row["retrieved"]
                .as_array()
                .unwrap()
                .iter()
                .any(|fact| fact.as_str().unwrap().contains(gold))
        })
        .count();
    assert!(grounded >= 2, "{rag:#?}");

    // Decoded as one batch: the same questions, each answered.
    let output = f1ai(
        work.path(),
        &[
            "baseline",
            "--model",
            "smollm2",
            "--limit",
            "3",
            "--mode",
            "rag",
            "--batch-size",
            "3",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let batched = predictions(work.path(), "rag");
    assert_eq!(batched.len(), 3);
    for (a, b) in rag.iter().zip(&batched) {
        assert_eq!(
            (&a["id"], &a["prompt_tokens"]),
            (&b["id"], &b["prompt_tokens"])
        );
        assert!(b["generated_tokens"].as_u64().unwrap() > 0, "{b}");
        assert!(b["latency_s"].as_f64().unwrap() > 0.0);
    }
}

/// Tools mode asks the same questions from their tool conversations: the ids
/// pair with the other modes', the prompt carries the tools, and each answer
/// keeps its calls (the pretrained model rarely makes one; see the tool_loop
/// tests for calls, and the study for a model fine-tuned to call). The
/// hand-written questions (both sets) come after the split's, in both modes.
#[test]
fn tools_mode_asks_the_same_questions_with_the_tools() {
    let work = curated_workspace();
    let args = |mode| {
        vec![
            "baseline",
            "--model",
            "smollm2",
            "--limit",
            "3",
            "--fan-questions",
            "--mode",
            mode,
            "--batch-size",
            "3",
        ]
    };
    let output = f1ai(work.path(), &args("zero-shot"));
    assert!(output.status.success(), "{}", stderr(&output));
    let output = f1ai(work.path(), &args("tools"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("answers made a call"),
        "{}",
        stdout(&output)
    );
    let zero = predictions(work.path(), "zero-shot");
    let tools = predictions(work.path(), "tools");
    assert_eq!((zero.len(), tools.len()), (6, 6));
    // Three spread over the sets: two of the first 66, one written blind.
    for rows in [&zero[3..], &tools[3..]] {
        let kinds: Vec<&str> = rows
            .iter()
            .map(|r| r["test_kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["handwritten", "handwritten", "blind"], "{rows:?}");
        assert!(
            rows[2]["id"].as_str().unwrap().starts_with("blind-"),
            "{rows:?}"
        );
    }
    assert_eq!(zero[3]["question"], "who won abu dhabi 2021??");
    for (plain, tooled) in zero.iter().zip(&tools) {
        assert_eq!(tooled["mode"], "tools");
        assert_eq!(plain["id"], tooled["id"]);
        assert_eq!(plain["question"], tooled["question"]);
        assert_eq!(plain["gold"], tooled["gold"]);
        let tokens = |row: &Value| row["prompt_tokens"].as_u64().unwrap();
        assert!(tokens(tooled) > tokens(plain) + 100, "{tooled}");
        assert!(tooled["generated_tokens"].as_u64().unwrap() > 0);
        for step in tooled["tool_steps"].as_array().into_iter().flatten() {
            assert!(
                step["call"].is_string() && step["result"].is_string(),
                "{step}"
            );
        }
    }
}

#[test]
fn without_a_dataset_it_says_what_to_do() {
    let work = tempfile::tempdir().unwrap();
    fails_with(
        work.path(),
        &["baseline", "--mode", "zero-shot"],
        1,
        "run `f1ai data build` first",
    );
    fails_with(
        work.path(),
        &["baseline", "--mode", "best"],
        2,
        "unknown mode 'best'",
    );
}
