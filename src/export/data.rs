//! A run's data as files another trainer reads: for pretraining, the documents the token budget
//! buys from each corpus in the mixture's shares (so the mixture is in the files, not in
//! weights); for instruction tuning, the examples already put through the run's prompt template.
//! Held-out documents or examples go to their own file for evaluation. Both are JSON Lines
//! listed in a `dataset_info.json`, LLaMA-Factory's dataset registry.

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::json;

use crate::data::instruct::{Template, read_instructions};
use crate::data::{CorpusSpec, DocumentReader, OnBadLine};
use crate::error::{Error, Result};
use crate::jobs::JobContext;
use crate::model::TextTokenizer;
use crate::train::config::{RunConfig, Stage};

/// The folder of the data files, inside the export.
pub const DATA_DIR: &str = "data";
/// The held-out set's name in the registry.
pub const HELDOUT: &str = "beyond_heldout";

/// One data file written.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetFile {
    /// Its name in `dataset_info.json`.
    pub name: String,
    /// Path inside the export (`data/zh.jsonl`).
    pub file: String,
    /// The corpus of the manifest it came from (`held-out` for the held-out set).
    pub corpus: String,
    /// Documents (pretraining) or examples (instruction tuning).
    pub records: u64,
    /// Tokens, counted as beyond trains on them (BOS and EOS included).
    pub tokens: u64,
    /// Times the corpus was read from the start to fill its share (1: not even once through).
    pub passes: u64,
}

/// What the data step wrote.
#[derive(Debug, Clone, Serialize)]
pub struct WrittenData {
    pub train: Vec<DatasetFile>,
    pub heldout: Option<DatasetFile>,
    /// The special tokens written as text (BOS before each document or conversation, EOS
    /// after each response): how the data carries them to a trainer that adds none itself.
    pub bos_text: Option<String>,
    pub eos_text: String,
    /// Instruction examples longer than the sequence length (the trainers cut them differently).
    pub long_examples: u64,
    /// Text after a conversation's last response, which trains nothing and is left out.
    pub trailing_prompts_dropped: u64,
}

