//! The world's knowledge benchmarks: one four-option question per fact and language, with the
//! same options (in the same order) in every language, written in the layouts real benchmarks
//! use: MMLU's (no header) for the base language, C-Eval's for the others. The subject is the
//! fact's split, so per-subject accuracy is accuracy per split.

use serde::Serialize;

use super::facts::{EntityKind, Fact, ObjectKind, Split, Value, WordKind};
use super::language::LanguagePack;
use super::text::Writer;
use crate::error::{Error, Result};
use crate::rng::SeededRng;

pub const LETTERS: [&str; 4] = ["A", "B", "C", "D"];

/// A question in one language.
#[derive(Debug, Clone, Serialize)]
pub struct Question {
    pub language: String,
    pub fact: usize,
    pub split: Split,
    pub relation: super::facts::Relation,
    pub instructed: bool,
    /// `dev` (few-shot examples) or the evaluated split (`test`, or `val` in C-Eval layout).
    pub part: String,
    pub question: String,
    pub options: [String; 4],
    pub answer: String,
    /// The fact as a sentence.
    pub explanation: String,
}

/// The options of a fact's question: the true object and three false ones of the same kind,
/// shuffled; `answer` is the true one's position.
pub struct Options {
    pub values: [Value; 4],
    pub answer: usize,
}

/// Draws the options for `fact`: other objects of its kind, none equal to the truth (every
/// relation is a function, so all of them are false), none spelt like the truth or each other
/// in any language, and none inside the question.
pub fn options(
    rng: &mut SeededRng,
    fact: &Fact,
    entities_of: &dyn Fn(EntityKind) -> Vec<usize>,
    words_of: &dyn Fn(WordKind) -> Vec<String>,
    writers: &[Writer],
) -> Result<Options> {
    for _ in 0..200 {
        let mut values = vec![fact.object.clone()];
        while values.len() < 4 {
            let v = match fact.relation.object_kind() {
                ObjectKind::Year { from, to } => Value::Year(rng.between(from, to)),
                ObjectKind::Entity(kind) => Value::Entity(*rng.pick(&entities_of(kind))),
                ObjectKind::Word(kind) => Value::Word(rng.pick(&words_of(kind)).clone()),
            };
            if !values.contains(&v) {
                values.push(v);
            }
        }
        let mut order = [0usize, 1, 2, 3];
        rng.shuffle(&mut order);
        let values: [Value; 4] = order.map(|i| values[i].clone());
        let answer = order.iter().position(|&i| i == 0).unwrap_or(0);
        let mut ok = true;
        for w in writers {
            let stem = w.question(fact);
            let rendered: Vec<String> = values
                .iter()
                .map(|v| w.value(fact.relation, v))
                .collect::<Result<_>>()?;
            for (i, r) in rendered.iter().enumerate() {
                if stem.contains(r.as_str()) || rendered[..i].contains(r) {
                    ok = false;
                }
            }
        }
        if ok {
            return Ok(Options { values, answer });
        }
    }
    Err(Error::InvalidInput(format!(
        "cannot draw four distinct options for fact {} ({:?}); the world is too small",
        fact.id, fact.relation
    )))
}

/// The question for `fact` in `w`'s language.
pub fn question(
    w: &Writer,
    fact: &Fact,
    options: &Options,
    part: &str,
    explanation_form: usize,
) -> Result<Question> {
    let rendered: Vec<String> = options
        .values
        .iter()
        .map(|v| w.value(fact.relation, v))
        .collect::<Result<_>>()?;
    Ok(Question {
        language: w.lang.language.clone(),
        fact: fact.id,
        split: fact.split,
        relation: fact.relation,
        instructed: fact.instructed,
        part: part.to_string(),
        question: w.question(fact),
        options: [
            rendered[0].clone(),
            rendered[1].clone(),
            rendered[2].clone(),
            rendered[3].clone(),
        ],
        answer: LETTERS[options.answer].to_string(),
        explanation: w.statement(fact, explanation_form)?,
    })
}

/// Layouts of benchmark files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `{subject}_{part}.csv` without a header: question, A, B, C, D, answer.
    Mmlu,
    /// `{subject}_{part}.csv` with `id,question,A,B,C,D,answer,explanation`.
    Ceval,
}

impl Layout {
    pub fn for_language(lang: &LanguagePack, base: &LanguagePack) -> Self {
        if lang.language == base.language {
            Layout::Mmlu
        } else {
            Layout::Ceval
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Layout::Mmlu => "mmlu",
            Layout::Ceval => "ceval",
        }
    }

    /// The evaluated part's name in this layout.
    pub fn eval_part(self) -> &'static str {
        match self {
            Layout::Mmlu => "test",
            Layout::Ceval => "val",
        }
    }

    /// One CSV file of `questions`.
    pub fn csv(self, questions: &[&Question]) -> Result<Vec<u8>> {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        let err = |e: csv::Error| Error::InvalidInput(format!("writing CSV: {e}"));
        if self == Layout::Ceval {
            w.write_record([
                "id",
                "question",
                "A",
                "B",
                "C",
                "D",
                "answer",
                "explanation",
            ])
            .map_err(err)?;
        }
        for (i, q) in questions.iter().enumerate() {
            let mut row: Vec<String> = Vec::with_capacity(8);
            if self == Layout::Ceval {
                row.push(i.to_string());
            }
            row.push(q.question.clone());
            row.extend(q.options.iter().cloned());
            row.push(q.answer.clone());
            if self == Layout::Ceval {
                row.push(q.explanation.clone());
            }
            w.write_record(&row).map_err(err)?;
        }
        w.into_inner()
            .map_err(|e| Error::InvalidInput(format!("writing CSV: {e}")))
    }
}
