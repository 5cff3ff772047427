//! The OpenAI chat-completions wire format: what clients send, what they get back,
//! and how a request becomes a generation. A final assistant message is continued
//! (a prefill, as llama.cpp's server and vLLM allow); the reply holds only the
//! continuation. Fields the project does not implement
//! are refused when set to anything but their neutral value, never silently ignored.

use f1_baseline::tool_loop::ToolStep;
use f1_model::chat::ChatMessage;
use f1_model::generate::{FinishReason, GenerationConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::{Request, Usage};
use crate::tool_calls::{self, WireTool, WireToolCall};

/// Sampling when the client does not say (llama.cpp's server defaults).
pub const DEFAULT_TEMPERATURE: f64 = 0.8;
pub const DEFAULT_TOP_P: f64 = 0.95;
pub const DEFAULT_TOP_K: usize = 40;

/// POST /v1/chat/completions.
#[derive(Debug, Deserialize)]
pub struct ChatCompletionRequest {
    pub model: String,
    pub messages: Vec<WireMessage>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    pub max_tokens: Option<usize>,
    pub max_completion_tokens: Option<usize>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    /// Not OpenAI's; llama.cpp's and vLLM's extension.
    pub top_k: Option<usize>,
    /// Not OpenAI's; vLLM's name for llama.cpp's repeat penalty.
    pub repetition_penalty: Option<f32>,
    /// Not OpenAI's; llama.cpp's and vLLM's: never end at an end token, so the
    /// reply runs to max_tokens (or a stop string). For benchmarks.
    #[serde(default)]
    pub ignore_eos: bool,
    pub seed: Option<u64>,
    pub stop: Option<Stop>,
    pub n: Option<usize>,
    pub frequency_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
    /// Tools the client brings; a reply that calls one comes back as `tool_calls`.
    #[serde(default)]
    pub tools: Vec<WireTool>,
    /// `auto` (the default) or `none`; forcing a call is not supported.
    pub tool_choice: Option<Value>,
    /// Not OpenAI's: whether to answer through the server's built-in F1 tools
    /// (by default yes when the server has them and the request brings none).
    pub f1_tools: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// `stop`: one string or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
pub struct WireMessage {
    pub role: String,
    /// Absent or null in an assistant message that only calls tools.
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default)]
    pub tool_calls: Vec<WireToolCall>,
}

/// Message content: a string, or a list of parts of which only text is supported.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Value>),
}

/// A request the server refuses, with the field it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub param: &'static str,
    pub message: String,
}

fn invalid(param: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        param,
        message: message.into(),
    }
}

impl Content {
    fn text(&self) -> Result<String, Invalid> {
        match self {
            Content::Text(text) => Ok(text.clone()),
            Content::Parts(parts) => parts
                .iter()
                .map(
                    |part| match (part["type"].as_str(), part["text"].as_str()) {
                        (Some("text"), Some(text)) => Ok(text),
                        _ => Err(invalid("messages", "only text content parts are supported")),
                    },
                )
                .collect::<Result<Vec<_>, _>>()
                .map(|texts| texts.join("")),
        }
    }
}

