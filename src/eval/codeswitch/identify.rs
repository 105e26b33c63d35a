//! The language of a run in a script several languages share.
//!
//! Latin runs are short and decide most switches (a Chinese answer slipping into English), so on
//! the desktop they go to `lingua`, which tells languages apart on a few words; other shared
//! scripts (Cyrillic, Arabic, Devanagari, Hebrew) and the browser build use `whatlang`.

use unicode_script::Script;

use super::languages::Language;

/// Least confidence for an identifier's answer to stand over the expected language.
const CONFIDENT: f64 = 0.5;

/// The code of the language of `text`, a run in `script`.
pub(super) fn language_of_run(text: &str, script: Script, expected: &Language) -> String {
    if let Some(only) = Language::only_one_in(script) {
        return only.code().to_string();
    }
    let guess = match script {
        #[cfg(feature = "native")]
        Script::Latin => latin::identify(text),
        _ => whatlang_identify(text),
    };
    match guess {
        Some((code, _)) if expected.accepts(&code) => expected.code().to_string(),
        Some((code, confidence)) if confidence >= CONFIDENT => code,
        _ if expected.writes(script) => expected.code().to_string(),
        // Outside Latin the identifier only chooses among the script's languages: its best
        // guess beats saying nothing.
        Some((code, _)) if script != Script::Latin => code,
        _ => "und".to_string(),
    }
}

fn whatlang_identify(text: &str) -> Option<(String, f64)> {
    let info = whatlang::detect(text)?;
    let code = info.lang().code();
    let code = Language::parse(code).map_or(code, |l| l.code());
    let confidence = match info.is_reliable() {
        true => info.confidence().max(CONFIDENT),
        false => info.confidence().min(CONFIDENT * 0.99),
    };
    Some((code.to_string(), confidence))
}

#[cfg(feature = "native")]
mod latin {
    use std::sync::LazyLock;

    use lingua::{LanguageDetector, LanguageDetectorBuilder};

    use super::Language;

    static DETECTOR: LazyLock<LanguageDetector> =
        LazyLock::new(|| LanguageDetectorBuilder::from_all_languages().build());

    pub(super) fn identify(text: &str) -> Option<(String, f64)> {
        let values = DETECTOR.compute_language_confidence_values(text);
        let (language, confidence) = values.first()?;
        let code = language.iso_code_639_1().to_string();
        let code = Language::parse(&code).map_or(code, |l| l.code().to_string());
        Some((code, *confidence))
    }
}
