//! Readers for multiple-choice benchmarks in their published layouts. Each gives subjects with a
//! few-shot (`dev`) part and an evaluated part; a malformed row is an error naming the file and
//! line, and items that are not single-answer multiple choice (cloze, multi-answer) are skipped
//! and counted.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Format, McqItem, McqSet, McqSubject};
use crate::error::{Error, Result};

/// Reads `path` as `format`. For C-Eval and MMLU, `path` is the benchmark's directory (with
/// `dev/` and `val/` or `test/`), one of those directories, or one CSV file; for AGIEval a
/// directory of `.jsonl` files or one file; for GAOKAO-Bench a directory of `.json` files or
/// one file; for the world, its directory (or `bench/questions.jsonl`) with `language` picking
/// the questions.
pub fn read(format: Format, path: &Path, language: Option<&str>) -> Result<McqSet> {
    let mut set = match format {
        Format::Ceval | Format::Mmlu => read_csv_benchmark(format, path)?,
        Format::Agieval => read_per_file(format, path, "jsonl", read_agieval)?,
        Format::Gaokao => read_per_file(format, path, "json", read_gaokao)?,
        Format::World => read_world(path, language.unwrap_or("en"))?,
    };
    set.subjects.retain(|s| !s.eval.is_empty());
    if set.subjects.is_empty() {
        return Err(Error::bad_file(
            path,
            format!("no {} questions found here", format.name()),
        ));
    }
    Ok(set)
}

fn read_dir_sorted(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    files.sort();
    Ok(files)
}

/// `high_school_physics_test.csv` -> `high_school_physics`.
fn subject_of(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    for suffix in ["_dev", "_val", "_test", "_validation"] {
        if let Some(s) = stem.strip_suffix(suffix) {
            return s.to_string();
        }
    }
    stem
}

fn subject<'a>(subjects: &'a mut Vec<McqSubject>, name: &str) -> &'a mut McqSubject {
    if let Some(i) = subjects.iter().position(|s| s.name == name) {
        return &mut subjects[i];
    }
    subjects.push(McqSubject {
        name: name.to_string(),
        dev: Vec::new(),
        eval: Vec::new(),
    });
    subjects.last_mut().expect("just pushed")
}

/// C-Eval or MMLU: `dev/` for shots, `val/` (C-Eval) or `test/` (MMLU) evaluated.
fn read_csv_benchmark(format: Format, path: &Path) -> Result<McqSet> {
    let mut set = McqSet::new(format);
    if path.is_file() {
        let name = subject_of(path);
        let items = read_csv(format, path)?;
        subject(&mut set.subjects, &name).eval = items;
        return Ok(set);
    }
    let root = if path.join("data").is_dir() && !path.join("dev").is_dir() {
        path.join("data")
    } else {
        path.to_path_buf()
    };
    let eval_parts: &[&str] = match format {
        Format::Ceval => &["val", "test"],
        _ => &["test", "val"],
    };
    let eval_dir = eval_parts.iter().map(|p| root.join(p)).find(|d| d.is_dir());
    let (eval_dir, dev_dir) = match eval_dir {
        Some(d) => (d, Some(root.join("dev")).filter(|d| d.is_dir())),
        // A directory of CSV files itself: all evaluated, no shots.
        None => (root.clone(), None),
    };
    for file in read_dir_sorted(&eval_dir, "csv")? {
        let items = read_csv(format, &file)?;
        subject(&mut set.subjects, &subject_of(&file)).eval = items;
    }
    if let Some(dev) = dev_dir {
        for file in read_dir_sorted(&dev, "csv")? {
            let items = read_csv(format, &file)?;
            subject(&mut set.subjects, &subject_of(&file)).dev = items;
        }
    }
    Ok(set)
}

/// The answer letter of a row: `A`..`D` in either case, spaces around allowed.
fn letter(raw: &str, options: usize) -> Option<usize> {
    let t = raw.trim();
    let mut chars = t.chars();
    let c = chars.next()?.to_ascii_uppercase();
    if chars.next().is_some() || !c.is_ascii_uppercase() {
        return None;
    }
    let i = (c as u8 - b'A') as usize;
    (i < options).then_some(i)
}

