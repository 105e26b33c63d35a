//! Prompts for multiple-choice questions, in the shape the reference harnesses use: a header
//! naming the subject, k solved examples from the dev split, then the question with lettered
//! options and the answer cue (`Answer:` / `答案：`).

use serde::{Deserialize, Serialize};

use super::{Format, McqItem, McqSet};

/// The language of the prompt's frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "native", derive(clap::ValueEnum))]
pub enum PromptLanguage {
    En,
    Zh,
}

impl PromptLanguage {
    /// The frame a benchmark is usually prompted in: Chinese for C-Eval and GAOKAO-Bench,
    /// English for MMLU, the questions' own language for AGIEval.
    pub fn for_set(set: &McqSet) -> Self {
        match set.format {
            Format::Ceval | Format::Gaokao => PromptLanguage::Zh,
            Format::Mmlu => PromptLanguage::En,
            Format::World => match set.language.as_deref() {
                Some("zh") => PromptLanguage::Zh,
                _ => PromptLanguage::En,
            },
            Format::Agieval => {
                let cjk = set
                    .subjects
                    .iter()
                    .flat_map(|s| s.eval.first())
                    .any(|i| i.question.chars().any(is_cjk));
                if cjk {
                    PromptLanguage::Zh
                } else {
                    PromptLanguage::En
                }
            }
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            PromptLanguage::En => "en",
            PromptLanguage::Zh => "zh",
        }
    }
}

/// The words around the questions of a prompt: a header naming the subject, the answer cue, and
/// whether a space comes between the cue and the answer. English and Chinese have the
/// harnesses' frames (MMLU's and C-Eval's); each language of the world has its own, from its
/// language pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The frame's language code.
    pub language: String,
    /// With `{subject}`.
    header: String,
    cue: String,
    spaced: bool,
}

impl Frame {
    /// The harness frame of `lang`.
    pub fn of(lang: PromptLanguage) -> Self {
        match crate::world::language::LanguagePack::built_in(lang.code()) {
            Ok(pack) => Self::from_pack(&pack),
            // The built-in packs are checked by tests; this keeps the harness usable regardless.
            Err(_) => Self {
                language: lang.code().into(),
                header: "{subject}".into(),
                cue: "Answer:".into(),
                spaced: true,
            },
        }
    }

    /// The frame a language pack gives its benchmarks.
    pub fn from_pack(pack: &crate::world::language::LanguagePack) -> Self {
        Self {
            language: pack.language.clone(),
            header: pack.question_header.clone(),
            cue: pack.answer_cue.clone(),
            spaced: !pack.sentence_separator.is_empty(),
        }
    }

    /// The frame for `set`: `chosen` when given; the world's questions in their own language's
    /// frame; else the frame the benchmark is usually prompted in.
    pub fn for_set(set: &McqSet, chosen: Option<PromptLanguage>) -> Self {
        if let Some(lang) = chosen {
            return Self::of(lang);
        }
        if set.format == Format::World
            && let Some(code) = set.language.as_deref()
            && let Ok(pack) = crate::world::language::LanguagePack::built_in(code)
        {
            return Self::from_pack(&pack);
        }
        Self::of(PromptLanguage::for_set(set))
    }

    fn header(&self, subject: &str) -> String {
        format!("{}\n\n", self.header.replace("{subject}", subject))
    }

    fn cue(&self) -> &str {
        &self.cue
    }

    /// What follows the cue: a space before the answer where the language spaces its words.
    pub fn continuation(&self, answer: &str) -> String {
        if self.spaced {
            format!(" {answer}")
        } else {
            answer.to_string()
        }
    }
}

fn is_cjk(c: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&c) || ('\u{3400}'..='\u{4DBF}').contains(&c)
}

/// `A`, `B`, ...
pub fn letter(i: usize) -> String {
    ((b'A' + i as u8) as char).to_string()
}

/// `high_school_physics` -> `high school physics`.
pub fn subject_title(name: &str) -> String {
    name.replace('_', " ")
}

/// How the question is put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Options listed with letters; the answer is a letter.
    Lettered,
    /// The question alone; the answer is an option's text (lm-evaluation-harness's
    /// "continuation" form, which small models, unable to map letters to options, can answer).
    Cloze,
}

fn item_text(item: &McqItem, frame: &Frame, style: Style) -> String {
    let mut s = String::new();
    if let Some(p) = &item.passage {
        s.push_str(p);
        s.push('\n');
    }
    s.push_str(&item.question);
    s.push(if style == Style::Lettered { '\n' } else { ' ' });
    if style == Style::Lettered {
        for (i, o) in item.options.iter().enumerate() {
            s.push_str(&format!("{}. {o}\n", letter(i)));
        }
    }
    s.push_str(frame.cue());
    s
}

/// The prompt for `item` with `shots` solved examples before it.
pub fn build(
    subject: &str,
    shots: &[McqItem],
    item: &McqItem,
    frame: &Frame,
    style: Style,
) -> String {
    let mut s = frame.header(subject);
    for shot in shots {
        s.push_str(&item_text(shot, frame, style));
        let answer = match style {
            Style::Lettered => letter(shot.answer),
            Style::Cloze => shot.options[shot.answer].clone(),
        };
        s.push_str(&frame.continuation(&answer));
        s.push_str("\n\n");
    }
    s.push_str(&item_text(item, frame, style));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(q: &str, answer: usize) -> McqItem {
        McqItem {
            id: "0".into(),
            passage: None,
            question: q.into(),
            options: vec!["w".into(), "x".into(), "y".into(), "z".into()],
            answer,
            explanation: None,
        }
    }

    #[test]
    fn prompts_have_the_harness_shape() {
        let p = build(
            "world history",
            &[item("Q1?", 2)],
            &item("Q2?", 0),
            &Frame::of(PromptLanguage::En),
            Style::Lettered,
        );
        assert_eq!(
            p,
            "The following are multiple choice questions (with answers) about world history.\n\n\
             Q1?\nA. w\nB. x\nC. y\nD. z\nAnswer: C\n\nQ2?\nA. w\nB. x\nC. y\nD. z\nAnswer:"
        );
        let z = build(
            "法学",
            &[],
            &item("问？", 0),
            &Frame::of(PromptLanguage::Zh),
            Style::Lettered,
        );
        assert!(z.starts_with("以下是中国关于法学考试的单项选择题"));
        assert!(z.ends_with("D. z\n答案："));
        let c = build(
            "x",
            &[item("Q1?", 1)],
            &item("Q2?", 0),
            &Frame::of(PromptLanguage::En),
            Style::Cloze,
        );
        assert!(c.ends_with("Q1? Answer: x\n\nQ2? Answer:"), "{c}");
    }
}
