//! The languages the code-switching analysis knows: their codes and the scripts they are written in.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use unicode_script::Script;

/// A language, named by its ISO 639-1 code where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Language(&'static Entry);

#[derive(Debug, PartialEq, Eq)]
pub(super) struct Entry {
    /// The code reports use: ISO 639-1, else ISO 639-3.
    code: &'static str,
    /// Other codes people and identifiers use for it (ISO 639-3, 639-2/B, macrolanguage codes).
    aliases: &'static [&'static str],
    name: &'static str,
    scripts: &'static [Script],
}

use Script::*;

const LATIN: &[Script] = &[Latin];

macro_rules! entries {
    ($(($code:literal, [$($alias:literal),*], $name:literal, $scripts:expr)),* $(,)?) => {
        static ENTRIES: &[Entry] = &[$(Entry {
            code: $code,
            aliases: &[$($alias),*],
            name: $name,
            scripts: $scripts,
        }),*];
    };
}

entries![
    ("en", ["eng"], "English", LATIN),
    ("zh", ["zho", "chi", "cmn"], "Chinese", &[Han]),
    ("ja", ["jpn"], "Japanese", &[Han, Hiragana, Katakana]),
    ("ko", ["kor"], "Korean", &[Hangul, Han]),
    // The study's thirteen low-resource languages.
    ("ar", ["ara", "arb"], "Arabic", &[Arabic]),
    ("bn", ["ben"], "Bengali", &[Bengali]),
    ("gu", ["guj"], "Gujarati", &[Gujarati]),
    ("hi", ["hin"], "Hindi", &[Devanagari]),
    ("id", ["ind"], "Indonesian", LATIN),
    ("ml", ["mal"], "Malayalam", &[Malayalam]),
    ("mr", ["mar"], "Marathi", &[Devanagari]),
    ("ne", ["nep", "npi"], "Nepali", &[Devanagari]),
    ("sw", ["swa", "swh"], "Swahili", LATIN),
    ("ta", ["tam"], "Tamil", &[Tamil]),
    ("te", ["tel"], "Telugu", &[Telugu]),
    ("ur", ["urd"], "Urdu", &[Arabic]),
    ("vi", ["vie"], "Vietnamese", LATIN),
    // Others a response may switch into.
    ("fr", ["fra", "fre"], "French", LATIN),
    ("de", ["deu", "ger"], "German", LATIN),
    ("es", ["spa"], "Spanish", LATIN),
    ("pt", ["por"], "Portuguese", LATIN),
    ("it", ["ita"], "Italian", LATIN),
    ("nl", ["nld", "dut"], "Dutch", LATIN),
    ("ms", ["msa", "may", "zsm"], "Malay", LATIN),
    ("tl", ["tgl"], "Tagalog", LATIN),
    ("tr", ["tur"], "Turkish", LATIN),
    ("pl", ["pol"], "Polish", LATIN),
    ("cs", ["ces", "cze"], "Czech", LATIN),
    ("sv", ["swe"], "Swedish", LATIN),
    ("da", ["dan"], "Danish", LATIN),
    ("nb", ["nob", "no", "nor"], "Norwegian", LATIN),
    ("fi", ["fin"], "Finnish", LATIN),
    ("hu", ["hun"], "Hungarian", LATIN),
    ("ro", ["ron", "rum"], "Romanian", LATIN),
    ("ru", ["rus"], "Russian", &[Cyrillic]),
    ("uk", ["ukr"], "Ukrainian", &[Cyrillic]),
    ("bg", ["bul"], "Bulgarian", &[Cyrillic]),
    ("be", ["bel"], "Belarusian", &[Cyrillic]),
    ("sr", ["srp"], "Serbian", &[Cyrillic, Latin]),
    ("mk", ["mkd", "mac"], "Macedonian", &[Cyrillic]),
    ("fa", ["fas", "per", "pes"], "Persian", &[Arabic]),
    ("he", ["heb"], "Hebrew", &[Hebrew]),
    ("el", ["ell", "gre"], "Greek", &[Greek]),
    ("th", ["tha"], "Thai", &[Thai]),
    ("lo", ["lao"], "Lao", &[Lao]),
    ("km", ["khm"], "Khmer", &[Khmer]),
    ("my", ["mya", "bur"], "Burmese", &[Myanmar]),
    ("ka", ["kat", "geo"], "Georgian", &[Georgian]),
    ("hy", ["hye", "arm"], "Armenian", &[Armenian]),
    ("am", ["amh"], "Amharic", &[Ethiopic]),
    ("pa", ["pan"], "Punjabi", &[Gurmukhi]),
    ("kn", ["kan"], "Kannada", &[Kannada]),
    ("or", ["ori", "ory"], "Odia", &[Oriya]),
    ("si", ["sin"], "Sinhala", &[Sinhala]),
    ("bo", ["bod", "tib"], "Tibetan", &[Tibetan]),
];

/// Pairs of standards of one macrolanguage (ISO 639-3) that share their spelling.
const SAME_WRITTEN: &[(&str, &str)] = &[("id", "ms")];

impl Language {
    /// Finds a language by any of its codes, in any case.
    pub fn parse(code: &str) -> Option<Self> {
        let code = code.trim().to_ascii_lowercase();
        ENTRIES
            .iter()
            .find(|e| e.code == code || e.aliases.contains(&code.as_str()))
            .map(Language)
    }

    pub fn code(&self) -> &'static str {
        self.0.code
    }

    pub fn name(&self) -> &'static str {
        self.0.name
    }

    /// Whether the language is written in `script`.
    pub fn writes(&self, script: Script) -> bool {
        self.0.scripts.contains(&script)
    }

    /// Whether text identified as `code` is this language as well: the language itself, or a
    /// standard of the same macrolanguage written alike (Indonesian and Malay, which identifiers
    /// tell apart by chance on a sentence or two).
    pub fn accepts(&self, code: &str) -> bool {
        code == self.code()
            || SAME_WRITTEN
                .iter()
                .any(|&(a, b)| (a == self.code() && b == code) || (b == self.code() && a == code))
    }

    /// The language written alone in `script`, if only one known language uses it.
    pub fn only_one_in(script: Script) -> Option<Self> {
        let mut users = ENTRIES.iter().filter(|e| e.scripts.contains(&script));
        match (users.next(), users.next()) {
            (Some(e), None) => Some(Language(e)),
            _ => None,
        }
    }
}

/// Codes of every known language.
pub fn known_languages() -> Vec<&'static str> {
    ENTRIES.iter().map(|e| e.code).collect()
}

impl Serialize for Language {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Language {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Language::parse(&code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown language code `{code}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_parse_back() {
        let mut all: Vec<&str> = Vec::new();
        for e in ENTRIES {
            all.push(e.code);
            all.extend(e.aliases);
        }
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "a code names two languages");
        for code in all {
            assert!(Language::parse(code).is_some());
        }
        assert_eq!(Language::parse("CMN").unwrap().code(), "zh");
        assert_eq!(Language::only_one_in(Script::Tamil).unwrap().code(), "ta");
        assert!(Language::only_one_in(Script::Latin).is_none());
        assert!(Language::only_one_in(Script::Han).is_none());
    }
}