impl ChatCompletionRequest {
    /// The generation this request asks for; `max_tokens_limit` caps the budget and
    /// is also the default.
    /// The generation this request asks for; `builtin_tools`: the server can
    /// answer through its own F1 tools.
    pub fn to_request(
        &self,
        max_tokens_limit: usize,
        builtin_tools: bool,
    ) -> Result<Request, Invalid> {
        if self.messages.is_empty() {
            return Err(invalid("messages", "messages must not be empty"));
        }
        let mut messages = Vec::with_capacity(self.messages.len() + 1);
        let mut called = false;
        for message in &self.messages {
            let role = match message.role.as_str() {
                "developer" => "system",
                "tool" if called => "tool",
                "tool" => {
                    return Err(invalid(
                        "messages",
                        "a tool message must follow an assistant message with tool_calls",
                    ))
                }
                role @ ("system" | "user" | "assistant") => role,
                other => {
                    return Err(invalid(
                        "messages",
                        format!("role '{other}' is not system, developer, user, assistant or tool"),
                    ))
                }
            };
            let mut text = match &message.content {
                Some(content) => content.text()?,
                None => String::new(),
            };
            if !message.tool_calls.is_empty() {
                if role != "assistant" {
                    return Err(invalid(
                        "messages",
                        "only assistant messages carry tool_calls",
                    ));
                }
                called = true;
                text.push_str(
                    &tool_calls::render_calls(&message.tool_calls)
                        .map_err(|e| invalid("messages", e))?,
                );
            }
            messages.push(ChatMessage::new(role, &text));
        }
        if self.f1_tools == Some(true) && !builtin_tools {
            return Err(invalid(
                "f1_tools",
                "this server has no knowledge base for the built-in F1 tools (run `f1ai data import`, then serve without --no-tools)",
            ));
        }
        if self.f1_tools == Some(true) && !self.tools.is_empty() {
            return Err(invalid(
                "f1_tools",
                "a request brings its own tools or uses the built-in F1 tools, not both",
            ));
        }
        let lookup = builtin_tools
            && self.tools.is_empty()
            && self.f1_tools != Some(false)
            && self.tool_choice.as_ref().and_then(Value::as_str) != Some("none");
        if lookup {
            // The tools' own instructions, as the model was fine-tuned with them.
            let system = ChatMessage::new("system", &f1_tools::prompt::system_prompt());
            match messages.first_mut() {
                Some(first) if first.role == "system" => *first = system,
                _ => messages.insert(0, system),
            }
        }
        if self.offers_tools() {
            let offer = tool_calls::system_text(&self.tools);
            match messages.first_mut() {
                Some(first) if first.role == "system" => {
                    first.content = format!("{}\n\n{offer}", first.content)
                }
                _ => messages.insert(0, ChatMessage::new("system", &offer)),
            }
        }
        if messages.iter().all(|m| m.role == "assistant") {
            return Err(invalid("messages", "there is no user or system message"));
        }
        let max_tokens = self
            .max_completion_tokens
            .or(self.max_tokens)
            .unwrap_or(max_tokens_limit);
        if max_tokens == 0 || max_tokens > max_tokens_limit {
            return Err(invalid(
                "max_tokens",
                format!("max_tokens must be between 1 and {max_tokens_limit}, not {max_tokens}"),
            ));
        }
        let temperature = self.temperature.unwrap_or(DEFAULT_TEMPERATURE);
        if !(0.0..=2.0).contains(&temperature) {
            return Err(invalid(
                "temperature",
                "temperature must be between 0 and 2",
            ));
        }
        let top_p = self.top_p.unwrap_or(DEFAULT_TOP_P);
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(invalid("top_p", "top_p must be in (0, 1]"));
        }
        if self.n.is_some_and(|n| n != 1) {
            return Err(invalid("n", "only n = 1 is supported"));
        }
        for (param, value) in [
            ("frequency_penalty", self.frequency_penalty),
            ("presence_penalty", self.presence_penalty),
        ] {
            if value.is_some_and(|v| v != 0.0) {
                return Err(invalid(
                    param,
                    format!("{param} is not supported; use repetition_penalty"),
                ));
            }
        }
        let stop = match &self.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s.clone()],
            Some(Stop::Many(list)) => list.clone(),
        };
        if stop.len() > 4 || stop.iter().any(String::is_empty) {
            return Err(invalid("stop", "stop takes up to 4 non-empty strings"));
        }
        match self.tool_choice.as_ref().map(|c| c.as_str()) {
            None | Some(Some("auto" | "none")) => {}
            _ => {
                return Err(invalid(
                    "tool_choice",
                    "tool_choice must be \"auto\" or \"none\"; forcing a call is not supported",
                ))
            }
        }
        if let Some(tool) = self
            .tools
            .iter()
            .find(|t| t.kind != "function" || t.function.name.is_empty())
        {
            return Err(invalid(
                "tools",
                format!(
                    "each tool must be a named function, not '{}' of type '{}'",
                    tool.function.name, tool.kind
                ),
            ));
        }
        if self.stream && self.offers_tools() {
            return Err(invalid(
                "stream",
                "streaming with tools is not supported; set stream to false",
            ));
        }
        Ok(Request {
            model: self.model.clone(),
            messages,
            config: GenerationConfig {
                max_tokens,
                temperature,
                top_k: Some(self.top_k.unwrap_or(DEFAULT_TOP_K)).filter(|&k| k > 0),
                top_p: Some(top_p).filter(|&p| p < 1.0),
                repeat_penalty: self.repetition_penalty.unwrap_or(1.0),
                seed: self.seed.unwrap_or_else(clock_seed),
                stop,
                ignore_eos: self.ignore_eos,
                ..GenerationConfig::default()
            },
            lookup,
        })
    }

    /// Whether the reply may call the request's tools.
    pub fn offers_tools(&self) -> bool {
        !self.tools.is_empty() && self.tool_choice.as_ref().and_then(Value::as_str) != Some("none")
    }

    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .is_some_and(|options| options.include_usage)
    }
}

