//! Code-switching: where a generated text leaves the language it should be in.
//!
//! A text is cut into runs of one writing system (Unicode scripts; spaces, digits and
//! punctuation join the run they sit in). Each run gets a language: from its script where the
//! script belongs to one language (Hangul, Thai, Tamil...), from kana for Japanese (a run of
//! Chinese characters is Japanese when its sentence has kana, or when Japanese is expected), and
//! from a language identifier where a script is shared (Latin, Cyrillic, Arabic, Devanagari).
//! A response *switches* when it holds a run in another language with at least a few letters
//! (acronyms such as "AI" or "GPU" do not count); the code-switching rate of a set is the share
//! of non-empty responses that switch.

mod identify;
mod languages;

use serde::{Deserialize, Serialize};
use unicode_script::{Script, UnicodeScript};

use crate::error::{Error, Result};
pub use languages::{Language, known_languages};

/// Settings of the analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchOptions {
    /// The language responses should be in.
    pub expected: Language,
    /// Fewest letters for a run in an alphabetic script to count as a switch.
    pub min_letters: usize,
    /// Fewest characters for a run in a script of syllables or ideographs (Han, kana, Hangul).
    pub min_ideographs: usize,
}

impl SwitchOptions {
    /// Defaults for `expected`: 4 letters, 2 ideographs.
    pub fn new(expected: Language) -> Self {
        Self {
            expected,
            min_letters: 4,
            min_ideographs: 2,
        }
    }
}

/// One run of a text in one language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Byte range of the run's text (spaces and punctuation at its ends left out).
    pub start: usize,
    pub end: usize,
    /// Character offset of `start`.
    pub char_start: usize,
    /// Unicode script of most of its letters ("Han", "Latin", ...).
    pub script: String,
    /// ISO 639-1 code where there is one, else ISO 639-3; "und" when it cannot be told.
    pub language: String,
    /// Letters in the run (ideographs count one each).
    pub letters: usize,
    pub text: String,
}

/// What one response does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchAnalysis {
    pub expected: String,
    pub segments: Vec<Segment>,
    pub letters: usize,
    /// Share of the letters that are in the expected language (1 for a text without letters).
    pub expected_share: f64,
    /// Runs in another language long enough to count, in order.
    pub switches: Vec<Segment>,
    pub switched: bool,
}

/// Code-switching over a set of responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchSummary {
    pub expected: String,
    pub responses: usize,
    /// Responses without a single letter; left out of the rate.
    pub empty: usize,
    pub switched: usize,
    /// `switched / (responses - empty)`.
    pub rate: f64,
    /// Mean share of letters in the expected language.
    pub mean_expected_share: f64,
    /// How many responses switch into each language (a response may count for several).
    pub into: Vec<(String, usize)>,
}

/// How a script is told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writing {
    /// Spaces, digits, punctuation, marks: belong to the run around them.
    Neutral,
    /// Han, Hiragana, Katakana, and the CJK marks that go with them.
    Cjk,
    Other(Script),
}

fn writing(c: char) -> Writing {
    match c.script() {
        Script::Common | Script::Inherited | Script::Unknown => Writing::Neutral,
        Script::Han | Script::Hiragana | Script::Katakana => Writing::Cjk,
        s => Writing::Other(s),
    }
}

fn is_kana(c: char) -> bool {
    matches!(c.script(), Script::Hiragana | Script::Katakana)
}

/// Ends of sentences in Chinese and Japanese, where a CJK run may change language.
fn ends_cjk_sentence(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '!' | '?' | '\n' | '．' | '；' | ';')
}

/// A stretch of text in one writing system, before languages are known.
struct Run {
    start: usize,
    end: usize,
    writing: Writing,
}

/// Cuts a text into runs of one writing system. CJK runs are also cut at sentence ends, since
/// a Chinese sentence and a Japanese one may follow each other.
fn runs(text: &str) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    let mut cut_next_cjk = false;
    for (i, c) in text.char_indices() {
        let end = i + c.len_utf8();
        let w = writing(c);
        match (w, out.last_mut()) {
            (Writing::Neutral, Some(run)) => {
                run.end = end;
                if run.writing == Writing::Cjk && ends_cjk_sentence(c) {
                    cut_next_cjk = true;
                }
            }
            (Writing::Neutral, None) => out.push(Run {
                start: i,
                end,
                writing: Writing::Neutral,
            }),
            (w, Some(run)) if run.writing == Writing::Neutral => {
                run.writing = w;
                run.end = end;
            }
            (w, Some(run)) if run.writing == w && !(w == Writing::Cjk && cut_next_cjk) => {
                run.end = end;
            }
            (w, _) => {
                cut_next_cjk = false;
                out.push(Run {
                    start: i,
                    end,
                    writing: w,
                })
            }
        }
    }
    out
}

