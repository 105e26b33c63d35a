//! The OpenAI chat-completions request and response shapes, and how a request is checked.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::data::instruct::{Conversation, Role, Turn};
use crate::model::{SamplingConfig, StopReason};

/// A request refused before it reaches the model: HTTP 400 with this message.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRequest {
    pub message: String,
    pub param: Option<&'static str>,
}

fn bad(message: impl Into<String>, param: &'static str) -> BadRequest {
    BadRequest {
        message: message.into(),
        param: Some(param),
    }
}

/// A checked chat-completions request.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub model: Option<String>,
    pub conversation: Conversation,
    pub sampling: SamplingConfig,
    /// Whether `max_tokens` was given (otherwise the rest of the context may be used, up to a cap).
    pub max_tokens_given: bool,
    pub stream: bool,
    pub include_usage: bool,
}

/// Reads and checks a request body.
pub fn parse_request(body: &[u8]) -> Result<ChatRequest, BadRequest> {
    let value: Value = serde_json::from_slice(body).map_err(|e| BadRequest {
        message: format!("the body is not valid JSON: {e}"),
        param: None,
    })?;
    let obj = value.as_object().ok_or(BadRequest {
        message: "the body must be a JSON object".into(),
        param: None,
    })?;
    let model = match obj.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad("`model` must be a string", "model")),
    };
    let messages = obj
        .get("messages")
        .ok_or(bad("`messages` is required", "messages"))?
        .as_array()
        .ok_or(bad("`messages` must be an array", "messages"))?;
    if messages.is_empty() {
        return Err(bad("`messages` must not be empty", "messages"));
    }
    let mut turns = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("messages[{i}] has no string `role`"), "messages"))?;
        let role = match role {
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => {
                return Err(bad(
                    format!("messages[{i}].role `{other}` is not system, user or assistant"),
                    "messages",
                ));
            }
        };
        let content = content_text(m.get("content"))
            .ok_or_else(|| bad(format!("messages[{i}].content must be text"), "messages"))?;
        turns.push(Turn { role, content });
    }
    if turns.last().map(|t| t.role) != Some(Role::User) {
        return Err(bad("the last message must be from the user", "messages"));
    }
    let number = |name: &'static str| -> Result<Option<f64>, BadRequest> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or(bad(format!("`{name}` must be a number"), name)),
        }
    };
    let count = |name: &'static str| -> Result<Option<usize>, BadRequest> {
        match number(name)? {
            None => Ok(None),
            Some(v) if v >= 1.0 && v.fract() == 0.0 => Ok(Some(v as usize)),
            Some(_) => Err(bad(format!("`{name}` must be a positive integer"), name)),
        }
    };
    if let Some(n) = count("n")?
        && n != 1
    {
        return Err(bad("only `n` = 1 is supported", "n"));
    }
    let temperature = number("temperature")?.unwrap_or(1.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(bad("`temperature` must be between 0 and 2", "temperature"));
    }
    let top_p = number("top_p")?.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(bad("`top_p` must be in (0, 1]", "top_p"));
    }
    let max_tokens = match count("max_completion_tokens")? {
        Some(n) => Some(n),
        None => count("max_tokens")?,
    };
    let seed = match number("seed")? {
        None => 0,
        Some(v) if v.fract() == 0.0 => v as i64 as u64,
        Some(_) => return Err(bad("`seed` must be an integer", "seed")),
    };
    let stop = match obj.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(list)) if list.len() <= 4 => list
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or(bad("`stop` must be a string or up to 4 strings", "stop"))?,
        Some(_) => return Err(bad("`stop` must be a string or up to 4 strings", "stop")),
    };
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("`stream` must be true or false", "stream")),
    };
    let include_usage = obj
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let penalty = number("frequency_penalty")?.unwrap_or(0.0);
    if !(-2.0..=2.0).contains(&penalty) {
        return Err(bad(
            "`frequency_penalty` must be between -2 and 2",
            "frequency_penalty",
        ));
    }
    Ok(ChatRequest {
        model,
        conversation: Conversation { turns },
        sampling: SamplingConfig {
            max_new_tokens: max_tokens.unwrap_or(usize::MAX),
            temperature: temperature as f32,
            top_p: top_p as f32,
            // The nearest thing this model's sampler has to a frequency penalty.
            repetition_penalty: 1.0 + penalty.max(0.0) as f32 / 2.0,
            seed,
            stop,
            ..SamplingConfig::default()
        },
        max_tokens_given: max_tokens.is_some(),
        stream,
        include_usage,
    })
}

