//! A language of the world: how each kind of fact is said and asked, the words facts use, how
//! names are spelt, and prose to mix in. Read from TOML (`assets/world/<code>.toml`); English,
//! Chinese and the 13 low-resource languages of the paper are built in, and a user can add a
//! language with a file of the same shape.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::facts::{Relation, WordKind};
use crate::error::{Error, Result};

/// Built-in languages: code and TOML. English and Chinese, then the 13 languages of the
/// paper's multilingual study.
const BUILT_IN: [(&str, &str); 15] = [
    ("en", include_str!("../../assets/world/en.toml")),
    ("zh", include_str!("../../assets/world/zh.toml")),
    ("ar", include_str!("../../assets/world/ar.toml")),
    ("bn", include_str!("../../assets/world/bn.toml")),
    ("gu", include_str!("../../assets/world/gu.toml")),
    ("hi", include_str!("../../assets/world/hi.toml")),
    ("id", include_str!("../../assets/world/id.toml")),
    ("ml", include_str!("../../assets/world/ml.toml")),
    ("mr", include_str!("../../assets/world/mr.toml")),
    ("ne", include_str!("../../assets/world/ne.toml")),
    ("sw", include_str!("../../assets/world/sw.toml")),
    ("ta", include_str!("../../assets/world/ta.toml")),
    ("te", include_str!("../../assets/world/te.toml")),
    ("ur", include_str!("../../assets/world/ur.toml")),
    ("vi", include_str!("../../assets/world/vi.toml")),
];

