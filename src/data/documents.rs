//! Documents from corpus files that need not fit in memory: plain text (one document per line,
//! or paragraphs separated by blank lines) and JSON Lines with a text field, either optionally
//! gzip-compressed. Reading is streaming; a bad JSON line is skipped or stops the reading, as
//! asked, and is counted either way.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How a corpus file holds its documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase", tag = "format")]
pub enum DocumentFormat {
    /// Plain text, one document per non-empty line.
    #[default]
    Lines,
    /// Plain text, documents separated by one or more blank lines.
    Paragraphs,
    /// JSON Lines; each object's `field` is one document.
    Jsonl {
        #[serde(default = "default_text_field")]
        field: String,
    },
}

fn default_text_field() -> String {
    "text".into()
}

impl DocumentFormat {
    /// The format a file name suggests: `.jsonl`/`.json` (optionally `.gz`) are JSON Lines with a
    /// `text` field, everything else is plain text with one document per line.
    pub fn from_path(path: &Path) -> Self {
        let name = path.to_string_lossy().to_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        if name.ends_with(".jsonl") || name.ends_with(".json") || name.ends_with(".ndjson") {
            DocumentFormat::Jsonl {
                field: default_text_field(),
            }
        } else {
            DocumentFormat::Lines
        }
    }
}

/// What to do with a JSON line that cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnBadLine {
    /// Count it, report it, and go on.
    #[default]
    Skip,
    /// Stop with an error naming the file and line.
    Stop,
}

/// A problem found in a line that was skipped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BadLine {
    pub path: PathBuf,
    pub line: u64,
    pub reason: String,
}

/// Streams the documents of one file.
pub struct DocumentReader {
    path: PathBuf,
    lines: Box<dyn BufRead + Send>,
    format: DocumentFormat,
    on_bad_line: OnBadLine,
    line_no: u64,
    /// Lines skipped so far, with why (at most the first 100 kept).
    pub bad_lines: Vec<BadLine>,
    pub bad_line_count: u64,
    buf: String,
}

