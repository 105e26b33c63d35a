//! Texts built into the app: the Universal Declaration of Human Rights in several scripts, for
//! the token microscope and the vocabulary lab to work on without any file of the user's.

/// Texts to try, built in: the Universal Declaration of Human Rights in several scripts (code,
/// name, the whole text; the first paragraph is shown).
pub const SAMPLES: [(&str, &str, &str); 10] = [
    (
        "en",
        "English",
        include_str!("../../assets/corpora/udhr/en.txt"),
    ),
    (
        "zh",
        "Chinese",
        include_str!("../../assets/corpora/udhr/zh.txt"),
    ),
    (
        "ar",
        "Arabic",
        include_str!("../../assets/corpora/udhr/ar.txt"),
    ),
    (
        "ur",
        "Urdu",
        include_str!("../../assets/corpora/udhr/ur.txt"),
    ),
    (
        "hi",
        "Hindi",
        include_str!("../../assets/corpora/udhr/hi.txt"),
    ),
    (
        "ta",
        "Tamil",
        include_str!("../../assets/corpora/udhr/ta.txt"),
    ),
    (
        "sw",
        "Swahili",
        include_str!("../../assets/corpora/udhr/sw.txt"),
    ),
    (
        "ru",
        "Russian",
        include_str!("../../assets/corpora/udhr/ru.txt"),
    ),
    (
        "ko",
        "Korean",
        include_str!("../../assets/corpora/udhr/ko.txt"),
    ),
    (
        "am",
        "Amharic",
        include_str!("../../assets/corpora/udhr/am.txt"),
    ),
];

/// A sample's first paragraph: its first line of some length (the title and headings are short).
pub fn first_paragraph(text: &str) -> &str {
    text.lines()
        .find(|l| l.chars().count() > 60)
        .unwrap_or_else(|| text.lines().next().unwrap_or(""))
}

/// The built-in text of language `code`.
pub fn sample(code: &str) -> Option<&'static str> {
    SAMPLES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, _, t)| *t)
}
