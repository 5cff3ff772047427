//! The HTTP API on 127.0.0.1 with a tiny random-weight model (SmolLM2's real
//! tokenizer and template): the OpenAI wire format, streaming, limits, the API key
//! and the queue.

mod common;

use std::path::PathBuf;

use common::{ask, becomes_idle, complete, get_json, start, start_with};
use f1_serve::engine::Limits;
use f1_serve::server::ServeOptions;
use futures_util::StreamExt;
use serde_json::{json, Value};

/// The `data:` payloads of a finished SSE body.
fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_and_streamed_completions_agree() {
    let dir = tempfile::tempdir().unwrap();
    let url = start(dir.path(), 8, ServeOptions::default()).await;
    let http = reqwest::Client::new();

    let health: Value = get_json(&http, format!("{url}/health")).await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["models"], json!(["tiny"]));
    let models: Value = get_json(&http, format!("{url}/v1/models")).await;
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "tiny");

    let whole: Value = complete(&http, &url, &ask(12, false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(whole["object"], "chat.completion");
    assert_eq!(whole["model"], "tiny");
    let choice = &whole["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    let text = choice["message"]["content"].as_str().unwrap().to_string();
    let usage = &whole["usage"];
    let completion_tokens = usage["completion_tokens"].as_u64().unwrap();
    assert!((1..=12).contains(&completion_tokens), "{usage}");
    assert_eq!(
        choice["finish_reason"],
        if completion_tokens == 12 {
            "length"
        } else {
            "stop"
        }
    );
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + completion_tokens
    );

    let response = complete(&http, &url, &ask(12, true)).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = response.text().await.unwrap();
    let events = sse_data(&body);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        streamed, text,
        "greedy: streamed and whole answers are the same"
    );
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(
        finish["choices"][0]["finish_reason"],
        choice["finish_reason"]
    );
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    // The same prompt again: all but its last two tokens come from the cache.
    let mut streamed_usage = last["usage"].clone();
    let prompt_tokens = usage["prompt_tokens"].as_u64().unwrap();
    assert_eq!(
        streamed_usage["prompt_tokens_details"]["cached_tokens"],
        prompt_tokens - 2
    );
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 0);
    streamed_usage["prompt_tokens_details"] = usage["prompt_tokens_details"].clone();
    assert_eq!(streamed_usage, *usage);
    assert!(last["timings"]["predicted_per_second"].as_f64().unwrap() > 0.0);

    let page = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<title>f1ai chat</title>") && page.contains("/v1/chat/completions"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_openai_errors() {
    let dir = tempfile::tempdir().unwrap();
    let options = ServeOptions {
        api_key: Some("sekret".into()),
        max_body_bytes: 2048,
        max_tokens: 32,
    };
    let url = start(dir.path(), 8, options).await;
    let http = reqwest::Client::new();
    let post = |body: Value, key: Option<&str>| {
        let mut request = http.post(format!("{url}/v1/chat/completions")).json(&body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send()
    };
    let expect = |status: u16, response: reqwest::Response| async move {
        assert_eq!(response.status().as_u16(), status);
        let body: Value = response.json().await.unwrap();
        assert!(body["error"]["message"].as_str().is_some(), "{body}");
        body
    };

    let body = expect(401, post(ask(4, false), None).await.unwrap()).await;
    assert_eq!(body["error"]["code"], "invalid_api_key");
    expect(401, post(ask(4, false), Some("wrong!")).await.unwrap()).await;
    let models = http.get(format!("{url}/v1/models")).send().await.unwrap();
    assert_eq!(models.status().as_u16(), 401);
    // The page and the health check need no key.
    assert_eq!(
        http.get(format!("{url}/health"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );

    let key = Some("sekret");
    assert_eq!(
        post(ask(4, false), key).await.unwrap().status().as_u16(),
        200
    );
    let body = expect(400, post(ask(33, false), key).await.unwrap()).await;
    assert_eq!(body["error"]["param"], "max_tokens");
    let mut unknown = ask(4, false);
    unknown["model"] = json!("gpt-4");
    let body = expect(404, post(unknown, key).await.unwrap()).await;
    assert_eq!(body["error"]["code"], "model_not_found");
    let body = expect(400, post(json!({"model": "tiny"}), key).await.unwrap()).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messages"),
        "{body}"
    );
    let mut huge = ask(4, false);
    huge["messages"][1]["content"] = json!("x".repeat(4096));
    expect(413, post(huge, key).await.unwrap()).await;

    // The scheme is case-insensitive (RFC 9110); the body must be sent as JSON,
    // not as the text/plain a cross-site form may send without a preflight.
    let lower = http
        .post(format!("{url}/v1/chat/completions"))
        .header("authorization", "bearer sekret")
        .json(&ask(4, false))
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status().as_u16(), 200);
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let plain = http
            .post(format!("{url}/v1/chat/completions"))
            .bearer_auth("sekret")
            .header("content-type", content_type)
            .body(ask(4, false).to_string())
            .send()
            .await
            .unwrap();
        expect(415, plain).await;
    }
}

