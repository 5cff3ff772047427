//! Tools a client brings, in OpenAI's format, carried through the model's own
//! call format (`<tool_call>{...}</tool_call>`, see `f1_tools::call`): the tools
//! listed in the system prompt, earlier calls and results rendered into the
//! conversation, and a reply that is a call returned as `tool_calls`.

use f1_tools::{parse_reply, Reply, ToolCall};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One tool of a request's `tools`.
#[derive(Debug, Clone, Deserialize)]
pub struct WireTool {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionSpec,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FunctionSpec {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
}

/// A call in an assistant message, either way over the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireToolCall {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub function: WireFunctionCall,
}

/// The called function; `arguments` is JSON text, as OpenAI sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireFunctionCall {
    pub name: String,
    pub arguments: String,
}

/// The system prompt's lines that offer `tools` and say how to call them.
pub fn system_text(tools: &[WireTool]) -> String {
    let mut text = String::from(
        "You can look things up with these tools. To call one, write \
         <tool_call>{\"name\": ..., \"arguments\": {...}}</tool_call> and wait for its result. Tools:",
    );
    for tool in tools {
        let spec = serde_json::json!({
            "name": tool.function.name,
            "description": tool.function.description,
            "parameters": tool.function.parameters,
        });
        text.push_str(&format!("\n{spec}"));
    }
    text
}

/// An assistant message's calls as the model writes them; an argument string
/// that is not a JSON object is an error naming the call.
pub fn render_calls(calls: &[WireToolCall]) -> Result<String, String> {
    let mut text = String::new();
    for call in calls {
        let arguments: Value = serde_json::from_str(&call.function.arguments)
            .map_err(|e| format!("tool call '{}': arguments are not JSON: {e}", call.id))?;
        if !arguments.is_object() {
            return Err(format!(
                "tool call '{}': arguments must be a JSON object",
                call.id
            ));
        }
        text.push_str(&ToolCall::new(&call.function.name, arguments).render());
    }
    Ok(text)
}

/// The reply as OpenAI returns it: a call becomes `tool_calls` (id
/// `call_<completion id>_0`) with no content; anything else stays text.
pub fn reply(text: &str, completion_id: &str) -> (Option<String>, Option<Vec<WireToolCall>>) {
    match parse_reply(text) {
        Reply::Call(call) => {
            let call = WireToolCall {
                id: format!("call_{completion_id}_0"),
                kind: "function".into(),
                function: WireFunctionCall {
                    arguments: Value::Object(call.arguments).to_string(),
                    name: call.name,
                },
            };
            (None, Some(vec![call]))
        }
        _ => (Some(text.to_string()), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_go_both_ways_and_bad_arguments_are_named() {
        let wire = WireToolCall {
            id: "call_1".into(),
            kind: "function".into(),
            function: WireFunctionCall {
                name: "get_weather".into(),
                arguments: r#"{"city": "Monza"}"#.into(),
            },
        };
        let text = render_calls(std::slice::from_ref(&wire)).unwrap();
        assert_eq!(
            text,
            r#"<tool_call>{"name":"get_weather","arguments":{"city":"Monza"}}</tool_call>"#
        );
        let (content, calls) = reply(&text, "chatcmpl-1");
        assert_eq!(content, None);
        let calls = calls.unwrap();
        assert_eq!(calls[0].function.name, "get_weather");
        assert_eq!(calls[0].function.arguments, r#"{"city":"Monza"}"#);
        assert_eq!(calls[0].id, "call_chatcmpl-1_0");
        assert_eq!(
            reply("Lewis Hamilton.", "x"),
            (Some("Lewis Hamilton.".into()), None)
        );
        let bad = WireToolCall {
            function: WireFunctionCall {
                name: "f".into(),
                arguments: "[1]".into(),
            },
            ..wire
        };
        assert!(render_calls(&[bad]).unwrap_err().contains("call_1"));
    }
}