/// Opens `path`, decompressing gzip when the file starts with the gzip magic bytes.
pub fn open_maybe_gzip(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut magic = [0u8; 2];
    let n = read_up_to(&mut file, &mut magic).map_err(|e| Error::io(path, e))?;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    if n == 2 && magic == [0x1f, 0x8b] {
        let decoder = flate2::read::MultiGzDecoder::new(file);
        Ok(Box::new(BufReader::with_capacity(1 << 20, decoder)))
    } else {
        Ok(Box::new(BufReader::with_capacity(1 << 20, file)))
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

impl DocumentReader {
    pub fn open(path: &Path, format: DocumentFormat, on_bad_line: OnBadLine) -> Result<Self> {
        Ok(Self::from_reader(
            path,
            open_maybe_gzip(path)?,
            format,
            on_bad_line,
        ))
    }

    /// Reads documents from any buffered reader; `path` names it in messages.
    pub fn from_reader(
        path: &Path,
        lines: Box<dyn BufRead + Send>,
        format: DocumentFormat,
        on_bad_line: OnBadLine,
    ) -> Self {
        Self {
            path: path.to_path_buf(),
            lines,
            format,
            on_bad_line,
            line_no: 0,
            bad_lines: Vec::new(),
            bad_line_count: 0,
            buf: String::new(),
        }
    }

    /// The next line without its line ending, or `None` at the end of the file.
    fn next_line(&mut self) -> Result<Option<String>> {
        self.buf.clear();
        let n = self.lines.read_line(&mut self.buf).map_err(|e| {
            let reason = match e.kind() {
                std::io::ErrorKind::InvalidData => {
                    format!("line {}: not UTF-8 text", self.line_no + 1)
                }
                _ => format!("line {}: {e}", self.line_no + 1),
            };
            Error::bad_file(&self.path, reason)
        })?;
        if n == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        let line = self.buf.trim_end_matches(['\n', '\r']);
        Ok(Some(line.to_string()))
    }

    fn bad_line(&mut self, reason: String) -> Result<()> {
        self.bad_line_count += 1;
        match self.on_bad_line {
            OnBadLine::Stop => Err(Error::bad_file(
                &self.path,
                format!("line {}: {reason}", self.line_no),
            )),
            OnBadLine::Skip => {
                if self.bad_lines.len() < 100 {
                    self.bad_lines.push(BadLine {
                        path: self.path.clone(),
                        line: self.line_no,
                        reason,
                    });
                }
                Ok(())
            }
        }
    }

    /// The next document, or `None` at the end of the file.
    pub fn next_document(&mut self) -> Result<Option<String>> {
        match self.format.clone() {
            DocumentFormat::Lines => loop {
                match self.next_line()? {
                    None => return Ok(None),
                    Some(line) if line.trim().is_empty() => continue,
                    Some(line) => return Ok(Some(line)),
                }
            },
            DocumentFormat::Paragraphs => {
                let mut doc = String::new();
                loop {
                    match self.next_line()? {
                        None => return Ok((!doc.is_empty()).then_some(doc)),
                        Some(line) if line.trim().is_empty() => {
                            if !doc.is_empty() {
                                return Ok(Some(doc));
                            }
                        }
                        Some(line) => {
                            if !doc.is_empty() {
                                doc.push('\n');
                            }
                            doc.push_str(&line);
                        }
                    }
                }
            }
            DocumentFormat::Jsonl { field } => loop {
                let Some(line) = self.next_line()? else {
                    return Ok(None);
                };
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<serde_json::Value>(&line) {
                    Ok(serde_json::Value::Object(map)) => match map.get(&field) {
                        Some(serde_json::Value::String(text)) if !text.is_empty() => {
                            return Ok(Some(text.clone()));
                        }
                        Some(serde_json::Value::String(_)) => continue,
                        Some(_) => self.bad_line(format!("field `{field}` is not a string"))?,
                        None => self.bad_line(format!("no field `{field}`"))?,
                    },
                    Ok(_) => self.bad_line("not a JSON object".into())?,
                    Err(e) => self.bad_line(format!("invalid JSON: {e}"))?,
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(text: &str, format: DocumentFormat, on_bad_line: OnBadLine) -> DocumentReader {
        let bytes = text.as_bytes().to_vec();
        DocumentReader::from_reader(
            Path::new("corpus"),
            Box::new(std::io::Cursor::new(bytes)),
            format,
            on_bad_line,
        )
    }

    fn all(r: &mut DocumentReader) -> Result<Vec<String>> {
        let mut out = Vec::new();
        while let Some(d) = r.next_document()? {
            out.push(d);
        }
        Ok(out)
    }

    #[test]
    fn lines_and_paragraphs() {
        let text = "one\n\ntwo\r\nthree\n\n\nfour";
        let mut r = reader(text, DocumentFormat::Lines, OnBadLine::Skip);
        assert_eq!(all(&mut r).unwrap(), ["one", "two", "three", "four"]);
        let mut r = reader(text, DocumentFormat::Paragraphs, OnBadLine::Skip);
        assert_eq!(all(&mut r).unwrap(), ["one", "two\nthree", "four"]);
    }

    #[test]
    fn bad_json_lines_are_counted_or_stop() {
        let text = "{\"text\": \"a\"}\n{oops\n{\"body\": 1}\n{\"text\": \"b\"}\n";
        let jsonl = DocumentFormat::Jsonl {
            field: "text".into(),
        };
        let mut r = reader(text, jsonl.clone(), OnBadLine::Skip);
        assert_eq!(all(&mut r).unwrap(), ["a", "b"]);
        assert_eq!(r.bad_line_count, 2);
        assert_eq!(r.bad_lines[0].line, 2);
        let mut r = reader(text, jsonl, OnBadLine::Stop);
        let err = all(&mut r).unwrap_err().to_string();
        assert!(err.starts_with("corpus: line 2: invalid JSON"), "{err}");
    }
}
