//! A chat-completions client for any OpenAI-compatible endpoint.

use std::time::Duration;

use serde_json::{json, Value};

use super::prompt::Message;
use crate::error::{Error, Result};

/// Where the judge lives and how long to wait for it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The API root, e.g. `http://127.0.0.1:8080/v1`.
    pub url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub timeout: Duration,
    pub max_tokens: usize,
}

/// A blocking client for one endpoint.
pub struct Client {
    endpoint: Endpoint,
    http: reqwest::blocking::Client,
}

impl Client {
    pub fn new(endpoint: Endpoint) -> Result<Self> {
        let http = reqwest::blocking::Client::builder()
            .timeout(endpoint.timeout)
            .build()
            .map_err(|e| Error::Judge(e.to_string()))?;
        Ok(Self { endpoint, http })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The assistant's reply to `messages`; transport failures, error statuses and
    /// bodies that are not chat completions are errors that say which.
    pub fn complete(&self, messages: &[Message], temperature: f64, seed: u64) -> Result<String> {
        let url = format!(
            "{}/chat/completions",
            self.endpoint.url.trim_end_matches('/')
        );
        let body = json!({
            "model": self.endpoint.model,
            "messages": messages.iter().map(|(role, content)| json!({"role": role, "content": content})).collect::<Vec<_>>(),
            "temperature": temperature,
            "seed": seed,
            "max_tokens": self.endpoint.max_tokens,
        });
        let mut request = self.http.post(&url).json(&body);
        if let Some(key) = &self.endpoint.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().map_err(|e| {
            Error::Judge(if e.is_timeout() {
                format!("{url}: no answer within {:?}", self.endpoint.timeout)
            } else {
                format!("{url}: {e}")
            })
        })?;
        let status = response.status();
        let text = response
            .text()
            .map_err(|e| Error::Judge(format!("{url}: {e}")))?;
        if !status.is_success() {
            return Err(Error::Judge(format!(
                "{url}: HTTP {status}: {}",
                clip(&text)
            )));
        }
        let value: Value = serde_json::from_str(&text)
            .map_err(|_| Error::Judge(format!("{url}: the answer is not JSON: {}", clip(&text))))?;
        value["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| {
                Error::Judge(format!(
                    "{url}: no choices[0].message.content in {}",
                    clip(&text)
                ))
            })
    }
}

fn clip(text: &str) -> String {
    let mut end = text.len().min(200);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}