/// A message's text: a string, or an array of `{"type": "text", "text": ...}` parts.
fn content_text(content: Option<&Value>) -> Option<String> {
    match content? {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => parts
            .iter()
            .map(|p| match p.get("type").and_then(Value::as_str) {
                Some("text") => p.get("text").and_then(Value::as_str),
                _ => None,
            })
            .collect::<Option<Vec<&str>>>()
            .map(|t| t.concat()),
        _ => None,
    }
}

/// Tokens in and out.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub total_tokens: usize,
}

/// OpenAI's name for why generation stopped.
pub fn finish_reason(reason: StopReason) -> &'static str {
    match reason {
        StopReason::MaxTokens | StopReason::MaxPositions => "length",
        StopReason::Eos | StopReason::StopString | StopReason::Cancelled => "stop",
    }
}

/// The whole-answer response body.
pub fn completion_body(
    id: &str,
    created: u64,
    model: &str,
    text: &str,
    finish: &str,
    usage: Usage,
) -> Value {
    serde_json::json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "logprobs": null,
            "finish_reason": finish,
        }],
        "usage": usage,
    })
}

/// One streamed chunk.
pub fn chunk_body(
    id: &str,
    created: u64,
    model: &str,
    delta: Value,
    finish: Option<&str>,
    usage: Option<Usage>,
) -> Value {
    let choices = match (&delta, usage) {
        (Value::Null, Some(_)) => serde_json::json!([]),
        _ => {
            serde_json::json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}])
        }
    };
    serde_json::json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": usage,
    })
}

/// An error body in OpenAI's shape.
pub fn error_body(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Value {
    serde_json::json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked() {
        let ok = parse_request(
            br#"{"model":"m","messages":[{"role":"system","content":"be brief"},
                {"role":"user","content":[{"type":"text","text":"hi "},{"type":"text","text":"there"}]}],
                "max_tokens":5,"temperature":0,"stop":"\n","stream":true,
                "stream_options":{"include_usage":true}}"#,
        )
        .unwrap();
        assert_eq!(ok.conversation.turns[1].content, "hi there");
        assert_eq!(ok.sampling.max_new_tokens, 5);
        assert_eq!(ok.sampling.stop, vec!["\n".to_string()]);
        assert!(ok.stream && ok.include_usage && ok.max_tokens_given);
        for (body, param) in [
            (&br#"{"messages":[]}"#[..], Some("messages")),
            (br#"{"model":"m"}"#, Some("messages")),
            (
                br#"{"messages":[{"role":"robot","content":"x"}]}"#,
                Some("messages"),
            ),
            (
                br#"{"messages":[{"role":"user","content":7}]}"#,
                Some("messages"),
            ),
            (
                br#"{"messages":[{"role":"assistant","content":"x"}]}"#,
                Some("messages"),
            ),
            (
                br#"{"messages":[{"role":"user","content":"x"}],"n":2}"#,
                Some("n"),
            ),
            (
                br#"{"messages":[{"role":"user","content":"x"}],"temperature":3}"#,
                Some("temperature"),
            ),
            (
                br#"{"messages":[{"role":"user","content":"x"}],"max_tokens":0}"#,
                Some("max_tokens"),
            ),
            (
                br#"{"messages":[{"role":"user","content":"x"}],"max_tokens":"5"}"#,
                Some("max_tokens"),
            ),
            (
                br#"{"messages":[{"role":"user","content":"x"}],"stream":"yes"}"#,
                Some("stream"),
            ),
            (br#"[1,2]"#, None),
            (br#"{"messages": [ "#, None),
        ] {
            let e = parse_request(body).unwrap_err();
            assert_eq!(
                e.param,
                param,
                "{}: {}",
                String::from_utf8_lossy(body),
                e.message
            );
        }
    }
}