/// Writes the run's data under `out/data` and the registry `out/data/dataset_info.json`.
pub fn write(
    config: &RunConfig,
    tokenizer: &TextTokenizer,
    out: &Path,
    ctx: &JobContext,
) -> Result<WrittenData> {
    let dir = out.join(DATA_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let specials = Specials::of(tokenizer)?;
    let written = match config.stage {
        Stage::Pretrain => pretraining(config, tokenizer, &specials, &dir, ctx)?,
        Stage::Sft => instructions(config, tokenizer, &specials, &dir, ctx)?,
    };
    let mut registry = serde_json::Map::new();
    for file in written.train.iter().chain(&written.heldout) {
        let entry = match config.stage {
            Stage::Pretrain => json!({
                "file_name": file_name(&file.file),
                "columns": { "prompt": "text" },
            }),
            Stage::Sft => json!({
                "file_name": file_name(&file.file),
                "formatting": "sharegpt",
                "columns": { "messages": "conversations" },
            }),
        };
        registry.insert(file.name.clone(), entry);
    }
    let text = serde_json::to_string_pretty(&registry)
        .map_err(|e| Error::Serialize(format!("dataset_info.json: {e}")))?;
    crate::fsx::write_atomic(&dir.join("dataset_info.json"), text.as_bytes())?;
    Ok(written)
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// BOS and EOS as text that the tokenizer reads back as those very ids.
struct Specials {
    bos: Option<(u32, String)>,
    eos: (u32, String),
}

impl Specials {
    fn of(tokenizer: &TextTokenizer) -> Result<Self> {
        let literal = |id: u32, what: &str| -> Result<String> {
            let text = tokenizer
                .inner
                .id_to_token(id)
                .ok_or_else(|| Error::Tokenizer {
                    path: tokenizer.path.clone(),
                    reason: format!("the {what} id {id} has no token"),
                })?;
            if tokenizer.encode(&text, false)? != [id] {
                return Err(Error::Tokenizer {
                    path: tokenizer.path.clone(),
                    reason: format!(
                        "the {what} token `{text}` does not read back as id {id} when written as text, \
                         so the exported data cannot carry it: add it to the tokenizer's added_tokens as special"
                    ),
                });
            }
            Ok(text)
        };
        let eos_id = *tokenizer.eos_ids.first().ok_or_else(|| Error::Tokenizer {
            path: tokenizer.path.clone(),
            reason: "has no EOS token: every document and response ends with one".into(),
        })?;
        Ok(Self {
            bos: match tokenizer.bos_id {
                Some(id) => Some((id, literal(id, "BOS")?)),
                None => None,
            },
            eos: (eos_id, literal(eos_id, "EOS")?),
        })
    }

    fn bos_text(&self) -> &str {
        self.bos.as_ref().map_or("", |(_, t)| t.as_str())
    }
}

/// Pretraining: each corpus's share of the budget in whole documents, read in file order (again
/// from the start when a corpus is shorter than its share), held-out documents set apart the way
/// a run sets them apart.
fn pretraining(
    config: &RunConfig,
    tokenizer: &TextTokenizer,
    specials: &Specials,
    dir: &Path,
    ctx: &JobContext,
) -> Result<WrittenData> {
    let d = &config.data;
    let budget = config.total_sequences() * d.seq_len as u64;
    let total_weight: f64 = d.corpora.iter().map(|c| c.weight).sum();
    let every = d.heldout_every;
    let wants_heldout = every > 0 && config.eval.every > 0 && config.eval.sequences > 0;
    let heldout_budget = (config.eval.sequences * d.seq_len) as u64;
    let per_doc = specials.bos.is_some() as u64 + 1;
    let mut train = Vec::new();
    let mut heldout_lines = Vec::new();
    let mut heldout_tokens = 0u64;
    let mut heldout_records = 0u64;
    for (i, spec) in d.corpora.iter().enumerate() {
        ctx.check_cancelled()?;
        let share = spec.weight / total_weight;
        let target = (budget as f64 * share).ceil() as u64;
        let heldout_target = (heldout_budget as f64 * share).ceil() as u64;
        let file = format!("{DATA_DIR}/{}.jsonl", safe_name(&spec.name, i));
        let path = dir.join(file_name(&file));
        let mut writer = JsonLines::create(&path)?;
        let mut tokens = 0u64;
        let mut records = 0u64;
        let mut passes = 0u64;
        let mut corpus_heldout = 0u64;
        while tokens < target {
            passes += 1;
            let mut reader = open_corpus(spec, d.on_bad_line)?;
            let mut index = 0u64;
            let mut any = false;
            while tokens < target {
                let Some(doc) = reader.next_document()? else {
                    break;
                };
                let held = every > 0 && index % every == every - 1;
                index += 1;
                let n = tokenizer.encode(&doc, false)?.len() as u64 + per_doc;
                if held {
                    if wants_heldout && passes == 1 && corpus_heldout < heldout_target {
                        corpus_heldout += n;
                        heldout_tokens += n;
                        heldout_records += 1;
                        heldout_lines.push(text_record(specials, &doc)?);
                    }
                    continue;
                }
                any = true;
                tokens += n;
                records += 1;
                writer.line(&text_record(specials, &doc)?)?;
            }
            if !any {
                return Err(Error::bad_file(
                    &spec.path,
                    "has no training documents (empty, or every document held out)",
                ));
            }
            ctx.progress("data", tokens.min(target), Some(target), "tokens");
        }
        writer.finish()?;
        train.push(DatasetFile {
            name: format!("beyond_{}", safe_name(&spec.name, i)),
            file,
            corpus: spec.name.clone(),
            records,
            tokens,
            passes,
        });
    }
    let heldout = write_heldout(dir, &heldout_lines, heldout_records, heldout_tokens)?;
    Ok(WrittenData {
        train,
        heldout,
        bos_text: specials.bos.as_ref().map(|(_, t)| t.clone()),
        eos_text: specials.eos.1.clone(),
        long_examples: 0,
        trailing_prompts_dropped: 0,
    })
}

/// A document as the trainer will tokenize it: BOS written in front (LLaMA-Factory appends
/// EOS itself).
fn text_record(specials: &Specials, doc: &str) -> Result<String> {
    serde_json::to_string(&json!({ "text": format!("{}{doc}", specials.bos_text()) }))
        .map_err(|e| Error::Serialize(e.to_string()))
}

/// Instruction tuning: every example of every file, rendered with the run's template into
/// human/gpt turns; held-out examples chosen as a run chooses them.
fn instructions(
    config: &RunConfig,
    tokenizer: &TextTokenizer,
    specials: &Specials,
    dir: &Path,
    ctx: &JobContext,
) -> Result<WrittenData> {
    let d = &config.data;
    let template = match &d.template {
        Some(path) => Template::from_toml_file(path)?,
        None => Template::default(),
    };
    let every = d.heldout_every;
    let mut train = Vec::new();
    let mut heldout_lines = Vec::new();
    let mut heldout_tokens = 0u64;
    let mut long_examples = 0u64;
    let mut dropped = 0u64;
    for (i, spec) in d.corpora.iter().enumerate() {
        ctx.check_cancelled()?;
        let file = read_instructions(&spec.path, &template, d.on_bad_line)?;
        let name = format!("{DATA_DIR}/{}.jsonl", safe_name(&spec.name, i));
        let mut writer = JsonLines::create(&dir.join(file_name(&name)))?;
        let (mut records, mut tokens) = (0u64, 0u64);
        for (k, conversation) in file.examples.iter().enumerate() {
            let example =
                crate::data::instruct::tokenize(conversation, &template, tokenizer, usize::MAX)?;
            let n = example.ids.len() as u64;
            long_examples += (n > d.seq_len as u64) as u64;
            let (record, trailing) = conversation_record(&template, conversation, specials)?;
            dropped += trailing as u64;
            if every > 0 && k as u64 % every == every - 1 {
                heldout_tokens += n;
                heldout_lines.push(record);
            } else {
                records += 1;
                tokens += n;
                writer.line(&record)?;
            }
        }
        writer.finish()?;
        if records == 0 {
            return Err(Error::bad_file(
                &spec.path,
                "has no training examples (every example held out)",
            ));
        }
        train.push(DatasetFile {
            name: format!("beyond_{}", safe_name(&spec.name, i)),
            file: name,
            corpus: spec.name.clone(),
            records,
            tokens,
            passes: 1,
        });
    }
    let count = heldout_lines.len() as u64;
    let heldout = match config.eval.every > 0 && config.eval.sequences > 0 {
        true => write_heldout(dir, &heldout_lines, count, heldout_tokens)?,
        false => None,
    };
    Ok(WrittenData {
        train,
        heldout,
        bos_text: specials.bos.as_ref().map(|(_, t)| t.clone()),
        eos_text: specials.eos.1.clone(),
        long_examples,
        trailing_prompts_dropped: dropped,
    })
}

/// A conversation as ShareGPT turns holding the rendered text: each `human` turn is the
/// template's text up to a response (BOS first), each `gpt` turn a response with EOS after it.
/// Returns whether text after the last response had to be dropped.
fn conversation_record(
    template: &Template,
    conversation: &crate::data::instruct::Conversation,
    specials: &Specials,
) -> Result<(String, bool)> {
    let (text, spans) = template.render(conversation);
    let mut turns = Vec::with_capacity(spans.len() * 2);
    let mut at = 0;
    for (k, span) in spans.iter().enumerate() {
        let prompt = &text[at..span.start];
        let prompt = match k {
            0 => format!("{}{prompt}", specials.bos_text()),
            _ => prompt.to_string(),
        };
        turns.push(json!({ "from": "human", "value": prompt }));
        turns.push(json!({
            "from": "gpt",
            "value": format!("{}{}", &text[span.clone()], specials.eos.1),
        }));
        at = span.end;
    }
    let trailing = !text[at..].trim().is_empty();
    let line = serde_json::to_string(&json!({ "conversations": turns }))
        .map_err(|e| Error::Serialize(e.to_string()))?;
    Ok((line, trailing))
}

fn write_heldout(
    dir: &Path,
    lines: &[String],
    records: u64,
    tokens: u64,
) -> Result<Option<DatasetFile>> {
    if lines.is_empty() {
        return Ok(None);
    }
    let file = format!("{DATA_DIR}/heldout.jsonl");
    let mut writer = JsonLines::create(&dir.join("heldout.jsonl"))?;
    for line in lines {
        writer.line(line)?;
    }
    writer.finish()?;
    Ok(Some(DatasetFile {
        name: HELDOUT.into(),
        file,
        corpus: "held-out".into(),
        records,
        tokens,
        passes: 1,
    }))
}

fn open_corpus(spec: &CorpusSpec, on_bad_line: OnBadLine) -> Result<DocumentReader> {
    DocumentReader::open(&spec.path, spec.document_format(), on_bad_line)
}

/// A corpus name fit for a file name and a dataset name.
fn safe_name(name: &str, index: usize) -> String {
    let cleaned: String = name
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                true => c,
                false => '_',
            },
        )
        .collect();
    match cleaned.trim_matches('_').is_empty() {
        true => format!("corpus{index}"),
        false => cleaned,
    }
}

/// A JSON Lines file written to a temporary name and moved into place when finished.
struct JsonLines {
    path: std::path::PathBuf,
    temp: std::path::PathBuf,
    out: std::io::BufWriter<std::fs::File>,
}

impl JsonLines {
    fn create(path: &Path) -> Result<Self> {
        let temp = path.with_extension("jsonl.partial");
        let file = std::fs::File::create(&temp).map_err(|e| Error::io(&temp, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            temp,
            out: std::io::BufWriter::new(file),
        })
    }

    fn line(&mut self, line: &str) -> Result<()> {
        writeln!(self.out, "{line}").map_err(|e| Error::io(&self.temp, e))
    }

    fn finish(self) -> Result<()> {
        let file = self
            .out
            .into_inner()
            .map_err(|e| Error::io(&self.temp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&self.temp, e))?;
        std::fs::rename(&self.temp, &self.path).map_err(|e| Error::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_file_names() {
        assert_eq!(safe_name("zh", 0), "zh");
        assert_eq!(safe_name("wiki zh/2024", 1), "wiki_zh_2024");
        assert_eq!(safe_name("中文", 2), "corpus2");
    }
}
