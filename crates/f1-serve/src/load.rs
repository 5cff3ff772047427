//! A load test for an OpenAI-compatible API (ours or llama-server's): many
//! streaming clients at once, each sending one request or several one after
//! another, each stream checked for being complete and well-formed; aggregate
//! throughput, time to first token and per-stream speed reported, optionally
//! while one long prompt is being read.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{Error, Result};

/// What to send and how many at once.
#[derive(Debug, Clone)]
pub struct LoadTest {
    /// The server's root, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    pub model: String,
    pub clients: usize,
    /// Requests each client sends, one after another (at least one). With
    /// several, the server holds `clients` streams through most of the round,
    /// as under a steady load (vLLM's `--max-concurrency`, llama.cpp's k6
    /// virtual users), instead of a single burst whose streams end one by one.
    pub requests: usize,
    pub max_tokens: usize,
    pub api_key: Option<String>,
    /// Each request's question ends with its client's number and its own, so
    /// prompts differ.
    pub question: String,
    /// Every client asks for `ignore_eos` (llama.cpp's and vLLM's extension), so
    /// each gets exactly `max_tokens` tokens.
    pub ignore_eos: bool,
    /// A client that has not finished by then counts as an error.
    pub timeout: Duration,
    /// Sent by one more client just before the others: a long prompt that the
    /// others should not have to wait for. It is reported apart.
    pub long_prompt: Option<LongPrompt>,
}

/// A long request sent alongside the others.
#[derive(Debug, Clone)]
pub struct LongPrompt {
    /// The user message.
    pub text: String,
    pub max_tokens: usize,
}

/// Latency percentiles in milliseconds (nearest rank).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `values`; all zero when there are none.
    pub fn of(values: &[f64]) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |p: f64| -> f64 {
            if sorted.is_empty() {
                return 0.0;
            }
            let index = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[index.clamp(1, sorted.len()) - 1]
        };
        Self {
            p50: rank(50.0),
            p90: rank(90.0),
            p95: rank(95.0),
            p99: rank(99.0),
            max: rank(100.0),
        }
    }
}

/// The outcome of a load test.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub clients: usize,
    /// Requests sent, all clients together.
    pub requests: usize,
    /// Requests that completed; the rest are errors.
    pub completed: usize,
    pub errors: usize,
    /// The first few error messages.
    pub error_samples: Vec<String>,
    pub wall_seconds: f64,
    pub first_token_ms: Percentiles,
    pub total_ms: Percentiles,
    pub completion_tokens: usize,
    /// Completion tokens of all clients over the wall time.
    pub tokens_per_second: f64,
    /// Each client's tokens after its first over the time since its first.
    pub stream_tokens_per_second: Percentiles,
    /// The long prompt's client, when there was one.
    pub long_prompt: Option<ClientResult>,
}

/// One request, as its client saw it.
#[derive(Debug, Clone, Serialize)]
pub struct ClientResult {
    pub first_token_ms: f64,
    pub total_ms: f64,
    pub completion_tokens: usize,
}

impl ClientResult {
    /// Tokens after the first over the time since the first (0 for one token).
    fn stream_tokens_per_second(&self) -> f64 {
        let seconds = (self.total_ms - self.first_token_ms) / 1e3;
        match self.completion_tokens > 1 && seconds > 0.0 {
            true => (self.completion_tokens - 1) as f64 / seconds,
            false => 0.0,
        }
    }
}

