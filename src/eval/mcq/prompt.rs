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
    /// English for MMLU, the questions' own language for AGIEval and the world.
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

    fn header(self, subject: &str) -> String {
        match self {
            PromptLanguage::En => format!(
                "The following are multiple choice questions (with answers) about {subject}.\n\n"
            ),
            PromptLanguage::Zh => {
                format!("以下是中国关于{subject}考试的单项选择题，请选出其中的正确答案。\n\n")
            }
        }
    }

    fn cue(self) -> &'static str {
        match self {
            PromptLanguage::En => "Answer:",
            PromptLanguage::Zh => "答案：",
        }
    }

    /// What follows the cue: a space before the answer in English, none in Chinese.
    pub fn continuation(self, answer: &str) -> String {
        match self {
            PromptLanguage::En => format!(" {answer}"),
            PromptLanguage::Zh => answer.to_string(),
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

fn item_text(item: &McqItem, lang: PromptLanguage, style: Style) -> String {
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
    s.push_str(lang.cue());
    s
}

/// The prompt for `item` with `shots` solved examples before it.
pub fn build(
    subject: &str,
    shots: &[McqItem],
    item: &McqItem,
    lang: PromptLanguage,
    style: Style,
) -> String {
    let mut s = lang.header(subject);
    for shot in shots {
        s.push_str(&item_text(shot, lang, style));
        let answer = match style {
            Style::Lettered => letter(shot.answer),
            Style::Cloze => shot.options[shot.answer].clone(),
        };
        s.push_str(&lang.continuation(&answer));
        s.push_str("\n\n");
    }
    s.push_str(&item_text(item, lang, style));
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
            PromptLanguage::En,
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
            PromptLanguage::Zh,
            Style::Lettered,
        );
        assert!(z.starts_with("以下是中国关于法学考试的单项选择题"));
        assert!(z.ends_with("D. z\n答案："));
        let c = build(
            "x",
            &[item("Q1?", 1)],
            &item("Q2?", 0),
            PromptLanguage::En,
            Style::Cloze,
        );
        assert!(c.ends_with("Q1? Answer: x\n\nQ2? Answer:"), "{c}");
    }
}