/// Analyses one response.
pub fn analyse(text: &str, options: &SwitchOptions) -> SwitchAnalysis {
    let expected = &options.expected;
    let mut segments: Vec<Segment> = Vec::new();
    for run in runs(text) {
        let raw = &text[run.start..run.end];
        let trimmed_start = raw.len() - raw.trim_start_matches(is_neutral).len();
        let body = raw.trim_matches(is_neutral);
        if body.is_empty() {
            continue;
        }
        let start = run.start + trimmed_start;
        let letters = body.chars().filter(|c| c.is_alphabetic()).count();
        let (script, language) = match run.writing {
            Writing::Neutral => continue,
            Writing::Cjk => {
                let language = if body.chars().any(is_kana) || expected.code() == "ja" {
                    "ja"
                } else {
                    "zh"
                };
                let script = match body.chars().filter(|&c| c.script() == Script::Han).count() {
                    n if n * 2 >= body.chars().filter(|c| c.is_alphabetic()).count() => "Han",
                    _ => "Japanese kana",
                };
                (script.to_string(), language.to_string())
            }
            Writing::Other(script) => (
                script.full_name().to_string(),
                identify::language_of_run(body, script, expected),
            ),
        };
        // Neighbouring runs in one language are one segment ("GPT-4 模型" stays two, "的。她" one).
        if let Some(last) = segments.last_mut()
            && last.language == language
        {
            last.end = start + body.len();
            last.text = text[last.start..last.end].to_string();
            last.letters += letters;
            continue;
        }
        segments.push(Segment {
            start,
            end: start + body.len(),
            char_start: text[..start].chars().count(),
            script,
            language,
            letters,
            text: body.to_string(),
        });
    }
    let letters: usize = segments.iter().map(|s| s.letters).sum();
    let in_expected: usize = segments
        .iter()
        .filter(|s| s.language == expected.code())
        .map(|s| s.letters)
        .sum();
    let switches: Vec<Segment> = segments
        .iter()
        .filter(|s| s.language != expected.code() && s.letters >= min_for(s, options))
        .cloned()
        .collect();
    SwitchAnalysis {
        expected: expected.code().to_string(),
        letters,
        expected_share: match letters {
            0 => 1.0,
            n => in_expected as f64 / n as f64,
        },
        switched: !switches.is_empty(),
        switches,
        segments,
    }
}

fn is_neutral(c: char) -> bool {
    writing(c) == Writing::Neutral
}

fn min_for(segment: &Segment, options: &SwitchOptions) -> usize {
    match segment.script.as_str() {
        "Han" | "Japanese kana" | "Hangul" | "Yi" => options.min_ideographs,
        _ => options.min_letters,
    }
}

/// Sums the analyses of a set of responses.
pub fn summarise(expected: &Language, analyses: &[SwitchAnalysis]) -> SwitchSummary {
    let empty = analyses.iter().filter(|a| a.letters == 0).count();
    let switched = analyses.iter().filter(|a| a.switched).count();
    let counted = analyses.len() - empty;
    let mut into: Vec<(String, usize)> = Vec::new();
    for a in analyses {
        let mut langs: Vec<&str> = a.switches.iter().map(|s| s.language.as_str()).collect();
        langs.sort_unstable();
        langs.dedup();
        for l in langs {
            match into.iter_mut().find(|(k, _)| k == l) {
                Some((_, n)) => *n += 1,
                None => into.push((l.to_string(), 1)),
            }
        }
    }
    into.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let shares: Vec<f64> = analyses
        .iter()
        .filter(|a| a.letters > 0)
        .map(|a| a.expected_share)
        .collect();
    SwitchSummary {
        expected: expected.code().to_string(),
        responses: analyses.len(),
        empty,
        switched,
        rate: switched as f64 / counted.max(1) as f64,
        mean_expected_share: shares.iter().sum::<f64>() / shares.len().max(1) as f64,
        into,
    }
}

/// Parses a language code given by a person ("zh", "zho", "cmn", "en", "eng"...).
pub fn parse_language(code: &str) -> Result<Language> {
    Language::parse(code).ok_or_else(|| {
        Error::InvalidInput(format!(
            "unknown language code `{code}`; known: {}",
            known_languages().join(", ")
        ))
    })
}