/// Messages that with max_tokens exceed the model's context are refused with
/// OpenAI's 400 before any generation, streamed or not, and the server goes on
/// serving.
#[tokio::test(flavor = "multi_thread")]
async fn messages_beyond_the_context_are_refused_before_generation() {
    let dir = tempfile::tempdir().unwrap();
    let options = ServeOptions {
        max_body_bytes: 1 << 20,
        max_tokens: 64,
        ..ServeOptions::default()
    };
    let url = start(dir.path(), 4, options).await;
    let http = reqwest::Client::new();
    for stream in [false, true] {
        let mut long = ask(8, stream);
        // About 12,000 tokens; SmolLM2's context is 8,192.
        long["messages"][1]["content"] = json!("pit wall ".repeat(6000));
        let response = complete(&http, &url, &long).await;
        assert_eq!(response.status().as_u16(), 400, "stream: {stream}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "context_length_exceeded", "{body}");
        assert_eq!(body["error"]["param"], "messages");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("8192 tokens"), "{message}");
    }
    // A prompt that fits only without its max_tokens is refused too.
    let mut near = ask(64, false);
    near["messages"][1]["content"] = json!("pit wall ".repeat(4060));
    let response = complete(&http, &url, &near).await;
    assert_eq!(response.status().as_u16(), 400);
    let response = complete(&http, &url, &ask(4, false)).await;
    assert_eq!(response.status().as_u16(), 200);
    // The worker frees a request's place just after its last event.
    assert!(
        becomes_idle(&http, &url).await,
        "a refused or finished request still holds its place"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_answers_503_and_frees_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let options = ServeOptions {
        max_tokens: 4096,
        ..ServeOptions::default()
    };
    let url = start(dir.path(), 1, options).await;
    let http = reqwest::Client::new();
    let first = complete(&http, &url, &ask(4096, true)).await;
    assert_eq!(first.status().as_u16(), 200);
    let mut stream = first.bytes_stream();
    // Wait for generated text: the worker is now busy with the only place.
    let mut seen = String::new();
    while !seen.contains("\"content\":\"") || seen.matches("data: ").count() < 3 {
        seen.push_str(&String::from_utf8_lossy(
            &stream.next().await.unwrap().unwrap(),
        ));
    }
    let busy = complete(&http, &url, &ask(4, false)).await;
    assert_eq!(busy.status().as_u16(), 503);
    assert_eq!(busy.headers()["retry-after"], "1");
    let health: Value = get_json(&http, format!("{url}/health")).await;
    assert_eq!(health["in_flight"], 1);

    // Going away cancels the generation and frees the place.
    drop(stream);
    assert!(
        becomes_idle(&http, &url).await,
        "the cancelled request still holds its place"
    );
    let again = complete(&http, &url, &ask(4, false)).await;
    assert_eq!(again.status().as_u16(), 200);
}

/// With a knowledge base the server answers through its built-in F1 tools unless
/// a request says `"f1_tools": false` or brings its own: the tools' system prompt
/// replaces the request's (the tiny random model calls nothing; the real loop
/// with a model fine-tuned to call is shown in f1ai's tools_assistant test).
#[tokio::test(flavor = "multi_thread")]
async fn the_built_in_tools_answer_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f1.sqlite");
    let shared = std::env::var_os("F1AI_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    f1_data::import_ergast(&shared.join("ergast"), &db).unwrap();
    let toolbox = f1_tools::Toolbox::open(&db).unwrap();
    let url = start_with(
        dir.path(),
        8,
        ServeOptions::default(),
        Some(toolbox),
        Limits::default(),
    )
    .await;
    let http = reqwest::Client::new();
    let completion = |extra: Value| {
        let mut body = ask(8, false);
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let http = http.clone();
        let url = url.clone();
        async move {
            let response = complete(&http, &url, &body).await;
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let prompt_tokens = |v: &Value| v["usage"]["prompt_tokens"].as_u64().unwrap();
    let looked_up = completion(json!({})).await;
    let plain = completion(json!({"f1_tools": false})).await;
    let none = completion(json!({"tool_choice": "none"})).await;
    // The tools' instructions and twelve signatures are about 130 tokens more
    // than "Be brief."; every round of the loop is counted.
    assert!(
        prompt_tokens(&looked_up) > prompt_tokens(&plain) + 100,
        "{looked_up} {plain}"
    );
    assert_eq!(prompt_tokens(&plain), prompt_tokens(&none));
    assert!(looked_up["choices"][0]["message"]["content"].is_string());
    assert!(plain["choices"][0]["message"].get("f1_lookups").is_none());

    // Streamed: the answer arrives as content, then [DONE].
    let response = complete(&http, &url, &ask(8, true)).await;
    assert_eq!(response.status(), 200);
    let events = sse_data(&response.text().await.unwrap());
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let usage: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert!(usage["usage"]["prompt_tokens"].as_u64().unwrap() > prompt_tokens(&plain) + 100);
}

/// A server's own limits: a prompt over `max_prompt_tokens` is refused with
/// 400, and a generation still running after `max_seconds` stops with finish
/// reason `length`.
#[tokio::test(flavor = "multi_thread")]
async fn the_servers_own_limits_refuse_long_prompts_and_stop_long_generations() {
    let dir = tempfile::tempdir().unwrap();
    let options = ServeOptions {
        max_tokens: 4000,
        ..ServeOptions::default()
    };
    let limits = Limits {
        max_prompt_tokens: Some(40),
        max_seconds: Some(0.2),
    };
    let url = start_with(dir.path(), 4, options, None, limits).await;
    let http = reqwest::Client::new();
    let mut long = ask(4, false);
    long["messages"][1]["content"] = json!("pit wall ".repeat(30));
    let response = complete(&http, &url, &long).await;
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 40"),
        "{body}"
    );

    let response = complete(&http, &url, &ask(4000, false)).await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    let generated = body["usage"]["completion_tokens"].as_u64().unwrap();
    assert!(
        generated < 4000,
        "{generated} tokens: the time limit did not stop it"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "length", "{body}");
}

/// A client waiting for a whole (not streamed) completion that goes away
/// cancels it too: its handler is dropped with the connection, and with it the
/// worker's channel. The cancelled request generates a fraction of what the
/// same request generates for a client that waits.
#[tokio::test(flavor = "multi_thread")]
async fn a_whole_completion_stops_when_its_client_goes_away() {
    use tokio::io::AsyncWriteExt;

    let dir = tempfile::tempdir().unwrap();
    let options = ServeOptions {
        max_tokens: 2000,
        ..ServeOptions::default()
    };
    let url = start(dir.path(), 1, options).await;
    let http = reqwest::Client::new();
    let address = url.trim_start_matches("http://");
    let body = ask(2000, false).to_string();
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {address}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    while get_json(&http, format!("{url}/health")).await["in_flight"] != 1 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    drop(socket);
    assert!(
        becomes_idle(&http, &url).await,
        "the abandoned request still holds its place"
    );
    let health: Value = get_json(&http, format!("{url}/health")).await;
    let cancelled = health["tokens_generated"].as_u64().unwrap();

    let whole: Value = complete(&http, &url, &ask(2000, false))
        .await
        .json()
        .await
        .unwrap();
    let full = whole["usage"]["completion_tokens"].as_u64().unwrap();
    let health: Value = get_json(&http, format!("{url}/health")).await;
    assert_eq!(health["tokens_generated"], cancelled + full);
    assert!(
        cancelled * 4 < full,
        "the abandoned request generated {cancelled} tokens; waited for, {full}"
    );
}

/// Continuous batching: concurrent requests decode together (each one's first
/// token arrives before any of them has finished), and each gets the answer it
/// gets alone.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_decode_together_and_each_as_alone() {
    let dir = tempfile::tempdir().unwrap();
    let url = start(dir.path(), 8, ServeOptions::default()).await;
    let http = reqwest::Client::new();
    let questions = [
        "Who won the 1988 title?",
        "Name a Monaco winner.",
        "Which team won the most constructors' titles in the nineteen-nineties?",
        "Hi",
    ];
    let body = |question: &str, stream: bool| {
        json!({
            "model": "tiny",
            "messages": [{"role": "user", "content": question}],
            "max_tokens": 160,
            "temperature": 0,
            "stream": stream,
        })
    };
    let mut alone = Vec::new();
    for question in questions {
        let whole: Value = complete(&http, &url, &body(question, false))
            .await
            .json()
            .await
            .unwrap();
        alone.push(
            whole["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let started = std::time::Instant::now();
    let streams = questions.map(|question| {
        let (http, url, body) = (http.clone(), url.clone(), body(question, true));
        tokio::spawn(async move {
            let mut stream = complete(&http, &url, &body).await.bytes_stream();
            let (mut first_token, mut raw) = (None, String::new());
            while let Some(bytes) = stream.next().await {
                raw.push_str(&String::from_utf8_lossy(&bytes.unwrap()));
                if first_token.is_none() && raw.contains("\"content\":\"") {
                    first_token = Some(started.elapsed());
                }
            }
            let text: String = sse_data(&raw)
                .iter()
                .filter(|e| e.as_str() != "[DONE]")
                .filter_map(|e| {
                    let chunk: Value = serde_json::from_str(e).unwrap();
                    chunk["choices"][0]["delta"]["content"]
                        .as_str()
                        .map(str::to_string)
                })
                .collect();
            (first_token.unwrap(), started.elapsed(), text)
        })
    });
    let mut together = Vec::new();
    for stream in streams {
        together.push(stream.await.unwrap());
    }
    let first_done = together.iter().map(|t| t.1).min().unwrap();
    for ((first_token, _, text), alone) in together.iter().zip(&alone) {
        assert_eq!(text, alone, "greedy: the same answer in a batch as alone");
        assert!(
            *first_token < first_done,
            "a request began {first_token:?} after the start, when one had already ended \
             ({first_done:?}): requests ran one after another"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prompt_beginning_as_the_last_one_reads_only_the_rest() {
    let http = reqwest::Client::new();
    let ask = |url: String, question: &str| {
        let (http, body) = (
            http.clone(),
            json!({
                "model": "tiny",
                "messages": [{"role": "user", "content": question}],
                "max_tokens": 24,
                "temperature": 0,
            }),
        );
        async move {
            let reply: Value = complete(&http, &url, &body).await.json().await.unwrap();
            let usage = &reply["usage"];
            let cached = usage["prompt_tokens_details"]["cached_tokens"]
                .as_u64()
                .unwrap();
            let text = reply["choices"][0]["message"]["content"].clone();
            (cached, usage["prompt_tokens"].as_u64().unwrap(), text)
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let url = start(dir.path(), 4, ServeOptions::default()).await;
    let (cached, _, _) = ask(url.clone(), "Who won the 2021 Abu Dhabi Grand Prix? (1)").await;
    assert_eq!(cached, 0);
    let (shared, prompt, text) =
        ask(url.clone(), "Who won the 2021 Abu Dhabi Grand Prix? (2)").await;
    // The template and the question up to its number were read once.
    assert!(shared > 30 && shared + 2 <= prompt, "{shared} of {prompt}");
    // A server that has read nothing before reads it whole and answers alike.
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = start(fresh_dir.path(), 4, ServeOptions::default()).await;
    let (fresh_cached, fresh_prompt, fresh_text) =
        ask(fresh, "Who won the 2021 Abu Dhabi Grand Prix? (2)").await;
    assert_eq!((fresh_cached, fresh_prompt), (0, prompt));
    assert_eq!(fresh_text, text);
    assert!(!text.as_str().unwrap().is_empty());
    // Another question shares the chat template's beginning only.
    let (template, _, _) = ask(url, "Name a Monaco winner.").await;
    assert!(
        template > 0 && template < shared - 5,
        "{template} of {shared}"
    );
}