/// Runs `test.clients` clients at once, each sending its requests one after
/// another, and waits for all of them.
pub async fn run(test: &LoadTest) -> Result<LoadReport> {
    // A new connection for every request: sent back to back on kept-alive
    // connections, 10 of 128 requests to llama-server (cpp-httplib) failed
    // ("error sending request") as it closed them; on loopback a connection
    // costs far less than a request.
    let client = reqwest::Client::builder()
        .timeout(test.timeout)
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| Error::Http(e.to_string()))?;
    let long = test.long_prompt.as_ref().map(|long| {
        let (client, test, long) = (client.clone(), test.clone(), long.clone());
        tokio::spawn(async move {
            one_request(&client, &test, "long".into(), long.text, long.max_tokens).await
        })
    });
    if long.is_some() {
        // Let the long prompt reach the server first.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let started = Instant::now();
    let client = &client;
    let results: Vec<_> = join_all((0..test.clients).map(|n| async move {
        let mut results = Vec::with_capacity(test.requests);
        for k in 0..test.requests {
            let question = format!("{} ({n}.{k})", test.question);
            let name = format!("{n}.{k}");
            results.push(one_request(client, test, name, question, test.max_tokens).await);
        }
        results
    }))
    .await
    .into_iter()
    .flatten()
    .collect();
    let wall_seconds = started.elapsed().as_secs_f64();
    let long_prompt = match long {
        Some(handle) => Some(
            handle
                .await
                .map_err(|e| Error::Http(e.to_string()))?
                .map_err(Error::Http)?,
        ),
        None => None,
    };
    let (ok, failed): (Vec<_>, Vec<_>) = results.into_iter().partition(|r| r.is_ok());
    let ok: Vec<ClientResult> = ok.into_iter().map(|r| r.expect("partitioned")).collect();
    let error_samples: Vec<String> = failed
        .into_iter()
        .map(|r| r.expect_err("partitioned"))
        .collect();
    let completion_tokens = ok.iter().map(|r| r.completion_tokens).sum();
    Ok(LoadReport {
        clients: test.clients,
        requests: test.clients * test.requests,
        completed: ok.len(),
        errors: error_samples.len(),
        error_samples: error_samples.into_iter().take(5).collect(),
        wall_seconds,
        first_token_ms: Percentiles::of(&ok.iter().map(|r| r.first_token_ms).collect::<Vec<_>>()),
        total_ms: Percentiles::of(&ok.iter().map(|r| r.total_ms).collect::<Vec<_>>()),
        completion_tokens,
        tokens_per_second: completion_tokens as f64 / wall_seconds,
        stream_tokens_per_second: Percentiles::of(
            &ok.iter()
                .map(ClientResult::stream_tokens_per_second)
                .collect::<Vec<_>>(),
        ),
        long_prompt,
    })
}

/// One streaming request of `question`; `n` names it in errors.
async fn one_request(
    client: &reqwest::Client,
    test: &LoadTest,
    n: String,
    question: String,
    max_tokens: usize,
) -> std::result::Result<ClientResult, String> {
    let mut body = json!({
        "model": test.model,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if test.ignore_eos {
        body["ignore_eos"] = json!(true);
    }
    let mut request = client
        .post(format!("{}/v1/chat/completions", test.url))
        .json(&body);
    if let Some(key) = &test.api_key {
        request = request.bearer_auth(key);
    }
    let started = Instant::now();
    let response = request
        .send()
        .await
        .map_err(|e| format!("client {n}: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        return Err(format!("client {n}: HTTP {status}: {text}"));
    }
    let mut bytes = response.bytes_stream();
    let mut buffer = String::new();
    let mut first_token_ms = None;
    let mut completion_tokens = None;
    let mut pieces = 0;
    let mut done = false;
    while let Some(piece) = bytes.next().await {
        let piece = piece.map_err(|e| format!("client {n}: {e}"))?;
        buffer.push_str(&String::from_utf8_lossy(&piece));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue; // a keep-alive comment
            };
            if data == "[DONE]" {
                done = true;
                continue;
            }
            let chunk: Value =
                serde_json::from_str(data).map_err(|e| format!("client {n}: bad chunk: {e}"))?;
            if let Some(error) = chunk.get("error") {
                return Err(format!("client {n}: {error}"));
            }
            if let Some(tokens) = chunk["usage"]["completion_tokens"].as_u64() {
                completion_tokens = Some(tokens as usize);
            }
            let has_text = chunk["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|t| !t.is_empty());
            if has_text && first_token_ms.is_none() {
                first_token_ms = Some(started.elapsed().as_secs_f64() * 1e3);
            }
            pieces += usize::from(has_text);
        }
    }
    if !done {
        return Err(format!("client {n}: the stream ended without [DONE]"));
    }
    // A server that sends no usage streams a token per piece (llama-server).
    let completion_tokens = completion_tokens.unwrap_or(pieces);
    let total_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(ClientResult {
        first_token_ms: first_token_ms.unwrap_or(total_ms),
        total_ms,
        completion_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::Percentiles;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let p = Percentiles::of(&values);
        assert_eq!(
            (p.p50, p.p90, p.p95, p.p99, p.max),
            (50.0, 90.0, 95.0, 99.0, 100.0)
        );
        assert_eq!(Percentiles::of(&[7.0]).p50, 7.0);
        assert_eq!(Percentiles::of(&[]).max, 0.0);
    }
}