fn read_csv(format: Format, path: &Path) -> Result<Vec<McqItem>> {
    let bad = |line: u64, reason: String| Error::bad_file(path, format!("line {line}: {reason}"));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(format == Format::Ceval)
        .flexible(true)
        .from_path(path)
        .map_err(|e| Error::bad_file(path, e.to_string()))?;
    // Column positions: C-Eval by header name, MMLU by position.
    let (q, opts, ans, expl, id) = if format == Format::Ceval {
        let headers = reader
            .headers()
            .map_err(|e| Error::bad_file(path, e.to_string()))?
            .clone();
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name))
        };
        let need = |name: &str| {
            col(name).ok_or_else(|| {
                bad(1, format!("the header has no `{name}` column (C-Eval: id,question,A,B,C,D,answer[,explanation])"))
            })
        };
        (
            need("question")?,
            vec![need("A")?, need("B")?, need("C")?, need("D")?],
            need("answer")?,
            col("explanation"),
            col("id"),
        )
    } else {
        (0, vec![1, 2, 3, 4], 5, None, None)
    };
    let mut items = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let record = record.map_err(|e| Error::bad_file(path, e.to_string()))?;
        let line = record.position().map_or(n as u64 + 1, |p| p.line());
        let field = |i: usize| record.get(i);
        let need = ans.max(q).max(opts[3]) + 1;
        if record.len() < need {
            return Err(bad(
                line,
                format!("{} fields, expected at least {need}", record.len()),
            ));
        }
        let answer_raw = field(ans).unwrap_or_default();
        if answer_raw.trim().is_empty() {
            return Err(bad(
                line,
                "no answer (C-Eval's test split has none: evaluate `val`)".into(),
            ));
        }
        let answer = letter(answer_raw, 4).ok_or_else(|| {
            bad(
                line,
                format!("answer `{answer_raw}` is not one of A, B, C, D"),
            )
        })?;
        items.push(McqItem {
            id: id
                .and_then(field)
                .map_or_else(|| format!("{}", items.len()), str::to_string),
            passage: None,
            question: field(q).unwrap_or_default().to_string(),
            options: opts
                .iter()
                .map(|&i| field(i).unwrap_or_default().to_string())
                .collect(),
            answer,
            explanation: expl
                .and_then(field)
                .map(str::to_string)
                .filter(|s| !s.is_empty()),
        });
    }
    Ok(items)
}

type FileReader = fn(&Path, &mut McqSet) -> Result<Vec<McqItem>>;

/// One subject per file (AGIEval tasks, GAOKAO-Bench files), all evaluated zero-shot.
fn read_per_file(format: Format, path: &Path, ext: &str, read: FileReader) -> Result<McqSet> {
    let mut set = McqSet::new(format);
    let files = if path.is_dir() {
        read_dir_sorted(path, ext)?
    } else {
        vec![path.to_path_buf()]
    };
    for file in files {
        let items = read(&file, &mut set)?;
        subject(&mut set.subjects, &subject_of(&file)).eval = items;
    }
    Ok(set)
}

/// Strips AGIEval's `(A)` / `A.` option prefixes.
fn strip_option_label(option: &str, i: usize) -> String {
    let t = option.trim();
    let l = (b'A' + i as u8) as char;
    for prefix in [
        format!("({l})"),
        format!("（{l}）"),
        format!("{l}."),
        format!("{l}:"),
    ] {
        if let Some(rest) = t.strip_prefix(&prefix) {
            return rest.trim().to_string();
        }
    }
    t.to_string()
}

/// AGIEval: one JSON object a line with `passage`, `question`, `options`, `label`.
fn read_agieval(path: &Path, set: &mut McqSet) -> Result<Vec<McqItem>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut items = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| Error::bad_file(path, format!("line {}: {reason}", n + 1));
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
        let question = v["question"]
            .as_str()
            .ok_or_else(|| bad("no `question` string".into()))?;
        let options: Vec<String> = match v["options"].as_array() {
            Some(o) => o
                .iter()
                .enumerate()
                .map(|(i, x)| strip_option_label(x.as_str().unwrap_or_default(), i))
                .collect(),
            None => Vec::new(),
        };
        let label = match &v["label"] {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Array(a) if a.len() == 1 => a[0].as_str().map(str::to_string),
            _ => None,
        };
        let answer = label.as_deref().and_then(|l| letter(l, options.len()));
        let (Some(answer), true) = (answer, options.len() >= 2) else {
            set.skipped += 1;
            continue;
        };
        items.push(McqItem {
            id: format!("{n}"),
            passage: v["passage"]
                .as_str()
                .map(str::to_string)
                .filter(|s| !s.is_empty()),
            question: question.to_string(),
            options,
            answer,
            explanation: v["other"]["solution"].as_str().map(str::to_string),
        });
    }
    Ok(items)
}

/// Splits a GAOKAO-Bench question into its stem and its lettered options (`A．…B．…`).
fn split_options(text: &str) -> Option<(String, Vec<String>)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut marks: Vec<(usize, usize)> = Vec::new(); // (start of letter, start of option text)
    let mut want = 'A';
    let mut k = 0;
    while k + 1 < chars.len() {
        let (at, c) = chars[k];
        let (next_at, next) = chars[k + 1];
        let boundary = k == 0 || {
            let p = chars[k - 1].1;
            p.is_whitespace() || "\n）)．.。；;：:（(".contains(p)
        };
        if c == want && boundary && "．.、:：".contains(next) {
            marks.push((at, next_at + next.len_utf8()));
            want = (want as u8 + 1) as char;
        }
        k += 1;
    }
    if marks.len() < 2 {
        return None;
    }
    let stem = text[..marks[0].0].trim().to_string();
    let mut options = Vec::new();
    for (i, &(_, start)) in marks.iter().enumerate() {
        let end = marks.get(i + 1).map_or(text.len(), |m| m.0);
        options.push(text[start..end].trim().to_string());
    }
    Some((stem, options))
}

