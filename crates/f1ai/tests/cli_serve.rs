//! `f1ai serve`, `f1ai chat` and `f1ai bench serve` as a user runs them: the real
//! SmolLM2 behind the official `openai` Python client, Debian's Chromium using the
//! web chat, 64 streaming clients at once, the terminal chat, and `f1ai data
//! augment` asking the served SmolLM2 for rewrites.

mod common;

use std::path::Path;
use std::process::Command;

use common::{chat, curated_workspace, f1ai, fails_with, serve, stderr, stdout, tiny_model};

#[test]
fn the_official_openai_client_talks_to_the_server() {
    let work = tempfile::tempdir().unwrap();
    let server = serve(
        work.path(),
        &["--model", "smollm2", "--max-tokens", "64"],
        "k3y",
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openai_client.py");
    let output = Command::new("python3")
        .arg(&script)
        .args([&server.url, "k3y", "smollm2"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(stdout(&output).contains("openai client ok"));
}

#[test]
fn a_browser_sends_a_message_and_sees_the_streamed_reply() {
    let work = tempfile::tempdir().unwrap();
    let model = tiny_model(work.path(), "smollm2");
    let server = serve(
        work.path(),
        &["--model", model.to_str().unwrap(), "--max-tokens", "24"],
        "",
    );
    let browser = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm install --prefix {}` (scripts/test.sh does)",
        browser.display()
    );
    let screenshot = work.path().join("chat.png");
    let output = Command::new("node")
        .arg(browser.join("chat.mjs"))
        .arg(&server.url)
        .arg(&screenshot)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    let seen: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(seen["models"], serde_json::json!(["tiny-smollm2"]));
    assert!(
        seen["stats"].as_str().unwrap().contains("tokens/s"),
        "{seen}"
    );
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}

/// `bench serve`: a round of 1 and of 16 streaming clients, each sending three
/// requests one after another, then 16 beside a 3,000-token prompt; every
/// stream complete and counted, each exactly its budget long (`--ignore-eos`);
/// the cold round one request a client.
#[test]
fn bench_serve_reports_each_round_of_streams() {
    let work = tempfile::tempdir().unwrap();
    let model = tiny_model(work.path(), "smollm2");
    let output = f1ai(
        work.path(),
        &[
            "bench",
            "serve",
            "--model",
            model.to_str().unwrap(),
            "--streams",
            "1,16",
            "--max-tokens",
            "8",
            "--long-prompt-tokens",
            "3000",
            "--ignore-eos",
            "--requests",
            "3",
        ],
    );
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("results/benchmarks/serve-f1ai.json")).unwrap(),
    )
    .unwrap();
    let rounds = report["rounds"].as_array().unwrap();
    let streams: Vec<&str> = rounds
        .iter()
        .map(|r| r["streams"].as_str().unwrap())
        .collect();
    assert_eq!(streams, ["1", "16", "16 + long"], "{report}");
    assert_eq!(report["requests_per_stream"], 3, "{report}");
    for (round, clients) in rounds.iter().zip([1, 16, 16]) {
        let r = &round["report"];
        assert_eq!(r["clients"], clients, "{report}");
        assert_eq!(r["requests"], clients * 3, "{report}");
        assert_eq!(r["completed"], clients * 3, "{report}");
        assert_eq!(r["errors"], 0, "{report}");
        assert_eq!(r["completion_tokens"], clients * 3 * 8, "{report}");
        let p = &r["first_token_ms"];
        assert!(p["p50"].as_f64().unwrap() <= p["p95"].as_f64().unwrap());
        assert!(r["stream_tokens_per_second"]["p50"].as_f64().unwrap() > 0.0);
    }
    // Every client got exactly its 8 tokens (`ignore_eos` sent and honoured).
    assert_eq!(report["ignore_eos"], true, "{report}");
    // The cold round (the most streams) warmed the server first.
    assert_eq!(report["cold"]["streams"], 16, "{report}");
    assert_eq!(report["cold"]["report"]["requests"], 16, "{report}");
    assert_eq!(report["cold"]["report"]["completed"], 16, "{report}");
    let long = &rounds[2]["report"]["long_prompt"];
    assert!(long["completion_tokens"].as_u64().unwrap() > 0, "{report}");
    assert!(rounds[1]["report"]["long_prompt"].is_null());
    println!("{}", stdout(&output));
}

/// The `context N tokens` of every reply the chat printed.
fn contexts(transcript: &str) -> Vec<usize> {
    transcript
        .match_indices("context ")
        .map(|(i, _)| {
            transcript[i + 8..]
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

#[test]
fn the_terminal_chat_keeps_history_resets_and_switches_models() {
    let work = tempfile::tempdir().unwrap();
    let model = tiny_model(work.path(), "smollm2");
    let other = work.path().join("other.gguf");
    std::fs::copy(&model, &other).unwrap();
    let transcript = chat(
        work.path(),
        &[
            "--model",
            model.to_str().unwrap(),
            "--model",
            other.to_str().unwrap(),
            "--max-tokens",
            "6",
            "--device",
            "cpu",
        ],
        "Who won in 1988?\nAnd in 1989?\n/reset\nWho won in 1988?\n/model\n/model other\n\
         Who won in 1988?\n/model nope\n/quit\nnever read\n",
    );
    let context = contexts(&transcript);
    assert_eq!(context.len(), 4, "{transcript}");
    // The second turn sees the first; after /reset the conversation starts over.
    assert!(context[1] > context[0], "{transcript}");
    assert_eq!(context[2], context[0], "{transcript}");
    // Switching models keeps the conversation.
    assert!(context[3] > context[2], "{transcript}");
    assert!(transcript.contains("(conversation cleared)"));
    assert!(
        transcript.contains("* tiny-smollm2\n  other\n"),
        "{transcript}"
    );
    assert!(transcript.contains("(now talking to other"));
    assert!(transcript.contains("other> "), "{transcript}");
    assert!(
        transcript.contains("model 'nope' is not served"),
        "{transcript}"
    );

    // chat and serve take the device as train and baseline do.
    let model = model.to_str().unwrap();
    fails_with(
        work.path(),
        &["chat", "--model", model, "--device", "gpu"],
        1,
        "'gpu' is not a device (cpu, cuda or cuda:N)",
    );
    #[cfg(not(feature = "cuda"))]
    fails_with(
        work.path(),
        &["serve", "--model", model, "--device", "cuda:1"],
        1,
        "cuda:1: this f1ai was built without CUDA",
    );
}

fn augment(workspace: &Path, url: &str, key: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_f1ai"))
        .arg("--workspace")
        .arg(workspace)
        .args(["data", "augment", "--endpoint", &format!("{url}/v1")])
        .args(["--model", "smollm2", "--limit", "3", "--rpm", "600"])
        .args(["--max-tokens", "80", "--api-key-env", "AUGMENT_TEST_KEY"])
        .env("AUGMENT_TEST_KEY", key)
        .output()
        .unwrap()
}

#[test]
fn augment_asks_the_served_model_and_keeps_only_rewrites_whose_facts_survive() {
    let work = curated_workspace();
    let server = serve(
        work.path(),
        &["--model", "smollm2", "--max-tokens", "128"],
        "s3cret",
    );
    let refused = augment(work.path(), &server.url, "wrong");
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("401"), "{}", stderr(&refused));

    let output = augment(work.path(), &server.url, "s3cret");
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with("3 requests: "), "{text}");
    eprintln!("{text}");
    let curated = work.path().join("data/curated");
    let lines = |name: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(curated.join(name))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let kept = lines("augmented-train.jsonl");
    let rejected = lines("augmented-train.rejected.jsonl");
    assert_eq!(kept.len() + rejected.len(), 3, "{text}");
    for example in &kept {
        let answer = example["messages"][1]["content"]
            .as_str()
            .unwrap()
            .to_lowercase();
        let gold = &example["metadata"]["gold"][0]["aliases"];
        assert!(
            gold.as_array()
                .unwrap()
                .iter()
                .any(|a| { answer.contains(&a.as_str().unwrap().to_lowercase()) }),
            "kept without its gold: {example}"
        );
        assert!(example["metadata"]["id"]
            .as_str()
            .unwrap()
            .ends_with(":aug"));
    }
    for rejection in &rejected {
        assert!(!rejection["reason"].as_str().unwrap().is_empty());
        assert!(rejection["reply"].is_string());
    }
    // Everything was answered: a rerun sends nothing.
    let again = augment(work.path(), &server.url, "s3cret");
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).starts_with("0 requests: 0 kept, 0 rejected (3 done earlier)"),
        "{}",
        stdout(&again)
    );
}