/// Codes of the built-in languages.
pub fn built_in() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(c, _)| *c).collect()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguagePack {
    pub language: String,
    /// The language's English name.
    pub name: String,
    pub sentence_separator: String,
    /// The benchmark header, with `{subject}`.
    pub question_header: String,
    pub answer_cue: String,
    /// A fact as a question and its answer, with `{question}` and `{answer}`.
    pub quiz: String,
    pub relations: BTreeMap<String, RelationText>,
    pub names: Names,
    /// Kind of word, then key, then the word in this language.
    pub lexicon: BTreeMap<String, BTreeMap<String, String>>,
    pub prose: Prose,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationText {
    pub statements: Vec<String>,
    pub question: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Names {
    /// With `{given}` and `{family}`.
    pub person: String,
    /// With `{name}` and `{suffix}`.
    pub org: String,
    /// With `{name}`.
    pub country: String,
    /// Capitalise each name part (Latin script).
    pub capitalize: bool,
    /// The syllables names are made of (the base language lists them) ...
    #[serde(default)]
    pub open: Vec<String>,
    #[serde(default)]
    pub closed: Vec<String>,
    /// ... and how other languages spell each.
    #[serde(default)]
    pub spelling: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prose {
    pub filler: Vec<String>,
    /// Base language: sentence templates teaching a word of another language. Other languages:
    /// the words, as [English, native] pairs.
    pub glossary: Vec<GlossaryItem>,
    /// Base language: sentence templates giving a name's spelling in another language.
    #[serde(default)]
    pub names: Vec<String>,
    /// Base language: templates giving a filler sentence's translation.
    #[serde(default)]
    pub translations: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum GlossaryItem {
    Template(String),
    Pair(String, String),
}

impl LanguagePack {
    /// A built-in language by code.
    pub fn built_in(code: &str) -> Result<Self> {
        let (_, text) = BUILT_IN.iter().find(|(c, _)| *c == code).ok_or_else(|| {
            Error::InvalidInput(format!(
                "no built-in language `{code}` in the world (built in: {}; or pass a TOML file)",
                built_in().join(", ")
            ))
        })?;
        Self::parse(text, Path::new(&format!("assets/world/{code}.toml")))
    }

    /// A language from a TOML file.
    #[cfg(feature = "native")]
    pub fn open(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let pack: Self = toml::from_str(text).map_err(|e| Error::bad_file(path, e.to_string()))?;
        pack.check(path)?;
        Ok(pack)
    }

    fn check(&self, path: &Path) -> Result<()> {
        let bad = |reason: String| Err(Error::bad_file(path, reason));
        for relation in Relation::ALL {
            let Some(text) = self.relations.get(relation.key()) else {
                return bad(format!("[relations.{}] is missing", relation.key()));
            };
            let (subject, object) = (relation.subject_slot(), relation.object_slot());
            if text.statements.is_empty() {
                return bad(format!("[relations.{}] has no statements", relation.key()));
            }
            for s in &text.statements {
                if !s.contains(subject) || !s.contains(object) {
                    return bad(format!(
                        "[relations.{}]: statement `{s}` must use {subject} and {object}",
                        relation.key()
                    ));
                }
            }
            if !text.question.contains(subject) || text.question.contains(object) {
                return bad(format!(
                    "[relations.{}]: the question must use {subject} and not {object}",
                    relation.key()
                ));
            }
        }
        if !self.quiz.contains("{question}") || !self.quiz.contains("{answer}") {
            return bad("`quiz` must use {question} and {answer}".into());
        }
        if self.prose.filler.is_empty() {
            return bad("[prose] filler is empty".into());
        }
        Ok(())
    }

    /// The word `key` of `kind`, or an error naming what this language lacks.
    pub fn word(&self, kind: WordKind, key: &str) -> Result<&str> {
        self.lexicon
            .get(kind.key())
            .and_then(|m| m.get(key))
            .map(String::as_str)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "language `{}` has no word for [lexicon.{}] {key}",
                    self.language,
                    kind.key()
                ))
            })
    }

    /// Checks that this language can say everything `base` can: every word and every syllable.
    pub fn check_against(&self, base: &LanguagePack) -> Result<()> {
        for (kind, words) in &base.lexicon {
            for key in words.keys() {
                if !self.lexicon.get(kind).is_some_and(|m| m.contains_key(key)) {
                    return Err(Error::InvalidInput(format!(
                        "language `{}` has no word for [lexicon.{kind}] {key}",
                        self.language
                    )));
                }
            }
        }
        if self.language != base.language && self.prose.filler.len() != base.prose.filler.len() {
            return Err(Error::InvalidInput(format!(
                "language `{}` lists {} filler sentences, `{}` {}: the lists are parallel",
                self.language,
                self.prose.filler.len(),
                base.language,
                base.prose.filler.len()
            )));
        }
        if self.language != base.language {
            for s in base.names.open.iter().chain(&base.names.closed) {
                if !self.names.spelling.contains_key(s) {
                    return Err(Error::InvalidInput(format!(
                        "language `{}` has no spelling for the syllable `{s}` ([names.spelling])",
                        self.language
                    )));
                }
            }
        }
        Ok(())
    }

    /// A name from syllables, in this language's spelling.
    pub fn spell(&self, syllables: &[String]) -> String {
        let mut out = String::new();
        for s in syllables {
            out.push_str(
                self.names
                    .spelling
                    .get(s)
                    .map_or(s.as_str(), |x| x.as_str()),
            );
        }
        if self.names.capitalize {
            let mut c = out.chars();
            if let Some(first) = c.next() {
                return first.to_uppercase().chain(c).collect();
            }
        }
        out
    }

    /// Sentences joined as this language joins them.
    pub fn join(&self, sentences: &[String]) -> String {
        sentences.join(&self.sentence_separator)
    }
}

/// Fills `{slot}`s in a template.
pub fn fill(template: &str, slots: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (slot, value) in slots {
        out = out.replace(slot, value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_languages_are_complete() {
        let en = LanguagePack::built_in("en").unwrap();
        let zh = LanguagePack::built_in("zh").unwrap();
        zh.check_against(&en).unwrap();
        assert_eq!(en.spell(&["ka".into(), "lo".into()]), "Kalo");
        assert_eq!(zh.spell(&["ka".into(), "lo".into()]), "卡洛");
        assert!(LanguagePack::built_in("xx").is_err());
    }

    #[test]
    fn a_statement_without_its_object_is_refused() {
        let text = include_str!("../../assets/world/en.toml")
            .replace("\"{person} was born in {year}.\"", "\"{person} was born.\"");
        let err = LanguagePack::parse(&text, Path::new("mine.toml")).unwrap_err();
        assert!(err.to_string().contains("mine.toml"), "{err}");
        assert!(err.to_string().contains("birth_year"), "{err}");
    }
}
