//! A bounded soak of the HTTP API on 127.0.0.1, alone in its test binary so
//! that the process's memory is the server's and this test's only.

mod common;

use common::{ask, becomes_idle, complete, start};
use f1_serve::server::ServeOptions;
use futures_util::StreamExt;
use serde_json::{json, Value};

/// This process's resident memory in KiB (Linux).
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// One soak request of kind `i % 4`: normal, beyond the context, cancelled
/// mid-stream, or malformed (bad JSON, or not sent as JSON). Asserts its status.
async fn soak_request(http: &reqwest::Client, url: &str, i: usize) {
    match i % 4 {
        0 => {
            let response = complete(http, url, &ask(8, false)).await;
            assert_eq!(response.status().as_u16(), 200, "request {i}");
            let body: Value = response.json().await.unwrap();
            assert!(body["usage"]["completion_tokens"].as_u64().unwrap() <= 8);
        }
        1 => {
            let mut long = ask(8, false);
            long["messages"][1]["content"] = json!("pit wall ".repeat(6000));
            let response = complete(http, url, &long).await;
            assert_eq!(response.status().as_u16(), 400, "request {i}");
        }
        2 => {
            let response = complete(http, url, &ask(64, true)).await;
            assert_eq!(response.status().as_u16(), 200, "request {i}");
            let mut stream = response.bytes_stream();
            stream.next().await.unwrap().unwrap();
            drop(stream);
        }
        _ => {
            let (content_type, body, status) = match i % 8 {
                3 => (
                    "application/json",
                    "{\"model\": \"tiny\", ".to_string(),
                    400,
                ),
                _ => ("text/plain", ask(8, false).to_string(), 415),
            };
            let response = http
                .post(format!("{url}/v1/chat/completions"))
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), status, "request {i}");
        }
    }
}

/// A bounded soak on loopback: 200 requests from 16 clients at once, a mix of
/// normal, over-long, cancelled and malformed ones. Each gets its status,
/// nothing stays in flight, and memory comes back to within 10% of where it
/// was after a warm-up round.
#[tokio::test(flavor = "multi_thread")]
async fn a_soak_of_mixed_requests_leaves_the_server_as_it_found_it() {
    let dir = tempfile::tempdir().unwrap();
    let options = ServeOptions {
        max_body_bytes: 1 << 20,
        max_tokens: 64,
        ..ServeOptions::default()
    };
    let url = start(dir.path(), 32, options).await;
    let http = reqwest::Client::new();
    for i in 0..8 {
        soak_request(&http, &url, i).await;
    }
    assert!(becomes_idle(&http, &url).await);
    let before = resident_kib();

    const CLIENTS: usize = 16;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                for i in (client..200).step_by(CLIENTS) {
                    soak_request(&http, &url, i).await;
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    assert!(becomes_idle(&http, &url).await, "requests still in flight");
    let after = resident_kib();
    assert!(
        after * 10 <= before * 11,
        "resident memory grew from {before} KiB to {after} KiB"
    );
}
