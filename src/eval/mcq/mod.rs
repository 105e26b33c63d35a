//! Knowledge by multiple choice: C-Eval, MMLU, AGIEval, GAOKAO-Bench and the synthetic world,
//! zero- or k-shot, scored by the likelihood of each answer letter after the prompt or of each
//! option's text (normalised by its length in bytes), with per-subject and overall accuracy,
//! bootstrap intervals and the chance level.

pub mod prompt;
pub mod read;
pub mod score;

use serde::{Deserialize, Serialize};

pub use prompt::PromptLanguage;
pub use read::read;
pub use score::{
    McqOptions, McqReport, ModeReport, Scoring, SubjectReport, evaluate, evaluate_async,
};

/// Benchmark layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "native", derive(clap::ValueEnum))]
pub enum Format {
    Ceval,
    Mmlu,
    Agieval,
    Gaokao,
    World,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Ceval => "C-Eval",
            Format::Mmlu => "MMLU",
            Format::Agieval => "AGIEval",
            Format::Gaokao => "GAOKAO-Bench",
            Format::World => "world",
        }
    }
}

/// One question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McqItem {
    pub id: String,
    /// Reading passage shown before the question (AGIEval).
    pub passage: Option<String>,
    pub question: String,
    pub options: Vec<String>,
    /// Index of the right option.
    pub answer: usize,
    pub explanation: Option<String>,
}

/// A subject's questions: few-shot examples and evaluated ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct McqSubject {
    pub name: String,
    pub dev: Vec<McqItem>,
    pub eval: Vec<McqItem>,
}

/// A benchmark as read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct McqSet {
    pub format: Format,
    /// The world's question language.
    pub language: Option<String>,
    pub subjects: Vec<McqSubject>,
    /// Items that are not single-answer multiple choice, left out.
    pub skipped: usize,
}

impl McqSet {
    pub fn new(format: Format) -> Self {
        Self {
            format,
            language: None,
            subjects: Vec::new(),
            skipped: 0,
        }
    }

    pub fn questions(&self) -> usize {
        self.subjects.iter().map(|s| s.eval.len()).sum()
    }
}
