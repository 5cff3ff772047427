//! The call format in the assistant's turn, as Qwen and Hermes write it:
//! `<tool_call>{"name": "race_result", "arguments": {"race": "..."}}</tool_call>`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ToolError;
use crate::spec::{self, Kind, Tool};

/// Opens a call in the assistant's turn.
pub const OPEN: &str = "<tool_call>";
/// Closes it; generation stops here.
pub const CLOSE: &str = "</tool_call>";

/// A call of one tool with its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub name: String,
    #[serde(default)]
    pub arguments: Map<String, Value>,
}

/// What the assistant's turn was.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A well-formed call (its arguments not yet checked against the tool).
    Call(ToolCall),
    /// A plain answer, no call.
    Answer(String),
    /// A turn that opens a call but is not one: why.
    Malformed(String),
}

impl ToolCall {
    pub fn new(name: &str, arguments: Value) -> Self {
        Self {
            name: name.to_string(),
            arguments: match arguments {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        }
    }

    /// The call as the assistant writes it, the name first (the tool is chosen
    /// before its arguments).
    pub fn render(&self) -> String {
        let name = Value::from(self.name.as_str());
        let arguments = Value::Object(self.arguments.clone());
        format!("{OPEN}{{\"name\":{name},\"arguments\":{arguments}}}{CLOSE}")
    }

    /// Checks the call against its tool: a known name, every required argument, no
    /// unknown one, and each of the right type.
    pub fn validate(&self) -> Result<&'static Tool, ToolError> {
        let tool = spec::by_name(&self.name).ok_or_else(|| ToolError::UnknownTool {
            name: self.name.clone(),
            known: spec::TOOLS.iter().map(|t| t.name.to_string()).collect(),
        })?;
        let invalid = |message: String| ToolError::InvalidArguments {
            tool: tool.name,
            message,
        };
        for name in self.arguments.keys() {
            if !tool.parameters.iter().any(|p| p.name == name) {
                return Err(invalid(format!("unknown argument '{name}'")));
            }
        }
        for parameter in tool.parameters {
            let Some(value) = self.arguments.get(parameter.name) else {
                if parameter.required {
                    return Err(invalid(format!("missing argument '{}'", parameter.name)));
                }
                continue;
            };
            let fits = match parameter.kind {
                Kind::Text => value.as_str().is_some_and(|s| {
                    let n = s.trim().chars().count();
                    (1..=100).contains(&n)
                }),
                Kind::Season => value.is_i64() || value.as_str().is_some_and(|s| s.len() <= 40),
                Kind::Integer => value.as_i64().is_some_and(|n| n >= 1),
                Kind::Choice(words) => value.as_str().is_some_and(|s| words.contains(&s)),
            };
            if !fits {
                return Err(invalid(format!(
                    "argument '{}' must be {}, not {value}",
                    parameter.name,
                    expected(parameter.kind)
                )));
            }
        }
        Ok(tool)
    }
}

fn expected(kind: Kind) -> String {
    match kind {
        Kind::Text => "a name of 1 to 100 characters".into(),
        Kind::Season => "a year or words such as \"last season\"".into(),
        Kind::Integer => "a whole number from 1".into(),
        Kind::Choice(words) => format!("one of {}", words.join(", ")),
    }
}

/// Reads an assistant turn: a call when it opens one, else an answer.
pub fn parse_reply(text: &str) -> Reply {
    let Some(start) = text.find(OPEN) else {
        return Reply::Answer(text.trim().to_string());
    };
    let body = &text[start + OPEN.len()..];
    let body = body.find(CLOSE).map_or(body, |end| &body[..end]).trim();
    match serde_json::from_str::<ToolCall>(body) {
        Ok(call) => Reply::Call(call),
        Err(e) => Reply::Malformed(format!("the call is not JSON of a name and arguments: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_rendered_call_parses_back() {
        let call = ToolCall::new("race_result", json!({"race": "2021 Abu Dhabi Grand Prix"}));
        let text = call.render();
        assert_eq!(
            text,
            r#"<tool_call>{"name":"race_result","arguments":{"race":"2021 Abu Dhabi Grand Prix"}}</tool_call>"#
        );
        assert_eq!(parse_reply(&text), Reply::Call(call));
        assert_eq!(
            parse_reply(" Max Verstappen. "),
            Reply::Answer("Max Verstappen.".into())
        );
        assert!(matches!(
            parse_reply("<tool_call>{\"name\": \"race_result\", \"argu"),
            Reply::Malformed(_)
        ));
    }

    #[test]
    fn validation_names_the_unknown_tool_or_the_bad_argument() {
        let unknown = ToolCall::new("drop_table", json!({}))
            .validate()
            .unwrap_err();
        assert!(matches!(unknown, ToolError::UnknownTool { .. }));
        assert!(unknown.to_string().contains("race_result"), "{unknown}");
        let cases = [
            (json!({}), "missing argument 'race'"),
            (json!({"race": 2021}), "argument 'race' must be a name"),
            (
                json!({"race": "Monaco", "lap": 3}),
                "unknown argument 'lap'",
            ),
            (
                json!({"race": "Monaco", "season": [2021]}),
                "argument 'season'",
            ),
        ];
        for (arguments, message) in cases {
            let error = ToolCall::new("race_result", arguments)
                .validate()
                .unwrap_err();
            assert!(error.to_string().contains(message), "{error}");
        }
        let bad_choice = ToolCall::new(
            "standings",
            json!({"season": 2021, "championship": "teams"}),
        );
        assert!(bad_choice
            .validate()
            .unwrap_err()
            .to_string()
            .contains("one of drivers"));
        assert!(ToolCall::new(
            "standings",
            json!({"season": "last season", "after_round": 5})
        )
        .validate()
        .is_ok());
    }
}