/// GAOKAO-Bench: `{"example": [{"question", "answer": ["A"], "analysis", "index"}]}`; the
/// options are inside the question text.
fn read_gaokao(path: &Path, set: &mut McqSet) -> Result<Vec<McqItem>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::bad_file(path, format!("not JSON: {e}")))?;
    let examples = v["example"].as_array().ok_or_else(|| {
        Error::bad_file(
            path,
            "no `example` array (GAOKAO-Bench: {\"keywords\", \"example\": [...]})",
        )
    })?;
    let mut items = Vec::new();
    for (n, e) in examples.iter().enumerate() {
        let Some(question) = e["question"].as_str() else {
            return Err(Error::bad_file(
                path,
                format!("example {n}: no `question` string"),
            ));
        };
        let answer = match &e["answer"] {
            serde_json::Value::Array(a) if a.len() == 1 => a[0].as_str().map(str::to_string),
            serde_json::Value::String(s) => Some(s.clone()),
            _ => None,
        };
        let parsed = split_options(question);
        let answer = match (&parsed, answer.as_deref()) {
            (Some((_, options)), Some(a)) => letter(a, options.len()),
            _ => None,
        };
        let (Some((stem, options)), Some(answer)) = (parsed, answer) else {
            set.skipped += 1;
            continue;
        };
        items.push(McqItem {
            id: e["index"]
                .as_u64()
                .map_or_else(|| n.to_string(), |i| i.to_string()),
            passage: None,
            question: stem,
            options,
            answer,
            explanation: e["analysis"].as_str().map(str::to_string),
        });
    }
    Ok(items)
}

/// The synthetic world: `bench/questions.jsonl`, subjects by split.
fn read_world(path: &Path, language: &str) -> Result<McqSet> {
    let file = if path.is_dir() {
        path.join("bench/questions.jsonl")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
    world_questions(&text, &file, language)
}

/// A world's questions in `language` from the text of its `bench/questions.jsonl` (`file` names
/// it in errors): a world made in memory (the web page's lesson) has no file to read.
pub fn world_questions(text: &str, file: &Path, language: &str) -> Result<McqSet> {
    let mut set = McqSet::new(Format::World);
    set.language = Some(language.to_string());
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| Error::bad_file(file, format!("line {}: {reason}", n + 1));
        let q: WorldQuestion =
            serde_json::from_str(line).map_err(|e| bad(format!("not a world question: {e}")))?;
        if q.language != language {
            continue;
        }
        let answer = letter(&q.answer, q.options.len())
            .ok_or_else(|| bad(format!("answer `{}` is not a letter", q.answer)))?;
        let item = McqItem {
            id: q.fact.to_string(),
            passage: None,
            question: q.question,
            options: q.options,
            answer,
            explanation: Some(q.explanation),
        };
        let s = subject(&mut set.subjects, &q.split);
        match q.part.as_str() {
            "dev" => s.dev.push(item),
            _ => s.eval.push(item),
        }
    }
    if set.subjects.is_empty() {
        return Err(Error::bad_file(
            file,
            format!("no questions in language `{language}`"),
        ));
    }
    Ok(set)
}

#[derive(serde::Deserialize, Serialize)]
struct WorldQuestion {
    language: String,
    fact: usize,
    split: String,
    part: String,
    question: String,
    options: Vec<String>,
    answer: String,
    explanation: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaokao_options_are_split_from_the_question() {
        let q = "1．下列说法正确的是（　　）\nA．甲是乙\nB．乙是丙\nC．丙，是丁\nD．都不对";
        let (stem, options) = split_options(q).unwrap();
        assert_eq!(stem, "1．下列说法正确的是（　　）");
        assert_eq!(options, ["甲是乙", "乙是丙", "丙，是丁", "都不对"]);
        // A letter inside a word is not an option mark.
        let (_, o) = split_options("Pick one. A. CAT: a pet B. Dog C. Bird D. Fish").unwrap();
        assert_eq!(o, ["CAT: a pet", "Dog", "Bird", "Fish"]);
        assert!(split_options("no options here").is_none());
    }

    #[test]
    fn letters_are_read_in_either_case() {
        assert_eq!(letter(" b ", 4), Some(1));
        assert_eq!(letter("D", 4), Some(3));
        assert_eq!(letter("E", 4), None);
        assert_eq!(letter("AB", 4), None);
        assert_eq!(strip_option_label("(C)三", 2), "三");
    }
}
