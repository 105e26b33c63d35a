//! Instruction data: Alpaca-style records (`instruction`, `input`, `output`, as in BELLE and
//! Bactrian-X), ShareGPT-style `conversations` (`from`/`value`) and chat `messages`
//! (`role`/`content`), in a JSON array or JSON Lines file; a prompt template (built-in Alpaca,
//! or one read from a TOML file); and tokenization with labels on the response tokens only.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::documents::{BadLine, OnBadLine, open_maybe_gzip};
use crate::error::{Error, Result};
use crate::model::{IGNORE_INDEX, TextTokenizer};

/// Who speaks a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub role: Role,
    pub content: String,
}

/// An example: a conversation whose assistant turns are what the model learns to say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub turns: Vec<Turn>,
}

/// How turns become text. `{content}` stands for the turn's text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Template {
    /// Text before the first turn when there is no system turn.
    pub preamble: String,
    pub system: String,
    pub user: String,
    /// The assistant's turn; only this text (and the EOS after it) carries labels.
    pub assistant: String,
    /// Text between an assistant turn and the next user turn (no labels).
    pub separator: String,
    /// How an Alpaca `input` joins the instruction into the user turn.
    pub input: String,
}

impl Default for Template {
    /// The Stanford Alpaca prompt.
    fn default() -> Self {
        Self {
            preamble: "Below is an instruction that describes a task. Write a response that \
                       appropriately completes the request.\n\n"
                .into(),
            system: "{content}\n\n".into(),
            user: "### Instruction:\n{content}\n\n### Response:\n".into(),
            assistant: "{content}".into(),
            separator: "\n\n".into(),
            input: "{instruction}\n\n### Input:\n{input}".into(),
        }
    }
}

impl Template {
    /// Reads a template from a TOML file with the fields of [`Template`].
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let t: Template = toml::from_str(&text)
            .map_err(|e| Error::bad_file(path, format!("not a prompt template: {e}")))?;
        for (field, value) in [("user", &t.user), ("assistant", &t.assistant)] {
            if !value.contains("{content}") {
                return Err(Error::bad_file(
                    path,
                    format!("template field `{field}` must contain {{content}}"),
                ));
            }
        }
        Ok(t)
    }

    /// The text of `conv` and the byte ranges of the assistant turns within it.
    pub fn render(&self, conv: &Conversation) -> (String, Vec<std::ops::Range<usize>>) {
        let mut text = String::new();
        let mut spans = Vec::new();
        if conv.turns.first().is_none_or(|t| t.role != Role::System) {
            text.push_str(&self.preamble);
        }
        for (i, turn) in conv.turns.iter().enumerate() {
            match turn.role {
                Role::System => text.push_str(&self.system.replace("{content}", &turn.content)),
                Role::User => {
                    if i > 0 && conv.turns[i - 1].role == Role::Assistant {
                        text.push_str(&self.separator);
                    }
                    text.push_str(&self.user.replace("{content}", &turn.content));
                }
                Role::Assistant => {
                    let start = text.len();
                    text.push_str(&self.assistant.replace("{content}", &turn.content));
                    spans.push(start..text.len());
                }
            }
        }
        (text, spans)
    }

    /// The prompt for a new instruction (what generation continues).
    pub fn prompt(&self, instruction: &str) -> String {
        let conv = Conversation {
            turns: vec![Turn {
                role: Role::User,
                content: instruction.into(),
            }],
        };
        self.render(&conv).0
    }

    /// The user turn of an Alpaca record: the instruction, joined with its input if it has one.
    pub fn alpaca_user(&self, instruction: &str, input: &str) -> String {
        if input.trim().is_empty() {
            instruction.to_string()
        } else {
            self.input
                .replace("{instruction}", instruction)
                .replace("{input}", input)
        }
    }
}

/// Reads one record in any of the three forms.
fn parse_record(
    value: &serde_json::Value,
    template: &Template,
) -> std::result::Result<Conversation, String> {
    let obj = value.as_object().ok_or("not a JSON object")?;
    let text = |v: &serde_json::Value, what: &str| {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("`{what}` is not a string"))
    };
    if let Some(output) = obj.get("output") {
        let instruction = obj
            .get("instruction")
            .map(|v| text(v, "instruction"))
            .transpose()?
            .unwrap_or_default();
        let input = obj
            .get("input")
            .map(|v| text(v, "input"))
            .transpose()?
            .unwrap_or_default();
        if instruction.trim().is_empty() && input.trim().is_empty() {
            return Err("empty `instruction`".into());
        }
        return Ok(Conversation {
            turns: vec![
                Turn {
                    role: Role::User,
                    content: template.alpaca_user(&instruction, &input),
                },
                Turn {
                    role: Role::Assistant,
                    content: text(output, "output")?,
                },
            ],
        });
    }
    let (list, role_key, text_key) = if let Some(c) = obj.get("conversations") {
        (c, "from", "value")
    } else if let Some(m) = obj.get("messages") {
        (m, "role", "content")
    } else {
        return Err("neither `output` (Alpaca), `conversations` nor `messages`".into());
    };
    let list = list.as_array().ok_or("the turns are not a list")?;
    let mut turns = Vec::with_capacity(list.len());
    for t in list {
        let role = t
            .get(role_key)
            .and_then(|r| r.as_str())
            .ok_or(format!("a turn without `{role_key}`"))?;
        let role = match role.to_lowercase().as_str() {
            "system" => Role::System,
            "human" | "user" => Role::User,
            "gpt" | "assistant" | "bot" | "model" | "chatgpt" => Role::Assistant,
            other => return Err(format!("unknown speaker `{other}`")),
        };
        let content = t
            .get(text_key)
            .and_then(|v| v.as_str())
            .ok_or(format!("a turn without `{text_key}`"))?;
        turns.push(Turn {
            role,
            content: content.to_string(),
        });
    }
    if !turns.iter().any(|t| t.role == Role::Assistant) {
        return Err("no assistant turn".into());
    }
    Ok(Conversation { turns })
}

