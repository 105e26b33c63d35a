//! The 13 low-resource languages of the paper as built-in world languages: each makes a world
//! beside English with a corpus, instruction data and a benchmark in its own layout; every
//! relation is said in every statement form and asked; the text is in the language's script
//! (and, for the languages written in Latin letters, identified as the language).

use beyond::eval::codeswitch::{self, SwitchOptions};
use beyond::world::facts::Relation;
use beyond::world::language::{LanguagePack, built_in, fill};
use beyond::world::{self, World, WorldSpec};
use unicode_script::{Script, UnicodeScript};

const PAPER: [&str; 13] = [
    "ar", "bn", "gu", "hi", "id", "ml", "mr", "ne", "sw", "ta", "te", "ur", "vi",
];

fn small_world(code: &str) -> World {
    let mut spec = WorldSpec::new(11).unwrap();
    spec.languages = vec![
        LanguagePack::built_in("en").unwrap(),
        LanguagePack::built_in(code).unwrap(),
    ];
    spec.people = 40;
    spec.mentions = 2;
    spec.target_tokens = 30_000;
    spec.heldout_documents = 20;
    world::generate(spec, &mut |_| {}).unwrap_or_else(|e| panic!("{code}: {e}"))
}

fn text(w: &World, name: &str) -> String {
    String::from_utf8(
        w.files
            .get(name)
            .unwrap_or_else(|| panic!("no {name}"))
            .clone(),
    )
    .unwrap()
}

/// The template's words without its slots: what any sentence made from it contains.
fn fixed_parts(template: &str) -> Vec<String> {
    let mut parts = vec![template.to_string()];
    for slot in [
        "{person}",
        "{city}",
        "{org}",
        "{country}",
        "{year}",
        "{profession}",
        "{language}",
        "{pet}",
        "{industry}",
    ] {
        parts = parts
            .iter()
            .flat_map(|p| p.split(slot).map(str::to_string).collect::<Vec<_>>())
            .collect();
    }
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| p.chars().filter(|c| c.is_alphabetic()).count() >= 2)
        .collect()
}

#[test]
fn the_paper_languages_are_built_in() {
    let codes = built_in();
    for code in PAPER {
        assert!(codes.contains(&code), "{code} is not built in");
        let pack = LanguagePack::built_in(code).unwrap();
        pack.check_against(&LanguagePack::built_in("en").unwrap())
            .unwrap_or_else(|e| panic!("{code}: {e}"));
        let known = codeswitch::parse_language(code).unwrap();
        assert_eq!(pack.name, known.name(), "{code}");
    }
}

#[test]
fn every_language_makes_a_world_in_its_own_script_with_every_relation() {
    for code in PAPER {
        let w = small_world(code);
        let pack = &w.spec.languages[1];
        let corpus = text(&w, &format!("corpus/{code}.txt"));
        let instruct = text(&w, &format!("instruct/{code}.jsonl"));
        let heldout = text(&w, &format!("heldout/{code}.txt"));
        assert!(w.summary.corpora[code].tokens >= 30_000, "{code}");
        assert!(instruct.lines().count() > 10, "{code}: instructions");
        assert!(heldout.lines().count() == 20, "{code}: held-out text");
        // A benchmark in C-Eval's layout, every split asked.
        for split in ["english_only", "both_languages", "never_seen"] {
            let csv = text(&w, &format!("bench/{code}/ceval/val/{split}_val.csv"));
            assert!(csv.lines().count() > 2, "{code}: {split}");
        }
        // Every relation asked in the language, and each of its statement forms said.
        let told = format!("{corpus}\n{instruct}");
        for relation in Relation::ALL {
            assert!(
                w.questions
                    .iter()
                    .any(|q| q.language == code && q.relation == relation),
                "{code}: no question about {}",
                relation.key()
            );
            let forms = &pack.relations[relation.key()];
            for statement in &forms.statements {
                for part in fixed_parts(statement) {
                    assert!(
                        told.contains(&part),
                        "{code}: `{part}` (from `{statement}`) never said"
                    );
                }
            }
        }
        let language = codeswitch::parse_language(code).unwrap();
        // The letters are the language's script (names included: they are spelt in it).
        let letters: Vec<char> = corpus.chars().filter(|c| c.is_alphabetic()).collect();
        let own = letters
            .iter()
            .filter(|c| language.writes(c.script()) || c.script() == Script::Inherited)
            .count();
        let share = own as f64 / letters.len() as f64;
        assert!(
            share > 0.99,
            "{code}: {:.3} of the letters in its script",
            share
        );
        // Each document, read by the language identifier, is in the language.
        let options = SwitchOptions::new(language);
        let docs: Vec<&str> = corpus.lines().take(200).collect();
        let in_language = docs
            .iter()
            .map(|d| codeswitch::analyse(d, &options).expected_share)
            .sum::<f64>()
            / docs.len() as f64;
        assert!(
            in_language > 0.9,
            "{code}: {in_language:.3} identified as {code}"
        );
        // The quiz and benchmark frame are the language's own.
        let sample = fill(&pack.quiz, &[("{question}", ""), ("{answer}", "")]);
        assert!(
            sample
                .chars()
                .filter(|c| c.is_alphabetic())
                .all(|c| language.writes(c.script())),
            "{code}: quiz frame `{}`",
            pack.quiz
        );
    }
}

#[test]
fn the_english_corpus_spells_names_in_each_language() {
    // The bridge between the languages: the English text gives each name as the other
    // language writes it (as web text does), so a name can carry a fact across.
    for code in ["hi", "ar", "ta"] {
        let w = small_world(code);
        let en = text(&w, "corpus/en.txt");
        let other = &w.spec.languages[1];
        let person = w
            .entities
            .iter()
            .find(|e| e.kind == world::facts::EntityKind::Person)
            .unwrap();
        assert!(en.contains(&person.render(other)), "{code}");
    }
}
