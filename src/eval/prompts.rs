//! Prompt sets for generation-based evaluation (answer quality, code-switching), and the answers
//! a model gives to them.
//!
//! A prompt set is a plain text file (one instruction per non-empty line), or a JSON array or JSON
//! Lines file of objects with `instruction` (or `prompt` or `question`), and optionally `input`,
//! `id`, `category` and `reference` (or `output` or `answer`): Alpaca and BELLE files, and
//! LLM-Eval-style question sets, read as they are.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One thing to ask a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalPrompt {
    pub id: String,
    #[serde(default)]
    pub category: String,
    pub instruction: String,
    #[serde(default)]
    pub input: String,
    /// A reference answer, shown to a judge when there is one.
    #[serde(default)]
    pub reference: String,
}

/// A model's answer to a prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    #[serde(flatten)]
    pub prompt: EvalPrompt,
    pub response: String,
    /// Tokens generated (0 when the answer was read from a file that does not say).
    #[serde(default)]
    pub new_tokens: usize,
}

/// Reads a prompt set.
pub fn read_prompts(path: &Path) -> Result<Vec<EvalPrompt>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let json = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "json" | "jsonl"));
    let prompts = match json || text.trim_start().starts_with(['{', '[']) {
        false => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .enumerate()
            .map(|(i, l)| EvalPrompt {
                id: (i + 1).to_string(),
                category: String::new(),
                instruction: l.to_string(),
                input: String::new(),
                reference: String::new(),
            })
            .collect(),
        true => records(path, &text)?
            .into_iter()
            .map(|(line, v)| prompt_of(&v, line).map_err(|r| bad_line(path, line, r)))
            .collect::<Result<Vec<_>>>()?,
    };
    if prompts.is_empty() {
        return Err(Error::bad_file(path, "no prompts in the file"));
    }
    Ok(prompts)
}

/// Reads answers written by [`write_answers`] (or any JSONL with the prompt fields and `response`).
pub fn read_answers(path: &Path) -> Result<Vec<Answer>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (line, v) in records(path, &text)? {
        let prompt = prompt_of(&v, line).map_err(|r| bad_line(path, line, r))?;
        let response = v
            .get("response")
            .and_then(|r| r.as_str())
            .ok_or_else(|| bad_line(path, line, "no `response` string".into()))?;
        out.push(Answer {
            prompt,
            response: response.to_string(),
            new_tokens: v.get("new_tokens").and_then(|n| n.as_u64()).unwrap_or(0) as usize,
        });
    }
    if out.is_empty() {
        return Err(Error::bad_file(path, "no answers in the file"));
    }
    Ok(out)
}

/// Writes answers as JSON Lines, atomically.
#[cfg(feature = "native")]
pub fn write_answers(path: &Path, answers: &[Answer]) -> Result<()> {
    let mut text = String::new();
    for a in answers {
        text.push_str(&serde_json::to_string(a).expect("answers serialise"));
        text.push('\n');
    }
    crate::fsx::write_atomic(path, text.as_bytes())
}

fn bad_line(path: &Path, line: usize, reason: String) -> Error {
    Error::bad_file(path, format!("line {line}: {reason}"))
}

/// The JSON objects of a JSON array or JSON Lines text, with the line each starts on.
fn records(path: &Path, text: &str) -> Result<Vec<(usize, serde_json::Value)>> {
    if text.trim_start().starts_with('[') {
        let all: Vec<serde_json::Value> = serde_json::from_str(text)
            .map_err(|e| bad_line(path, e.line(), format!("invalid JSON: {e}")))?;
        // Records of an array are numbered, not placed on lines.
        return Ok(all
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i + 1, v))
            .collect());
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v = serde_json::from_str(line)
            .map_err(|e| bad_line(path, i + 1, format!("invalid JSON: {e}")))?;
        out.push((i + 1, v));
    }
    Ok(out)
}

fn prompt_of(v: &serde_json::Value, line: usize) -> std::result::Result<EvalPrompt, String> {
    let obj = v.as_object().ok_or("not a JSON object")?;
    let field = |names: &[&str]| -> std::result::Result<Option<String>, String> {
        for name in names {
            match obj.get(*name) {
                None | Some(serde_json::Value::Null) => continue,
                Some(serde_json::Value::String(s)) => return Ok(Some(s.clone())),
                Some(serde_json::Value::Number(n)) => return Ok(Some(n.to_string())),
                Some(_) => return Err(format!("`{name}` is not a string")),
            }
        }
        Ok(None)
    };
    let instruction = field(&["instruction", "prompt", "question"])?
        .filter(|s| !s.trim().is_empty())
        .ok_or("no `instruction`, `prompt` or `question`")?;
    Ok(EvalPrompt {
        id: field(&["id", "source_id"])?.unwrap_or_else(|| line.to_string()),
        category: field(&["category", "type"])?.unwrap_or_default(),
        instruction,
        input: field(&["input"])?.unwrap_or_default(),
        reference: field(&["reference", "output", "answer"])?.unwrap_or_default(),
    })
}
