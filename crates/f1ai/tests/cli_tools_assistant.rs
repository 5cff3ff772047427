//! The grounded assistant as a fan meets it: SmolLM2 fine-tuned with LoRA on the
//! tool conversations `f1ai data build` writes for the quick study, then asked through the real
//! binary. `f1ai chat --tools` answers "Who won the 2021 Abu Dhabi Grand Prix?"
//! and the follow-up "And who was second?" from the knowledge base, and `f1ai
//! serve` answers the web chat's way (the built-in tools, the lookups on the
//! message).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{chat, curated_workspace_with, f1ai, serve, stderr};
use serde_json::{json, Value};

/// LoRA on the tool conversations only, for half an epoch (120 steps of two
/// packed 768-token rows): calling and reading a result is one skill every
/// conversation teaches.
const CONFIG: &str = "\
run_name: smollm2-tools-test
model: smollm2
method: lora
lora: {r: 16, alpha: 32, dropout: 0.0, target_modules: all-linear}
data:
  train: data/curated/tools-train.jsonl
  val: data/curated/tools-val.jsonl
  system_prompt: \"unused: the tool conversations carry their own\"
  max_seq_len: 768
  packing: true
  max_val_examples: 4
probe:
  recall_questions: 0
  unseen_questions: 0
training:
  seed: 42
  max_steps: 120
  batch_size: 2
  learning_rate: 2.0e-3
  warmup_steps: 3
  decay: cosine
  evaluations_per_epoch: 1
  select_on: val_loss
  save_every: 100
";

/// POSTs `body` to a server on 127.0.0.1 and returns the JSON reply.
fn post(address: &str, path: &str, body: &Value) -> Value {
    let body = body.to_string();
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{response}");
    serde_json::from_str(body).unwrap()
}

#[test]
#[ignore = "12 min of training on 2 cores, too slow for CI: passes at 2de49ef (both answers \
            and both lookups right); run with \
            `cargo test -p f1ai --test cli_tools_assistant -- --ignored`"]
fn the_fine_tuned_assistant_looks_the_answer_up_in_chat_and_serve() {
    // The quick study's tool data: its eight families' facts and every other
    // tool family's, a share asked the way fans type.
    let work = curated_workspace_with("config/quick/data.yaml");
    let config = work.path().join("tools.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let trained = f1ai(
        work.path(),
        &["train", "--config", config.to_str().unwrap()],
    );
    assert!(trained.status.success(), "{}", stderr(&trained));

    let transcript = chat(
        work.path(),
        &[
            "--model",
            "smollm2-tools-test",
            "--tools",
            "--temperature",
            "0",
        ],
        "Who won the 2021 Abu Dhabi Grand Prix?\nAnd who was second?\n/quit\n",
    );
    let answers: Vec<&str> = transcript
        .lines()
        .filter_map(|line| line.strip_prefix("smollm2-tools-test> "))
        .filter(|answer| !answer.is_empty())
        .collect();
    assert_eq!(answers.len(), 2, "{transcript}");
    assert!(answers[0].contains("Verstappen"), "{transcript}");
    assert!(answers[1].contains("Hamilton"), "{transcript}");
    // Both answers came from lookups of that race.
    let lookups: Vec<&str> = transcript
        .lines()
        .map(|line| line.trim_start_matches("you> "))
        .filter(|line| line.starts_with("lookup: "))
        .collect();
    assert!(lookups.len() >= 2, "{transcript}");
    assert!(lookups.iter().all(|l| l.ends_with("-> ok")), "{transcript}");

    // The server: the workspace has a knowledge base, so the built-in tools answer.
    let server = serve(work.path(), &["--model", "smollm2-tools-test"], "");
    assert!(
        server.banner.contains("built-in F1 tools"),
        "{}",
        server.banner
    );
    let address = server.url.trim_start_matches("http://").to_string();
    let reply = post(
        &address,
        "/v1/chat/completions",
        &json!({
            "model": "smollm2-tools-test",
            "temperature": 0,
            "messages": [{"role": "user", "content": "Who won the 2021 Abu Dhabi Grand Prix?"}],
        }),
    );
    drop(server);
    let message = &reply["choices"][0]["message"];
    assert!(
        message["content"].as_str().unwrap().contains("Verstappen"),
        "{reply}"
    );
    let lookups = message["f1_lookups"].as_array().unwrap();
    assert_eq!(lookups[0]["status"], "ok", "{reply}");
    assert!(
        lookups[0]["result"]
            .as_str()
            .unwrap()
            .contains("2021 Abu Dhabi Grand Prix"),
        "{reply}"
    );
}