/// The examples of a file, and the lines that could not be read.
pub struct InstructionFile {
    pub path: PathBuf,
    pub examples: Vec<Conversation>,
    pub bad_lines: Vec<BadLine>,
    pub bad_line_count: u64,
}

/// Reads a JSON array or JSON Lines file of instruction records.
pub fn read_instructions(
    path: &Path,
    template: &Template,
    on_bad_line: OnBadLine,
) -> Result<InstructionFile> {
    let mut reader = open_maybe_gzip(path)?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut reader, &mut text)
        .map_err(|_| Error::bad_file(path, "not UTF-8 text"))?;
    let mut out = InstructionFile {
        path: path.to_path_buf(),
        examples: Vec::new(),
        bad_lines: Vec::new(),
        bad_line_count: 0,
    };
    let bad = |out: &mut InstructionFile, line: u64, reason: String| -> Result<()> {
        out.bad_line_count += 1;
        match on_bad_line {
            OnBadLine::Stop => Err(Error::bad_file(path, format!("line {line}: {reason}"))),
            OnBadLine::Skip => {
                if out.bad_lines.len() < 100 {
                    out.bad_lines.push(BadLine {
                        path: path.to_path_buf(),
                        line,
                        reason,
                    });
                }
                Ok(())
            }
        }
    };
    if text.trim_start().starts_with('[') {
        let all: Vec<serde_json::Value> = serde_json::from_str(&text)
            .map_err(|e| Error::bad_file(path, format!("line {}: invalid JSON: {e}", e.line())))?;
        for (i, v) in all.iter().enumerate() {
            match parse_record(v, template) {
                Ok(c) => out.examples.push(c),
                Err(reason) => bad(
                    &mut out,
                    i as u64 + 1,
                    format!("record {}: {reason}", i + 1),
                )?,
            }
        }
    } else {
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let line_no = i as u64 + 1;
            match serde_json::from_str::<serde_json::Value>(line) {
                Ok(v) => match parse_record(&v, template) {
                    Ok(c) => out.examples.push(c),
                    Err(reason) => bad(&mut out, line_no, reason)?,
                },
                Err(e) => bad(&mut out, line_no, format!("invalid JSON: {e}"))?,
            }
        }
    }
    if out.examples.is_empty() {
        return Err(Error::bad_file(path, "no instruction examples in the file"));
    }
    Ok(out)
}

/// A tokenized example: ids and labels (`-100` outside the responses), and whether it was cut.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenizedExample {
    pub ids: Vec<u32>,
    pub labels: Vec<i64>,
    pub truncated: bool,
}

/// Tokenizes `conv` as one text, BOS first and EOS after every response; a token is labelled
/// when it starts inside a response. Longer than `max_len`: cut to `max_len`.
pub fn tokenize(
    conv: &Conversation,
    template: &Template,
    tokenizer: &TextTokenizer,
    max_len: usize,
) -> Result<TokenizedExample> {
    let (text, spans) = template.render(conv);
    let encoding = tokenizer
        .inner
        .encode(text.as_str(), false)
        .map_err(|e| Error::Tokenizer {
            path: tokenizer.path.clone(),
            reason: format!("cannot encode: {e}"),
        })?;
    let eos = tokenizer.eos_ids.first().copied();
    let mut ids = Vec::with_capacity(encoding.len() + 2);
    let mut labels = Vec::with_capacity(encoding.len() + 2);
    if let Some(bos) = tokenizer.bos_id {
        ids.push(bos);
        labels.push(IGNORE_INDEX);
    }
    let mut span = 0;
    let offsets = encoding.get_offsets();
    for (k, &id) in encoding.get_ids().iter().enumerate() {
        let start = offsets[k].0;
        // Close a response span we have moved past: EOS ends that response.
        while span < spans.len() && start >= spans[span].end {
            if let Some(e) = eos {
                ids.push(e);
                labels.push(e as i64);
            }
            span += 1;
        }
        let inside = span < spans.len() && start >= spans[span].start;
        ids.push(id);
        labels.push(if inside { id as i64 } else { IGNORE_INDEX });
    }
    while span < spans.len() {
        if let Some(e) = eos {
            ids.push(e);
            labels.push(e as i64);
        }
        span += 1;
    }
    let truncated = ids.len() > max_len;
    ids.truncate(max_len);
    labels.truncate(max_len);
    Ok(TokenizedExample {
        ids,
        labels,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_become_conversations() {
        let t = Template::default();
        let alpaca =
            serde_json::json!({"instruction": "Translate", "input": "chat", "output": "cat"});
        let c = parse_record(&alpaca, &t).unwrap();
        assert_eq!(c.turns[0].content, "Translate\n\n### Input:\nchat");
        assert_eq!(c.turns[1].content, "cat");
        let sharegpt = serde_json::json!({"conversations": [
            {"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]});
        assert_eq!(
            parse_record(&sharegpt, &t).unwrap().turns[1].role,
            Role::Assistant
        );
        let chat = serde_json::json!({"messages": [
            {"role": "system", "content": "be kind"}, {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"}]});
        let c = parse_record(&chat, &t).unwrap();
        let (text, spans) = t.render(&c);
        assert!(text.starts_with("be kind\n\n### Instruction:\nhi"));
        assert_eq!(&text[spans[0].clone()], "hello");
        assert!(parse_record(&serde_json::json!({"text": "x"}), &t).is_err());
    }
}