/// A seed from the clock, for requests that give none (as OpenAI's API: sampled
/// answers differ between calls unless a seed is given).
fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// OpenAI's name for why a completion ended.
pub fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::Cancelled => "stop",
        FinishReason::Length => "length",
    }
}

/// The finish reason of a reply that called a tool.
pub const TOOL_CALLS: &str = "tool_calls";

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct WireUsage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub total_tokens: usize,
    #[serde(default)]
    pub prompt_tokens_details: PromptTokensDetails,
}

/// OpenAI's breakdown of the prompt tokens: how many came from the prompt cache.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct PromptTokensDetails {
    pub cached_tokens: usize,
}

/// llama.cpp's `timings` extension: where the time went.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Timings {
    pub prompt_ms: f64,
    pub predicted_ms: f64,
    pub predicted_per_second: f64,
}

impl From<&Usage> for WireUsage {
    fn from(usage: &Usage) -> Self {
        Self {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            total_tokens: usage.prompt_tokens + usage.completion_tokens,
            prompt_tokens_details: PromptTokensDetails {
                cached_tokens: usage.cached_tokens,
            },
        }
    }
}

impl From<&Usage> for Timings {
    fn from(usage: &Usage) -> Self {
        Self {
            prompt_ms: usage.prompt_seconds * 1e3,
            predicted_ms: usage.decode_seconds * 1e3,
            predicted_per_second: if usage.decode_seconds > 0.0 {
                usage.completion_tokens as f64 / usage.decode_seconds
            } else {
                0.0
            },
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AssistantMessage {
    pub role: &'static str,
    /// Null when the reply is a tool call.
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<WireToolCall>>,
    /// Not OpenAI's: the built-in F1 tool calls behind the answer, with results.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub f1_lookups: Vec<ToolStep>,
}

#[derive(Debug, Serialize)]
pub struct Choice {
    pub index: usize,
    pub message: AssistantMessage,
    pub finish_reason: &'static str,
}

/// A whole (non-streamed) completion.
#[derive(Debug, Serialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: WireUsage,
    pub timings: Timings,
}

#[derive(Debug, Serialize, Default)]
pub struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ChunkChoice {
    pub index: usize,
    pub delta: Delta,
    pub finish_reason: Option<&'static str>,
}

/// One server-sent event of a streamed completion.
#[derive(Debug, Serialize)]
pub struct ChatCompletionChunk {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<ChunkChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
    /// Not OpenAI's: a built-in F1 tool call and its result, before the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f1_lookup: Option<ToolStep>,
}

/// GET /v1/models.
#[derive(Debug, Serialize)]
pub struct ModelList {
    pub object: &'static str,
    pub data: Vec<ModelCard>,
}

#[derive(Debug, Serialize)]
pub struct ModelCard {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub owned_by: &'static str,
}

/// OpenAI's error body.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub param: Option<&'static str>,
    pub code: Option<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> ChatCompletionRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_built_in_tools_answer_unless_the_request_says_otherwise() {
        let asked = |extra: &str| {
            request(&format!(
                r#"{{"model":"m","messages":[{{"role":"system","content":"be brief"}},{{"role":"user","content":"Who won?"}}]{extra}}}"#
            ))
        };
        let r = asked("").to_request(64, true).unwrap();
        assert!(r.lookup);
        assert_eq!(r.messages.len(), 2);
        assert_eq!(r.messages[0].content, f1_tools::prompt::system_prompt());
        for extra in [
            r#","f1_tools":false"#,
            r#","tool_choice":"none""#,
            r#","tools":[{"type":"function","function":{"name":"f"}}]"#,
        ] {
            let r = asked(extra).to_request(64, true).unwrap();
            assert!(!r.lookup, "{extra}");
            assert!(r.messages[0].content.starts_with("be brief"), "{extra}");
        }
        assert!(!asked("").to_request(64, false).unwrap().lookup);
        for (extra, builtin) in [
            (r#","f1_tools":true"#, false),
            (
                r#","f1_tools":true,"tools":[{"type":"function","function":{"name":"f"}}]"#,
                true,
            ),
        ] {
            let refused = asked(extra).to_request(64, builtin).unwrap_err();
            assert_eq!(refused.param, "f1_tools", "{extra}");
        }
    }

    #[test]
    fn defaults_cap_and_roles() {
        let r = request(r#"{"model":"m","messages":[{"role":"developer","content":"be brief"},{"role":"user","content":[{"type":"text","text":"Who "},{"type":"text","text":"won?"}]}],"stop":"\n"}"#)
            .to_request(64, false)
            .unwrap();
        assert_eq!(r.config.max_tokens, 64);
        assert_eq!(r.config.temperature, DEFAULT_TEMPERATURE);
        assert_eq!(r.config.stop, vec!["\n".to_string()]);
        assert!(!r.config.ignore_eos);
        assert_eq!(r.messages[0], ChatMessage::new("system", "be brief"));
        assert_eq!(r.messages[1].content, "Who won?");
        let r = request(
            r#"{"model":"m","messages":[{"role":"user","content":"Hi"}],"ignore_eos":true}"#,
        )
        .to_request(64, false)
        .unwrap();
        assert!(r.config.ignore_eos);
    }

    #[test]
    fn tools_are_offered_and_earlier_calls_rendered_in_the_model_format() {
        let r = request(
            r#"{"model":"m","tools":[{"type":"function","function":{"name":"get_weather","description":"Weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
               "messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Rain at Spa?"},
                           {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Spa\"}"}}]},
                           {"role":"tool","tool_call_id":"call_1","content":"{\"rain\":true}"}]}"#,
        )
        .to_request(64, false)
        .unwrap();
        let roles: Vec<&str> = r.messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool"]);
        assert!(r.messages[0]
            .content
            .starts_with("Be brief.\n\nYou can look things up"));
        assert!(r.messages[0].content.contains(r#""name":"get_weather""#));
        assert_eq!(
            r.messages[2].content,
            r#"<tool_call>{"name":"get_weather","arguments":{"city":"Spa"}}</tool_call>"#
        );
        let none = request(
            r#"{"model":"m","tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none","messages":[{"role":"user","content":"x"}]}"#,
        );
        assert!(!none.offers_tools());
        assert_eq!(none.to_request(64, false).unwrap().messages.len(), 1);
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        let cases = [
            (r#"{"model":"m","messages":[]}"#, "messages"),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":65}"#,
                "max_tokens",
            ),
            (
                r#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#,
                "messages",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":2}"#,
                "n",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3}"#,
                "temperature",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"presence_penalty":0.5}"#,
                "presence_penalty",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#,
                "messages",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required"}"#,
                "tool_choice",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"retrieval","function":{"name":"f"}}]}"#,
                "tools",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"stream":true}"#,
                "stream",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"not json"}}]}]}"#,
                "messages",
            ),
        ];
        for (json, param) in cases {
            assert_eq!(
                request(json).to_request(64, false).unwrap_err().param,
                param,
                "{json}"
            );
        }
    }
}
